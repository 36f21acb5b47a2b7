"""InterPodAffinity: place pods near (affinity) or away from (anti-affinity) other pods,
per topology domain (a node label such as kubernetes.io/hostname or a zone).

Filter checks the incoming pod's required terms and the required anti-affinity of the
pods already placed; Score adds the weights of preferred terms (both ways) and of existing
pods' required affinity (hardPodAffinityWeight). PreFilter/PreScore count matches per
(topology key, value) once, so Filter and Score per node are O(terms). The incoming pod's terms
are matched against the placed pods through the snapshot's node table, which keeps per term the
matching pods of every node as the cache changes (summed per domain with NumPy); with the
framework's `batch` off the plugin walks every placed pod instead (the reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kubeling.api.selectors import LabelSelector
from kubeling.scheduler import node_table
from kubeling.scheduler.framework import (
    MAX_NODE_SCORE,
    SUCCESS,
    CycleState,
    NodeInfo,
    Plugin,
    PodInfo,
    PreFilterResult,
    Status,
    error,
    skip,
    unschedulable,
)
from kubeling.scheduler.plugins.selectors_util import label_selector, labels_of, lister, namespace_of
from kubeling.scheduler.plugins.topology_counts import present_domains
from kubeling.scheduler.registry import register

Obj = dict[str, Any]

ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"

NAME = "InterPodAffinity"
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1

TopologyPair = tuple[str, str]


# ---- parsed terms -----------------------------------------------------------------------


@dataclass(frozen=True)
class AffinityTerm:
    namespaces: frozenset[str]
    selector: LabelSelector
    topology_key: str
    namespace_selector: LabelSelector

    def matches(self, pod: Obj, ns_labels: dict[str, str] | None) -> bool:
        """The pod is in one of the term's namespaces and its labels match the selector."""
        if namespace_of(pod) in self.namespaces or self.namespace_selector.matches(ns_labels):
            return self.selector.matches(labels_of(pod))
        return False


def new_affinity_term(pod: Obj, term: Obj) -> AffinityTerm:
    """Raises ValueError on an invalid selector."""
    ns_selector = term.get("namespaceSelector")
    names = term.get("namespaces") or []
    # Neither namespaces nor namespaceSelector: the pod's own namespace.
    namespaces = frozenset(names) if names or ns_selector is not None else frozenset({namespace_of(pod)})
    return AffinityTerm(namespaces, label_selector(term.get("labelSelector")), term.get("topologyKey") or "",
                        label_selector(ns_selector))


@dataclass
class PodTerms:
    """A pod's affinity terms, parsed once (framework.PodInfo's affinity fields)."""

    pod: Obj
    required_affinity: list[AffinityTerm] = field(default_factory=list)
    required_anti_affinity: list[AffinityTerm] = field(default_factory=list)
    preferred_affinity: list[tuple[AffinityTerm, int]] = field(default_factory=list)
    preferred_anti_affinity: list[tuple[AffinityTerm, int]] = field(default_factory=list)

    @classmethod
    def of(cls, pod: Obj) -> PodTerms:
        affinity = (pod.get("spec") or {}).get("affinity") or {}
        pa, paa = affinity.get("podAffinity") or {}, affinity.get("podAntiAffinity") or {}
        required = "requiredDuringSchedulingIgnoredDuringExecution"
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        return cls(
            pod,
            [new_affinity_term(pod, t) for t in pa.get(required) or []],
            [new_affinity_term(pod, t) for t in paa.get(required) or []],
            [(new_affinity_term(pod, t.get("podAffinityTerm") or {}), int(t.get("weight") or 0))
             for t in pa.get(preferred) or []],
            [(new_affinity_term(pod, t.get("podAffinityTerm") or {}), int(t.get("weight") or 0))
             for t in paa.get(preferred) or []],
        )


_EMPTY = PodTerms({})  # no terms; shared, so its `pod` is only a placeholder


def has_pod_affinity(pod: Obj) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity")
    return bool(affinity) and (affinity.get("podAffinity") is not None or affinity.get("podAntiAffinity") is not None)


class TermsCache:
    """Parsed terms of placed pods, keyed by object identity (an updated pod is a new dict)."""

    def __init__(self, limit: int = 100_000):
        self._entries: dict[int, tuple[Obj, PodTerms]] = {}
        self._limit = limit

    def get(self, pod: Obj) -> PodTerms:
        if not has_pod_affinity(pod):
            return _EMPTY
        entry = self._entries.get(id(pod))
        if entry is not None and entry[0] is pod:
            return entry[1]
        try:
            terms = PodTerms.of(pod)
        except ValueError:
            terms = _EMPTY  # placed pods were validated; a bad term just counts for nothing
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(pod)] = (pod, terms)
        return terms


