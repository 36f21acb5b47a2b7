"""Resource-allocation scoring shared by NodeResourcesFit and NodeResourcesBalancedAllocation.

Mirrors kube-scheduler's resourceAllocationScorer: for each configured resource the plugin
compares (requested on the node + the pod's request) with the node's allocatable, and a
strategy turns those pairs into one 0..100 score. Go's integer arithmetic is kept (truncating
division, math.Round) so that placements agree with kube-scheduler's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeling.scheduler import framework
from kubeling.scheduler.framework import CPU, EPHEMERAL, MAX_NODE_SCORE, MEMORY, NodeInfo, Obj, Resources

# The score a RequestedToCapacityRatio shape point may carry (config.MaxCustomPriorityScore).
MAX_CUSTOM_PRIORITY_SCORE = 10
MAX_UTILIZATION = 100

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"

DEFAULT_RESOURCES: list[dict[str, Any]] = [{"name": CPU, "weight": 1}, {"name": MEMORY, "weight": 1}]
DEFAULT_SHAPE: list[dict[str, int]] = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]

_NATIVE_PREFIX = "kubernetes.io/"
_REQUESTS_PREFIX = "requests."


# ---- resource names (k8s.io/kubernetes/pkg/apis/core/v1/helper) ----------------------------------


def is_prefixed_native_resource(name: str) -> bool:
    return _NATIVE_PREFIX in name


def is_native_resource(name: str) -> bool:
    return "/" not in name or is_prefixed_native_resource(name)


def is_extended_resource_name(name: str) -> bool:
    """A resource like `example.com/gpu`: domain-qualified and outside kubernetes.io."""
    return not is_native_resource(name) and not name.startswith(_REQUESTS_PREFIX)


def is_scalar_resource_name(name: str) -> bool:
    """Resources the scheduler counts beyond cpu/memory/ephemeral-storage/pods."""
    return (is_extended_resource_name(name) or name.startswith("hugepages-")
            or is_prefixed_native_resource(name) or name.startswith("attachable-volumes-"))


# ---- Go arithmetic --------------------------------------------------------------------------------


def go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's `/` on int64."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def go_round(x: float) -> int:
    """Go's math.Round: halves round away from zero (Python's round() is banker's)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


# ---- pod requests for scoring -----------------------------------------------------------------------


def non_zero_requests(pod: Obj) -> Resources:
    """resourcehelper.PodRequests with NonMissingContainerRequests (cpu 100m, memory 200Mi)."""
    return framework.pod_requests(pod, non_missing=True)


def resource_value(r: Resources, name: str) -> int:
    if name == CPU:
        return r.milli_cpu
    if name == MEMORY:
        return r.memory
    if name == EPHEMERAL:
        return r.ephemeral_storage
    if name == framework.PODS:
        return r.allowed_pods
    return r.scalar.get(name, 0)


# ---- arguments --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    weight: int = 1


def parse_resources(specs: list[dict[str, Any]] | None, path: str = "resources") -> list[ResourceSpec]:
    """Resource specs with Kubernetes' defaulting (weight 0 or unset -> 1) and validation
    (weights in 1..100, no duplicates)."""
    out: list[ResourceSpec] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs or DEFAULT_RESOURCES):
        name = spec.get("name") or ""
        weight = int(spec.get("weight") or 1)
        if not name:
            raise ValueError(f"{path}[{i}].name: Required value")
        if weight < 1 or weight > MAX_NODE_SCORE:
            raise ValueError(f"{path}[{i}].weight: Invalid value: {weight}: resource weight of {name} "
                             f"should be in range [1, {MAX_NODE_SCORE}]")
        if name in seen:
            raise ValueError(f"{path}[{i}].name: Duplicate value: {name!r}")
        seen.add(name)
        out.append(ResourceSpec(name, weight))
    return out


def parse_shape(points: list[dict[str, Any]] | None) -> list[tuple[int, int]]:
    """RequestedToCapacityRatio shape: utilization strictly increasing in 0..100, score 0..10,
    scaled to 0..MAX_NODE_SCORE as the scheduler does."""
    points = points if points is not None else DEFAULT_SHAPE
    if not points:
        raise ValueError("scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified")
    shape: list[tuple[int, int]] = []
    for i, p in enumerate(points):
        u, s = int(p.get("utilization", 0)), int(p.get("score", 0))
        if not 0 <= u <= MAX_UTILIZATION:
            raise ValueError(f"shape[{i}].utilization: Invalid value: {u}: not in valid range [0, {MAX_UTILIZATION}]")
        if shape and u <= shape[-1][0]:
            raise ValueError(f"shape[{i}].utilization: Invalid value: {u}: utilization values must be sorted "
                             "in increasing order")
        if not 0 <= s <= MAX_CUSTOM_PRIORITY_SCORE:
            raise ValueError(f"shape[{i}].score: Invalid value: {s}: not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]")
        shape.append((u, s * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)))
    return shape


# ---- strategies: (requested, allocatable) per resource -> node score -------------------------------

Scorer = Callable[[list[int], list[int]], int]


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    # Pods without requests get default amounts, so requested may exceed capacity.
    requested = min(requested, capacity)
    return requested * MAX_NODE_SCORE // capacity


def _weighted(per_resource: Callable[[int, int], int], resources: list[ResourceSpec]) -> Scorer:
    def score(requested: list[int], allocatable: list[int]) -> int:
        total = weights = 0
        for i, alloc in enumerate(allocatable):
            if alloc == 0:
                continue
            total += per_resource(requested[i], alloc) * resources[i].weight
            weights += resources[i].weight
        return total // weights if weights else 0
    return score


