"""The scheduler end to end against an in-process API server (LocalClient) on a fake clock:
nodes and pods are created through the client, as kubectl would, and the tests read back
what the scheduler wrote: spec.nodeName, the PodScheduled condition, Events and
status.nominatedNodeName."""

from __future__ import annotations

import random

import pytest

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.local import LocalClient
from kubeling.scheduler.config import ProfileConfig, parse_config
from kubeling.scheduler.scheduler import COMPONENT, Scheduler
from tests.support.eventually import eventually

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
EVENTS = registry.lookup("", "v1", "events")
PRIORITY_CLASSES = registry.lookup("scheduling.k8s.io", "v1", "priorityclasses")
NS = "default"


class Env:
    def __init__(self, client: LocalClient, clock: FakeClock, profiles: list[ProfileConfig] | None = None):
        self.client, self.clock = client, clock
        recorder = EventRecorder(client, COMPONENT, host="test-host", clock=clock)
        self.scheduler = Scheduler(client, profiles=profiles, clock=clock, rng=random.Random(42), recorder=recorder)

    # ---- objects --------------------------------------------------------------------------------

    async def node(self, name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110") -> None:
        alloc = {"cpu": cpu, "memory": memory, "pods": pods}
        await self.client.create(NODES, None, {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})

    async def pod(self, name: str, cpu: str = "100m", memory: str = "128Mi", *, priority_class: str = "",
                  scheduler_name: str = "") -> None:
        spec = {"containers": [{"name": "c", "image": "nginx",
                                "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}
        if priority_class:
            spec["priorityClassName"] = priority_class
        if scheduler_name:
            spec["schedulerName"] = scheduler_name
        await self.client.create(PODS, NS, {"apiVersion": "v1", "kind": "Pod",
                                            "metadata": {"name": name, "namespace": NS}, "spec": spec})

    async def priority_class(self, name: str, value: int) -> None:
        await self.client.create(PRIORITY_CLASSES, None, {"apiVersion": "scheduling.k8s.io/v1",
                                                          "kind": "PriorityClass", "metadata": {"name": name},
                                                          "value": value})

    # ---- reading back ---------------------------------------------------------------------------

    async def get(self, name: str) -> dict | None:
        try:
            return await self.client.get(PODS, NS, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    async def node_of(self, name: str) -> str:
        pod = await self.get(name)
        return ((pod or {}).get("spec") or {}).get("nodeName") or ""

    async def condition(self, name: str) -> dict:
        pod = await self.get(name) or {}
        return next((c for c in (pod.get("status") or {}).get("conditions") or []
                     if c.get("type") == "PodScheduled"), {})

    async def events(self, name: str, reason: str) -> list[str]:
        items = (await self.client.list(EVENTS, NS))["items"]
        return [e["message"] for e in items
                if e["involvedObject"].get("name") == name and e["reason"] == reason]

    async def wait_bound(self, name: str) -> str:
        return await eventually(lambda: self.node_of(name), clock=self.clock)

    async def wait_failed(self, name: str) -> dict:
        return await eventually(lambda: self._false_condition(name), clock=self.clock)

    async def _false_condition(self, name: str) -> dict | None:
        cond = await self.condition(name)
        return cond if cond.get("status") == "False" else None


@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield c
    await c.close()


@pytest.fixture
async def make_env(client):
    envs: list[Env] = []

    async def make(profiles: list[ProfileConfig] | None = None) -> Env:
        env = Env(client, FakeClock(), profiles)
        await env.scheduler.start()
        envs.append(env)
        return env

    yield make
    for env in envs:
        await env.scheduler.stop()


@pytest.fixture
async def env(make_env):
    return await make_env()


# ---- placement ----------------------------------------------------------------------------------


async def test_pod_goes_to_the_node_with_the_most_free_resources(env):
    await env.node("small", cpu="2", memory="4Gi")
    await env.node("big", cpu="16", memory="32Gi")
    await env.node("medium", cpu="8", memory="16Gi")
    await env.pod("web", cpu="500m", memory="512Mi")
    assert await env.wait_bound("web") == "big"
    msgs = await eventually(lambda: env.events("web", "Scheduled"), clock=env.clock)
    assert msgs == ["Successfully assigned default/web to big"]


async def test_pods_fill_the_nodes_they_fit(env):
    await env.node("a", cpu="1")
    await env.node("b", cpu="1")
    for i in range(4):
        await env.pod(f"p{i}", cpu="400m")
    placed = [await env.wait_bound(f"p{i}") for i in range(4)]
    assert sorted(placed) == ["a", "a", "b", "b"]  # two 400m pods per 1-cpu node, never three


async def test_pod_with_another_scheduler_name_is_ignored(env):
    await env.node("n1")
    await env.pod("mine")
    await env.pod("theirs", scheduler_name="my-custom-scheduler")
    assert await env.wait_bound("mine") == "n1"
    for _ in range(5):  # time passes, queues flush: still nobody touches it
        env.clock.advance(1)
        await env.wait_bound("mine")
    assert await env.node_of("theirs") == ""
    assert await env.condition("theirs") == {}
    assert await env.events("theirs", "FailedScheduling") == []


async def test_a_second_profile_schedules_its_own_pods(make_env):
    profiles = parse_config({"kind": "KubeSchedulerConfiguration", "profiles": [
        {"schedulerName": "default-scheduler"},
        {"schedulerName": "bin-packer", "pluginConfig": [{"name": "NodeResourcesFit", "args": {
            "scoringStrategy": {"type": "MostAllocated"}}}]}]})
    env = await make_env(profiles)
    await env.node("small", cpu="2", memory="4Gi")
    await env.node("big", cpu="16", memory="32Gi")
    await env.pod("spread", cpu="500m", memory="512Mi")
    await env.pod("packed", cpu="500m", memory="512Mi", scheduler_name="bin-packer")
    assert await env.wait_bound("spread") == "big"
    assert await env.wait_bound("packed") == "small"


# ---- failure ------------------------------------------------------------------------------------


async def test_unschedulable_pod_is_reported_then_scheduled_when_a_node_is_added(env):
    await env.node("tiny-1", cpu="1")
    await env.node("tiny-2", cpu="1")
    await env.pod("huge", cpu="3")
    cond = await env.wait_failed("huge")
    want = ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
            "2 No preemption victims found for incoming pod.")
    assert (cond["reason"], cond["message"]) == ("Unschedulable", want)
    assert cond["lastTransitionTime"].endswith("Z")
    assert await eventually(lambda: env.events("huge", "FailedScheduling"), clock=env.clock) == [want]
    pod = await env.get("huge")
    assert not pod["status"].get("nominatedNodeName")

    await env.node("large", cpu="4")
    assert await env.wait_bound("huge") == "large"
    assert await eventually(lambda: env.events("huge", "Scheduled"), clock=env.clock) == [
        "Successfully assigned default/huge to large"]


async def test_no_nodes_at_all(env):
    await env.pod("lonely")
    cond = await env.wait_failed("lonely")
    assert cond["message"] == "no nodes available to schedule pods"
    await env.node("n1")
    assert await env.wait_bound("lonely") == "n1"


# ---- priority -----------------------------------------------------------------------------------


async def test_higher_priority_pod_is_scheduled_first_when_only_one_fits(client, make_env):
    # Both pods wait in the queue before the scheduler starts; only one fits the node.
    await client.create(PRIORITY_CLASSES, None, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                                 "metadata": {"name": "high"}, "value": 1000})
    env = Env(client, FakeClock())
    await env.node("n1", cpu="1")
    await env.pod("first-low", cpu="700m")
    await env.pod("second-high", cpu="700m", priority_class="high")
    await env.scheduler.start()
    try:
        assert await env.wait_bound("second-high") == "n1"
        cond = await env.wait_failed("first-low")
        assert cond["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
        assert await env.node_of("first-low") == ""
    finally:
        await env.scheduler.stop()


async def test_preemption_evicts_a_lower_priority_pod(env):
    await env.priority_class("low", 10)
    await env.priority_class("high", 1000)
    await env.node("n1", cpu="1")
    await env.pod("victim", cpu="800m", priority_class="low")
    assert await env.wait_bound("victim") == "n1"

    await env.pod("preemptor", cpu="800m", priority_class="high")
    # The victim is evicted (graceful: it is terminating until its kubelet confirms)...
    victim = await eventually(lambda: _terminating(env, "victim"), clock=env.clock)
    disruption = [c for c in victim["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert disruption and disruption[0]["reason"] == "PreemptionByScheduler"
    # ...the preemptor is nominated to the node, not yet bound...
    preemptor = await eventually(lambda: _nominated(env, "preemptor"), clock=env.clock)
    assert preemptor["status"]["nominatedNodeName"] == "n1"
    assert preemptor["spec"].get("nodeName") is None
    assert (await env.condition("preemptor"))["reason"] == "Unschedulable"
    assert await eventually(lambda: env.events("victim", "Preempted"), clock=env.clock)

    # ...and bound once the victim is gone (the kubelet's final delete).
    await env.client.delete(PODS, NS, "victim", grace_period_seconds=0)
    assert await env.wait_bound("preemptor") == "n1"
    assert await env.get("victim") is None


async def test_a_lower_priority_pod_does_not_take_the_room_made_for_a_nominated_pod(env):
    await env.priority_class("low", 10)
    await env.priority_class("high", 1000)
    await env.node("n1", cpu="1")
    await env.pod("victim", cpu="800m", priority_class="low")
    assert await env.wait_bound("victim") == "n1"
    await env.pod("preemptor", cpu="800m", priority_class="high")
    # The clock stands still from here: the preemptor waits out its backoff, so the next pod
    # is tried while the room is free but promised to the preemptor.
    await eventually(lambda: _nominated(env, "preemptor"))
    await env.client.delete(PODS, NS, "victim", grace_period_seconds=0)
    await env.pod("late-low", cpu="500m", priority_class="low")
    cond = await eventually(lambda: env._false_condition("late-low"))
    assert "1 Insufficient cpu" in cond["message"]
    assert await env.node_of("preemptor") == ""  # really still waiting: the room was not taken by it
    assert await env.wait_bound("preemptor") == "n1"  # the clock moves: its backoff ends
    assert await env.node_of("late-low") == ""


async def _terminating(env: Env, name: str) -> dict | None:
    pod = await env.get(name)
    return pod if pod and pod["metadata"].get("deletionTimestamp") else None


async def _nominated(env: Env, name: str) -> dict | None:
    pod = await env.get(name)
    return pod if pod and (pod.get("status") or {}).get("nominatedNodeName") else None
