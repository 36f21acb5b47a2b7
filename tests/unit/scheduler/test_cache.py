"""The scheduler cache: assumed pods, placeholders, the incremental snapshot and zone order."""

from __future__ import annotations

import asyncio

import pytest

from kubeling.client.clock import FakeClock
from kubeling.scheduler.cache import Cache, CacheError, NodeTree, zone_key
from kubeling.scheduler.framework import Snapshot


def node(name: str, *, zone: str = "", region: str = "", cpu: str = "4", labels: dict | None = None) -> dict:
    lbl = dict(labels or {})
    if zone:
        lbl["topology.kubernetes.io/zone"] = zone
    if region:
        lbl["topology.kubernetes.io/region"] = region
    return {"metadata": {"name": name, "labels": lbl},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}


def pod(name: str, node_name: str, *, cpu: str = "1", phase: str = "Pending") -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"nodeName": node_name,
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": phase}}


def requested_cpu(cache_or_snap, name: str) -> int:
    info = cache_or_snap.get(name) if isinstance(cache_or_snap, Snapshot) else cache_or_snap.node_info(name)
    return info.requested.milli_cpu


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock) -> Cache:
    c = Cache(clock, assumed_ttl=30.0)
    for name in ("n1", "n2"):
        c.add_node(node(name))
    return c


# ---- assumed pods ------------------------------------------------------------------------------


def test_assumed_pod_counts_against_its_node_at_once(cache):
    cache.assume_pod(pod("p", "n1"))
    assert cache.is_assumed("uid-p")
    assert requested_cpu(cache, "n1") == 1000 and cache.pod_count() == 1


def test_forget_gives_the_room_back(cache):
    cache.assume_pod(pod("p", "n1"))
    cache.forget_pod(pod("p", "n1"))
    assert not cache.is_assumed("uid-p")
    assert requested_cpu(cache, "n1") == 0 and cache.pod_count() == 0


@pytest.mark.parametrize("setup, action, message", [
    (lambda c: c.assume_pod(pod("p", "n1")), lambda c: c.assume_pod(pod("p", "n1")),
     "pod default/p(uid-p) is in the cache, so can't be assumed"),
    (lambda c: None, lambda c: c.forget_pod(pod("p", "n1")),
     "pod default/p(uid-p) wasn't assumed so cannot be forgotten"),
    (lambda c: c.add_pod(pod("p", "n1")), lambda c: c.forget_pod(pod("p", "n1")),
     "pod default/p(uid-p) wasn't assumed so cannot be forgotten"),
    (lambda c: c.assume_pod(pod("p", "n1")), lambda c: c.forget_pod(pod("p", "n2")),
     "pod default/p(uid-p) was assumed on n2 but assigned to n1"),
    (lambda c: None, lambda c: c.remove_pod(pod("p", "n1")),
     "pod default/p(uid-p) is not found in scheduler cache, so cannot be removed from it"),
    (lambda c: c.add_pod(pod("p", "n1")), lambda c: c.add_pod(pod("p", "n1")),
     "pod default/p(uid-p) was already in added state"),
    (lambda c: c.assume_pod(pod("p", "n1")), lambda c: c.update_pod(pod("p", "n1"), pod("p", "n1")),
     "pod default/p(uid-p) is not added to scheduler cache, so cannot be updated"),
    (lambda c: None, lambda c: c.remove_node(node("ghost")), "node ghost is not found"),
])
def test_invalid_transitions_are_refused(cache, setup, action, message):
    setup(cache)
    with pytest.raises(CacheError) as e:
        action(cache)
    assert str(e.value) == message


def test_informer_add_confirms_assumed_pod(cache, clock):
    cache.assume_pod(pod("p", "n1"))
    cache.finish_binding(pod("p", "n1"))
    cache.add_pod(pod("p", "n1", phase="Running"))
    assert not cache.is_assumed("uid-p")
    assert cache.get_pod(pod("p", "n1"))["status"]["phase"] == "Running"  # the informer's copy
    assert requested_cpu(cache, "n1") == 1000  # counted once
    clock.advance(60)
    assert cache.cleanup_expired_assumed_pods() == []  # confirmed pods never expire


def test_informer_add_on_another_node_moves_the_pod(cache):
    cache.assume_pod(pod("p", "n1"))
    cache.add_pod(pod("p", "n2"))
    assert (requested_cpu(cache, "n1"), requested_cpu(cache, "n2")) == (0, 1000)


