"""Matching pods per topology domain, from the node table's columns (scheduler/node_table.py):
a node label's codes per row and, per pod predicate, the matching pods per row. The topology
plugins sum these per domain with NumPy instead of walking every node's pods each cycle."""

from __future__ import annotations

import numpy as np

from kubeling.scheduler.node_table import MISSING, LabelColumn


def domain_sums(codes: np.ndarray, eligible: np.ndarray | None, counts: np.ndarray, size: int) -> np.ndarray:
    """Per label code, the sum of `counts` over the eligible rows holding it (int64, `size` long).
    Rows without the label (MISSING) never count."""
    keep = codes != MISSING
    if eligible is not None:
        keep &= eligible
    codes, counts = codes[keep], counts[keep]
    # float64 sums of counts are exact far beyond any pod count.
    return np.bincount(codes, weights=counts, minlength=size).astype(np.int64)


def in_first_seen_order(codes: np.ndarray) -> list[int]:
    """The distinct codes in the order of their first row (a dict filled row by row keeps it)."""
    unique, first = np.unique(codes, return_index=True)
    return unique[np.argsort(first, kind="stable")].tolist()


def present_domains(column: LabelColumn, eligible: np.ndarray, counts: np.ndarray) -> dict[str, int]:
    """Label value -> matching pods, for the domains of the eligible rows with at least one."""
    sums = domain_sums(column.codes, eligible, counts, len(column.values))
    return {column.values[c]: int(sums[c]) for c in np.flatnonzero(sums > 0).tolist()}
