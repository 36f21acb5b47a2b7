"""InterPodAffinity: cases after kube-scheduler's interpodaffinity tests (TestRequiredAffinitySingleNode,
TestRequiredAffinityMultipleNodes, TestPreFilterStateAddRemovePod, TestPreferredAffinity)."""

from __future__ import annotations

import pytest

from kubeling.client.cache import Indexer
from kubeling.scheduler.framework import Code, CycleState, Handle, NodeInfo, PodInfo, Snapshot
from kubeling.scheduler.plugins.inter_pod_affinity import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
)
from kubeling.scheduler.registry import PLUGINS

_uid = iter(range(1_000_000))


def node(name: str, labels: dict) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


def pod(labels: dict | None = None, node_name: str = "", affinity: dict | None = None,
        namespace: str = "default", name: str = "") -> dict:
    n = next(_uid)
    spec: dict = {"containers": [{"name": "c"}]}
    if node_name:
        spec["nodeName"] = node_name
    if affinity:
        spec["affinity"] = affinity
    return {"metadata": {"name": name or f"p{n}", "namespace": namespace, "uid": f"u{n}", "labels": labels or {}},
            "spec": spec}


def sel(key: str, op: str, *values: str) -> dict:
    e = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return {"matchExpressions": [e]}


def term(selector: dict, key: str, **extra) -> dict:
    return {"labelSelector": selector, "topologyKey": key, **extra}


def required(affinity: list | None = None, anti: list | None = None) -> dict:
    out = {}
    if affinity is not None:
        out["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": affinity}
    if anti is not None:
        out["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": anti}
    return out


def preferred(affinity: list | None = None, anti: list | None = None) -> dict:
    out = {}
    if affinity is not None:
        out["podAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "podAffinityTerm": t} for w, t in affinity]}
    if anti is not None:
        out["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "podAffinityTerm": t} for w, t in anti]}
    return out


def snapshot(nodes: list[dict], pods: list[dict]) -> Snapshot:
    infos = {n["metadata"]["name"]: NodeInfo.of(n) for n in nodes}
    for p in pods:
        infos[p["spec"]["nodeName"]].add_pod(PodInfo.of(p))
    return Snapshot(list(infos.values()))


NS_T1, NS_T2 = {"team": "team1"}, {"team": "team2"}
NAMESPACES = [{"metadata": {"name": n, "labels": lbl}} for n, lbl in (
    ("subteam1.team1", NS_T1), ("subteam2.team1", NS_T1), ("subteam1.team2", NS_T2), ("subteam2.team2", NS_T2))]


class NsHandle(Handle):
    """A handle whose Namespace lister is an informer cache."""

    def __init__(self, snap: Snapshot):
        super().__init__(snap)
        self.namespaces = Indexer()
        self.namespaces.replace(NAMESPACES)

    def lister(self, kind: str):
        return self.namespaces if kind == "Namespace" else None


def plugin(nodes: list[dict], pods: list[dict], args: dict | None = None) -> InterPodAffinity:
    return InterPodAffinity(NsHandle(snapshot(nodes, pods)), args)


def filter_all(pl: InterPodAffinity, p: dict) -> dict[str, tuple[Code, list[str]]]:
    state = CycleState()
    _, status = pl.pre_filter(state, p)
    if status.code == Code.SKIP:
        return {i.name: (Code.SUCCESS, []) for i in pl.handle.snapshot}
    assert status.ok, status
    out = {}
    for info in pl.handle.snapshot:
        s = pl.filter(state, p, info)
        out[info.name] = (s.code, s.reasons)
    return out


S1, S2 = {"security": "S1"}, {"security": "S2"}
SCAN = {"service": "securityscan"}
NODE1_LABELS = {"region": "r1", "zone": "z11", "kubernetes.io/hostname": "machine1"}
OK = (Code.SUCCESS, [])
AFF = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_AFFINITY])
ANTI = (Code.UNSCHEDULABLE, [ERR_REASON_ANTI_AFFINITY])
EXISTING = (Code.UNSCHEDULABLE, [ERR_REASON_EXISTING_ANTI_AFFINITY])