@pytest.mark.parametrize("ttl, binding_finished, elapsed, expires", [
    (30.0, True, 31, True),
    (30.0, True, 30, False),  # not past the deadline yet
    (30.0, False, 600, False),  # still binding: never expires
    (0.0, True, 600, False),  # ttl 0: assumptions never expire
])
def test_assumed_pod_expiry(clock, ttl, binding_finished, elapsed, expires):
    cache = Cache(clock, assumed_ttl=ttl)
    cache.add_node(node("n1"))
    cache.assume_pod(pod("p", "n1"))
    if binding_finished:
        cache.finish_binding(pod("p", "n1"))
    clock.advance(elapsed)
    expired = cache.cleanup_expired_assumed_pods()
    assert [p["metadata"]["name"] for p in expired] == (["p"] if expires else [])
    assert cache.is_assumed("uid-p") is not expires
    assert requested_cpu(cache, "n1") == (0 if expires else 1000)


def test_expired_pod_comes_back_when_informer_delivers_it(cache, clock):
    cache.assume_pod(pod("p", "n1"))
    cache.finish_binding(pod("p", "n1"))
    clock.advance(31)
    cache.cleanup_expired_assumed_pods()
    cache.add_pod(pod("p", "n1"))
    assert requested_cpu(cache, "n1") == 1000 and not cache.is_assumed("uid-p")


async def test_background_cleanup_runs_on_the_clock(cache, clock):
    cache.assume_pod(pod("p", "n1"))
    cache.finish_binding(pod("p", "n1"))
    cache.start()
    try:
        await asyncio.sleep(0)
        for _ in range(30):
            clock.advance(1.0)
            await asyncio.sleep(0)
        assert cache.is_assumed("uid-p")  # 30 s exactly is not past the deadline
        clock.advance(1.0)
        await asyncio.sleep(0)
        assert not cache.is_assumed("uid-p")
    finally:
        cache.close()


def test_update_and_remove_bound_pod(cache):
    cache.add_pod(pod("p", "n1", cpu="1"))
    cache.update_pod(pod("p", "n1", cpu="1"), pod("p", "n1", cpu="2"))
    assert requested_cpu(cache, "n1") == 2000
    cache.remove_pod(pod("p", "n1"))
    assert requested_cpu(cache, "n1") == 0 and cache.pod_count() == 0


# ---- placeholder nodes -------------------------------------------------------------------------


def test_pod_before_its_node_waits_on_a_placeholder(clock):
    cache = Cache(clock)
    cache.add_pod(pod("early", "n9"))
    assert cache.node_count() == 0 and len(cache.snapshot()) == 0
    cache.add_node(node("n9"))
    snap = cache.snapshot()
    assert cache.node_count() == 1 and requested_cpu(snap, "n9") == 1000
    assert snap.get("n9").allocatable.milli_cpu == 4000


def test_removed_node_with_pods_stays_as_placeholder_until_they_go(cache):
    cache.add_pod(pod("p", "n1"))
    snap = cache.snapshot()
    cache.remove_node(node("n1"))
    cache.update_snapshot(snap)
    assert [n.name for n in snap] == ["n2"] and cache.node_count() == 1
    assert cache.node_info("n1") is not None  # placeholder keeps the pod
    cache.remove_pod(pod("p", "n1"))
    assert cache.node_info("n1") is None
    cache.add_node(node("n1"))
    cache.update_snapshot(snap)
    assert sorted(n.name for n in snap) == ["n1", "n2"] and requested_cpu(snap, "n1") == 0


# ---- incremental snapshot ----------------------------------------------------------------------


def test_snapshot_reclones_only_changed_nodes(clock):
    cache = Cache(clock)
    for i in range(5):
        cache.add_node(node(f"n{i}"))
    snap = Snapshot()
    cache.update_snapshot(snap)
    before = {n.name: (n, n.pods, n.requested) for n in snap}
    node_list = snap.node_infos

    cache.add_pod(pod("p", "n2"))
    cache.update_snapshot(snap)

    assert snap.node_infos is node_list  # no node came or went: the list is kept
    for n in snap:
        info, pods, requested = before[n.name]
        assert n is info  # the NodeInfo object itself is always kept ...
        if n.name == "n2":
            assert n.pods is not pods and requested_cpu(snap, "n2") == 1000  # ... re-cloned content
        else:
            assert n.pods is pods and n.requested is requested  # ... untouched


