"""The scheduling queue: ordering, backoff on a fake clock, event-driven moves, in-flight pods."""

from __future__ import annotations

import asyncio

import pytest

from kubeling.client.clock import FakeClock
from kubeling.scheduler.queue import (
    ACTIVE_Q,
    BACKOFF_Q,
    UNSCHEDULABLE,
    QueuedPodInfo,
    SchedulingQueue,
    event_matches,
    node_update_events,
    pod_updated,
)


def pod(name: str, *, priority: int | None = None, ns: str = "default", labels: dict | None = None,
        cpu: str | None = None, affinity: dict | None = None, nominated: str = "", gates: list | None = None,
        node: str = "") -> dict:
    container: dict = {"name": "c", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    spec: dict = {"containers": [container]}
    if priority is not None:
        spec["priority"] = priority
    if affinity:
        spec["affinity"] = affinity
    if gates:
        spec["schedulingGates"] = gates
    if node:
        spec["nodeName"] = node
    p = {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": labels or {}},
         "spec": spec, "status": {}}
    if nominated:
        p["status"]["nominatedNodeName"] = nominated
    return p


PLUGIN_EVENTS = {
    "NodeResourcesFit": ["NodeAdd", "NodeAllocatableChange", "AssignedPodDelete", "AssignedPodUpdate"],
    "TaintToleration": ["NodeAdd", "NodeTaintChange"],
    "NodeAffinity": ["NodeAdd", "NodeLabelChange"],
    "InterPodAffinity": ["NodeAdd", "NodeLabelChange", "AssignedPodAdd", "AssignedPodUpdate", "AssignedPodDelete"],
    "PodTopologySpread": ["NodeAdd", "NodeLabelChange", "AssignedPodAdd", "AssignedPodUpdate",
                          "AssignedPodDelete"],
    "NodeUnschedulable": ["NodeAdd", "NodeUpdate"],
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def q(clock: FakeClock) -> SchedulingQueue:
    return SchedulingQueue(clock, plugin_events=PLUGIN_EVENTS)


async def fail(q: SchedulingQueue, *plugins: str, backoff: bool = False) -> QueuedPodInfo:
    """Pop the next pod and report it rejected by `plugins`."""
    qpi = await q.pop()
    assert qpi is not None
    qpi.unschedulable_plugins = set(plugins)
    q.add_unschedulable_if_not_present(qpi, backoff=backoff)
    return qpi


async def drain_names(q: SchedulingQueue) -> list[str]:
    names = []
    while q.pending_pods()[ACTIVE_Q]:
        qpi = await q.pop()
        names.append(qpi.pod["metadata"]["name"])
        q.done(qpi.uid)
    return names


# ---- ordering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arrivals, expected", [
    ([("a", None), ("b", None), ("c", None)], ["a", "b", "c"]),  # FIFO within a priority
    ([("low", 1), ("high", 100), ("mid", 10)], ["high", "mid", "low"]),
    ([("a", 5), ("b", 10), ("c", 5), ("d", 10)], ["b", "d", "a", "c"]),
    ([("neg", -5), ("zero", None)], ["zero", "neg"]),  # priority defaults to 0
])
async def test_active_queue_orders_by_priority_then_arrival(clock, arrivals, expected):
    q = SchedulingQueue(clock)
    for name, prio in arrivals:
        q.add(pod(name, priority=prio))
        clock.advance(0.001)
    assert await drain_names(q) == expected


async def test_pop_counts_attempts_and_cycles(q, clock):
    q.add(pod("a"))
    qpi = await q.pop()
    assert (qpi.attempts, qpi.scheduling_cycle, q.scheduling_cycle) == (1, 1, 1)
    assert qpi.initial_attempt_timestamp == clock.monotonic()
    assert q.where(qpi.pod) == "inFlight"
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(qpi)
    clock.advance(301)
    q.flush_unschedulable_left_over()
    again = await q.pop()
    assert again is qpi and again.attempts == 2 and q.scheduling_cycle == 2
    assert again.unschedulable_plugins == set()  # cleared for the new attempt


async def test_update_in_active_queue_reorders_by_new_priority(q, clock):
    q.add(pod("a", priority=1))
    q.add(pod("b", priority=2))
    q.update(pod("a", priority=1), pod("a", priority=3))
    assert await drain_names(q) == ["a", "b"]


async def test_add_twice_keeps_one_entry(q):
    q.add(pod("a"))
    q.add(pod("a"))
    assert q.pending_pods() == {ACTIVE_Q: 1, BACKOFF_Q: 0, UNSCHEDULABLE: 0}


