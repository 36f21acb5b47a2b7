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
        self._holds: dict[str, float] = {}
        self._releases: set[asyncio.Task] = set()  # held keys, done() when their time is up

    async def reconcile(self, key: str) -> float | None:
        """One step toward the desired state for `key`. Return seconds after which to look
        again (None: only on the next event); raise to retry with per-key backoff."""
        raise NotImplementedError

    def hold(self, key: str, seconds: float) -> None:
        """Keep `key` in hand for `seconds` after the current reconcile returns. For a sync that
        walks many objects (a ReplicaSet of 10,000 pods takes tens of milliseconds) and whose key
        every one of their events adds again: back to back, such syncs would take the whole
        event loop; held, the events in between mark the key dirty and it runs once after them."""
        self._holds[key] = seconds

    async def _release_after(self, key: str, seconds: float) -> None:
        try:
            await self.clock.sleep(seconds)
        finally:
            self.queue.done(key)

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                       for i in range(self.workers)]

    async def stop(self) -> None:
        """Let the keys in hand finish, then stop the workers."""
        for task in list(self._releases):
            task.cancel()  # a held key is done at once: it has been reconciled
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
            held = self._holds.pop(key, 0.0)
            if held > 0 and not self.queue.shutting_down:
                task = asyncio.get_running_loop().create_task(self._release_after(key, held))
                self._releases.add(task)
                task.add_done_callback(self._releases.discard)
            else:
                self.queue.done(key)
