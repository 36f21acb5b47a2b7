"""A minimal SPDY/3.1 client: what the kubelet needs to reach a container runtime's stream server
the way Kubernetes does (client-go's httpstream/spdy over moby/spdystream). Over WebSocket,
containerd 1.6's stream server speaks only v4.channel.k8s.io, which cannot close stdin; over
SPDY every channel is a stream of its own, and half-closing the stdin stream (a data frame with
FLAG_FIN) is the end of file the command reads.

Wire format (SPDY/3, draft 3.1), all integers big-endian:
- control frame: 1 | version (15 bits, 3) | type (16 bits) | flags (8) | length (24) | payload
- data frame:    0 | stream id (31 bits)                   | flags (8) | length (24) | data
Name/value header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are a count and length-prefixed
lowercase names and values (several values joined by NUL), compressed by one zlib stream per
direction for the whole connection, seeded with SPDY/3's dictionary and sync-flushed after
every block. A client's streams have odd ids.

Flow control: the peers here (spdystream, under every Kubernetes stream server) neither send nor
heed WINDOW_UPDATE, so this client never waits for send window, and returns receive window only
when asked (`flow_control=True`): a frame sent to a server that is closing the connection can
make its kernel reset it, and the end of the output still in flight would be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_lib
import struct
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

VERSION = 3
UPGRADE = "SPDY/3.1"
PROTOCOL_HEADER = "X-Stream-Protocol-Version"

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02  # SYN_STREAM
FLAG_SETTINGS_CLEAR = 0x01

# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL, INTERNAL_ERROR = 1, 2, 3, 4, 5, 6
FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 7, 8, 9
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 64 << 10  # SPDY/3.1's initial window, per stream and per session
MAX_LENGTH = (1 << 24) - 1  # a frame's 24-bit length field
CHUNK = 32 << 10  # the most data this client puts in one frame
INBOX_LIMIT = 1 << 20  # unread bytes of one stream before the reader stops reading the connection
HEADER_LEN = 8


# SPDY/3's header compression dictionary (draft 3, section 2.6.10.1): length-prefixed words,
# then a run of common values; 1423 bytes. Both ends must use it byte for byte.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,"
    "deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()


class SpdyError(Exception):
    """The peer broke the protocol, or the connection ended where it must not."""


class UpgradeError(SpdyError):
    """The server answered the upgrade request with something other than 101."""

    def __init__(self, status: int, reason: str, body: str = ""):
        super().__init__(f"{status} {reason}" + (f": {body}" if body else ""))
        self.status, self.reason, self.body = status, reason, body


# ---- frames ------------------------------------------------------------------------------------------

Headers = dict[str, str]


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0


@dataclass(frozen=True)
class SynStreamFrame:
    stream_id: int
    headers: Headers
    flags: int = 0
    associated_to: int = 0
    priority: int = 0  # 0 (highest) .. 7
    slot: int = 0


@dataclass(frozen=True)
class SynReplyFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True)
class RstStreamFrame:
    stream_id: int
    status: int


@dataclass(frozen=True)
class SettingsFrame:
    entries: tuple[tuple[int, int, int], ...] = ()  # (flags, id, value)
    flags: int = 0


@dataclass(frozen=True)
class PingFrame:
    id: int


@dataclass(frozen=True)
class GoAwayFrame:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdateFrame:
    stream_id: int
    delta: int


Frame = (DataFrame | SynStreamFrame | SynReplyFrame | RstStreamFrame | SettingsFrame | PingFrame | GoAwayFrame
         | HeadersFrame | WindowUpdateFrame)


# ---- header blocks -------------------------------------------------------------------------------------


def encode_header_block(headers: Mapping[str, str | Iterable[str]]) -> bytes:
    """The uncompressed name/value block; names lowercased, several values joined by NUL."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        raw_value = value.encode() if isinstance(value, str) else b"\0".join(v.encode() for v in value)
        raw_name = name.lower().encode()
        out += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    """Names (lowercase) to values (several joined by NUL, as sent)."""
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        headers: Headers = {}
        for _ in range(count):
            name, pos = _length_prefixed(block, pos)
            value, pos = _length_prefixed(block, pos)
            headers[name.decode().lower()] = value.decode()
    except (struct.error, UnicodeDecodeError) as e:
        raise SpdyError(f"malformed header block: {e}") from None
    if pos != len(block):
        raise SpdyError("malformed header block: trailing bytes")
    return headers