# ---- pop and close -----------------------------------------------------------------------------


async def test_pop_waits_for_add():
    q = SchedulingQueue(FakeClock())
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add(pod("a"))
    qpi = await asyncio.wait_for(waiter, 1)
    assert qpi.pod["metadata"]["name"] == "a"


async def test_close_wakes_every_pop_with_none():
    q = SchedulingQueue(FakeClock())
    waiters = [asyncio.create_task(q.pop()) for _ in range(3)]
    await asyncio.sleep(0)
    q.close()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [None, None, None]
    q.add(pod("late"))
    assert await q.pop() is None


# ---- backoff -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attempts, expected", [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (20, 10.0)])
def test_backoff_doubles_up_to_the_cap(clock, attempts, expected):
    q = SchedulingQueue(clock, initial_backoff=1.0, max_backoff=10.0)
    qpi = QueuedPodInfo(q._new_info(pod("a")).pod_info, clock.monotonic(), attempts=attempts)
    assert q.backoff_duration(qpi) == expected


async def test_backoff_queue_releases_pods_when_their_backoff_ends(q, clock):
    q.add(pod("a"))
    await fail(q, "NodeResourcesFit", backoff=True)  # attempt 1: 1 s
    assert q.pending_pods() == {ACTIVE_Q: 0, BACKOFF_Q: 1, UNSCHEDULABLE: 0}
    clock.advance(0.999)
    assert q.flush_backoff_completed() == 0
    clock.advance(0.001)
    assert q.flush_backoff_completed() == 1
    qpi = await q.pop()
    assert qpi.attempts == 2
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    q.add_unschedulable_if_not_present(qpi, backoff=True)  # attempt 2: 2 s
    clock.advance(1.5)
    assert q.flush_backoff_completed() == 0
    clock.advance(0.5)
    assert q.flush_backoff_completed() == 1


async def test_backoff_queue_orders_by_expiry(q, clock):
    q.add(pod("slow"))
    q.add(pod("fast"))
    slow = await q.pop()
    slow.attempts = 4  # 8 s of backoff
    q.add_unschedulable_if_not_present(slow, backoff=True)
    await fail(q, "X", backoff=True)  # fast: 1 s
    clock.advance(1)
    q.flush_backoff_completed()
    assert q.where(pod("fast")) == ACTIVE_Q and q.where(pod("slow")) == BACKOFF_Q


async def test_background_flushers_run_on_the_clock(q, clock):
    q.start()
    try:
        q.add(pod("a"))
        await fail(q, "NodeResourcesFit", backoff=True)
        waiter = asyncio.create_task(q.pop())
        await asyncio.sleep(0)
        clock.advance(1.0)  # the 1 s flusher fires and the backoff (1 s) is over
        qpi = await asyncio.wait_for(waiter, 1)
        assert qpi.pod["metadata"]["name"] == "a"
        q.add_unschedulable_if_not_present(qpi)  # no rejector recorded: backoff
        qpi2 = await asyncio.wait_for(asyncio.create_task(_after_advance(clock, q, 2.0)), 1)
        assert qpi2 is qpi
    finally:
        q.close()


async def _after_advance(clock: FakeClock, q: SchedulingQueue, seconds: float) -> QueuedPodInfo | None:
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    for _ in range(int(seconds)):
        clock.advance(1.0)
        await asyncio.sleep(0)
    return await waiter


# ---- where a failed pod goes -------------------------------------------------------------------


async def test_rejected_pod_waits_in_unschedulable(q):
    q.add(pod("a"))
    await fail(q, "NodeResourcesFit")
    assert q.where(pod("a")) == UNSCHEDULABLE


async def test_pod_failed_by_an_error_goes_to_backoff(q):
    q.add(pod("a"))
    await fail(q)  # no plugin rejected it: an error, retry soon
    assert q.where(pod("a")) == BACKOFF_Q


async def test_move_request_during_cycle_sends_pod_to_backoff(q, clock):
    q.add(pod("a"))
    qpi = await q.pop()
    q.move_all_to_active_or_backoff("NodeAdd")  # a node arrived while "a" was being scheduled
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    assert q.add_unschedulable_if_not_present(qpi) == BACKOFF_Q


async def test_move_request_before_cycle_does_not_count(q):
    q.add(pod("a"))
    q.move_all_to_active_or_backoff("NodeAdd")
    await fail(q, "NodeResourcesFit")
    assert q.where(pod("a")) == UNSCHEDULABLE


