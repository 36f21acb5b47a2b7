"""A small gRPC client for unary calls: HTTP/2 (the pure-Python `h2` state machine) on one
asyncio connection, many calls in flight on it at once.

It replaces grpcio for the CRI client, whose import alone costs the agent ~8 MB of RSS. What it
speaks is gRPC's HTTP/2 protocol (PROTOCOL-HTTP2.md in grpc/grpc):

    request   HEADERS  :method POST, :scheme http, :path /pkg.Service/Method, :authority,
                       content-type application/grpc, te trailers, grpc-timeout (optional)
              DATA     flag byte (0: not compressed) + 4-byte big-endian length + message, END_STREAM
    response  HEADERS  :status 200, content-type application/grpc...
              DATA     the same framing
              HEADERS  trailers: grpc-status (0 is OK), grpc-message (percent-encoded)
    or        HEADERS  "trailers-only": :status and grpc-status in one block, END_STREAM

The server's MAX_CONCURRENT_STREAMS is respected (calls past it wait for a stream to finish),
both flow-control windows are honoured on send and reopened on receive, and messages are
limited to `max_message` bytes each way. A connection that drops (or that the server sends
GOAWAY on) is replaced on the next call; a call the server never saw (refused, or past a
GOAWAY's last stream) is tried once more on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
from collections import deque
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes

DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024 + 1024 * 1024  # CRI's ExecSync output cap (16 MiB) plus room
# Receive windows: generous, since a unary response is read whole anyway; the stream window
# lets a large ExecSync answer stream without waiting on a WINDOW_UPDATE every 64 KiB.
STREAM_WINDOW = 4 * 1024 * 1024
CONNECTION_WINDOW = 16 * 1024 * 1024
NOT_PROCESSED_ATTEMPTS = 10
# Streams we open at most on one connection, whatever the server allows (grpc-go allows any
# number): h2 walks every open stream on each new one, so thousands in flight cost O(n^2).
MAX_STREAMS = 100
USER_AGENT = "kubeling-grpc/0.1"
_HEADER = 5  # compressed flag + length


class Code(enum.IntEnum):
    """gRPC status codes, named as Go's codes.Code.String() spells them."""

    OK = 0
    Canceled = 1
    Unknown = 2
    InvalidArgument = 3
    DeadlineExceeded = 4
    NotFound = 5
    AlreadyExists = 6
    PermissionDenied = 7
    ResourceExhausted = 8
    FailedPrecondition = 9
    Aborted = 10
    OutOfRange = 11
    Unimplemented = 12
    Internal = 13
    Unavailable = 14
    DataLoss = 15
    Unauthenticated = 16


class GrpcError(Exception):
    """A call that did not end with grpc-status OK."""

    def __init__(self, code: Code, message: str):
        super().__init__(f"rpc error: code = {code.name} desc = {message}")
        self.code = code
        self.message = message


class _NotProcessed(Exception):
    """The server never handled the call (REFUSED_STREAM, or above a GOAWAY's last stream): safe to retry."""


# HTTP statuses other than 200 when no grpc-status came (gRPC's http-grpc-status-mapping.md).
_HTTP_CODES = {400: Code.Internal, 401: Code.Unauthenticated, 403: Code.PermissionDenied,
               404: Code.Unimplemented, 429: Code.Unavailable, 502: Code.Unavailable,
               503: Code.Unavailable, 504: Code.Unavailable}
# RST_STREAM error codes as gRPC clients report them.
_RESET_CODES = {ErrorCodes.CANCEL: Code.Canceled, ErrorCodes.ENHANCE_YOUR_CALM: Code.ResourceExhausted,
                ErrorCodes.INADEQUATE_SECURITY: Code.PermissionDenied}
_TIMEOUT_UNITS = (("n", 1e9), ("u", 1e6), ("m", 1e3), ("S", 1.0), ("M", 1 / 60), ("H", 1 / 3600))


def grpc_timeout(seconds: float) -> str:
    """The grpc-timeout header: at most 8 digits and a unit, rounded up (120.0 -> "120000000u")."""
    for unit, per_second in _TIMEOUT_UNITS:
        value = math.ceil(max(seconds, 0.0) * per_second)
        if value < 100_000_000:
            return f"{value}{unit}"
    return "99999999H"


