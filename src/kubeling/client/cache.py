"""The informer's local cache: objects by key, with secondary indexes.

An index function maps an object to the index values it should be found under
(`namespace` -> ["default"], `owner` -> owner uids, ...). Lookups by index are
dictionary reads, so controllers can ask "pods owned by this ReplicaSet" cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kubeling.client.base import Obj, object_key

IndexFunc = Callable[[Obj], Iterable[str]]


def by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def by_owner_uid(obj: Obj) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or [] if ref.get("uid")]


def by_label(obj: Obj) -> list[str]:
    """`key=value` for each label: candidates for equality selectors."""
    return [f"{k}={v}" for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()]


def by_node_name(obj: Obj) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


DEFAULT_INDEXERS: dict[str, IndexFunc] = {"namespace": by_namespace, "owner": by_owner_uid, "label": by_label}


class Indexer:
    def __init__(self, indexers: dict[str, IndexFunc] | None = None):
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS if indexers is None else indexers)
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self._indexers[name] = fn
        index: dict[str, set[str]] = {}
        for key, obj in self._items.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def upsert(self, obj: Obj) -> Obj | None:
        """Store obj under its key; returns the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objects: Iterable[Obj]) -> None:
        self._items = {}
        self._indices = {name: {} for name in self._indexers}
        for obj in objects:
            self.upsert(obj)

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def by_index(self, index: str, value: str) -> list[Obj]:
        keys = self._indices[index].get(value, ())
        return [self._items[k] for k in keys]

    def has_index(self, index: str) -> bool:
        return index in self._indices

    def count_by_index(self, index: str, value: str) -> int:
        """len(by_index(index, value)) without building the list: to pick the narrowest index."""
        return len(self._indices[index].get(value, ()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
