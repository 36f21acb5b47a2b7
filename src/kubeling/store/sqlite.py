"""SQLite driver for the Backend protocol.

Layout: `log` holds one row per write (the history, keyed by the global
revision); `live` maps each live key to its latest log row; `meta` holds the
current and compacted revisions so neither ever goes backwards, even when the
rows that carried them are compacted away.

Threads: one writer thread owns the write connection and does group commit
(every queued write goes into one fsync'd transaction); reads run on a small
pool of read connections, so they never queue behind writes (WAL). Watchers are
fed from the event loop right after each commit, in revision order.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeling.store.backend import (
    CompactedError,
    ConflictError,
    Event,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StoreError,
)
from kubeling.store.watch import WatchHub, check_revision, watch_stream

log = logging.getLogger("kubeling.store")

MAX_BATCH = 1000  # writes per group-commit transaction
COMPACT_CHUNK = 1000  # revisions per compaction transaction, so writers never wait long
VACUUM_THRESHOLD = 2048  # free pages (8 MiB) before the file is shrunk
VACUUM_KEEP = 512  # free pages kept for reuse by the next writes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value BLOB NOT NULL,            -- empty for a delete (the value is in the prev row)
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL, -- the key's previous row, 0 for a create
    deleted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision);
CREATE TABLE IF NOT EXISTS live (
    key TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    create_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    revision INTEGER NOT NULL,
    compacted INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta VALUES (0, 0, 0);
"""

_HISTORY_SQL = """
SELECT l.revision, l.key, l.value, l.create_revision, l.deleted, p.value, p.create_revision, p.revision
FROM log l LEFT JOIN log p ON p.revision = l.prev_revision
WHERE l.revision > ? AND l.revision <= ? {range}
ORDER BY l.revision LIMIT ?
"""

_LIST_NOW_SQL = """
SELECT k.key, l.value, k.create_revision, k.revision
FROM live k JOIN log l ON l.revision = k.revision
WHERE 1 {range} ORDER BY k.key LIMIT ?
"""

_LIST_AT_SQL = """
SELECT l.key, l.value, l.create_revision, l.revision
FROM (SELECT MAX(revision) AS r FROM log WHERE revision <= ? {range} GROUP BY key) m
JOIN log l ON l.revision = m.r
WHERE l.deleted = 0 ORDER BY l.key LIMIT ?
"""


