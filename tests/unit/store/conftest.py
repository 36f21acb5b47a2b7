"""The drivers every conformance test runs against; append an etcd entry here when it exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeling.store.backend import Backend
from kubeling.store.memory import MemoryBackend
from kubeling.store.sqlite import SqliteBackend


@dataclass(frozen=True)
class Driver:
    name: str
    make: Callable[[Path, int], Backend]  # (scratch dir, keep_revisions) -> a backend, not started
    durable: bool  # reopening on the same scratch dir sees the same data


DRIVERS = [
    Driver("memory", lambda d, keep: MemoryBackend(keep_revisions=keep), durable=False),
    Driver("sqlite", lambda d, keep: SqliteBackend(d / "state.db", keep_revisions=keep), durable=True),
]


@pytest.fixture(params=DRIVERS, ids=lambda d: d.name)
def driver(request: pytest.FixtureRequest) -> Driver:
    return request.param


@pytest.fixture
async def open_store(driver: Driver, tmp_path: Path):
    """Open (or reopen) a started store in this test's scratch dir; all are closed at teardown."""
    opened: list[Backend] = []

    async def _open(keep_revisions: int = 1000) -> Backend:
        backend = driver.make(tmp_path, keep_revisions)
        await backend.start()
        opened.append(backend)
        return backend

    yield _open
    for backend in opened:
        await backend.close()


@pytest.fixture
async def backend(open_store) -> Backend:
    return await open_store()
