"""Conformance: many concurrent writers."""

from __future__ import annotations

import asyncio

from kubeling.store.backend import ConflictError


async def test_concurrent_creates_get_distinct_revisions_and_are_all_listed(backend):
    keys = [f"/c/{i:03d}" for i in range(200)]
    revisions = await asyncio.gather(*(backend.create(k, b"x" * 100) for k in keys))
    assert sorted(revisions) == list(range(1, 201))
    assert await backend.current_revision() == 200
    listed = await backend.list("/c/")
    assert [kv.key for kv in listed.kvs] == keys
    assert {kv.key: kv.mod_revision for kv in listed.kvs} == dict(zip(keys, revisions, strict=True))


async def test_concurrent_cas_updates_have_exactly_one_winner(backend):
    rev = await backend.create("/lock", b"free")
    results = await asyncio.gather(
        *(backend.update("/lock", f"holder-{i}".encode(), rev) for i in range(20)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == 19
    assert all(loser.current.mod_revision == winners[0] for loser in losers)


async def test_duplicate_creates_in_one_batch(backend):
    results = await asyncio.gather(*(backend.create("/dup", b"v") for _ in range(10)), return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 1
    assert await backend.current_revision() == 1
