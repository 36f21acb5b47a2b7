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

# (requested, allocatable) per resource, each an int64 column -> int64 scores. Where a node's
# allocatable is 0 its requested value is ignored. Keyword `all_present=True` says no
# allocatable value is 0, so the per-node masks can be left out (None: look).
BatchScorer = Callable[..., np.ndarray]


def _all_present(allocatable: list[np.ndarray], all_present: bool | None) -> bool:
    if all_present is None:
        return all(bool(alloc.all()) for alloc in allocatable)
    return all_present


def _least(requested: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    safe = np.where(capacity == 0, 1, capacity)
    return np.where((capacity == 0) | (requested > capacity), 0, (capacity - requested) * MAX_NODE_SCORE // safe)


def _most(requested: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    safe = np.where(capacity == 0, 1, capacity)
    return np.where(capacity == 0, 0, np.minimum(requested, capacity) * MAX_NODE_SCORE // safe)


def _least_present(requested: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """_least where no capacity is 0: over capacity the difference is negative, so is its
    floor quotient, and the clip gives _least's 0."""
    return np.maximum((capacity - requested) * MAX_NODE_SCORE // capacity, 0)


def _most_present(requested: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    return np.minimum(requested, capacity) * MAX_NODE_SCORE // capacity


_PRESENT_FORMS = {_least: _least_present, _most: _most_present}


def _weighted(per_resource: Callable[[np.ndarray, np.ndarray], np.ndarray],
              resources: list[rs.ResourceSpec]) -> BatchScorer:
    present_form = _PRESENT_FORMS.get(per_resource)
    weight_sum = sum(spec.weight for spec in resources)

    def score(requested: list[np.ndarray], allocatable: list[np.ndarray],
              all_present: bool | None = None) -> np.ndarray:
        if present_form is not None and resources and _all_present(allocatable, all_present):
            # Every resource counts on every node: the weights' sum is the divisor.
            total = None
            for spec, req, alloc in zip(resources, requested, allocatable, strict=True):
                s = present_form(req, alloc)
                if spec.weight != 1:
                    s *= spec.weight
                total = s if total is None else total + s
            return total // weight_sum
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

    def score(requested: list[np.ndarray], allocatable: list[np.ndarray],
              all_present: bool | None = None) -> np.ndarray:
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


def balanced(requested: list[np.ndarray], allocatable: list[np.ndarray],
             all_present: bool | None = None) -> np.ndarray:
    """rs.balanced per node: the float operations in the same order, skipping, per node, the
    resources it has no allocatable of."""
    if allocatable and _all_present(allocatable, all_present):
        return _balanced_present(requested, allocatable)
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


def _balanced_present(requested: list[np.ndarray], allocatable: list[np.ndarray]) -> np.ndarray:
    """balanced() where every node has every resource: the same fractions and float order,
    without the per-node masks (int64 / int64 divides as float64, as the astype form does)."""
    fractions = [np.minimum(req / alloc, 1.0) for req, alloc in zip(requested, allocatable, strict=True)]
    if len(fractions) == 1:
        return np.full(len(fractions[0]), MAX_NODE_SCORE, dtype=np.int64)  # std 0
    if len(fractions) == 2:
        std = np.abs((fractions[0] - fractions[1]) / 2)
    else:
        total = 0.0 + fractions[0]
        for f in fractions[1:]:
            total = total + f
        mean = total / len(fractions)
        acc = np.zeros(len(mean))
        for f in fractions:
            acc = acc + (f - mean) * (f - mean)
        std = np.sqrt(acc / len(fractions))
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
    requested, allocatable, _ = gather(table, rows, None, resources, pod_requests, use_requested)
    return [np.where(alloc != 0, req, 0) for req, alloc in zip(requested, allocatable, strict=True)], allocatable


# Table columns per resource: (allocatable, requested by the strategies, requested by BalancedAllocation).
_NATIVE_COLUMNS = {CPU: ("alloc_cpu", "nz_cpu", "req_cpu"), MEMORY: ("alloc_mem", "nz_mem", "req_mem"),
                   EPHEMERAL: ("alloc_eph", "req_eph", "req_eph")}


def gather(table: node_table.NodeTable, rows: np.ndarray, nodes: node_table.NodeList | None,
           resources: list[rs.ResourceSpec], pod_requests: list[int],
           use_requested: bool) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """(requested incl. the pod, allocatable, whether no allocatable is 0) per resource for
    `rows`; requested is not zeroed where allocatable is 0 (BatchScorers ignore it there).
    With `nodes` (a NodeList at `rows`) the columns come from its cache, shared by the plugins."""
    def column(name: str) -> np.ndarray:
        return nodes.column(name) if nodes is not None else table.cols[name][rows]

    requested, allocatable = [], []
    all_present = True
    for spec, want in zip(resources, pod_requests, strict=True):
        name = spec.name
        native = _NATIVE_COLUMNS.get(name)
        if want == 0 and rs.is_scalar_resource_name(name):
            alloc = req = np.zeros(len(rows), dtype=np.int64)
            all_present = False
        elif native is not None:
            alloc_name, req_name = native[0], native[2 if use_requested else 1]
            alloc, req = column(alloc_name), column(req_name) + want
            all_present = all_present and table.nonzero.get(alloc_name, False)
        else:
            scalar_alloc, scalar_req = table.scalar(name)
            alloc, req = scalar_alloc[rows], scalar_req[rows] + want
            all_present = all_present and bool(alloc.all())
        requested.append(req)
        allocatable.append(alloc)
    return requested, allocatable, all_present


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
    own = nodes if isinstance(nodes, node_table.NodeList) and nodes.rows is rows else None
    requested, allocatable, all_present = gather(table, rows, own, scorer.resources, pod_requests,
                                                 scorer.use_requested)
    if not table.safe:  # a scalar column read just now held a too large value
        return [_checked(scorer, n, pod_requests) for n in nodes]
    return batch(requested, allocatable, all_present=all_present)


def _checked(scorer: rs.ResourceAllocationScorer, node: Any, pod_requests: list[int]) -> int:
    value, status = scorer.score(node, pod_requests)
    if not status.ok:
        raise RuntimeError(status.message())
    return value
