"""scheduling.k8s.io/v1 PriorityClass (pkg/apis/scheduling/validation)."""

from __future__ import annotations

from kubeling.api.validation.causes import Cause, forbidden, invalid, not_supported
from kubeling.api.validation.common import Obj

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def validate_priorityclass(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    name = (obj.get("metadata") or {}).get("name", "")
    value = obj.get("value")
    if name.startswith("system-"):
        if SYSTEM_PRIORITY_CLASSES.get(name) != value:
            causes.append(forbidden("metadata.name", f'priority class names with "system-" prefix are reserved '
                                                     f"for system use only. error: {name!r} is not a known system "
                                                     "priority class".replace("'", '"')))
    elif isinstance(value, int) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                         f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in ("PreemptLowerPriority", "Never"):
        causes.append(not_supported("preemptionPolicy", policy, ("Never", "PreemptLowerPriority")))
    if old is not None:
        if value != old.get("value"):
            causes.append(forbidden("value", "may not be changed in an update."))
        if policy != old.get("preemptionPolicy"):
            causes.append(invalid("preemptionPolicy", policy, "field is immutable"))
    return causes