async def test_event_no_plugin_registered_is_not_a_move_request(clock):
    q = SchedulingQueue(clock, plugin_events={"NodeResourcesFit": PLUGIN_EVENTS["NodeResourcesFit"]})
    q.add(pod("a"))
    qpi = await q.pop()
    q.move_all_to_active_or_backoff("NodeTaintChange")
    qpi.unschedulable_plugins = {"NodeResourcesFit"}
    assert q.add_unschedulable_if_not_present(qpi) == UNSCHEDULABLE


async def test_pod_updated_during_cycle_goes_to_backoff(q):
    q.add(pod("a"))
    qpi = await q.pop()
    q.update(pod("a"), pod("a", labels={"x": "y"}))
    qpi.unschedulable_plugins = {"NodeAffinity"}
    assert q.add_unschedulable_if_not_present(qpi) == BACKOFF_Q
    assert qpi.pod["metadata"]["labels"] == {"x": "y"}  # the newest version is kept


async def test_pod_deleted_during_cycle_is_not_requeued(q):
    q.add(pod("a"))
    qpi = await q.pop()
    q.delete(pod("a"))
    qpi.unschedulable_plugins = {"NodeAffinity"}
    assert q.add_unschedulable_if_not_present(qpi) is None
    assert len(q) == 0


async def test_add_unschedulable_ignores_pod_already_queued(q):
    q.add(pod("a"))
    qpi = await q.pop()
    q.add(pod("a"))  # e.g. re-added by an update handler
    qpi.unschedulable_plugins = {"NodeAffinity"}
    assert q.add_unschedulable_if_not_present(qpi) is None
    assert q.pending_pods()[ACTIVE_Q] == 1


# ---- moves on cluster events -------------------------------------------------------------------


@pytest.mark.parametrize("rejected_by, event, moves", [
    ({"NodeResourcesFit"}, "NodeAdd", True),
    ({"NodeResourcesFit"}, "NodeAllocatableChange", True),
    ({"NodeResourcesFit"}, "NodeTaintChange", False),
    ({"TaintToleration"}, "NodeTaintChange", True),
    ({"TaintToleration"}, "NodeLabelChange", False),
    ({"NodeAffinity"}, "NodeLabelChange", True),
    ({"NodeUnschedulable"}, "NodeUnschedulableChange", True),  # registered NodeUpdate: every update
    ({"NodeUnschedulable"}, "NodeLabelChange", True),
    ({"NodeAffinity", "TaintToleration"}, "NodeTaintChange", True),  # any rejector interested
    ({"NodeResourcesFit"}, "AssignedPodDelete", True),
    ({"NodeAffinity"}, "AssignedPodDelete", False),
    ({"NodeAffinity"}, "UnschedulableTimeout", True),  # wildcard
    ({"ImageLocality"}, "NodeAdd", False),  # registered nothing
])
async def test_move_only_pods_whose_rejectors_registered_the_event(q, clock, rejected_by, event, moves):
    q.add(pod("a"))
    await fail(q, *rejected_by)
    clock.advance(20)  # backoff over
    q.move_all_to_active_or_backoff(event)
    assert q.where(pod("a")) == (ACTIVE_Q if moves else UNSCHEDULABLE)


async def test_moved_pod_still_in_backoff_goes_to_backoff_queue(q, clock):
    q.add(pod("a"))
    await fail(q, "NodeResourcesFit")
    clock.advance(0.5)
    assert q.move_all_to_active_or_backoff("NodeAdd") == 1
    assert q.where(pod("a")) == BACKOFF_Q
    clock.advance(0.5)
    q.flush_backoff_completed()
    assert q.where(pod("a")) == ACTIVE_Q


async def test_callable_decides_interest_and_pre_check_filters(q, clock):
    for name in ("a", "b"):
        q.add(pod(name))
    await fail(q, "Custom")
    await fail(q, "Custom")
    clock.advance(20)
    assert q.move_all_to_active_or_backoff("NodeAdd", lambda plugins: "Other" in plugins) == 0
    moved = q.move_all_to_active_or_backoff("NodeAdd", lambda plugins: "Custom" in plugins,
                                            pre_check=lambda p: p["metadata"]["name"] == "b")
    assert moved == 1 and q.where(pod("b")) == ACTIVE_Q and q.where(pod("a")) == UNSCHEDULABLE


