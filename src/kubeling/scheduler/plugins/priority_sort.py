"""PrioritySort (QueueSort): the active queue pops higher-priority pods first, and among
equal priorities the one queued earlier (kube-scheduler's queuesort plugin)."""

from __future__ import annotations

from typing import Any

from kubeling.scheduler.framework import Obj, Plugin
from kubeling.scheduler.registry import register

NAME = "PrioritySort"


def pod_priority(pod: Obj) -> int:
    """spec.priority, or 0: a pod without one was created when no default PriorityClass
    existed, so it gets the static default (corev1helpers.PodPriority)."""
    priority = (pod.get("spec") or {}).get("priority")
    return int(priority) if priority is not None else 0


def _queued_pod(info: Any) -> Obj:
    # The queue's QueuedPodInfo carries the pod directly or through its PodInfo.
    pod = getattr(info, "pod", None)
    if pod is None:
        pod = info.pod_info.pod
    return pod.pod if hasattr(pod, "pod") else pod


@register
class PrioritySort(Plugin):
    name = NAME

    def less(self, a: Any, b: Any) -> bool:
        """Whether QueuedPodInfo `a` goes before `b`: a higher priority, or the same priority
        and an earlier `timestamp` (when it was added to the queue)."""
        return less(a, b)

    def events_to_register(self) -> list[str]:
        return []  # it never rejects a pod


def less(a: Any, b: Any) -> bool:
    p1, p2 = pod_priority(_queued_pod(a)), pod_priority(_queued_pod(b))
    return p1 > p2 or (p1 == p2 and a.timestamp < b.timestamp)
