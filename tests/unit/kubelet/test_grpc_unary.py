"""grpc_unary (kubelet/runtime/grpc_unary.py): unary gRPC over HTTP/2 against grpcio's own server
(what containerd's grpc-go speaks), and against a bare h2 server for answers grpcio never gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from h2.errors import ErrorCodes

from kubeling.kubelet.runtime.grpc_unary import (
    Channel,
    Code,
    GrpcError,
    frame_message,
    grpc_timeout,
    parse_target,
)

MiB = 1024 * 1024
Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


class Server:
    """A grpc.aio server on a unix socket whose /t.T/<name> methods are `handlers` (raw bytes)."""

    def __init__(self, path: Path, handlers: dict[str, Handler], **options: int):
        self.endpoint = f"unix://{path}"
        self.handlers = handlers
        self.options = [(f"grpc.{k}", v) for k, v in options.items()]
        self.server: grpc.aio.Server | None = None

    async def start(self) -> Server:
        methods = {name: grpc.unary_unary_rpc_method_handler(h) for name, h in self.handlers.items()}
        self.server = grpc.aio.server(options=self.options)
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", methods)])
        self.server.add_insecure_port(self.endpoint)
        await self.server.start()
        return self

    async def stop(self, grace: float | None = None) -> None:
        if self.server is not None:
            await self.server.stop(grace)


async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


def const(answer: bytes) -> Handler:
    async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return answer
    return handle


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(handlers: dict[str, Handler] | None = None, name: str = "s.sock", **options: int) -> Server:
        server = await Server(tmp_path / name, {"Echo": echo, **(handlers or {})}, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def channels() -> AsyncIterator[Callable[..., Channel]]:
    made: list[Channel] = []

    def make(endpoint: str, **kw) -> Channel:
        made.append(Channel(endpoint, **kw))
        return made[-1]

    yield make
    for channel in made:
        await channel.close()


# ---------------------------------------------------------------- wire details


@pytest.mark.parametrize(("seconds", "header"), [
    (120.0, "120000m"), (0.5, "500000u"), (0.05, "50000000n"), (0.0, "0n"),
    (1e6, "1000000S"), (1e9, "16666667M"), (1e12, "99999999H")])
def test_grpc_timeout_fits_eight_digits(seconds: float, header: str):
    assert grpc_timeout(seconds) == header
    assert len(header.rstrip("nuSmMH")) <= 8


@pytest.mark.parametrize(("target", "parsed"), [
    ("unix:///run/c.sock", ("unix", "/run/c.sock")), ("unix:/run/c.sock", ("unix", "/run/c.sock")),
    ("127.0.0.1:5000", ("tcp", ("127.0.0.1", 5000))), ("[::1]:5000", ("tcp", ("::1", 5000)))])
def test_parse_target(target: str, parsed: tuple):
    assert parse_target(target) == parsed


def test_bad_target():
    with pytest.raises(ValueError, match="want unix:PATH or HOST:PORT"):
        Channel("nowhere")


def test_frame_message():
    assert frame_message(b"ab") == b"\x00\x00\x00\x00\x02ab"


# ---------------------------------------------------------------- against grpcio's server


async def test_round_trip(serve, channels):
    server = await serve()
    channel = channels(server.endpoint)
    assert await channel.call("/t.T/Echo", b"hello", timeout=5) == b"hello"
    assert await channel.call("/t.T/Echo", b"", timeout=None) == b""


async def test_messages_of_16_mib_both_ways(serve, channels):
    """Past every default window (64 KiB) and frame size (16 KiB): flow control on both sides."""
    server = await serve({"Big": const(b"x" * (16 * MiB))},
                         max_receive_message_length=32 * MiB, max_send_message_length=32 * MiB)
    channel = channels(server.endpoint)
    assert len(await channel.call("/t.T/Big", b"", timeout=30)) == 16 * MiB
    payload = bytes(range(256)) * (16 * MiB // 256)
    assert await channel.call("/t.T/Echo", payload, timeout=30) == payload


async def test_message_limits(serve, channels):
    server = await serve({"Big": const(b"x" * (2 * MiB))})
    channel = channels(server.endpoint, max_message=1 * MiB)
    with pytest.raises(GrpcError) as e:
        await channel.call("/t.T/Big", b"", timeout=10)
    assert e.value.code == Code.ResourceExhausted
    assert "received message larger than max (2097152 vs. 1048576)" in e.value.message
    with pytest.raises(GrpcError) as e:
        await channel.call("/t.T/Echo", b"y" * (MiB + 1), timeout=10)
    assert e.value.code == Code.ResourceExhausted
    assert await channel.call("/t.T/Echo", b"still fine", timeout=5) == b"still fine"


async def test_status_and_percent_encoded_message(serve, channels):
    async def missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, 'container "c1" not found: 100% gone, ü\n')

    server = await serve({"Missing": missing})
    with pytest.raises(GrpcError) as e:
        await channels(server.endpoint).call("/t.T/Missing", b"", timeout=5)
    assert (e.value.code, e.value.message) == (Code.NotFound, 'container "c1" not found: 100% gone, ü\n')
    assert str(e.value).startswith("rpc error: code = NotFound desc = container")


async def test_unknown_method_is_unimplemented(serve, channels):
    server = await serve()
    with pytest.raises(GrpcError) as e:
        await channels(server.endpoint).call("/t.T/Nope", b"", timeout=5)
    assert e.value.code == Code.Unimplemented


async def test_many_calls_share_a_connection_within_max_concurrent_streams(serve, channels):
    running, peak = 0, 0

    async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return request

    server = await serve({"Slow": slow}, max_concurrent_streams=3)
    channel = channels(server.endpoint)
    await channel.call("/t.T/Echo", b"", timeout=5)  # the server's SETTINGS have arrived
    answers = await asyncio.gather(*(channel.call("/t.T/Slow", b"%d" % i, timeout=10) for i in range(20)))
    assert answers == [b"%d" % i for i in range(20)]
    assert peak == 3
    assert channel._connection is not None and channel._connection._calls == {}


async def test_deadline_cancels_the_call_and_the_connection_stays(serve, channels):
    cancelled = asyncio.Event()

    async def hang(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b""

    server = await serve({"Hang": hang})
    channel = channels(server.endpoint)
    with pytest.raises(GrpcError) as e:
        await channel.call("/t.T/Hang", b"", timeout=0.2)
    assert (e.value.code, e.value.message) == (Code.DeadlineExceeded, "context deadline exceeded")
    await asyncio.wait_for(cancelled.wait(), 5)  # the server saw the deadline (or our RST_STREAM)
    connection = channel._connection
    assert await channel.call("/t.T/Echo", b"ok", timeout=5) == b"ok"
    assert channel._connection is connection


async def test_a_cancelled_caller_resets_its_stream(serve, channels):
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hang(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b""

    server = await serve({"Hang": hang})
    channel = channels(server.endpoint)
    task = asyncio.create_task(channel.call("/t.T/Hang", b"", timeout=None))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_unreachable_then_reconnects_after_a_restart(serve, channels, tmp_path: Path):
    channel = channels(f"unix://{tmp_path}/s.sock")
    with pytest.raises(GrpcError) as e:
        await channel.call("/t.T/Echo", b"", timeout=5)
    assert e.value.code == Code.Unavailable and "dial unix" in e.value.message
    server = await serve()
    assert await channel.call("/t.T/Echo", b"1", timeout=5) == b"1"
    await server.stop()
    with pytest.raises(GrpcError) as e:
        await channel.call("/t.T/Echo", b"", timeout=5)
    assert e.value.code == Code.Unavailable
    await serve()
    assert await channel.call("/t.T/Echo", b"2", timeout=5) == b"2"


async def test_graceful_server_stop_finishes_calls_in_flight(serve, channels):
    """grpc servers drain with GOAWAY and still answer what they began (h2 alone would drop them)."""
    started = asyncio.Event()

    async def slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        started.set()
        await asyncio.sleep(0.3)
        return b"done"

    server = await serve({"Slow": slow})
    channel = channels(server.endpoint)
    call = asyncio.create_task(channel.call("/t.T/Slow", b"", timeout=10))
    await asyncio.wait_for(started.wait(), 5)
    await server.stop(grace=5)
    assert await call == b"done"


async def test_closed_channel_refuses_calls(serve, channels):
    server = await serve()
    channel = channels(server.endpoint)
    await channel.call("/t.T/Echo", b"", timeout=5)
    await channel.close()
    with pytest.raises(GrpcError) as e:
        await channel.call("/t.T/Echo", b"", timeout=5)
    assert e.value.code == Code.Canceled


# ---------------------------------------------------------------- against a bare h2 server


class BareServer(asyncio.Protocol):
    """Answers each stream by `answer(stream_number, conn, stream_id)` once its request has ended."""

    streams = 0
    early = False  # answer on the request's headers, and never read (nor reopen windows for) bodies
    last: BareServer | None = None  # the latest connection's server side

    def __init__(self, answer: Callable[[int, h2.connection.H2Connection, int], None], max_streams: int | None):
        self.answer = answer
        self.max_streams = max_streams
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        BareServer.last = self
        self.conn.initiate_connection()
        if self.max_streams is not None:  # h2 fails the connection if a client opens more
            self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        transport.write(self.conn.data_to_send())

    def flush(self) -> None:
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived) and BareServer.early:
                BareServer.streams += 1
                self.answer(BareServer.streams, self.conn, event.stream_id)
            elif isinstance(event, h2.events.DataReceived) and not BareServer.early:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and not BareServer.early:
                BareServer.streams += 1
                self.answer(BareServer.streams, self.conn, event.stream_id)
        self.transport.write(self.conn.data_to_send())


@pytest.fixture
async def bare(tmp_path: Path) -> AsyncIterator[Callable[[Callable], Awaitable[str]]]:
    servers = []

    async def start(answer: Callable, max_streams: int | None = None, early: bool = False) -> str:
        BareServer.streams, BareServer.early = 0, early
        path = tmp_path / "bare.sock"
        servers.append(await asyncio.get_running_loop().create_unix_server(
            lambda: BareServer(answer, max_streams), str(path)))
        return f"unix://{path}"

    yield start
    for server in servers:
        server.close()


async def test_never_more_streams_than_the_server_allows(bare, channels):
    """A bare h2 server ends the connection on a stream past its limit; grpcio's would refuse it."""
    open_now, peak = set(), 0

    def answer(n: int, conn: h2.connection.H2Connection, stream_id: int) -> None:
        nonlocal peak
        open_now.add(stream_id)
        peak = max(peak, len(open_now))

        def reply() -> None:
            open_now.discard(stream_id)
            ok(conn, stream_id, frame_message(b"%d" % stream_id))
            assert BareServer.last is not None
            BareServer.last.flush()

        asyncio.get_running_loop().call_later(0.01, reply)

    channel = channels(await bare(answer, max_streams=2))
    answers = await asyncio.gather(*(channel.call("/t.T/Echo", b"", timeout=10) for _ in range(12)))
    assert len(set(answers)) == 12 and BareServer.streams == 12
    assert peak == 2