SINGLE_NODE_CASES = [
    ("no affinity, no existing pods", pod(), [], OK),
    ("affinity In matches the existing pod",
     pod(S1, affinity=required([term(sel("service", "In", "securityscan", "value2"), "region")])),
     [pod(SCAN, "machine1")], OK),
    ("affinity NotIn matches the existing pod",
     pod(S1, affinity=required([term(sel("service", "NotIn", "securityscan3", "value3"), "region")])),
     [pod(SCAN, "machine1")], OK),
    ("affinity to a pod of another namespace does not match",
     pod(S1, affinity=required([term(sel("service", "In", "securityscan"), "region",
                                     namespaces=["DiffNameSpace"])])),
     [pod(SCAN, "machine1", namespace="ns")], AFF),
    ("affinity with an unmatched selector",
     pod(S1, affinity=required([term(sel("service", "In", "antivirusscan", "value2"), "region")])),
     [pod(SCAN, "machine1")], AFF),
    ("affinity terms are ANDed (all match)",
     pod(S1, affinity=required([term(sel("service", "Exists"), "region"),
                                term(sel("service", "In", "securityscan"), "zone")])),
     [pod(SCAN, "machine1")], OK),
    ("affinity terms are ANDed (one does not match)",
     pod(S1, affinity=required([term(sel("service", "Exists"), "region"),
                                term(sel("service", "In", "antivirusscan"), "zone")])),
     [pod(SCAN, "machine1")], AFF),
    ("affinity satisfied, anti-affinity violated",
     pod(S1, affinity={**required([term(sel("service", "In", "securityscan"), "region")]),
                       **required(anti=[term(sel("service", "Exists"), "zone")])}),
     [pod(SCAN, "machine1")], ANTI),
    ("anti-affinity against a pod that doesn't match", pod(S1, affinity=required(anti=[
        term(sel("service", "In", "antivirusscan"), "zone")])), [pod(SCAN, "machine1")], OK),
    ("existing pod's anti-affinity is respected with no affinity on the incoming pod",
     pod(S1), [pod(SCAN, "machine1", affinity=required(anti=[term(sel("security", "In", "S1"), "zone")]))],
     EXISTING),
    ("existing pod's anti-affinity with a topology key the node lacks",
     pod(S1), [pod(SCAN, "machine1", affinity=required(anti=[term(sel("security", "In", "S1"), "rack")]))], OK),
    ("existing pod's anti-affinity in another namespace does not apply",
     pod(S1), [pod(SCAN, "machine1", namespace="other",
                   affinity=required(anti=[term(sel("security", "In", "S1"), "zone")]))], OK),
    ("existing pod's anti-affinity with an empty namespaceSelector applies everywhere",
     pod(S1), [pod(SCAN, "machine1", namespace="other",
                   affinity=required(anti=[term(sel("security", "In", "S1"), "zone", namespaceSelector={})]))],
     EXISTING),
    ("existing pod's anti-affinity with a namespaceSelector matching the incoming pod's namespace",
     pod(S1, namespace="subteam1.team1"),
     [pod(SCAN, "machine1", affinity=required(anti=[term(sel("security", "In", "S1"), "zone",
                                                         namespaceSelector={"matchLabels": NS_T1})]))],
     EXISTING),
    ("existing pod's anti-affinity with a namespaceSelector not matching",
     pod(S1, namespace="subteam1.team2"),
     [pod(SCAN, "machine1", affinity=required(anti=[term(sel("security", "In", "S1"), "zone",
                                                         namespaceSelector={"matchLabels": NS_T1})]))],
     OK),
    ("first pod of a group: affinity to itself with no matching pod anywhere",
     pod(S1, affinity=required([term(sel("security", "In", "S1"), "region")])), [pod(SCAN, "machine1")], OK),
    ("first pod of a group, but the node lacks the topology key",
     pod(S1, affinity=required([term(sel("security", "In", "S1"), "rack")])), [], AFF),
    ("no matching pod and the pod does not match itself",
     pod(S2, affinity=required([term(sel("security", "In", "S1"), "region")])), [], AFF),
    ("affinity via namespaceSelector to a pod in a selected namespace",
     pod(S1, namespace="subteam1.team1", affinity=required([term(
         sel("service", "Exists"), "region", namespaceSelector={"matchLabels": NS_T2})])),
     [pod(SCAN, "machine1", namespace="subteam2.team2")], OK),
    ("affinity via namespaceSelector, the pod is in an unselected namespace",
     pod(S1, namespace="subteam1.team1", affinity=required([term(
         sel("service", "Exists"), "region", namespaceSelector={"matchLabels": NS_T2})])),
     [pod(SCAN, "machine1", namespace="subteam2.team1")], AFF),
    ("an empty namespaceSelector selects every namespace",
     pod(S1, affinity=required([term(sel("service", "Exists"), "region", namespaceSelector={})])),
     [pod(SCAN, "machine1", namespace="anything")], OK),
]


