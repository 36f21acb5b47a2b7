"""Per-kind behaviour of the generic registry (Kubernetes' "strategies"): what the server
sets on create and update, and how deletion proceeds. Kinds without an entry get the
generic behaviour."""

from __future__ import annotations

from typing import Any

from kubeling.api import defaults
from kubeling.api.registry import ResourceType

# Kinds whose status a client may set on create (the kubelet registers nodes with status).
_STATUS_ON_CREATE = {("", "Node"), ("", "Event"), ("events.k8s.io", "Event")}


def prepare_for_create(rt: ResourceType, obj: dict[str, Any]) -> None:
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    if rt.has_status and (rt.group, rt.kind) not in _STATUS_ON_CREATE:
        obj.pop("status", None)
    defaults.apply_defaults((rt.group, rt.version, rt.kind), obj)
    hook = _CREATE_HOOKS.get((rt.group, rt.kind))
    if hook:
        hook(obj)


def prepare_for_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    defaults.apply_defaults((rt.group, rt.version, rt.kind), new)
    if rt.group == "" and rt.kind == "Service":
        _keep_cluster_ip(new, old)


def _keep_cluster_ip(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A Service update that omits spec.clusterIP(s) keeps the allocated ones, as Kubernetes does."""
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    for f in ("clusterIP", "clusterIPs"):
        if not spec.get(f) and old_spec.get(f):
            spec[f] = old_spec[f]


def pending_finalizers(rt: ResourceType, obj: dict[str, Any]) -> list[str]:
    """Finalizers that keep an object being deleted: metadata.finalizers, plus a
    namespace's spec.finalizers (the namespace controller empties those)."""
    pending = list((obj.get("metadata") or {}).get("finalizers") or [])
    if rt.group == "" and rt.kind == "Namespace":
        pending += (obj.get("spec") or {}).get("finalizers") or []
    return pending


def deletion_grace_seconds(rt: ResourceType, obj: dict[str, Any], requested: int | None) -> int | None:
    """The grace period a delete gets. Only pods have one: a pod running on a node is
    stopped by its kubelet first; a pod on no node, or finished, goes at once."""
    if not (rt.group == "" and rt.kind == "Pod"):
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(int(requested), 0)
    grace = spec.get("terminationGracePeriodSeconds")
    return 30 if grace is None else int(grace)


def _pod_created(pod: dict[str, Any]) -> None:
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(pod)}


def _namespace_created(ns: dict[str, Any]) -> None:
    ns["status"] = {"phase": "Active"}


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed: every container limits cpu and memory with requests equal to limits;
    BestEffort: no requests or limits at all; Burstable otherwise."""
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or requests.get(r, limits[r]) != limits[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_CREATE_HOOKS = {
    ("batch", "Job"): defaults.generate_job_selector,
    ("", "Pod"): _pod_created,
    ("", "Namespace"): _namespace_created,
}
