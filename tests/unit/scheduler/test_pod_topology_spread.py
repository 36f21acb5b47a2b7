"""PodTopologySpread: cases after kube-scheduler's podtopologyspread tests (TestSingleConstraint,
TestMultipleConstraints, TestPreFilterStateAddPod, TestPodTopologySpreadScore), with
expected scores worked out from Kubernetes' formulas."""

from __future__ import annotations

import pytest

from kubeling.client.cache import Indexer
from kubeling.scheduler.framework import Code, CycleState, Handle, NodeInfo, PodInfo, Snapshot
from kubeling.scheduler.plugins.pod_topology_spread import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH,
    CriticalPaths,
    PodTopologySpread,
    go_round,
)
from kubeling.scheduler.registry import PLUGINS

HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


def node(name: str, labels: dict, taints: list | None = None) -> dict:
    n: dict = {"metadata": {"name": name, "labels": labels}}
    if taints:
        n["spec"] = {"taints": taints}
    return n


def pod(name: str, labels: dict | None = None, node_name: str = "", namespace: str = "default",
        constraints: list | None = None, **spec) -> dict:
    s: dict = {"containers": [{"name": "c"}], **spec}
    if node_name:
        s["nodeName"] = node_name
    if constraints:
        s["topologySpreadConstraints"] = constraints
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"{namespace}/{name}", "labels": labels or {}},
            "spec": s}


def spread(key: str, max_skew: int = 1, when: str = "DoNotSchedule", selector: dict | None = None, **extra) -> dict:
    c = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
         "labelSelector": selector if selector is not None else {"matchExpressions": [
             {"key": "foo", "operator": "Exists"}]}}
    return {**c, **extra}


def snapshot(nodes: list[dict], pods: list[dict]) -> Snapshot:
    infos = {n["metadata"]["name"]: NodeInfo.of(n) for n in nodes}
    for p in pods:
        infos[p["spec"]["nodeName"]].add_pod(PodInfo.of(p))
    return Snapshot(list(infos.values()))


class FakeHandle(Handle):
    """A handle with informer caches, as handle.lister(kind) will offer."""

    def __init__(self, snap: Snapshot, objects: dict[str, list[dict]]):
        super().__init__(snap)
        self._listers = {}
        for kind, objs in objects.items():
            idx = Indexer()
            idx.replace(objs)
            self._listers[kind] = idx

    def lister(self, kind: str):
        return self._listers.get(kind)


def filter_all(pl: PodTopologySpread, p: dict) -> dict[str, Code]:
    state = CycleState()
    _, status = pl.pre_filter(state, p)
    if status.code == Code.SKIP:
        return {i.name: Code.SUCCESS for i in pl.handle.snapshot}
    assert status.ok, status
    return {i.name: pl.filter(state, p, i).code for i in pl.handle.snapshot}


def score_all(pl: PodTopologySpread, p: dict, candidates: list[str] | None = None) -> dict[str, int]:
    state = CycleState()
    nodes = [i for i in pl.handle.snapshot if candidates is None or i.name in candidates]
    status = pl.pre_score(state, p, nodes)
    if status.code == Code.SKIP:
        return {i.name: 0 for i in nodes}
    assert status.ok, status
    scores = {}
    for info in nodes:
        scores[info.name], s = pl.score(state, p, info)
        assert s.ok
    assert pl.normalize_score(state, p, scores).ok
    return scores


# Four nodes in two zones, each also labelled with its own name under "node".
NODES = [
    node("node-a", {"zone": "zone1", "node": "node-a"}),
    node("node-b", {"zone": "zone1", "node": "node-b"}),
    node("node-x", {"zone": "zone2", "node": "node-x"}),
    node("node-y", {"zone": "zone2", "node": "node-y"}),
]
FOO = {"foo": ""}
OK, NO, MISSING = Code.SUCCESS, Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def placed(spec: str, labels: dict | None = None, namespace: str = "default") -> list[dict]:
    """'a2 b1' -> two pods on node-a and one on node-b, labelled foo."""
    pods = []
    for part in spec.split():
        for i in range(int(part[1:])):
            pods.append(pod(f"p-{part[0]}{i}", labels if labels is not None else FOO, f"node-{part[0]}", namespace))
    return pods


