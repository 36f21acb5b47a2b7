"""Pods and pod templates: ValidatePodSpec and its volumes and tolerations (pkg/apis/core/validation).

Container-level rules are in `containers`, the update rules in `pod_updates`.
"""

from __future__ import annotations

from kubeling.api.defaults import VOLUME_SOURCES
from kubeling.api.names import dns1123_label, dns1123_subdomain, go_quote, is_qualified_name, is_valid_label_value
from kubeling.api.validation.causes import (
    Cause,
    GoLiteral,
    each_invalid,
    forbidden,
    invalid,
    not_supported,
    required,
)
from kubeling.api.validation.common import Obj, as_dict, as_str, dicts, is_int, one_of, unique_dns_label
from kubeling.api.validation.containers import host_port_conflicts, validate_container
from kubeling.api.validation.labels import validate_labels
from kubeling.api.validation.pod_updates import validate_pod_update

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")


def validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    if old is not None and obj.get("spec") == old.get("spec"):
        # Status writes, deletion marks and label changes leave the spec as stored, and it was
        # valid then: checking it again would cost each such write more than the rest together.
        return []
    spec = as_dict(obj.get("spec"))
    causes = validate_pod_spec(spec)
    if old is None:
        if spec.get("ephemeralContainers"):
            causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        return causes
    return causes + validate_pod_update(spec, as_dict(old.get("spec")))


def validate_pod_spec(spec: Obj, path: str = "spec") -> list[Cause]:
    """ValidatePodSpec: the checks shared by Pods and every pod template."""
    volumes, causes = _volumes(dicts(spec.get("volumes")), f"{path}.volumes")
    causes += _containers(spec, path, volumes)
    causes += one_of(spec.get("restartPolicy"), RESTART_POLICIES, f"{path}.restartPolicy")
    causes += one_of(spec.get("dnsPolicy"), DNS_POLICIES, f"{path}.dnsPolicy")
    causes += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for key in ("serviceAccountName", "priorityClassName"):
        if spec.get(key):
            causes += each_invalid(f"{path}.{key}", as_str(spec[key]), dns1123_subdomain(as_str(spec[key])))
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            causes += each_invalid(f"{path}.{key}", as_str(spec[key]), dns1123_label(as_str(spec[key])))
    deadline = spec.get("activeDeadlineSeconds")
    if is_int(deadline) and not 1 <= deadline <= 4294967295:
        causes.append(invalid(f"{path}.activeDeadlineSeconds", deadline,
                              "must be between 1 and 4294967295, inclusive"))
    causes += _tolerations(dicts(spec.get("tolerations")), f"{path}.tolerations")
    return causes


def validate_pod_template(template: Obj, path: str) -> list[Cause]:
    """ValidatePodTemplateSpec (note Kubernetes reports template labels at `<path>.labels`)."""
    causes = validate_labels(as_dict(template.get("metadata")).get("labels"), f"{path}.labels")
    spec = as_dict(template.get("spec"))
    causes += validate_pod_spec(spec, f"{path}.spec")
    if spec.get("ephemeralContainers"):
        causes.append(forbidden(f"{path}.spec.ephemeralContainers",
                                "ephemeral containers not allowed in pod template"))
    return causes


def _containers(spec: Obj, path: str, volumes: set[str]) -> list[Cause]:
    containers = dicts(spec.get("containers"))
    causes: list[Cause] = []
    if not containers:
        causes.append(required(f"{path}.containers"))
    seen: set[str] = set()  # names are unique across containers and init containers
    groups = (("containers", containers, False), ("initContainers", dicts(spec.get("initContainers")), True))
    for key, group, init in groups:
        for i, ctr in enumerate(group):
            cpath = f"{path}.{key}[{i}]"
            causes += unique_dns_label(as_str(ctr.get("name")), f"{cpath}.name", seen)
            causes += validate_container(ctr, cpath, volumes, init=init)
    causes += host_port_conflicts(containers, f"{path}.containers")
    return causes


# ---------------------------------------------------------------- volumes


def _volumes(volumes: list[Obj], path: str) -> tuple[set[str], list[Cause]]:
    names: set[str] = set()
    causes: list[Cause] = []
    for i, vol in enumerate(volumes):
        vpath = f"{path}[{i}]"
        causes += unique_dns_label(as_str(vol.get("name")), f"{vpath}.name", names)
        sources = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
        if not sources:
            causes.append(required(vpath, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(forbidden(f"{vpath}.{sources[1]}", "may not specify more than 1 volume type"))
        else:
            causes += _volume_source(sources[0], as_dict(vol.get(sources[0])), f"{vpath}.{sources[0]}")
    return names, causes


def _volume_source(kind: str, source: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    required_field = {"configMap": "name", "secret": "secretName", "persistentVolumeClaim": "claimName",
                      "hostPath": "path", "nfs": "path"}.get(kind)
    if required_field and not source.get(required_field):
        causes.append(required(f"{path}.{required_field}"))
    mode = source.get("defaultMode")
    if is_int(mode) and not 0 <= mode <= 0o777:
        causes.append(invalid(f"{path}.defaultMode", mode,
                              "must be a number between 0 and 0777 (octal), both inclusive"))
    if kind == "hostPath" and source.get("type") not in (None, *HOST_PATH_TYPES):
        causes.append(not_supported(f"{path}.type", source.get("type"), HOST_PATH_TYPES))
    return causes


# ---------------------------------------------------------------- tolerations


def _tolerations(tolerations: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, tol in enumerate(tolerations):
        tpath = f"{path}[{i}]"
        key, operator, value = as_str(tol.get("key")), tol.get("operator") or "", as_str(tol.get("value"))
        effect = tol.get("effect") or ""
        if key:
            causes += each_invalid(f"{tpath}.key", key, is_qualified_name(key))
        if not key and operator != "Exists":
            causes.append(invalid(f"{tpath}.operator", operator,
                                  "operator must be Exists when `key` is empty, which means "
                                  '"match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(invalid(f"{tpath}.effect", effect,
                                  "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                causes.append(invalid(f"{tpath}.operator", value, ";".join(msgs)))
        elif operator == "Exists":
            if value:
                causes.append(invalid(f"{tpath}.operator", GoLiteral(_go_toleration(tol)),
                                      "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(not_supported(f"{tpath}.operator", operator, ("Equal", "Exists")))
        if effect and effect not in TAINT_EFFECTS:
            causes.append(not_supported(f"{tpath}.effect", effect, TAINT_EFFECTS))
    return causes


def _go_toleration(tol: Obj) -> str:
    seconds = tol.get("tolerationSeconds")
    shown = "(*int64)(nil)" if seconds is None else f"(*int64)({seconds})"
    return (f"core.Toleration{{Key:{go_quote(as_str(tol.get('key')))}, "
            f"Operator:{go_quote(as_str(tol.get('operator')))}, Value:{go_quote(as_str(tol.get('value')))}, "
            f"Effect:{go_quote(as_str(tol.get('effect')))}, TolerationSeconds:{shown}}}")