# ---------------------------------------------------------------- key ranges


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: unbounded)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    nxt = ord(stripped[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored as UTF-8
        nxt = 0xE000
    return stripped[:-1] + chr(nxt)


def key_range(prefix: str, start_after: str = "", column: str = "key") -> tuple[str, list[str]]:
    """SQL conditions (each starting with AND) selecting keys under `prefix` after `start_after`.

    SQLite compares TEXT as UTF-8 bytes, which orders like Python's str comparison.
    """
    sql, params = "", []
    if start_after and start_after >= prefix:
        sql += f" AND {column} > ?"
        params.append(start_after)
    elif prefix:
        sql += f" AND {column} >= ?"
        params.append(prefix)
    end = prefix_end(prefix)
    if end is not None:
        sql += f" AND {column} < ?"
        params.append(end)
    return sql, params


# ---------------------------------------------------------------- the driver


@dataclass(eq=False, slots=True)
class _Op:
    kind: str  # create | update | delete | compact | stop
    future: asyncio.Future | None
    key: str = ""
    value: bytes = b""
    revision: int = 0  # expected mod_revision, or the compaction target


def _kv(key: str, row: tuple) -> KeyValue:
    value, create_revision, mod_revision = row
    return KeyValue(key, value, create_revision, mod_revision)


def _event(row: tuple) -> Event:
    rev, key, value, create_rev, deleted, prev_value, prev_create, prev_rev = row
    prev = KeyValue(key, prev_value, prev_create, prev_rev) if prev_rev is not None else None
    if not deleted:
        return Event("PUT", KeyValue(key, value, create_rev, rev), prev)
    if prev is None:  # cannot happen above the compacted revision; keep the event well-formed
        return Event("DELETE", KeyValue(key, b"", create_rev, rev), None)
    return Event("DELETE", KeyValue(key, prev.value, prev.create_revision, rev), prev)


class SqliteBackend:
    """A durable Backend on one SQLite file (WAL, synchronous=FULL, group commit)."""

    def __init__(self, path: str | Path, *, keep_revisions: int = 1000, readers: int = 2) -> None:
        self.path = Path(path)
        self.keep_revisions = keep_revisions  # history kept by automatic compaction; 0 disables it
        self._readers_n = readers
        self._loop: asyncio.AbstractEventLoop | None = None
        # The writer thread's inbox: lists of ops, one list per event-loop iteration (see _submit).
        self._queue: queue.SimpleQueue[list[_Op]] = queue.SimpleQueue()
        self._pending: list[_Op] = []  # ops submitted during this loop iteration
        self._hub = WatchHub()
        self._thread: threading.Thread | None = None
        self._wconn: sqlite3.Connection | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._rconns: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._closed = False
        # Loop-side view: committed and published.
        self._revision = 0
        self._compacted = 0
        # Writer-thread view.
        self._w_rev = 0
        self._w_compacted = 0
        self._compact_goal = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wconn = await asyncio.to_thread(self._open_writer)
        self._w_rev, self._w_compacted = self._wconn.execute(
            "SELECT revision, compacted FROM meta"
        ).fetchone()
        self._revision, self._compacted = self._w_rev, self._w_compacted
        self._readers = ThreadPoolExecutor(self._readers_n, thread_name_prefix="kubeling-store-read")
        self._thread = threading.Thread(target=self._run_writer, name="kubeling-store-write", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        if self._closed or self._loop is None:
            self._closed = True
            return
        self._closed = True
        done = self._loop.create_future()
        self._flush()  # writes submitted just before close go first
        self._queue.put([_Op("stop", done)])
        await done
        await asyncio.to_thread(self._thread.join)
        self._hub.close()
        self._readers.shutdown(wait=True)
        for conn in self._rconns:
            conn.close()
        self._wconn.close()

    def _open_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # effective only on a new file
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # fsync the WAL on every commit: durable on ack
        conn.execute("PRAGMA journal_size_limit = 67108864")  # truncate the WAL after checkpoints
        conn.executescript(_SCHEMA)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            self._rconns.append(conn)
        return conn

    # ------------------------------------------------------------ reads

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed or self._readers is None:
            raise StoreError("store is closed")
        return await self._loop.run_in_executor(self._readers, self._snapshot, fn, args)

    def _snapshot(self, fn: Callable[..., Any], args: tuple) -> Any:
        """Run `fn` inside one read transaction, so meta and data agree."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            head, compacted = conn.execute("SELECT revision, compacted FROM meta").fetchone()
            return fn(conn, head, compacted, *args)
        finally:
            conn.execute("COMMIT")

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        return await self._read(self._get, key, revision)

    @staticmethod
    def _get(conn: sqlite3.Connection, head: int, compacted: int, key: str, revision: int) -> KeyValue | None:
        if revision <= 0:
            row = conn.execute(
                "SELECT l.value, k.create_revision, k.revision FROM live k"
                " JOIN log l ON l.revision = k.revision WHERE k.key = ?",
                (key,),
            ).fetchone()
            return _kv(key, row) if row else None
        check_revision(revision, head, compacted)
        row = conn.execute(
            "SELECT value, create_revision, revision, deleted FROM log"
            " WHERE key = ? AND revision <= ? ORDER BY revision DESC LIMIT 1",
            (key, revision),
        ).fetchone()
        return _kv(key, row[:3]) if row and not row[3] else None

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0
    ) -> ListResult:
        return await self._read(self._list, prefix, start_after, limit, revision)

    @staticmethod
    def _list(
        conn: sqlite3.Connection,
        head: int,
        compacted: int,
        prefix: str,
        after: str,
        limit: int,
        revision: int,
    ) -> ListResult:
        if revision > 0:
            check_revision(revision, head, compacted)
        at = revision if 0 < revision < head else head
        fetch = limit + 1 if limit > 0 else -1
        if at == head:
            cond, params = key_range(prefix, after, "k.key")
            rows = conn.execute(_LIST_NOW_SQL.format(range=cond), (*params, fetch)).fetchall()
        else:
            cond, params = key_range(prefix, after)
            rows = conn.execute(_LIST_AT_SQL.format(range=cond), (at, *params, fetch)).fetchall()
        more = limit > 0 and len(rows) > limit
        if more:
            rows = rows[:limit]
        return ListResult([KeyValue(*row) for row in rows], at, more)

    async def count(self, prefix: str) -> int:
        return await self._read(self._count, prefix)

    @staticmethod
    def _count(conn: sqlite3.Connection, head: int, compacted: int, prefix: str) -> int:
        cond, params = key_range(prefix)
        return conn.execute(f"SELECT count(*) FROM live WHERE 1 {cond}", params).fetchone()[0]

    async def _history(self, prefix: str, after: int, upto: int, limit: int) -> tuple[list[Event], int]:
        if self._closed:  # closing: the watch waits for the hub to end it
            return [], self._revision
        return await self._read(self._history_page, prefix, after, upto, limit)

    @staticmethod
    def _history_page(
        conn: sqlite3.Connection, head: int, compacted: int, prefix: str, after: int, upto: int, limit: int
    ) -> tuple[list[Event], int]:
        if after < compacted:
            raise CompactedError(after, compacted)
        cond, params = key_range(prefix, column="l.key")
        rows = conn.execute(_HISTORY_SQL.format(range=cond), (after, upto or head, *params, limit)).fetchall()
        return [_event(row) for row in rows], head

    def watch(self, prefix: str, from_revision: int) -> AsyncIterator[list[Event]]:
        """Every event after `from_revision` (0 included: all history); a future revision waits."""
        return watch_stream(self._hub, prefix, from_revision, self._history)

    async def history_size(self) -> int:
        """Rows of history held (live values included): what automatic compaction bounds."""
        return await self._read(lambda conn, *_: conn.execute("SELECT count(*) FROM log").fetchone()[0])

    # ------------------------------------------------------------ writes

    def _submit(self, op: _Op) -> asyncio.Future:
        """Queue a write for the writer thread. The writes of one loop iteration are handed
        over together: waking the sleeping writer thread costs a futex syscall and a GIL
        hand-off, measured at a twentieth of the server's time when done per write."""
        if self._closed or self._loop is None:
            raise StoreError("store is closed")
        op.future = self._loop.create_future()
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(op)
        return op.future

    def _flush(self) -> None:
        if self._pending:
            ops, self._pending = self._pending, []
            self._queue.put(ops)

    async def create(self, key: str, value: bytes) -> int:
        return await self._submit(_Op("create", None, key, _as_bytes(value)))

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        return await self._submit(_Op("update", None, key, _as_bytes(value), expected_mod_revision))

    async def delete(self, key: str, expected_mod_revision: int = 0) -> KeyValue:
        return await self._submit(_Op("delete", None, key, b"", expected_mod_revision))

    async def compact(self, revision: int) -> None:
        await self._submit(_Op("compact", None, revision=revision))

    # ------------------------------------------------------------ writer thread

    def _run_writer(self) -> None:
        while True:
            ops = self._take(block=self._compact_goal <= self._w_compacted)
            writes = [op for op in ops if op.kind in ("create", "update", "delete")]
            if writes:
                self._commit_batch(writes)
                self._plan_auto_compaction()
            for op in ops:
                if op.kind == "compact":
                    self._explicit_compact(op)
            if self._compact_goal > self._w_compacted:
                self._compact_chunk(self._compact_goal)
            stop = next((op for op in ops if op.kind == "stop"), None)
            if stop is not None:
                self._resolve([(stop.future, None, None)], [])
                return

    def _take(self, block: bool) -> list[_Op]:
        try:
            ops = list(self._queue.get() if block else self._queue.get_nowait())
        except queue.Empty:
            return []
        while len(ops) < MAX_BATCH and ops[-1].kind != "stop":
            try:
                ops.extend(self._queue.get_nowait())
            except queue.Empty:
                break
        return ops

    def _resolve(
        self, outcomes: list[tuple], events: list[Event], revision: int = 0, compacted: int = 0
    ) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, outcomes, events, revision, compacted)
        except RuntimeError:  # the loop is gone; nobody is waiting any more
            pass

    def _deliver(self, outcomes: list[tuple], events: list[Event], revision: int, compacted: int) -> None:
        """On the loop: publish what a commit made visible, then wake its callers."""
        self._revision = max(self._revision, revision)
        self._compacted = max(self._compacted, compacted)
        if events:
            self._hub.publish(events)
        for future, result, error in outcomes:
            if future is None or future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _commit_batch(self, ops: list[_Op]) -> None:
        """Group commit: all queued writes in one transaction, one fsync, then answer each caller."""
        conn, start = self._wconn, self._w_rev
        outcomes, events = [], []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                try:
                    result, event = getattr(self, "_w_" + op.kind)(conn, op)
                except StoreError as exc:
                    outcomes.append((op.future, None, exc))
                    continue
                outcomes.append((op.future, result, None))
                events.append(event)
            if self._w_rev != start:
                conn.execute("UPDATE meta SET revision = ?", (self._w_rev,))
            conn.execute("COMMIT")
        except Exception as exc:  # every caller must hear about a failed commit
            log.exception("store commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._w_rev = start
            error = exc if isinstance(exc, StoreError) else StoreError(f"store write failed: {exc}")
            outcomes, events = [(op.future, None, error) for op in ops], []
        self._resolve(outcomes, events, self._w_rev)

    @staticmethod
    def _w_current(conn: sqlite3.Connection, key: str) -> KeyValue | None:
        row = conn.execute(
            "SELECT l.value, k.create_revision, k.revision FROM live k"
            " JOIN log l ON l.revision = k.revision WHERE k.key = ?",
            (key,),
        ).fetchone()
        return _kv(key, row) if row else None

    def _w_create(self, conn: sqlite3.Connection, op: _Op) -> tuple[int, Event]:
        if conn.execute("SELECT 1 FROM live WHERE key = ?", (op.key,)).fetchone():
            raise KeyExistsError(op.key)
        rev = self._w_rev + 1
        conn.execute("INSERT INTO log VALUES (?, ?, ?, ?, 0, 0)", (rev, op.key, op.value, rev))
        conn.execute("INSERT INTO live VALUES (?, ?, ?)", (op.key, rev, rev))
        self._w_rev = rev
        return rev, Event("PUT", KeyValue(op.key, op.value, rev, rev), None)

    def _w_checked(self, conn: sqlite3.Connection, op: _Op) -> KeyValue:
        current = self._w_current(conn, op.key)
        if current is None:
            raise KeyNotFoundError(op.key)
        if op.revision and current.mod_revision != op.revision:
            raise ConflictError(current)
        return current

    def _w_update(self, conn: sqlite3.Connection, op: _Op) -> tuple[int, Event]:
        prev = self._w_checked(conn, op)
        rev = self._w_rev + 1
        conn.execute(
            "INSERT INTO log VALUES (?, ?, ?, ?, ?, 0)",
            (rev, op.key, op.value, prev.create_revision, prev.mod_revision),
        )
        conn.execute("UPDATE live SET revision = ? WHERE key = ?", (rev, op.key))
        self._w_rev = rev
        return rev, Event("PUT", KeyValue(op.key, op.value, prev.create_revision, rev), prev)

    def _w_delete(self, conn: sqlite3.Connection, op: _Op) -> tuple[KeyValue, Event]:
        prev = self._w_checked(conn, op)
        rev = self._w_rev + 1
        conn.execute(
            "INSERT INTO log VALUES (?, ?, x'', ?, ?, 1)",
            (rev, op.key, prev.create_revision, prev.mod_revision),
        )
        conn.execute("DELETE FROM live WHERE key = ?", (op.key,))
        self._w_rev = rev
        deleted = KeyValue(op.key, prev.value, prev.create_revision, rev)
        return deleted, Event("DELETE", deleted, prev)

    # ------------------------------------------------------------ compaction (writer thread)

    def _plan_auto_compaction(self) -> None:
        """Keep about `keep_revisions` of history; compact in steps of a tenth of it."""
        keep = self.keep_revisions
        if keep > 0 and self._w_rev - max(self._w_compacted, self._compact_goal) >= keep + max(1, keep // 10):
            self._compact_goal = self._w_rev - keep

    def _explicit_compact(self, op: _Op) -> None:
        try:
            if op.revision > self._w_rev:
                raise FutureRevisionError(f"required revision {op.revision} is a future revision")
            while self._w_compacted < op.revision:
                self._compact_chunk(op.revision, raise_errors=True)
        except Exception as exc:
            self._resolve([(op.future, None, exc)], [])
            return
        self._resolve([(op.future, None, None)], [], compacted=self._w_compacted)

    def _compact_chunk(self, target: int, raise_errors: bool = False) -> None:
        """Forget history in (compacted, compacted + CHUNK]: rows superseded there, and tombstones.

        A row is superseded when a newer row of the same key points at it (prev_revision);
        the latest row at or below the target stays, so reads at the compacted revision work.
        """
        conn, lo = self._wconn, self._w_compacted
        hi = min(target, lo + COMPACT_CHUNK)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "DELETE FROM log WHERE revision IN (SELECT prev_revision FROM log"
                " WHERE revision > ? AND revision <= ? AND prev_revision > 0)",
                (lo, hi),
            )
            conn.execute("DELETE FROM log WHERE revision > ? AND revision <= ? AND deleted = 1", (lo, hi))
            conn.execute("UPDATE meta SET compacted = ?", (hi,))
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if raise_errors:
                raise
            log.exception("store compaction failed")
            self._compact_goal = self._w_compacted  # retry at the next plan, not in a tight loop
            return
        self._w_compacted = hi
        self._resolve([], [], compacted=hi)
        self._shrink_file()

    def _shrink_file(self) -> None:
        """Return a large free list to the file system; small ones are reused by the next writes."""
        free = self._wconn.execute("PRAGMA freelist_count").fetchone()[0]
        if free > VACUUM_THRESHOLD:
            self._wconn.execute(f"PRAGMA incremental_vacuum({free - VACUUM_KEEP})").fetchall()


def _as_bytes(value: bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"store values are bytes, not {type(value).__name__}")
