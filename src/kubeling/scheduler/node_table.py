"""Per-snapshot columns of what the batch (vectorised) plugins read for every node: allocatable
and requested resources as NumPy arrays, a few flags (taints, cordon), the images present and
the nodes holding pods with pod (anti-)affinity (Kubernetes keeps the latter two in its
Snapshot: imageStates, havePodsWithAffinityNodeInfoList).

On demand it also keeps, for the topology plugins (PodTopologySpread, InterPodAffinity), a node
label's values as integer codes per row, and per pod predicate (a namespace and label selector,
say) how many of each node's pods match it. Both are built on first use and then follow the
dirty rows: the pods a row gained or lost since the table last looked are found by identity
(the cache shares PodInfos between clones), so keeping a count costs O(changed pods), not a
recount of every node's pods per scheduling cycle.

The table follows its snapshot incrementally: when the cache replaced the snapshot's list
(Snapshot.layout) every row is rebuilt; otherwise only the rows of the NodeInfos the cache
overwrote (Snapshot.dirty). A snapshot not managed by a cache (generation 0, as in unit tests
that build NodeInfos by hand) is re-read whole on every use.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from kubeling.scheduler.framework import NodeInfo, Obj, PodInfo, Snapshot

# Columns kept for every node, in scheduler units (framework.Resources).
COLUMNS = ("alloc_cpu", "alloc_mem", "alloc_eph", "alloc_pods", "req_cpu", "req_mem", "req_eph",
           "nz_cpu", "nz_mem", "num_pods")
# Derived columns: (name, allocatable, used); what is left of a resource (NodeResourcesFit's test).
FREE_COLUMNS = (("free_pods", "alloc_pods", "num_pods"), ("free_cpu", "alloc_cpu", "req_cpu"),
                ("free_mem", "alloc_mem", "req_mem"), ("free_eph", "alloc_eph", "req_eph"))
NONZERO_TRACKED = ("alloc_cpu", "alloc_mem", "alloc_eph")
# Beyond this the int64 arithmetic of the batch scorers (requested + a pod's request, times
# 100) could overflow where Python's ints do not: such a table (or pod) is declined, and the
# plugins take their per-node path. 2**56 bytes is 64 PiB.
SAFE_LIMIT = 1 << 56
# Pod-count columns kept at once; the least recently used goes first (each is one int64 per node
# and costs a predicate call per pod that changes).
MAX_POD_COUNTS = 128
MISSING = -1  # the code of a node without the label


def _row_values(info: NodeInfo) -> tuple[int, ...]:
    a, r, nz = info.allocatable, info.requested, info.non_zero_requested
    return (a.milli_cpu, a.memory, a.ephemeral_storage, a.allowed_pods, r.milli_cpu, r.memory,
            r.ephemeral_storage, nz.milli_cpu, nz.memory, len(info.pods))


_NO_IMAGES: dict[str, int] = {}


def _images(info: NodeInfo) -> dict[str, int]:
    """Normalized image name -> size on this node."""
    from kubeling.scheduler.plugins.image_locality import node_images  # plugins import this module
    if not (info.node.get("status") or {}).get("images"):
        return _NO_IMAGES
    return node_images(info.node)


def _has_affinity_pods(info: NodeInfo) -> tuple[bool, bool]:
    """(a pod with pod affinity or anti-affinity, a pod with required anti-affinity)."""
    any_affinity = required_anti = False
    for p in info.pods.values():
        affinity = (p.pod.get("spec") or {}).get("affinity")
        if not affinity:
            continue
        if affinity.get("podAffinity") is not None or affinity.get("podAntiAffinity") is not None:
            any_affinity = True
            if ((affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")):
                required_anti = True
                break
    return any_affinity, required_anti


class LabelColumn:
    """One node label over the rows: codes[row] indexes `values` (MISSING: the node lacks it)."""

    __slots__ = ("codes", "index", "key", "values")

    def __init__(self, key: str, infos: list[NodeInfo]):
        self.key = key
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        self.codes = np.fromiter((self.code_of(info.node, key) for info in infos), dtype=np.int64,
                                 count=len(infos))

    def code(self, value: str) -> int:
        """The code of `value`, given one if new (the codes of the rows do not change)."""
        c = self.index.get(value)
        if c is None:
            c = self.index[value] = len(self.values)
            self.values.append(value)
        return c

    def code_of(self, node: Obj, key: str) -> int:
        labels = (node.get("metadata") or {}).get("labels") or {}
        value = labels.get(key)
        return MISSING if value is None else self.code(value)


def _pod_changes(old: dict[str, PodInfo], new: dict[str, PodInfo]) -> tuple[list[Obj], list[Obj]]:
    """(pods gone, pods come) between two states of a node's pods; an updated pod is a new PodInfo."""
    gone = [p.pod for uid, p in old.items() if new.get(uid) is not p]
    come = [p.pod for uid, p in new.items() if old.get(uid) is not p]
    return gone, come


