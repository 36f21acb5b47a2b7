"""Small helpers shared by the store tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kubeling.store.backend import Event


async def take(watch: AsyncIterator[list[Event]], n: int, timeout: float = 5.0) -> list[Event]:
    """The next `n` events of a watch, flattened across batches."""
    events: list[Event] = []

    async def _collect() -> None:
        while len(events) < n:
            events.extend(await anext(watch))

    await asyncio.wait_for(_collect(), timeout)
    return events


def summary(events: list[Event]) -> list[tuple[str, str, bytes, int]]:
    return [(e.type, e.kv.key, e.kv.value, e.revision) for e in events]


class Collector:
    """Runs a watch in the background, gathering its events; started means registered."""

    def __init__(self, watch: AsyncIterator[list[Event]]):
        self.events: list[Event] = []
        self.batches = 0
        self.ended = False
        self._changed = asyncio.Event()
        self._watch = watch
        self._task = asyncio.create_task(self._run())

    @classmethod
    async def start(cls, watch: AsyncIterator[list[Event]]) -> Collector:
        collector = cls(watch)
        await asyncio.sleep(0)  # the task's first step registers the watcher
        return collector

    async def _run(self) -> None:
        try:
            async for batch in self._watch:
                self.events.extend(batch)
                self.batches += 1
                self._changed.set()
        finally:
            self.ended = True
            self._changed.set()

    async def wait(self, n: int, timeout: float = 5.0) -> list[Event]:
        async def _until() -> None:
            while len(self.events) < n and not self.ended:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_until(), timeout)
        return self.events

    async def wait_end(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