def frame_message(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def unframe_message(data: bytes | bytearray) -> bytes:
    """The one message of a unary response body."""
    if len(data) < _HEADER:
        raise GrpcError(Code.Internal, "grpc: response has no message" if not data else
                        "grpc: response message truncated")
    if data[0] & 1:
        # We send no grpc-accept-encoding, so a compressed answer is a protocol violation.
        raise GrpcError(Code.Internal, "grpc: compressed flag set with identity or empty encoding")
    length = int.from_bytes(data[1:_HEADER], "big")
    if len(data) < _HEADER + length:
        raise GrpcError(Code.Internal, "grpc: response message truncated")
    if len(data) > _HEADER + length:
        raise GrpcError(Code.Internal, "grpc: more than one response message for a unary call")
    return bytes(data[_HEADER:])


def status_error(headers: dict[str, str]) -> GrpcError | None:
    """The call's outcome from its response headers and trailers (merged): None when OK."""
    http_status = headers.get(":status", "")
    status = headers.get("grpc-status")
    if status is None:
        if http_status != "200":
            code = _HTTP_CODES.get(int(http_status) if http_status.isdigit() else 0, Code.Unknown)
            return GrpcError(code, f"unexpected HTTP status code received from server: {http_status or 'none'}")
        return GrpcError(Code.Internal, "server closed the stream without sending trailers")
    try:
        code = Code(int(status))
    except ValueError:
        code = Code.Unknown
    if code == Code.OK:
        return None
    return GrpcError(code, unquote(headers.get("grpc-message", "")))


def _unavailable(what: str) -> GrpcError:
    return GrpcError(Code.Unavailable, what)


class _H2Connection(h2.connection.H2Connection):
    """h2 takes any GOAWAY as the end of the connection (python-hyper/h2#1181), yet a gRPC server
    drains with one and still finishes the calls at or below its last stream id (RFC 9113 6.8).
    Receiving GOAWAY here only reports it; Connection stops opening streams itself."""

    def _receive_goaway_frame(self, frame):  # type: ignore[no-untyped-def]
        event = h2.events.ConnectionTerminated()
        try:
            event.error_code = ErrorCodes(frame.error_code)
        except ValueError:
            event.error_code = frame.error_code
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class _Call:
    """One stream: what came back, and the future the caller waits on."""

    __slots__ = ("data", "done", "headers", "id", "window")

    def __init__(self, stream_id: int, loop: asyncio.AbstractEventLoop):
        self.id = stream_id
        self.headers: dict[str, str] = {}
        self.data = bytearray()
        self.done: asyncio.Future[None] = loop.create_future()
        self.window = asyncio.Event()  # set when the peer reopens our send window

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)
        self.window.set()


