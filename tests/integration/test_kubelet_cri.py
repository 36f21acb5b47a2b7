"""A Kubelet on a real containerd (its own root, socket, CNI bridge and subnet; see
tests/support/containerd.py) with an in-process API server: resources and security context reach
the container, postStart hooks run, a sandbox whose pause process dies is replaced, exits are
noticed by the relist, and sandboxes no pod owns are collected. Skipped where containerd cannot run."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import pytest

from kubeling.api import registry
from kubeling.client.local import LocalClient
from kubeling.images import BUSYBOX_IMAGE
from kubeling.kubelet.agent import Kubelet
from kubeling.kubelet.podworker import SANDBOX_CHANGED_MESSAGE
from kubeling.kubelet.runtime.base import SandboxConfig
from kubeling.kubelet.runtime.cri import CRIRuntime
from tests.support.containerd import (  # noqa: F401
    CGROUP_PARENT,
    containerd_fixture,
    cri_client,
    pod_log_root,
    pod_network_fixture,
    remove_sandbox,
)

PODS = registry.lookup("", "v1", "pods")
EVENTS = registry.lookup("", "v1", "events")
NODE = "kubelet-cri-test"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def kubelet(containerd, tmp_path):
    client = await LocalClient.start()
    runtime = CRIRuntime(containerd.endpoint, pod_log_root=pod_log_root(containerd), cgroup_parent=CGROUP_PARENT)
    k = Kubelet(client, runtime, node_name=NODE, node_ip="127.0.0.1", root_dir=tmp_path / "kubelet")
    await k.start()
    await k.wait_ready()
    try:
        yield k
    finally:
        await k.stop()
        await client.close()
        async with cri_client(containerd.endpoint) as cri:
            for sandbox in await cri.list_pod_sandboxes():
                await remove_sandbox(cri, sandbox.id)


async def run_pod(k: Kubelet, name: str, containers: list[dict], **spec) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": containers, **spec}}
    return await k.client.create(PODS, "default", body)


def busybox(name: str, script: str, **extra) -> dict:
    return {"name": name, "image": BUSYBOX_IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script], **extra}


async def until(check, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


async def running(k: Kubelet, name: str, restarts: int = 0) -> dict:
    async def check():
        pod = await k.client.get(PODS, "default", name)
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        ok = statuses and all("running" in s["state"] and s["restartCount"] >= restarts for s in statuses)
        return pod if ok else None
    return await until(check, what=f"pod {name} running with {restarts} restart(s)")


async def events(k: Kubelet, reason: str) -> list[str]:
    items = (await k.client.list(EVENTS, "default"))["items"]
    return [e["message"] for e in items if e.get("reason") == reason]


def container_id(pod: dict, index: int = 0) -> str:
    return pod["status"]["containerStatuses"][index]["containerID"].split("://", 1)[1]


async def sh(k: Kubelet, cid: str, script: str) -> tuple[int, str]:
    result = await k.runtime.exec_sync(cid, ["sh", "-c", script], 10)
    return result.exit_code, (result.stdout + result.stderr).decode().strip()


async def test_resources_and_security_context_take_effect(kubelet):
    c = busybox("app", "sleep 3600", resources={"limits": {"cpu": "250m", "memory": "64Mi"}},
                securityContext={"runAsUser": 1000, "runAsGroup": 2000, "readOnlyRootFilesystem": True})
    await run_pod(kubelet, "limited", [c])
    cid = container_id(await running(kubelet, "limited"))
    assert await sh(kubelet, cid, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes") == (0, str(64 * 1024 ** 2))
    assert await sh(kubelet, cid, "cat /sys/fs/cgroup/cpu*/cpu.cfs_quota_us | head -1") == (0, "25000")
    assert await sh(kubelet, cid, "cat /sys/fs/cgroup/cpu*/cpu.cfs_period_us | head -1") == (0, "100000")
    assert await sh(kubelet, cid, "cat /sys/fs/cgroup/cpu*/cpu.shares | head -1") == (0, "256")
    assert await sh(kubelet, cid, "id -u; id -g") == (0, "1000\n2000")
    code, out = await sh(kubelet, cid, "touch /made-here")
    assert code != 0 and "Read-only file system" in out
    assert (await sh(kubelet, cid, "touch /tmp/x"))[0] != 0  # no emptyDir: /tmp is the root too


async def test_post_start_exec_hook(kubelet):
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "echo hooked > /tmp/hook"]}}}
    c = busybox("app", "while [ ! -f /tmp/hook ]; do sleep 0.1; done; cat /tmp/hook; sleep 3600", lifecycle=hook)
    await run_pod(kubelet, "hooked", [c])
    cid = container_id(await running(kubelet, "hooked"))
    assert await sh(kubelet, cid, "cat /tmp/hook") == (0, "hooked")
    log = await until(lambda: _log(kubelet, cid), what="the container's output")
    assert log == [b"hooked\n"]

    failing = {"postStart": {"exec": {"command": ["sh", "-c", "echo no >&2; exit 3"]}}}
    pod = await run_pod(kubelet, "badhook", [busybox("app", "sleep 3600", lifecycle=failing)])
    messages = await until(lambda: events(kubelet, "FailedPostStartHook"), what="FailedPostStartHook")
    assert messages[0] == (f'Exec lifecycle hook ([sh -c echo no >&2; exit 3]) for Container "app" in Pod '
                           f'"badhook_default({pod["metadata"]["uid"]})" failed - error: command '
                           f"'sh -c echo no >&2; exit 3' exited with 3: no\n, message: \"no\\n\"")
    assert "FailedPostStartHook" in await events(kubelet, "Killing")


async def _log(k: Kubelet, cid: str) -> list[bytes]:
    return [line async for line in k.runtime.logs(cid)]


async def test_dead_sandbox_is_replaced(kubelet, containerd):
    await run_pod(kubelet, "phoenix", [busybox("app", "sleep 3600")])
    pod = await running(kubelet, "phoenix")
    uid = pod["metadata"]["uid"]
    old = kubelet.pods._workers[uid].sandbox_id
    kill = subprocess.run(["ctr", "--address", containerd.address, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL",
                           old], capture_output=True, text=True, timeout=30)
    assert kill.returncode == 0, kill.stderr
    began = time.monotonic()
    pod = await running(kubelet, "phoenix", restarts=1)
    took = time.monotonic() - began
    new = kubelet.pods._workers[uid].sandbox_id
    assert new != old
    st = await kubelet.runtime.pod_sandbox_status(new)
    assert (st.state, st.attempt, st.uid) == ("SANDBOX_READY", 1, uid)
    assert (await kubelet.runtime.pod_sandbox_status(old)).state == "SANDBOX_NOTREADY"
    assert pod["status"]["podIP"] == st.ip
    assert await events(kubelet, "SandboxChanged") == [SANDBOX_CHANGED_MESSAGE]
    assert took < 15, took


async def test_exit_is_noticed_and_restarted(kubelet):
    await run_pod(kubelet, "crash", [busybox("app", "sleep 1; exit 2")])
    began = time.monotonic()
    pod = await running(kubelet, "crash", restarts=1)
    assert time.monotonic() - began < 6
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (2, "Error")


async def test_gc_removes_unowned_sandboxes(kubelet):
    await run_pod(kubelet, "keeper", [busybox("app", "sleep 3600")])
    pod = await running(kubelet, "keeper")
    stray_uid = str(uuid.uuid4())
    stray = await kubelet.runtime.run_pod_sandbox(SandboxConfig(name="gone", namespace="default", uid=stray_uid,
                                                                host_network=True))
    assert kubelet.pods.gc is not None
    assert await kubelet.pods.gc.collect() == [stray]
    ids = {s.id for s in await kubelet.runtime.list_pod_sandboxes()}
    assert stray not in ids and kubelet.pods._workers[pod["metadata"]["uid"]].sandbox_id in ids