FILTER_CASES = [
    ("no existing pods", [spread("zone")], NODES, [], [OK, OK, OK, OK]),
    ("no existing pods, incoming pod doesn't match itself",
     [spread("zone", selector={"matchExpressions": [{"key": "bar", "operator": "Exists"}]})], NODES, [],
     [OK, OK, OK, OK]),
    ("existing pods in a different namespace do not count", [spread("zone")], NODES,
     placed("a1 b1", namespace="ns1") + placed("x1 x2 y1"), [OK, OK, NO, NO]),
    ("pods spread across zones as 3/3, all nodes fit", [spread("zone")], NODES, placed("a1 a2 b1 y1 y2 y3"),
     [OK, OK, OK, OK]),
    ("terminating pods do not count", [spread("zone")], NODES,
     placed("a1 b1 x1") + [dict(pod("p-y", FOO, "node-y"), metadata={
         "name": "p-y", "namespace": "default", "uid": "t", "labels": FOO,
         "deletionTimestamp": "2024-01-01T00:00:00Z"})], [NO, NO, OK, OK]),
    ("nodes without the zone label are unresolvable", [spread("zone")],
     [NODES[0], node("node-b", {"zon": "zone1", "node": "node-b"}), NODES[2], NODES[3]], placed("a1 b1 x1 y1"),
     [OK, MISSING, NO, NO]),
    ("no node has the topology key", [spread("rack")], NODES, [], [MISSING] * 4),
    ("pods spread across nodes as 2/1/0/3, only node-x fits", [spread("node")], NODES,
     placed("a2 b1 y3"), [NO, NO, OK, NO]),
    ("2/1/0/3 with maxSkew 2: node-b and node-x fit", [spread("node", 2)], NODES, placed("a2 b1 y3"),
     [NO, OK, OK, NO]),
    ("2/1/0/3 but the pod doesn't match itself",
     [spread("node", selector={"matchExpressions": [{"key": "bar", "operator": "Exists"}]})], NODES,
     placed("a2 b1 y3", {"foo": "", "bar": ""}), [NO, OK, OK, NO]),
    ("an empty selector counts no pods", [spread("node", selector={})], NODES, placed("a2 b1 y3"), [OK] * 4),
    ("zones 2/1: zone2 fits", [spread("zone")], NODES, placed("a1 b1 x1"), [NO, NO, OK, OK]),
    ("zones 2/1, minDomains 2 (met)", [spread("zone", minDomains=2)], NODES, placed("a1 b1 x1"),
     [NO, NO, OK, OK]),
    ("zones 2/1, minDomains 3: the global minimum is 0", [spread("zone", minDomains=3)], NODES,
     placed("a1 b1 x1"), [NO, NO, NO, NO]),
    ("two constraints: both must hold", [spread("zone"), spread("node")], NODES, placed("a1 b1 x1"),
     [NO, NO, NO, OK]),
    ("ScheduleAnyway constraints never filter", [spread("node", when="ScheduleAnyway")], NODES,
     placed("a3"), [OK] * 4),
]


@pytest.mark.parametrize("name,constraints,nodes,pods,want", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter(name, constraints, nodes, pods, want):
    pl = PodTopologySpread(Handle(snapshot(nodes, pods)))
    got = filter_all(pl, pod("p", FOO, constraints=constraints))
    assert list(got.values()) == want


def test_filter_reasons():
    # node-z lacks the zone label, so it is no domain of either constraint.
    nodes = [NODES[0], NODES[1], node("node-z", {"node": "node-z"})]
    pl = PodTopologySpread(Handle(snapshot(nodes, placed("a2"))))
    state = CycleState()
    p = pod("p", FOO, constraints=[spread("node"), spread("zone")])
    pl.pre_filter(state, p)
    a, b, z = pl.handle.snapshot
    assert pl.filter(state, p, b).ok
    assert pl.filter(state, p, a).reasons == [ERR_REASON_CONSTRAINTS_NOT_MATCH]
    status = pl.filter(state, p, z)
    assert status.code == MISSING and status.reasons == [ERR_REASON_NODE_LABEL_NOT_MATCH]


# Node inclusion policies: node-x (zone2) is excluded from the pod's node affinity or tainted.
ZONE1_ONLY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["zone1"]}]}]}}}
TAINTED = [NODES[0], NODES[1], node("node-x", {"zone": "zone2", "node": "node-x"},
                                    [{"key": "k", "value": "v", "effect": "NoSchedule"}])]

