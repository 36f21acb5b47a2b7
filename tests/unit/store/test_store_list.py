"""Conformance: list, count and reads at a past revision."""

from __future__ import annotations

import pytest

from kubeling.store.backend import CompactedError, FutureRevisionError


async def fill(backend, keys):
    for key in keys:
        await backend.create(key, key.encode())


def keys_of(result):
    return [kv.key for kv in result.kvs]


async def test_list_is_key_ordered_and_prefix_isolated(backend):
    await fill(backend, ["/a/z", "/ab/1", "/a/b", "/a", "/a/a/x", "/b/1", "/a/\u00e9", "/a/~"])
    result = await backend.list("/a/")
    assert keys_of(result) == ["/a/a/x", "/a/b", "/a/z", "/a/~", "/a/\u00e9"]
    assert result.revision == 8 and not result.more
    assert keys_of(await backend.list("")) == sorted(
        ["/a/z", "/ab/1", "/a/b", "/a", "/a/a/x", "/b/1", "/a/\u00e9", "/a/~"]
    )
    assert await backend.count("/a/") == 5
    assert await backend.count("/ab/") == 1
    assert await backend.count("/c/") == 0


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10])
async def test_paging_with_limit_and_start_after(backend, limit):
    keys = [f"/p/{i:02d}" for i in range(7)]
    await fill(backend, keys + ["/q/0"])
    seen, after, pages = [], "", 0
    while True:
        page = await backend.list("/p/", start_after=after, limit=limit, revision=8)
        assert len(page.kvs) <= limit
        seen += keys_of(page)
        pages += 1
        if not page.more:
            break
        after = page.kvs[-1].key
    assert seen == keys
    assert pages == -(-7 // limit)  # `more` is exact: no empty trailing page


async def test_more_is_exact_at_the_boundary(backend):
    await fill(backend, ["/p/1", "/p/2"])
    assert (await backend.list("/p/", limit=2)).more is False
    assert (await backend.list("/p/", limit=1)).more is True
    assert (await backend.list("/p/", start_after="/p/1", limit=1)).more is False


async def test_start_after_below_prefix_is_ignored(backend):
    await fill(backend, ["/a/1", "/p/1", "/p/2"])
    assert keys_of(await backend.list("/p/", start_after="/a/9")) == ["/p/1", "/p/2"]


async def test_list_and_get_at_past_revision(backend):
    await backend.create("/p/a", b"a1")  # 1
    await backend.create("/p/b", b"b1")  # 2
    await backend.update("/p/a", b"a2", 1)  # 3
    await backend.delete("/p/b")  # 4
    await backend.create("/p/c", b"c1")  # 5
    table = {
        1: {"/p/a": b"a1"},
        2: {"/p/a": b"a1", "/p/b": b"b1"},
        3: {"/p/a": b"a2", "/p/b": b"b1"},
        4: {"/p/a": b"a2"},
        5: {"/p/a": b"a2", "/p/c": b"c1"},
    }
    for rev, want in table.items():
        result = await backend.list("/p/", revision=rev)
        assert {kv.key: kv.value for kv in result.kvs} == want, rev
        assert result.revision == rev
        for key in ("/p/a", "/p/b", "/p/c"):
            kv = await backend.get(key, revision=rev)
            assert (kv.value if kv else None) == want.get(key), (rev, key)
    a_at_3 = await backend.get("/p/a", revision=3)
    assert (a_at_3.create_revision, a_at_3.mod_revision) == (1, 3)
    paged = await backend.list("/p/", revision=3, limit=1)
    assert keys_of(paged) == ["/p/a"] and paged.more


async def test_future_revision(backend):
    await backend.create("/k", b"v")
    with pytest.raises(FutureRevisionError):
        await backend.list("/", revision=2)
    with pytest.raises(FutureRevisionError):
        await backend.get("/k", revision=5)
    with pytest.raises(FutureRevisionError):
        await backend.compact(9)


async def test_reads_below_compacted_revision_fail(backend):
    await backend.create("/k", b"v1")  # 1
    await backend.update("/k", b"v2", 1)  # 2
    await backend.update("/k", b"v3", 2)  # 3
    await backend.compact(2)
    assert await backend.compacted_revision() == 2
    with pytest.raises(CompactedError) as err:
        await backend.list("/", revision=1)
    assert (err.value.requested, err.value.compacted) == (1, 2)
    with pytest.raises(CompactedError):
        await backend.get("/k", revision=1)
    # The compacted revision itself is still readable (as etcd), and so is now.
    assert (await backend.get("/k", revision=2)).value == b"v2"
    assert (await backend.get("/k")).value == b"v3"
