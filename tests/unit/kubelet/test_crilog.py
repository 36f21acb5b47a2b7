"""Reading CRI log files (kubelet/runtime/crilog.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from kubeling.kubelet.runtime import crilog

T0 = "2024-05-01T10:00:00.000000001Z"


def stamp(second: int, nanos: int = 0) -> str:
    return f"2024-05-01T10:00:{second:02d}.{nanos:09d}Z"


def write(path: Path, *records: str) -> None:
    with open(path, "ab") as f:
        f.write("".join(r + "\n" for r in records).encode())


async def collect(path: Path, **kw) -> list[bytes]:
    return [line async for line in crilog.read_log(path, **kw)]


# ---------------------------------------------------------------- parsing


def test_parse_time():
    base = dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=dt.UTC).timestamp()
    assert crilog.parse_time(b"2024-05-01T10:00:00Z") == base
    assert crilog.parse_time(b"2024-05-01T10:00:00.5Z") == base + 0.5
    assert crilog.parse_time(b"2024-05-01T10:00:00.123456789Z") == pytest.approx(base + 0.123456789, abs=1e-9)
    assert crilog.parse_time(b"2024-05-01T12:00:00.25+02:00") == base + 0.25
    assert crilog.parse_time(b"2024-05-01T09:30:00-00:30") == base
    for bad in (b"", b"yesterday", b"2024-05-01 10:00:00Z", b"2024-05-01T10:00:00"):
        with pytest.raises(ValueError):
            crilog.parse_time(bad)


def test_parse_record():
    rec = crilog.parse_record(f"{T0} stdout F hello world".encode())
    assert (rec.stream, rec.partial, rec.content, rec.timestamp) == ("stdout", False, b"hello world", T0.encode())
    rec = crilog.parse_record(f"{T0} stderr P  two  spaces ".encode())
    assert (rec.stream, rec.partial, rec.content) == ("stderr", True, b" two  spaces ")
    assert crilog.parse_record(f"{T0} stdout F".encode()).content == b""  # an empty line
    assert crilog.parse_record(f"{T0} stdout F:x tagged".encode()).content == b"tagged"
    for bad in ("garbage", f"{T0} stdin F x", f"{T0} stdout X x", "notatime stdout F x", f"{T0} stdout"):
        with pytest.raises(ValueError):
            crilog.parse_record(bad.encode())


# ---------------------------------------------------------------- reading


async def test_whole_file_partials_joined_per_stream(tmp_path: Path):
    log = tmp_path / "0.log"
    write(log, f"{stamp(1)} stdout P hel", f"{stamp(1)} stderr F oops",
          f"{stamp(2)} stdout P lo ", f"{stamp(3)} stdout F world", "not a cri line",
          f"{stamp(4)} stdout F ")  # an empty line: the space only separates
    assert await collect(log) == [b"oops\n", b"hello world\n", b"\n"]
    stamped = await collect(log, timestamps=True)
    # a joined line carries its first piece's time, as the kubelet prints it
    assert stamped == [f"{stamp(1)} oops\n".encode(), f"{stamp(1)} hello world\n".encode(),
                       f"{stamp(4)} \n".encode()]


async def test_incomplete_last_line_waits(tmp_path: Path):
    log = tmp_path / "0.log"
    write(log, f"{stamp(1)} stdout F one")
    with open(log, "ab") as f:
        f.write(f"{stamp(2)} stdout F tw".encode())
    assert await collect(log) == [b"one\n"]


async def test_tail_and_since(tmp_path: Path):
    log = tmp_path / "0.log"
    write(log, *(f"{stamp(i)} stdout F line{i}" for i in range(1, 6)))
    assert await collect(log, tail_lines=2) == [b"line4\n", b"line5\n"]
    assert await collect(log, tail_lines=0) == []
    assert len(await collect(log, tail_lines=-1)) == 5
    assert len(await collect(log, tail_lines=100)) == 5
    since = crilog.parse_time(stamp(3).encode())
    assert await collect(log, since=since) == [b"line3\n", b"line4\n", b"line5\n"]
    # tail first, then since (as the kubelet applies them)
    assert await collect(log, tail_lines=4, since=since + 1) == [b"line4\n", b"line5\n"]


async def test_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        await collect(tmp_path / "nope.log")


async def test_follow_until_the_container_stops(tmp_path: Path):
    log = tmp_path / "0.log"
    write(log, f"{stamp(1)} stdout F first")
    running = True

    async def is_running() -> bool:
        return running

    got: list[bytes] = []

    async def follow() -> None:
        async for line in crilog.read_log(log, follow=True, is_running=is_running, poll_interval=0.01,
                                          status_interval=0.05):
            got.append(line)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    assert got == [b"first\n"] and not task.done()
    write(log, f"{stamp(2)} stdout P sec", f"{stamp(2)} stdout F ond")
    await asyncio.sleep(0.1)
    assert got == [b"first\n", b"second\n"] and not task.done()
    running = False
    write(log, f"{stamp(3)} stdout F last words")  # written before the exit was noticed: still read
    await asyncio.wait_for(task, 2)
    assert got[-1] == b"last words\n"


async def test_follow_across_rotation(tmp_path: Path):
    log = tmp_path / "0.log"
    write(log, f"{stamp(1)} stdout F before")
    got: list[bytes] = []

    async def follow() -> None:
        async for line in crilog.read_log(log, follow=True, poll_interval=0.01):
            got.append(line)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    write(log, f"{stamp(2)} stdout F tail of the old file")
    os.rename(log, tmp_path / "0.log.20240501-100002")  # what the kubelet's log rotation does
    write(log, f"{stamp(3)} stdout F in the new file")
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == [b"before\n", b"tail of the old file\n", b"in the new file\n"]


async def test_follow_after_truncation(tmp_path: Path):
    log = tmp_path / "0.log"
    write(log, f"{stamp(1)} stdout F a rather long first line")
    reader = crilog.LogFileReader(log)
    try:
        assert [x.content for x in reader.read()] == [b"a rather long first line\n"]
        log.write_bytes(f"{stamp(2)} stdout F new\n".encode())  # truncated and rewritten in place
        assert [x.content for x in reader.read()] == [b"new\n"]
    finally:
        reader.close()
