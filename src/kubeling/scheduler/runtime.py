"""The framework runtime: one profile's plugins, called at each extension point in order,
plus the scheduling algorithm that uses them (kube-scheduler's schedulePod).

Profiles come from a KubeSchedulerConfiguration-style dict (scheduler/config.py).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubeling.scheduler import framework as fw
from kubeling.scheduler import node_table
from kubeling.scheduler.framework import Code, CycleState, NodeInfo, Obj, Status

NO_NODES_AVAILABLE = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5
DEFAULT_PERCENTAGE_BASE = 50  # the adaptive default: 50% - nodes/125, at least 5%
# The smallest chunk of nodes handed to batch filters (a search needing fewer feasible nodes
# still filters this many when every plugin is a batch one: NumPy's cost is per call).
MIN_FILTER_CHUNK = 64
PRE_FILTER_NARROWED = "__pre_filter_narrowed__"  # CycleState key: plugins whose PreFilterResult named nodes


def num_feasible_nodes_to_find(num_all: int, percentage: int | None) -> int:
    """How many feasible nodes the search stops at (kube-scheduler's numFeasibleNodesToFind)."""
    if num_all < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all
    if not percentage:
        percentage = DEFAULT_PERCENTAGE_BASE - num_all // 125
        if percentage < MIN_FEASIBLE_NODES_PERCENTAGE:
            percentage = MIN_FEASIBLE_NODES_PERCENTAGE
    if percentage >= 100:
        return num_all
    num = num_all * percentage // 100
    return max(num, MIN_FEASIBLE_NODES_TO_FIND)


def _no_node_satisfies(plugins: set[str]) -> Status:
    """PreFilterResults whose intersection is empty (framework.RunPreFilterPlugins' wording)."""
    names = sorted(plugins)
    if len(names) == 1:
        return fw.unschedulable(f"node(s) didn't satisfy plugin {names[0]}", resolvable=False)
    return fw.unschedulable(f"node(s) didn't satisfy plugin(s) [{' '.join(names)}] simultaneously",
                            resolvable=False)


@dataclass
class Diagnosis:
    node_statuses: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


class FitError(Exception):
    """No node fits: the message is the FailedScheduling event's, in Kubernetes' form."""

    def __init__(self, pod: Obj, num_all_nodes: int, diagnosis: Diagnosis):
        self.pod, self.num_all_nodes, self.diagnosis = pod, num_all_nodes, diagnosis
        super().__init__(self.message())

    def message(self) -> str:
        d = self.diagnosis
        if self.num_all_nodes == 0 and d.pre_filter_msg == NO_NODES_AVAILABLE:
            return NO_NODES_AVAILABLE  # kube-scheduler's ErrNoNodesAvailable, not a FitError
        msg = f"0/{self.num_all_nodes} nodes are available:"
        if d.pre_filter_msg:
            msg += f" {d.pre_filter_msg}."
        else:
            reasons: Counter[str] = Counter()
            for status in d.node_statuses.values():
                reasons.update(status.reasons)
            histogram = sorted(f"{n} {reason}" for reason, n in reasons.items())
            if histogram:
                msg += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            msg += f" {d.post_filter_msg.rstrip('.')}."  # one period, as kube-scheduler prints it
        return msg


@dataclass
class ScheduleResult:
    node: str
    evaluated_nodes: int
    feasible_nodes: int


class Framework:
    """One profile: the plugin instances enabled at each extension point, with score weights."""

    def __init__(self, name: str, points: dict[str, list[fw.Plugin]], weights: dict[str, int],
                 percentage_of_nodes_to_score: int | None, handle: fw.Handle, rng: random.Random | None = None):
        self.name = name
        self.points = points
        self.weights = weights
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.handle = handle
        self.rng = rng or random.Random()
        self._next_start = 0
        self.nominator = None  # set by the scheduler: the queue's nominated pods
        # Set by the scheduler with `nominator`: the names of nodes with nominated pods, so
        # cycles skip the per-node lookup when there are none (None: look at every node).
        self.nominated_node_names: Callable[[], Collection[str]] | None = None
        # False: call every plugin node by node (the reference the batch forms must agree with).
        self.batch = True

    def plugins(self, point: str) -> list[fw.Plugin]:
        return self.points.get(point, [])

    # ---- extension points ------------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pod: Obj) -> tuple[set[str] | None, Status]:
        """The node names PreFilter narrows the search to (None: all). The plugins that narrowed
        it are kept in state[PRE_FILTER_NARROWED] (they name the nodes left out)."""
        allowed: set[str] | None = None
        skipped, narrowed = set(), set()
        state[PRE_FILTER_NARROWED] = narrowed
        rejected: Status | None = None
        for p in self.plugins("preFilter"):
            result, status = p.pre_filter(state, pod)
            if status.code == Code.SKIP:
                skipped.add(p.name)
                continue
            if not status.ok:
                status.plugin = status.plugin or p.name
                if status.code == Code.UNSCHEDULABLE:
                    # Preemption may still help: the other PreFilters must run so their
                    # state exists when it re-runs the filters (kubernetes#119770).
                    rejected = status
                    continue
                return None, status
            if result is not None and result.node_names is not None:
                narrowed.add(p.name)
                allowed = set(result.node_names) if allowed is None else allowed & result.node_names
                if not allowed:
                    return allowed, _no_node_satisfies(narrowed)
        state["__skip_filter__"] = skipped
        return allowed, rejected or fw.SUCCESS

    def run_filter_plugins(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        skipped = state.get("__skip_filter__", ())
        for p in self.plugins("filter"):
            if p.name in skipped:
                continue
            status = p.filter(state, pod, node_info)
            if not status.ok:
                status.plugin = status.plugin or p.name
                return status
        return fw.SUCCESS

    def run_filter_with_nominated_pods(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        """Filters pass only if they pass with the higher-priority pods nominated to this node
        counted in (so preemptors keep the room they made), and without them."""
        nominated = self._nominated_higher_priority(pod, node_info.name)
        if nominated:
            state2 = state.clone()
            info2 = node_info.clone()
            for pinfo in nominated:
                info2.add_pod(pinfo)
                self.run_pre_filter_extension_add_pod(state2, pod, pinfo, info2)
            status = self.run_filter_plugins(state2, pod, info2)
            if not status.ok:
                return status
        return self.run_filter_plugins(state, pod, node_info)

    run_filter_plugins_with_nominated_pods = run_filter_with_nominated_pods

    def _nominated_higher_priority(self, pod: Obj, node_name: str) -> list[fw.PodInfo]:
        if self.nominator is None:
            return []
        priority = (pod.get("spec") or {}).get("priority") or 0
        uid = (pod.get("metadata") or {}).get("uid")
        return [p for p in self.nominator(node_name)
                if p.uid != uid and ((p.pod.get("spec") or {}).get("priority") or 0) >= priority]

    def nominated_pods_for_node(self, node_name: str) -> list[fw.PodInfo]:
        return self.nominator(node_name) if self.nominator is not None else []

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: Obj, pod_info: fw.PodInfo,
                                         node_info: NodeInfo) -> Status:
        for p in self.plugins("preFilter"):
            add = getattr(p, "add_pod", None)
            if add is not None and p.name not in state.get("__skip_filter__", ()):
                status = add(state, pod, pod_info, node_info)
                if status is not None and not status.ok:
                    return status
        return fw.SUCCESS

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: Obj, pod_info: fw.PodInfo,
                                            node_info: NodeInfo) -> Status:
        for p in self.plugins("preFilter"):
            remove = getattr(p, "remove_pod", None)
            if remove is not None and p.name not in state.get("__skip_filter__", ()):
                status = remove(state, pod, pod_info, node_info)
                if status is not None and not status.ok:
                    return status
        return fw.SUCCESS

    async def run_post_filter(self, state: CycleState, pod: Obj,
                              statuses: dict[str, Status]) -> tuple[str | None, Status]:
        """PostFilter (preemption): a node name to nominate, "" to clear a nomination, None to keep it."""
        last = fw.unschedulable()
        for p in self.plugins("postFilter"):
            nominated, status = await p.post_filter(state, pod, statuses)
            if status.ok:
                return nominated, status
            last = status
        return None, last

    def run_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> dict[str, int]:
        """Each node's weighted total over the Score plugins."""
        return dict(zip([n.name for n in nodes], self._score_totals(state, pod, nodes).tolist(), strict=True))

    def _score_totals(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> np.ndarray:
        """run_score's totals in the order of `nodes`."""
        skipped = set()
        for p in self.plugins("preScore"):
            status = p.pre_score(state, pod, nodes)
            if status.code == Code.SKIP:
                skipped.add(p.name)
            elif not status.ok:
                raise RuntimeError(f"PreScore {p.name}: {status.message()}")
        names: list[str] | None = None
        totals: np.ndarray | None = None
        for p in self.plugins("score"):
            if p.name in skipped:
                continue
            batch = getattr(p, "score_nodes", None) if self.batch else None
            scores = batch(state, pod, nodes) if batch is not None else self._score_each(p, state, pod, nodes)
            normalize_array = getattr(p, "normalize_score_array", None) if self.batch else None
            if normalize_array is not None:
                scores = normalize_array(state, pod, np.asarray(scores, dtype=np.int64))
            elif (normalize := getattr(p, "normalize_score", None)) is not None:
                names = names or [n.name for n in nodes]
                by_name = dict(zip(names, np.asarray(scores).tolist(), strict=True))
                normalize(state, pod, by_name)
                scores = [by_name[name] for name in names]
            weighted = np.asarray(scores, dtype=np.int64)
            weight = self.weights.get(p.name, 1)
            if weight != 1:
                weighted = weighted * weight
            # New arrays, never `+=`: a plugin's scores may be an array it keeps.
            totals = weighted if totals is None else totals + weighted
        return np.zeros(len(nodes), dtype=np.int64) if totals is None else totals

    @staticmethod
    def _score_each(p: fw.Plugin, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[int]:
        scores = []
        for n in nodes:
            value, status = p.score(state, pod, n)
            if status.code != Code.SUCCESS:
                raise RuntimeError(f"Score {p.name}: {status.message()}")
            scores.append(value)
        return scores

    # ---- the algorithm ---------------------------------------------------------------------------

    def schedule(self, state: CycleState, pod: Obj) -> ScheduleResult:
        """Pick the node for `pod` from handle.snapshot; raises FitError when none fits."""
        nodes = self.handle.snapshot.node_infos
        if not nodes:
            raise FitError(pod, 0, Diagnosis(pre_filter_msg=NO_NODES_AVAILABLE))
        feasible, diagnosis = self._find_feasible(state, pod, nodes)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(diagnosis.node_statuses) + 1, 1)
        best = self._select_index(self._score_totals(state, pod, feasible))
        return ScheduleResult(feasible[best].name, len(diagnosis.node_statuses) + len(feasible), len(feasible))

    def _find_feasible(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> tuple[list[NodeInfo], Diagnosis]:
        diagnosis = Diagnosis()
        allowed, status = self.run_pre_filter(state, pod)
        if not status.ok:
            diagnosis.pre_filter_msg = status.message()
            diagnosis.unschedulable_plugins |= state.get(PRE_FILTER_NARROWED, set())
            if status.plugin:
                diagnosis.unschedulable_plugins.add(status.plugin)
            for n in nodes:
                diagnosis.node_statuses[n.name] = status
            return [], diagnosis
        candidates = nodes if allowed is None else [n for n in nodes if n.name in allowed]
        wanted = num_feasible_nodes_to_find(len(candidates), self.percentage_of_nodes_to_score)
        count = len(candidates)
        start = self._next_start % count if count else 0
        filters = self._active_filters(state)
        table = self._table_for(filters) if allowed is None and nodes is self.handle.snapshot.node_infos else None
        if table is not None:
            order: Sequence[NodeInfo] = _Rotation(candidates, start, table)
        else:
            order = candidates[start:] + candidates[:start] if start else candidates
        feasible_at, checked = self._search(state, pod, order, wanted, filters, diagnosis)
        feasible = order.feasible(feasible_at) if isinstance(order, _Rotation) else [order[i] for i in feasible_at]
        # The next pod's search starts where this one stopped, so every node gets its turn.
        self._next_start = (start + checked) % count if count else 0
        if allowed is not None:
            narrowed = sorted(state.get(PRE_FILTER_NARROWED, ()))
            diagnosis.unschedulable_plugins |= set(narrowed)
            for n in nodes:
                if n.name not in allowed:
                    diagnosis.node_statuses[n.name] = fw.unschedulable(
                        f"node(s) didn't satisfy plugin(s) [{' '.join(narrowed)}]", resolvable=False)
        return feasible, diagnosis

    def _search(self, state: CycleState, pod: Obj, order: Sequence[NodeInfo], wanted: int,
                filters: list[fw.Plugin], diagnosis: Diagnosis) -> tuple[list[int], int]:
        """Filter `order` from its start until `wanted` nodes pass, a chunk at a time: (positions
        of the feasible nodes, how many nodes the search took), as a node-by-node search."""
        nominated = self._nominated_nodes()
        # Batch plugins are side-effect free, so a chunk may run past the end of the search
        # (results beyond it are dropped); per-node plugins see exactly the nodes a one-by-one
        # search would, in the same order.
        overshoot = self.batch and not nominated and all(hasattr(p, "filter_nodes") for p in filters)
        feasible_at: list[int] = []
        checked, count = 0, len(order)
        while checked < count and len(feasible_at) < wanted:
            need = wanted - len(feasible_at)
            end = checked + (max(need, MIN_FILTER_CHUNK) if overshoot else need)
            chunk = order[checked:end]
            rejected = self._filter_chunk(state, pod, chunk, filters, nominated)
            if not rejected:  # every node passed
                take = min(len(chunk), need)
                feasible_at.extend(range(checked, checked + take))
                checked += take
                continue
            for i in range(len(chunk)):
                status = rejected.get(i)
                if status is None:
                    feasible_at.append(checked)
                    checked += 1
                    if len(feasible_at) >= wanted:
                        break
                else:
                    diagnosis.node_statuses[chunk[i].name] = status
                    checked += 1
                    if status.plugin:
                        diagnosis.unschedulable_plugins.add(status.plugin)
        return feasible_at, checked

    def _table_for(self, filters: list[fw.Plugin]) -> node_table.NodeTable | None:
        """The snapshot's node table, when batch plugins will read it this cycle."""
        if not self.batch or not any(hasattr(p, "filter_nodes") or hasattr(p, "score_nodes")
                                     for p in filters + self.plugins("score")):
            return None
        return node_table.of(self.handle.snapshot)

    def _active_filters(self, state: CycleState) -> list[fw.Plugin]:
        skipped = state.get("__skip_filter__", ())
        return [p for p in self.plugins("filter") if p.name not in skipped]

    def _nominated_nodes(self) -> Collection[str] | None:
        """Names of the nodes some pod is nominated to; None when unknown (check each node)."""
        if self.nominator is None:
            return ()
        return self.nominated_node_names() if self.nominated_node_names is not None else None

    def _filter_chunk(self, state: CycleState, pod: Obj, chunk: list[NodeInfo], filters: list[fw.Plugin],
                      nominated: Collection[str] | None) -> dict[int, Status]:
        """Each rejected node's first rejecting Status in plugin order, by position in `chunk`
        (the nodes that pass are absent): plugin by plugin over the nodes still passing (batch
        plugins in one call)."""
        rejected: dict[int, Status] = {}
        if nominated is None:
            alone = range(len(chunk))
        else:
            alone = [i for i, n in enumerate(chunk) if n.name in nominated] if nominated else []
        for i in alone:  # nodes with nominated pods are filtered twice (with and without them)
            status = self.run_filter_with_nominated_pods(state, pod, chunk[i])
            if not status.ok:
                rejected[i] = status
        if alone:
            lone = set(alone)
            passing: Sequence[int] = [i for i in range(len(chunk)) if i not in lone]
        else:
            passing = range(len(chunk))
        for p in filters:
            if not passing:
                break
            nodes = chunk if len(passing) == len(chunk) else self._subset(chunk, passing)
            batch = getattr(p, "filter_nodes", None) if self.batch else None
            if batch is not None:
                statuses = batch(state, pod, nodes)
                if fw.none_rejected(statuses):
                    continue
            else:
                statuses = [p.filter(state, pod, n) for n in nodes]
            still = []
            for i, status in zip(passing, statuses, strict=True):
                if status is None or status.code == Code.SUCCESS:
                    still.append(i)
                else:
                    status.plugin = status.plugin or p.name
                    rejected[i] = status
            passing = still
        return rejected

    @staticmethod
    def _subset(chunk: list[NodeInfo], positions: Sequence[int]) -> list[NodeInfo]:
        nodes = [chunk[i] for i in positions]
        if isinstance(chunk, node_table.NodeList):
            return chunk.table.node_list(nodes, chunk.rows[list(positions)])
        return nodes

    def _select_host(self, totals: dict[str, int]) -> str:
        """The name with the highest total; ties broken as _select_index does."""
        names = list(totals)
        best = self._select_index(np.fromiter(totals.values(), dtype=np.int64, count=len(names)))
        return names[best] if best >= 0 else ""

    def _select_index(self, scores: np.ndarray) -> int:
        """The position of the highest score (-1 if there is none), ties broken uniformly at
        random. kube-scheduler's selectHost gets the same distribution by reservoir sampling
        (one draw per tying node); one draw among the ties costs one draw, not hundreds (on a
        fresh cluster nearly every scored node ties: the loop was a third of schedule())."""
        if not len(scores):
            return -1
        ties = np.flatnonzero(scores == scores.max())
        if len(ties) == 1:
            return int(ties[0])
        return int(ties[_rand_below(self.rng)(len(ties))])

    # ---- binding cycle ---------------------------------------------------------------------------

    async def run_reserve(self, state: CycleState, pod: Obj, node: str) -> Status:
        for p in self.plugins("reserve"):
            status = await p.reserve(state, pod, node)
            if not status.ok:
                self.run_unreserve(state, pod, node)
                return status
        return fw.SUCCESS

    def run_unreserve(self, state: CycleState, pod: Obj, node: str) -> None:
        for p in reversed(self.plugins("reserve")):
            unreserve = getattr(p, "unreserve", None)
            if unreserve is not None:
                unreserve(state, pod, node)

    async def run_permit(self, state: CycleState, pod: Obj, node: str) -> Status:
        for p in self.plugins("permit"):
            status, _timeout = await p.permit(state, pod, node)
            if not status.ok:
                return status
        return fw.SUCCESS

    async def run_binding(self, state: CycleState, pod: Obj, node: str) -> Status:
        for p in self.plugins("preBind"):
            status = await p.pre_bind(state, pod, node)
            if not status.ok:
                return status
        for p in self.plugins("bind"):
            status = await p.bind(state, pod, node)
            if status.code == Code.SKIP:
                continue
            if not status.ok:
                return status
            break
        for p in self.plugins("postBind"):
            await p.post_bind(state, pod, node)
        return fw.SUCCESS

    def events_of_interest(self, plugin_names: set[str]) -> set[str]:
        events: set[str] = set()
        for point in self.points.values():
            for p in point:
                if p.name in plugin_names and hasattr(p, "events_to_register"):
                    events |= set(p.events_to_register())
        return events


class _Rotation(Sequence[NodeInfo]):
    """The snapshot's nodes from `start` on, wrapping around, without copying the list: slices
    are two list slices at most, and they come as NodeLists that tell batch plugins their rows."""

    def __init__(self, nodes: list[NodeInfo], start: int, table: node_table.NodeTable):
        self.nodes, self.start, self.table = nodes, start, table

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, index):  # type: ignore[override]
        count = len(self.nodes)
        if not isinstance(index, slice):
            if index < 0:
                index += count
            return self.nodes[(self.start + index) % count]
        lo, hi, _ = index.indices(count)
        return self._span(lo, max(lo, hi))

    def _span(self, lo: int, hi: int) -> node_table.NodeList:
        """Positions lo..hi-1 (0 <= lo <= hi <= len) as a NodeList."""
        count, a = len(self.nodes), self.start + lo
        b = a + (hi - lo)
        if a >= count:
            a, b = a - count, b - count
        if b <= count:
            return self.table.node_list(self.nodes[a:b], np.arange(a, b), slice(a, b))
        rows = np.concatenate((np.arange(a, count), np.arange(0, b - count)))
        return self.table.node_list(self.nodes[a:] + self.nodes[:b - count], rows)

    def feasible(self, positions: list[int]) -> node_table.NodeList:
        """The nodes at `positions` (increasing) as a NodeList: one slice when they are a run."""
        if positions and positions[-1] - positions[0] + 1 == len(positions):
            return self._span(positions[0], positions[-1] + 1)
        rows = (np.asarray(positions, dtype=np.intp) + self.start) % len(self.nodes)
        nodes = self.nodes
        return self.table.node_list([nodes[r] for r in rows.tolist()], rows)


def plugins_for(points: dict[str, list[Any]]) -> list[Any]:
    seen, out = set(), []
    for plist in points.values():
        for p in plist:
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def _rand_below(rng: random.Random) -> Callable[[int], int]:
    """rng.randrange(n) for n > 0, the same draws made faster: for a plain random.Random,
    randrange(n) is _randbelow_with_getrandbits(n), done here inline on getrandbits."""
    cls = type(rng)
    if cls.randrange is not random.Random.randrange or \
            getattr(cls, "_randbelow", None) is not getattr(random.Random, "_randbelow_with_getrandbits", False):
        return rng.randrange
    getrandbits = rng.getrandbits

    def below(n: int) -> int:
        k = n.bit_length()
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    return below
