"""The batch (vectorised) Filter/Score path must place every pod exactly where the node-by-node
path does: same chosen node (with the same seeded tie-breaking), same nodes evaluated, same
scores, and on failure the same per-node statuses (the FailedScheduling histogram).

Random clusters (resources, extended resources, taints, cordons, images) and random pods are
scheduled by two frameworks over two caches fed the same events; one has `batch = False`.
Nodes change between pods, so the node table's incremental refresh is exercised too."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

from kubeling.scheduler import framework as fw
from kubeling.scheduler import plugins as _plugins  # noqa: F401 - registers every plugin
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.config import ProfileConfig, build_framework
from kubeling.scheduler.runtime import FitError, Framework

GPU = "example.com/gpu"
IMAGES = ("nginx:1.25", "registry.k8s.io/pause:3.10", "busybox")
MB = 1024 * 1024


def random_node(rng: random.Random, i: int, roomy: bool = False) -> dict[str, Any]:
    """A node of random size; a roomy one fits nearly every pod (so searches stop early)."""
    if roomy:
        alloc = {"cpu": rng.choice(["32", "64"]), "memory": "64Gi", "pods": "110"}
    else:
        alloc = {"cpu": rng.choice(["0", "1", "2", "4", "3500m"]), "memory": rng.choice(["0", "1Gi", "4Gi", "8Gi"]),
                 "pods": rng.choice(["0", "3", "10", "110"])}
    if rng.random() < 0.5:
        alloc["ephemeral-storage"] = rng.choice(["0", "1Gi", "10Gi"])
    if rng.random() < 0.4:
        alloc[GPU] = rng.choice(["0", "1", "4"])
    if rng.random() < 0.2:
        alloc["hugepages-2Mi"] = "1Gi"
    spec: dict[str, Any] = {}
    if rng.random() < (0.01 if roomy else 0.2):
        spec["taints"] = [{"key": rng.choice(["dedicated", "gpu"]), "value": rng.choice(["", "x"]),
                           "effect": rng.choice(["NoSchedule", "PreferNoSchedule", "NoExecute"])}
                          for _ in range(rng.randint(1, 2))]
    if rng.random() < (0.005 if roomy else 0.1):
        spec["unschedulable"] = True
    status: dict[str, Any] = {"allocatable": alloc}
    if rng.random() < 0.3:
        status["images"] = [{"names": [rng.choice(IMAGES)], "sizeBytes": rng.choice([10, 300, 900]) * MB}]
    name = f"node-{i:03d}"
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "topology.kubernetes.io/zone": f"z{i % 3}"}},
            "spec": spec, "status": status}


def _requests(rng: random.Random) -> dict[str, str]:
    out = {}
    if rng.random() < 0.7:
        out["cpu"] = rng.choice(["100m", "500m", "1", "2"])
    if rng.random() < 0.7:
        out["memory"] = rng.choice(["128Mi", "1Gi", "3Gi"])
    if rng.random() < 0.2:
        out["ephemeral-storage"] = rng.choice(["1Gi", "5Gi"])
    if rng.random() < 0.2:
        out[GPU] = rng.choice(["1", "2"])
    return out


def random_pod(rng: random.Random, i: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"priority": rng.choice([0, 0, 10]), "containers": [
        {"name": f"c{j}", "image": rng.choice(IMAGES), "resources": {"requests": _requests(rng)}}
        for j in range(rng.randint(1, 2))]}
    if rng.random() < 0.2:
        spec["initContainers"] = [{"name": "init", "image": "busybox", "resources": {"requests": _requests(rng)}}]
    if rng.random() < 0.3:
        spec["tolerations"] = [{"key": rng.choice(["dedicated", "gpu", ""]), "operator": "Exists"}]
    if rng.random() < 0.03:
        spec["nodeName"] = f"node-{rng.randrange(40):03d}"
    return {"metadata": {"name": f"p{i}", "namespace": "default", "uid": f"uid-{i}"}, "spec": spec}


class Side:
    """One framework over its own cache and snapshot, recording what schedule() decides."""

    def __init__(self, cfg: ProfileConfig, nodes: list[dict], batch: bool, nominated: dict[str, list[fw.PodInfo]]):
        self.cache = Cache()
        for n in nodes:
            self.cache.add_node(n)
        self.snapshot = fw.Snapshot()
        handle = fw.Handle(self.snapshot)
        self.framework: Framework = build_framework(cfg, handle, random.Random(7))
        handle.framework = self.framework
        self.framework.batch = batch
        self.framework.nominator = lambda name: list(nominated.get(name, []))
        if batch:  # the reference looks nominated pods up node by node
            self.framework.nominated_node_names = nominated.keys
        self.totals: dict[str, int] = {}
        score = self.framework._score_totals

        def recording(state: fw.CycleState, pod: dict, nodes: list[fw.NodeInfo]):
            totals = score(state, pod, nodes)
            self.totals = dict(zip([n.name for n in nodes], totals.tolist(), strict=True))
            return totals

        self.framework._score_totals = recording  # type: ignore[method-assign]

    def schedule(self, pod: dict) -> tuple:
        self.cache.update_snapshot(self.snapshot)
        self.totals = {}
        try:
            r = self.framework.schedule(fw.CycleState(), pod)
        except FitError as e:
            d = e.diagnosis
            statuses = {name: (s.code, tuple(s.reasons), s.plugin) for name, s in d.node_statuses.items()}
            return "unschedulable", e.message(), statuses, sorted(d.unschedulable_plugins)
        return "scheduled", r.node, r.evaluated_nodes, r.feasible_nodes, self.totals


PROFILES = {
    "default": ProfileConfig(),
    "most-allocated": ProfileConfig(plugin_args={"NodeResourcesFit": {"scoringStrategy": {
        "type": "MostAllocated", "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1},
                                               {"name": GPU, "weight": 5}]}}}),
    "requested-to-capacity": ProfileConfig(plugin_args={
        "NodeResourcesFit": {"scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 1},
                          {"name": "ephemeral-storage", "weight": 1}, {"name": GPU, "weight": 3}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10}, {"utilization": 30, "score": 3},
                                                   {"utilization": 70, "score": 8},
                                                   {"utilization": 100, "score": 0}]}}},
        "NodeResourcesBalancedAllocation": {"resources": [
            {"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"}, {"name": GPU}]}}),
}


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("num_nodes, percentage, seed, roomy", [
    (40, None, 1, False),  # every node searched
    (260, 40, 2, False),  # searches stop after 104 feasible nodes, most nodes full
    (260, None, 3, False),
    (300, 40, 4, True),  # most nodes fit: batch chunks run past the end of the search
])
def test_batch_and_node_by_node_agree(profile, num_nodes, percentage, seed, roomy):
    rng = random.Random(seed)
    cfg = PROFILES[profile]
    cfg = ProfileConfig(plugin_args=cfg.plugin_args, percentage_of_nodes_to_score=percentage)
    nodes = [random_node(rng, i, roomy) for i in range(num_nodes)]
    nominated: dict[str, list[fw.PodInfo]] = {}
    ref, got = Side(cfg, nodes, False, nominated), Side(cfg, nodes, True, nominated)
    placed: list[dict] = []
    outcomes = set()
    for i in range(160):
        event = rng.random()
        if event < 0.08:  # a node changes (allocatable, taints, cordon, images)
            changed = random_node(rng, rng.randrange(num_nodes), roomy)
            for side in (ref, got):
                side.cache.update_node(changed)
        elif event < 0.14 and placed:  # a pod goes away
            gone = placed.pop(rng.randrange(len(placed)))
            for side in (ref, got):
                side.cache.forget_pod(gone)
        elif nominated and event < 0.4:  # the preemptors got their nodes
            nominated.clear()
        elif event < 0.45:  # a preemptor is nominated to a node
            nominated[f"node-{rng.randrange(num_nodes):03d}"] = [fw.PodInfo.of(random_pod(rng, 10_000 + i) | {"spec": {
                    "priority": 100, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}})]
        pod = random_pod(rng, i)
        want, have = ref.schedule(pod), got.schedule(pod)
        assert have == want, f"pod {i}"
        outcomes.add(want[0])
        if want[0] == "scheduled":
            bound = {**pod, "spec": {**pod["spec"], "nodeName": want[1]}}
            for side in (ref, got):
                side.cache.assume_pod(bound)
            placed.append(bound)
    assert "scheduled" in outcomes and (roomy or "unschedulable" in outcomes)  # both paths exercised


def test_batch_path_is_taken():
    # Guard against a silently dead batch path: the snapshot's table must be built and used.
    rng = random.Random(5)
    nodes = [random_node(rng, i) for i in range(50)]
    side = Side(ProfileConfig(), nodes, True, {})
    side.schedule(random_pod(rng, 0))
    assert side.snapshot.table is not None and len(side.snapshot.table.infos) == 50


def test_nodes_filtered_past_the_end_of_the_search_are_dropped():
    # 300 nodes, 40%: the search stops at 120 feasible nodes. One cordoned node in the first
    # chunk leaves 1 to find; the batch path filters a whole chunk of 64 more, but only the
    # first counts, and the next search starts right after it, as node by node.
    rng = random.Random(9)
    nodes = [random_node(rng, i, roomy=True) for i in range(300)]
    for n in nodes:
        n["spec"] = {}
    nodes[5]["spec"]["unschedulable"] = True
    cfg = ProfileConfig(percentage_of_nodes_to_score=40)
    ref, got = Side(cfg, nodes, False, {}), Side(cfg, nodes, True, {})
    for i in range(4):
        pod = {"metadata": {"name": f"p{i}", "namespace": "default", "uid": f"u{i}"},
               "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}
        want, have = ref.schedule(pod), got.schedule(pod)
        assert have == want
        assert got.framework._next_start == ref.framework._next_start
        if i == 0:
            assert want[2:4] == (121, 120)  # evaluated, feasible


@pytest.mark.parametrize("values", [range(3), range(-3, 2), range(100, 103), range(0, 300, 7)])
def test_select_host_picks_a_highest_scoring_node(values):
    data = random.Random(1)
    f = Framework("p", {}, {}, None, fw.Handle(fw.Snapshot()), random.Random(11))
    assert f._select_host({}) == ""
    for size in (1, 2, 5, 50, 500):
        for _ in range(20):
            totals = {f"n{i}": data.choice(values) for i in range(size)}
            assert totals[f._select_host(totals)] == max(totals.values())


def test_select_host_breaks_ties_uniformly_as_reservoir_sampling_does():
    """kube-scheduler's selectHost keeps each of k tying nodes with probability 1/k."""
    f = Framework("p", {}, {}, None, fw.Handle(fw.Snapshot()), random.Random(3))
    totals = {"low": 1, "a": 7, "b": 7, "c": 7, "d": 2}
    picks = Counter(f._select_host(totals) for _ in range(3000))
    assert set(picks) == {"a", "b", "c"}
    assert all(850 < n < 1150 for n in picks.values()), picks  # 1000 each, sd ~26