@pytest.mark.parametrize("name,p,pods,want", SINGLE_NODE_CASES, ids=[c[0] for c in SINGLE_NODE_CASES])
def test_filter_single_node(name, p, pods, want):
    pl = plugin([node("machine1", NODE1_LABELS)], pods)
    assert filter_all(pl, p)["machine1"] == want


def test_pre_filter_skips_without_terms():
    _, status = plugin([node("machine1", NODE1_LABELS)], [pod(SCAN, "machine1")]).pre_filter(CycleState(), pod(S1))
    assert status.code == Code.SKIP


def test_pre_filter_rejects_an_unparsable_pod():
    p = pod(S1, affinity=required([term(sel("security", "In", "{{.bad-value.}}"), "region")]))
    _, status = plugin([], []).pre_filter(CycleState(), p)
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons[0].startswith("parsing pod: ")


ZONES = [node("n1", {"zone": "z1", "host": "n1"}), node("n2", {"zone": "z1", "host": "n2"}),
         node("n3", {"zone": "z2", "host": "n3"})]
MULTI_NODE_CASES = [
    ("anti-affinity by zone excludes the whole zone",
     pod(S1, affinity=required(anti=[term(sel("security", "In", "S1"), "zone")])), [pod(S1, "n1")],
     {"n1": ANTI, "n2": ANTI, "n3": OK}),
    ("anti-affinity by host excludes only the host",
     pod(S1, affinity=required(anti=[term(sel("security", "In", "S1"), "host")])), [pod(S1, "n1")],
     {"n1": ANTI, "n2": OK, "n3": OK}),
    ("affinity by zone admits the whole zone",
     pod(S2, affinity=required([term(sel("security", "In", "S1"), "zone")])), [pod(S1, "n2")],
     {"n1": OK, "n2": OK, "n3": AFF}),
    ("existing anti-affinity by zone",
     pod(S1), [pod(S2, "n3", affinity=required(anti=[term(sel("security", "In", "S1"), "zone")]))],
     {"n1": OK, "n2": OK, "n3": EXISTING}),
    ("a group with self-affinity follows its first pod",
     pod(S1, affinity=required([term(sel("security", "In", "S1"), "zone")])), [pod(S1, "n3")],
     {"n1": AFF, "n2": AFF, "n3": OK}),
]


@pytest.mark.parametrize("name,p,pods,want", MULTI_NODE_CASES, ids=[c[0] for c in MULTI_NODE_CASES])
def test_filter_multiple_nodes(name, p, pods, want):
    assert filter_all(plugin(ZONES, pods), p) == want