def test_snapshot_is_isolated_from_later_cache_changes(cache):
    snap = cache.snapshot()
    cache.add_pod(pod("p", "n1"))
    assert requested_cpu(snap, "n1") == 0
    cache.update_snapshot(snap)
    assert requested_cpu(snap, "n1") == 1000


def test_snapshot_skips_work_when_nothing_changed(cache, monkeypatch):
    snap = cache.snapshot()
    calls = []
    monkeypatch.setattr(snap, "set", lambda infos: calls.append(infos))
    cache.update_snapshot(snap)
    assert calls == []


def test_snapshot_follows_node_add_update_remove(cache):
    snap = cache.snapshot()
    cache.add_node(node("n3"))
    cache.update_snapshot(snap)
    assert sorted(n.name for n in snap) == ["n1", "n2", "n3"]
    cache.update_node(node("n2"), node("n2", cpu="16"))
    cache.update_snapshot(snap)
    assert snap.get("n2").allocatable.milli_cpu == 16000
    cache.remove_node(node("n1"))
    cache.update_snapshot(snap)
    assert sorted(n.name for n in snap) == ["n2", "n3"] and snap.get("n1") is None


def test_two_snapshots_refresh_independently(cache):
    a, b = cache.snapshot(), Snapshot()
    cache.add_pod(pod("p", "n1"))
    cache.update_snapshot(a)
    cache.update_snapshot(b)
    assert requested_cpu(a, "n1") == requested_cpu(b, "n1") == 1000
    assert a.get("n1") is not b.get("n1")


# ---- zone interleaving -------------------------------------------------------------------------


@pytest.mark.parametrize("nodes, expected", [
    ([], []),
    ([("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("c1", "c")], ["a1", "b1", "c1", "a2", "b2"]),
    ([("a1", "a"), ("b1", "b"), ("a2", "a"), ("a3", "a"), ("b2", "b")], ["a1", "b1", "a2", "b2", "a3"]),
    ([("x", ""), ("y", ""), ("z", "")], ["x", "y", "z"]),  # no zone: arrival order
    ([("n1", ""), ("a1", "a"), ("n2", "")], ["n1", "a1", "n2"]),  # unlabelled nodes form one zone
])
def test_node_tree_interleaves_zones(nodes, expected):
    tree = NodeTree()
    for name, zone in nodes:
        tree.add(node(name, zone=zone))
    assert tree.list() == expected and tree.num_nodes == len(expected)


def test_node_tree_remove_and_zone_change():
    tree = NodeTree()
    for name, zone in [("a1", "a"), ("a2", "a"), ("b1", "b")]:
        tree.add(node(name, zone=zone))
    assert tree.remove(node("b1", zone="b")) and not tree.remove(node("b1", zone="b"))
    assert tree.list() == ["a1", "a2"]
    assert tree.update(node("a2", zone="a"), node("a2", zone="c"))
    assert tree.list() == ["a1", "a2"] and tree.num_nodes == 2
    assert not tree.update(node("a1", zone="a"), node("a1", zone="a", cpu="8"))


def test_snapshot_order_is_zone_interleaved_and_stable(clock):
    cache = Cache(clock)
    for name, zone in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b"), ("c1", "c")]:
        cache.add_node(node(name, zone=zone))
    snap = cache.snapshot()
    assert [n.name for n in snap] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    cache.add_pod(pod("p", "a3"))
    cache.update_node(node("b1", zone="b"), node("b1", zone="b", cpu="8"))
    cache.update_snapshot(snap)
    assert [n.name for n in snap] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    cache.update_node(node("a2", zone="a"), node("a2", zone="c"))  # moved zone: the order follows
    cache.update_snapshot(snap)
    assert [n.name for n in snap] == ["a1", "b1", "c1", "a3", "b2", "a2"]


@pytest.mark.parametrize("labels, key", [
    ({}, ""),
    ({"topology.kubernetes.io/zone": "z1"}, ":\x00:z1"),
    ({"topology.kubernetes.io/zone": "z1", "topology.kubernetes.io/region": "r"}, "r:\x00:z1"),
    ({"failure-domain.beta.kubernetes.io/zone": "old"}, ":\x00:old"),  # beta labels still count
])
def test_zone_key(labels, key):
    assert zone_key({"metadata": {"labels": labels}}) == key
