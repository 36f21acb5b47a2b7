"""A small HTTP/1.1 client for API calls: a pool of keep-alive connections on the event loop's
own (TLS) transports, one request at a time per connection.

aiohttp's request machinery (URL objects, header multidicts, tracing hooks, timers, response
objects) costs about 110 us of CPU per call on this kind of machine; the scheduler makes two
calls per pod (binding, Scheduled event). Writing the request as one buffer and framing the
answer with a few bytes operations costs about 25 us. Streams (watches) stay on aiohttp.

Every failure to get an answer (refused, reset, closed early, timed out, bad framing) is an
`HttpError`; callers turn it into a 503 as they do aiohttp's errors.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

# Idle connections older than this are closed rather than reused: well below the keep-alive
# timeouts servers use (aiohttp's 75 s, Go's 90 s), so a reused connection is rarely one the
# server is closing at that very moment (aiohttp's client uses 15 s too).
IDLE_TIMEOUT = 15.0
# A server that closes a reused connection without answering may have dropped it as idle:
# requests that are safe to send twice are retried once on a new connection (as Go's transport).
REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS"})
_PATH_SAFE = "/:@!$&'()*+,;=~%"


class HttpError(Exception):
    """No (complete) answer: the connection failed, was lost, or timed out. `sent` False: the
    request never left (safe to send again whatever its method)."""

    def __init__(self, message: str, sent: bool = True):
        super().__init__(message)
        self.sent = sent


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes


class _Connection(asyncio.Protocol):
    """One connection; `exchange()` writes a request and waits for the complete answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float | None):
        self.loop = loop
        self.read_timeout = read_timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0
        self.used = 0  # requests answered on it
        self._buf = bytearray()
        self._waiter: asyncio.Future | None = None
        self._head: tuple[int, dict[str, str]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._got_bytes = False
        self._head_only = False

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.reusable = False  # unasked-for bytes (a server's 408 before closing): never reuse
            return
        self._buf += data
        self._got_bytes = True
        self._last_read = self.loop.time()
        self._parse()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost finishes a body read until close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            if self._head is not None and self._body_until_close():
                self._finish(bytes(self._buf))
            else:
                self._fail(HttpError(f"connection closed before the answer was complete"
                                     f"{': ' + str(exc) if exc else ''}"))

    # ---- a request ----

    async def exchange(self, request: bytes, head_only: bool = False) -> Response:
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            raise HttpError("connection closed", sent=False)
        self._waiter = self.loop.create_future()
        self._head, self._got_bytes, self._head_only = None, False, head_only
        self._last_read = self.loop.time()
        if self.read_timeout:
            self._timer = self.loop.call_at(self._last_read + self.read_timeout, self._check_timeout)
        try:
            self.transport.write(request)
            return await self._waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    @property
    def answered_nothing(self) -> bool:
        return not self._got_bytes

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.close()

    # ---- internals ----

    def _check_timeout(self) -> None:
        # A read timeout: the time since the last bytes arrived, as aiohttp's sock_read.
        assert self.read_timeout
        left = self._last_read + self.read_timeout - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_at(self.loop.time() + left, self._check_timeout)
            return
        self._timer = None
        self._fail(HttpError(f"no answer within {self.read_timeout:g} s"))
        self.close()

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _finish(self, body: bytes) -> None:
        assert self._head is not None and self._waiter is not None
        status, headers = self._head
        self.used += 1
        if not self._waiter.done():
            self._waiter.set_result(Response(status, headers, body))

    def _parse(self) -> None:
        try:
            while self._head is None:
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self._buf[:end]).decode("latin-1")
                del self._buf[:end + 4]
                self._head = _parse_head(head)
                if 100 <= self._head[0] < 200:
                    self._head = None  # an interim answer (100 Continue): the real one follows
                elif not _keep_alive(head, self._head[1]):
                    self.reusable = False
            status, headers = self._head
            if self._head_only or status in (204, 304):
                self._finish(b"")
            elif headers.get("transfer-encoding", "").lower().endswith("chunked"):
                body = _dechunk(self._buf)
                if body is not None:
                    self._finish(body)
            elif "content-length" in headers:
                length = int(headers["content-length"])
                if len(self._buf) >= length:
                    body = bytes(self._buf[:length])
                    del self._buf[:length]
                    self._finish(body)
            else:
                self.reusable = False  # a body until the connection closes: connection_lost ends it
        except ValueError as e:
            self._fail(HttpError(f"malformed HTTP answer: {e}"))
            self.close()

    def _body_until_close(self) -> bool:
        assert self._head is not None
        headers = self._head[1]
        return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()