def test_add_and_remove_pod_update_pre_filter_state():
    anti_s1 = required(anti=[term(sel("security", "In", "S1"), "zone")])
    blocker = pod(S2, "n1", affinity=anti_s1)  # its anti-affinity keeps S1 pods out of z1
    friend = pod({"security": "S3"}, "n2")     # satisfies the incoming pod's affinity in z1
    target = pod(S1, "n3")                     # the incoming pod's anti-affinity avoids it (z2)
    pl = plugin(ZONES, [blocker, friend, target])
    p = pod(S1, affinity={**anti_s1, **required([term(sel("security", "Exists"), "zone")])})
    state = CycleState()
    _, status = pl.pre_filter(state, p)
    assert status.ok
    infos = {i.name: i for i in pl.handle.snapshot}
    assert pl.filter(state, p, infos["n1"]).reasons == [ERR_REASON_EXISTING_ANTI_AFFINITY]
    assert pl.filter(state, p, infos["n3"]).reasons == [ERR_REASON_ANTI_AFFINITY]
    before = state["PreFilterInterPodAffinity"].clone()

    assert pl.remove_pod(state, p, PodInfo.of(blocker), infos["n1"]).ok
    assert pl.filter(state, p, infos["n1"]).ok
    pl.remove_pod(state, p, PodInfo.of(target), infos["n3"])
    # z2 now has no pod for the affinity term (z1 still has one, so no first-pod exception).
    assert pl.filter(state, p, infos["n3"]).reasons == [ERR_REASON_AFFINITY]
    pl.add_pod(state, p, PodInfo.of(blocker), infos["n1"])
    assert pl.filter(state, p, infos["n1"]).reasons == [ERR_REASON_EXISTING_ANTI_AFFINITY]
    # The clone kept its own counts.
    assert before.existing_anti_affinity_counts == {("zone", "z1"): 1}
    assert before.anti_affinity_counts == {("zone", "z2"): 1}
    assert before.affinity_counts == {("zone", "z1"): 2, ("zone", "z2"): 1}


# ---- scoring: Kubernetes' TestPreferredAffinity ----------------------------------------------

