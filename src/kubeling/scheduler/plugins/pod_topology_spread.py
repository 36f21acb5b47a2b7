"""PodTopologySpread: keep matching pods evenly spread over topology domains.

Filter enforces `whenUnsatisfiable: DoNotSchedule` constraints (skew = matching pods in the
node's domain + self - global minimum <= maxSkew); Score prefers nodes whose domains hold
fewer matching pods for `ScheduleAnyway` constraints. Pods without constraints get the
cluster defaults (`defaultingType: System`: hostname maxSkew 3, zone maxSkew 5, both
ScheduleAnyway) with a selector built from the Services and controller that own the pod.
Counts per domain are computed once in PreFilter/PreScore, so per-node work is
O(constraints). They come from the snapshot's node table (scheduler/node_table.py), which keeps
per selector the matching pods of every node as the cache changes: a cycle sums a NumPy column
per domain instead of walking every node's pods. With the framework's `batch` off, the plugin
counts node by node instead (the reference the columns must agree with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
from kubeling.scheduler.plugins.selectors_util import (
    RequiredNodeAffinity,
    has_untolerated_taint,
    label_selector,
    labels_of,
    list_in_namespace,
    lister,
    merge_label_set,
    namespace_of,
)
from kubeling.scheduler.plugins.topology_counts import domain_sums, in_first_seen_order
from kubeling.scheduler.registry import register

Obj = dict[str, Any]

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

NAME = "PodTopologySpread"
_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME

DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
HONOR, IGNORE = "Honor", "Ignore"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"
SYSTEM_DEFAULTING, LIST_DEFAULTING = "System", "List"

SYSTEM_DEFAULT_CONSTRAINTS: list[Obj] = [
    {"topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 3},
    {"topologyKey": LABEL_ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 5},
]

_MAX_INT32 = 2**31 - 1


@dataclass
class Constraint:
    """A topologySpreadConstraint with its selector parsed and its defaults applied."""

    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE

    def includes_node(self, pod: Obj, node: Obj, required: RequiredNodeAffinity) -> bool:
        """Whether the node's domain counts, per nodeAffinityPolicy and nodeTaintsPolicy."""
        if self.node_affinity_policy == HONOR and not required.matches(node):
            return False
        return not (self.node_taints_policy == HONOR and has_untolerated_taint(node, pod))


def parse_constraints(constraints: list[Obj], pod_labels: dict[str, str], action: str) -> list[Constraint]:
    """The constraints with `whenUnsatisfiable == action`; ValueError on a bad selector."""
    out = []
    for c in constraints:
        if (c.get("whenUnsatisfiable") or DO_NOT_SCHEDULE) != action:
            continue
        selector = label_selector(c.get("labelSelector"))
        # matchLabelKeys: the pod's own values for those keys narrow the selector.
        extra = {k: pod_labels[k] for k in c.get("matchLabelKeys") or [] if k in pod_labels}
        if extra:
            selector = merge_label_set(extra, selector)
        min_domains = c.get("minDomains")
        out.append(Constraint(
            max_skew=int(c.get("maxSkew") or 0), topology_key=c.get("topologyKey") or "", selector=selector,
            min_domains=1 if min_domains is None else int(min_domains),
            node_affinity_policy=c.get("nodeAffinityPolicy") or HONOR,
            node_taints_policy=c.get("nodeTaintsPolicy") or IGNORE))
    return out


def node_has_all_keys(node_labels: dict[str, str], constraints: list[Constraint]) -> bool:
    return all(c.topology_key in node_labels for c in constraints)


def count_matching(pods: dict[str, PodInfo], selector: LabelSelector, namespace: str) -> int:
    """Pods of the namespace the selector matches, not counting terminating ones.
    An empty selector counts nothing, as in Kubernetes."""
    if selector.empty:
        return 0
    n = 0
    for info in pods.values():
        md = info.pod.get("metadata") or {}
        if md.get("deletionTimestamp") or md.get("namespace", "") != namespace:
            continue
        if selector.matches(md.get("labels")):
            n += 1
    return n


