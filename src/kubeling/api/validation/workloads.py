"""apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet (pkg/apis/apps/validation)."""

from __future__ import annotations

import re
from typing import Any

from kubeling.api.names import go_quote, regex_error
from kubeling.api.validation.causes import (
    Cause,
    GoLiteral,
    forbidden,
    go_int_or_string,
    go_label_selector,
    invalid,
    not_supported,
    required,
)
from kubeling.api.validation.common import Obj, as_dict, as_str, immutable, is_int, nonnegative, semantic
from kubeling.api.validation.labels import (
    as_selector,
    selector_matches_template,
    validate_label_selector,
    validate_labels,
)
from kubeling.api.validation.pods import validate_pod_template

_PERCENT_FMT = "[0-9]+%"
_PERCENT_RE = re.compile(_PERCENT_FMT)
STATEFULSET_UPDATABLE = ("replicas", "ordinals", "template", "updateStrategy",
                         "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def validate_deployment(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = nonnegative("spec.replicas", spec.get("replicas"))
    causes += _selector_required(spec, "spec", "deployment")
    causes += _replica_template(spec, "spec", "ReplicaSet")
    causes += _deployment_strategy(as_dict(spec.get("strategy")), "spec.strategy")
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if is_int(deadline):
        causes += nonnegative("spec.progressDeadlineSeconds", deadline)
        min_ready = spec.get("minReadySeconds") if is_int(spec.get("minReadySeconds")) else 0
        if deadline <= min_ready:
            causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return causes + _selector_update(spec, old)


def validate_replicaset(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = nonnegative("spec.replicas", spec.get("replicas"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _selector_required(spec, "spec", "deployment")  # sic: Kubernetes says "deployment" here
    causes += _replica_template(spec, "spec", "ReplicaSet")
    return causes + _selector_update(spec, old)


def validate_daemonset(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    selector = spec.get("selector")
    causes = validate_label_selector("spec.selector", selector) if isinstance(selector, dict) else []
    causes += selector_matches_template(spec, "spec", skip_empty=False)
    if isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(invalid("spec.selector", go_label_selector(selector), "empty selector is invalid for daemonset"))
    template = as_dict(spec.get("template"))
    causes += validate_pod_template(template, "spec.template")
    causes += _template_restart_always(template, "spec.template")
    causes += _no_active_deadline(template, "spec.template", "DaemonSet")
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += nonnegative("spec.templateGeneration", spec.get("templateGeneration"))
    causes += _daemonset_strategy(as_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    causes += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    return causes + _selector_update(spec, old)


def validate_statefulset(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = _one_of_invalid(spec.get("podManagementPolicy"), ("OrderedReady", "Parallel"),
                             "spec.podManagementPolicy")
    causes += _statefulset_strategy(as_dict(spec.get("updateStrategy")))
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        if key in retention and retention[key] not in ("Retain", "Delete"):
            causes.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", retention[key],
                                        ("Retain", "Delete")))
    causes += nonnegative("spec.replicas", spec.get("replicas"))
    causes += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _selector_required(spec, "spec", "statefulset")
    template = as_dict(spec.get("template"))
    if as_selector(spec.get("selector")) is None:
        causes.append(invalid("spec.selector", go_label_selector(spec.get("selector")), ""))
    else:
        # Kubernetes checks only the template's labels and annotations here, not its pod spec.
        causes += selector_matches_template(spec, "spec", skip_empty=True)
        causes += validate_labels(as_dict(template.get("metadata")).get("labels"), "spec.template.labels")
    causes += _template_restart_always(template, "spec.template")
    causes += _no_active_deadline(template, "spec.template", "StatefulSet")
    if old is not None:
        causes += _statefulset_update(spec, as_dict(old.get("spec")))
    return causes


# ---------------------------------------------------------------- selectors and templates


def _selector_required(spec: Obj, path: str, kind_word: str) -> list[Cause]:
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return [required(f"{path}.selector")]
    causes = validate_label_selector(f"{path}.selector", selector)
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(invalid(f"{path}.selector", go_label_selector(selector),
                              f"empty selector is invalid for {kind_word}"))
    return causes


def _selector_update(spec: Obj, old: Obj | None) -> list[Cause]:
    """apps/v1 made selectors immutable (the strategies check it for that version)."""
    if old is None:
        return []
    new_selector, old_selector = spec.get("selector"), as_dict(old.get("spec")).get("selector")
    return immutable("spec.selector", new_selector, old_selector, go_label_selector(new_selector))


def _replica_template(spec: Obj, path: str, owner: str) -> list[Cause]:
    """ValidatePodTemplateSpecForReplicaSet (also used by Deployments)."""
    if as_selector(spec.get("selector")) is None:
        return [invalid(f"{path}.selector", go_label_selector(spec.get("selector")), "invalid label selector")]
    causes = selector_matches_template(spec, path, skip_empty=True)
    template = as_dict(spec.get("template"))
    causes += validate_pod_template(template, f"{path}.template")
    causes += _template_restart_always(template, f"{path}.template")
    causes += _no_active_deadline(template, f"{path}.template", owner)
    return causes


def _template_restart_always(template: Obj, path: str) -> list[Cause]:
    policy = as_dict(template.get("spec")).get("restartPolicy")
    if policy != "Always":
        return [not_supported(f"{path}.spec.restartPolicy", as_str(policy), ("Always",))]
    return []


def _no_active_deadline(template: Obj, path: str, owner: str) -> list[Cause]:
    if as_dict(template.get("spec")).get("activeDeadlineSeconds") is None:
        return []
    return [forbidden(f"{path}.spec.activeDeadlineSeconds", f"activeDeadlineSeconds in {owner} is not Supported")]


# ---------------------------------------------------------------- int-or-percent fields


def _int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        if not _PERCENT_RE.fullmatch(value):
            return [invalid(path, go_int_or_string(value), regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'", _PERCENT_FMT,
                "1%", "93%"))]
        return []
    return nonnegative(path, value)


def _int_or_percent_value(value: Any) -> int:
    if isinstance(value, str):
        return int(value[:-1]) if _PERCENT_RE.fullmatch(value) else 0
    return value if is_int(value) else 0


def _not_over_100(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str) and _PERCENT_RE.fullmatch(value) and int(value[:-1]) > 100:
        return [invalid(path, go_int_or_string(value), "must not be greater than 100%")]
    return []


# ---------------------------------------------------------------- update strategies


def _deployment_strategy(strategy: Obj, path: str) -> list[Cause]:
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
        rpath = f"{path}.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        causes = _int_or_percent(unavailable, f"{rpath}.maxUnavailable")
        causes += _int_or_percent(surge, f"{rpath}.maxSurge")
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            causes.append(invalid(f"{rpath}.maxUnavailable", go_int_or_string(unavailable),
                                  "may not be 0 when `maxSurge` is 0"))
        return causes + _not_over_100(unavailable, f"{rpath}.maxUnavailable")
    rolling_text = "(*apps.RollingUpdateDeployment)(nil)" if rolling is None else "(*apps.RollingUpdateDeployment)"
    shown = GoLiteral(f"apps.DeploymentStrategy{{Type:{go_quote(as_str(kind))}, RollingUpdate:{rolling_text}}}")
    return [not_supported(path, shown, ("Recreate", "RollingUpdate"))]


def _daemonset_strategy(strategy: Obj, path: str) -> list[Cause]:
    kind = strategy.get("type")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        shown = GoLiteral(f"apps.DaemonSetUpdateStrategy{{Type:{go_quote(as_str(kind))}, "
                          "RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}")
        return [not_supported(path, shown, ("RollingUpdate", "OnDelete"))]
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, dict):
        return [required(f"{path}.rollingUpdate")]
    rpath = f"{path}.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    causes = _int_or_percent(unavailable, f"{rpath}.maxUnavailable") + _int_or_percent(surge, f"{rpath}.maxSurge")
    causes += _not_over_100(unavailable, f"{rpath}.maxUnavailable") + _not_over_100(surge, f"{rpath}.maxSurge")
    has_unavailable, has_surge = _int_or_percent_value(unavailable) != 0, _int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        causes.append(invalid(f"{rpath}.maxSurge", go_int_or_string(surge),
                              "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        causes.append(required(f"{rpath}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return causes


def _one_of_invalid(value: Any, allowed: tuple[str, str], path: str) -> list[Cause]:
    """Like common.one_of, but StatefulSet reports an unknown value as Invalid."""
    if value in (None, ""):
        return [required(path)]
    if value not in allowed:
        return [invalid(path, value, f"must be '{allowed[0]}' or '{allowed[1]}'")]
    return []


def _statefulset_strategy(strategy: Obj) -> list[Cause]:
    path = "spec.updateStrategy"
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind in (None, ""):
        return [required(path)]
    if kind == "OnDelete":
        if rolling is not None:
            return [invalid(f"{path}.rollingUpdate", rolling, "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if kind != "RollingUpdate":
        return [invalid(path, GoLiteral(f"apps.StatefulSetUpdateStrategy{{Type:{go_quote(as_str(kind))}, "
                                        "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}"),
                        "must be 'RollingUpdate' or 'OnDelete'")]
    rolling = as_dict(rolling)
    causes = nonnegative(f"{path}.rollingUpdate.partition", rolling.get("partition"))
    unavailable = rolling.get("maxUnavailable")
    if unavailable is not None:
        upath = f"{path}.rollingUpdate.maxUnavailable"
        causes += _int_or_percent(unavailable, upath)
        if _int_or_percent_value(unavailable) == 0:
            causes.append(invalid(upath, go_int_or_string(unavailable), "cannot be 0"))
        causes += _not_over_100(unavailable, upath)
    return causes


def _statefulset_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    frozen_new = {k: v for k, v in spec.items() if k not in STATEFULSET_UPDATABLE}
    frozen_old = {k: v for k, v in old_spec.items() if k not in STATEFULSET_UPDATABLE}
    if semantic(frozen_new) == semantic(frozen_old):
        return []
    return [forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                              "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                              "'minReadySeconds' are forbidden")]
