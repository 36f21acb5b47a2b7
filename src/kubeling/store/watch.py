"""What every driver shares for watches: live fan-out of committed events to watchers,
and a stream that replays history and then follows live events with no gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from kubeling.store.backend import CompactedError, Event, FutureRevisionError, StoreError

HISTORY_PAGE = 1000  # events per batch when a watch replays history


def check_revision(revision: int, head: int, compacted: int) -> None:
    """Raise unless the store's state at `revision` can still be read (etcd: rev < compacted fails)."""
    if revision > head:
        raise FutureRevisionError(f"required revision {revision} is a future revision (current {head})")
    if revision < compacted:
        raise CompactedError(revision, compacted)


# ---------------------------------------------------------------- watch fan-out


@dataclass(eq=False)
class _Watcher:
    prefix: str
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


class WatchHub:
    """Live event fan-out on the event loop; each watcher gets the batches matching its prefix."""

    def __init__(self) -> None:
        self._watchers: set[_Watcher] = set()
        self._closed = False

    def register(self, prefix: str) -> _Watcher:
        watcher = _Watcher(prefix)
        if self._closed:
            watcher.queue.put_nowait(None)
        else:
            self._watchers.add(watcher)
        return watcher

    def unregister(self, watcher: _Watcher) -> None:
        self._watchers.discard(watcher)

    def publish(self, events: list[Event]) -> None:
        for watcher in self._watchers:
            prefix = watcher.prefix
            matched = events if not prefix else [e for e in events if e.kv.key.startswith(prefix)]
            if matched:
                watcher.queue.put_nowait(matched)

    def close(self) -> None:
        self._closed = True
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
        self._watchers.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._watchers)


HistoryReader = Callable[[str, int, int, int], Awaitable[tuple[list[Event], int]]]


async def watch_stream(
    hub: WatchHub, prefix: str, from_revision: int, history: HistoryReader
) -> AsyncIterator[list[Event]]:
    """Replay history after `from_revision`, then live events, with no gap and no duplicate.

    The watcher registers before history is read, so a write committed meanwhile is
    either in the history snapshot or in the live queue (or both: dropped by revision).
    `history(prefix, after, upto, limit)` returns (events, snapshot revision); upto 0 means now.
    """
    if hub.closed:
        return
    watcher = hub.register(prefix)
    try:
        try:
            events, snapshot = await history(prefix, from_revision, 0, HISTORY_PAGE)
            last = from_revision
            while events:
                yield events
                last = events[-1].revision
                if len(events) < HISTORY_PAGE:
                    break
                events, _ = await history(prefix, last, snapshot, HISTORY_PAGE)
        except StoreError:
            if hub.closed:  # the store closed during the replay: end like any watch
                return
            raise
        last = max(last, snapshot)
        while True:
            batch = await watcher.queue.get()
            if batch is None:
                return
            if batch[0].revision <= last:
                batch = [e for e in batch if e.revision > last]
                if not batch:
                    continue
            last = batch[-1].revision
            yield batch
    finally:
        hub.unregister(watcher)
