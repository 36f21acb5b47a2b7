"""The watch cache over the in-memory store: state, events, resume and its limits."""

from __future__ import annotations

import asyncio
import collections

import orjson
import pytest

from kubeling.api import errors
from kubeling.apiserver import watchcache
from kubeling.apiserver.watchcache import WatchCache, resource_prefix
from kubeling.store import open_backend

CM = "/registry/core/configmaps/"
PODS = "/registry/core/pods/"


def value(name: str, **data: str) -> bytes:
    return orjson.dumps({"kind": "ConfigMap", "metadata": {"name": name}, "data": data})


@pytest.fixture
async def backend():
    b = open_backend("memory://", keep_revisions=0)
    await b.start()
    yield b
    await b.close()


@pytest.fixture
async def cache(backend):
    c = WatchCache(backend)
    await c.start()
    yield c
    await c.stop()


async def synced(cache: WatchCache, backend) -> None:
    await cache.wait_for(await backend.current_revision())


@pytest.mark.parametrize("key,prefix", [
    ("/registry/core/pods/default/web", "/registry/core/pods/"),
    ("/registry/apps/deployments/ns/d", "/registry/apps/deployments/"),
    ("/registry/core/nodes/n1", "/registry/core/nodes/"),
    ("/registry/core/pods/", "/registry/core/pods/"),
])
def test_resource_prefix(key, prefix):
    assert resource_prefix(key) == prefix


async def test_start_loads_what_the_store_has(backend):
    await backend.create(CM + "ns/a", value("a"))
    rev = await backend.create(CM + "ns/b", value("b"))
    cache = WatchCache(backend)
    await cache.start()
    try:
        assert cache.revision == rev and cache.ready.is_set()
        assert [o["metadata"]["name"] for o in cache.list(CM + "ns/")] == ["a", "b"]
        assert cache.get(CM + "ns/a")["metadata"]["resourceVersion"] == str(rev - 1)
    finally:
        await cache.stop()


async def test_writes_reach_get_list_and_count(cache, backend):
    await backend.create(CM + "ns1/b", value("b"))
    await backend.create(CM + "ns1/a", value("a"))
    await backend.create(CM + "ns2/a", value("a"))
    await backend.create(PODS + "ns1/p", value("p"))
    rev = await backend.update(CM + "ns1/a", value("a", k="2"), 0)
    await synced(cache, backend)
    assert cache.revision == rev
    assert [o["metadata"]["name"] for o in cache.list(CM + "ns1/")] == ["a", "b"]  # key order
    assert len(cache.list(CM)) == 3 and cache.count(CM) == 3 and cache.count(PODS) == 1
    assert cache.get(CM + "ns1/a")["data"] == {"k": "2"}
    assert cache.get(CM + "ns1/a")["metadata"]["resourceVersion"] == str(rev)
    assert [k for k, _ in cache.list_after(CM, CM + "ns1/a")] == [CM + "ns1/b", CM + "ns2/a"]
    await backend.delete(CM + "ns1/b")
    await synced(cache, backend)
    assert cache.get(CM + "ns1/b") is None and cache.count(CM) == 2


async def test_a_prefix_is_not_a_key_prefix_of_another_namespace(cache, backend):
    await backend.create(CM + "ab/x", value("x"))
    await backend.create(CM + "a/y", value("y"))
    await synced(cache, backend)
    assert [o["metadata"]["name"] for o in cache.list(CM + "a/")] == ["y"]


async def test_watch_receives_typed_events_with_previous_state(cache, backend):
    watcher, backlog = cache.watch(CM, None)
    assert backlog == []
    c = await backend.create(CM + "ns/a", value("a"))
    u = await backend.update(CM + "ns/a", value("a", k="2"), c)
    await backend.create(PODS + "ns/p", value("p"))  # another resource: not for this watcher
    d = (await backend.delete(CM + "ns/a")).mod_revision
    events = [await watcher.next(1) for _ in range(3)]
    assert [(e.type, e.revision) for e in events] == [("ADDED", c), ("MODIFIED", u), ("DELETED", d)]
    assert events[0].prev is None and events[1].prev["data"] == {}
    assert events[1].object["data"] == {"k": "2"}
    # A deleted object carries its last state, at the revision of the delete.
    assert events[2].object["data"] == {"k": "2"}
    assert events[2].object["metadata"]["resourceVersion"] == str(d)
    assert watcher.queue.empty()
    watcher.close()
    assert await watcher.next(1) is None


