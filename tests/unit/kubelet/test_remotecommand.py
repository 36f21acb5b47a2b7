"""The remote-command protocol (framing, options, statuses) and the kubelet's /exec endpoint over
plain HTTP: on a runtime without streaming, and bridged to a runtime's v4-only stream server
(as containerd 1.6's is)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aiohttp import web
from multidict import MultiDict

from kubeling.kubelet import remotecommand as rc
from kubeling.kubelet.runtime.base import ExecResult
from kubeling.kubelet.server import KubeletServer

# ---- protocol ---------------------------------------------------------------------------------------


def test_frames():
    assert rc.frame(rc.STDOUT, b"hi") == b"\x01hi"
    assert rc.parse_frame(b"\x02err") == (rc.STDERR, b"err")
    assert rc.close_signal(rc.STDIN) == b"\xff\x00"
    assert rc.parse_resize(b'{"Width":80,"Height":24}') == (80, 24)
    with pytest.raises(ValueError):
        rc.parse_frame(b"")


@pytest.mark.parametrize("query,want", [
    ([("stdout", "1"), ("command", "ls"), ("command", "-l")], rc.ExecOptions(["ls", "-l"], stdout=True)),
    ([("stdin", "1"), ("stdout", "1"), ("stderr", "1"), ("tty", "1"), ("command", "sh")],
     rc.ExecOptions(["sh"], stdin=True, stdout=True, tty=True)),  # a terminal has no stderr
    ([("stdout", "true"), ("stderr", "1")], rc.ExecOptions([], stderr=True)),  # the kubelet wants "1"
])
def test_kubelet_options(query, want):
    opts = rc.ExecOptions.from_kubelet_query(MultiDict(query))
    assert opts == want
    assert rc.ExecOptions.from_kubelet_query(MultiDict(opts.kubelet_query())) == opts


def test_kubelet_options_need_a_stream():
    with pytest.raises(rc.OptionsError, match="you must specify at least 1 of stdin, stdout, stderr"):
        rc.ExecOptions.from_kubelet_query(MultiDict([("stdout", "true"), ("command", "ls")]))


def test_statuses():
    assert rc.exit_code_of(rc.success()) == 0
    failed = rc.exit_status(7, ["sh", "-c", "exit 7"])
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    assert rc.exit_code_of(failed) == 7
    internal = rc.internal_error('unable to upgrade connection: container not found ("c")')
    assert internal["message"] == 'Internal error occurred: unable to upgrade connection: container not found ("c")'
    assert rc.exit_code_of(internal) is None


# ---- the kubelet's /exec ---------------------------------------------------------------------------


def _pod(state: str = "running") -> dict:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"containerStatuses": [{"name": "c", "containerID": "fake://cid", "state": {state: {}}}]}}


class ExecSyncRuntime:
    """Answers exec_sync with fixed output, echoing stdin; records the calls."""

    name, version = "stub", "0"

    def __init__(self, exit_code: int = 0):
        self.exit_code = exit_code
        self.calls: list[tuple[str, list[str], bytes]] = []

    async def exec_sync(self, container_id, cmd, timeout, stdin=b""):
        self.calls.append((container_id, cmd, stdin))
        return ExecResult(self.exit_code, stdout=b"out:" + stdin, stderr=b"err")

    async def exec_url(self, container_id, cmd, **streams):
        return None  # no stream server: exec_sync it is


class StreamingRuntime(ExecSyncRuntime):
    """A runtime with its own stream server at `url` (CRI Exec)."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url

    async def exec_url(self, container_id, cmd, *, tty, stdin, stdout, stderr):
        return self.url


async def _kubelet(runtime, pods: dict) -> KubeletServer:
    server = KubeletServer(runtime, lambda ns, name: pods.get((ns, name)), port=0, authenticate=lambda r: True)
    await server.start()
    return server


async def _session(port: int, query: str, protocols=(rc.V5,), send=()) -> tuple[str, list[tuple[int, bytes]]]:
    """Open an exec, send `send` frames, and read every frame until the server closes."""
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"http://127.0.0.1:{port}/exec/ns/p/c?{query}", protocols=protocols)
        for message in send:
            await ws.send_bytes(message)
        frames = []
        async for msg in ws:
            frames.append(rc.parse_frame(msg.data))
        return ws.protocol, frames


def _joined(frames, channel: int) -> bytes:
    return b"".join(data for ch, data in frames if ch == channel)


async def test_exec_sync_session_with_exit_code():
    runtime = ExecSyncRuntime(exit_code=2)
    server = await _kubelet(runtime, {("ns", "p"): _pod()})
    try:
        protocol, frames = await _session(server.port, "stdout=1&stderr=1&command=sh&command=-c&command=x")
    finally:
        await server.stop()
    assert protocol == rc.V5
    assert frames[0] == (rc.STDOUT, b"")  # the session is up
    assert (_joined(frames, rc.STDOUT), _joined(frames, rc.STDERR)) == (b"out:", b"err")
    assert rc.exit_code_of(orjson.loads(_joined(frames, rc.ERROR))) == 2
    assert runtime.calls == [("cid", ["sh", "-c", "x"], b"")]


