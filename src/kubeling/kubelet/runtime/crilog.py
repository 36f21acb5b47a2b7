"""Reading CRI container log files, as the kubelet does for `kubectl logs`.

containerd writes each chunk of a container's stdout/stderr as one line:

    2016-10-06T00:17:09.669794202Z stdout F the content
    <RFC3339Nano time> <stdout|stderr> <tags> <content>

The first tag is F (a full line: the newline was stripped) or P (a partial line: the process
wrote more than the runtime's buffer, or no newline yet; it continues on the next P/F line of the
same stream). `read_log` joins partial lines and yields whole lines, each ending in a newline,
like the kubelet's log reader. Malformed lines are skipped, as the kubelet does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

STDOUT, STDERR = "stdout", "stderr"
FULL, PARTIAL = "F", "P"
_READ_CHUNK = 1 << 16
_TIME = re.compile(rb"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


@dataclass
class LogRecord:
    """One line of a CRI log file."""

    timestamp: bytes  # as written (RFC3339Nano): reused verbatim for `timestamps`
    time: float  # seconds since the epoch
    stream: str
    partial: bool
    content: bytes  # without the newline


@dataclass
class LogLine:
    """A whole line of container output: partial records joined."""

    timestamp: bytes  # of its first record, as the kubelet prints it
    time: float
    stream: str
    content: bytes  # ends in b"\n"

    def render(self, timestamps: bool) -> bytes:
        return self.timestamp + b" " + self.content if timestamps else self.content


def parse_time(text: bytes) -> float:
    """Seconds since the epoch of an RFC 3339 time with up to nanosecond precision."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"invalid timestamp {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or b"", m.group(8)
    tz = dt.UTC
    if zone != b"Z":
        sign = -1 if zone[:1] == b"-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    whole = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp()
    return whole + (int(frac) / 10 ** len(frac) if frac else 0.0)


def parse_record(line: bytes) -> LogRecord:
    """One CRI log line (without its newline); ValueError if it is not one."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        raise ValueError(f"invalid CRI log line {line[:80]!r}")
    timestamp, stream, tags = parts[0], parts[1].decode("ascii", "replace"), parts[2]
    if stream not in (STDOUT, STDERR):
        raise ValueError(f"unexpected stream type {stream!r}")
    tag = tags.split(b":", 1)[0]
    if tag not in (b"F", b"P"):
        raise ValueError(f"unexpected log tag {tag!r}")
    return LogRecord(timestamp=timestamp, time=parse_time(timestamp), stream=stream,
                     partial=tag == b"P", content=parts[3] if len(parts) == 4 else b"")


class LogFileReader:
    """Reads a CRI log file incrementally: each `read()` returns the whole lines written since
    the last one. Survives rotation: when the path names a new file, the old one is drained
    first, then the new one is read from its start."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = open(self.path, "rb")  # kept open across reads
        self._buffer = b""
        self._pending: dict[str, LogLine] = {}  # stream -> partial line so far

    def close(self) -> None:
        self._file.close()

    def read(self) -> list[LogLine]:
        out = self._drain()
        if self._rotated():
            self._file.close()
            self._file = open(self.path, "rb")
            self._buffer = b""
            out += self._drain()
        return out

    def _rotated(self) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # renamed away, the new file not created yet: keep the old one
        mine = os.fstat(self._file.fileno())
        return (st.st_ino, st.st_dev) != (mine.st_ino, mine.st_dev) or st.st_size < self._file.tell()

    def _drain(self) -> list[LogLine]:
        out: list[LogLine] = []
        while chunk := self._file.read(_READ_CHUNK):
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\n")
            for raw in complete:
                line = self._feed(raw)
                if line is not None:
                    out.append(line)
        return out

    def _feed(self, raw: bytes) -> LogLine | None:
        try:
            rec = parse_record(raw)
        except ValueError:
            return None
        line = self._pending.pop(rec.stream, None)
        if line is None:
            line = LogLine(timestamp=rec.timestamp, time=rec.time, stream=rec.stream, content=b"")
        line.content += rec.content
        if rec.partial:
            self._pending[rec.stream] = line
            return None
        line.content += b"\n"
        return line


async def read_log(path: str | Path, *, follow: bool = False, tail_lines: int | None = None,
                   since: float | None = None, timestamps: bool = False,
                   is_running: Callable[[], Awaitable[bool]] | None = None,
                   poll_interval: float = 0.1, status_interval: float = 1.0) -> AsyncIterator[bytes]:
    """The container's log as the kubelet serves it: the last `tail_lines` lines (all if None or
    negative), without those older than `since` (epoch seconds), each prefixed with its
    timestamp if asked. With `follow`, keeps polling the file for new lines until `is_running()`
    says the container has stopped (checked every `status_interval` seconds while idle; without
    it, follows until cancelled)."""
    reader = await asyncio.to_thread(LogFileReader, path)
    try:
        lines = await asyncio.to_thread(reader.read)
        if tail_lines is not None and tail_lines >= 0:
            lines = list(deque(lines, maxlen=tail_lines)) if tail_lines else []
        for line in lines:
            if since is None or line.time >= since:
                yield line.render(timestamps)
        if not follow:
            return
        idle = status_interval  # ask at once the first time the file has nothing new
        while True:
            lines = await asyncio.to_thread(reader.read)
            for line in lines:
                if since is None or line.time >= since:
                    yield line.render(timestamps)
            if lines:
                idle = 0.0
                continue
            if is_running is not None and idle >= status_interval:
                idle = 0.0
                if not await is_running():
                    for line in await asyncio.to_thread(reader.read):  # written before it exited
                        if since is None or line.time >= since:
                            yield line.render(timestamps)
                    return
            await asyncio.sleep(poll_interval)
            idle += poll_interval
    finally:
        reader.close()
