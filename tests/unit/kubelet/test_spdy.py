"""SPDY/3.1 framing and header compression, the client against a fake stream server that
behaves like the kubelet's CRI streaming server (spdystream), and the kubelet's exec bridged
over it: the client's close of stdin arrives as FIN on the stdin stream."""

from __future__ import annotations

import asyncio
import struct
import zlib

import aiohttp
import orjson
import pytest

from kubeling.kubelet import remotecommand as rc
from kubeling.kubelet import spdy
from kubeling.kubelet.server import KubeletServer

# ---- frames ---------------------------------------------------------------------------------------

FRAMES = [
    spdy.DataFrame(1, b"hello"),
    spdy.DataFrame(3, b"", spdy.FLAG_FIN),
    spdy.SynStreamFrame(1, {"streamtype": "error"}),
    spdy.SynStreamFrame(5, {"streamtype": "stdin", "x-many": "a\0b"}, spdy.FLAG_FIN, associated_to=3,
                        priority=7, slot=2),
    spdy.SynReplyFrame(1, {}),
    spdy.SynReplyFrame(3, {"status": "200"}, spdy.FLAG_FIN),
    spdy.HeadersFrame(7, {"k": "v"}),
    spdy.RstStreamFrame(9, spdy.CANCEL),
    spdy.SettingsFrame(((0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20), (1, 4, 100)), spdy.FLAG_SETTINGS_CLEAR),
    spdy.PingFrame(2),
    spdy.GoAwayFrame(11, 1),
    spdy.WindowUpdateFrame(0, 32768),
]


def test_every_frame_survives_a_round_trip_through_one_connections_zlib_streams():
    sender, receiver = spdy.Framer(), spdy.Framer()
    for frame in FRAMES:  # in order: header blocks share one zlib stream per direction
        wire = sender.encode(frame)
        assert receiver.decode(wire[:8], wire[8:]) == frame


def test_wire_bytes_of_fixed_frames():
    framer = spdy.Framer()
    assert framer.encode(spdy.DataFrame(3, b"", spdy.FLAG_FIN)) == bytes.fromhex("00000003 01000000")
    assert framer.encode(spdy.DataFrame(1, b"ab")) == bytes.fromhex("00000001 00000002") + b"ab"
    assert framer.encode(spdy.RstStreamFrame(1, spdy.CANCEL)) == bytes.fromhex("80030003 00000008 00000001 00000005")
    assert framer.encode(spdy.PingFrame(1)) == bytes.fromhex("80030006 00000004 00000001")
    assert framer.encode(spdy.GoAwayFrame(0)) == bytes.fromhex("80030007 00000008 00000000 00000000")
    assert framer.encode(spdy.WindowUpdateFrame(5, 100)) == bytes.fromhex("80030009 00000008 00000005 00000064")
    assert framer.encode(spdy.SettingsFrame(((0, 7, 65536),))) == bytes.fromhex(
        "80030004 0000000c 00000001 00000007 00010000")
    syn = framer.encode(spdy.SynStreamFrame(1, {"streamType": "error"}, priority=0))
    assert syn[:4] == bytes.fromhex("80030001") and syn[8:18] == bytes.fromhex("00000001 00000000 0000")
    assert struct.unpack(">I", syn[4:8])[0] == len(syn) - 8


def test_header_blocks_are_counted_lowercase_length_prefixed_pairs():
    block = spdy.encode_header_block({"streamType": "error", "multi": ["a", "b"]})
    assert block == (b"\0\0\0\x02" + b"\0\0\0\x0astreamtype" + b"\0\0\0\x05error"
                     + b"\0\0\0\x05multi" + b"\0\0\0\x03a\0b")
    assert spdy.decode_header_block(block) == {"streamtype": "error", "multi": "a\0b"}
    with pytest.raises(spdy.SpdyError):
        spdy.decode_header_block(block[:-1])
    with pytest.raises(spdy.SpdyError):
        spdy.decode_header_block(block + b"x")


def test_header_compression_is_zlib_with_spdy3s_dictionary():
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2  # the dictionary id peers check
    compressed = spdy.HeaderCompressor().compress({"streamtype": "stdout"})
    cmf, flg = compressed[0], compressed[1]
    assert cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0  # a zlib stream header (deflate)
    assert flg & 0x20 and compressed[2:6] == struct.pack(">I", 0xE3C6A7C2)  # FDICT + DICTID
    assert compressed.endswith(b"\x00\x00\xff\xff")  # sync-flushed: decodable on its own
    plain = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(compressed)
    assert plain == spdy.encode_header_block({"streamtype": "stdout"})
    with pytest.raises(zlib.error):
        zlib.decompressobj().decompress(compressed)  # not without the dictionary


