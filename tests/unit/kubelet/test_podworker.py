"""The pod worker state machine, on a FakeClock, the fake runtime and an in-process API server."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.kubelet.podworker import Backoff, PodWorkers, go_duration
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.runtime.fake import FakeRuntime
from kubeling.kubelet.status import StatusManager

PODS = registry.lookup("", "v1", "pods")
F = "fake.kubeling.io/"


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, str, str]] = []  # (type, reason, message)

    def event(self, obj, type_, reason, message):
        self.events.append((type_, reason, message))

    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.events]

    def messages(self, reason: str) -> list[str]:
        return [m for _, r, m in self.events if r == reason]


@dataclass
class Env:
    client: LocalClient
    clock: FakeClock
    runtime: FakeRuntime
    recorder: Recorder
    status: StatusManager
    probes: ProbeManager
    workers: PodWorkers

    async def run_pod(self, name: str, containers: list[dict], annotations: dict | None = None, **spec) -> dict:
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
                "spec": {"nodeName": "node-1", "containers": containers, **spec}}
        pod = await self.client.create(PODS, "default", body)
        self.workers.update(pod)
        await self.workers.wait_idle()
        return pod

    async def tick(self, seconds: float = 1.0, step: float = 1.0) -> None:
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step
            await self.workers.wait_idle()

    async def api(self, name: str) -> dict:
        return await self.client.get(PODS, "default", name)


@pytest.fixture
async def env():
    client = await LocalClient.start()
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock)
    rec = Recorder()
    status = StatusManager(client, clock)
    probes = ProbeManager(runtime, clock, recorder=rec)
    workers = PodWorkers(runtime, client, status, probes, node_name="node-1", node_ip="192.0.2.10",
                         clock=clock, recorder=rec)
    yield Env(client, clock, runtime, rec, status, probes, workers)
    await workers.close()
    await probes.close()
    await client.close()


def c(name: str, **extra) -> dict:
    return {"name": name, "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent", **extra}


def cond(pod: dict, type_: str) -> dict:
    return next(x for x in pod["status"]["conditions"] if x["type"] == type_)


async def test_happy_path_running_and_ready(env: Env):
    await env.run_pod("web", [c("app")])
    pod = await env.api("web")
    st = pod["status"]
    assert st["phase"] == "Running"
    assert st["hostIP"] == "192.0.2.10" and st["hostIPs"] == [{"ip": "192.0.2.10"}]
    assert st["podIP"] and st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["startTime"].endswith("Z")
    cs = st["containerStatuses"][0]
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert "running" in cs["state"] and cs["containerID"].startswith("fake://")
    assert cs["image"] == "busybox:1.36" and cs["imageID"]
    for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"):
        assert cond(pod, t)["status"] == "True", t
    assert env.recorder.messages("Created") == ["Created container: app"]
    assert env.recorder.messages("Started") == ["Started container app"]
    assert env.recorder.messages("Pulling") == ['Pulling image "busybox:1.36"']
    assert env.recorder.messages("Pulled")[0].startswith('Successfully pulled image "busybox:1.36" in 0s')


async def test_no_redundant_status_writes(env: Env):
    await env.run_pod("quiet", [c("app")])
    writes = env.status.writes
    await env.tick(30)
    assert env.status.writes == writes  # nothing changed, nothing written


async def test_one_status_write_for_a_bound_pod_that_starts_at_once(env: Env):
    # pods/binding writes PodScheduled with lastProbeTime null, which a merge patch drops: the
    # pod read back must not look changed to the kubelet (it was written twice per pod).
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bound", "namespace": "default"},
            "spec": {"containers": [c("app")]}}
    await env.client.create(PODS, "default", body)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    await env.client.create(PODS, "default", binding, subresource="binding", name="bound")
    env.workers.update(await env.api("bound"))
    await env.workers.wait_idle()
    await env.status.flush()
    env.workers.update(await env.api("bound"))  # the kubelet's own write, seen by its watch
    await env.workers.wait_idle()
    await env.status.flush()
    assert env.status.writes == 1
    assert (await env.api("bound"))["status"]["phase"] == "Running"


async def test_init_containers_run_in_order_before_app(env: Env):
    ann = {F + "init-a.exit-after": "2s", F + "init-b.exit-after": "3s"}
    await env.run_pod("init", [c("app")], ann, initContainers=[c("init-a"), c("init-b")])
    pod = await env.api("init")
    assert pod["status"]["phase"] == "Pending"
    assert cond(pod, "Initialized")["message"] == "containers with incomplete status: [init-a init-b]"
    assert [s["state"].get("waiting", {}).get("reason") for s in pod["status"]["initContainerStatuses"]] == \
        [None, "PodInitializing"]
    await env.tick(8)
    pod = await env.api("init")
    assert pod["status"]["phase"] == "Running"
    assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    assert env.recorder.messages("Started") == ["Started container init-a", "Started container init-b",
                                               "Started container app"]


async def test_failed_init_container_with_never_fails_pod(env: Env):
    ann = {F + "init-a.exit-after": "1s", F + "init-a.exit-code": "2"}
    await env.run_pod("bad-init", [c("app")], ann, initContainers=[c("init-a")], restartPolicy="Never")
    await env.tick(3)
    pod = await env.api("bad-init")
    assert pod["status"]["phase"] == "Failed"
    assert env.recorder.messages("Started") == ["Started container init-a"]


async def test_sidecar_keeps_running_and_app_starts(env: Env):
    await env.run_pod("side", [c("app")], initContainers=[c("proxy", restartPolicy="Always")])
    pod = await env.api("side")
    assert pod["status"]["phase"] == "Running"
    assert "running" in pod["status"]["initContainerStatuses"][0]["state"]
    assert cond(pod, "Ready")["status"] == "True"


@pytest.mark.parametrize("policy,code,phase,restarts", [
    ("Always", 0, "Running", True),
    ("OnFailure", 0, "Succeeded", False),
    ("OnFailure", 1, "Running", True),
    ("Never", 0, "Succeeded", False),
    ("Never", 3, "Failed", False),
])
async def test_restart_policies(env: Env, policy, code, phase, restarts):
    ann = {F + "exit-after": "2s", F + "exit-code": str(code)}
    await env.run_pod("job", [c("app")], ann, restartPolicy=policy)
    await env.tick(4)
    pod = await env.api("job")
    cs = pod["status"]["containerStatuses"][0]
    assert pod["status"]["phase"] == phase
    assert (cs["restartCount"] > 0) is restarts
    if phase in ("Succeeded", "Failed"):
        term = cs["state"]["terminated"]
        assert term["exitCode"] == code and term["reason"] == ("Completed" if code == 0 else "Error")
        assert cond(pod, "Ready")["reason"] == ("PodCompleted" if phase == "Succeeded" else "PodFailed")


async def test_crash_loop_back_off_grows(env: Env):
    ann = {F + "exit-after": "1s", F + "exit-code": "1"}
    pod = await env.run_pod("crash", [c("app")], ann)
    uid = pod["metadata"]["uid"]
    seen: list[str] = []
    for _ in range(120):
        await env.tick(1)
        cs = env.status.get(uid)["containerStatuses"][0]
        waiting = cs["state"].get("waiting", {})
        if waiting.get("reason") == "CrashLoopBackOff" and waiting["message"] not in seen:
            seen.append(waiting["message"])
            assert cs["lastState"]["terminated"]["exitCode"] == 1
    suffix = f"restarting failed container=app pod=crash_default({uid})"
    assert seen[:3] == [f"back-off {d} {suffix}" for d in ("10s", "20s", "40s")]
    assert env.recorder.messages("BackOff")[0] == f"Back-off restarting failed container app in pod crash_default({uid})"
    api = await env.api("crash")
    assert api["status"]["containerStatuses"][0]["restartCount"] >= 4


@pytest.mark.parametrize("steps,expected", [
    ([0, 0, 0], [10, 20, 40]),
    ([0, 0, 0, 0, 0, 0, 0], [10, 20, 40, 80, 160, 300, 300]),
    ([0, 0, 601], [10, 20, 10]),  # the container ran over 10 minutes: back to the start
])
async def test_backoff_table(steps, expected):
    clock = FakeClock()
    b = Backoff(clock)
    got = []
    for ran in steps:
        clock.advance(ran)
        b.next("k", clock.now().timestamp())
        got.append(b.get("k"))
    assert got == expected


@pytest.mark.parametrize("seconds,text", [(10, "10s"), (80, "1m20s"), (300, "5m0s"), (1.2, "1.2s"),
                                          (0.523, "523ms"), (0, "0s")])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


async def test_image_pull_failure_then_back_off(env: Env):
    pod = await env.run_pod("nopull", [c("app")], {F + "image-pull": "fail"})
    uid = pod["metadata"]["uid"]
    waiting = env.status.get(uid)["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull"
    assert "Error: ErrImagePull" in env.recorder.messages("Failed")
    assert env.recorder.messages("Failed")[0].startswith('Failed to pull image "busybox:1.36": ')
    await env.tick(1)
    waiting = env.status.get(uid)["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "busybox:1.36"'}
    assert (await env.api("nopull"))["status"]["phase"] == "Pending"


async def test_image_never_pull(env: Env):
    pod = await env.run_pod("never", [c("app", imagePullPolicy="Never")])
    waiting = env.status.get(pod["metadata"]["uid"])["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImageNeverPull"
    assert waiting["message"] == 'Container image "busybox:1.36" is not present with pull policy of Never'


async def test_graceful_deletion_order(env: Env):
    calls: list[tuple] = []
    stop, delete = env.runtime.stop_container, env.client.delete

    async def spy_stop(cid, timeout):
        calls.append(("stop", timeout))
        await stop(cid, timeout)

    async def spy_delete(rt, ns, name, **kw):
        calls.append(("delete", kw.get("grace_period_seconds"), kw.get("preconditions")))
        return await delete(rt, ns, name, **kw)

    env.runtime.stop_container, env.client.delete = spy_stop, spy_delete
    pod = await env.run_pod("bye", [c("app")], {F + "stop-delay": "5s"}, terminationGracePeriodSeconds=20)
    await delete(PODS, "default", "bye")  # a user's delete: sets deletionTimestamp, grace 20
    marked = await env.api("bye")
    assert marked["metadata"]["deletionTimestamp"]
    env.workers.update(marked)
    await env.workers.wait_idle()
    assert calls == [("stop", 20.0)]  # SIGTERM with the grace period; the process takes 5 s
    assert env.recorder.messages("Killing") == ["Stopping container app"]
    await env.tick(5)
    assert calls[-1] == ("delete", 0, {"uid": pod["metadata"]["uid"]})
    with pytest.raises(ApiError) as e:
        await env.api("bye")
    assert e.value.code == 404
    assert env.workers.running() == []
    assert await env.runtime.list_pod_sandboxes() == []


async def test_readiness_probe_drives_ready(env: Env):
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 5, "initialDelaySeconds": 3}
    await env.run_pod("probed", [c("app", readinessProbe=probe)])
    pod = await env.api("probed")
    assert pod["status"]["phase"] == "Running"
    assert cond(pod, "Ready")["status"] == "False"
    assert cond(pod, "ContainersReady")["message"] == "containers with unready status: [app]"
    await env.tick(4)
    pod = await env.api("probed")
    assert cond(pod, "Ready")["status"] == "True"
    assert pod["status"]["containerStatuses"][0]["ready"] is True


async def test_failing_readiness_probe_records_unhealthy(env: Env):
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 1}
    await env.run_pod("unready", [c("app", readinessProbe=probe)], {F + "readiness": "fail"})
    await env.tick(3)
    pod = await env.api("unready")
    assert cond(pod, "Ready")["status"] == "False"
    assert env.recorder.messages("Unhealthy")[0].startswith("Readiness probe failed")


async def test_liveness_failure_restarts_container(env: Env):
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 3}
    await env.run_pod("live", [c("app", livenessProbe=probe)], {F + "liveness": "fail-after 5s"})
    await env.tick(12)
    pod = await env.api("live")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["restartCount"] >= 1
    assert "Container app failed liveness probe, will be restarted" in env.recorder.messages("Killing")
    assert cs["lastState"]["terminated"]["exitCode"] == 143


async def test_startup_probe_gates_readiness(env: Env):
    startup = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 30}
    await env.run_pod("slow", [c("app", startupProbe=startup)], {F + "startup": "pass-after 4s"})
    pod = await env.api("slow")
    assert pod["status"]["containerStatuses"][0]["started"] is False
    assert cond(pod, "Ready")["status"] == "False"
    await env.tick(6)
    pod = await env.api("slow")
    assert pod["status"]["containerStatuses"][0]["started"] is True
    assert cond(pod, "Ready")["status"] == "True"


async def test_active_deadline_fails_pod(env: Env):
    await env.run_pod("deadline", [c("app")], activeDeadlineSeconds=5)
    await env.tick(6)
    pod = await env.api("deadline")
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert "Pod was active on the node longer than the specified deadline" in env.recorder.messages(
        "DeadlineExceeded")


async def test_env_from_missing_configmap_is_config_error(env: Env):
    env_var = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]
    pod = await env.run_pod("cfg", [c("app", env=env_var)])
    waiting = env.status.get(pod["metadata"]["uid"])["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "CreateContainerConfigError", "message": 'configmap "cfg" not found'}
    cms = registry.lookup("", "v1", "configmaps")
    await env.client.create(cms, "default", {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "cfg"}, "data": {"k": "v"}})
    await env.tick(1)
    assert "running" in env.status.get(pod["metadata"]["uid"])["containerStatuses"][0]["state"]


async def test_a_container_exit_wakes_its_worker_before_the_resync(env: Env):
    env.workers.resync = 60.0  # as simulated nodes run: container events, not polling, drive the worker
    ann = {F + "exit-after": "2s", F + "exit-code": "3"}
    await env.run_pod("job", [c("app")], ann, restartPolicy="Never")
    await env.tick(3)
    pod = await env.api("job")
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


async def test_closed_workers_stop_listening_to_the_runtime(env: Env):
    await env.workers.close()
    assert not env.runtime._listeners
