"""The shared reconcile loop: a held key runs once after its hold, however often it was added."""

from __future__ import annotations

import asyncio

from kubeling.client.clock import FakeClock
from kubeling.client.controller import Controller


class Walker(Controller):
    name = "walker"

    def __init__(self, clock: FakeClock, hold: float):
        super().__init__(workers=2, clock=clock)
        self.hold_for = hold
        self.synced: list[str] = []

    async def reconcile(self, key: str) -> float | None:
        self.synced.append(key)
        if self.hold_for:
            self.hold(key, self.hold_for)
        return None


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_held_key_runs_once_after_its_hold_with_every_add_in_between():
    clock = FakeClock()
    c = Walker(clock, hold=1.0)
    await c.start()
    c.queue.add("ns/a")
    await _settle()
    assert c.synced == ["ns/a"]
    for _ in range(3):
        c.queue.add("ns/a")  # events while held: one sync later, not three now
    c.queue.add("ns/b")  # other keys are not held back
    await _settle()
    assert c.synced == ["ns/a", "ns/b"]
    clock.advance(0.5)
    await _settle()
    assert c.synced == ["ns/a", "ns/b"]
    clock.advance(0.6)
    await _settle()
    assert c.synced == ["ns/a", "ns/b", "ns/a"]
    c.hold_for = 0
    clock.advance(1.1)  # the second sync's own hold ends
    await _settle()
    assert c.synced == ["ns/a", "ns/b", "ns/a"]  # nothing was added meanwhile
    await c.stop()


async def test_without_a_hold_every_add_after_a_sync_runs_again():
    clock = FakeClock()
    c = Walker(clock, hold=0)
    await c.start()
    c.queue.add("ns/a")
    await _settle()
    c.queue.add("ns/a")
    await _settle()
    assert c.synced == ["ns/a", "ns/a"]
    await c.stop()


async def test_stop_does_not_wait_out_a_hold():
    clock = FakeClock()
    c = Walker(clock, hold=1000.0)
    await c.start()
    c.queue.add("ns/a")
    await _settle()
    await asyncio.wait_for(c.stop(), 1)
