"""PodTopologySpread and InterPodAffinity count matching pods from the node table's columns
(kept per selector as the cache changes); with the framework's `batch` off they walk every
node's pods, as before. Both must place every pod identically: same node (same seeded
tie-breaking), same nodes evaluated, same scores, and on failure the same per-node statuses.

Random clusters (zones, regions, hostnames, some labels missing, taints) and random pods
(owned by a ReplicaSet or selected by a Service, so the system default constraints apply; own
hard and soft spread constraints with every policy; node selectors; pod affinity and
anti-affinity terms) are scheduled by two frameworks over two caches fed the same events.
Between pods, nodes are relabelled, pods go away, change labels or start terminating, so the
columns' row-by-row upkeep is exercised too."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kubeling.client.cache import Indexer
from kubeling.scheduler import framework as fw
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.config import ProfileConfig
from tests.unit.scheduler.test_batch_equivalence import Side

APPS = ("web", "db", "cache")
NAMESPACES = ("ns-a", "ns-b")
KEYS = ("kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "rack")


def random_node(rng: random.Random, i: int) -> dict[str, Any]:
    name = f"node-{i:03d}"
    labels = {}
    if rng.random() < 0.95:
        labels["kubernetes.io/hostname"] = name
    if rng.random() < 0.85:
        labels["topology.kubernetes.io/zone"] = rng.choice(["z0", "z1", "z2", ""])
    if rng.random() < 0.5:
        labels["topology.kubernetes.io/region"] = rng.choice(["r0", "r1"])
    if rng.random() < 0.3:
        labels["rack"] = rng.choice(["k0", "k1"])
    if rng.random() < 0.3:
        labels["disk"] = "ssd"
    spec: dict[str, Any] = {}
    if rng.random() < 0.15:
        spec["taints"] = [{"key": rng.choice(["dedicated", "gpu"]), "effect": rng.choice(["NoSchedule", "NoExecute"])}]
    alloc = {"cpu": rng.choice(["4", "8", "16"]), "memory": "32Gi", "pods": rng.choice(["5", "20", "110"])}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec, "status": {"allocatable": alloc}}


def _selector(rng: random.Random) -> dict[str, Any]:
    r = rng.random()
    if r < 0.5:
        return {"matchLabels": {"app": rng.choice(APPS)}}
    if r < 0.7:
        return {"matchExpressions": [{"key": "app", "operator": "In", "values": rng.sample(APPS, 2)}]}
    if r < 0.85:
        return {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    return {}


def _spread(rng: random.Random) -> dict[str, Any]:
    c: dict[str, Any] = {"maxSkew": rng.randint(1, 3), "topologyKey": rng.choice(KEYS),
                         "whenUnsatisfiable": rng.choice(["DoNotSchedule", "ScheduleAnyway"]),
                         "labelSelector": _selector(rng)}
    if rng.random() < 0.2:
        c["minDomains"] = rng.randint(1, 4)
    if rng.random() < 0.3:
        c["nodeAffinityPolicy"] = rng.choice(["Honor", "Ignore"])
    if rng.random() < 0.3:
        c["nodeTaintsPolicy"] = rng.choice(["Honor", "Ignore"])
    if rng.random() < 0.2:
        c["matchLabelKeys"] = ["tier"]
    return c


def _term(rng: random.Random) -> dict[str, Any]:
    t: dict[str, Any] = {"labelSelector": _selector(rng),
                         "topologyKey": rng.choice(("kubernetes.io/hostname", "topology.kubernetes.io/zone"))}
    r = rng.random()
    if r < 0.2:
        t["namespaces"] = [rng.choice(NAMESPACES)]
    elif r < 0.35:
        t["namespaceSelector"] = rng.choice([{}, {"matchLabels": {"team": "a"}}])
    return t


def _affinity(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("podAffinity", "podAntiAffinity"):
        if rng.random() < 0.5:
            continue
        terms: dict[str, Any] = {}
        if rng.random() < 0.4:
            terms["requiredDuringSchedulingIgnoredDuringExecution"] = [_term(rng) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.7:
            terms["preferredDuringSchedulingIgnoredDuringExecution"] = [
                {"weight": rng.randint(1, 100), "podAffinityTerm": _term(rng)} for _ in range(rng.randint(1, 2))]
        out[kind] = terms
    return out


def random_pod(rng: random.Random, i: int) -> dict[str, Any]:
    namespace = rng.choice(NAMESPACES)
    labels = {"app": rng.choice(APPS)}
    if rng.random() < 0.5:
        labels["tier"] = rng.choice(["front", "back"])
    md: dict[str, Any] = {"name": f"p{i}", "namespace": namespace, "uid": f"uid-{i}", "labels": labels}
    if rng.random() < 0.6:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{labels['app']}",
                                  "uid": "rs", "controller": True}]
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}
    if rng.random() < 0.3:
        spec["topologySpreadConstraints"] = [_spread(rng) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.15:
        spec["nodeSelector"] = rng.choice([{"disk": "ssd"}, {"topology.kubernetes.io/zone": "z1"}])
    elif rng.random() < 0.1:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z0", "z2"]}]}]}}}
    if rng.random() < 0.2:
        spec.setdefault("affinity", {}).update(_affinity(rng))
    if rng.random() < 0.3:
        spec["tolerations"] = [{"key": rng.choice(["dedicated", "gpu"]), "operator": "Exists"}]
    return {"metadata": md, "spec": spec}


def listers() -> dict[str, Indexer]:
    """The ReplicaSets owning the pods, a Service selecting some, the namespaces' labels."""
    objects = {
        "ReplicaSet": [{"metadata": {"name": f"rs-{app}", "namespace": ns},
                        "spec": {"selector": {"matchLabels": {"app": app}}}}
                       for ns in NAMESPACES for app in APPS if app != "cache"],
        "Service": [{"metadata": {"name": "db", "namespace": "ns-a"}, "spec": {"selector": {"app": "db"}}},
                    {"metadata": {"name": "front", "namespace": "ns-b"}, "spec": {"selector": {"tier": "front"}}}],
        "Namespace": [{"metadata": {"name": "ns-a", "labels": {"team": "a"}}}, {"metadata": {"name": "ns-b"}}],
    }
    out = {}
    for kind, objs in objects.items():
        out[kind] = Indexer()
        out[kind].replace(objs)
    return out