def test_decode_refuses_other_versions_and_short_frames_and_skips_unknown_types():
    framer = spdy.Framer()
    with pytest.raises(spdy.SpdyError, match="version 2"):
        framer.decode(bytes.fromhex("80020003 00000008"), bytes(8))
    with pytest.raises(spdy.SpdyError, match="too short"):
        framer.decode(bytes.fromhex("80030003 00000004"), bytes(4))
    with pytest.raises(spdy.SpdyError, match="header says"):
        framer.decode(bytes.fromhex("00000001 00000004"), b"ab")
    assert framer.decode(bytes.fromhex("8003000a 00000000"), b"") is None  # CREDENTIAL: ignored


# ---- a fake stream server ---------------------------------------------------------------------------


class FakeStreamServer:
    """Like the kubelet's CRI streaming server over spdystream: negotiates X-Stream-Protocol-Version,
    replies to each SYN_STREAM, waits for the streams the session needs, then runs `behaviour`,
    writes the Status on the error stream, resets every stream and closes (as httpstream does)."""

    def __init__(self, behaviour, expected: int = 3, protocols=("v4.channel.k8s.io",), refuse: int | None = None,
                 linger: bool = False):
        self.behaviour = behaviour
        self.linger = linger  # after the Status, read on until the client hangs up (else close at once)
        self.expected = expected
        self.protocols = protocols
        self.refuse = refuse
        self.request_head = ""
        self.stream_types: list[str] = []
        self.received: dict[str, list[bytes]] = {}
        self.finished: set[str] = set()
        self.frames: list[spdy.Frame] = []
        self.eof = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/exec/token"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            self.request_head = (await reader.readuntil(b"\r\n\r\n")).decode()
            if self.refuse:
                body = b"unable to upgrade"
                writer.write(f"HTTP/1.1 {self.refuse} Refused\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                return
            offered = [line.split(":", 1)[1].strip() for line in self.request_head.split("\r\n")
                       if line.lower().startswith("x-stream-protocol-version:")]
            chosen = next((p for p in self.protocols if p in offered), self.protocols[0])  # even if not offered
            writer.write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                          f"X-Stream-Protocol-Version: {chosen}\r\n\r\n").encode())
            await self._session(reader, writer)
        finally:
            writer.close()

    async def _session(self, reader, writer):
        framer = spdy.Framer()
        ids: dict[str, int] = {}
        inboxes: dict[str, asyncio.Queue] = {}
        ready = asyncio.Event()

        def send(frame):
            writer.write(framer.encode(frame))

        async def read_frames():
            while True:
                try:
                    frame = await framer.read(reader)
                except EOFError:
                    self.eof.set()
                    for queue in inboxes.values():
                        queue.put_nowait(None)
                    return
                self.frames.append(frame)
                match frame:
                    case spdy.SynStreamFrame(stream_id, headers):
                        kind = headers["streamtype"]
                        self.stream_types.append(kind)
                        ids[kind], inboxes[kind] = stream_id, asyncio.Queue()
                        send(spdy.SynReplyFrame(stream_id, {}))
                        if len(ids) == self.expected:
                            ready.set()
                    case spdy.DataFrame(stream_id, data, flags):
                        kind = next(k for k, i in ids.items() if i == stream_id)
                        if data:
                            self.received.setdefault(kind, []).append(data)
                            inboxes[kind].put_nowait(data)
                        if flags & spdy.FLAG_FIN:
                            self.finished.add(kind)
                            inboxes[kind].put_nowait(None)
                    case spdy.PingFrame():
                        send(frame)

        reading = asyncio.create_task(read_frames())
        try:
            await ready.wait()
            status = await self.behaviour(inboxes, lambda kind, data: send(spdy.DataFrame(ids[kind], data)))
            if status is not None:
                raw = status if isinstance(status, bytes) else orjson.dumps(status)
                if raw:
                    send(spdy.DataFrame(ids["error"], raw))
                for stream_id in ids.values():
                    send(spdy.RstStreamFrame(stream_id, spdy.CANCEL))
                send(spdy.GoAwayFrame(0))
                await writer.drain()
            if status is None or self.linger:
                await asyncio.wait_for(reading, 10)  # until the client hangs up
        finally:
            reading.cancel()