def ok(conn: h2.connection.H2Connection, stream_id: int, body: bytes) -> None:
    conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
    conn.send_data(stream_id, body)
    conn.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)


async def test_refused_stream_is_tried_again(bare, channels):
    def answer(n: int, conn: h2.connection.H2Connection, stream_id: int) -> None:
        if n == 1:
            conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
        else:
            ok(conn, stream_id, frame_message(b"second"))

    channel = channels(await bare(answer))
    assert await channel.call("/t.T/Echo", b"", timeout=5) == b"second"
    assert BareServer.streams == 2


@pytest.mark.parametrize(("headers", "body", "code", "message"), [
    ([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "5"),
      ("grpc-message", "sandbox%20%22x%22%20not%20found")], None, Code.NotFound, 'sandbox "x" not found'),
    ([(":status", "503")], None, Code.Unavailable, "unexpected HTTP status code received from server: 503"),
    ([(":status", "200"), ("content-type", "application/grpc")], b"\x00\x00\x00\x00\x09abc",
     Code.Internal, "server closed the stream without sending trailers"),
    ([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "77")], None, Code.Unknown, ""),
    ([(b":status", b"200"), (b"content-type", b"application/grpc"), (b"grpc-status", b"2"),
      (b"grpc-message", b"not utf-8: \xff")], None, Code.Unknown, "not utf-8: \ufffd"),
])
async def test_odd_answers(bare, channels, headers, body, code, message):
    def answer(n: int, conn: h2.connection.H2Connection, stream_id: int) -> None:
        if body is None:  # trailers-only
            conn.send_headers(stream_id, headers, end_stream=True)
        else:
            conn.send_headers(stream_id, headers)
            conn.send_data(stream_id, body, end_stream=True)

    with pytest.raises(GrpcError) as e:
        await channels(await bare(answer)).call("/t.T/Echo", b"", timeout=5)
    assert (e.value.code, e.value.message) == (code, message)


