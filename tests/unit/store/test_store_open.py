"""open_backend: the store URL picks the driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeling.store import open_backend
from kubeling.store.memory import MemoryBackend
from kubeling.store.sqlite import SqliteBackend


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/kubeling/state.db", "/var/lib/kubeling/state.db"),
        ("sqlite://data/state.db", "data/state.db"),
        ("sqlite://state.db", "state.db"),
    ],
)
def test_sqlite_urls_take_everything_after_the_scheme_as_a_path(url, path):
    backend = open_backend(url)
    assert isinstance(backend, SqliteBackend)
    assert backend.path == Path(path)


def test_memory_url_and_options():
    backend = open_backend("memory://", keep_revisions=5)
    assert isinstance(backend, MemoryBackend) and backend.keep_revisions == 5


@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        ("etcd://127.0.0.1:2379", NotImplementedError, "etcd"),
        ("sqlite://", ValueError, "no file path"),
        ("state.db", ValueError, "no scheme"),
        ("redis://x", ValueError, "unknown store URL scheme 'redis'"),
    ],
)
def test_bad_urls(url, error, match):
    with pytest.raises(error, match=match):
        open_backend(url)


async def test_opened_sqlite_backend_works(tmp_path):
    backend = open_backend(f"sqlite://{tmp_path}/sub/state.db")
    await backend.start()
    assert await backend.create("/k", b"v") == 1
    await backend.close()
    assert (tmp_path / "sub" / "state.db").exists()
