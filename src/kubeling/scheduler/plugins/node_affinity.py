"""NodeAffinity: spec.nodeSelector, required node affinity (Filter) and preferred node
affinity (Score), plus the scheduler-enforced `addedAffinity` of the plugin args."""

from __future__ import annotations

from typing import Any

from kubeling.scheduler.framework import (
    MAX_NODE_SCORE,
    SUCCESS,
    CycleState,
    NodeInfo,
    Plugin,
    PreFilterResult,
    Status,
    error,
    skip,
    unschedulable,
)
from kubeling.scheduler.plugins.selectors_util import (
    NAME_FIELD,
    NodeSelector,
    PreferredSchedulingTerms,
    RequiredNodeAffinity,
)
from kubeling.scheduler.registry import register

Obj = dict[str, Any]

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"

NAME = "NodeAffinity"
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME


def _node_affinity(pod: Obj) -> Obj:
    return ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}


def _preferred(pod: Obj) -> PreferredSchedulingTerms | None:
    terms = _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution")
    return PreferredSchedulingTerms(terms) if terms is not None else None


def pinned_node_names(terms: list[Obj]) -> set[str] | None:
    """Node names the required terms restrict the pod to through `metadata.name In`
    matchFields, or None when some term leaves every node possible (terms are ORed)."""
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for req in term.get("matchFields") or []:
            if req.get("key") == NAME_FIELD and req.get("operator") == "In":
                values = set(req.get("values") or [])
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names |= term_names
    return names


def default_normalize(scores: dict[str, int], max_priority: int = MAX_NODE_SCORE, reverse: bool = False) -> None:
    """helper.DefaultNormalizeScore: scale to [0, max_priority] by the highest score."""
    top = max(scores.values(), default=0)
    if top <= 0:
        if reverse:
            for name in scores:
                scores[name] = max_priority
        return
    for name, score in scores.items():
        scaled = max_priority * score // top if score >= 0 else -(max_priority * -score // top)
        scores[name] = max_priority - scaled if reverse else scaled


@register
class NodeAffinity(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        super().__init__(handle, args)
        added = self.args.get("addedAffinity") or {}
        required = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        # Configured terms must parse: a bad configuration fails at start, not per pod.
        self.added_node_selector = (NodeSelector(required.get("nodeSelectorTerms") or [])
                                    if required is not None else None)
        preferred = added.get("preferredDuringSchedulingIgnoredDuringExecution")
        self.added_pref_terms = PreferredSchedulingTerms(preferred) if preferred else None

    def events_to_register(self) -> list[str]:
        return ["NodeAdd", "NodeLabelChange"]

    # ---- filtering ----

    def pre_filter(self, state: CycleState, pod: Obj) -> tuple[PreFilterResult | None, Status]:
        required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
        if required is None and self.added_node_selector is None and not (pod.get("spec") or {}).get("nodeSelector"):
            return None, skip()
        state[_PRE_FILTER_KEY] = RequiredNodeAffinity(pod)
        terms = (required or {}).get("nodeSelectorTerms") or []
        if not terms:
            return None, SUCCESS
        names = pinned_node_names(terms)
        if names is None:
            return None, SUCCESS
        if not names:
            return None, unschedulable(ERR_REASON_CONFLICT, resolvable=False)
        return PreFilterResult(names), SUCCESS

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        node = node_info.node
        if self.added_node_selector is not None and not self.added_node_selector.matches(node):
            return unschedulable(ERR_REASON_ENFORCED, resolvable=False)
        required = state.get(_PRE_FILTER_KEY)
        if required is None:  # PreFilter disabled or skipped
            required = RequiredNodeAffinity(pod)
        if not required.matches(node):
            return unschedulable(ERR_REASON_POD, resolvable=False)
        return SUCCESS

    # ---- scoring ----

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return SUCCESS
        try:
            preferred = _preferred(pod)
        except ValueError as e:
            return error(str(e))
        if preferred is None and self.added_pref_terms is None:
            return skip()
        state[_PRE_SCORE_KEY] = preferred
        return SUCCESS

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        node = node_info.node
        count = self.added_pref_terms.score(node) if self.added_pref_terms is not None else 0
        if _PRE_SCORE_KEY in state:
            preferred = state[_PRE_SCORE_KEY]
        else:
            try:
                preferred = _preferred(pod)
            except ValueError as e:
                return 0, error(str(e))
        if preferred is not None:
            count += preferred.score(node)
        return count, SUCCESS

    def normalize_score(self, state: CycleState, pod: Obj, scores: dict[str, int]) -> Status:
        default_normalize(scores)
        return SUCCESS
