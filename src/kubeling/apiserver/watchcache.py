"""The watch cache: every object in memory, fed by one store watch.

Lists, gets and watches are served from here instead of the store, as kube-apiserver
does. A bounded ring of recent events lets watches resume from a resourceVersion;
anything older gets 410 Gone and the client relists.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import heapq
import itertools
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from kubeling.api import errors
from kubeling.store.backend import Backend, CompactedError, KeyValue

log = logging.getLogger("kubeling.watchcache")

ROOT = "/registry/"
EVENT_HISTORY = 20_000  # events kept for watch resume
WATCHER_QUEUE_LIMIT = 20_000  # a watcher further behind than this is closed (it will re-watch)


def decode(kv: KeyValue, revision: int | None = None) -> dict[str, Any]:
    """A stored value as an API object, with resourceVersion taken from the revision."""
    obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision if revision is not None else kv.mod_revision)
    return obj


def resource_prefix(key: str) -> str:
    """`/registry/apps/deployments/` for any key of a deployment."""
    parts = key.split("/", 4)
    return "/".join(parts[:4]) + "/"


@dataclass(slots=True)
class CacheEvent:
    revision: int
    type: str  # ADDED, MODIFIED, DELETED
    key: str
    object: dict[str, Any]
    prev: dict[str, Any] | None


class _Resource:
    """The objects of one resource type, with their keys kept sorted for prefix lists."""

    __slots__ = ("_sorted", "objects")

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self._sorted: list[str] | None = []

    def put(self, key: str, obj: dict[str, Any]) -> None:
        if key not in self.objects:
            self._sorted = None
        self.objects[key] = obj

    def remove(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            self._sorted = None

    def keys_with_prefix(self, prefix: str) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        keys = self._sorted
        lo = bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, prefix + "\U0010ffff")
        return keys[lo:hi]


class Watcher:
    def __init__(self, cache: WatchCache, prefix: str):
        self.cache = cache
        self.prefix = prefix
        self.queue: asyncio.Queue[CacheEvent | None] = asyncio.Queue()
        self.closed = False

    def offer(self, event: CacheEvent) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= WATCHER_QUEUE_LIMIT:
            self.close()
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
            self.cache._watchers.discard(self)

    async def next(self, timeout: float | None) -> CacheEvent | None:
        """The next event, None once closed; raises TimeoutError after `timeout` seconds idle."""
        return await asyncio.wait_for(self.queue.get(), timeout)


class WatchCache:
    def __init__(self, backend: Backend):
        self.backend = backend
        self.revision = 0
        self._resources: dict[str, _Resource] = collections.defaultdict(_Resource)
        self._history: collections.deque[CacheEvent] = collections.deque(maxlen=EVENT_HISTORY)
        self._watchers: set[Watcher] = set()
        # (revision, tiebreak, future) of callers waiting for the cache to reach a revision
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._tiebreak = itertools.count()
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        listing = await self.backend.list(ROOT)
        for kv in listing.kvs:
            self._resources[resource_prefix(kv.key)].put(kv.key, decode(kv))
        self.revision = listing.revision
        self._task = asyncio.create_task(self._follow(listing.revision), name="watchcache")
        self.ready.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        for w in list(self._watchers):
            w.close()

    async def _follow(self, from_revision: int) -> None:
        while True:
            try:
                async for batch in self.backend.watch(ROOT, from_revision):
                    for ev in batch:
                        self._apply(ev)
                    if batch:
                        from_revision = batch[-1].revision
                        self._advance(from_revision)
                return  # the store closed
            except CompactedError:
                # We fell behind the store's history: rebuild from a fresh list.
                log.warning("watch cache fell behind compaction; relisting")
                from_revision = await self._relist()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch cache store watch failed; retrying")
                await asyncio.sleep(0.5)

    async def _relist(self) -> int:
        listing = await self.backend.list(ROOT)
        self._resources.clear()
        for kv in listing.kvs:
            self._resources[resource_prefix(kv.key)].put(kv.key, decode(kv))
        self._history.clear()  # resumes from before now must relist too
        for w in list(self._watchers):
            w.close()
        self._advance(listing.revision)
        return listing.revision

    def _apply(self, ev) -> None:
        key = ev.kv.key
        res = self._resources[resource_prefix(key)]
        if ev.type == "DELETE":
            obj = decode(ev.kv, ev.kv.mod_revision)
            res.remove(key)
            event = CacheEvent(ev.revision, "DELETED", key, obj, None)
        else:
            obj = decode(ev.kv)
            prev = res.objects.get(key)
            res.put(key, obj)
            event = CacheEvent(ev.revision, "ADDED" if ev.prev is None else "MODIFIED", key, obj, prev)
        self._history.append(event)
        for w in tuple(self._watchers):
            if key.startswith(w.prefix):
                w.offer(event)

    def _advance(self, revision: int) -> None:
        self.revision = max(self.revision, revision)
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.revision:
            future = heapq.heappop(waiters)[2]
            if not future.done():  # a timed-out waiter's future is cancelled
                future.set_result(None)

    async def wait_for(self, revision: int, timeout: float = 3.0) -> None:
        """Wait until the cache has seen `revision` (read-your-writes for consistent reads).

        Every request waits here whenever the cache is a commit behind the store, so this is a
        bare future woken by `_advance` when its revision arrives: no task, no wake-ups for
        revisions it does not need."""
        if self.revision >= revision:
            return
        future = asyncio.get_running_loop().create_future()
        entry = (revision, next(self._tiebreak), future)
        heapq.heappush(self._waiters, entry)
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise errors.ApiError(504, "Timeout", f"Too large resource version: {revision}, current: {self.revision}",
                                  details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                       "message": "Too large resource version"}],
                                           "retryAfterSeconds": 1}) from None
        finally:
            if future.cancelled():  # timed out, or the caller was cancelled
                self._forget(entry)

    def _forget(self, entry: tuple[int, int, asyncio.Future]) -> None:
        """Drop a waiter that gave up (rare), so a revision that never comes holds no memory."""
        try:
            self._waiters.remove(entry)
        except ValueError:
            return
        heapq.heapify(self._waiters)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._resources[resource_prefix(key)].objects.get(key)

    def list(self, prefix: str) -> list[dict[str, Any]]:
        res = self._resources[resource_prefix(prefix)]
        objects = res.objects
        return [objects[k] for k in res.keys_with_prefix(prefix)]

    def list_after(self, prefix: str, start_after: str) -> list[tuple[str, dict[str, Any]]]:
        res = self._resources[resource_prefix(prefix)]
        return [(k, res.objects[k]) for k in res.keys_with_prefix(prefix) if k > start_after]

    def count(self, prefix: str) -> int:
        return len(self._resources[resource_prefix(prefix)].keys_with_prefix(prefix))

    def watch(self, prefix: str, from_revision: int | None) -> tuple[Watcher, list[CacheEvent]]:
        """A watcher for keys under `prefix`, plus the buffered events after `from_revision`.

        from_revision None means "from now" (the caller sends the current state itself).
        """
        watcher = Watcher(self, prefix)
        backlog: list[CacheEvent] = []
        if from_revision is not None and from_revision < self.revision:
            oldest = self._history[0].revision if self._history else self.revision + 1
            if from_revision < oldest - 1:
                raise errors.gone(f"too old resource version: {from_revision} ({oldest - 1})")
            backlog = [e for e in self._history if e.revision > from_revision and e.key.startswith(prefix)]
        self._watchers.add(watcher)
        return watcher, backlog
