"""Informers: list, then watch, keeping a local indexed cache and telling handlers what changed.

The loop is client-go's reflector: list (paged) to fill the cache, then watch from the
list's resourceVersion; a watch that ends is resumed from the last resourceVersion seen
(bookmarks keep it fresh); 410 Gone means that version is compacted away, so relist and
turn the difference into add/update/delete notifications. Handlers run on the event loop
right after the cache changes and must not block; controllers just enqueue keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from kubeling.api.errors import ApiError
from kubeling.api.registry import ResourceType
from kubeling.client.base import Client, Obj, object_key
from kubeling.client.cache import IndexFunc, Indexer
from kubeling.client.clock import REAL, Clock

log = logging.getLogger("kubeling.informer")

LIST_PAGE = 500
MAX_BACKOFF = 30.0


@dataclass
class _Handler:
    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


def _rv(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


class Informer:
    def __init__(self, client: Client, rt: ResourceType, *, namespace: str | None = None,
                 label_selector: str = "", field_selector: str = "", resync_period: float = 0.0,
                 indexers: dict[str, IndexFunc] | None = None, clock: Clock = REAL):
        self.client, self.rt, self.namespace = client, rt, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.resync_period = resync_period
        self.clock = clock
        self.indexer = Indexer(indexers)
        self.resource_version = ""
        self._handlers: list[_Handler] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    # ---- for controllers ------------------------------------------------------------------------

    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> None:
        """Handlers added after the start are told about every object already cached."""
        handler = _Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if on_add is not None:
            for obj in self.indexer.list():
                self._call(on_add, obj)

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self.indexer.add_indexer(name, fn)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    # ---- running --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._run(), name=f"informer-{self.rt.plural}"))
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync(), name=f"resync-{self.rt.plural}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self) -> None:
        backoff = 0.5
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    self._synced.set()
                need_list = await self._watch()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as e:
                message = e.message if isinstance(e, ApiError) else repr(e)
                log.warning("informer %s: %s; retrying in %.1fs", self.rt.plural, message, backoff)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                need_list = need_list or not self.resource_version

    async def _list(self) -> None:
        items: list[Obj] = []
        token, rv = "", ""
        while True:
            page = await self.client.list(self.rt, self.namespace, label_selector=self.label_selector,
                                          field_selector=self.field_selector, limit=LIST_PAGE,
                                          continue_token=token)
            items += page.get("items") or []
            rv = rv or page["metadata"].get("resourceVersion", "")
            token = page["metadata"].get("continue", "")
            if not token:
                break
        self._replace(items)
        self.resource_version = rv

    def _replace(self, items: list[Obj]) -> None:
        """Make the cache equal to a fresh list, notifying the differences."""
        fresh = {object_key(o): o for o in items}
        for key in [k for k in self.indexer.keys() if k not in fresh]:
            gone = self.indexer.remove(key)
            if gone is not None:
                self._notify_delete(gone)
        for obj in items:
            old = self.indexer.upsert(obj)
            if old is None:
                self._notify_add(obj)
            elif _rv(old) != _rv(obj):
                self._notify_update(old, obj)

    async def _watch(self) -> bool:
        """Follow one watch stream; True when the cache must be relisted (410 Gone)."""
        async for ev in self.client.watch(self.rt, self.namespace, resource_version=self.resource_version,
                                          label_selector=self.label_selector,
                                          field_selector=self.field_selector):
            kind, obj = ev.type, ev.object
            if kind == "ERROR":
                if obj.get("code") == 410:
                    log.info("informer %s: resourceVersion %s expired; relisting", self.rt.plural,
                             self.resource_version)
                    return True
                raise ApiError(obj.get("code", 500), obj.get("reason", ""), obj.get("message", ""))
            if kind in ("ADDED", "MODIFIED"):
                old = self.indexer.upsert(obj)
                if old is None:
                    self._notify_add(obj)
                else:
                    self._notify_update(old, obj)
            elif kind == "DELETED":
                self.indexer.remove(object_key(obj))
                self._notify_delete(obj)
            self.resource_version = _rv(obj) or self.resource_version
        return False

    async def _resync(self) -> None:
        """Periodically re-deliver every cached object as an update, so controllers
        reconcile even when nothing changed (a safety net, as in client-go)."""
        while True:
            await self.clock.sleep(self.resync_period)
            if self.has_synced:
                for obj in self.indexer.list():
                    self._notify_update(obj, obj)

    # ---- notification ---------------------------------------------------------------------------

    def _notify_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable, *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("informer %s: handler failed", self.rt.plural)


class InformerFactory:
    """One informer per (resource, namespace, selectors), shared by every controller."""

    def __init__(self, client: Client, *, resync_period: float = 0.0, clock: Clock = REAL):
        self.client = client
        self.resync_period = resync_period
        self.clock = clock
        self._informers: dict[tuple, Informer] = {}
        self._started = False

    def informer(self, rt: ResourceType, *, namespace: str | None = None, label_selector: str = "",
                 field_selector: str = "", indexers: dict[str, IndexFunc] | None = None) -> Informer:
        """The shared informer; `indexers` (default: namespace, owner, label) apply when this
        call creates it, so a component that never looks objects up by index can ask for {}."""
        key = (rt.group, rt.version, rt.plural, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, rt, namespace=namespace, label_selector=label_selector,
                                field_selector=field_selector, resync_period=self.resync_period,
                                indexers=indexers, clock=self.clock)
            self._informers[key] = informer
            if self._started:
                asyncio.get_running_loop().create_task(informer.start())
        return informer

    async def start(self) -> None:
        self._started = True
        for informer in list(self._informers.values()):
            await informer.start()

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        await asyncio.gather(*(i.wait_synced(timeout) for i in list(self._informers.values())))

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