def test_select_host_with_a_custom_generator_uses_its_randrange():
    class Counting(random.Random):
        calls = 0

        def randrange(self, *args, **kwargs):
            Counting.calls += 1
            return super().randrange(*args, **kwargs)

    f = Framework("p", {}, {}, None, fw.Handle(fw.Snapshot()), Counting(2))
    assert f._select_host({"a": 5, "b": 5, "c": 5}) in {"a", "b", "c"}
    assert f._select_host({"a": 5, "b": 6, "c": 5}) == "b"
    assert Counting.calls == 1  # one draw among the ties, none without


@pytest.mark.parametrize("counts", [[], [0, 0], [0, 1, 2, 3], [3, 7, 0, 5, 1], [1]])
def test_taint_normalization_in_arrays_equals_the_dict_form(counts):
    from kubeling.scheduler.plugins.taint_toleration import TaintToleration
    pl = TaintToleration(fw.Handle(fw.Snapshot()))
    by_name = {f"n{i}": c for i, c in enumerate(counts)}
    pl.normalize_score(fw.CycleState(), {}, by_name)
    got = pl.normalize_score_array(fw.CycleState(), {}, np.array(counts, dtype=np.int64))
    assert got.tolist() == list(by_name.values())


def test_numbers_beyond_int64_safety_fall_back_to_the_per_node_path():
    from kubeling.scheduler.plugins.node_resources_fit import NodeResourcesFit
    cache = Cache()
    for name, gpus in (("small", "1"), ("huge", "100P")):  # 1e17 is past the int64-safe bound
        cache.add_node({"metadata": {"name": name}, "status": {"allocatable": {
            "cpu": "4", "memory": "8Gi", "pods": "10", GPU: gpus}}})
    snap = cache.snapshot()
    pl = NodeResourcesFit(fw.Handle(snap))
    pod = {"metadata": {"name": "p", "uid": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {GPU: "2"}}}]}}
    state = fw.CycleState()
    pl.pre_filter(state, pod)
    got = pl.filter_nodes(state, pod, snap.node_infos)
    assert [s and s.reasons for s in got] == [[f"Insufficient {GPU}"], None]
    assert not snap.table.safe