def matching_counts(table: node_table.NodeTable, selector: LabelSelector, namespace: str) -> np.ndarray:
    """count_matching for every row of the table, from the column it keeps for the selector."""
    if selector.empty:
        return np.zeros(len(table.infos), dtype=np.int64)

    def matches(pod: Obj) -> bool:
        md = pod.get("metadata") or {}
        return (not md.get("deletionTimestamp") and md.get("namespace", "") == namespace
                and selector.matches(md.get("labels")))

    return table.pod_counts((NAME, namespace, selector), matches)


def all_present(columns: list[node_table.LabelColumn]) -> np.ndarray:
    """The rows holding every one of the labels."""
    return np.logical_and.reduce([c.codes != node_table.MISSING for c in columns])


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Two row masks ANDed, None standing for every row."""
    if a is None or b is None:
        return b if a is None else a
    return a & b


def go_round_array(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5)).astype(np.int64)


class CriticalPaths:
    """The two domains with the fewest matching pods: enough to know the global minimum
    while preemption adds and removes pods one by one."""

    __slots__ = ("paths",)

    def __init__(self) -> None:
        self.paths: list[list[Any]] = [["", _MAX_INT32], ["", _MAX_INT32]]

    @property
    def min(self) -> int:
        return self.paths[0][1]

    def update(self, value: str, num: int) -> None:
        p = self.paths
        i = 0 if value == p[0][0] else 1 if value == p[1][0] else -1
        if i >= 0:
            p[i][1] = num
            if p[0][1] > p[1][1]:
                p[0], p[1] = p[1], p[0]
        elif num < p[0][1]:
            p[1] = p[0]
            p[0] = [value, num]
        elif num < p[1][1]:
            p[1] = [value, num]

    def copy(self) -> CriticalPaths:
        c = CriticalPaths()
        c.paths = [list(self.paths[0]), list(self.paths[1])]
        return c


@dataclass
class PreFilterState:
    constraints: list[Constraint] = field(default_factory=list)
    critical_paths: list[CriticalPaths] = field(default_factory=list)
    # Per constraint: topology value -> matching pods in that domain (eligible domains only).
    tp_value_to_match_num: list[dict[str, int]] = field(default_factory=list)

    def min_match_num(self, i: int, min_domains: int) -> int:
        # Fewer eligible domains than minDomains: the global minimum is taken as 0.
        if len(self.tp_value_to_match_num[i]) < min_domains:
            return 0
        return self.critical_paths[i].min

    def clone(self) -> PreFilterState:
        return PreFilterState(list(self.constraints), [p.copy() for p in self.critical_paths],
                              [dict(m) for m in self.tp_value_to_match_num])


@dataclass
class PreScoreState:
    constraints: list[Constraint] = field(default_factory=list)
    ignored_nodes: set[str] = field(default_factory=set)  # nodes missing a topology key
    tp_value_to_pod_counts: list[dict[str, int]] = field(default_factory=list)
    tp_normalizing_weight: list[float] = field(default_factory=list)
    ignored_rows: np.ndarray | None = None  # score_nodes' nodes in ignored_nodes, for normalize_score_array


def topology_normalizing_weight(size: int) -> float:
    """Fewer domains weigh less: log(size + 2)."""
    return math.log(size + 2)


def score_for_count(count: int, max_skew: int, weight: float) -> float:
    # maxSkew-1 waters down differences the constraint tolerates anyway.
    return count * weight + (max_skew - 1)


def score_for_count_array(count: np.ndarray, max_skew: int, weight: float) -> np.ndarray:
    return count * weight + (max_skew - 1)


def go_round(x: float) -> int:
    """math.Round: halves away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


# ---- default selector (helper.DefaultSelector) -------------------------------------------


def _controller_ref(pod: Obj) -> Obj | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


_OWNER_KINDS = {("v1", "ReplicationController"), ("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet")}


