"""Which runtime calls a pod's start costs, and in what order (issue 6: pod startup on a busy
node): ImageStatus rides along with RunPodSandbox, CreateContainer follows PodSandboxStatus
directly, and a status write echoed back by the informer asks the runtime nothing."""

from __future__ import annotations

import asyncio

import pytest

from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.kubelet.podworker import PodWorkers
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.runtime.fake import FakeRuntime
from kubeling.kubelet.status import StatusManager
from tests.unit.kubelet.test_podworker import Env, Recorder, c

TRACED = ("run_pod_sandbox", "pod_sandbox_status", "image_status", "create_container", "start_container",
          "container_status", "pull_image")


class TracingRuntime(FakeRuntime):
    """Records ("begin"|"end", method) of the calls a pod's start makes; RunPodSandbox takes a
    few loop turns, as a real one takes time; `fail_images` ImageStatus calls fail first."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.log: list[tuple[str, str]] = []
        self.fail_images = 0

    def calls(self) -> list[str]:
        return [name for edge, name in self.log if edge == "end"]

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name not in TRACED:
            return attr
        log = super().__getattribute__("log")

        async def traced(*args, **kwargs):
            log.append(("begin", name))
            try:
                if name == "run_pod_sandbox":
                    for _ in range(5):
                        await asyncio.sleep(0)
                if name == "image_status" and self.fail_images:
                    self.fail_images -= 1
                    raise RuntimeError("runtime busy")
                return await attr(*args, **kwargs)
            finally:
                log.append(("end", name))
        return traced


@pytest.fixture
async def env():
    client = await LocalClient.start()
    clock = FakeClock()
    runtime = TracingRuntime(clock=clock)
    await runtime.pull_image("busybox:1.36")  # on the node already, as the benchmark's image
    runtime.log.clear()
    rec = Recorder()
    status = StatusManager(client, clock)
    probes = ProbeManager(runtime, clock, recorder=rec)
    workers = PodWorkers(runtime, client, status, probes, node_name="node-1", node_ip="192.0.2.10",
                         clock=clock, recorder=rec, relist_period=1.0)
    yield Env(client, clock, runtime, rec, status, probes, workers)
    await workers.close()
    await probes.close()
    await client.close()


async def test_image_status_is_asked_while_the_sandbox_is_made(env: Env):
    await env.run_pod("web", [c("app")])
    log = env.runtime.log
    assert log.index(("begin", "image_status")) < log.index(("end", "run_pod_sandbox"))
    assert env.runtime.calls() == ["image_status", "run_pod_sandbox", "pod_sandbox_status", "create_container",
                                   "start_container", "container_status"]
    # the pull decision and its event still come after the sandbox, before the container
    assert env.recorder.reasons()[:3] == ["Pulled", "Created", "Started"]
    assert env.recorder.messages("Pulled") == ['Container image "busybox:1.36" already present on machine']
    pod = await env.api("web")
    assert "running" in pod["status"]["containerStatuses"][0]["state"]


async def test_init_container_image_is_the_one_asked_early(env: Env):
    ann = {"fake.kubeling.io/init.exit-after": "1s"}
    await env.run_pod("init", [c("app", image="busybox:1.37")], ann, initContainers=[c("init")])
    log = env.runtime.log
    assert log.index(("begin", "image_status")) < log.index(("end", "run_pod_sandbox"))
    assert env.runtime.calls().count("image_status") == 1  # the app container's comes once init is done
    await env.tick(2)
    assert env.runtime.calls().count("image_status") == 2
    assert "running" in (await env.api("init"))["status"]["containerStatuses"][0]["state"]


async def test_a_failed_early_image_status_is_asked_again(env: Env):
    env.runtime.fail_images = 1
    await env.run_pod("retry", [c("app")])
    assert env.runtime.calls().count("image_status") == 2
    assert env.recorder.messages("Pulled") == ['Container image "busybox:1.36" already present on machine']
    assert "running" in (await env.api("retry"))["status"]["containerStatuses"][0]["state"]


async def test_status_echo_asks_the_runtime_nothing(env: Env):
    env.workers.relister.start()
    await env.workers.wait_idle()  # the first listing, before the pod
    env.clock.advance(0.5)  # the pod starts between two listings
    await env.run_pod("echo", [c("app")])
    before = env.runtime.calls().count("container_status")
    env.workers.update(await env.api("echo"))  # the kubelet's own status write, seen by its informer
    await env.workers.wait_idle()
    assert env.runtime.calls().count("container_status") == before
    await env.tick(1)  # the next listing sees it running: still nothing to ask
    env.workers.update(await env.api("echo"))
    await env.workers.wait_idle()
    assert env.runtime.calls().count("container_status") == before


async def test_a_change_after_the_observation_is_still_seen(env: Env):
    env.workers.relister.start()
    await env.workers.wait_idle()
    env.clock.advance(0.5)
    await env.run_pod("exits", [c("app")], {"fake.kubeling.io/app.exit-after": "1s",
                                            "fake.kubeling.io/app.exit-code": "1"})
    await env.tick(2, step=0.5)  # exits; the next listing sees it and the worker asks and restarts it
    pod = await env.api("exits")
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 1