class NodeList(list):
    """Snapshot NodeInfos with their table rows, so batch plugins need not look them up. It
    also keeps the columns read for its rows, so the plugins scoring the same nodes share them."""

    def __init__(self, nodes: list[NodeInfo], table: NodeTable, epoch: int, rows: np.ndarray,
                 span: slice | None = None):
        super().__init__(nodes)
        self.table, self.epoch, self.rows = table, epoch, rows
        self.span = span  # the same rows as a slice, when they are consecutive
        self._columns: dict[str, tuple[int, np.ndarray]] = {}  # name -> (table version, values)

    def column(self, name: str) -> np.ndarray:
        """table.cols[name] at this list's rows (read-only for callers: it may be a view)."""
        hit = self._columns.get(name)
        version = self.table.version
        if hit is not None and hit[0] == version:
            return hit[1]
        values = self.table.cols[name][self.rows if self.span is None else self.span]
        self._columns[name] = (version, values)
        return values


class NodeTable:
    """Columns over snapshot.node_infos, row i being node_infos[i]."""

    def __init__(self) -> None:
        self.infos: list[NodeInfo] = []
        self._row: dict[int, int] = {}  # id(NodeInfo) -> row
        self._by_name: dict[str, int] = {}
        self.cols: dict[str, np.ndarray] = {}
        self._scalars: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (allocatable, requested)
        self.safe = True
        self.tainted = np.zeros(0, dtype=bool)
        self.cordoned = np.zeros(0, dtype=bool)
        self._images: list[dict[str, int]] = []
        self.image_nodes: Counter[str] = Counter()  # image -> number of nodes holding it
        # image -> size, from the first node that reported it (as the scheduler cache's imageStates)
        self.image_sizes: dict[str, int] = {}
        self._image_cols: dict[str, np.ndarray] = {}  # image -> bool per row, built on first use
        self._affinity: dict[int, bool] = {}  # row with pods with affinity -> one has required anti-affinity
        self._labels: dict[str, LabelColumn] = {}
        self._pod_counts: OrderedDict[Hashable, tuple[Callable[[Obj], bool], np.ndarray]] = OrderedDict()
        self._pods_seen: list[dict[str, PodInfo]] | None = None  # per row, while pod counts are kept
        self._layout = -1
        self._epoch = 0  # rebuilds so far: a NodeList's rows hold within one epoch
        self.version = 0  # changes whenever a column's values may have
        # Per allocatable column: no row holds 0 (kept conservatively: a row that leaves 0
        # clears it until the next rebuild), so scorers may skip their per-node "absent" masks.
        self.nonzero: dict[str, bool] = {}

    # ---- keeping up with the snapshot -----------------------------------------------------------

    def refresh(self, snapshot: Snapshot) -> NodeTable:
        if not snapshot.generation or snapshot.layout != self._layout or snapshot.node_infos is not self.infos:
            self._rebuild(snapshot)
        elif snapshot.dirty:
            for name in snapshot.dirty:
                row = self._by_name.get(name)
                if row is not None:
                    self._update_row(row)
            snapshot.dirty.clear()
        return self

    def _rebuild(self, snapshot: Snapshot) -> None:
        infos = snapshot.node_infos
        self.infos = infos
        self._layout = snapshot.layout
        self._epoch += 1
        snapshot.dirty.clear()
        self._row = {id(info): i for i, info in enumerate(infos)}
        self._by_name = {info.name: i for i, info in enumerate(infos)}
        shape = (len(infos), len(COLUMNS))
        try:
            ints = np.array([_row_values(info) for info in infos], dtype=np.int64).reshape(shape)
            self.safe = not len(infos) or int(np.abs(ints).max()) < SAFE_LIMIT
        except OverflowError:
            ints, self.safe = np.zeros(shape, dtype=np.int64), False
        self.cols = {name: np.ascontiguousarray(ints[:, i]) for i, name in enumerate(COLUMNS)}
        for name, alloc, used in FREE_COLUMNS:
            self.cols[name] = self.cols[alloc] - self.cols[used]
        self.version += 1
        self.nonzero = {name: bool(self.cols[name].all()) for name in NONZERO_TRACKED}
        self._scalars = {}
        self.tainted = np.array([bool((info.node.get("spec") or {}).get("taints")) for info in infos], dtype=bool)
        self.cordoned = np.array([bool((info.node.get("spec") or {}).get("unschedulable")) for info in infos],
                                 dtype=bool)
        self._images = [_images(info) for info in infos]
        self.image_nodes = Counter(name for names in self._images for name in names)
        self.image_sizes = {}
        self._image_cols = {}
        for images in self._images:
            for name, size in images.items():
                self.image_sizes.setdefault(name, size)
        self._affinity = {}
        for row, info in enumerate(infos):
            self._set_affinity(row, info)
        # Rows moved: the on-demand columns are built again when next asked for.
        self._labels = {}
        self._pod_counts = OrderedDict()
        self._pods_seen = None

    def _update_row(self, row: int) -> None:
        info = self.infos[row]
        values = _row_values(info)
        self.version += 1
        if any(abs(v) >= SAFE_LIMIT for v in values):
            self.safe = False
        else:
            cols = self.cols
            for name, value in zip(COLUMNS, values, strict=True):
                cols[name][row] = value
            for name, alloc, used in FREE_COLUMNS:
                cols[name][row] = cols[alloc][row] - cols[used][row]
            for name in NONZERO_TRACKED:
                if not self.cols[name][row]:
                    self.nonzero[name] = False
        for name, (alloc, req) in self._scalars.items():
            alloc[row], req[row] = self._scalar_values(info, name)
        spec = info.node.get("spec") or {}
        self.tainted[row] = bool(spec.get("taints"))
        self.cordoned[row] = bool(spec.get("unschedulable"))
        images = _images(info)
        if images != self._images[row]:
            self._replace_images(row, images)
        self._set_affinity(row, info)
        for key, column in self._labels.items():
            column.codes[row] = column.code_of(info.node, key)
        if self._pods_seen is not None:
            self._update_pod_counts(row, info)

    def _update_pod_counts(self, row: int, info: NodeInfo) -> None:
        gone, come = _pod_changes(self._pods_seen[row], info.pods)
        self._pods_seen[row] = dict(info.pods)
        if not gone and not come:
            return
        for matches, counts in self._pod_counts.values():
            counts[row] += sum(1 for p in come if matches(p)) - sum(1 for p in gone if matches(p))

    def _set_affinity(self, row: int, info: NodeInfo) -> None:
        any_affinity, required_anti = _has_affinity_pods(info) if info.pods else (False, False)
        if any_affinity:
            self._affinity[row] = required_anti
        else:
            self._affinity.pop(row, None)

    def _scalar_values(self, info: NodeInfo, name: str) -> tuple[int, int]:
        alloc, req = info.allocatable.scalar.get(name, 0), info.requested.scalar.get(name, 0)
        if abs(alloc) >= SAFE_LIMIT or abs(req) >= SAFE_LIMIT:
            self.safe = False
            return 0, 0
        return alloc, req

    # ---- reading --------------------------------------------------------------------------------

    def rows(self, nodes: list[NodeInfo]) -> np.ndarray | None:
        """The rows of `nodes`, or None when one is not a NodeInfo of this snapshot (a what-if
        clone, say): the caller then takes its per-node path. A NodeList made from this table
        carries its rows."""
        if isinstance(nodes, NodeList) and nodes.table is self and nodes.epoch == self._epoch:
            return nodes.rows
        get = self._row.get
        out = np.fromiter((get(id(n), -1) for n in nodes), dtype=np.intp, count=len(nodes))
        if len(out) and out.min() < 0:
            return None
        return out

    def node_list(self, nodes: list[NodeInfo], rows: np.ndarray, span: slice | None = None) -> NodeList:
        """`nodes` (rows `rows` of this table, `span` if consecutive) as a list that tells
        plugins its rows."""
        return NodeList(nodes, self, self._epoch, rows, span)

    def scalar(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(allocatable, requested) of an extended or other scalar resource, built on first use."""
        cols = self._scalars.get(name)
        if cols is None:
            pairs = [self._scalar_values(info, name) for info in self.infos]
            alloc = np.array([a for a, _ in pairs], dtype=np.int64)
            req = np.array([r for _, r in pairs], dtype=np.int64)
            cols = self._scalars[name] = (alloc, req)
        return cols

    def affinity_infos(self, required_anti_only: bool = False) -> list[NodeInfo]:
        """The NodeInfos holding a pod with pod (anti-)affinity (or with required anti-affinity),
        in snapshot order (HavePodsWithAffinityNodeInfoList and its anti-affinity sibling)."""
        rows = sorted(self._affinity)
        if required_anti_only:
            return [self.infos[i] for i in rows if self._affinity[i]]
        return [self.infos[i] for i in rows]

    def has_affinity_pods(self) -> bool:
        """Whether some node holds a pod with pod affinity or anti-affinity."""
        return bool(self._affinity)

    def has_required_anti_affinity(self) -> bool:
        """Whether some node holds a pod with required pod anti-affinity."""
        return any(self._affinity.values())

    def labels(self, key: str) -> LabelColumn:
        """The codes of node label `key` per row, built on first use."""
        column = self._labels.get(key)
        if column is None:
            column = self._labels[key] = LabelColumn(key, self.infos)
        return column

    def pod_counts(self, key: Hashable, matches: Callable[[Obj], bool]) -> np.ndarray:
        """Per row, how many of the node's pods `matches` accepts (int64; read-only for callers).
        `key` names the predicate: the column is kept under it and follows the pods from then on."""
        entry = self._pod_counts.get(key)
        if entry is not None:
            self._pod_counts.move_to_end(key)
            return entry[1]
        if self._pods_seen is None:
            self._pods_seen = [dict(info.pods) for info in self.infos]
        counts = np.fromiter((sum(1 for p in seen.values() if matches(p.pod)) for seen in self._pods_seen),
                             dtype=np.int64, count=len(self.infos))
        self._pod_counts[key] = (matches, counts)
        if len(self._pod_counts) > MAX_POD_COUNTS:
            self._pod_counts.popitem(last=False)
        return counts

    def _replace_images(self, row: int, images: dict[str, int]) -> None:
        self.image_nodes.subtract(self._images[row].keys())
        self.image_nodes.update(images.keys())
        self.image_nodes = +self.image_nodes  # drop images no node holds any more
        for name in [n for n in self.image_sizes if n not in self.image_nodes]:
            del self.image_sizes[name]
        for name, size in images.items():
            self.image_sizes.setdefault(name, size)
        self._images[row] = images
        for name, column in self._image_cols.items():
            column[row] = name in images

    def any_image(self, names: Any) -> bool:
        return any(n in self.image_nodes for n in names)

    def image_column(self, name: str) -> np.ndarray:
        """Per row: whether the node holds image `name` (normalized)."""
        column = self._image_cols.get(name)
        if column is None:
            column = np.fromiter((name in images for images in self._images), dtype=bool, count=len(self._images))
            self._image_cols[name] = column
        return column

    def image_summary(self, names: Any) -> dict[str, tuple[int, int]]:
        """name -> (size, number of nodes holding it), for the names some node holds."""
        return {n: (self.image_sizes[n], self.image_nodes[n]) for n in names if n in self.image_nodes}


def of(snapshot: Snapshot) -> NodeTable:
    """The snapshot's table, brought up to date."""
    table = snapshot.table
    if table is None:
        table = snapshot.table = NodeTable()
    return table.refresh(snapshot)
