"""The framework runtime: one profile's plugins, called at each extension point in order,
plus the scheduling algorithm that uses them (kube-scheduler's schedulePod).

Profiles come from a KubeSchedulerConfiguration-style dict (scheduler/config.py).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubeling.scheduler import framework as fw
from kubeling.scheduler.framework import Code, CycleState, NodeInfo, Obj, Status

NO_NODES_AVAILABLE = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5
DEFAULT_PERCENTAGE_BASE = 50  # the adaptive default: 50% - nodes/125, at least 5%
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
            state2 = CycleState(state)
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
        skipped = set()
        for p in self.plugins("preScore"):
            status = p.pre_score(state, pod, nodes)
            if status.code == Code.SKIP:
                skipped.add(p.name)
            elif not status.ok:
                raise RuntimeError(f"PreScore {p.name}: {status.message()}")
        totals = {n.name: 0 for n in nodes}
        for p in self.plugins("score"):
            if p.name in skipped:
                continue
            scores = {}
            for n in nodes:
                value, status = p.score(state, pod, n)
                if not status.ok:
                    raise RuntimeError(f"Score {p.name}: {status.message()}")
                scores[n.name] = value
            normalize = getattr(p, "normalize_score", None)
            if normalize is not None:
                normalize(state, pod, scores)
            weight = self.weights.get(p.name, 1)
            for name, value in scores.items():
                totals[name] += value * weight
        return totals

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
        totals = self.run_score(state, pod, feasible)
        return ScheduleResult(self._select_host(totals), len(diagnosis.node_statuses) + len(feasible),
                              len(feasible))

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
        feasible: list[NodeInfo] = []
        count = len(candidates)
        start = self._next_start % count if count else 0
        checked = 0
        for i in range(count):
            node = candidates[(start + i) % count]
            checked += 1
            status = self.run_filter_with_nominated_pods(state, pod, node)
            if status.ok:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                diagnosis.node_statuses[node.name] = status
                if status.plugin:
                    diagnosis.unschedulable_plugins.add(status.plugin)
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

    def _select_host(self, totals: dict[str, int]) -> str:
        """The highest total; ties broken uniformly at random (reservoir sampling)."""
        best, best_score, seen = "", -1, 0
        for name, score in totals.items():
            if score > best_score:
                best, best_score, seen = name, score, 1
            elif score == best_score:
                seen += 1
                if self.rng.randrange(seen) == 0:
                    best = name
        return best

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


def plugins_for(points: dict[str, list[Any]]) -> list[Any]:
    seen, out = set(), []
    for plist in points.values():
        for p in plist:
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out