async def test_exec_sync_session_reads_stdin_until_closed():
    runtime = ExecSyncRuntime()
    server = await _kubelet(runtime, {("ns", "p"): _pod()})
    send = [rc.frame(rc.RESIZE, b'{"Width":80,"Height":24}'), rc.frame(rc.STDIN, b"ab"), rc.frame(rc.STDIN, b"c"),
            rc.close_signal(rc.STDIN)]
    try:
        _, frames = await _session(server.port, "stdin=1&stdout=1&command=cat", send=send)
    finally:
        await server.stop()
    assert _joined(frames, rc.STDOUT) == b"out:abc"
    assert _joined(frames, rc.STDERR) == b""  # not asked for
    assert orjson.loads(_joined(frames, rc.ERROR)) == rc.success()


async def test_v4_is_negotiated_for_older_clients():
    server = await _kubelet(ExecSyncRuntime(), {("ns", "p"): _pod()})
    try:
        protocol, frames = await _session(server.port, "stdout=1&command=ls", protocols=("v4.channel.k8s.io",))
    finally:
        await server.stop()
    assert protocol == rc.V4 and _joined(frames, rc.STDOUT) == b"out:"


@pytest.mark.parametrize("path,headers,status,text", [
    ("/exec/ns/p/c?stdout=1&command=ls", {}, 400, "Upgrade request required"),
    ("/exec/ns/p/c?stdout=1&command=ls", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400,
     "SPDY/3.1 upgrades are not supported by kubeling"),
    ("/exec/ns/p/c?command=ls", {}, 400, "you must specify at least 1 of stdin, stdout, stderr"),
    ("/exec/ns/other/c?stdout=1", {}, 404, "pod does not exist"),
    ("/exec/ns/p/nope?stdout=1", {}, 500, 'container not found ("nope")'),
    ("/exec/ns/waiting/c?stdout=1", {}, 500, 'container not found ("c")'),
])
async def test_exec_refusals(path, headers, status, text):
    server = await _kubelet(ExecSyncRuntime(), {("ns", "p"): _pod(), ("ns", "waiting"): _pod("waiting")})
    try:
        async with aiohttp.ClientSession() as http, \
                http.post(f"http://127.0.0.1:{server.port}{path}", headers=headers) as resp:
            assert resp.status == status
            assert text in await resp.text()
    finally:
        await server.stop()


async def test_unknown_subprotocol_is_refused():
    server = await _kubelet(ExecSyncRuntime(), {("ns", "p"): _pod()})
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await http.ws_connect(f"http://127.0.0.1:{server.port}/exec/ns/p/c?stdout=1",
                                      protocols=("channel.k8s.io",))
        assert e.value.status == 400
    finally:
        await server.stop()


# ---- bridged to a v4 stream server --------------------------------------------------------------------


class V4StreamServer:
    """Like containerd 1.6's stream server: v4 only; upper-cases stdin to stdout until it has seen
    `end` in it, then reports exit code 5 and closes."""

    def __init__(self):
        self.received: list[bytes] = []
        self.app = web.Application()
        self.app.router.add_get("/exec/{token}", self.exec)
        self.runner = web.AppRunner(self.app)
        self.port = 0

    async def exec(self, request):
        ws = web.WebSocketResponse(protocols=(rc.V4,))
        await ws.prepare(request)
        await ws.send_bytes(rc.frame(rc.STDOUT))
        async for msg in ws:
            self.received.append(msg.data)
            channel, data = rc.parse_frame(msg.data)
            if channel == rc.STDIN:
                await ws.send_bytes(rc.frame(rc.STDOUT, data.upper()))
                if b"end" in data:
                    await ws.send_bytes(rc.frame(rc.ERROR, orjson.dumps(rc.exit_status(5, ["sh"]))))
                    await ws.close()
        return ws

    async def __aenter__(self):
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def test_bridge_to_a_v4_stream_server():
    async with V4StreamServer() as upstream:
        runtime = StreamingRuntime(f"http://127.0.0.1:{upstream.port}/exec/tok")
        server = await _kubelet(runtime, {("ns", "p"): _pod()})
        send = [rc.frame(rc.RESIZE, b'{"Width":80,"Height":24}'), rc.close_signal(rc.STDERR),
                rc.frame(rc.STDIN, b"abc "), rc.frame(rc.STDIN, b"end")]
        try:
            protocol, frames = await _session(server.port, "stdin=1&stdout=1&tty=1&command=sh", send=send)
        finally:
            await server.stop()
    assert protocol == rc.V5  # the client's leg; the runtime's leg is v4
    assert _joined(frames, rc.STDOUT) == b"ABC END"
    assert rc.exit_code_of(orjson.loads(_joined(frames, rc.ERROR))) == 5
    # frames pass through unchanged, but the v5 close signal means nothing to a v4 server
    assert upstream.received == [send[0], send[2], send[3]]
    assert runtime.calls == []  # streamed, not exec_sync


async def test_bridge_reports_an_unreachable_stream_server():
    async with V4StreamServer() as upstream:
        port = upstream.port
    runtime = StreamingRuntime(f"http://127.0.0.1:{port}/exec/tok")  # closed again
    server = await _kubelet(runtime, {("ns", "p"): _pod()})
    try:
        _, frames = await _session(server.port, "stdout=1&command=ls")
    finally:
        await server.stop()
    status = orjson.loads(_joined(frames, rc.ERROR))
    assert status["reason"] == "InternalError"
    assert status["message"].startswith("Internal error occurred: error dialing backend: ")
