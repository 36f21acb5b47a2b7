"""LIST and WATCH: selectors, pagination, resourceVersion semantics, and the watch stream."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from kubeling.api import errors, selectors, tables
from kubeling.api.registry import ResourceType
from kubeling.apiserver import request as req
from kubeling.apiserver.storage import ResourceStore
from kubeling.apiserver.watchcache import CacheEvent, decode
from kubeling.store.backend import CompactedError, FutureRevisionError

DEFAULT_WATCH_TIMEOUT = 1800  # seconds; kube-apiserver picks 30-60 min
BOOKMARK_INTERVAL = 30.0


@dataclass
class ListOptions:
    label: selectors.LabelSelector | None
    field: selectors.FieldSelector | None
    limit: int
    continue_token: str
    resource_version: str
    rv_match: str

    @classmethod
    def from_request(cls, request: web.Request) -> ListOptions:
        q = request.query
        label = selectors.parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        field = selectors.parse_field_selector(q["fieldSelector"]) if q.get("fieldSelector") else None
        limit = req.query_int(request, "limit") or 0
        return cls(label, field, max(limit, 0), q.get("continue", ""), q.get("resourceVersion", ""),
                   q.get("resourceVersionMatch", ""))


def matcher(rt: ResourceType, opts: ListOptions) -> Callable[[dict[str, Any]], bool]:
    label, field = opts.label, opts.field
    if field is not None:
        field = selectors.check_field_selector(rt, field)
    if (label is None or label.empty) and (field is None or field.empty):
        return lambda obj: True
    return lambda obj: selectors.matches(rt, obj, label, field)


def _encode_continue(revision: int, start_after: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_after})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        return int(data["rv"]), str(data["start"])
    except Exception:
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)") from None


async def list_objects(store: ResourceStore, rt: ResourceType, namespace: str | None,
                       opts: ListOptions) -> tuple[list[dict[str, Any]], str, str, int | None]:
    """(items, list resourceVersion, continue token, remainingItemCount)."""
    prefix = rt.storage_prefix(namespace)
    match = matcher(rt, opts)
    if opts.continue_token:
        if opts.resource_version not in ("", "0"):
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        revision, start_after = _decode_continue(opts.continue_token)
        return await _list_from_store(store, rt, prefix, revision, start_after, opts.limit, match)
    if opts.rv_match == "Exact" and opts.resource_version not in ("", "0"):
        return await _list_from_store(store, rt, prefix, _rv(opts.resource_version), "", opts.limit, match)
    if opts.resource_version == "":
        await store.consistent()
    elif opts.resource_version != "0":
        await store.cache.wait_for(_rv(opts.resource_version))
    revision = store.cache.revision
    if not opts.limit:
        return [o for o in store.cache.list(prefix) if match(o)], str(revision), "", None
    items: list[dict[str, Any]] = []
    keyed = store.cache.list_after(prefix, "")
    for i, (key, obj) in enumerate(keyed):
        if match(obj):
            items.append(obj)
            if len(items) == opts.limit:
                remaining = sum(1 for _, o in keyed[i + 1:] if match(o))
                if remaining == 0:
                    break
                return items, str(revision), _encode_continue(revision, key), remaining
    return items, str(revision), "", None


async def _list_from_store(store: ResourceStore, rt: ResourceType, prefix: str, revision: int, start_after: str,
                           limit: int, match) -> tuple[list[dict[str, Any]], str, str, int | None]:
    """A page at an older revision comes from the store's history (410 once compacted)."""
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = await store.backend.list(prefix, start_after=start_after, limit=max(limit, 1) if limit else 0,
                                            revision=revision)
            for kv in page.kvs:
                start_after = kv.key
                obj = decode(kv)
                if match(obj):
                    items.append(obj)
                    if limit and len(items) == limit:
                        more = page.more or kv is not page.kvs[-1]
                        return items, str(revision), _encode_continue(revision, kv.key) if more else "", None
            if not page.more:
                return items, str(revision), "", None
    except CompactedError:
        raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                          "You can start a new list without the continue parameter, or use the continue token "
                          "in this response to retrieve the remainder of the results.") from None
    except FutureRevisionError:
        raise errors.ApiError(504, "Timeout", f"Too large resource version: {revision}") from None