def side(cfg: ProfileConfig, nodes: list[dict], batch: bool, nominated: dict[str, list[fw.PodInfo]]) -> Side:
    s = Side(cfg, nodes, batch, nominated)
    s.framework.handle.listers = listers()
    return s


HARD_DEFAULTS = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"},
                 {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}]
PROFILES = {
    "default": {},
    "list-defaults": {"PodTopologySpread": {"defaultingType": "List", "defaultConstraints": HARD_DEFAULTS},
                      "InterPodAffinity": {"hardPodAffinityWeight": 5}},
    "ignore-preferred-of-existing": {"InterPodAffinity": {"ignorePreferredTermsOfExistingPods": True}},
}


def _changed_labels(rng: random.Random, pod: dict) -> dict:
    """The pod as an update leaves it: new labels, or terminating."""
    md = dict(pod["metadata"])
    if rng.random() < 0.5:
        md["labels"] = {**md["labels"], "app": rng.choice(APPS)}
    else:
        md["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {**pod, "metadata": md}


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("num_nodes, percentage, seed", [(30, None, 1), (150, 30, 2), (150, None, 3)])
def test_table_counts_and_node_by_node_counts_agree(profile, num_nodes, percentage, seed):
    rng = random.Random(seed)
    cfg = ProfileConfig(plugin_args=PROFILES[profile], percentage_of_nodes_to_score=percentage)
    nodes = [random_node(rng, i) for i in range(num_nodes)]
    nominated: dict[str, list[fw.PodInfo]] = {}
    ref, got = side(cfg, nodes, False, nominated), side(cfg, nodes, True, nominated)
    placed: list[dict] = []
    confirmed: set[str] = set()  # uids the informer has added (no longer only assumed)
    outcomes = set()
    for i in range(220):
        event = rng.random()
        if event < 0.06:  # a node is relabelled (or gets other taints)
            changed = random_node(rng, rng.randrange(num_nodes))
            for s in (ref, got):
                s.cache.update_node(changed)
        elif event < 0.10 and placed:  # a pod goes away
            gone = placed.pop(rng.randrange(len(placed)))
            for s in (ref, got):
                if gone["metadata"]["uid"] in confirmed:
                    s.cache.remove_pod(gone)
                else:
                    s.cache.forget_pod(gone)
        elif event < 0.16 and placed:  # a bound pod changes labels or starts terminating
            at = rng.randrange(len(placed))
            old = placed[at]
            new = placed[at] = _changed_labels(rng, old)
            for s in (ref, got):
                if old["metadata"]["uid"] not in confirmed:
                    s.cache.add_pod(old)  # the informer confirms the assumed pod...
                s.cache.update_pod(old, new)  # ...then updates it
            confirmed.add(old["metadata"]["uid"])
        elif nominated and event < 0.3:
            nominated.clear()
        elif event < 0.34:  # a preemptor is nominated to a node
            preemptor = random_pod(rng, 10_000 + i)
            preemptor["spec"]["priority"] = 100
            nominated[f"node-{rng.randrange(num_nodes):03d}"] = [fw.PodInfo.of(preemptor)]
        pod = random_pod(rng, i)
        want, have = ref.schedule(pod), got.schedule(pod)
        assert have == want, f"pod {i}: {pod}"
        outcomes.add(want[0])
        if want[0] == "scheduled":
            bound = {**pod, "spec": {**pod["spec"], "nodeName": want[1]}}
            for s in (ref, got):
                s.cache.assume_pod(bound)
            placed.append(bound)
    assert "scheduled" in outcomes and "unschedulable" in outcomes  # both paths exercised
    # The counting columns were used (and kept up) on one side only.
    assert got.snapshot.table._pod_counts and not (ref.snapshot.table and ref.snapshot.table._pod_counts)


class _Batch:
    def __init__(self, batch: bool):
        self.batch = batch


def _spread_states(pl: Any, pod: dict, nodes: list[fw.NodeInfo]) -> tuple:
    """What PreFilter and PreScore leave in the cycle state, dicts in their order."""
    state = fw.CycleState()
    _, status = pl.pre_filter(state, pod)
    pre = state.get("PreFilterPodTopologySpread")
    pre = pre and ([list(d.items()) for d in pre.tp_value_to_match_num], [p.paths for p in pre.critical_paths])
    score_status = pl.pre_score(state, pod, nodes)
    s = state.get("PreScorePodTopologySpread")
    s = s and (sorted(s.ignored_nodes), [list(d.items()) for d in s.tp_value_to_pod_counts], s.tp_normalizing_weight)
    return status.code, pre, score_status.code, s


def _affinity_states(pl: Any, pod: dict, nodes: list[fw.NodeInfo]) -> tuple:
    state = fw.CycleState()
    _, status = pl.pre_filter(state, pod)
    pre = state.get("PreFilterInterPodAffinity")
    pre = pre and (pre.existing_anti_affinity_counts, pre.affinity_counts, pre.anti_affinity_counts)
    score_status = pl.pre_score(state, pod, nodes)
    s = state.get("PreScoreInterPodAffinity")
    return status.code, pre, score_status.code, s and s.topology_score


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pre_filter_and_pre_score_states_are_the_same(seed):
    # Beyond where pods land: the domains' order decides CriticalPaths' ties, which preemption
    # then updates pod by pod, so the states must be equal, order included.
    from kubeling.scheduler.plugins.inter_pod_affinity import InterPodAffinity
    from kubeling.scheduler.plugins.pod_topology_spread import PodTopologySpread
    rng = random.Random(seed)
    cache = Cache()
    for i in range(60):
        cache.add_node(random_node(rng, i))
    for i in range(300):
        p = random_pod(rng, i)
        p["spec"]["nodeName"] = f"node-{rng.randrange(60):03d}"
        if rng.random() < 0.1:
            p["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        cache.add_pod(p)
    snap = cache.snapshot()
    handles = []
    for batch in (False, True):
        h = fw.Handle(snap, framework=_Batch(batch), listers=listers())
        handles.append(h)
    args = PROFILES["list-defaults"]
    for i in range(150):
        pod = random_pod(rng, 1000 + i)
        nodes = rng.sample(snap.node_infos, rng.randint(1, 60))
        if rng.random() < 0.2:  # what-if copies, not rows of the table: the per-node path
            nodes = [n.clone() for n in nodes]
        for cls, states, plugin_args in ((PodTopologySpread, _spread_states, {}),
                                         (PodTopologySpread, _spread_states, args["PodTopologySpread"]),
                                         (InterPodAffinity, _affinity_states, {})):
            want, have = (states(cls(h, plugin_args), pod, nodes) for h in handles)
            assert have == want, f"pod {i} {cls.name}: {pod}"