class AffinityIndex:
    """Which placed pods have pod (anti-)affinity, per NodeInfo (Kubernetes keeps these lists in
    NodeInfo: PodsWithAffinity, PodsWithRequiredAntiAffinity). The scheduler cache stamps every
    changed NodeInfo with a new generation, so a node's entry is reused while its generation
    holds, and the whole answer while the snapshot's generation holds (PreFilter, then PreScore)."""

    def __init__(self, cache: TermsCache):
        self._cache = cache
        self._entries: dict[int, tuple[NodeInfo, int, list[tuple[Obj, PodTerms]], bool]] = {}
        self._last: tuple[int, int, int] | None = None
        self._last_result: list[tuple[NodeInfo, list[tuple[Obj, PodTerms]], bool]] = []

    def nodes(self, snapshot: Any) -> list[tuple[NodeInfo, list[tuple[Obj, PodTerms]], bool]]:
        """(node, its pods with affinity and their terms, whether one has required anti-affinity),
        for the nodes holding such pods."""
        generation = getattr(snapshot, "generation", 0)
        key = (id(snapshot), generation, len(snapshot))
        if generation and key == self._last:
            return self._last_result
        out = []
        entries = self._entries
        # Only the nodes the snapshot's table lists as holding pods with affinity.
        for info in node_table.of(snapshot).affinity_infos():
            gen = info.generation
            entry = entries.get(id(info))
            # Generation 0 is a NodeInfo built outside the cache: always look again.
            if not gen or entry is None or entry[1] != gen or entry[0] is not info:
                pods = [(p.pod, self._cache.get(p.pod)) for p in info.pods.values() if has_pod_affinity(p.pod)]
                entry = (info, gen, pods, any(t.required_anti_affinity for _, t in pods))
                entries[id(info)] = entry
            if entry[2]:
                out.append((info, entry[2], entry[3]))
        if len(entries) > 2 * len(snapshot) + 64:  # forget NodeInfos no longer in the snapshot
            live = {id(i) for i in snapshot}
            self._entries = {k: v for k, v in entries.items() if k in live}
        self._last, self._last_result = key, out
        return out


# ---- topology counts ----------------------------------------------------------------------


def _update(counts: dict[TopologyPair, int], node_labels: dict[str, str], key: str, value: int) -> None:
    if key in node_labels:
        pair = (key, node_labels[key])
        n = counts.get(pair, 0) + value
        if n == 0:  # value may be negative (pods removed)
            counts.pop(pair, None)
        else:
            counts[pair] = n


def update_with_anti_affinity_terms(counts: dict[TopologyPair, int], terms: list[AffinityTerm], pod: Obj,
                                    ns_labels: dict[str, str] | None, node: Obj, value: int) -> None:
    """Count each anti-affinity term that matches `pod` in the node's domain."""
    node_labels = labels_of(node)
    for t in terms:
        if t.matches(pod, ns_labels):
            _update(counts, node_labels, t.topology_key, value)


def pod_matches_all_terms(terms: list[AffinityTerm], pod: Obj) -> bool:
    """False without terms. Namespace selectors of these terms were merged into namespaces."""
    return bool(terms) and all(t.matches(pod, None) for t in terms)


def update_with_affinity_terms(counts: dict[TopologyPair, int], terms: list[AffinityTerm], pod: Obj,
                               node: Obj, value: int) -> None:
    """Count the node's domain for every term when `pod` matches all of them."""
    if pod_matches_all_terms(terms, pod):
        node_labels = labels_of(node)
        for t in terms:
            _update(counts, node_labels, t.topology_key, value)


def term_counts(table: node_table.NodeTable, term: AffinityTerm) -> np.ndarray:
    """Per row, the placed pods an incoming pod's term matches (its namespaceSelector merged)."""
    return table.pod_counts((NAME, term), lambda pod: term.matches(pod, None))


def all_terms_counts(table: node_table.NodeTable, terms: list[AffinityTerm]) -> np.ndarray:
    """Per row, the placed pods matching every one of the terms."""
    key = (NAME, "all", tuple(terms))
    return table.pod_counts(key, lambda pod: pod_matches_all_terms(terms, pod))


def add_domain_counts(counts: dict[TopologyPair, int], table: node_table.NodeTable, key: str,
                      per_row: np.ndarray) -> None:
    """Add the rows' counts per (key, value) domain, as _update does pod by pod."""
    for value, n in present_domains(table.labels(key), None, per_row).items():
        counts[(key, value)] = counts.get((key, value), 0) + n


