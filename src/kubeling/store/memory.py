"""In-memory driver for the Backend protocol: same semantics as sqlite, no durability.

Meant for unit tests of other components. Every operation runs to completion
on the event loop without awaiting, so no locking is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from kubeling.store.backend import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StoreError,
)
from kubeling.store.watch import WatchHub, check_revision, watch_stream


class MemoryBackend:
    def __init__(self, *, keep_revisions: int = 1000) -> None:
        self.keep_revisions = keep_revisions  # history kept by automatic compaction; 0 disables it
        self._revision = 0
        self._compacted = 0
        self._live: dict[str, KeyValue] = {}
        # Per key, oldest first: (revision, value), value None for a delete.
        self._versions: dict[str, list[tuple[int, KeyValue | None]]] = {}
        self._events: list[Event] = []  # every event above the compacted revision
        self._hub = WatchHub()
        self._closed = False

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._closed = True
        self._hub.close()

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    # ------------------------------------------------------------ reads

    def _at(self, key: str, revision: int) -> KeyValue | None:
        found = None
        for rev, kv in self._versions.get(key, ()):
            if rev > revision:
                break
            found = kv
        return found

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        self._check_open()
        if revision <= 0 or revision == self._revision:
            if revision > 0:
                check_revision(revision, self._revision, self._compacted)
            return self._live.get(key)
        check_revision(revision, self._revision, self._compacted)
        return self._at(key, revision)

    async def list(
        self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0
    ) -> ListResult:
        self._check_open()
        if revision > 0:
            check_revision(revision, self._revision, self._compacted)
        at = revision if 0 < revision < self._revision else self._revision
        source = self._live if at == self._revision else self._versions
        keys = sorted(k for k in source if k.startswith(prefix) and k > start_after)
        kvs: list[KeyValue] = []
        for key in keys:
            kv = self._live[key] if source is self._live else self._at(key, at)
            if kv is None:
                continue
            if limit > 0 and len(kvs) == limit:
                return ListResult(kvs, at, True)
            kvs.append(kv)
        return ListResult(kvs, at, False)

    async def count(self, prefix: str) -> int:
        self._check_open()
        return sum(1 for key in self._live if key.startswith(prefix))

    async def history_size(self) -> int:
        """Versions held (live values included): what automatic compaction bounds."""
        return sum(len(v) for v in self._versions.values()) + len(self._events)

    def watch(self, prefix: str, from_revision: int) -> AsyncIterator[list[Event]]:
        """Every event after `from_revision` (0 included: all history); a future revision waits."""
        return watch_stream(self._hub, prefix, from_revision, self._history)

    async def _history(self, prefix: str, after: int, upto: int, limit: int) -> tuple[list[Event], int]:
        if after < self._compacted:
            raise CompactedError(after, self._compacted)
        upto = upto or self._revision
        events = [e for e in self._events if after < e.revision <= upto and e.kv.key.startswith(prefix)]
        return events[:limit], self._revision

    # ------------------------------------------------------------ writes

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def _commit(self, event: Event) -> None:
        self._revision = event.revision
        key = event.kv.key
        if event.type == "DELETE":
            del self._live[key]
            self._versions[key].append((event.revision, None))
        else:
            self._live[key] = event.kv
            self._versions.setdefault(key, []).append((event.revision, event.kv))
        self._events.append(event)
        self._hub.publish([event])
        keep = self.keep_revisions
        if keep > 0 and self._revision - self._compacted >= keep + max(1, keep // 10):
            self._compact(self._revision - keep)

    def _checked(self, key: str, expected: int) -> KeyValue:
        current = self._live.get(key)
        if current is None:
            raise KeyNotFoundError(key)
        if expected and current.mod_revision != expected:
            raise ConflictError(current)
        return current

    async def create(self, key: str, value: bytes) -> int:
        self._check_open()
        if key in self._live:
            raise KeyExistsError(key)
        rev = self._revision + 1
        self._commit(Event("PUT", KeyValue(key, bytes(value), rev, rev), None))
        return rev

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        self._check_open()
        prev = self._checked(key, expected_mod_revision)
        rev = self._revision + 1
        self._commit(Event("PUT", KeyValue(key, bytes(value), prev.create_revision, rev), prev))
        return rev

    async def delete(self, key: str, expected_mod_revision: int = 0) -> KeyValue:
        self._check_open()
        prev = self._checked(key, expected_mod_revision)
        deleted = KeyValue(key, prev.value, prev.create_revision, self._revision + 1)
        self._commit(Event("DELETE", deleted, prev))
        return deleted

    async def compact(self, revision: int) -> None:
        self._check_open()
        check_revision(revision, self._revision, 0)
        if revision > self._compacted:
            self._compact(revision)

    def _compact(self, revision: int) -> None:
        """Drop events at or below `revision` and every version not needed to read at it."""
        self._events = [e for e in self._events if e.revision > revision]
        for key in list(self._versions):
            versions = self._versions[key]
            old = sum(1 for rev, _ in versions if rev <= revision)
            if old == 0:
                continue
            kept = versions[old - 1 :]
            if kept[0][1] is None:  # deleted at `revision`: nothing to remember
                kept = kept[1:]
            if kept:
                self._versions[key] = kept
            else:
                del self._versions[key]
        self._compacted = revision
