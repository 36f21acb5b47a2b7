"""The Backend protocol: a revisioned key-value store with watch, in the spirit of etcd v3 / kine.

One global revision counts every write (create, update, delete). An object's
`metadata.resourceVersion` is the revision of its last write (its mod_revision).
Drivers: sqlite (default), etcd (later), memory (unit tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, `kv.value` is the value that was deleted and
    `kv.mod_revision` the revision of the delete itself."""

    type: str  # "PUT" or "DELETE"
    kv: KeyValue
    prev: KeyValue | None  # the value before this change (None for a create)

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def is_create(self) -> bool:
        return self.type == "PUT" and self.prev is None


@dataclass(frozen=True, slots=True)
class ListResult:
    kvs: list[KeyValue]
    revision: int  # the store revision the list was read at
    more: bool  # True when `limit` cut the list short


class StoreError(Exception):
    pass


class KeyExistsError(StoreError):
    """create() of a key that already exists."""


class KeyNotFoundError(StoreError):
    """update()/delete() of a key that does not exist."""


class ConflictError(StoreError):
    """The compare-and-swap revision did not match; `current` is what is stored now."""

    def __init__(self, current: KeyValue | None):
        super().__init__("revision mismatch")
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the compacted history."""

    def __init__(self, requested: int, compacted: int):
        super().__init__(f"required revision {requested} has been compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StoreError):
    """The requested revision is newer than the store's current revision."""


class Backend(Protocol):
    """What the API server needs of a store. All methods are coroutines except watch()."""

    async def start(self) -> None:
        """Open the store (create tables, start background compaction)."""

    async def close(self) -> None:
        """Flush and close; pending watches end."""

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int:
        """Revisions below this one can no longer be listed or watched from."""

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        """The live value of `key` (at `revision` when > 0), or None."""

    async def list(self, prefix: str, *, start_after: str = "", limit: int = 0, revision: int = 0) -> ListResult:
        """Live keys starting with `prefix`, in key order, strictly after `start_after`.

        limit 0 means no limit. revision 0 means now; older revisions raise
        CompactedError once compacted and FutureRevisionError if not yet written.
        """

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes) -> int:
        """Write a new key; returns the new revision. KeyExistsError if it is live."""

    async def update(self, key: str, value: bytes, expected_mod_revision: int) -> int:
        """Replace `key` only if its mod_revision is `expected_mod_revision` (0: any).

        Returns the new revision. KeyNotFoundError / ConflictError otherwise.
        """

    async def delete(self, key: str, expected_mod_revision: int = 0) -> KeyValue:
        """Delete `key` (only if its mod_revision matches, when non-zero).

        Returns the deleted KeyValue with mod_revision set to the delete's revision.
        """

    def watch(self, prefix: str, from_revision: int) -> AsyncIterator[list[Event]]:
        """Events for keys under `prefix` with revision > from_revision, in revision order,
        delivered in batches. Raises CompactedError (on first iteration) if from_revision
        is older than the compacted revision. Ends when the store closes."""

    async def compact(self, revision: int) -> None:
        """Forget history below `revision` (live values are kept; `revision` itself stays readable, as in etcd)."""