POLICY_CASES = [
    # zone1 holds 1 pod, zone2 none: zone2 counts unless excluded by a policy.
    ("nodeAffinityPolicy Honor (default) drops zone2", {"affinity": ZONE1_ONLY}, {}, NODES, [OK, OK]),
    ("nodeAffinityPolicy Ignore keeps zone2", {"affinity": ZONE1_ONLY}, {"nodeAffinityPolicy": "Ignore"}, NODES,
     [NO, NO]),
    ("nodeTaintsPolicy Ignore (default) keeps the tainted zone", {}, {}, TAINTED, [NO, NO]),
    ("nodeTaintsPolicy Honor drops the tainted zone", {}, {"nodeTaintsPolicy": "Honor"}, TAINTED, [OK, OK]),
    ("a toleration keeps the tainted zone under Honor",
     {"tolerations": [{"key": "k", "operator": "Exists"}]}, {"nodeTaintsPolicy": "Honor"}, TAINTED, [NO, NO]),
]


@pytest.mark.parametrize("name,spec,extra,nodes,want", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_node_inclusion_policies(name, spec, extra, nodes, want):
    pl = PodTopologySpread(Handle(snapshot(nodes, placed("a1"))))
    got = filter_all(pl, pod("p", FOO, constraints=[spread("zone", **extra)], **spec))
    assert [got["node-a"], got["node-b"]] == want


def test_match_label_keys_narrow_the_selector():
    # Pods of another revision (app=old) are not counted once matchLabelKeys adds app=new.
    pods = placed("a2", {"foo": "", "app": "old"})
    pl = PodTopologySpread(Handle(snapshot(NODES, pods)))
    p = pod("p", {"foo": "", "app": "new"}, constraints=[spread("node", matchLabelKeys=["app"])])
    assert set(filter_all(pl, p).values()) == {OK}
    p = pod("p", {"foo": "", "app": "new"}, constraints=[spread("node")])
    assert filter_all(pl, p)["node-a"] == NO


def test_pre_filter_skips_without_constraints():
    pl = PodTopologySpread(Handle(snapshot(NODES, [])))
    _, status = pl.pre_filter(CycleState(), pod("p", FOO))
    assert status.code == Code.SKIP


def test_add_and_remove_pod_update_counts():
    # 2/1/0/3 across nodes: only node-x fits; removing both pods of node-a lets it fit too,
    # adding one to node-x then rules node-x out (min becomes node-a's 0).
    pods = placed("a2 b1 y3")
    pl = PodTopologySpread(Handle(snapshot(NODES, pods)))
    p = pod("p", FOO, constraints=[spread("node")])
    state = CycleState()
    pl.pre_filter(state, p)
    infos = {i.name: i for i in pl.handle.snapshot}
    for victim in pods[:2]:
        assert pl.remove_pod(state, p, PodInfo.of(victim), infos["node-a"]).ok
    assert pl.filter(state, p, infos["node-a"]).ok
    assert pl.filter(state, p, infos["node-x"]).ok
    pl.add_pod(state, p, PodInfo.of(pod("new", FOO, "node-x")), infos["node-x"])
    assert pl.filter(state, p, infos["node-x"]).code == NO
    assert pl.filter(state, p, infos["node-a"]).ok
    # Pods of other namespaces or not matching the selector change nothing.
    pl.add_pod(state, p, PodInfo.of(pod("other", FOO, "node-a", namespace="ns1")), infos["node-a"])
    pl.add_pod(state, p, PodInfo.of(pod("plain", {}, "node-a")), infos["node-a"])
    assert pl.filter(state, p, infos["node-a"]).ok


def test_pre_filter_state_clone_is_independent():
    pl = PodTopologySpread(Handle(snapshot(NODES, placed("a1"))))
    p = pod("p", FOO, constraints=[spread("node")])
    state = CycleState()
    pl.pre_filter(state, p)
    s = state["PreFilterPodTopologySpread"]
    copy = s.clone()
    infos = {i.name: i for i in pl.handle.snapshot}
    pl.add_pod(state, p, PodInfo.of(pod("n", FOO, "node-b")), infos["node-b"])
    assert copy.tp_value_to_match_num[0]["node-b"] == 0
    assert s.tp_value_to_match_num[0]["node-b"] == 1


@pytest.mark.parametrize("updates,want_min,want_second", [
    ([("a", 3), ("b", 1), ("c", 2)], ("b", 1), ("c", 2)),
    ([("a", 0), ("b", 0)], ("a", 0), ("b", 0)),
    ([("a", 1), ("b", 2), ("a", 3)], ("b", 2), ("a", 3)),
    ([("a", 5), ("b", 2), ("c", 9)], ("b", 2), ("a", 5)),
])
def test_critical_paths(updates, want_min, want_second):
    paths = CriticalPaths()
    for value, num in updates:
        paths.update(value, num)
    assert tuple(paths.paths[0]) == want_min and tuple(paths.paths[1]) == want_second


# ---- scoring --------------------------------------------------------------------------------

SCORE_CASES = [
    ("one constraint, no existing pods", [spread("node", when="ScheduleAnyway")], placed(""), None,
     {"node-a": 100, "node-b": 100, "node-x": 100, "node-y": 100}),
    ("one constraint, only one candidate", [spread("node", when="ScheduleAnyway")], placed("a1"), ["node-a"],
     {"node-a": 100}),
    ("one constraint, same number of matching pods", [spread("node", when="ScheduleAnyway")],
     placed("a1 b1 x1 y1"), None, {"node-a": 100, "node-b": 100, "node-x": 100, "node-y": 100}),
    # weight log(6); raw a=round(6*1.79)=11, b=5, x=2, y=0; 100*(11-s)/11.
    ("one constraint on node, 6/3/1/0", [spread("node", when="ScheduleAnyway")], placed("a6 b3 x1"), None,
     {"node-a": 0, "node-b": 54, "node-x": 81, "node-y": 100}),
    # zones: weight log(4); zone1=3 -> round(4.16)=4, zone2=1 -> 1; 100*(5-s)/4.
    ("one constraint on zone, 3/1", [spread("zone", when="ScheduleAnyway")], placed("a2 b1 x1"), None,
     {"node-a": 25, "node-b": 25, "node-x": 100, "node-y": 100}),
    # maxSkew 3 adds 2 to every raw score: zone1 round(4.16+2)=6, zone2 round(1.39+2)=3; 100*(9-s)/6.
    ("maxSkew waters differences down", [spread("zone", 3, when="ScheduleAnyway")], placed("a2 b1 x1"), None,
     {"node-a": 50, "node-b": 50, "node-x": 100, "node-y": 100}),
    # Only the candidates' domains are counted: zone1's pods do not weigh on zone2's nodes.
    ("domains of non-candidates are not counted", [spread("zone", when="ScheduleAnyway")], placed("a3 x1"),
     ["node-x", "node-y"], {"node-x": 100, "node-y": 100}),
    ("DoNotSchedule constraints don't score", [spread("node")], placed("a3"), None,
     {"node-a": 0, "node-b": 0, "node-x": 0, "node-y": 0}),
    # hostname key: per-node counts taken in Score, weight log(4 candidates + 2).
    ("hostname constraint counts per node", [spread(HOSTNAME, when="ScheduleAnyway")], placed("a2 b1"), None,
     {"node-a": 0, "node-b": 50, "node-x": 100, "node-y": 100}),
]


def with_hostnames(nodes: list[dict]) -> list[dict]:
    return [node(n["metadata"]["name"], {**n["metadata"]["labels"], HOSTNAME: n["metadata"]["name"]})
            for n in nodes]


@pytest.mark.parametrize("name,constraints,pods,candidates,want", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_score(name, constraints, pods, candidates, want):
    pl = PodTopologySpread(Handle(snapshot(with_hostnames(NODES), pods)))
    assert score_all(pl, pod("p", FOO, constraints=constraints), candidates) == want


def test_nodes_missing_a_key_are_ignored_in_scoring():
    nodes = [NODES[0], NODES[2], node("node-q", {"node": "node-q"})]
    pl = PodTopologySpread(Handle(snapshot(nodes, placed("a1"))))
    got = score_all(pl, pod("p", FOO, constraints=[spread("zone", when="ScheduleAnyway")]))
    assert got == {"node-a": 0, "node-x": 100, "node-q": 0}


# ---- system default constraints -----------------------------------------------------------

DEFAULT_NODES = [node("n1", {HOSTNAME: "n1", ZONE: "z1"}), node("n2", {HOSTNAME: "n2", ZONE: "z1"}),
                 node("n3", {HOSTNAME: "n3"})]
WEB = {"app": "web"}
RS = {"metadata": {"name": "rs1", "namespace": "default"}, "spec": {"selector": {"matchLabels": WEB}}}
OWNED = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs1", "uid": "rs1", "controller": True}


def web_pod(name: str, node_name: str = "") -> dict:
    p = pod(name, WEB, node_name)
    p["metadata"]["ownerReferences"] = [OWNED]
    return p


def test_system_defaults_spread_by_the_owner_selector():
    # n1 holds 2 web pods, n3 (no zone label) 1. Hostname weight log(5), zone weight log(4)
    # (domains z1 and ""); raw n1 = 2*1.61+2 + 2*1.39+4 = 12, n2 = 2 + 6.77 = 9, n3 = 1.61+2 = 4
    # (no zone score); normalized 100*(16-s)/12.
    pods = [web_pod("w1", "n1"), web_pod("w2", "n1"), web_pod("w3", "n3")]
    handle = FakeHandle(snapshot(DEFAULT_NODES, pods), {"ReplicaSet": [RS], "Service": []})
    pl = PodTopologySpread(handle)
    assert score_all(pl, web_pod("new")) == {"n1": 33, "n2": 58, "n3": 100}
    # Defaults are ScheduleAnyway: nothing to filter.
    _, status = pl.pre_filter(CycleState(), web_pod("new"))
    assert status.code == Code.SKIP


def test_system_defaults_use_services_selecting_the_pod():
    svc = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": WEB}}
    other = {"metadata": {"name": "db", "namespace": "default"}, "spec": {"selector": {"app": "db"}}}
    pods = [pod("w1", WEB, "n1"), pod("w2", WEB, "n1"), pod("w3", WEB, "n3")]
    handle = FakeHandle(snapshot(DEFAULT_NODES, pods), {"Service": [svc, other]})
    assert score_all(PodTopologySpread(handle), pod("new", WEB)) == {"n1": 33, "n2": 58, "n3": 100}


@pytest.mark.parametrize("objects", [None, {"Service": []}, {"ReplicaSet": []}])
def test_no_default_constraints_without_owners(objects):
    pods = [web_pod("w1", "n1")]
    snap = snapshot(DEFAULT_NODES, pods)
    handle = Handle(snap) if objects is None else FakeHandle(snap, objects)
    state = CycleState()
    status = PodTopologySpread(handle).pre_score(state, web_pod("new"), list(snap))
    assert status.code == Code.SKIP


def test_list_defaulting_uses_configured_constraints():
    args = {"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}]}
    pods = [web_pod("w1", "n1")]
    handle = FakeHandle(snapshot(DEFAULT_NODES, pods), {"ReplicaSet": [RS]})
    got = filter_all(PodTopologySpread(handle, args), web_pod("new"))
    # n1/n2 in z1 hold 1 pod, the only domain: skew 1; n3 lacks the zone label.
    assert got == {"n1": OK, "n2": OK, "n3": MISSING}


def test_go_round_and_registration():
    assert [go_round(x) for x in (0.5, 1.5, 2.5, 2.49)] == [1, 2, 3, 2]
    assert PLUGINS["PodTopologySpread"] is PodTopologySpread
    assert "NodeTaintChange" in PodTopologySpread(Handle(Snapshot())).events_to_register()


# ---- Kubernetes' own TestPodTopologySpreadScore cases (expected scores as Kubernetes has them) ----

F, B, FB = {"foo": ""}, {"bar": ""}, {"foo": "", "bar": ""}
FOO_SEL = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
BAR_SEL = {"matchExpressions": [{"key": "bar", "operator": "Exists"}]}


def soft(key: str, max_skew: int = 1, selector: dict = FOO_SEL) -> dict:
    return spread(key, max_skew, "ScheduleAnyway", selector)


def host(name: str, zone: str | None = None) -> dict:
    return node(name, {HOSTNAME: name, **({"zone": zone} if zone else {})})


ABCD = [host("node-a"), host("node-b"), host("node-c"), host("node-d")]
ZONED = [host("node-a", "zone1"), host("node-b", "zone1"), host("node-x", "zone2"), host("node-y", "zone2")]
SPREAD_2103 = placed("a2 b1 d3")
SPREAD_4321 = placed("a4 b3 c2 d1")
SPREAD_4213 = placed("a4 b2 x1 y3")

K8S_SCORE_CASES = [
    ("all 4 nodes are candidates, maxSkew=2", [soft(HOSTNAME, 2)], ABCD, SPREAD_2103, None, None,
     [33, 66, 100, 16]),
    ("all 4 nodes are candidates, maxSkew=3", [soft(HOSTNAME, 3)], ABCD, SPREAD_4321, None, None,
     [44, 66, 77, 100]),
    ("system defaulting, nodes don't have zone, pods match service", None, ABCD, SPREAD_4321, None,
     {"Service": [{"metadata": {"name": "s", "namespace": "default"}, "spec": {"selector": F}}]},
     [44, 66, 77, 100]),
    ("one constraint on node, 3 out of 4 nodes are candidates", [soft(HOSTNAME)],
     [host("node-a"), host("node-b"), host("node-x"), host("node-y")], SPREAD_4213, ["node-a", "node-b", "node-x"],
     None, [33, 83, 100]),
    ("3 out of 4 candidates, one node doesn't match topology key", [soft(HOSTNAME)],
     [host("node-a"), node("node-b", {"n": "node-b"}), host("node-x"), host("node-y")], SPREAD_4213,
     ["node-a", "node-b", "node-x"], None, [16, 0, 100]),
    ("one constraint on zone, 3 out of 4 nodes are candidates", [soft("zone")], ZONED, SPREAD_4213,
     ["node-a", "node-b", "node-x"], None, [75, 75, 100]),
    ("two constraints on zone and node, 2 out of 4 nodes are candidates", [soft("zone"), soft(HOSTNAME)], ZONED,
     placed("a2 b1 x2 y4"), ["node-a", "node-x"], None, [100, 63]),
    ("two constraints with different labelSelectors", [soft("zone"), soft(HOSTNAME, selector=BAR_SEL)], ZONED,
     [pod("p-a1", F, "node-a"), pod("p-b1", FB, "node-b"), pod("p-y1", F, "node-y"), pod("p-y2", B, "node-y")],
     None, None, [60, 20, 100, 60]),
    ("different labelSelectors, some nodes have 0 pods", [soft("zone"), soft(HOSTNAME, selector=BAR_SEL)], ZONED,
     [pod("p-b1", B, "node-b"), pod("p-x1", F, "node-x"), pod("p-y1", FB, "node-y")], None, None,
     [100, 60, 40, 0]),
]


@pytest.mark.parametrize("name,constraints,nodes,pods,candidates,objects,want", K8S_SCORE_CASES,
                         ids=[c[0] for c in K8S_SCORE_CASES])
def test_score_kubernetes_cases(name, constraints, nodes, pods, candidates, objects, want):
    snap = snapshot(nodes, pods)
    handle = FakeHandle(snap, objects) if objects else Handle(snap)
    labels = FB if constraints and len(constraints) == 2 else F
    got = score_all(PodTopologySpread(handle), pod("p", labels, constraints=constraints), candidates)
    assert list(got.values()) == want