class Connection(asyncio.Protocol):
    """One HTTP/2 connection carrying unary gRPC calls."""

    def __init__(self, authority: str, max_message: int):
        self.authority = authority
        self.max_message = max_message
        self.closed = False  # the transport is gone
        self.draining = False  # a GOAWAY came: no new calls here
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._h2 = _H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False))
        self._calls: dict[int, _Call] = {}
        self._blocked: set[_Call] = set()  # calls waiting for the peer to reopen a send window
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._writable = asyncio.Event()
        self._writable.set()
        # The server's SETTINGS (its half of the preface): its stream limit is known from then on.
        self.ready: asyncio.Future[None] = self._loop.create_future()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's are no asyncio.Transport
        self._h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024})
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self._flush()  # h2 queued a GOAWAY naming the error
            self._abort(_unavailable(f"connection error: HTTP/2 protocol error: {e}"))
            return
        for event in events:
            self._handle(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._abort(_unavailable(f"error reading from server: {exc or 'EOF'}"))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- events

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            call = self._calls.get(event.stream_id)
            if call is not None:
                self._received(call, event.data)
        elif isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
            call = self._calls.get(event.stream_id)
            if call is not None:
                # Trailers after headers: grpc-status lands here. Bytes, so a stray non-UTF-8
                # grpc-message cannot break the connection.
                call.headers.update((k.decode("latin-1"), v.decode(errors="replace")) for k, v in event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            call = self._calls.get(event.stream_id)
            if call is not None and not call.done.done():
                call.done.set_result(None)
                call.window.set()  # a send still waiting for room stops: the answer is in
        elif isinstance(event, h2.events.StreamReset):
            self._reset(event)
        elif isinstance(event, h2.events.WindowUpdated):
            self._window_opened(event.stream_id)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self.ready.done():
                self.ready.set_result(None)
            self._window_opened(0)
            self._wake_slot_waiters()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway(event.last_stream_id or 0, event.error_code)

    def _received(self, call: _Call, data: bytes) -> None:
        call.data += data
        if len(call.data) >= _HEADER:
            length = int.from_bytes(call.data[1:_HEADER], "big")
            if length > self.max_message:
                self._cancel(call, GrpcError(Code.ResourceExhausted, "grpc: received message larger than max "
                                             f"({length} vs. {self.max_message})"))

    def _reset(self, event: h2.events.StreamReset) -> None:
        call = self._calls.get(event.stream_id)
        if call is None or call.done.done():
            return
        if event.error_code == ErrorCodes.REFUSED_STREAM:
            call.fail(_NotProcessed())
            return
        code = _RESET_CODES.get(event.error_code, Code.Internal)
        name = getattr(event.error_code, "name", event.error_code)
        call.fail(GrpcError(code, f"stream terminated by RST_STREAM with error code: {name}"))

    def _goaway(self, last_stream_id: int, error_code: int) -> None:
        self.draining = True
        for call in list(self._calls.values()):
            if call.id > last_stream_id:
                call.fail(_NotProcessed())
        if error_code != ErrorCodes.NO_ERROR or not self._calls:
            name = getattr(error_code, "name", error_code)
            self._abort(_unavailable(f"connection closed by server (GOAWAY {name})"))
        self._wake_slot_waiters()

    def _window_opened(self, stream_id: int) -> None:
        if stream_id == 0:
            for call in self._blocked:
                call.window.set()
        elif (call := self._calls.get(stream_id)) is not None:
            call.window.set()

    def _abort(self, error: GrpcError) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # retrieved: whoever dialled sees `closed`
        for call in self._calls.values():
            call.fail(error)
        self._wake_slot_waiters()
        if self._transport is not None:
            self._transport.abort()

    # -- writing

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _cancel(self, call: _Call, error: BaseException | None) -> None:
        """Fail the call (with `error`, or quietly when nobody waits any more) and tell the server
        to stop it (RST_STREAM CANCEL, as gRPC clients do)."""
        if error is None:
            call.done.cancel()
            call.window.set()
        else:
            call.fail(error)
        if not self.closed:
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.reset_stream(call.id, ErrorCodes.CANCEL)
            self._flush()

    # -- streams

    @property
    def usable(self) -> bool:
        return not (self.closed or self.draining)

    def _stream_limit(self) -> int:
        return min(self._h2.remote_settings.max_concurrent_streams, MAX_STREAMS)

    def _wake_slot_waiters(self) -> None:
        free = self._stream_limit() - len(self._calls)
        while self._slot_waiters and (free > 0 or not self.usable):
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    async def _open_slot(self) -> None:
        while len(self._calls) >= self._stream_limit() or self._slot_waiters and self.usable:
            if not self.usable:
                break
            waiter = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                self._wake_slot_waiters()  # pass our turn on
                raise
            if len(self._calls) < self._stream_limit():
                break
        if not self.usable:
            raise _NotProcessed()

    async def unary(self, path: str, message: bytes, timeout: float | None) -> bytes:
        """One call: send the framed message, wait for the whole answer, return its message."""
        if len(message) > self.max_message:
            raise GrpcError(Code.ResourceExhausted, "grpc: trying to send message larger than max "
                                                    f"({len(message)} vs. {self.max_message})")
        await self._open_slot()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", self.authority),
                   ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", USER_AGENT)]
        if timeout is not None:
            headers.append(("grpc-timeout", grpc_timeout(timeout)))
        try:
            stream_id = self._h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:  # after 2^30 calls: the next connection takes over
            self.draining = True
            if not self._calls:
                self.close()
            raise _NotProcessed() from None
        call = self._calls[stream_id] = _Call(stream_id, self._loop)
        try:
            self._h2.send_headers(stream_id, headers)
            sent_all = await self._send_body(call, frame_message(message))
            await call.done
            if not sent_all:  # answered before it read the whole request: close our half too
                self._cancel(call, None)
            error = status_error(call.headers)
            if error is not None:
                raise error
            return unframe_message(call.data)
        except BaseException:
            if not call.done.done() or call.done.cancelled():
                # Cancelled or timed out (which cancels the future awaited too): the server may stop.
                self._cancel(call, None)
            raise
        finally:
            del self._calls[stream_id]
            if self.draining and not self._calls:
                self.close()  # the server asked us to go; the last call on it is done
            self._wake_slot_waiters()

    async def _send_body(self, call: _Call, body: bytes) -> bool:
        """Send as the peer's windows allow; False if the call ended (answered, reset) first."""
        view, sent = memoryview(body), 0
        while sent < len(body) and not call.done.done():
            try:
                room = min(self._h2.local_flow_control_window(call.id), self._h2.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                return False
            if room <= 0:
                call.window.clear()
                self._blocked.add(call)
                try:
                    await call.window.wait()
                finally:
                    self._blocked.discard(call)
                continue
            chunk = view[sent:sent + room]
            sent += len(chunk)
            self._h2.send_data(call.id, chunk.tobytes(), end_stream=sent == len(body))
            self._flush()
            if not self._writable.is_set():
                await self._writable.wait()
        return sent == len(body)

    def close(self) -> None:
        """GOAWAY and close; calls still in flight fail as Unavailable."""
        if not self.closed:
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.close_connection()
            self._flush()
            self._abort(_unavailable("grpc: the client connection is closing"))


def parse_target(target: str) -> tuple[str, str | tuple[str, int]]:
    """"unix:///run/c.sock" or "unix:/run/c.sock" -> ("unix", path); "host:port" -> ("tcp", (host, port))."""
    if target.startswith("unix://"):
        return "unix", target[len("unix://"):]
    if target.startswith("unix:"):
        return "unix", target[len("unix:"):]
    host, sep, port = target.removeprefix("dns:///").rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f'grpc target "{target}": want unix:PATH or HOST:PORT')
    return "tcp", (host.strip("[]"), int(port))


class Channel:
    """Unary gRPC calls to `target`, over one connection made on first use and remade when lost."""

    def __init__(self, target: str, *, max_message: int = DEFAULT_MAX_MESSAGE, authority: str = "localhost"):
        self.target = target
        self.kind, self.address = parse_target(target)
        self.max_message = max_message
        self.authority = authority
        self._connection: Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False

    async def call(self, path: str, message: bytes, timeout: float | None = None) -> bytes:
        """The response message of `path` ("/runtime.v1.RuntimeService/Version") for `message`;
        raises GrpcError. `timeout` (seconds, None: none) bounds the whole call, connecting included."""
        try:
            async with asyncio.timeout(timeout):
                return await self._call(path, message, timeout)
        except TimeoutError:
            raise GrpcError(Code.DeadlineExceeded, "context deadline exceeded") from None

    async def _call(self, path: str, message: bytes, timeout: float | None) -> bytes:
        for attempt in range(NOT_PROCESSED_ATTEMPTS):
            try:
                return await (await self._connect()).unary(path, message, timeout)
            except _NotProcessed:
                # The server never saw it: again, on a new connection if this one is draining. Some
                # servers (grpc-core) free a stream slot a moment after its last frame; give them that.
                await asyncio.sleep(0.001 * attempt)
        raise _unavailable("the server did not take the call (refused stream or GOAWAY)")

    async def _connect(self) -> Connection:
        if self._closed:
            raise GrpcError(Code.Canceled, "grpc: the client connection is closing")
        if self._connection is not None and self._connection.usable:
            return self._connection
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._connection is None or not self._connection.usable:
                self._connection = await self._dial()
            return self._connection

    async def _dial(self) -> Connection:
        loop = asyncio.get_running_loop()

        def protocol() -> Connection:
            return Connection(self.authority, self.max_message)

        try:
            if self.kind == "unix":
                _, connection = await loop.create_unix_connection(protocol, str(self.address))
            else:
                host, port = self.address
                _, connection = await loop.create_connection(protocol, host, port)
        except OSError as e:
            raise _unavailable(f'connection error: desc = "transport: Error while dialing: dial {self.kind} '
                               f'{self.address}: {e.strerror or e}"') from None
        try:
            # As grpc-go does, a connection takes calls once the server's preface has come.
            await asyncio.shield(connection.ready)
        except GrpcError:
            raise _unavailable("connection closed before server preface received") from None
        except BaseException:
            connection.close()
            raise
        return connection

    async def close(self) -> None:
        self._closed = True
        if self._connection is not None:
            self._connection.close()
            self._connection = None
