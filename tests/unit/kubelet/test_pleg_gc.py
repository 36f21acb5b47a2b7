"""The relist (pleg.py) on the fake runtime: dead sandboxes are replaced (SandboxChanged), exits wake
workers, steady pods cost no ContainerStatus call; and the sandbox garbage collector (gc.py)."""

from __future__ import annotations

import pytest

from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.kubelet.gc import GarbageCollector
from kubeling.kubelet.podworker import SANDBOX_CHANGED_MESSAGE, PodWorkers
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.runtime.base import SandboxConfig
from kubeling.kubelet.runtime.fake import FakeRuntime
from kubeling.kubelet.status import StatusManager
from tests.unit.kubelet.test_podworker import PODS, F, Env, Recorder, c


class CountingRuntime(FakeRuntime):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.status_calls = 0

    async def container_status(self, container_id):
        self.status_calls += 1
        return await super().container_status(container_id)


@pytest.fixture
async def env():
    client = await LocalClient.start()
    clock = FakeClock()
    runtime = CountingRuntime(clock=clock)
    rec = Recorder()
    status = StatusManager(client, clock)
    probes = ProbeManager(runtime, clock, recorder=rec)
    workers = PodWorkers(runtime, client, status, probes, node_name="node-1", node_ip="192.0.2.10",
                         clock=clock, recorder=rec, relist_period=1.0)
    yield Env(client, clock, runtime, rec, status, probes, workers)
    await workers.close()
    await probes.close()
    await client.close()


def kill_pause(runtime: FakeRuntime, sandbox_id: str) -> None:
    """What containerd reports when a sandbox's pause process dies: NOTREADY, its containers still run."""
    runtime._sandboxes[sandbox_id].status.state = "SANDBOX_NOTREADY"


def the_sandbox(env: Env, uid: str) -> str:
    return env.workers._workers[uid].sandbox_id


def test_fake_runtime_needs_no_relist():
    runtime = FakeRuntime()
    workers = PodWorkers(runtime, None, None, ProbeManager(runtime), node_name="n", node_ip="192.0.2.1")
    assert workers.relister is None


async def test_dead_sandbox_is_recreated(env: Env):
    pod = await env.run_pod("web", [c("app")], terminationGracePeriodSeconds=3)
    uid = pod["metadata"]["uid"]
    old, old_ip = the_sandbox(env, uid), (await env.api("web"))["status"]["podIP"]
    kill_pause(env.runtime, old)
    await env.tick(2)
    assert env.recorder.events.count(("Normal", "SandboxChanged", SANDBOX_CHANGED_MESSAGE)) == 1
    assert env.recorder.messages("Killing") == ["Stopping container app"]
    new = the_sandbox(env, uid)
    assert new and new != old
    st = await env.runtime.pod_sandbox_status(new)
    assert st.state == "SANDBOX_READY" and st.attempt == 1 and st.uid == uid
    pod = await env.api("web")
    cs = pod["status"]["containerStatuses"][0]
    assert "running" in cs["state"] and cs["restartCount"] == 1
    assert cs["lastState"]["terminated"]["exitCode"] == 143
    assert pod["status"]["podIP"] and pod["status"]["podIP"] != old_ip
    # the old sandbox holds the last dead instance (logs --previous) until it is replaced
    assert (await env.runtime.pod_sandbox_status(old)).state == "SANDBOX_NOTREADY"
    worker = env.workers._workers[uid]
    await worker._kill(worker.containers["app"], 0)
    await env.tick(12)  # restarted after its back-off: the dead instance before it goes, its sandbox too
    assert old not in {s.id for s in await env.runtime.list_pod_sandboxes()}
    assert old not in env.workers.owned_sandboxes() and new in env.workers.owned_sandboxes()


