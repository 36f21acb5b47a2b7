"""Store benchmark: write throughput (1 and 50 writers) and list latency of 10k keys.

Baseline, measured in the same run: raw sqlite3 with the same pragmas committing one
500-byte row per fsync'd transaction, no asyncio and no threads.

    python benchmarks/store_bench.py [--uvloop] [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kubeling.store.sqlite import SqliteBackend

VALUE = os.urandom(250).hex().encode()  # 500 bytes, like a small JSON object


def baseline_writes_per_s(path: Path, seconds: float) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (f"/k/{n}", VALUE))
        conn.execute("COMMIT")
        n += 1
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def writes_per_s(store: SqliteBackend, writers: int, seconds: float, tag: str) -> float:
    count = 0
    stop_at = time.perf_counter() + seconds

    async def writer(w: int) -> None:
        nonlocal count
        i = 0
        while time.perf_counter() < stop_at:
            await store.create(f"/bench/{tag}/{w}/{i}", VALUE)
            i += 1
        count += i

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return count / (time.perf_counter() - start)


async def list_latency_ms(store: SqliteBackend, keys: int, runs: int) -> tuple[float, float]:
    for start in range(0, keys, 500):
        await asyncio.gather(
            *(store.create(f"/bench/list/{i:06d}", VALUE) for i in range(start, start + 500))
        )
    full, paged = [], []
    for _ in range(runs):
        t = time.perf_counter()
        result = await store.list("/bench/list/")
        full.append(time.perf_counter() - t)
        assert len(result.kvs) == keys
        t = time.perf_counter()
        await store.list("/bench/list/", limit=500, start_after="/bench/list/005000")
        paged.append(time.perf_counter() - t)
    return statistics.median(full) * 1000, statistics.median(paged) * 1000


async def run(root: Path, seconds: float) -> None:
    base = baseline_writes_per_s(root / "baseline.db", seconds)
    store = SqliteBackend(root / "state.db")
    await store.start()
    try:
        seq = await writes_per_s(store, 1, seconds, "seq")
        conc = await writes_per_s(store, 50, seconds, "conc")
        full_ms, page_ms = await list_latency_ms(store, 10_000, 10)
    finally:
        await store.close()
    print(f"baseline raw sqlite3, 1 fsync'd row per commit : {base:9.0f} writes/s")
    print(
        f"store, 1 sequential writer                     : {seq:9.0f} writes/s  ({seq / base:.2f}x baseline)"
    )
    print(
        f"store, 50 concurrent writers (group commit)    : {conc:9.0f} writes/s  ({conc / base:.2f}x baseline)"
    )
    print(f"list 10k keys (500 B values), median of 10     : {full_ms:9.1f} ms")
    print(f"list one page of 500 of those keys             : {page_ms:9.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's loop")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each write test")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kubeling-store-bench-"))
    try:
        if args.uvloop:
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(run(root, args.seconds))
        else:
            asyncio.run(run(root, args.seconds))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