def _length_prefixed(block: bytes, pos: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from(">I", block, pos)
    end = pos + 4 + length
    if end > len(block):
        raise SpdyError("malformed header block: a length runs past its end")
    return block[pos + 4:end], end


class HeaderCompressor:
    """One direction's zlib stream: every block is sync-flushed so the peer can decode it alone."""

    def __init__(self):
        self._zlib = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)

    def compress(self, headers: Mapping[str, str]) -> bytes:
        return self._zlib.compress(encode_header_block(headers)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    def __init__(self):
        self._zlib = zlib.decompressobj(zdict=DICTIONARY)

    def decompress(self, data: bytes) -> Headers:
        try:
            return decode_header_block(self._zlib.decompress(data))
        except zlib.error as e:
            raise SpdyError(f"header block does not decompress: {e}") from None


# ---- framing ---------------------------------------------------------------------------------------------


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_LENGTH:
        raise ValueError("control frame too large")
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


class Framer:
    """Frames to bytes and back for one end of a connection (it owns that end's two zlib streams)."""

    def __init__(self):
        self._compressor = HeaderCompressor()
        self._decompressor = HeaderDecompressor()

    def encode(self, frame: Frame) -> bytes:
        match frame:
            case DataFrame(stream_id, data, flags):
                if len(data) > MAX_LENGTH:
                    raise ValueError("data frame too large")
                return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data
            case SynStreamFrame(stream_id, headers, flags, associated_to, priority, slot):
                fixed = struct.pack(">IIBB", stream_id & 0x7FFFFFFF, associated_to & 0x7FFFFFFF,
                                    (priority & 7) << 5, slot)
                return _control(SYN_STREAM, flags, fixed + self._compressor.compress(headers))
            case SynReplyFrame(stream_id, headers, flags):
                return _control(SYN_REPLY, flags, struct.pack(">I", stream_id) + self._compressor.compress(headers))
            case HeadersFrame(stream_id, headers, flags):
                return _control(HEADERS, flags, struct.pack(">I", stream_id) + self._compressor.compress(headers))
            case RstStreamFrame(stream_id, status):
                return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))
            case SettingsFrame(entries, flags):
                body = b"".join(struct.pack(">II", (f << 24) | (i & 0xFFFFFF), v) for f, i, v in entries)
                return _control(SETTINGS, flags, struct.pack(">I", len(entries)) + body)
            case PingFrame(ping_id):
                return _control(PING, 0, struct.pack(">I", ping_id))
            case GoAwayFrame(last_good, status):
                return _control(GOAWAY, 0, struct.pack(">II", last_good & 0x7FFFFFFF, status))
            case WindowUpdateFrame(stream_id, delta):
                return _control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF))
        raise TypeError(f"not a SPDY frame: {frame!r}")

    def decode(self, header: bytes, payload: bytes) -> Frame | None:
        """The frame of an 8-byte header and its payload; None for a control frame type SPDY/3
        does not define (which a receiver ignores)."""
        first, second = struct.unpack(">II", header)
        flags, length = second >> 24, second & 0xFFFFFF
        if len(payload) != length:
            raise SpdyError(f"frame payload is {len(payload)} bytes, its header says {length}")
        if not first & 0x80000000:
            return DataFrame(first & 0x7FFFFFFF, payload, flags)
        version, frame_type = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        try:
            return self._control_frame(frame_type, flags, payload)
        except struct.error:
            raise SpdyError(f"control frame of type {frame_type} is too short") from None

    def _control_frame(self, frame_type: int, flags: int, payload: bytes) -> Frame | None:
        if frame_type == SYN_STREAM:
            stream_id, associated, priority, slot = struct.unpack_from(">IIBB", payload)
            return SynStreamFrame(stream_id & 0x7FFFFFFF, self._decompressor.decompress(payload[10:]), flags,
                                  associated & 0x7FFFFFFF, priority >> 5, slot)
        if frame_type in (SYN_REPLY, HEADERS):
            (stream_id,) = struct.unpack_from(">I", payload)
            kind = SynReplyFrame if frame_type == SYN_REPLY else HeadersFrame
            return kind(stream_id & 0x7FFFFFFF, self._decompressor.decompress(payload[4:]), flags)
        if frame_type == RST_STREAM:
            stream_id, status = struct.unpack(">II", payload)
            return RstStreamFrame(stream_id & 0x7FFFFFFF, status)
        if frame_type == SETTINGS:
            (count,) = struct.unpack_from(">I", payload)
            pairs = [struct.unpack_from(">II", payload, 4 + 8 * i) for i in range(count)]
            return SettingsFrame(tuple((word >> 24, word & 0xFFFFFF, value) for word, value in pairs), flags)
        if frame_type == PING:
            return PingFrame(struct.unpack(">I", payload)[0])
        if frame_type == GOAWAY:
            last_good, status = struct.unpack(">II", payload)
            return GoAwayFrame(last_good & 0x7FFFFFFF, status)
        if frame_type == WINDOW_UPDATE:
            stream_id, delta = struct.unpack(">II", payload)
            return WindowUpdateFrame(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return None

    async def read(self, reader: asyncio.StreamReader) -> Frame | None:
        """The next frame; None for an ignorable one. EOFError at the end of the connection."""
        try:
            header = await reader.readexactly(HEADER_LEN)
            length = struct.unpack(">I", header[4:])[0] & 0xFFFFFF
            payload = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise EOFError from None
        return self.decode(header, payload)


# ---- streams -------------------------------------------------------------------------------------------


class _Inbox:
    """Data received on one stream and not yet read; `put` waits while `limit` bytes are unread,
    which holds up the connection's reader (spdystream's peers behave the same way)."""

    def __init__(self, limit: int = INBOX_LIMIT):
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._ended = False
        self._changed = asyncio.Condition()

    async def put(self, data: bytes) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._size < self._limit or self._ended)
            if not self._ended:
                self._chunks.append(data)
                self._size += len(data)
                self._changed.notify_all()

    async def end(self, discard: bool = False) -> None:
        async with self._changed:
            self._ended = True
            if discard:
                self._chunks.clear()
                self._size = 0
            self._changed.notify_all()

    async def get(self) -> bytes:
        """The next chunk, or b"" once the stream ended and everything was read."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._chunks or self._ended)
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            self._size -= len(data)
            self._changed.notify_all()
            return data


class Stream:
    """One stream the client opened: read what the server sends, write, half-close, reset."""

    def __init__(self, conn: Connection, stream_id: int, headers: Headers):
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self.reply_headers: Headers | None = None
        self.reset_status: int | None = None  # set when the server reset the stream
        self._replied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inbox = _Inbox()
        self._local_closed = False

    async def read(self) -> bytes:
        """The next data the server sent; b"" once it half-closed or reset the stream."""
        data = await self._inbox.get()
        if data:
            await self.conn._consumed(self.id, len(data))
        return data

    async def read_all(self) -> bytes:
        chunks = []
        while data := await self.read():
            chunks.append(data)
        return b"".join(chunks)

    async def write(self, data: bytes) -> None:
        if self._local_closed:
            raise SpdyError(f"write on closed stream {self.id}")
        for start in range(0, len(data), CHUNK):
            await self.conn.send(DataFrame(self.id, data[start:start + CHUNK]))

    async def close(self) -> None:
        """Half-close: an empty data frame with FLAG_FIN (the reader's end of file)."""
        if not self._local_closed:
            self._local_closed = True
            await self.conn.send(DataFrame(self.id, b"", FLAG_FIN))

    async def reset(self, status: int = CANCEL) -> None:
        self._local_closed = True
        await self._inbox.end(discard=True)
        await self.conn.send(RstStreamFrame(self.id, status))

    async def _wait_reply(self, timeout: float) -> None:
        await asyncio.wait_for(self._replied, timeout)


class Connection:
    """The client end of a SPDY/3.1 connection over an already upgraded byte stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: str = "", *,
                 flow_control: bool = False):
        self.protocol = protocol  # what the server chose of the offered X-Stream-Protocol-Version
        self.flow_control = flow_control  # return receive window as data is read
        self._reader = reader
        self._writer = writer
        self._framer = Framer()
        self._streams: dict[int, Stream] = {}
        self._next_stream_id = 1  # a client's streams are odd
        self._next_ping_id = 1  # so are its pings
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._unacked: dict[int, int] = {}  # consumed bytes not yet returned as window, per stream (0: session)
        self.peer_settings: dict[int, int] = {}
        self.goaway: GoAwayFrame | None = None
        self.error: Exception | None = None  # why the connection ended, if not a clean end of file
        self.closed = asyncio.Event()
        self._read_task = asyncio.create_task(self._read_loop())

    # ---- sending --------------------------------------------------------------------------------

    async def send(self, frame: Frame) -> None:
        """Write one frame. Encoding and writing happen without a pause, so header blocks reach
        the wire in the order their shared zlib stream produced them."""
        if self._writer.is_closing():
            raise ConnectionResetError("SPDY connection closed")
        self._writer.write(self._framer.encode(frame))
        await self._writer.drain()

    async def open_stream(self, headers: Mapping[str, str], *, timeout: float = 30.0) -> Stream:
        """SYN_STREAM, then wait for the server's SYN_REPLY (as client-go does before using a stream)."""
        if self.goaway is not None or self.closed.is_set():
            raise SpdyError("the server is not accepting new streams")
        stream = Stream(self, self._next_stream_id, dict(headers))
        self._next_stream_id += 2
        self._streams[stream.id] = stream
        await self.send(SynStreamFrame(stream.id, stream.headers))
        try:
            await stream._wait_reply(timeout)
        except TimeoutError:
            raise SpdyError(f"timed out waiting for the reply to stream {stream.id}") from None
        return stream

    async def ping(self, timeout: float = 10.0) -> float:
        """Round trip time in seconds."""
        ping_id = self._next_ping_id
        self._next_ping_id += 2
        answered = self._pings[ping_id] = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        try:
            await self.send(PingFrame(ping_id))
            await asyncio.wait_for(answered, timeout)
        finally:
            self._pings.pop(ping_id, None)
        return time.monotonic() - started

    async def _consumed(self, stream_id: int, size: int) -> None:
        """Return receive window once half of it has been read (per stream and for the session)."""
        if not self.flow_control:
            return
        for key in (stream_id, 0):
            self._unacked[key] = self._unacked.get(key, 0) + size
            if self._unacked[key] >= DEFAULT_WINDOW // 2:
                delta, self._unacked[key] = self._unacked[key], 0
                with contextlib.suppress(ConnectionError):
                    await self.send(WindowUpdateFrame(key, delta))

    async def close(self) -> None:
        """GOAWAY (best effort), then close the transport and stop reading."""
        if not self._writer.is_closing():
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send(GoAwayFrame(0))
            self._writer.close()
        self._read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, SpdyError):
            await self._read_task
        with contextlib.suppress(ConnectionError, ssl_lib.SSLError):
            await self._writer.wait_closed()

    # ---- receiving --------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await self._framer.read(self._reader)
                if frame is not None:
                    await self._dispatch(frame)
        except EOFError:
            pass
        except (SpdyError, ConnectionError, OSError) as e:
            self.error = e
        finally:
            await self._end_all()

    async def _end_all(self) -> None:
        self.closed.set()
        for stream in self._streams.values():
            if not stream._replied.done():
                stream._replied.set_exception(SpdyError("connection closed before the stream was replied to"))
                stream._replied.exception()  # retrieved here, so an abandoned one does not warn
            await stream._inbox.end()
        for answered in self._pings.values():
            if not answered.done():
                answered.set_exception(SpdyError("connection closed"))

    async def _dispatch(self, frame: Frame) -> None:
        match frame:
            case DataFrame(stream_id, data, flags):
                stream = self._streams.get(stream_id)
                if stream is None:
                    return  # a stream already gone: nothing to deliver to
                if data:
                    await stream._inbox.put(data)
                if flags & FLAG_FIN:
                    await stream._inbox.end()
            case SynReplyFrame(stream_id, headers, flags):
                stream = self._streams.get(stream_id)
                if stream is not None and not stream._replied.done():
                    stream.reply_headers = headers
                    stream._replied.set_result(None)
                    if flags & FLAG_FIN:
                        await stream._inbox.end()
            case RstStreamFrame(stream_id, status):
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.reset_status = status
                    if not stream._replied.done():
                        stream._replied.set_exception(SpdyError(f"stream {stream_id} reset (status {status})"))
                    await stream._inbox.end()
            case PingFrame(ping_id):
                if ping_id % 2 == 0:
                    await self.send(frame)  # the server's ping: echo it
                elif (answered := self._pings.get(ping_id)) is not None and not answered.done():
                    answered.set_result(None)
            case SettingsFrame(entries):
                self.peer_settings.update({setting_id: value for _, setting_id, value in entries})
            case GoAwayFrame():
                self.goaway = frame
            case SynStreamFrame(stream_id):
                await self.send(RstStreamFrame(stream_id, REFUSED_STREAM))  # a client takes no pushed streams
            case HeadersFrame(stream_id, _, flags) if flags & FLAG_FIN:
                if (stream := self._streams.get(stream_id)) is not None:
                    await stream._inbox.end()
            case _:
                pass  # WINDOW_UPDATE: this client does not limit what it sends; HEADERS: no use here


