"""NodeResourcesFit: a node must have room for the pod's requests; nodes are scored by how
much room is left (LeastAllocated, the default), used (MostAllocated) or by a custom
utilization curve (RequestedToCapacityRatio).

Args (KubeSchedulerConfiguration NodeResourcesFitArgs): `ignoredResources`,
`ignoredResourceGroups`, `scoringStrategy: {type, resources: [{name, weight}],
requestedToCapacityRatio: {shape: [{utilization, score}]}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeling.scheduler import framework, node_table
from kubeling.scheduler.framework import CycleState, NodeInfo, Obj, Plugin, PreFilterResult, Resources, Status
from kubeling.scheduler.plugins import resource_batch as rb
from kubeling.scheduler.plugins import resource_scoring as rs
from kubeling.scheduler.registry import register

NAME = "NodeResourcesFit"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

REASON_TOO_MANY_PODS = "Too many pods"


@dataclass
class InsufficientResource:
    """What does not fit, with the numbers (preemption and autoscaler-style callers use them)."""

    resource: str
    reason: str
    requested: int
    used: int
    capacity: int


def insufficient_resources(request: Resources, node_info: NodeInfo, ignored: frozenset[str] = frozenset(),
                           ignored_groups: frozenset[str] = frozenset()) -> list[InsufficientResource]:
    """Every resource the node lacks for a pod requesting `request` (fitsRequest in Kubernetes)."""
    out: list[InsufficientResource] = []
    alloc, used = node_info.allocatable, node_info.requested
    if len(node_info.pods) + 1 > alloc.allowed_pods:
        out.append(InsufficientResource(framework.PODS, REASON_TOO_MANY_PODS, 1, len(node_info.pods),
                                        alloc.allowed_pods))
    checks = ((framework.CPU, request.milli_cpu, used.milli_cpu, alloc.milli_cpu),
              (framework.MEMORY, request.memory, used.memory, alloc.memory),
              (framework.EPHEMERAL, request.ephemeral_storage, used.ephemeral_storage, alloc.ephemeral_storage))
    for name, want, have_used, capacity in checks:
        if want > 0 and want > capacity - have_used:
            out.append(InsufficientResource(name, f"Insufficient {name}", want, have_used, capacity))
    for name in sorted(request.scalar):  # sorted: Go's map order is random, ours is stable
        want = request.scalar[name]
        if want == 0 or not rs.is_scalar_resource_name(name):
            continue
        if rs.is_extended_resource_name(name) and (
                name in ignored or (ignored_groups and name.split("/", 1)[0] in ignored_groups)):
            continue
        capacity, have_used = alloc.scalar.get(name, 0), used.scalar.get(name, 0)
        if want > capacity - have_used:
            out.append(InsufficientResource(name, f"Insufficient {name}", want, have_used, capacity))
    return out


def fits(pod: Obj, node_info: NodeInfo) -> list[InsufficientResource]:
    """Whether a pod fits a node, ignoring nothing (empty list: it fits)."""
    return insufficient_resources(framework.pod_requests(pod), node_info)


@register
class NodeResourcesFit(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        super().__init__(handle, args)
        self.ignored = frozenset(self.args.get("ignoredResources") or ())
        groups = self.args.get("ignoredResourceGroups") or ()
        for i, group in enumerate(groups):
            if "/" in group:
                raise ValueError(f"ignoredResourceGroups[{i}]: Invalid value: {group!r}: "
                                 "resource group name can't contain '/'")
        self.ignored_groups = frozenset(groups)
        resources, scorer = rs.strategy_scorer(self.args.get("scoringStrategy"))
        self.scorer = rs.ResourceAllocationScorer(resources, scorer)
        self.batch_scorer = rb.strategy_scorer(self.args.get("scoringStrategy"))

    def _request(self, state: CycleState, pod: Obj) -> Resources:
        request = state.get(PRE_FILTER_KEY)
        return request if request is not None else framework.pod_requests(pod)

    def pre_filter(self, state: CycleState, pod: Obj) -> tuple[PreFilterResult | None, Status]:
        state[PRE_FILTER_KEY] = framework.cycle_pod_requests(state, pod)
        return None, framework.SUCCESS

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        missing = insufficient_resources(self._request(state, pod), node_info, self.ignored, self.ignored_groups)
        if missing:
            return framework.unschedulable(*(m.reason for m in missing))
        return framework.SUCCESS

    def filter_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[Status | None]:
        """filter() over many snapshot nodes at once, from the snapshot's resource columns."""
        request = self._request(state, pod)
        table = node_table.of(self.handle.snapshot)
        rows = table.rows(nodes) if table.safe and rb.fits_int64(request) else None
        if rows is None:
            return [None if (s := self.filter(state, pod, n)).ok else s for n in nodes]
        c = table.cols
        # What is left per node (allocatable - used, kept by the table): too little fails.
        checks = [(REASON_TOO_MANY_PODS, c["free_pods"][rows] < 1)]
        for name, want, free in ((framework.CPU, request.milli_cpu, "free_cpu"),
                                 (framework.MEMORY, request.memory, "free_mem"),
                                 (framework.EPHEMERAL, request.ephemeral_storage, "free_eph")):
            if want > 0:
                checks.append((f"Insufficient {name}", c[free][rows] < want))
        for name in sorted(request.scalar):
            want = request.scalar[name]
            if want == 0 or not rs.is_scalar_resource_name(name) or self._ignored(name):
                continue
            alloc, used = table.scalar(name)
            checks.append((f"Insufficient {name}", want > alloc[rows] - used[rows]))
        if not table.safe:  # a scalar column just read holds a too large value
            return [None if (s := self.filter(state, pod, n)).ok else s for n in nodes]
        failed = checks[0][1]
        for _, fails in checks[1:]:
            failed = failed | fails
        if not failed.any():
            return framework.all_pass(len(nodes))
        out: list[Status | None] = [None] * len(nodes)
        for i in np.flatnonzero(failed).tolist():
            out[i] = framework.unschedulable(*(reason for reason, fails in checks if fails[i]))
        return out

    def _ignored(self, name: str) -> bool:
        return rs.is_extended_resource_name(name) and (
            name in self.ignored or bool(self.ignored_groups and name.split("/", 1)[0] in self.ignored_groups))

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        state[PRE_SCORE_KEY] = self.scorer.pod_requests(pod, state)
        return framework.SUCCESS

    def score_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[int] | np.ndarray:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self.scorer.pod_requests(pod)
        return rb.score_nodes(self.handle.snapshot, self.scorer, self.batch_scorer, nodes, requests)

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self.scorer.pod_requests(pod)
        return self.scorer.score(node_info, requests)

    def events_to_register(self) -> list[str]:
        # More allocatable or a deleted pod can make room; nothing else changes the fit.
        return ["NodeAdd", "NodeAllocatableChange", "AssignedPodDelete"]
