"""Mutating admission on create: what Kubernetes' default admission plugins add to an object
after decoding and defaulting, before validation (Priority, DefaultTolerationSeconds)."""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry
from kubeling.api.registry import ResourceType

PRIORITY_CLASSES = registry.lookup("scheduling.k8s.io", "v1", "priorityclasses")
DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"
DEFAULT_TOLERATION_SECONDS = 300
# The taints the node lifecycle controller puts on failing nodes; pods tolerate them for 5 minutes.
_NOEXECUTE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")

SYSTEM_PRIORITY_CLASSES = (
    {"metadata": {"name": "system-node-critical"}, "value": 2000001000,
     "description": "Used for system critical pods that must not be moved from their current node."},
    {"metadata": {"name": "system-cluster-critical"}, "value": 2000000000,
     "description": "Used for system critical pods that must run in the cluster, but can be moved to another "
                    "node if necessary."},
)


async def admit_create(store: Any, rt: ResourceType, obj: dict[str, Any]) -> None:
    if rt.group == "" and rt.kind == "Pod":
        await _priority(store, obj)
        _default_tolerations(obj.setdefault("spec", {}))


async def _priority(store: Any, pod: dict[str, Any]) -> None:
    """The Priority plugin: spec.priority and spec.preemptionPolicy from the pod's
    PriorityClass, or from the global default class, or 0."""
    spec = pod.setdefault("spec", {})
    name = spec.get("priorityClassName") or ""
    pod_name = (pod.get("metadata") or {}).get("name") or (pod.get("metadata") or {}).get("generateName", "")
    await store.consistent()
    if name:
        pc = store.cache.get(PRIORITY_CLASSES.storage_key(None, name))
        if pc is None:
            raise errors.forbidden(f'pods "{pod_name}" is forbidden: no PriorityClass with name {name} was found')
    else:
        pc = next((c for c in store.cache.list(PRIORITY_CLASSES.storage_prefix()) if c.get("globalDefault")), None)
        if pc is not None:
            spec["priorityClassName"] = pc["metadata"]["name"]
    value = int(pc.get("value") or 0) if pc is not None else 0
    given = spec.get("priority")
    if given is not None and given != value:
        raise errors.forbidden(f'pods "{pod_name}" is forbidden: the integer value of priority ({given}) must not '
                               f"be provided in pod spec; priority admission controller computed {value} from the "
                               "given PriorityClass name")
    spec["priority"] = value
    policy = (pc or {}).get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY
    spec.setdefault("preemptionPolicy", policy)


def _default_tolerations(spec: dict[str, Any]) -> None:
    """DefaultTolerationSeconds: tolerate not-ready/unreachable nodes for 300 s unless the pod
    already says how long."""
    tolerations = spec.get("tolerations") or []
    for key in _NOEXECUTE_TAINTS:
        if any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in tolerations) or \
                any(not t.get("key") and t.get("operator") == "Exists" for t in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    if tolerations:
        spec["tolerations"] = tolerations
