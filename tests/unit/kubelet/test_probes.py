"""Probe workers: thresholds, startup gating, real exec/tcp probing."""

from __future__ import annotations

import asyncio

import pytest

from kubeling.client.clock import FakeClock
from kubeling.kubelet.probes import ProbeManager, run_probe
from kubeling.kubelet.runtime.base import ExecResult


class ScriptedRuntime:
    """Answers probes from a script per kind (None: probe for real through exec_sync)."""

    name = "scripted"

    def __init__(self, answers: dict[str, list[bool | None]], exec_code: int = 0):
        self.answers, self.exec_code = answers, exec_code

    async def probe(self, container_id, kind, probe):
        seq = self.answers.get(kind, [True])
        return seq.pop(0) if len(seq) > 1 else seq[0]

    async def exec_sync(self, container_id, cmd, timeout):
        return ExecResult(self.exec_code, b"out", b"")


POD = {"metadata": {"name": "p", "namespace": "d", "uid": "u"}, "spec": {}}


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


async def run_worker(answers, container, seconds):
    clock = FakeClock()
    results = []
    pm = ProbeManager(ScriptedRuntime(answers), clock, lambda *a: results.append(a))
    pm.add_container(POD, container, "cid", "127.0.0.1")
    await settle()
    for _ in range(seconds):
        clock.advance(1)
        await settle()
    await pm.close()
    return pm, results


@pytest.mark.parametrize("answers,threshold,expected", [
    ([True], 1, [("u", "app", "readiness", True)]),
    ([False, False, True], 1, [("u", "app", "readiness", False), ("u", "app", "readiness", True)]),
    ([False, False, False, True], 3, [("u", "app", "readiness", False)]),  # 1 success < threshold 3
])
async def test_readiness_thresholds(answers, threshold, expected):
    container = {"name": "app", "readinessProbe": {"exec": {}, "periodSeconds": 1, "failureThreshold": 2,
                                                   "successThreshold": threshold}}
    _, results = await run_worker({"readiness": answers}, container, 4)
    assert results == expected


async def test_startup_gates_liveness():
    container = {"name": "app", "startupProbe": {"exec": {}, "periodSeconds": 1},
                 "livenessProbe": {"exec": {}, "periodSeconds": 1, "failureThreshold": 1}}
    _, results = await run_worker({"startup": [False, False, True], "liveness": [False]}, container, 5)
    kinds = [(k, ok) for _, _, k, ok in results]
    assert kinds[0] == ("startup", True)
    assert ("liveness", False) in kinds


async def test_initial_delay():
    container = {"name": "app", "readinessProbe": {"exec": {}, "periodSeconds": 1, "initialDelaySeconds": 5}}
    _, results = await run_worker({"readiness": [True]}, container, 3)
    assert results == []


@pytest.mark.parametrize("code,ok", [(0, True), (1, False)])
async def test_real_exec_probe(code, ok):
    rt = ScriptedRuntime({"liveness": [None]}, exec_code=code)
    result, output = await run_probe(rt, "cid", "liveness", {"exec": {"command": ["x"]}}, "", {})
    assert result is ok and output == "out"


async def test_real_tcp_probe():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rt = ScriptedRuntime({"readiness": [None]})
    ok, _ = await run_probe(rt, "cid", "readiness", {"tcpSocket": {"port": "web"}}, "127.0.0.1",
                            {"ports": [{"name": "web", "containerPort": port}]})
    server.close()
    await server.wait_closed()
    assert ok
    ok, _ = await run_probe(rt, "cid", "readiness", {"tcpSocket": {"port": port}}, "127.0.0.1", {})
    assert not ok
