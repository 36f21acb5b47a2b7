"""Vectorised forms of the resource strategies in resource_scoring.py: the same Go integer and
float arithmetic, applied to NumPy columns (one entry per node) instead of one node at a time.
Each function here must give, node by node, exactly what its per-node twin gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kubeling.scheduler import node_table
from kubeling.scheduler.framework import CPU, EPHEMERAL, MAX_NODE_SCORE, MEMORY, Resources
from kubeling.scheduler.plugins import resource_scoring as rs

# (requested, allocatable) per resource, each an int64 column -> int64 scores.
BatchScorer = Callable[[list[np.ndarray], list[np.ndarray]], np.ndarray]


def _least(requested: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    safe = np.where(capacity == 0, 1, capacity)
    return np.where((capacity == 0) | (requested > capacity), 0, (capacity - requested) * MAX_NODE_SCORE // safe)


def _most(requested: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    safe = np.where(capacity == 0, 1, capacity)
    return np.where(capacity == 0, 0, np.minimum(requested, capacity) * MAX_NODE_SCORE // safe)


def _weighted(per_resource: Callable[[np.ndarray, np.ndarray], np.ndarray],
              resources: list[rs.ResourceSpec]) -> BatchScorer:
    def score(requested: list[np.ndarray], allocatable: list[np.ndarray]) -> np.ndarray:
        n = len(allocatable[0]) if allocatable else 0
        total, weights = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
            present = alloc != 0
            total += np.where(present, per_resource(req, alloc) * spec.weight, 0)
            weights += present * spec.weight
        return np.where(weights > 0, total // np.where(weights > 0, weights, 1), 0)
    return score


def _go_div(a: np.ndarray, b: int) -> np.ndarray:
    """Go's truncating division by a positive constant."""
    q = np.abs(a) // b
    return np.where(a >= 0, q, -q)


def broken_linear(shape: list[tuple[int, int]]) -> Callable[[np.ndarray], np.ndarray]:
    def f(p: np.ndarray) -> np.ndarray:
        out = np.full(p.shape, shape[-1][1], dtype=np.int64)
        # The first point at or above p decides: walk backwards so the earliest match wins.
        for i in range(len(shape) - 1, -1, -1):
            u, s = shape[i]
            if i == 0:
                value = np.full(p.shape, s, dtype=np.int64)
            else:
                pu, ps = shape[i - 1]
                value = ps + _go_div((s - ps) * (p - pu), u - pu)
            out = np.where(p <= u, value, out)
        return out
    return f


