"""The informer's copy of an assumed pod confirms it: in place when it differs from the
assumed pod only by what the bind wrote (status, resourceVersion), by a full replace otherwise."""

from __future__ import annotations

import copy

import pytest

from kubeling.client.clock import FakeClock
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.framework import Snapshot


def node(name: str) -> dict:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}


def pending(name: str = "p", cpu: str = "1", labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "10",
                         "labels": dict(labels or {"app": "web"})},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": "Pending"}}


def assumed_on(pod: dict, node_name: str) -> dict:
    """What the scheduler assumes: the pending pod with spec.nodeName (as Scheduler.schedule_one)."""
    return {**pod, "spec": {**pod["spec"], "nodeName": node_name}}


def bound(pod: dict, node_name: str, **metadata) -> dict:
    """What the informer gets after the bind: a fresh copy with nodeName, PodScheduled and a new rv."""
    out = copy.deepcopy(pod)
    out["spec"]["nodeName"] = node_name
    out["metadata"]["resourceVersion"] = "11"
    out["metadata"].update(metadata)
    out["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    return out


@pytest.fixture
def cache() -> Cache:
    c = Cache(FakeClock())
    for name in ("n1", "n2"):
        c.add_node(node(name))
    return c


def generation(cache: Cache, name: str) -> int:
    return cache.node_info(name).generation


def test_bind_confirmation_takes_the_assumed_pods_place_without_touching_the_node(cache):
    pod = pending()
    cache.assume_pod(assumed_on(pod, "n1"))
    before = generation(cache, "n1")
    confirmed = bound(pod, "n1")
    cache.add_pod(confirmed)
    assert not cache.is_assumed("uid-p")
    assert cache.get_pod(confirmed) is confirmed
    info = cache.node_info("n1")
    assert info.pods["uid-p"].pod is confirmed and info.requested.milli_cpu == 1000
    assert info.generation == before  # no re-clone, no table row refresh for it
    # From now on it is an ordinary bound pod: updates and removal work on the confirmed copy.
    later = {**confirmed, "metadata": {**confirmed["metadata"], "resourceVersion": "12"}}
    cache.update_pod(confirmed, later)
    assert cache.get_pod(later) is later
    cache.remove_pod(later)
    assert cache.pod_count() == 0 and cache.node_info("n1").requested.milli_cpu == 0


def test_snapshot_keeps_counting_the_confirmed_pod(cache):
    pod = pending()
    snap = Snapshot()
    cache.assume_pod(assumed_on(pod, "n1"))
    cache.update_snapshot(snap)
    cache.add_pod(bound(pod, "n1"))
    cache.update_snapshot(snap)
    assert snap.get("n1").requested.milli_cpu == 1000 and "uid-p" in snap.get("n1").pods
    cache.assume_pod(assumed_on(pending("q"), "n1"))  # the node changes again: the clone is fresh
    cache.update_snapshot(snap)
    assert snap.get("n1").requested.milli_cpu == 2000
    assert snap.get("n1").pods["uid-p"].pod["metadata"]["resourceVersion"] == "11"


@pytest.mark.parametrize("change", [
    pytest.param(lambda p: p["metadata"].update(labels={"app": "other"}), id="labels changed meanwhile"),
    pytest.param(lambda p: p["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"), id="being deleted"),
    pytest.param(lambda p: p["spec"]["containers"][0]["resources"]["requests"].update(cpu="2"), id="spec changed"),
])
def test_a_confirmation_that_changed_more_than_the_bind_replaces_the_pod(cache, change):
    pod = pending()
    cache.assume_pod(assumed_on(pod, "n1"))
    before = generation(cache, "n1")
    confirmed = bound(pod, "n1")
    change(confirmed)
    cache.add_pod(confirmed)
    assert not cache.is_assumed("uid-p") and cache.get_pod(confirmed) is confirmed
    assert generation(cache, "n1") > before
    expected = 2000 if confirmed["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "2" else 1000
    assert cache.node_info("n1").requested.milli_cpu == expected


def test_a_pod_bound_elsewhere_than_assumed_moves(cache):
    pod = pending()
    cache.assume_pod(assumed_on(pod, "n1"))
    cache.add_pod(bound(pod, "n2"))
    assert cache.node_info("n1").requested.milli_cpu == 0
    assert cache.node_info("n2").requested.milli_cpu == 1000


def test_assume_takes_the_queued_requests(cache):
    from kubeling.scheduler.framework import PodInfo

    pod = pending(cpu="500m")
    queued = PodInfo.of(pod)
    cache.assume_pod(assumed_on(pod, "n1"), queued)
    info = cache.node_info("n1").pods["uid-p"]
    assert info.requests is queued.requests and info.pod["spec"]["nodeName"] == "n1"
    assert cache.node_info("n1").requested.milli_cpu == 500
    cache.forget_pod(assumed_on(pod, "n1"))
    assert cache.node_info("n1").requested.milli_cpu == 0


def running(pod: dict, **status) -> dict:
    """A kubelet's status update of a bound pod."""
    out = copy.deepcopy(pod)
    out["metadata"]["resourceVersion"] = str(int(out["metadata"]["resourceVersion"]) + 1)
    out["status"].update(phase="Running", **status)
    return out


def test_a_status_update_of_a_bound_pod_replaces_it_in_place(cache):
    pod = bound(pending(), "n1", resourceVersion="11")
    pod["status"]["startTime"] = "2026-01-01T00:00:00Z"
    cache.add_pod(pod)
    before = generation(cache, "n1")
    newer = running(pod)
    cache.update_pod(pod, newer)
    assert cache.get_pod(newer) is newer
    assert cache.node_info("n1").pods["uid-p"].pod is newer
    assert generation(cache, "n1") == before  # the node is not re-cloned into the next snapshot


@pytest.mark.parametrize("change", ["labels", "startTime", "spec"])
def test_an_update_that_plugins_may_read_marks_the_node_changed(cache, change):
    pod = bound(pending(), "n1", resourceVersion="11")
    cache.add_pod(pod)
    before = generation(cache, "n1")
    newer = running(pod)
    if change == "labels":
        newer["metadata"]["labels"] = {"app": "other"}
    elif change == "startTime":
        newer["status"]["startTime"] = "2026-01-01T00:00:00Z"
    else:
        newer["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    cache.update_pod(pod, newer)
    assert cache.get_pod(newer) is newer
    assert generation(cache, "n1") > before
