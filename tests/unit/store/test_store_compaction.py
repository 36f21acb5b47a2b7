"""Conformance: explicit and automatic compaction."""

from __future__ import annotations

import pytest

from kubeling.store.backend import CompactedError


async def test_compaction_keeps_live_values_and_forgets_deleted_keys(backend):
    await backend.create("/k/live", b"1")  # 1
    await backend.create("/k/gone", b"x")  # 2
    await backend.update("/k/live", b"2", 1)  # 3
    await backend.delete("/k/gone")  # 4
    await backend.compact(4)
    assert (await backend.get("/k/live")).value == b"2"
    assert await backend.get("/k/gone") is None
    assert [kv.key for kv in (await backend.list("/k/", revision=4)).kvs] == ["/k/live"]
    assert await backend.count("/k/") == 1
    assert await backend.history_size() <= 2  # one live row (memory also keeps no events)


async def test_compact_is_idempotent_and_never_goes_back(backend):
    for i in range(5):
        await backend.create(f"/k/{i}", b"v")
    await backend.compact(4)
    await backend.compact(2)
    assert await backend.compacted_revision() == 4
    with pytest.raises(CompactedError):
        await backend.list("/k/", revision=3)


@pytest.mark.parametrize("keep", [10, 100])
async def test_lease_churn_keeps_history_bounded(open_store, keep):
    """A Lease renewed forever must not grow the store: automatic compaction trims it."""
    backend = await open_store(keep_revisions=keep)
    for i in range(20):
        await backend.create(f"/leases/node-{i}", b"lease")
    rev = await backend.current_revision()
    for _ in range(30):
        for i in range(20):
            kv = await backend.get(f"/leases/node-{i}")
            rev = await backend.update(kv.key, b"renewed" * 10, kv.mod_revision)
    assert rev == 620
    size = await backend.history_size()
    # live rows + at most `keep` revisions + one compaction step of slack, far below 620
    assert size <= 20 + 2 * (keep + max(1, keep // 10) + 1), size
    compacted = await backend.compacted_revision()
    assert rev - compacted <= keep + 2 * max(1, keep // 10) + 1
    # The last `keep` revisions are always retained; what is compacted stays compacted.
    with pytest.raises(CompactedError):
        await anext(backend.watch("/leases/", compacted - 1))
    assert len((await backend.list("/leases/", revision=rev - keep)).kvs) == 20
    watch = backend.watch("/leases/", rev - keep)
    assert (await anext(watch))[0].revision == rev - keep + 1
    await watch.aclose()


async def test_zero_keep_disables_automatic_compaction(open_store):
    backend = await open_store(keep_revisions=0)
    await backend.create("/k", b"v")
    for rev in range(1, 200):
        await backend.update("/k", b"v", rev)
    assert await backend.compacted_revision() == 0
    assert len((await backend.list("/", revision=1)).kvs) == 1
