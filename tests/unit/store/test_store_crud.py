"""Conformance: create / get / update (CAS) / delete and the global revision."""

from __future__ import annotations

import pytest

from kubeling.store.backend import ConflictError, KeyExistsError, KeyNotFoundError, KeyValue


async def test_create_returns_increasing_revisions_and_get_reads_back(backend):
    assert await backend.current_revision() == 0
    r1 = await backend.create("/pods/a", b"one")
    r2 = await backend.create("/pods/b", b"two")
    assert (r1, r2) == (1, 2)
    assert await backend.current_revision() == 2
    assert await backend.get("/pods/a") == KeyValue("/pods/a", b"one", 1, 1)
    assert await backend.get("/pods/missing") is None


async def test_create_of_live_key_fails_but_recreate_after_delete_works(backend):
    await backend.create("/k", b"v1")
    with pytest.raises(KeyExistsError):
        await backend.create("/k", b"v2")
    await backend.delete("/k")
    rev = await backend.create("/k", b"v3")
    assert await backend.get("/k") == KeyValue("/k", b"v3", rev, rev)


@pytest.mark.parametrize("expected", [0, 1], ids=["unconditional", "matching"])
async def test_update_keeps_create_revision(backend, expected):
    await backend.create("/k", b"v1")
    rev = await backend.update("/k", b"v2", expected)
    assert rev == 2
    assert await backend.get("/k") == KeyValue("/k", b"v2", 1, 2)


async def test_update_conflict_carries_current_value(backend):
    await backend.create("/k", b"v1")
    await backend.update("/k", b"v2", 1)
    with pytest.raises(ConflictError) as err:
        await backend.update("/k", b"v3", 1)
    assert err.value.current == KeyValue("/k", b"v2", 1, 2)
    assert await backend.current_revision() == 2  # a failed write does not consume a revision


@pytest.mark.parametrize("expected", [0, 7])
async def test_update_and_delete_of_missing_key(backend, expected):
    with pytest.raises(KeyNotFoundError):
        await backend.update("/nope", b"v", expected)
    with pytest.raises(KeyNotFoundError):
        await backend.delete("/nope", expected)


async def test_delete_returns_deleted_value_at_delete_revision(backend):
    await backend.create("/k", b"v1")
    await backend.create("/other", b"x")
    deleted = await backend.delete("/k")
    assert deleted == KeyValue("/k", b"v1", 1, 3)
    assert await backend.get("/k") is None
    assert await backend.current_revision() == 3


async def test_conditional_delete(backend):
    await backend.create("/k", b"v1")
    await backend.update("/k", b"v2", 1)
    with pytest.raises(ConflictError) as err:
        await backend.delete("/k", expected_mod_revision=1)
    assert err.value.current.mod_revision == 2
    assert await backend.get("/k") is not None
    deleted = await backend.delete("/k", expected_mod_revision=2)
    assert (deleted.value, deleted.mod_revision) == (b"v2", 3)


async def test_values_are_bytes(backend):
    with pytest.raises(TypeError):
        await backend.create("/k", "not bytes")
    await backend.create("/k", bytearray(b"ok"))
    assert (await backend.get("/k")).value == b"ok"
