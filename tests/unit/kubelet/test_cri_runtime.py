"""CRIRuntime (kubelet/runtime/cri.py) against an in-process gRPC server speaking CRI v1: what
goes on the wire for each call, and how answers and errors come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubeling.kubelet.runtime.base import ContainerConfig, ContainerState, Mount, SandboxConfig
from kubeling.kubelet.runtime.cri import CRIError, CRINotFoundError, CRIRuntime
from kubeling.kubelet.runtime.criapi import RPCS, pb

NS = 1_000_000_000


class FakeCRI:
    """Answers each RPC from `answers` (a message, a function of the request, or a (StatusCode,
    message) error), else with an empty response; records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.answers: dict[str, Any] = {
            "Version": pb.VersionResponse(version="0.1.0", runtime_name="containerd",
                                          runtime_version="1.6.20", runtime_api_version="v1")}

    def sent(self, name: str) -> list[Any]:
        return [req for rpc, req in self.requests if rpc == name]

    def handler(self, name: str) -> Callable:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self.requests.append((name, request))
            answer = self.answers.get(name)
            if isinstance(answer, tuple):
                await context.abort(*answer)
            if callable(answer):
                answer = answer(request)
            return answer if answer is not None else RPCS[name].response()
        return handle

    def generic_handlers(self) -> list[grpc.GenericRpcHandler]:
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for name, rpc in RPCS.items():
            by_service.setdefault(f"runtime.v1.{rpc.service}", {})[name] = grpc.unary_unary_rpc_method_handler(
                self.handler(name), request_deserializer=rpc.request.FromString,
                response_serializer=rpc.response.SerializeToString)
        return [grpc.method_handlers_generic_handler(svc, methods) for svc, methods in by_service.items()]


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[tuple[FakeCRI, str]]:
    cri = FakeCRI()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(cri.generic_handlers())
    endpoint = f"unix://{tmp_path}/cri.sock"
    server.add_insecure_port(endpoint)
    await server.start()
    try:
        yield cri, endpoint
    finally:
        await server.stop(None)


@pytest.fixture
async def rt(fake: tuple[FakeCRI, str], tmp_path: Path) -> AsyncIterator[CRIRuntime]:
    runtime = CRIRuntime(fake[1], pod_log_root=tmp_path / "pods", runtime_handler="runc",
                         cgroup_parent="/kubepods")
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.fixture
def cri(fake: tuple[FakeCRI, str]) -> FakeCRI:
    return fake[0]


def sandbox(**kw) -> SandboxConfig:
    defaults = dict(name="web", namespace="default", uid="u-1", attempt=1, hostname="web",
                    labels={"app": "web"}, annotations={"note": "x"}, log_directory="default_web_u-1")
    return SandboxConfig(**{**defaults, **kw})


# ---------------------------------------------------------------- connection


async def test_start_asks_the_version(cri: FakeCRI, rt: CRIRuntime):
    assert (rt.name, rt.version, rt.api_version) == ("containerd", "1.6.20", "v1")
    assert cri.sent("Version")[0].version == "v1"


async def test_not_started_and_unreachable(tmp_path: Path):
    rt = CRIRuntime(f"unix://{tmp_path}/none.sock", pod_log_root=tmp_path, request_timeout=0.5)
    with pytest.raises(CRIError) as e:
        await rt.list_images()
    assert e.value.code == "Unavailable"
    with pytest.raises(CRIError) as e:
        await rt.start()
    assert e.value.code in ("Unavailable", "DeadlineExceeded")
    await rt.close()


# ---------------------------------------------------------------- sandboxes