@pytest.mark.parametrize(("body", "message"), [
    (b"\x00\x00\x00\x00\x09abc", "grpc: response message truncated"),
    (b"\x01\x00\x00\x00\x00", "grpc: compressed flag set with identity or empty encoding"),
    (b"\x00\x00\x00\x00\x01a\x00\x00\x00\x00\x01b", "grpc: more than one response message for a unary call"),
    (b"", "grpc: response has no message")])
async def test_bad_bodies(bare, channels, body: bytes, message: str):
    def answer(n: int, conn: h2.connection.H2Connection, stream_id: int) -> None:
        ok(conn, stream_id, body)

    with pytest.raises(GrpcError) as e:
        await channels(await bare(answer)).call("/t.T/Echo", b"", timeout=5)
    assert (e.value.code, e.value.message) == (Code.Internal, message)


async def test_answer_before_the_request_is_read(bare, channels):
    """A server may answer (here: trailers-only NotFound) while our send waits for window room."""

    def answer(n: int, conn: h2.connection.H2Connection, stream_id: int) -> None:
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                      ("grpc-status", "5"), ("grpc-message", "gone")], end_stream=True)

    channel = channels(await bare(answer, early=True))
    with pytest.raises(GrpcError) as e:  # past the 64 KiB window: the send waits for room as the answer comes
        await asyncio.wait_for(channel.call("/t.T/Echo", b"z" * 200_000, timeout=5), 3)
    assert (e.value.code, e.value.message) == (Code.NotFound, "gone")
    connection = channel._connection
    assert connection is not None and connection._h2.open_outbound_streams == 0


def test_on_uvloop(tmp_path: Path):
    """The agent runs on uvloop, whose transports are its own classes."""
    import uvloop

    def answer(n: int, conn: h2.connection.H2Connection, stream_id: int) -> None:
        ok(conn, stream_id, frame_message(b"uv"))

    async def round_trip() -> bytes:
        path = tmp_path / "uv.sock"
        server = await asyncio.get_running_loop().create_unix_server(lambda: BareServer(answer, None), str(path))
        channel = Channel(f"unix://{path}")
        try:
            return await channel.call("/t.T/Echo", b"", timeout=5)
        finally:
            await channel.close()
            server.close()

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(round_trip()) == b"uv"
    finally:
        loop.close()
