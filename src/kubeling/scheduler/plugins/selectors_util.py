"""Node selector terms, tolerations and listers as the scheduler plugins need them.

Node selectors follow k8s.io/component-helpers/scheduling/corev1/nodeaffinity: terms are
ORed, the requirements inside a term ANDed, an empty term matches nothing, and a pod's
required terms are parsed lazily (a term that fails to parse is dropped, the others
still count) while preferred terms and scheduler-configured terms must all parse.
"""

from __future__ import annotations

from kubeling.api.taints import tolerates

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeling.api.errors import ApiError
from kubeling.api.selectors import (
    DOES_NOT_EXIST,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_IN,
    LabelSelector,
    Requirement,
    new_requirement,
)

Obj = dict[str, Any]

NAME_FIELD = "metadata.name"
_NODE_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
                   "Gt": GREATER_THAN, "Lt": LESS_THAN}


def labels_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def namespace_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def label_selector(selector: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector (nil: nothing, {}: everything); ValueError when invalid."""
    try:
        return LabelSelector.from_dict(selector)
    except ApiError as e:
        raise ValueError(str(e)) from None


def merge_label_set(match_labels: Mapping[str, str], selector: LabelSelector) -> LabelSelector:
    """Add `key=value` requirements to a selector (a selector matching nothing stays so)."""
    if selector.matches_nothing:
        return selector
    extra = [Requirement(k, EQUALS, (v,)) for k, v in match_labels.items()]
    return LabelSelector([*extra, *selector.requirements])


# --- node selector terms ---------------------------------------------------------------


@dataclass(frozen=True)
class NodeSelectorTerm:
    """One parsed term: label requirements and `metadata.name` field requirements."""

    labels: tuple[Requirement, ...] | None  # None: the term has no matchExpressions
    fields: tuple[tuple[str, bool, str], ...] | None  # (key, equal?, value)

    @classmethod
    def parse(cls, term: Mapping[str, Any]) -> NodeSelectorTerm:
        """Raises ValueError when a requirement is invalid."""
        exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
        return cls(_label_requirements(exprs) if exprs else None, _field_requirements(fields) if fields else None)

    def matches(self, node: Obj) -> bool:
        if self.labels is not None:
            labels = labels_of(node)
            if not all(r.matches(labels) for r in self.labels):
                return False
        name = name_of(node)
        if self.fields is not None and name:
            # Only metadata.name is a node field; other keys read as "".
            for key, equal, value in self.fields:
                have = name if key == NAME_FIELD else ""
                if (have == value) != equal:
                    return False
        return True


def _label_requirements(exprs: list[Mapping[str, Any]]) -> tuple[Requirement, ...]:
    reqs = []
    for expr in exprs:
        op = _NODE_OPERATORS.get(expr.get("operator") or "")
        if op is None:
            raise ValueError(f'Unsupported value: "{expr.get("operator") or ""}"')
        try:
            reqs.append(new_requirement(expr.get("key") or "", op, expr.get("values") or []))
        except ApiError as e:
            raise ValueError(str(e)) from None
    return tuple(reqs)


def _field_requirements(exprs: list[Mapping[str, Any]]) -> tuple[tuple[str, bool, str], ...]:
    reqs = []
    for expr in exprs:
        op, values = expr.get("operator"), expr.get("values") or []
        if op not in ("In", "NotIn"):
            raise ValueError(f'Unsupported value: "{op or ""}"')
        if len(values) != 1:
            raise ValueError("must have one element")
        reqs.append((expr.get("key") or "", op == "In", values[0]))
    return tuple(reqs)


def _is_empty_term(term: Mapping[str, Any]) -> bool:
    return not term.get("matchExpressions") and not term.get("matchFields")


class NodeSelector:
    """ORed node selector terms. `lazy`: drop terms that fail to parse instead of raising."""

    def __init__(self, terms: Iterable[Mapping[str, Any]], *, lazy: bool = False):
        self.terms: list[NodeSelectorTerm] = []
        self.errors: list[str] = []
        for term in terms:
            if _is_empty_term(term):
                continue  # an empty term matches no node
            try:
                self.terms.append(NodeSelectorTerm.parse(term))
            except ValueError as e:
                if not lazy:
                    raise
                self.errors.append(str(e))

    def matches(self, node: Obj) -> bool:
        return any(t.matches(node) for t in self.terms)


class PreferredSchedulingTerms:
    """Weighted preferred terms; a node scores the sum of the weights of the terms it matches."""

    def __init__(self, terms: Iterable[Mapping[str, Any]]):
        self.terms: list[tuple[NodeSelectorTerm, int]] = []
        for t in terms:
            weight, pref = int(t.get("weight") or 0), t.get("preference") or {}
            if weight == 0 or _is_empty_term(pref):
                continue
            self.terms.append((NodeSelectorTerm.parse(pref), weight))

    def score(self, node: Obj) -> int:
        return sum(w for term, w in self.terms if term.matches(node))


class RequiredNodeAffinity:
    """A pod's spec.nodeSelector AND its required node affinity (GetRequiredNodeAffinity)."""

    __slots__ = ("node_selector", "selector")

    def __init__(self, pod: Obj):
        spec = pod.get("spec") or {}
        node_selector = spec.get("nodeSelector")
        self.selector = LabelSelector.from_set(node_selector) if node_selector else None
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution")
        self.node_selector = (NodeSelector(required.get("nodeSelectorTerms") or [], lazy=True)
                              if required is not None else None)

    def matches(self, node: Obj) -> bool:
        if self.selector is not None and not self.selector.matches(labels_of(node)):
            return False
        return self.node_selector is None or self.node_selector.matches(node)

    @property
    def matches_everything(self) -> bool:
        """No nodeSelector and no required node affinity: every node matches."""
        return self.selector is None and self.node_selector is None

    @property
    def node_selector_only(self) -> dict[str, str] | None:
        """The spec.nodeSelector pairs when they are all there is (no required node affinity)."""
        if self.node_selector is not None or self.selector is None:
            return None
        return {r.key: r.values[0] for r in self.selector.requirements}


# --- taints and tolerations --------------------------------------------------------------

DO_NOT_SCHEDULE_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def has_untolerated_taint(node: Obj, pod: Obj, effects: frozenset[str] = DO_NOT_SCHEDULE_EFFECTS) -> bool:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tolerations):
            return True
    return False


# --- listers -------------------------------------------------------------------------------


def lister(handle: Any, kind: str) -> Any:
    """The informer cache (client.cache.Indexer-like: get(key), list(), by_index) for a kind,
    when the handle offers one; None otherwise."""
    get = getattr(handle, "lister", None)
    if get is None:
        return None
    try:
        return get(kind)
    except (KeyError, LookupError):
        return None


def list_in_namespace(index: Any, namespace: str) -> list[Obj]:
    if hasattr(index, "has_index") and index.has_index("namespace"):
        return index.by_index("namespace", namespace)
    return [o for o in index.list() if namespace_of(o) == namespace]