@dataclass
class PreFilterState:
    terms: PodTerms
    namespace_labels: dict[str, str]
    existing_anti_affinity_counts: dict[TopologyPair, int] = field(default_factory=dict)
    affinity_counts: dict[TopologyPair, int] = field(default_factory=dict)
    anti_affinity_counts: dict[TopologyPair, int] = field(default_factory=dict)

    def clone(self) -> PreFilterState:
        return replace(self, existing_anti_affinity_counts=dict(self.existing_anti_affinity_counts),
                       affinity_counts=dict(self.affinity_counts), anti_affinity_counts=dict(self.anti_affinity_counts))

    def update_with_pod(self, other: Obj, other_terms: PodTerms, node: Obj, multiplier: int) -> None:
        """Account for a pod added to (multiplier 1) or removed from (-1) a node."""
        update_with_anti_affinity_terms(self.existing_anti_affinity_counts, other_terms.required_anti_affinity,
                                        self.terms.pod, self.namespace_labels, node, multiplier)
        update_with_affinity_terms(self.affinity_counts, self.terms.required_affinity, other, node, multiplier)
        update_with_anti_affinity_terms(self.anti_affinity_counts, self.terms.required_anti_affinity, other,
                                        None, node, multiplier)


def satisfy_existing_pods_anti_affinity(s: PreFilterState, node: Obj) -> bool:
    if s.existing_anti_affinity_counts:
        for pair in labels_of(node).items():
            if s.existing_anti_affinity_counts.get(pair, 0) > 0:
                return False
    return True


def satisfy_pod_anti_affinity(s: PreFilterState, node: Obj) -> bool:
    if s.anti_affinity_counts:
        node_labels = labels_of(node)
        for t in s.terms.required_anti_affinity:
            if t.topology_key in node_labels and s.anti_affinity_counts.get(
                    (t.topology_key, node_labels[t.topology_key]), 0) > 0:
                return False
    return True


def satisfy_pod_affinity(s: PreFilterState, node: Obj) -> bool:
    node_labels = labels_of(node)
    pods_exist = True
    for t in s.terms.required_affinity:
        if t.topology_key not in node_labels:
            return False  # every topology key must be on the node
        if s.affinity_counts.get((t.topology_key, node_labels[t.topology_key]), 0) <= 0:
            pods_exist = False
    if pods_exist:
        return True
    # The first pod of a group with affinity to itself: no pod matches anywhere yet, but the
    # pod matches its own terms, so it may start the group.
    return not s.affinity_counts and pod_matches_all_terms(s.terms.required_affinity, s.terms.pod)


@dataclass
class PreScoreState:
    topology_score: dict[str, dict[str, int]]  # topology key -> value -> score
    terms: PodTerms
    namespace_labels: dict[str, str]


def _process_term(scores: dict[str, dict[str, int]], term: AffinityTerm, weight: int, pod: Obj,
                  ns_labels: dict[str, str] | None, node_labels: dict[str, str], multiplier: int) -> None:
    if term.matches(pod, ns_labels) and term.topology_key in node_labels:
        by_value = scores.setdefault(term.topology_key, {})
        value = node_labels[term.topology_key]
        by_value[value] = by_value.get(value, 0) + weight * multiplier


def _process_terms(scores: dict[str, dict[str, int]], terms: list[tuple[AffinityTerm, int]], pod: Obj,
                   ns_labels: dict[str, str] | None, node_labels: dict[str, str], multiplier: int) -> None:
    for term, weight in terms:
        _process_term(scores, term, weight, pod, ns_labels, node_labels, multiplier)


# ---- the plugin ---------------------------------------------------------------------------