def requested_to_capacity_ratio(resources: list[rs.ResourceSpec], shape: list[tuple[int, int]]) -> BatchScorer:
    raw = broken_linear(shape)

    def score(requested: list[np.ndarray], allocatable: list[np.ndarray]) -> np.ndarray:
        n = len(allocatable[0]) if allocatable else 0
        total, weights = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
            safe = np.where(alloc == 0, 1, alloc)
            utilization = np.where(req > alloc, rs.MAX_UTILIZATION, req * rs.MAX_UTILIZATION // safe)
            s = raw(utilization)
            counted = (alloc != 0) & (s > 0)  # zero-scoring resources do not dilute the average
            total += np.where(counted, s * spec.weight, 0)
            weights += counted * spec.weight
        mean = total / np.where(weights > 0, weights, 1)
        return np.where(weights > 0, np.floor(mean + 0.5).astype(np.int64), 0)  # go_round, mean >= 0
    return score


def balanced(requested: list[np.ndarray], allocatable: list[np.ndarray]) -> np.ndarray:
    """rs.balanced per node: the float operations in the same order, skipping, per node, the
    resources it has no allocatable of."""
    n = len(allocatable[0]) if allocatable else 0
    count = np.zeros(n, dtype=np.int64)
    total = np.zeros(n)
    first, second = np.zeros(n), np.zeros(n)
    fractions = []
    for req, alloc in zip(requested, allocatable, strict=True):
        present = alloc != 0
        f = np.minimum(req.astype(np.float64) / np.where(present, alloc, 1).astype(np.float64), 1.0)
        fractions.append((present, f))
        total = np.where(present, total + f, total)
        first = np.where(present & (count == 0), f, first)
        second = np.where(present & (count == 1), f, second)
        count += present
    std = np.where(count == 2, np.abs((first - second) / 2), 0.0)
    many = count > 2
    if many.any():
        k = np.where(many, count, 1)
        mean = total / k
        acc = np.zeros(n)
        for present, f in fractions:
            acc = np.where(present, acc + (f - mean) * (f - mean), acc)
        std = np.where(many, np.sqrt(acc / k), std)
    return ((1 - std) * MAX_NODE_SCORE).astype(np.int64)


def strategy_scorer(strategy: dict[str, Any] | None) -> BatchScorer:
    """The batch twin of resource_scoring.strategy_scorer (arguments already validated there)."""
    strategy = strategy or {}
    kind = strategy.get("type") or rs.LEAST_ALLOCATED
    resources = rs.parse_resources(strategy.get("resources"), "scoringStrategy.resources")
    if kind == rs.LEAST_ALLOCATED:
        return _weighted(_least, resources)
    if kind == rs.MOST_ALLOCATED:
        return _weighted(_most, resources)
    rtcr = strategy.get("requestedToCapacityRatio") or {}
    return requested_to_capacity_ratio(resources, rs.parse_shape(rtcr.get("shape")))


# ---- reading the node table ---------------------------------------------------------------------


def columns(table: node_table.NodeTable, rows: np.ndarray, resources: list[rs.ResourceSpec],
            pod_requests: list[int], use_requested: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(requested incl. the pod, allocatable) per resource for `rows`, as
    ResourceAllocationScorer.allocatable_and_requested reads them, zero where it skips."""
    c = table.cols
    requested, allocatable = [], []
    for spec, want in zip(resources, pod_requests, strict=True):
        name = spec.name
        if want == 0 and rs.is_scalar_resource_name(name):
            alloc = req = np.zeros(len(rows), dtype=np.int64)
        elif name == CPU:
            alloc, req = c["alloc_cpu"][rows], c["req_cpu" if use_requested else "nz_cpu"][rows] + want
        elif name == MEMORY:
            alloc, req = c["alloc_mem"][rows], c["req_mem" if use_requested else "nz_mem"][rows] + want
        elif name == EPHEMERAL:
            alloc, req = c["alloc_eph"][rows], c["req_eph"][rows] + want
        else:
            scalar_alloc, scalar_req = table.scalar(name)
            alloc, req = scalar_alloc[rows], scalar_req[rows] + want
        present = alloc != 0
        requested.append(np.where(present, req, 0))
        allocatable.append(alloc)
    return requested, allocatable


def fits_int64(values: list[int] | Resources) -> bool:
    """Whether a pod's requests are small enough for the int64 columns."""
    if isinstance(values, Resources):
        values = [values.milli_cpu, values.memory, values.ephemeral_storage, values.allowed_pods,
                  *values.scalar.values()]
    return all(abs(v) < node_table.SAFE_LIMIT for v in values)


def score_nodes(snapshot: Any, scorer: rs.ResourceAllocationScorer, batch: BatchScorer, nodes: list[Any],
                pod_requests: list[int]) -> list[int] | np.ndarray:
    """scorer.score() for every node, in one pass over the snapshot's columns when the nodes
    are the snapshot's own and the numbers fit int64 (else node by node)."""
    table = node_table.of(snapshot)
    rows = table.rows(nodes) if scorer.resources and table.safe and fits_int64(pod_requests) else None
    if rows is None:
        return [_checked(scorer, n, pod_requests) for n in nodes]
    requested, allocatable = columns(table, rows, scorer.resources, pod_requests, scorer.use_requested)
    if not table.safe:  # a scalar column read just now held a too large value
        return [_checked(scorer, n, pod_requests) for n in nodes]
    return batch(requested, allocatable)


def _checked(scorer: rs.ResourceAllocationScorer, node: Any, pod_requests: list[int]) -> int:
    value, status = scorer.score(node, pod_requests)
    if not status.ok:
        raise RuntimeError(status.message())
    return value