def default_selector(pod: Obj, handle: Any) -> LabelSelector:
    """The selectors of the Services selecting the pod, and of its controlling RC/RS/StatefulSet,
    merged; empty when the handle offers no listers or nothing selects the pod."""
    namespace, pod_labels = namespace_of(pod), labels_of(pod)
    label_set: dict[str, str] = {}
    services = lister(handle, "Service")
    if services is not None:
        for svc in list_in_namespace(services, namespace):
            sel = (svc.get("spec") or {}).get("selector")
            if sel is None:  # a Service without selector selects nothing
                continue
            if LabelSelector.from_set(sel).matches(pod_labels):
                label_set.update(sel)
    selector = LabelSelector.from_set(label_set)
    owner = _controller_ref(pod)
    if owner is None or (owner.get("apiVersion"), owner.get("kind")) not in _OWNER_KINDS:
        return selector
    index = lister(handle, owner["kind"])
    obj = index.get(f"{namespace}/{owner.get('name', '')}") if index is not None else None
    if obj is None:
        return selector
    owner_selector = (obj.get("spec") or {}).get("selector")
    if owner["kind"] == "ReplicationController":
        label_set.update(owner_selector or {})
        return LabelSelector.from_set(label_set)
    try:
        parsed = label_selector(owner_selector)
    except ValueError:
        return selector
    if parsed.matches_nothing:
        return selector
    return LabelSelector([*selector.requirements, *parsed.requirements])


# ---- the plugin ---------------------------------------------------------------------------


