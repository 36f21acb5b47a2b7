"""The CRI call trace (kubelet/runtime/critrace.py): per-method counts, the JSON lines a tool
reads back, which pod a call belongs to, and CRIRuntime recording every call through it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from kubeling.kubelet.runtime import critrace
from kubeling.kubelet.runtime.base import ContainerConfig, SandboxConfig
from kubeling.kubelet.runtime.critrace import Call, CallTrace, call_ids
from kubeling.kubelet.runtime.cri import CRIError, CRIRuntime
from kubeling.kubelet.runtime.criapi import pb
from tests.unit.kubelet.test_cri_runtime import FakeCRI


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


def test_ids_from_request_and_response():
    run = pb.RunPodSandboxRequest(config=pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(uid="u1")))
    assert call_ids(run, pb.RunPodSandboxResponse(pod_sandbox_id="s1")) == ("u1", "s1", "")
    create = pb.CreateContainerRequest(pod_sandbox_id="s1", config=pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name="c")))
    assert call_ids(create, pb.CreateContainerResponse(container_id="c1")) == ("", "s1", "c1")
    assert call_ids(pb.StartContainerRequest(container_id="c1"), None) == ("", "", "c1")
    assert call_ids(pb.ListPodSandboxRequest(), pb.ListPodSandboxResponse()) == ("", "", "")
    assert call_ids(pb.ImageStatusRequest(image=pb.ImageSpec(image="busybox")), None) == ("", "", "")


def test_stats_and_summary():
    trace = CallTrace()
    trace.record(Call("ContainerStatus", 10.0, 10.002))
    trace.record(Call("ContainerStatus", 11.0, 11.004, error="NotFound"))
    trace.record(Call("RunPodSandbox", 12.0, 12.5))
    stats = trace.stats["ContainerStatus"]
    assert (stats.calls, stats.errors) == (2, 1)
    assert stats.seconds == pytest.approx(0.006)
    assert stats.slowest == pytest.approx(0.004)
    assert trace.summary() == "ContainerStatus 2/3.0/4, RunPodSandbox 1/500.0/500"


def test_lines_written_and_read_back(tmp_path: Path):
    path = tmp_path / "trace.jsonl"
    trace = CallTrace(path)
    trace.record(Call("RunPodSandbox", 1.5, 2.25, pod="u1", sandbox="s1"))
    trace.record(Call("CreateContainer", 2.5, 2.75, sandbox="s1", container="c1", error="Unknown"))
    trace.close()
    with open(path, "ab") as f:
        f.write(b'{"method": "Start')  # a line cut short by a process that died mid-write
    assert critrace.read(path) == [Call("RunPodSandbox", 1.5, 2.25, pod="u1", sandbox="s1"),
                                   Call("CreateContainer", 2.5, 2.75, sandbox="s1", container="c1", error="Unknown")]


def test_no_file_without_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv(critrace.TRACE_ENV, raising=False)
    assert CallTrace.from_env().path is None
    monkeypatch.setenv(critrace.TRACE_ENV, str(tmp_path / "t.jsonl"))
    trace = CallTrace.from_env()
    trace.record(Call("Version", 1.0, 1.1))
    trace.close()
    assert [c.method for c in critrace.read(tmp_path / "t.jsonl")] == ["Version"]


def test_each_call_logged_at_debug(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="kubeling.kubelet.runtime.critrace")
    CallTrace().record(Call("StartContainer", 1.0, 1.25, container="c1"))
    assert "CRI StartContainer sandbox= container=c1 took 250.0 ms" in caplog.text


async def test_cri_runtime_traces_every_call(fake: tuple[FakeCRI, str], tmp_path: Path):
    cri, endpoint = fake
    cri.answers["RunPodSandbox"] = pb.RunPodSandboxResponse(pod_sandbox_id="sb1")
    cri.answers["CreateContainer"] = pb.CreateContainerResponse(container_id="ct1")
    cri.answers["StartContainer"] = (grpc.StatusCode.UNKNOWN, "runc failed")
    path = tmp_path / "trace.jsonl"
    runtime = CRIRuntime(endpoint, pod_log_root=tmp_path / "pods", trace=CallTrace(path))
    await runtime.start()
    try:
        sandbox = SandboxConfig(name="p", namespace="ns", uid="uid-1", log_directory="ns_p_uid-1")
        sandbox_id = await runtime.run_pod_sandbox(sandbox)
        container_id = await runtime.create_container(
            sandbox_id, ContainerConfig(name="c", image="busybox", log_path="c/0.log"), sandbox)
        with pytest.raises(CRIError):
            await runtime.start_container(container_id)
    finally:
        await runtime.close()
    calls = critrace.read(path)
    assert [(c.method, c.pod, c.sandbox, c.container, c.error) for c in calls] == [
        ("Version", "", "", "", ""),
        ("RunPodSandbox", "uid-1", "sb1", "", ""),
        ("CreateContainer", "", "sb1", "ct1", ""),
        ("StartContainer", "", "", "ct1", "Unknown")]
    assert all(c.ended >= c.began > 0 for c in calls)
    assert runtime.trace.stats["StartContainer"].errors == 1


class StuckListCRI(FakeCRI):
    """ListPodSandbox answers only once `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    def handler(self, name: str):
        if name != "ListPodSandbox":
            return super().handler(name)

        async def stuck(request, context):
            await self.gate.wait()
            return pb.ListPodSandboxResponse()
        return stuck


async def test_a_cancelled_call_is_traced_as_canceled(tmp_path: Path):
    cri = StuckListCRI()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(cri.generic_handlers())
    endpoint = f"unix://{tmp_path}/cri.sock"
    server.add_insecure_port(endpoint)
    await server.start()
    runtime = CRIRuntime(endpoint, pod_log_root=tmp_path / "pods", trace=CallTrace())
    try:
        await runtime.start()
        task = asyncio.create_task(runtime.list_pod_sandboxes())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        cri.gate.set()
        await runtime.close()
        await server.stop(None)
    assert runtime.trace.stats["ListPodSandbox"].errors == 1
    assert runtime.trace.stats["Version"].errors == 0