async def test_run_pod_sandbox_request(cri: FakeCRI, rt: CRIRuntime, tmp_path: Path):
    cri.answers["RunPodSandbox"] = pb.RunPodSandboxResponse(pod_sandbox_id="sb1")
    config = sandbox(dns={"nameservers": ["10.96.0.10"], "searches": ["svc.cluster.local"],
                          "options": [{"name": "ndots", "value": "5"}, {"name": "edns0"}]},
                     port_mappings=[{"protocol": "UDP", "container_port": 53, "host_port": 5353,
                                     "host_ip": "127.0.0.1"}])
    assert await rt.run_pod_sandbox(config) == "sb1"
    req = cri.sent("RunPodSandbox")[0]
    assert req.runtime_handler == "runc"
    c = req.config
    assert (c.metadata.name, c.metadata.namespace, c.metadata.uid, c.metadata.attempt) == ("web", "default", "u-1", 1)
    assert c.hostname == "web"
    assert c.log_directory == str(tmp_path / "pods" / "default_web_u-1")
    assert (tmp_path / "pods" / "default_web_u-1").is_dir()  # made before the runtime writes logs there
    assert list(c.dns_config.servers) == ["10.96.0.10"] and list(c.dns_config.searches) == ["svc.cluster.local"]
    assert list(c.dns_config.options) == ["ndots:5", "edns0"]
    pm = c.port_mappings[0]
    assert (pm.protocol, pm.container_port, pm.host_port, pm.host_ip) == (pb.UDP, 53, 5353, "127.0.0.1")
    assert dict(c.labels) == {"app": "web", "io.kubernetes.pod.name": "web",
                              "io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.uid": "u-1"}
    assert dict(c.annotations) == {"note": "x"}
    assert c.linux.cgroup_parent == "/kubepods"
    ns = c.linux.security_context.namespace_options
    assert (ns.network, ns.pid, ns.ipc) == (pb.POD, pb.CONTAINER, pb.POD)


async def test_host_network_sandbox_has_no_hostname(cri: FakeCRI, rt: CRIRuntime):
    await rt.run_pod_sandbox(sandbox(host_network=True, dns={}))
    c = cri.sent("RunPodSandbox")[0].config
    assert c.hostname == ""
    assert c.linux.security_context.namespace_options.network == pb.NODE
    assert not c.HasField("dns_config")


async def test_bad_port_protocol_sends_nothing(cri: FakeCRI, rt: CRIRuntime):
    with pytest.raises(CRIError) as e:
        await rt.run_pod_sandbox(sandbox(port_mappings=[{"protocol": "ICMP", "container_port": 1}]))
    assert e.value.code == "InvalidArgument" and "ICMP" in str(e.value)
    assert cri.sent("RunPodSandbox") == []


