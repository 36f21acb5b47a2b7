"""NodeResourcesBalancedAllocation: prefer nodes whose resources would be used evenly (cpu
and memory fractions close to each other) once the pod is placed.

Args (NodeResourcesBalancedAllocationArgs): `resources: [{name, weight}]`, default cpu and
memory; weights are accepted but, as in Kubernetes, do not enter the formula.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kubeling.scheduler import framework
from kubeling.scheduler.framework import CycleState, NodeInfo, Obj, Plugin, Status
from kubeling.scheduler.plugins import resource_batch as rb
from kubeling.scheduler.plugins import resource_scoring as rs
from kubeling.scheduler.registry import register

NAME = "NodeResourcesBalancedAllocation"
PRE_SCORE_KEY = "PreScore" + NAME


@register
class NodeResourcesBalancedAllocation(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        super().__init__(handle, args)
        resources = rs.parse_resources(self.args.get("resources"))
        # Real requests, not the non-zero defaults: BestEffort pods would otherwise skew balance.
        self.scorer = rs.ResourceAllocationScorer(resources, rs.balanced, use_requested=True)

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        state[PRE_SCORE_KEY] = self.scorer.pod_requests(pod, state)
        return framework.SUCCESS

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self.scorer.pod_requests(pod)
        return self.scorer.score(node_info, requests)

    def score_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[int] | np.ndarray:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self.scorer.pod_requests(pod)
        return rb.score_nodes(self.handle.snapshot, self.scorer, rb.balanced, nodes, requests)

    def events_to_register(self) -> list[str]:
        return []  # a score plugin never rejects a pod