def least_allocated(resources: list[ResourceSpec]) -> Scorer:
    return _weighted(least_requested_score, resources)


def most_allocated(resources: list[ResourceSpec]) -> Scorer:
    return _weighted(most_requested_score, resources)


def broken_linear(shape: list[tuple[int, int]]) -> Callable[[int], int]:
    """Piecewise-linear function through the shape points, flat outside them."""
    def f(p: int) -> int:
        for i, (u, s) in enumerate(shape):
            if p <= u:
                if i == 0:
                    return s
                pu, ps = shape[i - 1]
                return ps + go_div((s - ps) * (p - pu), u - pu)
        return shape[-1][1]
    return f


def requested_to_capacity_ratio(resources: list[ResourceSpec], shape: list[tuple[int, int]]) -> Scorer:
    raw = broken_linear(shape)

    def per_resource(requested: int, capacity: int) -> int:
        if capacity == 0 or requested > capacity:
            return raw(MAX_UTILIZATION)
        return raw(requested * MAX_UTILIZATION // capacity)

    def score(requested: list[int], allocatable: list[int]) -> int:
        total = weights = 0
        for i, alloc in enumerate(allocatable):
            if alloc == 0:
                continue
            s = per_resource(requested[i], alloc)
            if s > 0:  # as in Kubernetes: zero-scoring resources do not dilute the average
                total += s * resources[i].weight
                weights += resources[i].weight
        return go_round(total / weights) if weights else 0
    return score


def balanced(requested: list[int], allocatable: list[int]) -> int:
    """(1 - standard deviation of the usage fractions) * 100: favours nodes whose resources
    are used evenly."""
    # Float operations in Go's order (explicit loops: Python 3.12's sum() compensates rounding).
    fractions = []
    total = 0.0
    for req, alloc in zip(requested, allocatable, strict=True):
        if alloc == 0:
            continue
        fraction = min(float(req) / float(alloc), 1.0)
        total += fraction
        fractions.append(fraction)
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = total / len(fractions)
        acc = 0.0
        for f in fractions:
            acc = acc + (f - mean) * (f - mean)
        std = math.sqrt(acc / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


def strategy_scorer(strategy: dict[str, Any] | None) -> tuple[list[ResourceSpec], Scorer]:
    """The scorer a NodeResourcesFit `scoringStrategy` argument selects (default LeastAllocated
    over cpu and memory, weight 1 each)."""
    strategy = strategy or {}
    kind = strategy.get("type") or LEAST_ALLOCATED
    resources = parse_resources(strategy.get("resources"), "scoringStrategy.resources")
    if kind == LEAST_ALLOCATED:
        return resources, least_allocated(resources)
    if kind == MOST_ALLOCATED:
        return resources, most_allocated(resources)
    if kind == REQUESTED_TO_CAPACITY_RATIO:
        rtcr = strategy.get("requestedToCapacityRatio") or {}
        return resources, requested_to_capacity_ratio(resources, parse_shape(rtcr.get("shape")))
    raise ValueError(f"scoringStrategy.type: Unsupported value: {kind!r}: supported values: "
                     f'"{LEAST_ALLOCATED}", "{MOST_ALLOCATED}", "{REQUESTED_TO_CAPACITY_RATIO}"')


# ---- the scorer -------------------------------------------------------------------------------------


class ResourceAllocationScorer:
    """Scores a node for a pod over a list of resources. `use_requested` selects the node's real
    requests (BalancedAllocation) instead of the non-zero ones (the Fit strategies)."""

    def __init__(self, resources: list[ResourceSpec], scorer: Scorer, use_requested: bool = False):
        self.resources = resources
        self.scorer = scorer
        self.use_requested = use_requested

    def pod_requests(self, pod: Obj, state: framework.CycleState | None = None) -> list[int]:
        """The pod's request per resource (with `state`, computed once per cycle)."""
        if state is not None:
            r = framework.cycle_pod_requests(state, pod, non_missing=not self.use_requested)
        else:
            r = framework.pod_requests(pod) if self.use_requested else non_zero_requests(pod)
        return [resource_value(r, spec.name) for spec in self.resources]

    def allocatable_and_requested(self, node_info: NodeInfo, name: str, pod_request: int) -> tuple[int, int]:
        requested = node_info.requested if self.use_requested else node_info.non_zero_requested
        if pod_request == 0 and is_scalar_resource_name(name):
            return 0, 0  # an extended resource the pod does not ask for is left out
        alloc = node_info.allocatable
        if name == CPU:
            return alloc.milli_cpu, requested.milli_cpu + pod_request
        if name == MEMORY:
            return alloc.memory, requested.memory + pod_request
        if name == EPHEMERAL:
            return alloc.ephemeral_storage, node_info.requested.ephemeral_storage + pod_request
        if name in alloc.scalar:
            return alloc.scalar[name], node_info.requested.scalar.get(name, 0) + pod_request
        return 0, 0

    def score(self, node_info: NodeInfo, pod_requests: list[int]) -> tuple[int, framework.Status]:
        if not self.resources:
            return 0, framework.error("resources not found")
        n = len(self.resources)
        requested, allocatable = [0] * n, [0] * n
        for i, spec in enumerate(self.resources):
            alloc, req = self.allocatable_and_requested(node_info, spec.name, pod_requests[i])
            if alloc == 0:
                continue
            allocatable[i], requested[i] = alloc, req
        return self.scorer(requested, allocatable), framework.SUCCESS