async def test_queue_without_plugin_events_moves_everything(clock):
    q = SchedulingQueue(clock)
    q.add(pod("a"))
    await fail(q, "Anything")
    clock.advance(20)
    q.move_all_to_active_or_backoff("NodeAdd")
    assert q.where(pod("a")) == ACTIVE_Q


async def test_move_to_active_wakes_pop(q, clock):
    q.add(pod("a"))
    await fail(q, "NodeResourcesFit")
    clock.advance(20)
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    q.move_all_to_active_or_backoff("NodeAdd")
    assert (await asyncio.wait_for(waiter, 1)).pod["metadata"]["name"] == "a"


async def test_leftover_flush_moves_pods_unschedulable_too_long(q, clock):
    q.add(pod("a"))
    await fail(q, "NodeAffinity")
    clock.advance(300)
    assert q.flush_unschedulable_left_over() == 0  # not longer than 5 minutes yet
    clock.advance(1)
    assert q.flush_unschedulable_left_over() == 1
    assert q.where(pod("a")) == ACTIVE_Q


# ---- assigned pod events -----------------------------------------------------------------------


def affinity_to(labels: dict, namespaces: list | None = None) -> dict:
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}
    if namespaces is not None:
        term["namespaces"] = namespaces
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


@pytest.mark.parametrize("waiting, rejected_by, bound, moves", [
    (pod("w", affinity=affinity_to({"app": "db"})), "InterPodAffinity", pod("db", labels={"app": "db"}), True),
    (pod("w", affinity=affinity_to({"app": "db"})), "InterPodAffinity", pod("x", labels={"app": "web"}), False),
    (pod("w", affinity=affinity_to({"app": "db"})), "InterPodAffinity",
     pod("db", labels={"app": "db"}, ns="other"), False),  # the term looks in its own namespace
    (pod("w", affinity=affinity_to({"app": "db"}, ["other"])), "InterPodAffinity",
     pod("db", labels={"app": "db"}, ns="other"), True),
    (pod("w"), "PodTopologySpread", pod("any"), True),
    (pod("w"), "PodTopologySpread", pod("any", ns="other"), False),
    (pod("w"), "NodeResourcesFit", pod("any"), False),  # a new pod never frees resources
])
async def test_assigned_pod_added_moves_only_cross_topology_pods(q, clock, waiting, rejected_by, bound, moves):
    q.add(waiting)
    await fail(q, rejected_by)
    clock.advance(20)
    q.assigned_pod_added(bound)
    assert q.where(waiting) == (ACTIVE_Q if moves else UNSCHEDULABLE)


async def test_assigned_pod_scaled_down_moves_resource_rejected_pods(q, clock):
    q.add(pod("w"))
    await fail(q, "NodeResourcesFit")
    clock.advance(20)
    q.assigned_pod_updated(pod("b", cpu="2", node="n1"), pod("b", cpu="2", labels={"a": "b"}, node="n1"))
    assert q.where(pod("w")) == UNSCHEDULABLE  # a label change frees nothing
    q.assigned_pod_updated(pod("b", cpu="2", node="n1"), pod("b", cpu="1", node="n1"))
    assert q.where(pod("w")) == ACTIVE_Q


async def test_assigned_pod_deleted_moves_interested_pods(q, clock):
    q.add(pod("fit"))
    q.add(pod("aff"))
    await fail(q, "NodeResourcesFit")
    await fail(q, "NodeAffinity")
    clock.advance(20)
    assert q.assigned_pod_deleted(pod("gone", node="n1")) == 1
    assert q.where(pod("fit")) == ACTIVE_Q and q.where(pod("aff")) == UNSCHEDULABLE


# ---- updates and deletes -----------------------------------------------------------------------


async def test_update_of_unschedulable_pod(q, clock):
    q.add(pod("a"))
    await fail(q, "NodeAffinity")
    q.update(pod("a"), {**pod("a"), "status": {"phase": "Pending"}})  # status only: no retry
    assert q.where(pod("a")) == UNSCHEDULABLE
    q.update(pod("a"), pod("a", labels={"fixed": "yes"}))  # still in backoff
    assert q.where(pod("a")) == BACKOFF_Q
    q.delete(pod("a"))
    q.add(pod("b"))
    await fail(q, "NodeAffinity")
    clock.advance(5)
    q.update(pod("b"), pod("b", labels={"fixed": "yes"}))
    assert q.where(pod("b")) == ACTIVE_Q


