"""A Client that calls a kubeling API server's storage layer in the same process.

Same validation, defaulting, selectors, watch semantics and ApiErrors as over HTTPS, with
no sockets: fast enough for unit tests of controllers. Objects are deep-copied at the
boundary, so callers own what they get, as with JSON off the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from kubeling.api import errors, selectors
from kubeling.api.registry import ResourceType
from kubeling.apiserver import listing
from kubeling.apiserver.storage import ResourceStore, WriteOptions
from kubeling.apiserver.watchcache import WatchCache
from kubeling.client.base import PATCH_CONTENT_TYPES, Obj, WatchEvent, json_copy
from kubeling.store import open_backend


class LocalClient:
    def __init__(self, store: ResourceStore, owns_store: bool = False):
        self.store = store
        self._owns_store = owns_store

    @classmethod
    async def start(cls, store_url: str = "memory://") -> LocalClient:
        """A fresh in-memory API server (with the system namespaces) and a client for it."""
        from kubeling.apiserver.server import bootstrap

        backend = open_backend(store_url)
        await backend.start()
        cache = WatchCache(backend)
        await cache.start()
        store = ResourceStore(backend, cache)
        await bootstrap(store)
        return cls(store, owns_store=True)

    async def close(self) -> None:
        if self._owns_store:
            await self.store.cache.stop()
            await self.store.backend.close()

    # ---- reads ----------------------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str = "") -> Obj:
        if subresource not in ("", "status"):
            raise errors.method_not_allowed(f"subresource {subresource} is not served by the local client")
        return json_copy(await self.store.get(rt, namespace, name))

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> Obj:
        opts = _list_options(label_selector, field_selector, limit, continue_token, resource_version)
        items, rv, cont, remaining = await listing.list_objects(self.store, rt, namespace, opts)
        body = listing.list_body(rt, items, rv, cont, remaining, False, "")
        return orjson.loads(body)  # one encode/decode: a deep copy, shaped as on the wire

    def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str = "",
              label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0,
              allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent]:
        opts = _list_options(label_selector, field_selector, 0, "", resource_version)
        return self._watch(rt, namespace, opts, allow_bookmarks, timeout_seconds or listing.DEFAULT_WATCH_TIMEOUT)

    async def _watch(self, rt: ResourceType, namespace: str | None, opts: listing.ListOptions,
                     bookmarks: bool, timeout: float) -> AsyncIterator[WatchEvent]:
        events = listing.watch_events(self.store, rt, namespace, opts, bookmarks=bookmarks, timeout=timeout)
        try:
            async for batch in events:
                for kind, obj in batch:
                    yield WatchEvent(type=kind, object=json_copy(obj))
        finally:
            await events.aclose()

    # ---- writes ---------------------------------------------------------------------------------

    async def create(self, rt: ResourceType, namespace: str | None, obj: Obj, *, subresource: str = "",
                     name: str = "", dry_run: bool = False) -> Obj:
        opts = WriteOptions(dry_run=dry_run)
        if subresource == "binding":
            return await self._bind(rt, namespace, name, obj, opts)
        if subresource:
            raise errors.method_not_allowed(f"subresource {subresource} is not served by the local client")
        result = await self.store.create(rt, namespace, json_copy(obj), opts)
        return json_copy(result.object)

    async def update(self, rt: ResourceType, obj: Obj, *, subresource: str = "", dry_run: bool = False) -> Obj:
        md = obj.get("metadata") or {}
        if subresource == "finalize":
            from kubeling.apiserver.resources import finalize_namespace

            result = await self.store.mutate(rt, None, md.get("name", ""), finalize_namespace(obj),
                                             WriteOptions(dry_run=dry_run), subresource="finalize")
            return json_copy(result.object)
        result = await self.store.update(rt, md.get("namespace"), md.get("name", ""), json_copy(obj),
                                         WriteOptions(dry_run=dry_run), subresource)
        return json_copy(result.object)

    async def patch(self, rt: ResourceType, namespace: str | None, name: str, patch: Any, *,
                    patch_type: str = "merge", subresource: str = "", dry_run: bool = False) -> Obj:
        content_type = PATCH_CONTENT_TYPES[patch_type]
        opts = WriteOptions(dry_run=dry_run)
        if subresource == "scale":
            raise errors.method_not_allowed("patch the parent's spec.replicas instead of scale in-process")
        result = await self.store.patch(rt, namespace, name, content_type, orjson.dumps(patch), opts, subresource)
        return json_copy(result.object)

    async def delete(self, rt: ResourceType, namespace: str | None, name: str, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Obj | None = None, dry_run: bool = False) -> Obj:
        options: dict[str, Any] = {}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        obj, _ = await self.store.delete(rt, namespace, name, options, dry_run)
        return json_copy(obj)

    async def _bind(self, rt: ResourceType, namespace: str | None, name: str, binding: Obj,
                    opts: WriteOptions) -> Obj:
        # The same server-side mutation as POST pods/NAME/binding.
        from kubeling.apiserver.resources import bind_pod

        await self.store.mutate(rt, namespace, name, bind_pod(name, binding), opts, subresource="binding")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _list_options(label_selector: str, field_selector: str, limit: int, continue_token: str,
                  resource_version: str) -> listing.ListOptions:
    return listing.ListOptions(
        label=selectors.parse_label_selector(label_selector) if label_selector else None,
        field=selectors.parse_field_selector(field_selector) if field_selector else None,
        limit=limit, continue_token=continue_token, resource_version=resource_version, rv_match="")
