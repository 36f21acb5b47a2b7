"""Per-pod bookkeeping outside the algorithm, kept cheap without changing what it answers:
the queue's interested plugins per event, NodeInfo's host ports, the scheduler's pod cache."""

from __future__ import annotations

import pytest

from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.scheduler.framework import NodeInfo, PodInfo
from kubeling.scheduler.queue import SchedulingQueue, event_matches
from kubeling.scheduler.scheduler import NODES, PODS, Scheduler

PLUGIN_EVENTS = {
    "NodeResourcesFit": ["NodeAdd", "AssignedPodDelete", "AssignedPodUpdate"],
    "InterPodAffinity": ["NodeAdd", "AssignedPodAdd", "AssignedPodDelete"],
    "NodeUnschedulable": ["NodeAdd", "NodeUpdate"],
    "TaintToleration": ["NodeTaintChange"],
}


@pytest.mark.parametrize("event", ["AssignedPodAdd", "AssignedPodDelete", "NodeAdd", "NodeTaintChange",
                                   "NodeLabelChange", "NodeUpdate", "PvcAdd"])
def test_interested_plugins_are_those_that_registered_the_event(event):
    q = SchedulingQueue(FakeClock(), plugin_events=PLUGIN_EVENTS)
    expected = {name for name, events in PLUGIN_EVENTS.items() if any(event_matches(r, event) for r in events)}
    assert q.interested_plugins(event) == expected
    assert q.interested_plugins(event) == expected  # asked again: the kept answer


def test_new_plugin_events_replace_the_kept_answers():
    q = SchedulingQueue(FakeClock(), plugin_events=PLUGIN_EVENTS)
    assert q.interested_plugins("AssignedPodAdd") == {"InterPodAffinity"}
    q.set_plugin_events({"PodTopologySpread": ["AssignedPodAdd"]})
    assert q.interested_plugins("AssignedPodAdd") == {"PodTopologySpread"}
    assert SchedulingQueue(FakeClock()).interested_plugins("AssignedPodAdd") is None


def _pod(name: str, *ports: int) -> dict:
    container = {"name": "c", "ports": [{"containerPort": p, "hostPort": p} for p in ports]}
    return {"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": {"containers": [container]}}


@pytest.mark.parametrize("pods, removed, left", [
    ([("a", 80), ("b",)], "b", {80}),
    ([("a", 80), ("b", 443)], "b", {80}),
    ([("a", 80), ("b", 80)], "b", {80}),  # a port two pods use stays used
    ([("a", 80)], "a", set()),
    ([("a",), ("b",)], "a", set()),
])
def test_removing_a_pod_leaves_the_host_ports_of_the_others(pods, removed, left):
    info = NodeInfo.of({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "1"}}})
    for name, *ports in pods:
        info.add_pod(PodInfo.of(_pod(name, *ports)))
    before = info.clone()
    info.remove_pod(removed)
    assert {port for _, _, port in info.used_ports} == left
    assert {port for _, _, port in before.used_ports} == {p for _, *ports in pods for p in ports}


async def test_the_scheduler_keeps_pods_without_indexes():
    client = await LocalClient.start()
    try:
        scheduler = Scheduler(client, clock=FakeClock())
        pods = scheduler.factory.informer(PODS).indexer
        assert not any(pods.has_index(name) for name in ("namespace", "owner", "label"))
        assert scheduler.factory.informer(NODES).indexer.has_index("label")  # other informers keep theirs
        await scheduler.recorder.close()
    finally:
        await client.close()