def _parse_head(head: str) -> tuple[int, dict[str, str]]:
    lines = head.split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/"):
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _keep_alive(head: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if head.startswith("HTTP/1.0"):
        return "keep-alive" in connection
    return "close" not in connection


def _dechunk(buf: bytearray) -> bytes | None:
    """The body of a complete chunked message at the start of buf (removed from it), or None
    while incomplete. Trailers are skipped."""
    out = bytearray()
    pos = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip() or b"x", 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n", pos)
            while end > pos:  # trailer lines, up to the empty line
                pos = end + 2
                end = buf.find(b"\r\n", pos)
            if end < 0:
                return None
            del buf[:end + 2]
            return bytes(out)
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos:pos + size]
        pos += size + 2


class Pool:
    """Keep-alive connections to one server, at most `limit` busy at once (more requests wait)."""

    def __init__(self, server: str, *, ssl_context: ssl.SSLContext | None, server_hostname: str | None = None,
                 limit: int = 64, connect_timeout: float = 10.0, read_timeout: float | None = 60.0,
                 idle_timeout: float = IDLE_TIMEOUT):
        url = urlsplit(server)
        self.host = url.hostname or "localhost"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.host_header = url.netloc
        self.ssl_context = ssl_context if url.scheme == "https" else None
        self.server_hostname = server_hostname if self.ssl_context is not None else None
        self.connect_timeout, self.read_timeout, self.idle_timeout = connect_timeout, read_timeout, idle_timeout
        self.loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()
        self._closed = False

    def target(self, path: str, query: str = "") -> str:
        target = quote(self.prefix + path, safe=_PATH_SAFE)
        return f"{target}?{query}" if query else target

    async def request(self, method: str, target: str, headers: str, body: bytes | None = None) -> Response:
        """Send `method target` with `headers` (complete "Name: value\\r\\n" lines, without Host
        and Content-Length) and body; the complete answer."""
        data = body or b""
        length = f"Content-Length: {len(data)}\r\n" if body is not None or method in ("POST", "PUT", "PATCH") else ""
        request = f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n{headers}{length}\r\n".encode("latin-1")
        request += data
        await self._slots.acquire()
        try:
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            try:
                try:
                    response = await conn.exchange(request, head_only=method == "HEAD")
                except HttpError as e:
                    self._drop(conn)
                    if not (reused and (not e.sent or conn.answered_nothing and method in REPLAYABLE)):
                        raise
                    conn = await self._connect()  # the server had dropped the idle connection
                    response = await conn.exchange(request, head_only=method == "HEAD")
            except BaseException:
                self._drop(conn)  # failed or cancelled mid-answer: the connection's state is unknown
                raise
            self._put_back(conn)
            return response
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()

    # ---- internals ----

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: warm and least likely expired
            if conn.reusable and not conn.closed and now - conn.idle_since < self.idle_timeout:
                return conn
            self._drop(conn)
        return None

    def _put_back(self, conn: _Connection) -> None:
        if conn.reusable and not conn.closed and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._all.discard(conn)

    async def _connect(self) -> _Connection:
        if self._closed:
            raise HttpError("client closed")
        kw = {"ssl": self.ssl_context, "server_hostname": self.server_hostname} if self.ssl_context else {}
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self.loop.create_connection(
                    lambda: _Connection(self.loop, self.read_timeout), self.host, self.port, **kw)
        except (OSError, TimeoutError, ssl.SSLError) as e:
            raise HttpError(f"dial tcp {self.host}:{self.port}: {e or type(e).__name__}") from e
        self._all.add(conn)
        return conn
