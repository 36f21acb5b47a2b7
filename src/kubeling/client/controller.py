"""The reconcile loop every controller shares.

A controller turns informer events into keys on a WorkQueue; workers take one key at a
time and call `reconcile(key)`, which reads the current state from informer caches and
makes one step toward the desired state. Level-based: a key carries no event data, so a
missed or duplicated event does no harm.
"""

from __future__ import annotations

import asyncio
import logging

from kubeling.api.errors import ApiError
from kubeling.client.base import Obj, object_key
from kubeling.client.clock import REAL, Clock
from kubeling.client.workqueue import WorkQueue

log = logging.getLogger("kubeling.controller")


class Controller:
    name = "controller"

    def __init__(self, *, workers: int = 1, clock: Clock = REAL):
        self.workers = workers
        self.clock = clock
        self.queue = WorkQueue(self.name, clock=clock)
        self._tasks: list[asyncio.Task] = []

    async def reconcile(self, key: str) -> float | None:
        """One step toward the desired state for `key`. Return seconds after which to look
        again (None: only on the next event); raise to retry with per-key backoff."""
        raise NotImplementedError

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        """Let the keys in hand finish, then stop the workers."""
        try:
            await asyncio.wait_for(self.queue.drain(), 10)
        except TimeoutError:
            pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                again = await self.reconcile(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except ApiError as e:
                # Conflicts and races with other writers are normal: retry quietly.
                level = logging.DEBUG if e.code in (404, 409) else logging.WARNING
                log.log(level, "%s: reconcile %s failed: %s", self.name, key, e.message)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: reconcile %s failed", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if again is not None:
                    self.queue.add_after(key, again)
            self.queue.done(key)
