"""NodeUnschedulable: cordoned nodes (spec.unschedulable) take only pods that tolerate the
node.kubernetes.io/unschedulable:NoSchedule taint."""

from __future__ import annotations

from kubeling.scheduler import framework, node_table
from kubeling.scheduler.framework import CycleState, NodeInfo, Obj, Plugin, Status
from kubeling.scheduler.plugins.taint_toleration import tolerates_taint
from kubeling.scheduler.registry import register

NAME = "NodeUnschedulable"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


@register
class NodeUnschedulable(Plugin):
    name = NAME

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        if not (node_info.node.get("spec") or {}).get("unschedulable"):
            return framework.SUCCESS
        if tolerates_taint((pod.get("spec") or {}).get("tolerations") or [], UNSCHEDULABLE_TAINT):
            return framework.SUCCESS
        return framework.unschedulable(REASON_UNSCHEDULABLE, resolvable=False)

    def filter_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[Status | None]:
        table = node_table.of(self.handle.snapshot)
        rows = table.rows(nodes)
        if rows is not None and not table.cordoned[rows].any():
            return framework.all_pass(len(nodes))  # no cordoned node among them
        return [None if (s := self.filter(state, pod, n)).ok else s for n in nodes]

    def events_to_register(self) -> list[str]:
        return ["NodeAdd", "NodeUnschedulableChange", "NodeTaintChange"]
