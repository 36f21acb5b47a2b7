"""The scheduling algorithm's shortcuts must change nothing: the scorers' forms for nodes that
all have every resource, the node table's derived columns and flags, the rotated node order the
search walks without copying, the all-pass filter answers, the per-cycle pod requests, and
InterPodAffinity's skips for pods without terms."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kubeling.scheduler import framework as fw
from kubeling.scheduler import node_table
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.config import ProfileConfig
from kubeling.scheduler.plugins import resource_batch as rb
from kubeling.scheduler.plugins import resource_scoring as rs
from kubeling.scheduler.plugins.inter_pod_affinity import InterPodAffinity
from kubeling.scheduler.runtime import _Rotation
from tests.unit.scheduler.test_batch_equivalence import Side, random_pod

GPU = "example.com/gpu"


def present_cases(n_resources: int, seed: int, n: int = 400) -> list[tuple[list[int], list[int]]]:
    """(requested, allocatable) per node with no allocatable 0; over capacity now and then."""
    rng = random.Random(seed)
    out = [([0] * n_resources, [1] * n_resources), ([1] * n_resources, [1] * n_resources),
           ([2] * n_resources, [1] * n_resources), ([1, 2, 3, 4][:n_resources], [3] * n_resources)]
    for _ in range(n):
        alloc = [rng.choice([1, 3, 7, 1000, 4000, 2 ** 33]) for _ in range(n_resources)]
        out.append(([rng.randint(0, a * 2 + 1) for a in alloc], alloc))
    return out


def as_columns(rows: list[tuple[list[int], list[int]]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    k = len(rows[0][1])
    return ([np.array([r[i] for r, _ in rows], dtype=np.int64) for i in range(k)],
            [np.array([a[i] for _, a in rows], dtype=np.int64) for i in range(k)])


WEIGHTS = {1: [rs.ResourceSpec("cpu", 1)],
           2: [rs.ResourceSpec("cpu", 1), rs.ResourceSpec("memory", 1)],
           3: [rs.ResourceSpec("cpu", 3), rs.ResourceSpec("memory", 1), rs.ResourceSpec(GPU, 7)]}


@pytest.mark.parametrize("k", sorted(WEIGHTS))
@pytest.mark.parametrize("kind", ["least", "most", "balanced"])
def test_scorers_for_nodes_with_every_resource_equal_the_per_node_ones(kind, k):
    resources = WEIGHTS[k]
    scalar, batch = {
        "least": (rs.least_allocated(resources), rb._weighted(rb._least, resources)),
        "most": (rs.most_allocated(resources), rb._weighted(rb._most, resources)),
        "balanced": (rs.balanced, rb.balanced),
    }[kind]
    rows = present_cases(k, seed=k * 31 + len(kind))
    want = [scalar(*row) for row in rows]
    for flag in (True, None):  # told, or found by looking
        assert batch(*as_columns(rows), all_present=flag).tolist() == want


def test_a_node_without_a_resource_takes_the_masked_form():
    # Told nothing, the scorer looks: one node lacks memory, so the fast form must not be used.
    rows = [([1, 5], [4, 0]), ([1, 1], [4, 4])]
    resources = WEIGHTS[2]
    assert rb._weighted(rb._least, resources)(*as_columns(rows)).tolist() == \
        [rs.least_allocated(resources)(*row) for row in rows]
    assert rb.balanced(*as_columns(rows)).tolist() == [rs.balanced(*row) for row in rows]


# ---- the node table ------------------------------------------------------------------------------


def _node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "10") -> dict:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "10Gi"}}}


def _pod(name: str, node: str, cpu: str = "500m", affinity: dict | None = None) -> dict:
    spec: dict = {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
    if affinity:
        spec["affinity"] = affinity
    return {"metadata": {"name": name, "namespace": "default", "uid": name, "labels": {"app": "x"}}, "spec": spec}


def _cached(nodes: list[dict]) -> tuple[Cache, fw.Snapshot]:
    cache, snap = Cache(), fw.Snapshot()
    for n in nodes:
        cache.add_node(n)
    cache.update_snapshot(snap)
    return cache, snap


def test_free_columns_and_nonzero_flags_follow_the_cache():
    cache, snap = _cached([_node(f"n{i}") for i in range(4)])
    table = node_table.of(snap)
    assert table.nonzero == {"alloc_cpu": True, "alloc_mem": True, "alloc_eph": True}
    cache.assume_pod(_pod("a", "n1"))
    cache.assume_pod(_pod("b", "n1", cpu="1"))
    cache.update_node(_node("n2", cpu="0"))
    cache.update_snapshot(snap)
    table = node_table.of(snap)
    for free, alloc, used in node_table.FREE_COLUMNS:
        assert table.cols[free].tolist() == (table.cols[alloc] - table.cols[used]).tolist()
    assert table.cols["free_cpu"].tolist()[1] == 4000 - 1500
    assert table.cols["free_pods"].tolist()[1] == 8
    assert table.nonzero["alloc_cpu"] is False and table.nonzero["alloc_mem"] is True


def test_a_node_list_column_is_read_again_when_the_table_changes():
    cache, snap = _cached([_node(f"n{i}") for i in range(3)])
    table = node_table.of(snap)
    nodes = table.node_list(list(snap.node_infos), np.arange(3), slice(0, 3))
    assert nodes.column("req_cpu").tolist() == [0, 0, 0]
    cache.assume_pod(_pod("a", "n0"))
    cache.update_snapshot(snap)  # the same list: the NodeInfo is overwritten in place
    assert node_table.of(snap) is table
    assert nodes.column("req_cpu").tolist() == [500, 0, 0]


# ---- the rotated order ---------------------------------------------------------------------------


@pytest.mark.parametrize("start", [0, 3, 9])
def test_rotation_slices_are_the_rotated_list(start):
    _, snap = _cached([_node(f"n{i}") for i in range(10)])
    infos = snap.node_infos
    table = node_table.of(snap)
    rotated = infos[start:] + infos[:start]
    order = _Rotation(infos, start, table)
    assert len(order) == 10 and [order[i] for i in range(10)] == rotated and order[-1] is rotated[-1]
    for lo, hi in ((0, 10), (0, 4), (2, 9), (5, 15), (7, 7)):
        part = order[lo:hi]
        assert list(part) == rotated[lo:hi]
        assert table.rows(part).tolist() == [infos.index(n) for n in rotated[lo:hi]]
        if part.span is not None:
            assert part.rows.tolist() == list(range(len(infos)))[part.span]
    for positions in ([0, 1, 2, 3], [1, 4, 8], [6, 7, 8, 9], []):
        got = order.feasible(positions)
        assert list(got) == [rotated[i] for i in positions]
        assert table.rows(got).tolist() == [infos.index(rotated[i]) for i in positions]


# ---- filters and requests ------------------------------------------------------------------------


def test_all_pass_is_a_list_of_nones_the_framework_recognises():
    passed = fw.all_pass(3)
    assert passed == [None, None, None] and fw.none_rejected(passed)
    assert fw.none_rejected([None, None]) and not fw.none_rejected([None, fw.unschedulable("x")])


@pytest.mark.parametrize("spec", [
    {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "128Mi", GPU: "1"}}}]},
    {"containers": [{"name": "a"}, {"name": "b", "resources": {"requests": {"cpu": "1"}}}]},
    {"containers": []},
    {},
    {"containers": [{"name": "a", "resources": {"requests": {"cpu": "-1", "memory": "-5"}}}]},  # floored at 0
])
@pytest.mark.parametrize("non_missing", [False, True])
def test_pod_requests_without_init_containers_match_the_full_formula(spec, non_missing):
    # An overhead that adds nothing sends the pod through the full formula.
    full = {"spec": {**spec, "overhead": {"pods": "0"}}}
    assert fw.pod_requests({"spec": spec}, non_missing) == fw.pod_requests(full, non_missing)


def test_cycle_pod_requests_are_computed_once_and_survive_clones():
    pod = _pod("a", "")
    state = fw.CycleState()
    first = fw.cycle_pod_requests(state, pod)
    assert fw.cycle_pod_requests(state, pod) is first
    assert fw.cycle_pod_requests(state.clone(), pod) is first
    assert fw.cycle_pod_requests(state, pod, non_missing=True).memory == fw.DEFAULT_MEMORY_REQUEST
    other = {**pod}
    assert fw.cycle_pod_requests(state, other) is not first  # another pod: computed again


# ---- InterPodAffinity's skips --------------------------------------------------------------------


ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}
PREFERRED = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": {
    "labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}}]}}


def _plugin(placed: list[dict]) -> tuple[InterPodAffinity, fw.Snapshot]:
    cache, snap = _cached([_node(f"n{i}") for i in range(3)])
    for p in placed:
        cache.assume_pod(p)
    cache.update_snapshot(snap)
    return InterPodAffinity(fw.Handle(snap)), snap


def test_a_pod_without_terms_skips_when_no_placed_pod_has_any():
    plugin, snap = _plugin([_pod("a", "n0")])
    _, status = plugin.pre_filter(fw.CycleState(), _pod("new", ""))
    assert status.code == fw.Code.SKIP
    assert plugin.pre_score(fw.CycleState(), _pod("new", ""), snap.node_infos).code == fw.Code.SKIP


def test_placed_required_anti_affinity_still_filters_a_pod_without_terms():
    plugin, snap = _plugin([_pod("a", "n0", affinity=ANTI)])
    state = fw.CycleState()
    _, status = plugin.pre_filter(state, _pod("new", ""))
    assert status.ok
    assert not plugin.filter(state, _pod("new", ""), snap.node_infos[0]).ok
    assert plugin.filter(state, _pod("new", ""), snap.node_infos[1]).ok


def test_placed_preferred_terms_still_score_a_pod_without_terms():
    plugin, snap = _plugin([_pod("a", "n0", affinity=PREFERRED)])
    state = fw.CycleState()
    assert plugin.pre_score(state, _pod("new", ""), snap.node_infos).ok
    assert plugin.score(state, _pod("new", ""), snap.node_infos[0])[0] == 5


# ---- the whole algorithm, on clusters where every node has every resource ---------------------------


def roomy_node(rng: random.Random, i: int) -> dict:
    name = f"node-{i:03d}"
    alloc = {"cpu": rng.choice(["2", "8", "32"]), "memory": rng.choice(["4Gi", "64Gi"]), "pods": rng.choice(["5", "110"]),
             "ephemeral-storage": rng.choice(["1Gi", "100Gi"])}
    spec = {"unschedulable": True} if rng.random() < 0.03 else {}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "topology.kubernetes.io/zone": f"z{i % 3}"}},
            "spec": spec, "status": {"allocatable": alloc}}


FULL_PROFILES = {
    "default": ProfileConfig(),
    "most-allocated, three resources": ProfileConfig(plugin_args={
        "NodeResourcesFit": {"scoringStrategy": {"type": "MostAllocated", "resources": [
            {"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}, {"name": "ephemeral-storage", "weight": 2}]}},
        "NodeResourcesBalancedAllocation": {"resources": [
            {"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"}]}}),
}


@pytest.mark.parametrize("profile", sorted(FULL_PROFILES))
@pytest.mark.parametrize("num_nodes, percentage, seed", [(150, None, 1), (300, 30, 2)])
def test_batch_and_node_by_node_agree_where_every_node_has_every_resource(profile, num_nodes, percentage, seed):
    rng = random.Random(seed)
    base = FULL_PROFILES[profile]
    cfg = ProfileConfig(plugin_args=base.plugin_args, percentage_of_nodes_to_score=percentage)
    nodes = [roomy_node(rng, i) for i in range(num_nodes)]
    ref, got = Side(cfg, nodes, False, {}), Side(cfg, nodes, True, {})
    for i in range(120):
        if rng.random() < 0.05:
            changed = roomy_node(rng, rng.randrange(num_nodes))
            for side in (ref, got):
                side.cache.update_node(changed)
        pod = random_pod(rng, i)
        pod["spec"].pop("nodeName", None)
        want, have = ref.schedule(pod), got.schedule(pod)
        assert have == want, f"pod {i}"
        if want[0] == "scheduled":
            for side in (ref, got):
                side.cache.assume_pod({**pod, "spec": {**pod["spec"], "nodeName": want[1]}})
    assert node_table.of(got.snapshot).nonzero["alloc_cpu"]  # the shortcut was on
