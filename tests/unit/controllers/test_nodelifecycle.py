"""The node lifecycle controller against an in-process API server, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from kubeling.api import registry
from kubeling.api.meta import parse_time, rfc3339, rfc3339_micro
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.local import LocalClient
from kubeling.controllers.nodelifecycle import (
    STATE_FULL_DISRUPTION,
    STATE_NORMAL,
    STATE_PARTIAL_DISRUPTION,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    NodeLifecycleController,
    compute_zone_state,
    desired_taints,
    matching_tolerations,
    min_toleration_seconds,
    tolerates,
)
from tests.support.eventually import eventually

NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
EVENTS = registry.lookup("", "v1", "events")
NS = "default"


# ---- pure helpers -------------------------------------------------------------------------------

UNREACHABLE = {"key": TAINT_UNREACHABLE, "effect": "NoExecute"}
CUSTOM = {"key": "example.com/broken", "value": "yes", "effect": "NoExecute"}


@pytest.mark.parametrize("toleration, taint, expected", [
    ({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, UNREACHABLE, True),
    ({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, UNREACHABLE, False),
    ({"operator": "Exists"}, CUSTOM, True),  # empty key and effect match everything
    ({"key": "example.com/broken", "value": "yes"}, CUSTOM, True),  # operator defaults to Equal
    ({"key": "example.com/broken", "operator": "Equal", "value": "no"}, CUSTOM, False),
    ({"key": "other", "operator": "Exists"}, CUSTOM, False),
    ({"key": "example.com/broken", "operator": "Bogus"}, CUSTOM, False),
])
def test_tolerates(toleration, taint, expected):
    assert tolerates(toleration, taint) is expected


def test_matching_tolerations_needs_every_taint_tolerated():
    tol = {"key": TAINT_UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30}
    assert matching_tolerations([UNREACHABLE], [tol]) == (True, [(UNREACHABLE, tol)])
    assert matching_tolerations([UNREACHABLE, CUSTOM], [tol]) == (False, [])
    assert matching_tolerations([UNREACHABLE], []) == (False, [])


@pytest.mark.parametrize("seconds, expected", [
    ([], 0.0),
    ([None], None),  # tolerates forever
    ([300, None, 30], 30.0),
    ([300, -5], 0.0),  # negative means at once
])
def test_min_toleration_seconds(seconds, expected):
    tolerations = [{"operator": "Exists"} | ({} if s is None else {"tolerationSeconds": s}) for s in seconds]
    assert min_toleration_seconds(tolerations) == expected


@pytest.mark.parametrize("ready, not_ready, expected", [
    (3, 0, STATE_NORMAL), (0, 1, STATE_FULL_DISRUPTION), (0, 0, STATE_NORMAL),
    (1, 2, STATE_NORMAL),  # too few not-ready nodes to call it a disruption
    (2, 3, STATE_PARTIAL_DISRUPTION), (3, 3, STATE_NORMAL),
])
def test_compute_zone_state(ready, not_ready, expected):
    assert compute_zone_state(ready, not_ready) == expected


@pytest.mark.parametrize("taints, status, may_add, expected_keys", [
    ([], "Unknown", True, [TAINT_UNREACHABLE]),
    ([], "Unknown", False, []),  # no eviction budget: wait
    ([{"key": TAINT_NOT_READY, "effect": "NoExecute"}], "Unknown", False, [TAINT_UNREACHABLE]),  # swap
    ([{"key": TAINT_UNREACHABLE, "effect": "NoExecute"}], "False", False, [TAINT_NOT_READY]),
    ([{"key": TAINT_UNREACHABLE, "effect": "NoExecute"}, CUSTOM], "True", False, ["example.com/broken"]),
    ([{"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}], "True", False, [TAINT_UNREACHABLE]),  # not ours
])
def test_desired_taints(taints, status, may_add, expected_keys):
    node = {"spec": {"taints": taints}}
    clock = FakeClock()
    result = desired_taints(node, status, clock.now(), may_add=may_add)
    assert [t["key"] for t in result] == expected_keys
    for t in result:
        if t not in taints:
            assert t["timeAdded"] == rfc3339(clock.now())


def test_desired_taints_keeps_an_existing_taint_unchanged():
    taint = {"key": TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": "2020-01-01T00:00:00Z"}
    assert desired_taints({"spec": {"taints": [taint]}}, "Unknown", FakeClock().now(), may_add=True) == [taint]


# ---- harness ------------------------------------------------------------------------------------

class Env:
    def __init__(self, client: LocalClient, clock: FakeClock):
        self.client, self.clock = client, clock
        self.factory = InformerFactory(client, clock=clock)
        self.recorder = EventRecorder(client, "node-controller", clock=clock)
        self.ctrl = NodeLifecycleController(client, self.factory, self.recorder, clock=clock, workers=2)

    async def start(self):
        await self.factory.start()
        await self.factory.wait_for_sync(2)
        await self.ctrl.start()
        await settle()  # the controller's first look: health is counted from here

    async def stop(self):
        await self.ctrl.stop()
        await self.factory.stop()
        await self.recorder.close()

    async def add_node(self, name: str, ready: str = "True") -> None:
        await self.client.create(NODES, None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        await self.post_status(name, ready)
        await self.client.create(LEASES, "kube-node-lease", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     "renewTime": rfc3339_micro(self.clock.now())}})

    async def post_status(self, name: str, ready: str = "True") -> None:
        """What a kubelet posts: all four conditions with a fresh heartbeat."""
        node = await self.client.get(NODES, None, name)
        stamp = rfc3339(self.clock.now())
        old = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}

        def cond(kind: str, status: str) -> dict:
            moved = kind not in old or old[kind]["status"] != status
            return {"type": kind, "status": status, "reason": f"Kubelet{kind}", "message": "",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp if moved else old[kind]["lastTransitionTime"]}

        node["status"] = {"conditions": [cond("MemoryPressure", "False"), cond("DiskPressure", "False"),
                                         cond("PIDPressure", "False"), cond("Ready", ready)]}
        await self.client.update(NODES, node, subresource="status")

    async def renew(self, name: str) -> None:
        await self.client.patch(LEASES, "kube-node-lease", name,
                                {"spec": {"renewTime": rfc3339_micro(self.clock.now())}})

    async def add_pod(self, name: str, node: str, tolerations: list | None = None, ready: bool = True) -> None:
        spec = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
        if tolerations is not None:
            spec["tolerations"] = tolerations
        await self.client.create(PODS, NS, {"apiVersion": "v1", "kind": "Pod",
                                            "metadata": {"name": name, "namespace": NS}, "spec": spec})
        if ready:
            pod = await self.client.get(PODS, NS, name)
            pod["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self.clock.now())}]}
            await self.client.update(PODS, pod, subresource="status")

    async def node(self, name: str) -> dict:
        return await self.client.get(NODES, None, name)

    async def taint_keys(self, name: str) -> list[str]:
        return [t["key"] for t in (await self.node(name)).get("spec", {}).get("taints") or []]

    async def evicted(self, name: str) -> bool:
        """Deleted, or (with no kubelet to finish a graceful deletion) terminating."""
        items = (await self.client.list(PODS, NS))["items"]
        pod = next((p for p in items if p["metadata"]["name"] == name), None)
        return pod is None or bool(pod["metadata"].get("deletionTimestamp"))

    async def events(self, reason: str) -> list[dict]:
        await self.recorder.flush()
        return [e for e in (await self.client.list(EVENTS, NS))["items"] if e["reason"] == reason]


def condition(obj: dict, kind: str) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


@pytest.fixture
async def env():
    client = await LocalClient.start()
    e = Env(client, FakeClock())
    yield e
    await e.stop()
    await client.close()


async def run_until(env: Env, check, *, keep_alive: tuple[str, ...] = (), advance: float = 1.0,
                    timeout: float = 5.0):
    """Advance fake time until check() holds, renewing the leases of the `keep_alive` nodes."""
    async def step():
        for name in keep_alive:
            await env.renew(name)
        return await check()
    return await eventually(step, env.clock, timeout=timeout, advance=advance)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.002)


# ---- node health --------------------------------------------------------------------------------

async def test_lease_expiry_makes_node_unknown_and_unreachable(env):
    await env.add_node("n1")
    await env.add_node("n2")  # stays healthy, so the zone is not fully disrupted
    await env.add_pod("p1", "n1")
    await env.start()

    env.clock.advance(30)
    await settle()
    assert condition(await env.node("n1"), "Ready")["status"] == "True"  # still within the grace period

    async def tainted():
        return TAINT_UNREACHABLE in await env.taint_keys("n1")
    await run_until(env, tainted, keep_alive=("n2",))

    node = await env.node("n1")
    for kind in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
        cond = condition(node, kind)
        assert (cond["status"], cond["reason"], cond["message"]) == (
            "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    taint = next(t for t in node["spec"]["taints"] if t["key"] == TAINT_UNREACHABLE)
    assert taint["effect"] == "NoExecute" and taint["timeAdded"]
    assert await env.taint_keys("n2") == []

    pod = await env.client.get(PODS, NS, "p1")
    assert condition(pod, "Ready")["status"] == "False"
    node_events = await env.events("NodeNotReady")
    messages = {(e["involvedObject"]["kind"], e["message"]) for e in node_events}
    assert ("Node", "Node n1 status is now: NodeNotReady") in messages
    assert ("Pod", "Node is not ready") in messages


async def test_recovery_removes_the_taint(env):
    await env.add_node("n1")
    await env.add_node("n2")
    await env.start()

    async def tainted():
        return TAINT_UNREACHABLE in await env.taint_keys("n1")
    await run_until(env, tainted, keep_alive=("n2",))

    await env.renew("n1")
    await env.post_status("n1", "True")

    async def untainted():
        return await env.taint_keys("n1") == []
    await run_until(env, untainted, keep_alive=("n1", "n2"))
    assert condition(await env.node("n1"), "Ready")["status"] == "True"


async def test_kubelet_reporting_not_ready_gets_not_ready_taint_then_unreachable(env):
    await env.add_node("n1")
    await env.add_node("n2")
    await env.start()
    await env.post_status("n1", "False")

    async def not_ready_tainted():
        return await env.taint_keys("n1") == [TAINT_NOT_READY]
    await run_until(env, not_ready_tainted, keep_alive=("n1", "n2"))

    async def swapped():  # n1 goes silent: unreachable replaces not-ready
        return await env.taint_keys("n1") == [TAINT_UNREACHABLE]
    await run_until(env, swapped, keep_alive=("n2",))


async def test_a_node_that_never_posts_status_becomes_unknown_after_startup_grace(env):
    await env.client.create(NODES, None, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "silent"}})
    await env.add_node("n2")
    await env.start()

    async def unknown():
        conds = (await env.node("silent")).get("status", {}).get("conditions") or []
        return [c for c in conds if c["type"] == "Ready" and c["status"] == "Unknown"]
    started = env.clock.monotonic()
    [cond] = await run_until(env, unknown, keep_alive=("n2",))
    assert env.clock.monotonic() - started > 60
    assert (cond["reason"], cond["message"]) == ("NodeStatusNeverUpdated", "Kubelet never posted node status.")


async def test_no_taints_when_every_node_is_down(env):
    await env.add_node("only")
    await env.start()

    async def unknown():
        return condition(await env.node("only"), "Ready")["status"] == "Unknown"
    await run_until(env, unknown)
    env.clock.advance(30)
    await settle()
    assert await env.taint_keys("only") == []  # master disruption mode: nothing is evicted
    assert env.ctrl.master_disruption


# ---- taint eviction -----------------------------------------------------------------------------

async def test_pods_evicted_by_their_tolerations_of_unreachable(env):
    await env.add_node("n1")
    await env.add_node("n2")
    await env.add_pod("default-toleration", "n1")  # admission adds unreachable for 300 s
    await env.add_pod("forever", "n1", [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])
    await env.add_pod("at-once", "n1", [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                         "tolerationSeconds": 0}])
    await env.start()

    async def tainted():
        return TAINT_UNREACHABLE in await env.taint_keys("n1")
    await run_until(env, tainted, keep_alive=("n2",))
    added = parse_time(next(t for t in (await env.node("n1"))["spec"]["taints"])["timeAdded"])

    await run_until(env, lambda: env.evicted("at-once"), keep_alive=("n2",), advance=0.1)
    assert not await env.evicted("default-toleration")

    env.clock.advance(298 - (env.clock.now() - added).total_seconds())
    await settle()
    assert not await env.evicted("default-toleration")

    await run_until(env, lambda: env.evicted("default-toleration"), keep_alive=("n2",))
    assert (env.clock.now() - added).total_seconds() >= 300
    pod = await env.client.get(PODS, NS, "default-toleration")
    target = condition(pod, "DisruptionTarget")
    assert (target["status"], target["reason"]) == ("True", "DeletionByTaintManager")

    env.clock.advance(3600)
    await settle()
    assert not await env.evicted("forever")
    messages = {e["message"] for e in await env.events("TaintManagerEviction")}
    assert messages == {"Marking for deletion Pod default/at-once", "Marking for deletion Pod default/default-toleration"}


async def test_untolerated_custom_taint_evicts_at_once(env):
    await env.add_node("n1")
    await env.add_pod("plain", "n1")
    await env.add_pod("tolerant", "n1", [{"key": "example.com/broken", "operator": "Exists"}])
    await env.start()

    node = await env.node("n1")
    node.setdefault("spec", {})["taints"] = [CUSTOM]
    await env.client.update(NODES, node)

    await run_until(env, lambda: env.evicted("plain"), keep_alive=("n1",), advance=0.0)
    await settle()
    assert not await env.evicted("tolerant")


async def test_recovery_cancels_a_scheduled_eviction(env):
    await env.add_node("n1")
    await env.add_node("n2")
    await env.add_pod("p", "n1")
    await env.start()

    async def tainted():
        return TAINT_UNREACHABLE in await env.taint_keys("n1")
    await run_until(env, tainted, keep_alive=("n2",))
    await env.renew("n1")
    await env.post_status("n1", "True")

    async def untainted():
        return await env.taint_keys("n1") == []
    await run_until(env, untainted, keep_alive=("n1", "n2"))
    env.clock.advance(400)
    await settle()
    assert not await env.evicted("p")
    messages = {e["message"] for e in await env.events("TaintManagerEviction")}
    assert messages == {"Cancelling deletion of Pod default/p"}