async def test_sandbox_status_and_list(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["PodSandboxStatus"] = pb.PodSandboxStatusResponse(status=pb.PodSandboxStatus(
        id="sb1", state=pb.SANDBOX_READY, created_at=1_700_000_000 * NS + 500_000_000,
        network=pb.PodSandboxNetworkStatus(ip="10.244.0.5", additional_ips=[pb.PodIP(ip="fd00::5")])))
    st = await rt.pod_sandbox_status("sb1")
    assert (st.id, st.state, st.ip, st.additional_ips) == ("sb1", "SANDBOX_READY", "10.244.0.5", ["fd00::5"])
    assert st.created_at == 1_700_000_000.5
    assert cri.sent("PodSandboxStatus")[0].pod_sandbox_id == "sb1"

    cri.answers["ListPodSandbox"] = pb.ListPodSandboxResponse(items=[
        pb.PodSandbox(id="a", state=pb.SANDBOX_NOTREADY, created_at=NS), pb.PodSandbox(id="b")])
    listed = await rt.list_pod_sandboxes()
    assert [(s.id, s.state, s.created_at, s.ip) for s in listed] == [
        ("a", "SANDBOX_NOTREADY", 1.0, ""), ("b", "SANDBOX_READY", 0.0, "")]


async def test_stop_and_remove_are_idempotent(cri: FakeCRI, rt: CRIRuntime):
    for rpc in ("StopPodSandbox", "RemovePodSandbox", "StopContainer", "RemoveContainer", "RemoveImage"):
        cri.answers[rpc] = (grpc.StatusCode.NOT_FOUND, "not found")
    await rt.stop_pod_sandbox("gone")
    await rt.remove_pod_sandbox("gone")
    await rt.stop_container("gone", 10)
    await rt.remove_container("gone")
    await rt.remove_image("gone")
    assert len(cri.requests) == 6  # Version + the five calls, each sent


async def test_errors_carry_the_grpc_code(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["PodSandboxStatus"] = (grpc.StatusCode.NOT_FOUND, 'an error occurred when try to find sandbox "x"')
    with pytest.raises(CRINotFoundError) as e:
        await rt.pod_sandbox_status("x")
    assert isinstance(e.value, LookupError) and isinstance(e.value, RuntimeError)
    assert e.value.code == "NotFound" and str(e.value) == 'an error occurred when try to find sandbox "x"'
    cri.answers["StopPodSandbox"] = (grpc.StatusCode.UNKNOWN, "remove netns: device or resource busy")
    with pytest.raises(CRIError) as e:
        await rt.stop_pod_sandbox("x")
    assert e.value.code == "Unknown" and "busy" in e.value.message
    cri.answers["StartContainer"] = (grpc.StatusCode.FAILED_PRECONDITION, "container is in CONTAINER_EXITED state")
    with pytest.raises(CRIError) as e:
        await rt.start_container("c")
    assert e.value.code == "FailedPrecondition" and not isinstance(e.value, LookupError)


# ---------------------------------------------------------------- containers


async def test_create_container_request(cri: FakeCRI, rt: CRIRuntime, tmp_path: Path):
    cri.answers["CreateContainer"] = pb.CreateContainerResponse(container_id="c1")
    config = ContainerConfig(
        name="app", image="busybox:1.36", attempt=2, command=["sh", "-c"], args=["echo $(A)"], working_dir="/w",
        env={"A": "1", "B": "two"}, mounts=[Mount("/data", "/host/data", readonly=True), Mount("/rw", "/host/rw")],
        labels={"io.kubernetes.container.name": "app"}, annotations={"io.kubernetes.container.restartCount": "2"},
        log_path="app/2.log", stdin=True, tty=True,
        linux={"cpu_shares": 256, "cpu_quota": 50000, "cpu_period": 100000, "memory_limit_in_bytes": 1 << 26,
               "run_as_user": 1000, "run_as_group": 2000, "readonly_rootfs": True, "privileged": False,
               "capabilities_add": ["NET_ADMIN"], "capabilities_drop": ["ALL"], "unknown_key": "ignored"})
    assert await rt.create_container("sb1", config, sandbox(host_network=True)) == "c1"
    req = cri.sent("CreateContainer")[0]
    assert req.pod_sandbox_id == "sb1"
    assert req.sandbox_config.hostname == "" and req.sandbox_config.metadata.name == "web"
    c = req.config
    assert (c.metadata.name, c.metadata.attempt, c.image.image) == ("app", 2, "busybox:1.36")
    assert (list(c.command), list(c.args), c.working_dir) == (["sh", "-c"], ["echo $(A)"], "/w")
    assert [(e.key, e.value) for e in c.envs] == [("A", "1"), ("B", "two")]
    assert [(m.container_path, m.host_path, m.readonly) for m in c.mounts] == [
        ("/data", "/host/data", True), ("/rw", "/host/rw", False)]
    assert dict(c.labels) == {"io.kubernetes.container.name": "app"}
    assert dict(c.annotations) == {"io.kubernetes.container.restartCount": "2"}
    assert (c.log_path, c.stdin, c.tty) == ("app/2.log", True, True)
    r = c.linux.resources
    assert (r.cpu_shares, r.cpu_quota, r.cpu_period, r.memory_limit_in_bytes) == (256, 50000, 100000, 1 << 26)
    sc = c.linux.security_context
    assert (sc.run_as_user.value, sc.run_as_group.value, sc.readonly_rootfs, sc.privileged) == (1000, 2000, True, False)
    assert list(sc.capabilities.add_capabilities) == ["NET_ADMIN"]
    assert list(sc.capabilities.drop_capabilities) == ["ALL"]
    assert sc.namespace_options.network == pb.NODE  # the pod's network namespace choice, per container
    assert (tmp_path / "pods" / "default_web_u-1" / "app").is_dir()


async def test_create_container_without_linux_settings(cri: FakeCRI, rt: CRIRuntime):
    await rt.create_container("sb1", ContainerConfig(name="a", image="busybox"), sandbox())
    sc = cri.sent("CreateContainer")[0].config.linux.security_context
    assert not sc.HasField("run_as_user") and not sc.HasField("run_as_group") and not sc.HasField("capabilities")
    assert sc.namespace_options.network == pb.POD


@pytest.mark.parametrize("linux", [{"cpu_shares": "1"}, {"memory_limit_in_bytes": 1.5}, {"run_as_user": True},
                                   {"privileged": "yes"}, {"capabilities_add": "NET_ADMIN"}])
async def test_bad_linux_values(cri: FakeCRI, rt: CRIRuntime, linux: dict):
    with pytest.raises(CRIError) as e:
        await rt.create_container("sb1", ContainerConfig(name="a", image="busybox", linux=linux), sandbox())
    assert e.value.code == "InvalidArgument" and next(iter(linux)) in str(e.value)
    assert cri.sent("CreateContainer") == []


def _status(**kw) -> pb.ContainerStatusResponse:
    defaults = dict(id="c1", metadata=pb.ContainerMetadata(name="app", attempt=3), state=pb.CONTAINER_EXITED,
                    created_at=100 * NS, started_at=101 * NS + 250_000_000, finished_at=105 * NS, exit_code=3,
                    image=pb.ImageSpec(image="docker.io/library/busybox:latest"),
                    image_ref="docker.io/library/busybox@sha256:abc", reason="Error", message="boom",
                    log_path="/var/log/pods/x/app/3.log")
    return pb.ContainerStatusResponse(status=pb.ContainerStatus(**{**defaults, **kw}))


async def test_container_status(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["CreateContainer"] = pb.CreateContainerResponse(container_id="c1")
    await rt.create_container("sb1", ContainerConfig(name="app", image="busybox"), sandbox())
    cri.answers["ContainerStatus"] = _status()
    st = await rt.container_status("c1")
    assert (st.id, st.name, st.attempt, st.state) == ("c1", "app", 3, ContainerState.EXITED)
    assert (st.created_at, st.started_at, st.finished_at) == (100.0, 101.25, 105.0)
    assert (st.exit_code, st.reason, st.message) == (3, "Error", "boom")
    assert (st.image, st.image_ref) == ("docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:abc")
    assert (st.log_path, st.sandbox_id) == ("/var/log/pods/x/app/3.log", "sb1")
    assert cri.sent("ListContainers") == []  # the sandbox id was known from the create

    cri.answers["ContainerStatus"] = _status(id="c9", state=pb.CONTAINER_RUNNING, finished_at=0)
    cri.answers["ListContainers"] = pb.ListContainersResponse(containers=[pb.Container(id="c9", pod_sandbox_id="sb7")])
    st = await rt.container_status("c9")
    assert (st.state, st.finished_at, st.sandbox_id) == (ContainerState.RUNNING, 0.0, "sb7")
    assert cri.sent("ListContainers")[0].filter.id == "c9"


async def test_list_containers(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["ListContainers"] = pb.ListContainersResponse(containers=[
        pb.Container(id="c1", pod_sandbox_id="sb1", metadata=pb.ContainerMetadata(name="a", attempt=1),
                     state=pb.CONTAINER_RUNNING, created_at=5 * NS, image=pb.ImageSpec(image="busybox"),
                     image_ref="sha256:1")])
    listed = await rt.list_containers("sb1")
    assert cri.sent("ListContainers")[0].filter.pod_sandbox_id == "sb1"
    c = listed[0]
    assert (c.id, c.name, c.attempt, c.state, c.created_at, c.sandbox_id, c.image, c.image_ref) == (
        "c1", "a", 1, ContainerState.RUNNING, 5.0, "sb1", "busybox", "sha256:1")
    await rt.list_containers()
    assert cri.sent("ListContainers")[1].filter.pod_sandbox_id == ""


async def test_stop_container_timeout_in_whole_seconds(cri: FakeCRI, rt: CRIRuntime):
    await rt.stop_container("c1", 2.2)
    await rt.stop_container("c1", 0)
    await rt.stop_container("c1", -1)
    assert [(r.container_id, r.timeout) for r in cri.sent("StopContainer")] == [("c1", 3), ("c1", 0), ("c1", 0)]


async def test_exec_sync(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["ExecSync"] = pb.ExecSyncResponse(stdout=b"out", stderr=b"err", exit_code=7)
    result = await rt.exec_sync("c1", ["cat", "/x"], 1.5)
    assert (result.exit_code, result.stdout, result.stderr) == (7, b"out", b"err")
    req = cri.sent("ExecSync")[0]
    assert (req.container_id, list(req.cmd), req.timeout) == ("c1", ["cat", "/x"], 2)


async def test_exec_url(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["Exec"] = pb.ExecResponse(url="http://127.0.0.1:4242/exec/tok")
    assert await rt.exec_url("c1", ["sh"], tty=True, stdin=True, stdout=True, stderr=True) == \
        "http://127.0.0.1:4242/exec/tok"
    req = cri.sent("Exec")[0]
    assert (req.container_id, list(req.cmd), req.tty, req.stdin, req.stdout, req.stderr) == (
        "c1", ["sh"], True, True, True, False)  # a TTY has no separate stderr
    with pytest.raises(CRIError) as e:
        await rt.exec_url("c1", ["sh"], tty=False, stdin=False, stdout=False, stderr=False)
    assert e.value.code == "InvalidArgument"


async def test_probe_is_left_to_the_kubelet(rt: CRIRuntime):
    assert await rt.probe("c1", "liveness", {"exec": {"command": ["true"]}}) is None


# ---------------------------------------------------------------- logs


async def test_logs_read_the_log_file(cri: FakeCRI, rt: CRIRuntime, tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_bytes(b"2024-05-01T10:00:01Z stdout F one\n2024-05-01T10:00:02Z stderr P tw\n"
                    b"2024-05-01T10:00:03Z stderr F o\n")
    cri.answers["ContainerStatus"] = _status(state=pb.CONTAINER_RUNNING, log_path=str(log))
    assert [x async for x in rt.logs("c1")] == [b"one\n", b"two\n"]
    assert [x async for x in rt.logs("c1", tail_lines=1, timestamps=True)] == [b"2024-05-01T10:00:02Z two\n"]

    got: list[bytes] = []

    async def follow() -> None:
        async for line in rt.logs("c1", follow=True):
            got.append(line)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    with open(log, "ab") as f:
        f.write(b"2024-05-01T10:00:04Z stdout F three\n")
    await asyncio.sleep(0.3)
    assert got == [b"one\n", b"two\n", b"three\n"] and not task.done()
    cri.answers["ContainerStatus"] = _status(state=pb.CONTAINER_EXITED, log_path=str(log))
    await asyncio.wait_for(task, 5)  # the follow ends once the container has exited


async def test_logs_of_unknown_container(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["ContainerStatus"] = (grpc.StatusCode.NOT_FOUND, 'container "zz" not found')
    with pytest.raises(LookupError):
        [x async for x in rt.logs("zz")]
    cri.answers["ContainerStatus"] = _status(log_path="/nonexistent/kubeling/0.log")
    assert [x async for x in rt.logs("c1")] == []


# ---------------------------------------------------------------- images


async def test_images(cri: FakeCRI, rt: CRIRuntime):
    busybox = pb.Image(id="sha256:b", repo_tags=["docker.io/library/busybox:latest"], size=2_000_000)
    cri.answers["ImageStatus"] = lambda req: pb.ImageStatusResponse(
        image=busybox if req.image.image in ("busybox", "sha256:b") else None)
    info = await rt.image_status("busybox")
    assert (info.id, info.repo_tags, info.size) == ("sha256:b", ["docker.io/library/busybox:latest"], 2_000_000)
    assert await rt.image_status("nginx") is None

    cri.answers["PullImage"] = pb.PullImageResponse(image_ref="sha256:b")
    pulled = await rt.pull_image("busybox", sandbox=sandbox())
    assert pulled.id == "sha256:b"
    req = cri.sent("PullImage")[0]
    assert req.image.image == "busybox" and req.sandbox_config.metadata.uid == "u-1"
    assert cri.sent("ImageStatus")[-1].image.image == "sha256:b"
    await rt.pull_image("busybox")
    assert not cri.sent("PullImage")[1].HasField("sandbox_config")

    cri.answers["PullImage"] = (grpc.StatusCode.UNKNOWN, 'failed to pull and unpack image "docker.io/library/x:1"')
    with pytest.raises(CRIError) as e:
        await rt.pull_image("x:1")
    assert "failed to pull and unpack image" in str(e.value)

    cri.answers["ListImages"] = pb.ListImagesResponse(images=[busybox, pb.Image(id="sha256:p", size=1)])
    assert [(i.id, i.repo_tags) for i in await rt.list_images()] == [
        ("sha256:b", ["docker.io/library/busybox:latest"]), ("sha256:p", [])]


async def test_runtime_status(cri: FakeCRI, rt: CRIRuntime):
    cri.answers["Status"] = pb.StatusResponse(status=pb.RuntimeStatus(conditions=[
        pb.RuntimeCondition(type="RuntimeReady", status=True),
        pb.RuntimeCondition(type="NetworkReady", status=False, reason="NetworkPluginNotReady", message="cni")]))
    assert await rt.status() == {"RuntimeReady": (True, "", ""),
                                 "NetworkReady": (False, "NetworkPluginNotReady", "cni")}


def test_implements_every_runtime_method():
    import inspect

    from kubeling.kubelet.runtime.base import Runtime
    wanted = [n for n, v in vars(Runtime).items() if inspect.isfunction(v) and not n.startswith("_")]
    for name in wanted:
        mine = getattr(CRIRuntime, name)
        assert inspect.iscoroutinefunction(mine) == inspect.iscoroutinefunction(getattr(Runtime, name)), name
        params = list(inspect.signature(getattr(Runtime, name)).parameters)
        assert list(inspect.signature(mine).parameters)[:len(params)] == params, name