async def test_watch_from_a_revision_replays_the_backlog(cache, backend):
    first = await backend.create(CM + "ns/a", value("a"))
    await backend.create(CM + "other/b", value("b"))
    await backend.create(PODS + "ns/p", value("p"))
    await backend.update(CM + "ns/a", value("a", k="2"), first)
    await synced(cache, backend)
    _, backlog = cache.watch(CM + "ns/", first)
    assert [(e.type, e.key) for e in backlog] == [("MODIFIED", CM + "ns/a")]
    _, everything = cache.watch(CM, 0)
    assert [e.key for e in everything] == [CM + "ns/a", CM + "other/b", CM + "ns/a"]
    _, none = cache.watch(CM, cache.revision)
    assert none == []


async def test_watch_from_before_the_history_is_410_expired(cache, backend, monkeypatch):
    cache._history = collections.deque(maxlen=2)
    revs = [await backend.create(CM + f"ns/{i}", value(str(i))) for i in range(5)]
    await synced(cache, backend)
    oldest_kept = revs[3]
    _, backlog = cache.watch(CM, oldest_kept - 1)  # exactly the oldest event still known: fine
    assert [e.revision for e in backlog] == revs[3:]
    with pytest.raises(errors.ApiError) as e:
        cache.watch(CM, revs[1])
    assert (e.value.code, e.value.reason) == (410, "Expired")
    assert e.value.message == f"too old resource version: {revs[1]} ({oldest_kept - 1})"


async def test_wait_for_a_future_revision_times_out_with_504(cache, backend):
    await backend.create(CM + "ns/a", value("a"))
    await synced(cache, backend)
    with pytest.raises(errors.ApiError) as e:
        await cache.wait_for(cache.revision + 5, timeout=0.05)
    assert e.value.code == 504 and e.value.reason == "Timeout"
    assert e.value.message.startswith(f"Too large resource version: {cache.revision + 5}")


async def test_a_watcher_too_far_behind_is_closed(cache, backend, monkeypatch):
    monkeypatch.setattr(watchcache, "WATCHER_QUEUE_LIMIT", 3)
    slow, _ = cache.watch(CM, None)
    for i in range(5):
        await backend.create(CM + f"ns/{i}", value(str(i)))
    await synced(cache, backend)
    assert slow.closed
    got = []
    while (ev := await slow.next(1)) is not None:
        got.append(ev.revision)
    assert len(got) == 3  # what it had queued, then the end of the stream
    assert slow not in cache._watchers


async def test_relist_closes_watchers_and_forgets_history(cache, backend):
    await backend.create(CM + "ns/a", value("a"))
    await synced(cache, backend)
    watcher, _ = cache.watch(CM, None)
    await backend.create(CM + "ns/b", value("b"))
    await synced(cache, backend)
    rev = await cache._relist()
    assert rev == await backend.current_revision()
    assert [o["metadata"]["name"] for o in cache.list(CM)] == ["a", "b"]
    assert (await watcher.next(1)).key == CM + "ns/b"
    assert await watcher.next(1) is None
    with pytest.raises(errors.ApiError):
        cache.watch(CM, rev - 1)


async def test_stop_ends_every_watch(backend):
    cache = WatchCache(backend)
    await cache.start()
    watcher, _ = cache.watch(CM, None)
    await cache.stop()
    assert await watcher.next(1) is None


async def test_waiters_wake_in_revision_order_as_the_cache_advances(cache, backend):
    start = cache.revision
    woken: list[int] = []

    async def wait(rev: int) -> None:
        await cache.wait_for(rev)
        woken.append(rev)

    tasks = [asyncio.create_task(wait(start + n)) for n in (3, 1, 2)]
    await asyncio.sleep(0)
    for i in range(3):
        await backend.create(CM + f"ns/w{i}", value(f"w{i}"))
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert woken == [start + 1, start + 2, start + 3]
    assert cache._waiters == []


async def test_a_waiter_that_gives_up_is_forgotten(cache, backend):
    with pytest.raises(errors.ApiError):
        await cache.wait_for(cache.revision + 100, timeout=0.05)
    task = asyncio.create_task(cache.wait_for(cache.revision + 100))
    await asyncio.sleep(0.01)
    assert len(cache._waiters) == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert cache._waiters == []
