"""Conformance: watch live, from a past revision, prev values, deletes, compaction."""

from __future__ import annotations

import asyncio

import pytest
from tests.unit.store.store_helpers import Collector, summary, take

from kubeling.store.backend import CompactedError, KeyValue


async def test_live_watch_sees_puts_updates_and_deletes_with_prev(backend):
    await backend.create("/w/old", b"before")
    watch = await Collector.start(backend.watch("/w/", 1))
    await backend.create("/w/a", b"a1")
    await backend.update("/w/a", b"a2", 2)
    await backend.delete("/w/a")
    events = await watch.wait(3)
    assert summary(events) == [
        ("PUT", "/w/a", b"a1", 2),
        ("PUT", "/w/a", b"a2", 3),
        ("DELETE", "/w/a", b"a2", 4),
    ]
    assert events[0].is_create and events[0].prev is None
    assert events[1].prev == KeyValue("/w/a", b"a1", 2, 2)
    assert events[2].kv == KeyValue("/w/a", b"a2", 2, 4)
    assert events[2].prev == KeyValue("/w/a", b"a2", 2, 3)
    await watch.stop()


async def test_watch_prefix_isolation(backend):
    watch = await Collector.start(backend.watch("/a/", 0))
    await backend.create("/ab/1", b"x")
    await backend.create("/b/1", b"x")
    await backend.create("/a/1", b"x")
    await backend.create("/a", b"x")
    await backend.create("/a/2", b"x")
    assert summary(await watch.wait(2)) == [("PUT", "/a/1", b"x", 3), ("PUT", "/a/2", b"x", 5)]
    await watch.stop()


async def test_watch_from_past_revision_replays_then_goes_live(backend):
    for i in range(5):
        await backend.create(f"/r/{i}", str(i).encode())  # revisions 1..5
    await backend.update("/r/1", b"1b", 2)  # 6
    watch = backend.watch("/r/", 3)
    replay = await take(watch, 3)
    assert [e.revision for e in replay] == [4, 5, 6]
    assert replay[2].prev == KeyValue("/r/1", b"1", 2, 2)
    await backend.delete("/r/0")  # 7
    live = await take(watch, 1)
    assert summary(live) == [("DELETE", "/r/0", b"0", 7)]
    assert live[0].prev.value == b"0"
    await watch.aclose()


async def test_replay_and_live_have_no_gap_or_duplicate_under_concurrent_writes(backend):
    await backend.create("/g/seed", b"s")

    async def writer():
        for i in range(60):
            await backend.create(f"/g/{i:03d}", b"v")

    task = asyncio.create_task(writer())
    await asyncio.sleep(0)
    watches = [backend.watch("/g/", 1) for _ in range(3)]
    results = [await take(w, 60) for w in watches]
    await task
    for events in results:
        assert [e.revision for e in events] == list(range(2, 62))
    for w in watches:
        await w.aclose()


async def test_watch_from_zero_replays_all_history(backend):
    await backend.create("/z/a", b"1")
    await backend.delete("/z/a")
    watch = backend.watch("/z/", 0)
    assert summary(await take(watch, 2)) == [("PUT", "/z/a", b"1", 1), ("DELETE", "/z/a", b"1", 2)]
    await watch.aclose()
    await backend.compact(1)
    with pytest.raises(CompactedError):
        await anext(backend.watch("/z/", 0))


async def test_watch_from_revision_before_compaction_fails(backend):
    for i in range(4):
        await backend.create(f"/c/{i}", b"v")
    await backend.compact(3)
    with pytest.raises(CompactedError) as err:
        await anext(backend.watch("/c/", 2))
    assert (err.value.requested, err.value.compacted) == (2, 3)
    # From the compacted revision itself, the rest of the history is still there.
    watch = backend.watch("/c/", 3)
    assert [e.revision for e in await take(watch, 1)] == [4]
    await watch.aclose()


async def test_history_of_deleted_and_updated_keys_survives_compaction_above_it(backend):
    await backend.create("/h/a", b"a1")  # 1
    await backend.create("/h/b", b"b1")  # 2
    await backend.update("/h/a", b"a2", 1)  # 3
    await backend.delete("/h/b")  # 4
    await backend.update("/h/a", b"a3", 3)  # 5
    await backend.compact(3)
    watch = backend.watch("/h/", 3)
    events = await take(watch, 2)
    assert summary(events) == [("DELETE", "/h/b", b"b1", 4), ("PUT", "/h/a", b"a3", 5)]
    assert events[0].prev == KeyValue("/h/b", b"b1", 2, 2)
    assert events[1].prev == KeyValue("/h/a", b"a2", 1, 3)
    await watch.aclose()


async def test_watch_at_future_revision_waits_for_it(backend):
    await backend.create("/f/0", b"v")
    watch = await Collector.start(backend.watch("/f/", 2))
    await backend.create("/f/1", b"v")  # 2: not after from_revision
    await backend.create("/f/2", b"v")  # 3
    assert [e.revision for e in await watch.wait(1)] == [3]
    await watch.stop()


async def test_close_ends_watches(open_store):
    backend = await open_store()
    watch = await Collector.start(backend.watch("/", 0))
    await backend.create("/x", b"v")
    await backend.close()
    await watch.wait_end()
    assert [e.revision for e in watch.events] == [1]
    # A watch opened on a closed store ends at once.
    assert [batch async for batch in backend.watch("/", 0)] == []
