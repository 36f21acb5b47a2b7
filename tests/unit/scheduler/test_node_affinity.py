"""NodeAffinity: cases ported from kube-scheduler's nodeaffinity tests (TestNodeAffinity,
TestNodeAffinityPriority), expressed as plain pod and node dicts."""

from __future__ import annotations

import pytest

from kubeling.scheduler.framework import Code, CycleState, Handle, NodeInfo, PreFilterResult, Snapshot
from kubeling.scheduler.plugins.node_affinity import (
    ERR_REASON_CONFLICT,
    ERR_REASON_ENFORCED,
    ERR_REASON_POD,
    NodeAffinity,
    default_normalize,
)
from kubeling.scheduler.registry import PLUGINS


def node(name: str, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}}


def pod(node_selector: dict | None = None, required: list | None = None, preferred: list | None = None,
        affinity: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c"}]}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    na: dict = {}
    if required is not None:
        na["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": required}
    if preferred is not None:
        na["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    if na:
        spec["affinity"] = {"nodeAffinity": na}
    if affinity is not None:
        spec["affinity"] = affinity
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": spec}


def expr(key: str, op: str, *values: str) -> dict:
    return {"key": key, "operator": op, "values": list(values)} if values else {"key": key, "operator": op}


def term(*exprs: dict, fields: list | None = None) -> dict:
    t: dict = {}
    if exprs:
        t["matchExpressions"] = list(exprs)
    if fields:
        t["matchFields"] = fields
    return t


def name_in(*names: str) -> dict:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


def plugin(nodes: list[dict], args: dict | None = None) -> NodeAffinity:
    return NodeAffinity(Handle(Snapshot([NodeInfo.of(n) for n in nodes])), args)


def run_filter(pl: NodeAffinity, p: dict, n: dict):
    state = CycleState()
    result, status = pl.pre_filter(state, p)
    if status.code == Code.SKIP:
        return result, status, pl.filter(CycleState(), p, NodeInfo.of(n))
    if not status.ok:
        return result, status, None
    return result, status, pl.filter(state, p, NodeInfo.of(n))


OK, REJECT = "ok", "reject"
FOO_BAR = {"foo": "bar"}

FILTER_CASES = [
    ("no affinity at all", pod(), {}, OK),
    ("missing labels", pod({"foo": "bar"}), {}, REJECT),
    ("same labels", pod({"foo": "bar"}), FOO_BAR, OK),
    ("node labels are superset", pod({"foo": "bar"}), {"foo": "bar", "baz": "blah"}, OK),
    ("node labels are subset", pod({"foo": "bar", "baz": "blah"}), FOO_BAR, REJECT),
    ("In matches", pod(required=[term(expr("foo", "In", "bar", "value2"))]), FOO_BAR, OK),
    ("Gt matches", pod(required=[term(expr("kernel-version", "Gt", "0204"))]), {"kernel-version": "0206"}, OK),
    ("Gt does not match", pod(required=[term(expr("kernel-version", "Gt", "0206"))]), {"kernel-version": "0206"},
     REJECT),
    ("Lt matches", pod(required=[term(expr("kernel-version", "Lt", "0206"))]), {"kernel-version": "0204"}, OK),
    ("Gt on a non-integer label", pod(required=[term(expr("v", "Gt", "1"))]), {"v": "abc"}, REJECT),
    ("NotIn matches", pod(required=[term(expr("mem-type", "NotIn", "DDR", "DDR2"))]), {"mem-type": "DDR3"}, OK),
    ("NotIn matches an absent label", pod(required=[term(expr("mem-type", "NotIn", "DDR"))]), {}, OK),
    ("Exists matches", pod(required=[term(expr("GPU", "Exists"))]), {"GPU": "NVIDIA-GRID-K1"}, OK),
    ("DoesNotExist rejects", pod(required=[term(expr("GPU", "DoesNotExist"))]), {"GPU": "x"}, REJECT),
    ("In does not match", pod(required=[term(expr("foo", "In", "value1", "value2"))]), FOO_BAR, REJECT),
    ("empty matchExpressions match nothing", pod(required=[{"matchExpressions": []}]), FOO_BAR, REJECT),
    ("no terms match nothing", pod(required=[]), FOO_BAR, REJECT),
    ("affinity without required terms", pod(affinity={"nodeAffinity": {}}), FOO_BAR, OK),
    ("expressions are ANDed (match)",
     pod(required=[term(expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD", "INTER"))]), {"GPU": "NVIDIA-GRID-K1"},
     OK),
    ("expressions are ANDed (no match)",
     pod(required=[term(expr("GPU", "Exists"), expr("GPU", "In", "AMD", "INTER"))]), {"GPU": "NVIDIA-GRID-K1"},
     REJECT),
    ("terms are ORed",
     pod(required=[term(expr("foo", "In", "bar", "value2")), term(expr("diffkey", "In", "wrong", "value2"))]),
     FOO_BAR, OK),
    ("affinity and nodeSelector both satisfied",
     pod({"foo": "bar"}, required=[term(expr("foo", "Exists"))]), FOO_BAR, OK),
    ("affinity satisfied, nodeSelector not", pod({"foo": "bar"}, required=[term(expr("foo", "Exists"))]),
     {"foo": "barrrrrr"}, REJECT),
    ("an invalid term is dropped, a valid one still matches",
     pod(required=[term(expr("foo", "In")), term(expr("foo", "Exists"))]), FOO_BAR, OK),
    ("only an invalid term", pod(required=[term(expr("foo", "Bogus", "bar"))]), FOO_BAR, REJECT),
]


@pytest.mark.parametrize("name,p,labels,want", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter(name, p, labels, want):
    n = node("node1", labels)
    _, pre_status, status = run_filter(plugin([n]), p, n)
    assert pre_status.code in (Code.SUCCESS, Code.SKIP)
    if want == OK:
        assert status.ok, status
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [ERR_REASON_POD]


MATCH_FIELDS_CASES = [
    # (terms, node name, node labels, expected PreFilterResult names, filter passes)
    ("matchFields matches the node", [term(fields=[name_in("node1")])], "node1", {}, {"node1"}, True),
    ("matchFields does not match", [term(fields=[name_in("node1")])], "node2", {}, {"node1"}, False),
    ("matchFields and matchExpressions in one term: both needed",
     [term(expr("foo", "In", "bar"), fields=[name_in("node1")])], "node1", {"foo": "old"}, {"node1"}, False),
    ("matchFields and matchExpressions in one term: both hold",
     [term(expr("foo", "In", "bar"), fields=[name_in("node1")])], "node1", FOO_BAR, {"node1"}, True),
    ("a term without matchFields leaves every node possible",
     [term(fields=[name_in("node1")]), term(expr("foo", "In", "bar"))], "node2", FOO_BAR, None, True),
    ("names of several terms are united",
     [term(fields=[name_in("node1", "node2")]), term(fields=[name_in("node3")])], "node3", {},
     {"node1", "node2", "node3"}, True),
    ("requirements in one term intersect",
     [term(fields=[name_in("node2"), name_in("node2")])], "node2", {}, {"node2"}, True),
    # matchFields takes exactly one value: such a term is dropped by Filter (PreFilter still narrows).
    ("several values in matchFields are invalid",
     [term(fields=[name_in("node1", "node2"), name_in("node2", "node3")])], "node2", {}, {"node2"}, False),
    ("NotIn on metadata.name", [term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["node1"]}])],
     "node1", {}, None, False),
]


@pytest.mark.parametrize("name,terms,node_name,labels,names,passes", MATCH_FIELDS_CASES,
                         ids=[c[0] for c in MATCH_FIELDS_CASES])
def test_match_fields_and_pre_filter_result(name, terms, node_name, labels, names, passes):
    n = node(node_name, labels)
    result, pre_status, status = run_filter(plugin([n]), pod(required=terms), n)
    assert pre_status.ok
    assert (result.node_names if result else None) == names
    assert status.ok is passes
    if not passes:
        assert status.reasons == [ERR_REASON_POD]


def test_conflicting_node_names_are_unresolvable():
    terms = [term(fields=[name_in("node1"), name_in("node2")])]
    result, status = plugin([node("node1")]).pre_filter(CycleState(), pod(required=terms))
    assert result is None
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == [ERR_REASON_CONFLICT]


ADDED = {"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": [term(expr("zone", "In", "foo", "bar"))]}}}

ADDED_CASES = [
    ("matches added affinity and the pod's", pod(required=[term(expr("foo", "Exists"))]),
     {"zone": "foo", "foo": "x"}, None),
    ("matches added affinity, not the pod's", pod(required=[term(expr("foo", "Exists"))]), {"zone": "foo"},
     ERR_REASON_POD),
    ("does not match added affinity", pod(), {"zone": "baz", "foo": "x"}, ERR_REASON_ENFORCED),
]


@pytest.mark.parametrize("name,p,labels,reason", ADDED_CASES, ids=[c[0] for c in ADDED_CASES])
def test_added_affinity(name, p, labels, reason):
    n = node("node1", labels)
    _, pre_status, status = run_filter(plugin([n], ADDED), p, n)
    assert pre_status.ok  # added affinity means PreFilter never skips
    if reason is None:
        assert status.ok
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [reason]


def test_bad_added_affinity_fails_at_construction():
    bad = {"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term(expr("zone", "In"))]}}}
    with pytest.raises(ValueError):
        plugin([], bad)


# ---- scoring --------------------------------------------------------------------------------

AFFINITY1 = [{"weight": 2, "preference": term(expr("foo", "In", "bar"))}]
AFFINITY2 = [
    {"weight": 2, "preference": term(expr("foo", "In", "bar"))},
    {"weight": 4, "preference": term(expr("key", "In", "value"))},
    {"weight": 5, "preference": term(expr("foo", "In", "bar"), expr("key", "In", "value"),
                                     expr("az", "In", "az1"))},
]
LABEL1, LABEL2, LABEL3 = {"foo": "bar"}, {"key": "value"}, {"az": "az1"}
LABEL4 = {"abc": "az11", "def": "az22"}
LABEL5 = {"foo": "bar", "key": "value", "az": "az1"}


def run_score(pl: NodeAffinity, p: dict, nodes: list[dict]) -> dict[str, int]:
    state = CycleState()
    infos = [NodeInfo.of(n) for n in nodes]
    status = pl.pre_score(state, p, infos)
    if status.code == Code.SKIP:
        return {i.name: 0 for i in infos}
    assert status.ok
    scores = {}
    for info in infos:
        scores[info.name], s = pl.score(state, p, info)
        assert s.ok
    assert pl.normalize_score(state, p, scores).ok
    return scores


SCORE_CASES = [
    ("no preferred affinity: all equal", pod(), [LABEL1, LABEL2, LABEL3], None, [0, 0, 0]),
    ("no node matches: all zero", pod(preferred=AFFINITY1), [LABEL4, LABEL2, LABEL3], None, [0, 0, 0]),
    ("only node1 matches", pod(preferred=AFFINITY1), [LABEL1, LABEL2, LABEL3], None, [100, 0, 0]),
    ("all match with different weights", pod(preferred=AFFINITY2), [LABEL1, LABEL5, LABEL2], None, [18, 100, 36]),
    ("added preferred affinity alone", pod(), [LABEL1, LABEL2, LABEL5],
     {"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 5, "preference": term(expr("key", "Exists"))}]}}, [0, 100, 100]),
    ("added preferred affinity with the pod's", pod(preferred=AFFINITY1), [LABEL1, LABEL2, LABEL5],
     {"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
         {"weight": 3, "preference": term(expr("key", "Exists"))}]}}, [40, 60, 100]),
    ("zero-weight terms count nothing", pod(preferred=[{"weight": 0, "preference": term(expr("foo", "Exists"))}]),
     [LABEL1, LABEL2], None, [0, 0]),
]


@pytest.mark.parametrize("name,p,labels,args,want", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_score(name, p, labels, args, want):
    nodes = [node(f"node{i + 1}", lbl) for i, lbl in enumerate(labels)]
    scores = run_score(plugin(nodes, args), p, nodes)
    assert [scores[n["metadata"]["name"]] for n in nodes] == want


def test_pre_score_reports_invalid_preferred_terms():
    p = pod(preferred=[{"weight": 1, "preference": term(expr("foo", "In"))}])
    status = plugin([]).pre_score(CycleState(), p, [NodeInfo.of(node("n"))])
    assert status.code == Code.ERROR


@pytest.mark.parametrize("scores,reverse,want", [
    ({"a": 1, "b": 2, "c": 3}, False, {"a": 33, "b": 66, "c": 100}),
    ({"a": 0, "b": 0}, False, {"a": 0, "b": 0}),
    ({"a": 0, "b": 0}, True, {"a": 100, "b": 100}),
    ({"a": 1, "b": 4}, True, {"a": 75, "b": 0}),
])
def test_default_normalize(scores, reverse, want):
    default_normalize(scores, reverse=reverse)
    assert scores == want


def test_registered_with_events():
    assert PLUGINS["NodeAffinity"] is NodeAffinity
    assert set(NodeAffinity(Handle(Snapshot())).events_to_register()) == {"NodeAdd", "NodeLabelChange"}


def test_pre_filter_result_type():
    result, _ = plugin([]).pre_filter(CycleState(), pod(required=[term(fields=[name_in("a")])]))
    assert isinstance(result, PreFilterResult)
