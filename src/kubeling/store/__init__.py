"""Revisioned key-value stores with watch: pick a driver by URL."""

from __future__ import annotations

from kubeling.store.backend import Backend


def open_backend(url: str, *, keep_revisions: int = 1000) -> Backend:
    """A (not yet started) backend for `url`; call `await backend.start()` before use.

    sqlite://PATH   everything after `sqlite://` is a file path (sqlite:///abs/state.db, sqlite://rel.db)
    memory://       process-local, lost on exit (tests)
    etcd://...      not implemented yet
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"store URL {url!r} has no scheme (expected sqlite://, memory:// or etcd://)")
    if scheme == "sqlite":
        if not rest:
            raise ValueError(f"store URL {url!r} has no file path")
        from kubeling.store.sqlite import SqliteBackend

        return SqliteBackend(rest, keep_revisions=keep_revisions)
    if scheme == "memory":
        from kubeling.store.memory import MemoryBackend

        return MemoryBackend(keep_revisions=keep_revisions)
    if scheme == "etcd":
        raise NotImplementedError("the etcd store driver is not implemented yet; use sqlite:// or memory://")
    raise ValueError(f"unknown store URL scheme {scheme!r} (expected sqlite://, memory:// or etcd://)")
