"""Conformance for durable drivers: a reopened store keeps its data and its revision counter."""

from __future__ import annotations

import pytest

from kubeling.store.backend import CompactedError, KeyValue


@pytest.fixture(autouse=True)
def durable_only(driver):
    if not driver.durable:
        pytest.skip(f"{driver.name} is not durable")


async def test_reopen_keeps_live_data_and_continues_revisions(open_store):
    first = await open_store()
    await first.create("/k/a", b"a")  # 1
    await first.create("/k/b", b"b")  # 2
    await first.update("/k/a", b"a2", 1)  # 3
    await first.delete("/k/b")  # 4
    await first.close()

    second = await open_store()
    assert await second.current_revision() == 4
    assert await second.get("/k/a") == KeyValue("/k/a", b"a2", 1, 3)
    assert await second.get("/k/b") is None
    assert (await second.list("/k/", revision=2)).kvs[1].key == "/k/b"  # history survives too
    assert await second.create("/k/c", b"c") == 5


async def test_revisions_never_go_back_after_compacting_the_newest_write(open_store):
    first = await open_store()
    await first.create("/k", b"v")  # 1
    await first.delete("/k")  # 2: the newest row is a tombstone, which compaction removes
    await first.compact(2)
    await first.close()

    second = await open_store()
    assert await second.current_revision() == 2
    assert await second.compacted_revision() == 2
    with pytest.raises(CompactedError):
        await second.list("/", revision=1)
    assert await second.create("/k", b"again") == 3
