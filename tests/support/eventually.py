"""Waiting for asynchronous effects in tests without fixed sleeps."""

from __future__ import annotations

import asyncio
import time

from kubeling.client.clock import FakeClock


async def eventually(check, clock: FakeClock | None = None, timeout: float = 3.0, advance: float = 0.5):
    """Poll `check` (sync or async) until it returns something truthy, and return that.

    With a fake clock, time moves on by `advance` seconds between polls, so delayed work
    (backoffs, requeues, grace periods) comes due."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached; last result {result!r}")
        if clock is not None:
            clock.advance(advance)
        await asyncio.sleep(0.005)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.1):
    """The blocking form, for tests that drive real processes: poll until truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
