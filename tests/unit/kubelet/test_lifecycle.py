"""Lifecycle hooks: postStart after the start (a failure kills the container), preStop before the
stop; exec on the fake runtime, httpGet against a local HTTP server."""

from __future__ import annotations

import pytest
from aiohttp import web

from kubeling.client.clock import FakeClock
from kubeling.kubelet import lifecycle
from kubeling.kubelet.runtime.base import ExecResult
from tests.unit.kubelet.test_podworker import PODS, F, Env, c, env  # noqa: F401

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
EXEC = {"exec": {"command": ["sh", "-c", "exit 3"]}}


class ExecRuntime:
    def __init__(self, result: ExecResult):
        self.result, self.calls = result, []

    async def exec_sync(self, cid, cmd, timeout):
        self.calls.append((cid, cmd, timeout))
        return self.result


async def test_exec_hook_failure_message():
    rt = ExecRuntime(ExecResult(3, b"out\n", b"bad\n"))
    with pytest.raises(lifecycle.HookError) as e:
        await lifecycle.run_hook(rt, FakeClock(), POD, {"name": "app"}, "cid", EXEC, "")
    assert e.value.message == (
        'Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "p_ns(u1)" failed - error: '
        "command 'sh -c exit 3' exited with 3: bad\n, message: \"out\\nbad\\n\"")
    assert rt.calls == [("cid", ["sh", "-c", "exit 3"], 0)]


async def test_exec_hook_success():
    rt = ExecRuntime(ExecResult(0))
    await lifecycle.run_hook(rt, FakeClock(), POD, {"name": "app"}, "cid", EXEC, "", timeout=5)
    assert rt.calls[0][2] == 5


@pytest.fixture
async def http_server():
    seen = []

    async def handler(request):
        seen.append((request.path, request.headers.get("X-Hook")))
        return web.Response(status=500)  # the status does not matter to a hook

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield port, seen
    await runner.cleanup()


async def test_http_hook(http_server):
    port, seen = http_server
    container = {"name": "app", "ports": [{"name": "web", "containerPort": port}]}
    handler = {"httpGet": {"path": "/hook", "port": "web", "httpHeaders": [{"name": "X-Hook", "value": "1"}]}}
    await lifecycle.run_hook(None, FakeClock(), POD, container, "cid", handler, "127.0.0.1")
    assert seen == [("/hook", "1")]


async def test_http_hook_failure_message(http_server):
    port, _ = http_server
    handler = {"httpGet": {"path": "/hook", "port": 1, "host": "127.0.0.1"}}
    with pytest.raises(lifecycle.HookError) as e:
        await lifecycle.run_hook(None, FakeClock(), POD, {"name": "app"}, "cid", handler, "", timeout=5)
    assert e.value.message.startswith(
        'HTTP lifecycle hook (/hook) for Container "app" in Pod "p_ns(u1)" failed - error: '
        'Get "http://127.0.0.1:1/hook": ')


# ---- in the pod worker


async def test_post_start_runs_after_start(env: Env):  # noqa: F811
    await env.run_pod("hooked", [c("app", lifecycle={"postStart": EXEC})])
    pod = await env.api("hooked")
    assert "running" in pod["status"]["containerStatuses"][0]["state"]
    assert "FailedPostStartHook" not in env.recorder.reasons()


async def test_post_start_failure_kills_the_container(env: Env):  # noqa: F811
    ann = {F + "exec-exit-code": "1", F + "exec-stderr": "nope"}
    await env.run_pod("badhook", [c("app", lifecycle={"postStart": EXEC})], ann, terminationGracePeriodSeconds=5)
    pod = await env.api("badhook")
    uid = pod["metadata"]["uid"]
    message = (f'Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "badhook_default({uid})" '
               "failed - error: command 'sh -c exit 3' exited with 1: nope, message: \"nope\"")
    assert env.recorder.messages("FailedPostStartHook") == [message]
    assert env.recorder.messages("Killing") == ["FailedPostStartHook"]
    cs = pod["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"] == {"reason": "PostStartHookError", "message": message}
    assert cs["lastState"]["terminated"]["exitCode"] == 143
    await env.tick(2)  # restarted at once, fails again: now CrashLoopBackOff
    pod = await env.api("badhook")
    cs = pod["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 1
    assert len(env.recorder.messages("FailedPostStartHook")) == 2
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"


async def test_pre_stop_failure_event(env: Env):  # noqa: F811
    ann = {F + "exec-exit-code": "2"}
    await env.run_pod("stopping", [c("app", lifecycle={"preStop": EXEC})], ann, terminationGracePeriodSeconds=5)
    await env.client.delete(PODS, "default", "stopping")
    env.workers.update(await env.api("stopping"))
    await env.tick(3)
    # the hook's output stays out of the event (it may hold secrets), as in Kubernetes
    assert env.recorder.messages("FailedPreStopHook") == ["PreStopHook failed"]
    assert env.recorder.messages("Killing") == ["Stopping container app"]
