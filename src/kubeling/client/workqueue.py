"""The controllers' work queue, with client-go's guarantees:

- a key is never handed to two workers at once (the `processing` set);
- adding a key that is already waiting does nothing (the `dirty` set);
- a key added while it is being processed is queued again when its worker calls done();
- failures back off per key, exponentially with a cap, until forget() resets them;
- add_after() delays a key on the injectable clock;
- shut_down() wakes every waiting worker with None; drain() waits for work in hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque

from kubeling.client.clock import REAL, Clock

BASE_DELAY = 0.005  # client-go's per-item exponential limiter: 5 ms doubling ...
MAX_DELAY = 1000.0  # ... up to 1000 s


class WorkQueue:
    def __init__(self, name: str = "", *, clock: Clock = REAL, base_delay: float = BASE_DELAY,
                 max_delay: float = MAX_DELAY):
        self.name = name
        self.clock = clock
        self.base_delay, self.max_delay = base_delay, max_delay
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._waiting: list[tuple[float, int, str]] = []  # (due, seq, key) for add_after
        self._seq = itertools.count()
        self._getters: deque[asyncio.Future] = deque()  # workers waiting in get()
        self._idle: list[asyncio.Future] = []  # drain() callers waiting for processing to empty
        self._delay_changed = asyncio.Event()
        self._delay_task: asyncio.Task | None = None
        self._shutting_down = False

    # ---- adding ---------------------------------------------------------------------------------

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() queues it again
        self._queue.append(key)
        self._notify()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        heapq.heappush(self._waiting, (self.clock.monotonic() + delay, next(self._seq), key))
        self._delay_changed.set()
        if self._delay_task is None:
            self._delay_task = asyncio.get_running_loop().create_task(self._release_delayed())

    def add_rate_limited(self, key: str) -> None:
        """Retry after a failure: 5 ms, 10 ms, 20 ms ... per key, capped."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self.base_delay * (2 ** failures), self.max_delay))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    # ---- working --------------------------------------------------------------------------------

    async def get(self) -> str | None:
        """The next key, marked as being processed; None once the queue shuts down."""
        while not self._queue:
            if self._shutting_down:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            await waiter
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()
        if not self._processing:
            for fut in self._idle:
                if not fut.done():
                    fut.set_result(None)
            self._idle.clear()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> int:
        return len(self._processing)

    # ---- stopping -------------------------------------------------------------------------------

    def shut_down(self) -> None:
        self._shutting_down = True
        self._queue.clear()
        self._dirty.clear()
        if self._delay_task is not None:
            self._delay_task.cancel()
        self._notify()

    async def drain(self) -> None:
        """Shut down and wait until every key in hand has been marked done."""
        self.shut_down()
        if self._processing:
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            await waiter

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # ---- internals ------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake one waiting worker per queued key (all of them when shutting down)."""
        wake = len(self._getters) if self._shutting_down else len(self._queue)
        while wake > 0 and self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                wake -= 1

    async def _release_delayed(self) -> None:
        while not self._shutting_down:
            if not self._waiting:
                self._delay_changed.clear()
                await self._delay_changed.wait()
                continue
            due, _, key = self._waiting[0]
            wait = due - self.clock.monotonic()
            if wait <= 0:
                heapq.heappop(self._waiting)
                self.add(key)
                continue
            self._delay_changed.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            changed = asyncio.ensure_future(self._delay_changed.wait())
            try:
                await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                changed.cancel()