async def test_update_of_unknown_pod_adds_it(q):
    q.update(None, pod("a"))
    assert q.where(pod("a")) == ACTIVE_Q


@pytest.mark.parametrize("where", [ACTIVE_Q, BACKOFF_Q, UNSCHEDULABLE])
async def test_delete_from_each_queue(q, where):
    q.add(pod("a"))
    if where != ACTIVE_Q:
        await fail(q, "NodeAffinity", backoff=where == BACKOFF_Q)
    assert q.where(pod("a")) == where
    q.delete(pod("a"))
    assert q.where(pod("a")) is None and len(q) == 0


@pytest.mark.parametrize("old, new, changed", [
    (pod("a"), pod("a"), False),
    (pod("a"), {**pod("a"), "status": {"conditions": [{"type": "PodScheduled"}]}}, False),
    (pod("a"), {**pod("a"), "metadata": {**pod("a")["metadata"], "resourceVersion": "9"}}, False),
    (pod("a"), pod("a", labels={"k": "v"}), True),
    (pod("a"), pod("a", cpu="1"), True),
])
def test_pod_updated(old, new, changed):
    assert pod_updated(old, new) is changed


async def test_scheduling_gates_hold_pod_until_lifted(q, clock):
    gated = pod("g", gates=[{"name": "example.com/wait"}])
    q.add(gated)
    assert q.where(gated) == UNSCHEDULABLE
    clock.advance(400)
    q.move_all_to_active_or_backoff("NodeAdd")
    q.flush_unschedulable_left_over()
    assert q.where(gated) == UNSCHEDULABLE
    q.update(gated, pod("g"))
    assert q.where(gated) == ACTIVE_Q


async def test_activate_moves_waiting_pods_at_once(q):
    q.add(pod("a"))
    await fail(q, "NodeAffinity")
    q.activate([pod("a")])
    assert q.where(pod("a")) == ACTIVE_Q


# ---- nominated pods ----------------------------------------------------------------------------


async def test_nominated_pods(q):
    q.add(pod("a", nominated="n1"))  # nominatedNodeName in status
    q.add(pod("b"))
    q.add_nominated(pod("b"), "n1")
    assert {p.pod["metadata"]["name"] for p in q.nominated_pods_for_node("n1")} == {"a", "b"}
    # An update that does not touch the nomination keeps the scheduler's one.
    q.update(pod("b"), pod("b", labels={"v": "2"}))
    [b] = [p for p in q.nominated_pods_for_node("n1") if p.pod["metadata"]["name"] == "b"]
    assert b.pod["metadata"]["labels"] == {"v": "2"}
    q.add_nominated(pod("b"), "n2")
    assert [p.pod["metadata"]["name"] for p in q.nominated_pods_for_node("n2")] == ["b"]
    q.delete(pod("a"))
    assert [p.pod["metadata"]["name"] for p in q.nominated_pods_for_node("n1")] == []
    assert q.nominated_node(pod("b")) == "n2"


# ---- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("registered, event, expected", [
    ("NodeAdd", "NodeAdd", True),
    ("NodeUpdate", "NodeTaintChange", True),
    ("NodeTaintChange", "NodeUpdate", True),
    ("NodeTaintChange", "NodeLabelChange", False),
    ("NodeAdd", "NodeUpdate", False),
    ("AssignedPodAdd", "AssignedPodDelete", False),
])
def test_event_matches(registered, event, expected):
    assert event_matches(registered, event) is expected


def node(labels=None, taints=None, unschedulable=False, cpu="4", ready="True", hb="t1"):
    return {"metadata": {"name": "n", "labels": labels or {}},
            "spec": {"unschedulable": unschedulable, "taints": taints or []},
            "status": {"allocatable": {"cpu": cpu},
                       "conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": hb}]}}


@pytest.mark.parametrize("old, new, events", [
    (node(), node(hb="t2"), []),  # a heartbeat is not a change
    (node(), node(labels={"a": "b"}), ["NodeLabelChange"]),
    (node(), node(taints=[{"key": "k", "effect": "NoSchedule"}]), ["NodeTaintChange"]),
    (node(unschedulable=True), node(), ["NodeUnschedulableChange"]),
    (node(), node(unschedulable=True), []),  # cordoning never helps a pending pod
    (node(), node(cpu="8"), ["NodeAllocatableChange"]),
    (node(ready="False"), node(), ["NodeConditionChange"]),
])
def test_node_update_events(old, new, events):
    assert node_update_events(old, new) == events