async def upper_case_stdin(inboxes, write):
    """stdin upper-cased to stdout until its end, then exit code 3 (`cat | tr a-z A-Z; exit 3`)."""
    while (data := await inboxes["stdin"].get()) is not None:
        write("stdout", data.upper())
    write("stderr", b"bye\n")
    return rc.exit_status(3, ["sh"])


# ---- the client --------------------------------------------------------------------------------------


async def test_client_negotiates_opens_streams_and_half_closes():
    async def echo_then_succeed(inboxes, write):
        while (data := await inboxes["stdin"].get()) is not None:
            write("stdout", data)
        return rc.success()

    async with FakeStreamServer(echo_then_succeed, expected=3, linger=True) as server:
        conn = await spdy.connect(server.url, ["v4.channel.k8s.io", "v3.channel.k8s.io"], flow_control=True)
        try:
            assert conn.protocol == "v4.channel.k8s.io"
            assert await conn.ping() >= 0
            error, stdin, stdout = [await conn.open_stream({"streamType": t}) for t in ("error", "stdin", "stdout")]
            assert (error.id, stdin.id, stdout.id) == (1, 3, 5)  # a client's streams are odd
            assert stdin.reply_headers == {}
            await stdin.write(b"x" * (100 << 10))  # beyond the 64 KiB window: spdystream does no flow control
            await stdin.close()
            out = await stdout.read_all()
            assert len(out) == 100 << 10
            assert orjson.loads(await error.read_all())["status"] == "Success"
            assert stdout.reset_status == spdy.CANCEL
            with pytest.raises(spdy.SpdyError, match="closed"):
                await stdin.write(b"more")
        finally:
            await conn.close()
        await asyncio.wait_for(server.eof.wait(), 5)  # the server has read all the client sent
    head = server.request_head.split("\r\n")
    assert head[0] == "POST /exec/token HTTP/1.1"
    assert {"Connection: Upgrade", "Upgrade: SPDY/3.1", "X-Stream-Protocol-Version: v4.channel.k8s.io",
            "X-Stream-Protocol-Version: v3.channel.k8s.io"} <= set(head)
    assert server.stream_types == ["error", "stdin", "stdout"]
    assert "stdin" in server.finished
    assert isinstance(server.frames[-1], spdy.GoAwayFrame)  # the client's goodbye
    # asked to, the client returned the consumed 100 KiB as receive window, per stream and for the session
    updates = [f for f in server.frames if isinstance(f, spdy.WindowUpdateFrame)]
    assert {f.stream_id for f in updates} == {0, 5} and sum(f.delta for f in updates if f.stream_id == 5) >= 64 << 10


async def test_connect_reports_a_refused_upgrade_and_an_unreachable_server():
    async with FakeStreamServer(upper_case_stdin, refuse=403) as server:
        with pytest.raises(spdy.UpgradeError) as refused:
            await spdy.connect(server.url, ["v4.channel.k8s.io"])
        port = server.port
    assert (refused.value.status, refused.value.body) == (403, "unable to upgrade")
    with pytest.raises(OSError):
        await spdy.connect(f"http://127.0.0.1:{port}/exec/token", ["v4.channel.k8s.io"])
    with pytest.raises(ValueError):
        await spdy.connect("ftp://example/exec", ["v4.channel.k8s.io"])


async def test_connect_refuses_a_protocol_that_was_not_offered():
    async with FakeStreamServer(upper_case_stdin, protocols=("v4.channel.k8s.io",)) as server:
        with pytest.raises(spdy.SpdyError, match="v4.channel.k8s.io"):
            await spdy.connect(server.url, ["v9.channel.k8s.io"])


# ---- the kubelet's exec over SPDY ------------------------------------------------------------------------


class StreamingRuntime:
    name, version = "stub", "0"

    def __init__(self, url: str):
        self.url = url

    async def exec_url(self, container_id, cmd, *, tty, stdin, stdout, stderr):
        return self.url


POD = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "c"}]},
       "status": {"containerStatuses": [{"name": "c", "containerID": "cri://cid", "state": {"running": {}}}]}}


async def _kubectl_session(url: str, query: str, send=(), leave_early: bool = False) -> list[tuple[int, bytes]]:
    """A v5 client (kubectl 1.30+) on the kubelet whose runtime streams from `url`."""
    kubelet = KubeletServer(StreamingRuntime(url), lambda ns, name: POD, port=0, authenticate=lambda r: True)
    await kubelet.start()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://127.0.0.1:{kubelet.port}/exec/ns/p/c?{query}", protocols=(rc.V5,))
            for message in send:
                await ws.send_bytes(message)
            if leave_early:
                await ws.receive()
                await ws.close()
                return []
            return [rc.parse_frame(msg.data) async for msg in ws]
    finally:
        await kubelet.stop()


