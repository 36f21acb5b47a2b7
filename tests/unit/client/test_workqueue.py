"""The work queue's guarantees, driven by a fake clock."""

import asyncio

from kubeling.client.clock import FakeClock
from kubeling.client.workqueue import WorkQueue


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_duplicate_adds_collapse_and_order_is_fifo():
    q = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        q.add(key)
    assert len(q) == 3
    assert [await q.get(), await q.get(), await q.get()] == ["a", "b", "c"]


async def test_key_is_never_processed_twice_at_once_and_readds_are_kept():
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # while processing: kept, not handed out
    assert len(q) == 0
    getter = asyncio.ensure_future(q.get())
    await settle()
    assert not getter.done()
    q.done(key)
    assert await asyncio.wait_for(getter, 1) == "a"


async def test_rate_limited_backoff_doubles_per_key_and_forget_resets():
    clock = FakeClock()
    q = WorkQueue(clock=clock, base_delay=1.0, max_delay=4.0)
    delays = []
    for _ in range(4):
        q.add_rate_limited("k")
        waited = 0.0
        while len(q) == 0:
            clock.advance(0.5)
            waited += 0.5
            await settle()
        delays.append(waited)
        q.done(await q.get())
    assert delays == [1.0, 2.0, 4.0, 4.0]  # capped
    assert q.num_requeues("k") == 4
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_add_after_respects_order_of_due_times():
    clock = FakeClock()
    q = WorkQueue(clock=clock)
    q.add_after("late", 10)
    q.add_after("early", 5)
    await settle()
    clock.advance(5)
    await settle()
    assert len(q) == 1 and await q.get() == "early"
    clock.advance(5)
    await settle()
    assert await q.get() == "late"


async def test_shut_down_wakes_workers_and_drain_waits_for_work_in_hand():
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    waiting = asyncio.ensure_future(q.get())
    await settle()
    drained = asyncio.ensure_future(q.drain())
    await settle()
    assert await asyncio.wait_for(waiting, 1) is None
    assert not drained.done()
    q.done(key)
    await asyncio.wait_for(drained, 1)
    q.add("b")  # ignored after shutdown
    assert await q.get() is None
