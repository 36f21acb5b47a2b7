"""CRIRuntime against a real containerd: kubeling's own Containerd (its root, state, socket, runc
root and CNI config under a temporary directory, set up by tests/support/containerd.py) with
kubeling's CNI conflist on a test bridge and subnet, running real containers from locally built
busybox/pause images.

Skipped unless root with containerd, runc, ctr, a static busybox and the CNI plugins present.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import statistics
import time
from pathlib import Path

import pytest

from kubeling.images import BUSYBOX_IMAGE, PAUSE_IMAGE
from kubeling.kubelet.runtime.base import ContainerConfig, ContainerState, Mount
from kubeling.kubelet.runtime.cri import (
    CRIError,
    CRINotFoundError,
    CRIRuntime,
    container_config,
    pod_sandbox_config,
)
from kubeling.kubelet.runtime.criapi import pb
from tests.support.containerd import (  # noqa: F401  (fixtures: pod_network, containerd, runtime)
    CGROUP_PARENT,
    PodNetwork,
    busybox,
    containerd_fixture,
    pod,
    pod_network_fixture,
    run,
    runtime_fixture,
)

pytestmark = pytest.mark.timeout(300)


async def wait_exited(rt: CRIRuntime, cid: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while True:
        st = await rt.container_status(cid)
        if st.state == ContainerState.EXITED or time.monotonic() > deadline:
            return st
        await asyncio.sleep(0.05)


async def read_logs(rt: CRIRuntime, cid: str, **kw) -> list[bytes]:
    return [line async for line in rt.logs(cid, **kw)]


# ---------------------------------------------------------------- tests


async def test_version_and_images(runtime: CRIRuntime):
    assert runtime.name == "containerd"
    assert runtime.version and runtime.api_version == "v1"
    image = await runtime.image_status(BUSYBOX_IMAGE)
    assert image is not None and image.id.startswith("sha256:") and image.size > 0
    assert BUSYBOX_IMAGE in image.repo_tags
    assert await runtime.image_status("busybox") is not None  # short names resolve as Kubernetes' do
    assert await runtime.image_status("docker.io/library/not-here:1.0") is None
    tags = {t for i in await runtime.list_images() for t in i.repo_tags}
    assert {BUSYBOX_IMAGE, PAUSE_IMAGE} <= tags
    conditions = await runtime.status()
    assert conditions["RuntimeReady"][0] and conditions["NetworkReady"][0]


async def test_sandbox_lifecycle(runtime: CRIRuntime, pod_network: PodNetwork):
    config = pod("sb", labels={"app": "web"}, annotations={"a": "b"},
                 dns={"nameservers": ["10.96.0.10"], "searches": ["default.svc.cluster.local"],
                      "options": [{"name": "ndots", "value": "5"}]})
    sid = await runtime.run_pod_sandbox(config)
    st = await runtime.pod_sandbox_status(sid)
    assert st.id == sid and st.state == "SANDBOX_READY" and st.created_at > time.time() - 60
    assert ipaddress.ip_address(st.ip) in ipaddress.ip_network(pod_network.subnet)
    assert sid in {s.id for s in await runtime.list_pod_sandboxes()}
    assert (runtime.pod_log_root / config.log_directory).is_dir()

    cid = await run(runtime, config, sid, "c", "sleep 1000")
    resolv = (await runtime.exec_sync(cid, ["cat", "/etc/resolv.conf"], 10)).stdout.decode()
    assert "nameserver 10.96.0.10" in resolv and "search default.svc.cluster.local" in resolv
    assert "options ndots:5" in resolv
    assert (await runtime.exec_sync(cid, ["hostname"], 10)).stdout == b"sb\n"

    await runtime.stop_pod_sandbox(sid)
    assert (await runtime.pod_sandbox_status(sid)).state == "SANDBOX_NOTREADY"
    assert (await runtime.container_status(cid)).state == ContainerState.EXITED
    await runtime.stop_pod_sandbox(sid)  # idempotent
    await runtime.remove_pod_sandbox(sid)
    assert sid not in {s.id for s in await runtime.list_pod_sandboxes()}
    with pytest.raises(CRINotFoundError) as e:
        await runtime.pod_sandbox_status(sid)
    assert e.value.code == "NotFound"
    await runtime.remove_pod_sandbox(sid)  # idempotent
    await runtime.stop_pod_sandbox(sid)


async def test_host_network_sandbox(runtime: CRIRuntime, pod_network: PodNetwork):
    config = pod("hostnet", host_network=True)
    assert config.hostname  # the runtime must drop it
    sid = await runtime.run_pod_sandbox(config)
    assert (await runtime.pod_sandbox_status(sid)).state == "SANDBOX_READY"
    cid = await run(runtime, config, sid, "c", "sleep 1000")
    out = await runtime.exec_sync(cid, ["hostname"], 10)
    assert out.stdout.decode().strip() == socket.gethostname()
    links = (await runtime.exec_sync(cid, ["ip", "-o", "link"], 10)).stdout.decode()
    assert pod_network.bridge in links  # the node's interfaces: the node's network namespace


async def test_container_run_exec_logs(runtime: CRIRuntime, tmp_path: Path):
    config = pod("run")
    sid = await runtime.run_pod_sandbox(config)
    (tmp_path / "data.txt").write_text("from the host\n")
    cid = await run(runtime, config, sid, "main", "echo hello; echo err >&2; sleep 1000",
                    env={"GREETING": "hi there"}, mounts=[Mount("/data", str(tmp_path), readonly=True)],
                    labels={"io.kubernetes.container.name": "main"}, working_dir="/tmp")
    st = await runtime.container_status(cid)
    assert st.state == ContainerState.RUNNING and st.name == "main" and st.attempt == 0
    assert st.sandbox_id == sid and st.started_at >= st.created_at > 0 and st.finished_at == 0
    assert st.image == BUSYBOX_IMAGE and st.image_ref
    assert st.log_path == str(runtime.pod_log_root / config.log_directory / "main" / "0.log")
    assert [c.id for c in await runtime.list_containers(sid)] == [cid]
    assert cid in {c.id for c in await runtime.list_containers()}

    result = await runtime.exec_sync(cid, ["sh", "-c", 'echo "$GREETING"; pwd; cat /data/data.txt; '
                                                       "echo bad >&2; exit 4"], 10)
    assert result.exit_code == 4
    assert result.stdout == b"hi there\n/tmp\nfrom the host\n" and result.stderr == b"bad\n"
    denied = await runtime.exec_sync(cid, ["sh", "-c", "echo x > /data/new"], 10)
    assert denied.exit_code != 0  # mounted read-only

    url = await runtime.exec_url(cid, ["sh"], tty=True, stdin=True, stdout=True, stderr=False)
    assert re.match(r"^http://127\.0\.0\.1:\d+/exec/\S+$", url), url

    deadline = time.monotonic() + 10
    while len(lines := await read_logs(runtime, cid)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sorted(lines) == [b"err\n", b"hello\n"]
    assert len(await read_logs(runtime, cid, tail_lines=1)) == 1
    stamped = await read_logs(runtime, cid, timestamps=True)
    assert all(re.match(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (hello|err)\n$", x)
               for x in stamped), stamped
    assert await read_logs(runtime, cid, since=time.time() + 60) == []


async def test_exit_code_and_follow(runtime: CRIRuntime):
    config = pod("exit")
    sid = await runtime.run_pod_sandbox(config)
    cid = await run(runtime, config, sid, "fails",
                    "for i in 1 2 3; do echo line$i; sleep 0.2; done; exit 3")
    followed = await asyncio.wait_for(read_logs(runtime, cid, follow=True), 20)
    assert followed == [b"line1\n", b"line2\n", b"line3\n"]  # and the follow ended with the container
    st = await wait_exited(runtime, cid)
    assert st.state == ContainerState.EXITED and st.exit_code == 3 and st.reason == "Error"
    assert st.finished_at >= st.started_at > 0
    done = await run(runtime, config, sid, "ok", "true")
    st = await wait_exited(runtime, done)
    assert (st.exit_code, st.reason) == (0, "Completed")


async def test_stop_remove(runtime: CRIRuntime):
    config = pod("stop")
    sid = await runtime.run_pod_sandbox(config)
    stubborn = await run(runtime, config, sid, "stubborn", "trap '' TERM; sleep 1000 & wait")
    polite = await run(runtime, config, sid, "polite", "trap 'exit 0' TERM; sleep 1000 & wait")
    await asyncio.sleep(0.3)  # let the shells install their traps

    began = time.monotonic()
    await runtime.stop_container(polite, 10)
    assert time.monotonic() - began < 5
    st = await runtime.container_status(polite)
    assert (st.state, st.exit_code) == (ContainerState.EXITED, 0)

    began = time.monotonic()
    await runtime.stop_container(stubborn, 2)  # SIGTERM ignored: SIGKILL after 2 s
    took = time.monotonic() - began
    st = await runtime.container_status(stubborn)
    assert 1.8 <= took < 10, took
    assert (st.state, st.exit_code) == (ContainerState.EXITED, 137)
    await runtime.stop_container(stubborn, 2)  # stopping a stopped container is fine

    await runtime.remove_container(stubborn)
    with pytest.raises(CRINotFoundError):
        await runtime.container_status(stubborn)
    await runtime.remove_container(stubborn)  # idempotent
    await runtime.stop_container(stubborn, 0)
    assert [c.id for c in await runtime.list_containers(sid)] == [polite]


async def test_errors(runtime: CRIRuntime):
    config = pod("err")
    sid = await runtime.run_pod_sandbox(config)
    bad = ContainerConfig(name="x", image="docker.io/library/not-here:1.0", log_path="x/0.log")
    with pytest.raises(CRIError) as e:
        await runtime.create_container(sid, bad, config)
    assert "not-here" in str(e.value)
    with pytest.raises(CRINotFoundError):
        await runtime.start_container("0" * 64)
    with pytest.raises(CRIError) as e:
        await runtime.create_container(sid, busybox("y", "true", linux={"cpu_shares": "lots"}), config)
    assert e.value.code == "InvalidArgument"


async def test_resources_and_security(runtime: CRIRuntime):
    config = pod("limits")
    sid = await runtime.run_pod_sandbox(config)
    linux = {"cpu_shares": 512, "cpu_quota": 50000, "cpu_period": 100000, "memory_limit_in_bytes": 64 << 20,
             "run_as_user": 1000, "run_as_group": 3000, "readonly_rootfs": True}
    cid = await run(runtime, config, sid, "c", "sleep 1000", linux=linux)
    ids = await runtime.exec_sync(cid, ["sh", "-c", "id -u; id -g"], 10)
    assert ids.stdout == b"1000\n3000\n"
    assert (await runtime.exec_sync(cid, ["touch", "/x"], 10)).exit_code != 0  # read-only root
    mem = await runtime.exec_sync(cid, ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                                    "/sys/fs/cgroup/memory.max 2>/dev/null"], 10)
    assert mem.stdout.split()[0] == str(64 << 20).encode()


async def _raw_start(rt: CRIRuntime, sandbox: pb.PodSandboxConfig, container: pb.ContainerConfig) -> None:
    """The same three RPCs with messages built beforehand: the floor CRIRuntime adds to."""
    sid = (await rt._call("RunPodSandbox", pb.RunPodSandboxRequest(config=sandbox))).pod_sandbox_id
    request = pb.CreateContainerRequest(pod_sandbox_id=sid, config=container, sandbox_config=sandbox)
    cid = (await rt._call("CreateContainer", request)).container_id
    await rt._call("StartContainer", pb.StartContainerRequest(container_id=cid))


async def test_start_latency(runtime: CRIRuntime):
    """RunPodSandbox + CreateContainer + StartContainer through CRIRuntime, median of 10, and
    the same RPCs sent raw (prebuilt messages) in the same run, interleaved."""
    ours, raw = [], []
    for i in range(10):
        config = pod(f"lat{i}")
        began = time.perf_counter()
        sid = await runtime.run_pod_sandbox(config)
        await run(runtime, config, sid, "c", "sleep 1000")
        ours.append(time.perf_counter() - began)

        config = pod(f"raw{i}")
        sandbox = pod_sandbox_config(config, pod_log_root=runtime.pod_log_root, cgroup_parent=CGROUP_PARENT)
        (runtime.pod_log_root / config.log_directory / "c").mkdir(parents=True)
        container = container_config(busybox("c", "sleep 1000"), config)
        began = time.perf_counter()
        await _raw_start(runtime, sandbox, container)
        raw.append(time.perf_counter() - began)
    median, floor = statistics.median(ours), statistics.median(raw)
    print(f"\nrun_pod_sandbox+create_container+start_container, n=10: CRIRuntime median {median * 1000:.0f} ms "
          f"(min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f}); raw gRPC median {floor * 1000:.0f} ms; "
          f"ratio {median / floor:.2f}")
    assert median < 5.0  # Kubernetes' pod startup SLO is 5 s at p99