def _rv(value: str) -> int:
    try:
        rv = int(value)
        if rv < 0:
            raise ValueError
        return rv
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{value}"') from None


def list_body(rt: ResourceType, items: list[dict[str, Any]], rv: str, cont: str, remaining: int | None,
              as_table: bool, include_object: str) -> bytes:
    if as_table:
        return orjson.dumps(tables.table(rt, items, resource_version=rv, continue_token=cont,
                                         include_object=include_object))
    md: dict[str, Any] = {"resourceVersion": rv}
    if cont:
        md["continue"] = cont
    if remaining is not None:
        md["remainingItemCount"] = remaining
    return orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": md, "items": items})


# ---- watch ---------------------------------------------------------------------------------------


async def serve_watch(request: web.Request, store: ResourceStore, rt: ResourceType, namespace: str | None,
                      opts: ListOptions) -> web.StreamResponse:
    match = matcher(rt, opts)
    prefix = rt.storage_prefix(namespace)
    q = request.query
    bookmarks = req.query_bool(request, "allowWatchBookmarks")
    initial_end = req.query_bool(request, "sendInitialEvents")
    timeout = req.query_int(request, "timeoutSeconds") or DEFAULT_WATCH_TIMEOUT
    as_table = req.wants_table(request)
    include_object = q.get("includeObject", "Metadata")
    rv = opts.resource_version
    initial: list[dict[str, Any]] = []
    if rv in ("", "0"):
        if rv == "":
            await store.consistent()
        initial = [o for o in store.cache.list(prefix) if match(o)]
        watcher, backlog = store.cache.watch(prefix, None)
        start_rv = store.cache.revision
    else:
        wanted = _rv(rv)
        await store.cache.wait_for(wanted)
        watcher, backlog = store.cache.watch(prefix, wanted)
        start_rv = wanted
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    await response.prepare(request)

    def frame(kind: str, obj: dict[str, Any]) -> bytes:
        if as_table and kind != "BOOKMARK":
            obj = tables.table(rt, [obj], include_object=include_object)
        return orjson.dumps({"type": kind, "object": obj}) + b"\n"

    def bookmark(revision: int, end_of_initial: bool = False) -> bytes:
        md: dict[str, Any] = {"resourceVersion": str(revision)}
        if end_of_initial:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return frame("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md})

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        chunk = b"".join(frame("ADDED", o) for o in initial)
        if initial_end and bookmarks:
            chunk += bookmark(start_rv, True)
        if chunk:
            await response.write(chunk)
        for ev in backlog:
            out = _filtered(ev, match)
            if out:
                await response.write(frame(*out))
        last_bookmark = loop.time()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            wait = min(remaining, BOOKMARK_INTERVAL) if bookmarks else remaining
            try:
                ev = await watcher.next(wait)
            except TimeoutError:
                if bookmarks and loop.time() - last_bookmark >= BOOKMARK_INTERVAL - 0.01:
                    await response.write(bookmark(store.cache.revision))
                    last_bookmark = loop.time()
                continue
            if ev is None:
                break
            out = _filtered(ev, match)
            if out:
                parts = [frame(*out)]
                # Drain what is already queued into one write.
                while not watcher.queue.empty():
                    nxt = watcher.queue.get_nowait()
                    if nxt is None:
                        watcher.closed = True
                        break
                    more = _filtered(nxt, match)
                    if more:
                        parts.append(frame(*more))
                await response.write(b"".join(parts))
                if watcher.closed:
                    break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watcher.close()
    try:
        await response.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass
    return response


def _filtered(ev: CacheEvent, match) -> tuple[str, dict[str, Any]] | None:
    """The event as this watcher sees it: an object that starts (stops) matching the
    selectors is ADDED (DELETED) for it, as in kube-apiserver."""
    now = match(ev.object)
    if ev.type == "MODIFIED":
        before = ev.prev is not None and match(ev.prev)
        if now and before:
            return "MODIFIED", ev.object
        if now:
            return "ADDED", ev.object
        if before:
            return "DELETED", ev.object
        return None
    return (ev.type, ev.object) if now else None