@register
class PodTopologySpread(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        super().__init__(handle, args)
        self.defaulting_type = self.args.get("defaultingType") or SYSTEM_DEFAULTING
        self.system_defaulted = self.defaulting_type == SYSTEM_DEFAULTING
        self.default_constraints: list[Obj] = (
            SYSTEM_DEFAULT_CONSTRAINTS if self.system_defaulted else list(self.args.get("defaultConstraints") or []))

    def events_to_register(self) -> list[str]:
        return ["AssignedPodAdd", "AssignedPodUpdate", "AssignedPodDelete",
                "NodeAdd", "NodeLabelChange", "NodeTaintChange"]

    def constraints(self, pod: Obj, action: str) -> list[Constraint]:
        """The pod's own constraints for `action`, else the defaults with its owners' selector."""
        own = (pod.get("spec") or {}).get("topologySpreadConstraints")
        pod_labels = labels_of(pod)
        if own:
            return parse_constraints(own, pod_labels, action)
        constraints = parse_constraints(self.default_constraints, pod_labels, action)
        if not constraints:
            return []
        selector = default_selector(pod, self.handle)
        if selector.empty:
            return []
        for c in constraints:
            c.selector = selector
        return constraints

    # ---- filtering ----

    def pre_filter(self, state: CycleState, pod: Obj) -> tuple[PreFilterResult | None, Status]:
        try:
            constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        except ValueError as e:
            return None, error(f"obtaining pod's hard topology spread constraints: {e}")
        if not constraints:
            return None, skip()
        make = self._pre_filter_state if self._vectorised() else self._pre_filter_state_by_node
        state[_PRE_FILTER_KEY] = make(pod, constraints)
        return None, SUCCESS

    def _vectorised(self) -> bool:
        """Count from the node table, unless the framework runs plugins node by node."""
        return getattr(getattr(self.handle, "framework", None), "batch", True)

    def _pre_filter_state(self, pod: Obj, constraints: list[Constraint]) -> PreFilterState:
        table = node_table.of(self.handle.snapshot)
        columns = [table.labels(c.topology_key) for c in constraints]
        has_all = all_present(columns)
        includes = self._include_masks(pod, constraints, table, has_all)
        namespace = namespace_of(pod)
        s = PreFilterState(constraints, [], [])
        for c, column, include in zip(constraints, columns, includes, strict=True):
            eligible = _and(has_all, include)
            sums = domain_sums(column.codes, eligible, matching_counts(table, c.selector, namespace),
                               len(column.values))
            # Every eligible domain, zero or not, in the order its first node comes.
            order = in_first_seen_order(column.codes[eligible])
            s.tp_value_to_match_num.append({column.values[code]: int(sums[code]) for code in order})
        for counts in s.tp_value_to_match_num:
            paths = CriticalPaths()
            for value, num in counts.items():
                paths.update(value, num)
            s.critical_paths.append(paths)
        return s

    @staticmethod
    def _include_masks(pod: Obj, constraints: list[Constraint], table: node_table.NodeTable,
                       rows: np.ndarray | None) -> list[np.ndarray | None]:
        """Per constraint, the rows whose domains count under its nodeAffinityPolicy and
        nodeTaintsPolicy (Constraint.includes_node), None for all; looked at only where `rows`."""
        required = RequiredNodeAffinity(pod)
        where = range(len(table.infos)) if rows is None else np.flatnonzero(rows).tolist()
        affinity = taints = None
        if not required.matches_everything and any(c.node_affinity_policy == HONOR for c in constraints):
            pairs = required.node_selector_only
            if pairs is not None:  # plain label equalities: compare label codes
                affinity = np.ones(len(table.infos), dtype=bool)
                for key, value in pairs.items():
                    column = table.labels(key)
                    affinity &= column.codes == column.index.get(value, -2)
            else:
                affinity = np.zeros(len(table.infos), dtype=bool)
                for row in where:
                    affinity[row] = required.matches(table.infos[row].node)
        if any(c.node_taints_policy == HONOR for c in constraints):
            taints = np.ones(len(table.infos), dtype=bool)
            for row in where:
                if table.tainted[row]:  # only a node with taints can have one the pod does not tolerate
                    taints[row] = not has_untolerated_taint(table.infos[row].node, pod)
        return [_and(affinity if c.node_affinity_policy == HONOR else None,
                     taints if c.node_taints_policy == HONOR else None) for c in constraints]

    def _pre_filter_state_by_node(self, pod: Obj, constraints: list[Constraint]) -> PreFilterState:
        s = PreFilterState(constraints, [], [{} for _ in constraints])
        required = RequiredNodeAffinity(pod)
        namespace = namespace_of(pod)
        for info in self.handle.snapshot:
            node = info.node
            node_labels = labels_of(node)
            if not node_has_all_keys(node_labels, constraints):
                continue
            for i, c in enumerate(constraints):
                if not c.includes_node(pod, node, required):
                    continue
                value = node_labels[c.topology_key]
                counts = s.tp_value_to_match_num[i]
                counts[value] = counts.get(value, 0) + count_matching(info.pods, c.selector, namespace)
        for counts in s.tp_value_to_match_num:
            paths = CriticalPaths()
            for value, num in counts.items():
                paths.update(value, num)
            s.critical_paths.append(paths)
        return s

    def add_pod(self, state: CycleState, pod: Obj, pod_info_to_add: PodInfo, node_info: NodeInfo) -> Status:
        return self._update_with_pod(state, pod, pod_info_to_add.pod, node_info, 1)

    def remove_pod(self, state: CycleState, pod: Obj, pod_info_to_remove: PodInfo, node_info: NodeInfo) -> Status:
        return self._update_with_pod(state, pod, pod_info_to_remove.pod, node_info, -1)

    def _update_with_pod(self, state: CycleState, preemptor: Obj, updated: Obj, node_info: NodeInfo,
                         delta: int) -> Status:
        s: PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None or namespace_of(updated) != namespace_of(preemptor):
            return SUCCESS
        node = node_info.node
        node_labels = labels_of(node)
        if not node_has_all_keys(node_labels, s.constraints):
            return SUCCESS
        required = RequiredNodeAffinity(preemptor)
        updated_labels = labels_of(updated)
        for i, c in enumerate(s.constraints):
            if not c.selector.matches(updated_labels) or not c.includes_node(preemptor, node, required):
                continue
            value = node_labels[c.topology_key]
            counts = s.tp_value_to_match_num[i]
            counts[value] = counts.get(value, 0) + delta
            s.critical_paths[i].update(value, counts[value])
        return SUCCESS

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        s: PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None or not s.constraints:
            return SUCCESS
        node_labels = labels_of(node_info.node)
        pod_labels = labels_of(pod)
        for i, c in enumerate(s.constraints):
            value = node_labels.get(c.topology_key)
            if value is None:
                return unschedulable(ERR_REASON_NODE_LABEL_NOT_MATCH, resolvable=False)
            self_match = 1 if c.selector.matches(pod_labels) else 0
            skew = s.tp_value_to_match_num[i].get(value, 0) + self_match - s.min_match_num(i, c.min_domains)
            if skew > c.max_skew:
                return unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return SUCCESS

    # ---- scoring ----

    def pre_score(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> Status:
        all_nodes = self.handle.snapshot.node_infos  # read, never changed: no copy per cycle
        if not nodes or not all_nodes:
            return skip()
        # Only the system defaults let nodes without a zone label still spread by hostname.
        own = bool((pod.get("spec") or {}).get("topologySpreadConstraints"))
        require_all = own or not self.system_defaulted
        try:
            constraints = self.constraints(pod, SCHEDULE_ANYWAY)
        except ValueError as e:
            return error(f"calculating preScoreState: {e}")
        if not constraints:
            return skip()
        if self._vectorised():
            state[_PRE_SCORE_KEY] = self._pre_score_state(pod, constraints, nodes, require_all)
            return SUCCESS
        s = self._init_pre_score_state(constraints, nodes, require_all)
        required = RequiredNodeAffinity(pod)
        namespace = namespace_of(pod)
        for info in all_nodes:
            node = info.node
            node_labels = labels_of(node)
            if require_all and not node_has_all_keys(node_labels, constraints):
                continue
            for i, c in enumerate(constraints):
                if not c.includes_node(pod, node, required):
                    continue
                counts = s.tp_value_to_pod_counts[i]
                value = node_labels.get(c.topology_key, "")
                if value not in counts:  # not a candidate's domain, or per-node (hostname)
                    continue
                counts[value] += count_matching(info.pods, c.selector, namespace)
        state[_PRE_SCORE_KEY] = s
        return SUCCESS

    def _pre_score_state(self, pod: Obj, constraints: list[Constraint], nodes: list[NodeInfo],
                         require_all: bool) -> PreScoreState:
        """The candidates' domains, then every node's matching pods summed into them."""
        table = node_table.of(self.handle.snapshot)
        columns = [table.labels(c.topology_key) for c in constraints]
        has_all = all_present(columns) if require_all else None
        rows = table.rows(nodes)
        if rows is None:
            s = self._init_pre_score_state(constraints, nodes, require_all)
        else:
            s = self._init_pre_score_state_from_rows(constraints, nodes, rows, columns, has_all)
        includes = self._include_masks(pod, constraints, table, has_all)
        namespace = namespace_of(pod)
        for c, column, include, counts in zip(constraints, columns, includes, s.tp_value_to_pod_counts, strict=True):
            if not counts:  # hostname: counted per node in Score
                continue
            codes = column.codes
            if not require_all:  # a node without the label is in the "" domain
                codes = np.where(codes == node_table.MISSING, column.code(""), codes)
            sums = domain_sums(codes, _and(has_all, include), matching_counts(table, c.selector, namespace),
                               len(column.values))
            for value in counts:
                code = column.index.get(value)
                if code is not None:
                    counts[value] += int(sums[code])
        return s

    @staticmethod
    def _init_pre_score_state_from_rows(constraints: list[Constraint], nodes: list[NodeInfo], rows: np.ndarray,
                                        columns: list[node_table.LabelColumn],
                                        has_all: np.ndarray | None) -> PreScoreState:
        """_init_pre_score_state from the table's label columns (`rows`: the nodes' rows)."""
        s = PreScoreState(constraints, set(), [])
        kept = rows
        if has_all is not None:
            ignored = ~has_all[rows]
            s.ignored_nodes = {nodes[i].name for i in np.flatnonzero(ignored).tolist()}
            kept = rows[~ignored]
        for c, column in zip(constraints, columns, strict=True):
            if c.topology_key == LABEL_HOSTNAME:
                s.tp_value_to_pod_counts.append({})
                size = len(nodes) - len(s.ignored_nodes)
            else:
                codes = column.codes[kept]
                if has_all is None and (codes == node_table.MISSING).any():
                    codes = np.where(codes == node_table.MISSING, column.code(""), codes)
                values = column.values
                s.tp_value_to_pod_counts.append(dict.fromkeys((values[code] for code in in_first_seen_order(codes)), 0))
                size = len(s.tp_value_to_pod_counts[-1])
            s.tp_normalizing_weight.append(topology_normalizing_weight(size))
        return s

    @staticmethod
    def _init_pre_score_state(constraints: list[Constraint], nodes: list[NodeInfo], require_all: bool) -> PreScoreState:
        s = PreScoreState(constraints, set(), [{} for _ in constraints])
        for info in nodes:
            node_labels = labels_of(info.node)
            if require_all and not node_has_all_keys(node_labels, constraints):
                s.ignored_nodes.add(info.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != LABEL_HOSTNAME:  # per-node counts are taken in Score
                    s.tp_value_to_pod_counts[i].setdefault(node_labels.get(c.topology_key, ""), 0)
        for i, c in enumerate(constraints):
            size = len(s.tp_value_to_pod_counts[i])
            if c.topology_key == LABEL_HOSTNAME:
                size = len(nodes) - len(s.ignored_nodes)
            s.tp_normalizing_weight.append(topology_normalizing_weight(size))
        return s

    def score(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> tuple[int, Status]:
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return 0, error(f'reading "{_PRE_SCORE_KEY}" from cycleState: not found')
        if node_info.name in s.ignored_nodes:
            return 0, SUCCESS
        node_labels = labels_of(node_info.node)
        namespace = namespace_of(pod)
        total = 0.0
        for i, c in enumerate(s.constraints):
            value = node_labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == LABEL_HOSTNAME:
                count = count_matching(node_info.pods, c.selector, namespace)
            else:
                count = s.tp_value_to_pod_counts[i].get(value, 0)
            total += score_for_count(count, c.max_skew, s.tp_normalizing_weight[i])
        return go_round(total), SUCCESS

    def score_nodes(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> np.ndarray:
        """score() for every node at once, from the table's columns."""
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        table = node_table.of(self.handle.snapshot) if s is not None else None
        rows = table.rows(nodes) if table is not None else None
        if s is None or rows is None:
            return self._score_each(state, pod, nodes)
        namespace = namespace_of(pod)
        total = np.zeros(len(nodes), dtype=np.float64)
        for i, c in enumerate(s.constraints):
            column = table.labels(c.topology_key)
            codes = column.codes[rows]
            present = codes != node_table.MISSING
            if c.topology_key == LABEL_HOSTNAME:
                count = matching_counts(table, c.selector, namespace)[rows]
            else:
                by_code = np.zeros(len(column.values) + 1, dtype=np.int64)  # last: MISSING, never used
                for value, n in s.tp_value_to_pod_counts[i].items():
                    code = column.index.get(value)
                    if code is not None:
                        by_code[code] = n
                count = by_code[codes]
            # The per-node sum, term by term in the same float64 operations as score().
            total += np.where(present, score_for_count_array(count, c.max_skew, s.tp_normalizing_weight[i]), 0.0)
        scores = go_round_array(total)
        s.ignored_rows = None
        if s.ignored_nodes:
            s.ignored_rows = np.fromiter((n.name in s.ignored_nodes for n in nodes), dtype=bool, count=len(nodes))
            scores[s.ignored_rows] = 0
        return scores

    def _score_each(self, state: CycleState, pod: Obj, nodes: list[NodeInfo]) -> np.ndarray:
        scores = []
        for n in nodes:
            value, status = self.score(state, pod, n)
            if not status.ok:
                raise RuntimeError(f"Score {self.name}: {status.message()}")
            scores.append(value)
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is not None:
            s.ignored_rows = np.fromiter((n.name in s.ignored_nodes for n in nodes), dtype=bool, count=len(nodes))
        return np.array(scores, dtype=np.int64)

    def normalize_score_array(self, state: CycleState, pod: Obj, scores: np.ndarray) -> np.ndarray:
        """normalize_score over the scores of score_nodes' nodes, in their order."""
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return scores
        ignored = s.ignored_rows if s.ignored_rows is not None else np.zeros(len(scores), dtype=bool)
        valid = scores[~ignored]
        lo = int(valid.min()) if len(valid) else 2**63 - 1
        hi = max(int(valid.max()) if len(valid) else 0, 0)
        if hi == 0:
            out = np.full(len(scores), MAX_NODE_SCORE, dtype=np.int64)
        else:
            out = MAX_NODE_SCORE * (hi + lo - scores) // hi
        out[ignored] = 0
        return out

    def normalize_score(self, state: CycleState, pod: Obj, scores: dict[str, int]) -> Status:
        s: PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return SUCCESS
        valid = [v for name, v in scores.items() if name not in s.ignored_nodes]
        lo, hi = min(valid, default=2**63 - 1), max(valid, default=0)
        hi = max(hi, 0)
        for name, v in scores.items():
            if name in s.ignored_nodes:
                scores[name] = 0
            elif hi == 0:
                scores[name] = MAX_NODE_SCORE
            else:
                scores[name] = MAX_NODE_SCORE * (hi + lo - v) // hi
        return SUCCESS