CHINA, INDIA = {"region": "China"}, {"region": "India"}
AZ1, AZ2 = {"az": "az1"}, {"az": "az2"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
STAY_S1_REGION = preferred([(5, term(sel("security", "In", "S1"), "region"))])
STAY_S2_REGION = preferred([(6, term(sel("security", "In", "S2"), "region"))])
AFFINITY3 = preferred([
    (8, term({"matchExpressions": [{"key": "security", "operator": "NotIn", "values": ["S1"]},
                                   {"key": "security", "operator": "In", "values": ["S2"]}]}, "region")),
    (2, term({"matchExpressions": [{"key": "security", "operator": "Exists"},
                                   {"key": "wrongkey", "operator": "DoesNotExist"}]}, "region")),
])
HARD_AFFINITY = required([
    term(sel("security", "In", "S1", "value2"), "region"),
    term({"matchExpressions": [{"key": "security", "operator": "Exists"},
                               {"key": "wrongkey", "operator": "DoesNotExist"}]}, "region"),
])
AWAY_S1_AZ = preferred(anti=[(5, term(sel("security", "In", "S1"), "az"))])
AWAY_S2_AZ = preferred(anti=[(5, term(sel("security", "In", "S2"), "az"))])
STAY_S1_AWAY_S2 = preferred([(8, term(sel("security", "In", "S1"), "region"))],
                            [(5, term(sel("security", "In", "S2"), "az"))])
NS_SELECTOR_TERM = term(sel("security", "In", "S1"), "region", namespaces=["subteam2.team2"],
                        namespaceSelector={"matchExpressions": [{"key": "team", "operator": "In",
                                                                 "values": ["team1"]}]})
AFFINITY_NS_SELECTOR = preferred([(5, NS_SELECTOR_TERM)])
ANTI_AFFINITY_NS_SELECTOR = preferred(anti=[(5, NS_SELECTOR_TERM)])
MAX = 100


def run_score(nodes: list[dict], pods: list[dict], p: dict, args: dict | None = None):
    pl = plugin(nodes, pods, args)
    state = CycleState()
    infos = list(pl.handle.snapshot)
    status = pl.pre_score(state, p, infos)
    if status.code != Code.SUCCESS:
        return status
    scores = {}
    for info in infos:
        scores[info.name], s = pl.score(state, p, info)
        assert s.ok
    assert pl.normalize_score(state, p, scores).ok
    return [scores[i.name] for i in infos]


def nodes_of(*labels: dict) -> list[dict]:
    return [node(f"node{i + 1}", lbl) for i, lbl in enumerate(labels)]


PREFERRED_CASES = [
    ("pod matches topology key & pods in nodes gets the high score", pod(S1, affinity=STAY_S1_REGION),
     [pod(S1, "node1"), pod(S2, "node2"), pod(S1, "node3")], nodes_of(CHINA, INDIA, AZ1), None, [MAX, 0, 0]),
    ("nodes sharing the topology value of a matching pod score the same", pod(affinity=STAY_S1_REGION),
     [pod(S1, "node1")], nodes_of(CHINA, CHINA_AZ1, INDIA), None, [MAX, MAX, 0]),
    ("the region with more matching pods scores higher", pod(S1, affinity=STAY_S2_REGION),
     [pod(S2, "node1"), pod(S2, "node1"), pod(S2, "node2"), pod(S2, "node3"), pod(S2, "node4"), pod(S2, "node5")],
     nodes_of(CHINA, INDIA, CHINA, CHINA, INDIA), None, [MAX, 0, MAX, MAX, 0]),
    ("different operators and values, some match failures", pod(S1, affinity=AFFINITY3),
     [pod(S1, "node1"), pod(S2, "node2"), pod(S1, "node3")], nodes_of(CHINA, INDIA, AZ1), None, [20, MAX, 0]),
    ("symmetry: existing pods' preferred affinity", pod(S2),
     [pod(S1, "node1", STAY_S1_REGION), pod(S2, "node2", STAY_S2_REGION)], nodes_of(CHINA, INDIA, AZ1), None,
     [0, MAX, 0]),
    ("symmetry with namespace selector", pod(S1, namespace="subteam1.team1"),
     [pod(S1, "node1", AFFINITY_NS_SELECTOR), pod(S2, "node2", STAY_S2_REGION)], nodes_of(CHINA, INDIA, AZ1), None,
     [MAX, 0, 0]),
    ("anti-affinity symmetry with namespace selector", pod(S1, namespace="subteam1.team1"),
     [pod(S1, "node1", ANTI_AFFINITY_NS_SELECTOR), pod(S2, "node2", STAY_S2_REGION)],
     nodes_of(CHINA, INDIA, AZ1), None, [0, MAX, MAX]),
    ("symmetry: existing pods' required affinity", pod(S1),
     [pod(S1, "node1", HARD_AFFINITY), pod(S2, "node2", HARD_AFFINITY)], nodes_of(CHINA, INDIA, AZ1), None,
     [MAX, MAX, 0]),
    ("anti-affinity: a node without matching pods scores high", pod(S1, affinity=AWAY_S1_AZ),
     [pod(S1, "node1"), pod(S2, "node2")], nodes_of(AZ1, CHINA), None, [0, MAX]),
    ("anti-affinity: a node without the topology key scores high", pod(S1, affinity=AWAY_S1_AZ),
     [pod(S1, "node1"), pod(S1, "node2")], nodes_of(AZ1, CHINA), None, [0, MAX]),
    ("anti-affinity: more matching pods score lower", pod(S1, affinity=AWAY_S1_AZ),
     [pod(S1, "node1"), pod(S1, "node1"), pod(S2, "node2")], nodes_of(AZ1, INDIA), None, [0, MAX]),
    ("anti-affinity symmetry", pod(S2),
     [pod(S1, "node1", AWAY_S2_AZ), pod(S2, "node2", AWAY_S1_AZ)], nodes_of(AZ1, AZ2), None, [0, MAX]),
    ("affinity and anti-affinity", pod(S1, affinity=STAY_S1_AWAY_S2),
     [pod(S1, "node1"), pod(S1, "node2")], nodes_of(CHINA, AZ1), None, [MAX, 0]),
    ("affinity and anti-affinity, same labels", pod(S1, affinity=STAY_S1_AWAY_S2),
     [pod(S1, "node1"), pod(S1, "node1"), pod(S1, "node2"), pod(S1, "node3"), pod(S1, "node3"),
      pod(S1, "node4"), pod(S1, "node5")], nodes_of(CHINA_AZ1, INDIA, CHINA, CHINA, INDIA), None,
     [MAX, 0, MAX, MAX, 0]),
    ("affinity, anti-affinity and symmetry", pod(S1, affinity=STAY_S1_AWAY_S2),
     [pod(S1, "node1"), pod(S2, "node2"), pod({}, "node3", STAY_S1_AWAY_S2), pod({}, "node4", AWAY_S1_AZ)],
     nodes_of(CHINA, AZ1, INDIA, AZ2), None, [MAX, 0, MAX, 0]),
    ("partial nodes in a topology without pods with affinity", pod(S1),
     [pod(S1, "node1"), pod({}, "node2", STAY_S1_AWAY_S2)], nodes_of(CHINA, CHINA), None, [0, 0]),
    ("hardPodAffinityWeight 0 ignores existing required affinity", pod(S1),
     [pod(S1, "node1", HARD_AFFINITY)], nodes_of(CHINA, INDIA), {"hardPodAffinityWeight": 0}, Code.SKIP),
    ("ignorePreferredTermsOfExistingPods", pod(S2),
     [pod(S1, "node1", STAY_S1_REGION), pod(S2, "node2", STAY_S2_REGION)], nodes_of(CHINA, INDIA),
     {"ignorePreferredTermsOfExistingPods": True}, Code.SKIP),
    ("no affinity anywhere", pod(S1), [pod(S1, "node1")], nodes_of(CHINA, INDIA), None, Code.SKIP),
]


@pytest.mark.parametrize("name,p,pods,nodes,args,want", PREFERRED_CASES, ids=[c[0] for c in PREFERRED_CASES])
def test_preferred_affinity(name, p, pods, nodes, args, want):
    got = run_score(nodes, pods, p, args)
    if isinstance(want, Code):
        assert got.code == want
    else:
        assert got == want


def test_invalid_preferred_terms_fail_pre_score():
    bad = preferred([(8, term(sel("security", "In", "{{.bad-value.}}"), "region"))])
    status = run_score(nodes_of(CHINA, CHINA), [], pod(affinity=bad))
    assert status.code == Code.ERROR
    assert '"{{.bad-value.}}"' in status.message()


@pytest.mark.parametrize("weight,want", [(1, [66, 0, MAX]), (2, [80, 0, MAX])])
def test_hard_pod_affinity_weight(weight, want):
    # Both required terms of the placed pod match the incoming pod: China gets 2*weight. The incoming
    # pod's preferred anti-affinity (weight 1, by az) takes 1 from az1.
    # Raw: node1 (China, az1) 2w-1, node2 (India, az1) -1, node3 (China) 2w; 100*(s-min)/(max-min).
    away = preferred(anti=[(1, term(sel("security", "In", "S1"), "az"))])
    nodes = nodes_of({**CHINA, **AZ1}, {**INDIA, **AZ1}, CHINA)
    got = run_score(nodes, [pod(S1, "node1", HARD_AFFINITY)], pod(S1, affinity=away),
                    {"hardPodAffinityWeight": weight})
    assert got == want


def test_registration_and_events():
    assert PLUGINS["InterPodAffinity"] is InterPodAffinity
    events = InterPodAffinity(Handle(Snapshot())).events_to_register()
    assert {"AssignedPodDelete", "NodeLabelChange"} <= set(events)


def test_affinity_index_follows_cache_generations():
    # NodeInfos from the scheduler cache carry generations; the index rescans a node only when
    # its generation changes, and answers a whole snapshot once per snapshot generation.
    snap = snapshot(ZONES, [pod(S2, "n1")])
    for i, info in enumerate(snap):
        info.generation = i + 1
    snap.generation = 3
    pl = InterPodAffinity(Handle(snap))
    p = pod(S1)
    assert pl.pre_filter(CycleState(), p)[1].code == Code.SKIP
    blocker = pod(S2, "n3", affinity=required(anti=[term(sel("security", "In", "S1"), "zone")]))
    n3 = snap.get("n3")
    n3.add_pod(PodInfo.of(blocker))
    n3.generation, snap.generation = 4, 4
    snap.mark_dirty("n3")  # as Cache.update_snapshot does for a NodeInfo it overwrites
    assert pl.index.nodes(snap)[0][0] is n3
    assert filter_all(pl, p) == {"n1": OK, "n2": OK, "n3": EXISTING}
    n3.remove_pod(blocker["metadata"]["uid"])
    n3.generation, snap.generation = 5, 5
    snap.mark_dirty("n3")
    assert pl.pre_filter(CycleState(), p)[1].code == Code.SKIP