# ---- connecting ------------------------------------------------------------------------------------------


def _upgrade_request(method: str, url: str, protocols: Iterable[str]) -> tuple[str, int, bool, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: Upgrade", f"Upgrade: {UPGRADE}"]
    lines += [f"{PROTOCOL_HEADER}: {p}" for p in protocols]
    lines += ["Content-Length: 0", "", ""]
    return parts.hostname, port, tls, "\r\n".join(lines).encode()


async def _read_response_head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, list[str]]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise SpdyError("connection closed before the upgrade response") from None
    except asyncio.LimitOverrunError:
        raise SpdyError("upgrade response headers too large") from None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or not code.isdigit():
        raise SpdyError(f"malformed upgrade response: {status_line!r}")
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(code), reason, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, list[str]]) -> str:
    """A refusal's body, for the error message (bounded; chunked bodies are left unread)."""
    length = headers.get("content-length", ["0"])[0]
    if not length.isdigit():
        return ""
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        data = await asyncio.wait_for(reader.readexactly(min(int(length), 4096)), 5)
        return data.decode(errors="replace").strip()
    return ""


async def connect(url: str, protocols: Iterable[str], *, method: str = "POST", timeout: float = 10.0,
                  ssl: ssl_lib.SSLContext | None = None, flow_control: bool = False) -> Connection:
    """Upgrade an HTTP/1.1 request to `url` to SPDY/3.1, offering `protocols` in
    X-Stream-Protocol-Version, as client-go's SPDY round tripper does. Raises OSError when the
    server cannot be reached, UpgradeError when it answers other than 101, SpdyError when it
    picks a protocol that was not offered."""
    offered = list(protocols)
    host, port, tls, request = _upgrade_request(method, url, offered)
    if tls and ssl is None:
        ssl = ssl_lib.create_default_context()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ssl if tls else None), timeout)
    try:
        writer.write(request)
        await writer.drain()
        status, reason, headers = await asyncio.wait_for(_read_response_head(reader), timeout)
        if status != 101:
            raise UpgradeError(status, reason, await _read_body(reader, headers))
        if headers.get("upgrade", [""])[0].lower() != UPGRADE.lower():
            raise SpdyError(f"server upgraded to {headers.get('upgrade', [''])[0]!r}, not {UPGRADE}")
        chosen = headers.get(PROTOCOL_HEADER.lower(), [""])[0]
        if offered and chosen not in offered:
            raise SpdyError(f"server chose protocol {chosen!r}, offered {offered}")
    except BaseException:
        writer.close()
        raise
    return Connection(reader, writer, chosen, flow_control=flow_control)
