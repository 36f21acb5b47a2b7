"""TaintToleration: a pod may only land on a node whose NoSchedule/NoExecute taints it
tolerates, and prefers nodes with fewer untolerated PreferNoSchedule taints."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from kubeling.scheduler import framework, node_table
from kubeling.scheduler.framework import MAX_NODE_SCORE, CycleState, NodeInfo, Obj, Plugin, Status
from kubeling.api.taints import tolerates, tolerates_taint  # noqa: F401 - re-exported for plugins
from kubeling.scheduler.registry import register

NAME = "TaintToleration"
PRE_SCORE_KEY = "PreScore" + NAME

NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"


def find_untolerated_taint(taints: Iterable[Obj], tolerations: list[Obj],
                           applies: Callable[[Obj], bool]) -> Obj | None:
    """The first taint (in node order) that `applies` and no toleration tolerates."""
    for taint in taints:
        if applies(taint) and not tolerates_taint(tolerations, taint):
            return taint
    return None


def _do_not_schedule(taint: Obj) -> bool:
    return taint.get("effect") in (NO_SCHEDULE, NO_EXECUTE)


def untolerated_reason(taint: Obj) -> str:
    # Kubernetes prints key and value only, with an empty value as `{key: }`.
    return f"node(s) had untolerated taint {{{taint.get('key') or ''}: {taint.get('value') or ''}}}"


def _taints(node_info: NodeInfo) -> list[Obj]:
    return (node_info.node.get("spec") or {}).get("taints") or []


def _tolerations(pod: Obj) -> list[Obj]:
    return (pod.get("spec") or {}).get("tolerations") or []


def _prefer_no_schedule_tolerations(pod: Obj) -> list[Obj]:
    return [t for t in _tolerations(pod) if (t.get("effect") or "") in ("", PREFER_NO_SCHEDULE)]


def default_normalize_score(scores: dict[str, int], reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """helper.DefaultNormalizeScore: scale to 0..max_priority by the highest score, in place;
    `reverse` turns high counts into low scores."""
    highest = max(scores.values(), default=0)
    if highest == 0:
        if reverse:
            for name in scores:
                scores[name] = max_priority
        return
    for name, value in scores.items():
        value = max_priority * value // highest
        scores[name] = max_priority - value if reverse else value


@register
class TaintToleration(Plugin):
    name = NAME

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        taints = _taints(node_info)
        if not taints:
            return framework.SUCCESS
        taint = find_untolerated_taint(taints, _tolerations(pod), _do_not_schedule)
        if taint is None:
            return framework.SUCCESS
        return framework.unschedulable(untolerated_reason(taint), resolvable=False)

    def filter_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[Status | None]:
        tainted = self._tainted(nodes)
        if not tainted:  # an untainted node always passes
            return framework.all_pass(len(nodes))
        out: list[Status | None] = [None] * len(nodes)
        for i in tainted:
            status = self.filter(state, pod, nodes[i])
            out[i] = None if status.ok else status
        return out

    def _tainted(self, nodes: list[NodeInfo]) -> list[int]:
        """Positions of the nodes with taints (all of them when some node is not the snapshot's)."""
        table = node_table.of(self.handle.snapshot)
        rows = table.rows(nodes)
        if rows is None:
            return list(range(len(nodes)))
        return np.flatnonzero(table.tainted[rows]).tolist()

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        state[PRE_SCORE_KEY] = _prefer_no_schedule_tolerations(pod)
        return framework.SUCCESS

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        tolerations = state.get(PRE_SCORE_KEY)
        if tolerations is None:
            tolerations = _prefer_no_schedule_tolerations(pod)
        count = sum(1 for taint in _taints(node_info)
                    if taint.get("effect") == PREFER_NO_SCHEDULE and not tolerates_taint(tolerations, taint))
        return count, framework.SUCCESS

    def score_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> list[int]:
        out = [0] * len(nodes)
        for i in self._tainted(nodes):
            out[i], _ = self.score(state, pod, nodes[i])
        return out

    def normalize_score(self, state: CycleState, pod: Obj, scores: dict[str, int]) -> Status:
        default_normalize_score(scores, reverse=True)
        return framework.SUCCESS

    def normalize_score_array(self, state: CycleState, pod: Obj, scores: np.ndarray) -> np.ndarray:
        """normalize_score over the scores in node order."""
        highest = int(scores.max()) if len(scores) else 0
        if highest == 0:
            return np.full(len(scores), MAX_NODE_SCORE, dtype=np.int64)
        return MAX_NODE_SCORE - MAX_NODE_SCORE * scores // highest

    def events_to_register(self) -> list[str]:
        return ["NodeAdd", "NodeTaintChange"]
