"""NodeName: a pod that names its node (spec.nodeName) fits only that node."""

from __future__ import annotations

from kubeling.scheduler import framework
from kubeling.scheduler.framework import CycleState, NodeInfo, Obj, Plugin, Status
from kubeling.scheduler.registry import register

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"


def fits(pod: Obj, node_info: NodeInfo) -> bool:
    wanted = (pod.get("spec") or {}).get("nodeName") or ""
    return not wanted or wanted == node_info.name


@register
class NodeName(Plugin):
    name = NAME

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        if fits(pod, node_info):
            return framework.SUCCESS
        return framework.unschedulable(REASON, resolvable=False)

    def filter_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[Status | None]:
        if not (pod.get("spec") or {}).get("nodeName"):
            return framework.all_pass(len(nodes))  # the usual case: every node fits
        return [None if fits(pod, n) else framework.unschedulable(REASON, resolvable=False) for n in nodes]

    def events_to_register(self) -> list[str]:
        return ["NodeAdd"]  # only a new node can carry the requested name