async def test_init_containers_run_again_in_a_new_sandbox(env: Env):
    ann = {F + "init.exit-after": "1s"}
    pod = await env.run_pod("init", [c("app")], ann, initContainers=[c("init")], terminationGracePeriodSeconds=1)
    await env.tick(3)
    assert env.recorder.messages("Started") == ["Started container init", "Started container app"]
    kill_pause(env.runtime, the_sandbox(env, pod["metadata"]["uid"]))
    await env.tick(5)
    assert env.recorder.messages("Started")[2:] == ["Started container init", "Started container app"]
    assert (await env.api("init"))["status"]["phase"] == "Running"


async def test_never_pod_fails_when_its_sandbox_dies(env: Env):
    pod = await env.run_pod("once", [c("app")], restartPolicy="Never", terminationGracePeriodSeconds=1)
    kill_pause(env.runtime, the_sandbox(env, pod["metadata"]["uid"]))
    await env.tick(3)
    assert "SandboxChanged" not in env.recorder.reasons()
    pod = await env.api("once")
    assert pod["status"]["phase"] == "Failed"
    assert env.recorder.messages("Started") == ["Started container app"]


async def test_exit_wakes_the_worker_and_steady_pods_cost_nothing(env: Env):
    await env.run_pod("steady", [c("app")])
    await env.tick(3)
    calls = env.runtime.status_calls
    await env.tick(10)
    assert env.runtime.status_calls == calls  # the relist says nothing changed
    await env.run_pod("exits", [c("app")], {F + "exit-after": "1.5s", F + "exit-code": "1"})
    await env.tick(2, step=0.5)  # exits at 1.5 s; the relist at 2 s sees it and wakes the worker
    pod = await env.api("exits")
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 1


# ---- garbage collection


async def _stray_sandbox(runtime: FakeRuntime, uid: str) -> str:
    return await runtime.run_pod_sandbox(SandboxConfig(name="gone", namespace="default", uid=uid))


async def test_gc_removes_sandboxes_no_pod_owns(env: Env):
    pod = await env.run_pod("live", [c("app")])
    live_uid = pod["metadata"]["uid"]
    stray = await _stray_sandbox(env.runtime, "deleted-while-down")
    bound = await _stray_sandbox(env.runtime, "bound-not-started")
    env.clock.advance(5)
    leftover = await _stray_sandbox(env.runtime, live_uid)  # made after the worker began: maybe its own
    gc = GarbageCollector(env.runtime, env.workers, bound_uids=lambda: {live_uid, "bound-not-started"},
                          synced=lambda: True, clock=env.clock)
    assert await gc.collect() == [stray]
    ids = {s.id for s in await env.runtime.list_pod_sandboxes()}
    assert {bound, leftover, the_sandbox(env, live_uid)} <= ids and stray not in ids


async def test_gc_removes_leftovers_of_an_earlier_run(env: Env):
    leftover = await _stray_sandbox(env.runtime, "restarted")
    env.clock.advance(5)
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "again", "namespace": "default"},
            "spec": {"nodeName": "node-1", "containers": [c("app")]}}
    pod = await env.client.create(PODS, "default", body)
    env.runtime._sandboxes[leftover].config.uid = pod["metadata"]["uid"]
    env.runtime._sandboxes[leftover].status.uid = pod["metadata"]["uid"]
    env.workers.update(pod)
    await env.workers.wait_idle()
    gc = GarbageCollector(env.runtime, env.workers, bound_uids=lambda: {pod["metadata"]["uid"]},
                          synced=lambda: True, clock=env.clock)
    assert await gc.collect() == [leftover]


async def test_gc_waits_for_the_informer(env: Env):
    stray = await _stray_sandbox(env.runtime, "deleted-while-down")
    synced = []
    env.workers.start_gc(lambda: set(), lambda: bool(synced), period=60)
    for _ in range(3):
        env.clock.advance(1)
        await env.workers.wait_idle()
    assert stray in {s.id for s in await env.runtime.list_pod_sandboxes()}
    synced.append(True)
    env.clock.advance(0.1)
    for _ in range(50):
        await env.workers.wait_idle()
    assert stray not in {s.id for s in await env.runtime.list_pod_sandboxes()}
