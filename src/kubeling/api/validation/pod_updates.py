"""ValidatePodUpdate: the few pod spec fields an update may change (pkg/apis/core/validation)."""

from __future__ import annotations

import copy
import json
from typing import Any

from kubeling.api.validation.causes import Cause, forbidden, invalid
from kubeling.api.validation.common import Obj, dicts, is_int, semantic
from kubeling.api.validation.containers import image_errors

POD_UPDATABLE_FIELDS = (
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    """The update rules for `new` and `old` pod specs (the spec itself is validated apart)."""
    causes: list[Cause] = []
    for key in ("containers", "initContainers"):
        errs, stop = _container_updates(dicts(new.get(key)), dicts(old.get(key)), f"spec.{key}")
        causes += errs
        if stop:
            return causes
    errs = _active_deadline_update(new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds"))
    if errs:
        return causes + errs
    causes += _only_added_tolerations(dicts(new.get("tolerations")), dicts(old.get("tolerations")))
    munged = _munge_pod_spec(new, old)
    if semantic(munged) != semantic(old):
        message = ("pod updates may not change fields other than " + ",".join(POD_UPDATABLE_FIELDS) + "\n"
                   + _spec_diff(old, munged))
        causes.append(forbidden("spec", message))
    return causes


def _container_updates(new: list[Obj], old: list[Obj], path: str) -> tuple[list[Cause], bool]:
    """Image checks per container; True as well when the count changed (Kubernetes stops there)."""
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    causes: list[Cause] = []
    for i, ctr in enumerate(new):
        causes += image_errors(ctr, f"{path}[{i}].image")
    return causes, False


def _active_deadline_update(new: Any, old: Any) -> list[Cause]:
    path = "spec.activeDeadlineSeconds"
    if new is not None:
        if not is_int(new) or not 0 <= new <= 2147483647:
            return [invalid(path, new, "must be between 0 and 2147483647, inclusive")]
        if is_int(old) and old < new:
            return [invalid(path, new, "must be less than or equal to previous value")]
    elif old is not None:
        return [invalid(path, None, "must not update from a positive integer to nil value")]
    return []


def _only_added_tolerations(new: list[Obj], old: list[Obj]) -> list[Cause]:
    for existing in old:
        base = {k: v for k, v in existing.items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == base for t in new):
            return [forbidden("spec.tolerations",
                              "existing toleration can not be modified except its tolerationSeconds")]
    return []


def _munge_pod_spec(new: Obj, old: Obj) -> Obj:
    """The new spec with every field a pod update may change copied back from the old one."""
    munged = copy.deepcopy(new)
    for key in ("containers", "initContainers"):
        for ctr, old_ctr in zip(dicts(munged.get(key)), dicts(old.get(key)), strict=False):
            if "image" in old_ctr:
                ctr["image"] = old_ctr["image"]
            else:
                ctr.pop("image", None)
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        if key in old:
            munged[key] = copy.deepcopy(old[key])
        else:
            munged.pop(key, None)
    old_grace = old.get("terminationGracePeriodSeconds")
    if is_int(old_grace) and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _spec_diff(old: Any, new: Any, path: str = "") -> str:
    """A short `-`/`+` listing of what changed (Kubernetes prints a cmp.Diff of the Go structs)."""
    lines = ["  core.PodSpec{"] if not path else []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            lines += _spec_diff(old.get(key), new.get(key), f"{path}.{key}" if path else key).splitlines()
    elif (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
          and semantic(old) != semantic(new)):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            lines += _spec_diff(a, b, f"{path}[{i}]").splitlines()
    elif semantic(old) != semantic(new):
        if old is not None:
            lines.append(f"- \t{path}: {json.dumps(old, sort_keys=True)},")
        if new is not None:
            lines.append(f"+ \t{path}: {json.dumps(new, sort_keys=True)},")
    if not path:
        lines.append("  }")
    return "\n".join(lines)
