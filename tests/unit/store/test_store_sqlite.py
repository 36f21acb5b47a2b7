"""SQLite driver specifics: durability on acknowledge, bounded file size, uvloop."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import uvloop

import kubeling
from kubeling.store.sqlite import SqliteBackend, key_range, prefix_end

CRASH_WRITER = """
import asyncio, sys
from kubeling.store.sqlite import SqliteBackend

async def main(path):
    store = SqliteBackend(path, keep_revisions=50)
    await store.start()

    async def writer(w):
        for i in range(100000):
            key = f"/crash/{w}/{i}"
            rev = await store.create(key, b"x" * 500)
            print(key, rev, flush=True)

    await asyncio.gather(*(writer(w) for w in range(8)))

asyncio.run(main(sys.argv[1]))
"""


def file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_every_acknowledged_write_survives_sigkill(tmp_path):
    db = tmp_path / "state.db"
    env = dict(os.environ, PYTHONPATH=str(Path(kubeling.__file__).parents[1]))
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    acked: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(acked) < 400 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        key, rev = line.split()
        acked[key] = int(rev)
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read()  # lines printed before the kill were acknowledged too
    child.wait()
    for line in rest.splitlines():
        if line.count(" ") == 1 and line.endswith(tuple("0123456789")):
            key, rev = line.split()
            acked[key] = int(rev)
    assert len(acked) >= 400, "the writer did not get going"

    async def reopen() -> tuple[dict[str, int], int, int]:
        store = SqliteBackend(db)
        await store.start()
        try:
            stored = {kv.key: kv.mod_revision for kv in (await store.list("/crash/")).kvs}
            return stored, await store.current_revision(), await store.create("/after", b"v")
        finally:
            await store.close()

    stored, head, next_rev = asyncio.run(reopen())
    assert {k: r for k, r in acked.items() if stored.get(k) != r} == {}  # nothing acknowledged was lost
    assert head >= max(acked.values())
    assert next_rev == head + 1


async def test_file_size_stays_bounded_under_update_churn(tmp_path):
    db = tmp_path / "state.db"
    store = SqliteBackend(db, keep_revisions=100)
    await store.start()
    value = os.urandom(4096)
    revs = {f"/leases/{i}": await store.create(f"/leases/{i}", value) for i in range(10)}

    async def churn(rounds: int) -> None:
        for _ in range(rounds):
            for key, rev in list(revs.items()):
                revs[key] = await store.update(key, value, rev)

    await churn(100)
    after_warmup = file_bytes(db)
    await churn(300)  # 3000 more updates of 4 KiB: 12 MiB of history without compaction
    after_churn = file_bytes(db)
    await store.close()
    assert after_churn <= after_warmup + 1_000_000, (after_warmup, after_churn)
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM log").fetchone()[0]
    assert rows <= 10 + 100 + 2 * 10 + 1


async def test_pragmas_durable_wal(tmp_path):
    db = tmp_path / "state.db"
    store = SqliteBackend(db)
    await store.start()
    try:
        assert store._wconn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._wconn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    finally:
        await store.close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_works_on_uvloop(tmp_path):
    async def scenario() -> tuple[list[int], list[int], int]:
        store = SqliteBackend(tmp_path / "state.db")
        await store.start()
        watch = store.watch("/u/", 0)
        first = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0)
        revs = await asyncio.gather(*(store.create(f"/u/{i:02d}", b"v") for i in range(50)))
        seen = [e.revision for e in await asyncio.wait_for(first, 5)]
        while len(seen) < 50:
            seen += [e.revision for e in await asyncio.wait_for(anext(watch), 5)]
        await watch.aclose()
        listed = await store.count("/u/")
        await store.close()
        return sorted(revs), seen, listed

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        revs, seen, listed = runner.run(scenario())
    assert revs == seen == list(range(1, 51))
    assert listed == 50


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("", None),
        ("/a/", "/a0"),
        ("/a", "/b"),
        ("x\U0010ffff", "y"),
        ("\U0010ffff", None),
        ("\ud7ff", "\ue000"),
    ],
)
def test_prefix_end(prefix, end):
    assert prefix_end(prefix) == end


@pytest.mark.parametrize(
    ("prefix", "after", "sql", "params"),
    [
        ("", "", "", []),
        ("/a/", "", " AND key >= ? AND key < ?", ["/a/", "/a0"]),
        ("/a/", "/a/x", " AND key > ? AND key < ?", ["/a/x", "/a0"]),
        ("/a/", "/0", " AND key >= ? AND key < ?", ["/a/", "/a0"]),
        ("", "/m", " AND key > ?", ["/m"]),
    ],
)
def test_key_range(prefix, after, sql, params):
    assert key_range(prefix, after) == (sql, params)


async def test_writes_of_one_loop_iteration_commit_together_and_close_waits_for_them(tmp_path):
    store = SqliteBackend(tmp_path / "state.db")
    await store.start()
    commits = 0
    commit_batch = store._commit_batch

    def counting(ops):
        nonlocal commits
        commits += 1
        commit_batch(ops)

    store._commit_batch = counting
    try:
        revs = await asyncio.gather(*(store.create(f"/k/{i}", b"v") for i in range(50)))
        assert sorted(revs) == list(range(1, 51)) and commits == 1  # one hand-over, one transaction
        pending = asyncio.ensure_future(store.create("/k/last", b"v"))
        await asyncio.sleep(0)  # submitted, not yet handed to the writer thread
    finally:
        await store.close()
    assert pending.done() and pending.result() == 51
