"""The vectorised resource strategies give, node by node, what the per-node ones give (Go's
integer division and rounding, float order in the balance), edges included."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kubeling.scheduler.plugins import resource_batch as rb
from kubeling.scheduler.plugins import resource_scoring as rs

RESOURCES = [rs.ResourceSpec("cpu", 3), rs.ResourceSpec("memory", 1), rs.ResourceSpec("example.com/gpu", 7)]
SHAPES = {
    "default": rs.parse_shape(None),
    "falling and rising": rs.parse_shape([{"utilization": 0, "score": 10}, {"utilization": 30, "score": 3},
                                          {"utilization": 70, "score": 8}, {"utilization": 100, "score": 0}]),
    "flat edges": rs.parse_shape([{"utilization": 20, "score": 4}, {"utilization": 60, "score": 9}]),
    "one point": rs.parse_shape([{"utilization": 50, "score": 5}]),
}

# (requested, allocatable) per resource for one node: edges first, then random ones.
EDGES = [
    ([0, 0, 0], [0, 0, 0]),  # nothing allocatable
    ([5, 5, 5], [0, 10, 0]),  # some resources absent
    ([10, 10, 10], [10, 10, 10]),  # full
    ([11, 3, 0], [10, 10, 10]),  # over capacity
    ([1, 2, 3], [3, 3, 3]),
    ([1, 1, 1], [3, 3, 3]),  # thirds: float rounding in the balance
    ([7, 0, 0], [10, 0, 0]),
]


def cases(seed: int, n: int = 400) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    out = list(EDGES)
    for _ in range(n):
        alloc = [rng.choice([0, 1, 3, 7, 1000, 4000, 2 ** 33]) for _ in RESOURCES]
        req = [rng.randint(0, a * 2 + 1) if a else 0 for a in alloc]
        out.append((req, alloc))
    return out


def columns(rows: list[tuple[list[int], list[int]]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    req = [np.array([r[i] for r, _ in rows], dtype=np.int64) for i in range(len(RESOURCES))]
    alloc = [np.array([a[i] for _, a in rows], dtype=np.int64) for i in range(len(RESOURCES))]
    return req, alloc


@pytest.mark.parametrize("name, scalar, batch", [
    ("least allocated", rs.least_allocated(RESOURCES), rb._weighted(rb._least, RESOURCES)),
    ("most allocated", rs.most_allocated(RESOURCES), rb._weighted(rb._most, RESOURCES)),
    ("balanced", rs.balanced, rb.balanced),
    *[(f"requested to capacity, {shape}", rs.requested_to_capacity_ratio(RESOURCES, SHAPES[shape]),
       rb.requested_to_capacity_ratio(RESOURCES, SHAPES[shape])) for shape in SHAPES],
])
def test_batch_strategies_equal_the_per_node_ones(name, scalar, batch):
    rows = cases(sum(map(ord, name)))  # a stable seed per case
    want = [scalar(*row) for row in rows]
    assert batch(*columns(rows)).tolist() == want


def test_balanced_with_two_of_three_resources_uses_the_two_fraction_formula():
    req, alloc = [np.array([v], dtype=np.int64) for v in (1, 0, 3)], [np.array([v], dtype=np.int64) for v in (4, 0, 4)]
    assert rb.balanced(req, alloc).tolist() == [rs.balanced([1, 0, 3], [4, 0, 4])] == [75]


def test_broken_linear_truncates_toward_zero_on_falling_segments():
    shape = SHAPES["falling and rising"]
    points = np.arange(0, 101, dtype=np.int64)
    assert rb.broken_linear(shape)(points).tolist() == [rs.broken_linear(shape)(int(p)) for p in points]


@pytest.mark.parametrize("values, ok", [([1, 2], True), ([2 ** 56], False), ([-(2 ** 56)], False)])
def test_fits_int64(values, ok):
    assert rb.fits_int64(values) is ok