@register
class InterPodAffinity(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        super().__init__(handle, args)
        weight = self.args.get("hardPodAffinityWeight")
        self.hard_pod_affinity_weight = DEFAULT_HARD_POD_AFFINITY_WEIGHT if weight is None else int(weight)
        self.ignore_preferred_terms_of_existing_pods = bool(self.args.get("ignorePreferredTermsOfExistingPods"))
        self.cache = TermsCache()
        self.index = AffinityIndex(self.cache)

    def events_to_register(self) -> list[str]:
        return ["AssignedPodAdd", "AssignedPodUpdate", "AssignedPodDelete", "NodeAdd", "NodeLabelChange"]

    # ---- namespaces ----

    def _merge_namespaces(self, term: AffinityTerm) -> AffinityTerm:
        """Resolve a non-empty namespaceSelector into namespace names (the incoming pod's terms)."""
        if term.namespace_selector.empty:
            return term
        names = set(term.namespaces)
        namespaces = lister(self.handle, "Namespace")
        if namespaces is not None and not term.namespace_selector.matches_nothing:
            names.update(ns["metadata"]["name"] for ns in namespaces.list()
                         if term.namespace_selector.matches(labels_of(ns)))
        return replace(term, namespaces=frozenset(names), namespace_selector=LabelSelector.nothing())

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        namespaces = lister(self.handle, "Namespace")
        ns = namespaces.get(namespace) if namespaces is not None else None
        return dict(labels_of(ns)) if ns else {}

    def _incoming_terms(self, pod: Obj) -> PodTerms:
        terms = PodTerms.of(pod)
        terms.required_affinity = [self._merge_namespaces(t) for t in terms.required_affinity]
        terms.required_anti_affinity = [self._merge_namespaces(t) for t in terms.required_anti_affinity]
        terms.preferred_affinity = [(self._merge_namespaces(t), w) for t, w in terms.preferred_affinity]
        terms.preferred_anti_affinity = [(self._merge_namespaces(t), w) for t, w in terms.preferred_anti_affinity]
        return terms

    # ---- filtering ----

    def pre_filter(self, state: CycleState, pod: Obj) -> tuple[PreFilterResult | None, Status]:
        if not has_pod_affinity(pod) and not node_table.of(self.handle.snapshot).has_required_anti_affinity():
            # No terms of its own and no placed pod with required anti-affinity: nothing to count.
            return None, skip()
        try:
            terms = self._incoming_terms(pod)
        except ValueError as e:
            return None, unschedulable(f"parsing pod: {e}", resolvable=False)
        s = PreFilterState(terms, self._namespace_labels(namespace_of(pod)))
        has_required = bool(terms.required_affinity or terms.required_anti_affinity)
        # Existing pods' anti-affinity: only nodes holding pods with required anti-affinity.
        for info, placed_pods, has_anti in self.index.nodes(self.handle.snapshot):
            if has_anti:
                for _, placed_terms in placed_pods:
                    update_with_anti_affinity_terms(s.existing_anti_affinity_counts,
                                                    placed_terms.required_anti_affinity, pod, s.namespace_labels,
                                                    info.node, 1)
        # The incoming pod's own terms: every placed pod may match them.
        if has_required and self._vectorised():
            table = node_table.of(self.handle.snapshot)
            if terms.required_affinity:
                matching_all = all_terms_counts(table, terms.required_affinity)
                for t in terms.required_affinity:
                    add_domain_counts(s.affinity_counts, table, t.topology_key, matching_all)
            for t in terms.required_anti_affinity:
                add_domain_counts(s.anti_affinity_counts, table, t.topology_key, term_counts(table, t))
        elif has_required:
            for info in self.handle.snapshot:
                node = info.node
                for placed in info.pods.values():
                    update_with_affinity_terms(s.affinity_counts, terms.required_affinity, placed.pod, node, 1)
                    update_with_anti_affinity_terms(s.anti_affinity_counts, terms.required_anti_affinity,
                                                    placed.pod, None, node, 1)
        if not s.existing_anti_affinity_counts and not has_required:
            return None, skip()
        state[_PRE_FILTER_KEY] = s
        return None, SUCCESS

    def _vectorised(self) -> bool:
        """Count from the node table, unless the framework runs plugins node by node."""
        return getattr(getattr(self.handle, "framework", None), "batch", True)

    def add_pod(self, state: CycleState, pod: Obj, pod_info_to_add: PodInfo, node_info: NodeInfo) -> Status:
        return self._update_with_pod(state, pod_info_to_add, node_info, 1)

    def remove_pod(self, state: CycleState, pod: Obj, pod_info_to_remove: PodInfo, node_info: NodeInfo) -> Status:
        return self._update_with_pod(state, pod_info_to_remove, node_info, -1)

    def _update_with_pod(self, state: CycleState, info: PodInfo, node_info: NodeInfo, multiplier: int) -> Status:
        s: PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is not None:
            s.update_with_pod(info.pod, self.cache.get(info.pod), node_info.node, multiplier)
        return SUCCESS

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        s: PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None:
            return error(f'reading "{_PRE_FILTER_KEY}" from cycleState: not found')
        node = node_info.node
        if not satisfy_pod_affinity(s, node):
            return unschedulable(ERR_REASON_AFFINITY, resolvable=False)
        if not satisfy_pod_anti_affinity(s, node):
            return unschedulable(ERR_REASON_ANTI_AFFINITY)
        if not satisfy_existing_pods_anti_affinity(s, node):
            return unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY)
        return SUCCESS

    # ---- scoring ----

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return skip()
        if not has_pod_affinity(pod) and not node_table.of(self.handle.snapshot).has_affinity_pods():
            return skip()  # no terms on either side: every score would be 0
        affinity = (pod.get("spec") or {}).get("affinity") or {}
        preferred = "preferredDuringSchedulingIgnoredDuringExecution"
        has_constraints = bool((affinity.get("podAffinity") or {}).get(preferred)
                               or (affinity.get("podAntiAffinity") or {}).get(preferred))
        if self.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return skip()
        try:
            terms = self._incoming_terms(pod)
        except ValueError as e:
            return error(f"failed to parse pod: {e}")
        s = PreScoreState({}, terms, self._namespace_labels(namespace_of(pod)))
        if has_constraints and self._vectorised():
            self._score_incoming_terms(s)
            # Left: the terms of the placed pods that have some.
            for info, placed_pods, _ in self.index.nodes(self.handle.snapshot):
                node_labels = labels_of(info.node)
                if node_labels:
                    for _, placed_terms in placed_pods:
                        self._process_existing_terms(s, placed_terms, node_labels, pod)
            placed_by_node = iter(())
        elif has_constraints:  # every placed pod may match the incoming pod's preferred terms
            placed_by_node = (
                (info, [(p.pod, self.cache.get(p.pod)) for p in info.pods.values()]) for info in self.handle.snapshot)
        else:  # only placed pods with affinity of their own matter
            placed_by_node = ((info, pods) for info, pods, _ in self.index.nodes(self.handle.snapshot))
        for info, placed_pods in placed_by_node:
            node_labels = labels_of(info.node)
            if not node_labels:
                continue
            for placed, placed_terms in placed_pods:
                self._process_existing_pod(s, placed_terms, placed, node_labels, pod)
        if not s.topology_score:
            return skip()
        state[_PRE_SCORE_KEY] = s
        return SUCCESS

    def _score_incoming_terms(self, s: PreScoreState) -> None:
        """The incoming pod's preferred terms against every placed pod, per domain from the table."""
        table = node_table.of(self.handle.snapshot)
        for terms, multiplier in ((s.terms.preferred_affinity, 1), (s.terms.preferred_anti_affinity, -1)):
            for term, weight in terms:
                domains = present_domains(table.labels(term.topology_key), None, term_counts(table, term))
                if not domains:
                    continue
                by_value = s.topology_score.setdefault(term.topology_key, {})
                for value, n in domains.items():
                    by_value[value] = by_value.get(value, 0) + weight * multiplier * n

    def _process_existing_pod(self, s: PreScoreState, existing: PodTerms, existing_pod: Obj,
                              node_labels: dict[str, str], pod: Obj) -> None:
        scores, incoming = s.topology_score, s.terms
        # The incoming pod's preferred terms against the placed pod (namespaces already merged).
        _process_terms(scores, incoming.preferred_affinity, existing_pod, None, node_labels, 1)
        _process_terms(scores, incoming.preferred_anti_affinity, existing_pod, None, node_labels, -1)
        self._process_existing_terms(s, existing, node_labels, pod)

    def _process_existing_terms(self, s: PreScoreState, existing: PodTerms, node_labels: dict[str, str],
                                pod: Obj) -> None:
        """The placed pod's terms against the incoming pod."""
        scores = s.topology_score
        if self.hard_pod_affinity_weight > 0:
            for t in existing.required_affinity:
                _process_term(scores, t, self.hard_pod_affinity_weight, pod, s.namespace_labels, node_labels, 1)
        _process_terms(scores, existing.preferred_affinity, pod, s.namespace_labels, node_labels, 1)
        _process_terms(scores, existing.preferred_anti_affinity, pod, s.namespace_labels, node_labels, -1)

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return 0, error(f'reading "{_PRE_SCORE_KEY}" from cycleState: not found')
        node_labels = labels_of(node_info.node)
        total = 0
        for key, by_value in s.topology_score.items():
            if key in node_labels:
                total += by_value.get(node_labels[key], 0)
        return total, SUCCESS

    def normalize_score(self, state: CycleState, pod: Obj, scores: dict[str, int]) -> Status:
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None or not s.topology_score or not scores:
            return SUCCESS
        lo, hi = min(scores.values()), max(scores.values())
        diff = hi - lo
        for name, v in scores.items():
            # float64 arithmetic truncated to int, as Go does.
            scores[name] = int(float(MAX_NODE_SCORE) * ((v - lo) / diff)) if diff > 0 else 0
        return SUCCESS