def _joined(frames, channel: int) -> bytes:
    return b"".join(data for ch, data in frames if ch == channel)


async def test_exec_over_spdy_passes_stdin_and_its_end_and_reports_the_exit_code():
    async with FakeStreamServer(upper_case_stdin, expected=4) as server:
        frames = await _kubectl_session(server.url, "stdin=1&stdout=1&stderr=1&command=sh",
                                        send=[rc.frame(rc.STDIN, b"abc "), rc.frame(rc.STDIN, b"def"),
                                              rc.close_signal(rc.STDIN)])
    assert server.stream_types == ["error", "stdin", "stdout", "stderr"]  # client-go's order
    assert "X-Stream-Protocol-Version: v4.channel.k8s.io" in server.request_head
    assert b"".join(server.received["stdin"]) == b"abc def" and "stdin" in server.finished
    assert (_joined(frames, rc.STDOUT), _joined(frames, rc.STDERR)) == (b"ABC DEF", b"bye\n")
    assert rc.exit_code_of(orjson.loads(_joined(frames, rc.ERROR))) == 3


async def test_a_terminal_session_has_a_resize_stream_and_no_stderr():
    async def report_size(inboxes, write):
        size = await inboxes["resize"].get()
        write("stdout", b"size " + size)
        return rc.success()

    async with FakeStreamServer(report_size, expected=4) as server:
        frames = await _kubectl_session(server.url, "stdin=1&stdout=1&stderr=1&tty=1&command=sh",
                                        send=[rc.frame(rc.RESIZE, b'{"Width":80,"Height":24}')])
    assert server.stream_types == ["error", "stdin", "stdout", "resize"]
    assert _joined(frames, rc.STDOUT) == b'size {"Width":80,"Height":24}'
    assert orjson.loads(_joined(frames, rc.ERROR))["status"] == "Success"


async def test_large_output_reaches_the_client_whole():
    """Even from a server that closes the connection right after the Status, as httpstream does."""
    blob = bytes(range(256)) * (12 << 10)  # 3 MiB: more than a stream buffers before the reader waits

    async def dump(inboxes, write):
        for start in range(0, len(blob), 16 << 10):
            write("stdout", blob[start:start + (16 << 10)])
        return rc.success()

    async with FakeStreamServer(dump, expected=2) as server:
        frames = await _kubectl_session(server.url, "stdout=1&command=cat")
    out = _joined(frames, rc.STDOUT)
    assert len(out) == len(blob) and out == blob


async def test_an_empty_error_stream_is_success_and_a_non_status_one_an_error():
    def writes(stdout: bytes, error: bytes):
        async def behaviour(inboxes, write):
            write("stdout", stdout)
            return error
        return behaviour

    async with FakeStreamServer(writes(b"done", b""), expected=2) as server:
        frames = await _kubectl_session(server.url, "stdout=1&command=true")
    assert _joined(frames, rc.STDOUT) == b"done"
    assert orjson.loads(_joined(frames, rc.ERROR)) == rc.success()  # as client-go reads an empty one

    async with FakeStreamServer(writes(b"", b"oops"), expected=2) as server:
        frames = await _kubectl_session(server.url, "stdout=1&command=true")
    status = orjson.loads(_joined(frames, rc.ERROR))
    assert status["reason"] == "InternalError" and status["message"].endswith("oops")


async def test_the_kubelet_hangs_up_on_the_runtime_when_the_client_leaves():
    async def until_hang_up(inboxes, write):
        return None

    async with FakeStreamServer(until_hang_up, expected=2) as server:
        await _kubectl_session(server.url, "stdout=1&command=sleep", leave_early=True)
        await asyncio.wait_for(server.eof.wait(), 5)


async def test_a_stream_server_without_spdy_gets_a_websocket():
    async with FakeStreamServer(upper_case_stdin, refuse=405) as server:
        frames = await _kubectl_session(server.url, "stdout=1&command=ls")
    status = orjson.loads(_joined(frames, rc.ERROR))
    # the fallback reached the same server, which refuses websockets too
    assert status["message"].startswith("Internal error occurred: unable to upgrade connection: 405")
