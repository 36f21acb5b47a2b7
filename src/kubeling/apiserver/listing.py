"""LIST and WATCH: selectors, pagination, resourceVersion semantics, and the watch stream."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
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
DISCONNECT_CHECK = 1.0  # seconds between checks that a quiet watch's client is still there


@dataclass
class ListOptions:
    label: selectors.LabelSelector | None
    field: selectors.FieldSelector | None
    limit: int
    continue_token: str
    resource_version: str
    rv_match: str
    send_initial_events: bool | None = None  # None: not given

    @classmethod
    def from_request(cls, request: web.Request) -> ListOptions:
        q = request.query
        label = selectors.parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        field = selectors.parse_field_selector(q["fieldSelector"]) if q.get("fieldSelector") else None
        limit = req.query_int(request, "limit") or 0
        send_initial = req.query_bool(request, "sendInitialEvents") if "sendInitialEvents" in q else None
        opts = cls(label, field, max(limit, 0), q.get("continue", ""), q.get("resourceVersion", ""),
                   q.get("resourceVersionMatch", ""), send_initial)
        opts.validate(req.query_bool(request, "watch"))
        return opts

    @property
    def filtered(self) -> bool:
        return not ((self.label is None or self.label.empty) and (self.field is None or self.field.empty))

    def validate(self, watch: bool) -> None:
        """The combinations kube-apiserver refuses (422 Invalid ListOptions)."""
        causes = _watch_option_causes(self) if watch else _list_option_causes(self)
        if causes:
            raise errors.invalid("ListOptions", "", causes, "meta.k8s.io")


def _forbidden(field: str, why: str) -> dict[str, str]:
    return errors.field_cause(field, f"Forbidden: {why}", "FieldValueForbidden")


def _unsupported(field: str, value: str, supported: list[str]) -> dict[str, str]:
    listed = ", ".join(f'"{v}"' for v in supported)
    return errors.field_cause(field, f'Unsupported value: "{value}": supported values: {listed}',
                              "FieldValueNotSupported")


def _list_option_causes(o: ListOptions) -> list[dict[str, str]]:
    causes = []
    match = o.rv_match
    if match:
        if not o.resource_version:
            causes.append(_forbidden("resourceVersionMatch",
                                     "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if o.continue_token:
            causes.append(_forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
        if match not in ("Exact", "NotOlderThan"):
            causes.append(_unsupported("resourceVersionMatch", match, ["Exact", "NotOlderThan", ""]))
        if match == "Exact" and o.resource_version == "0":
            causes.append(_forbidden("resourceVersionMatch",
                                     'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if o.send_initial_events is not None:
        causes.append(_forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return causes


def _watch_option_causes(o: ListOptions) -> list[dict[str, str]]:
    causes = []
    match = o.rv_match
    if o.send_initial_events is not None and match != "NotOlderThan":
        causes.append(_forbidden("resourceVersionMatch",
                                 "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
    if match:
        if o.send_initial_events is None:
            causes.append(_forbidden("resourceVersionMatch",
                                     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
        if match != "NotOlderThan":
            causes.append(_unsupported("resourceVersionMatch", match, ["NotOlderThan"]))
        if o.continue_token:
            causes.append(_forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
    return causes


def matcher(rt: ResourceType, opts: ListOptions) -> Callable[[dict[str, Any]], bool]:
    label, field = opts.label, opts.field
    if field is not None:
        field = selectors.check_field_selector(rt, field)
    if (label is None or label.empty) and (field is None or field.empty):
        return lambda obj: True
    return lambda obj: selectors.matches(rt, obj, label, field)


# A continue token at this revision lists from the newest state: kube-apiserver hands such an
# "inconsistent" token out with the 410 for an expired one.
LATEST = -1

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list.")
LIST_EXPIRED = "The resourceVersion for the provided list is too old."


class ExpiredContinue(errors.ApiError):
    """410 Expired for an expired continue token, carrying the token to go on inconsistently."""

    def __init__(self, token: str):
        super().__init__(410, "Expired", CONTINUE_EXPIRED)
        self.token = token

    def status(self) -> dict[str, Any]:
        status = super().status()
        status["metadata"] = {"continue": self.token}
        return status


def _encode_continue(revision: int, start_after: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_after})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        revision, start = int(data["rv"]), str(data["start"])
    except Exception:
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)") from None
    if revision == 0 or revision < LATEST:
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)")
    return revision, start


async def list_objects(store: ResourceStore, rt: ResourceType, namespace: str | None,
                       opts: ListOptions) -> tuple[list[dict[str, Any]], str, str, int | None]:
    """(items, list resourceVersion, continue token, remainingItemCount)."""
    prefix = rt.storage_prefix(namespace)
    match = matcher(rt, opts)
    if opts.continue_token:
        if opts.resource_version not in ("", "0"):
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        revision, start_after = _decode_continue(opts.continue_token)
        if revision == LATEST:
            await store.consistent()
            return _page_from_cache(store, prefix, start_after, opts, match)
        return await _list_from_store(store, prefix, revision, start_after, opts, match)
    if opts.rv_match == "Exact" and opts.resource_version not in ("", "0"):
        return await _list_from_store(store, prefix, _rv(opts.resource_version), "", opts, match)
    if opts.resource_version == "":
        await store.consistent()
    elif opts.resource_version != "0":
        await store.cache.wait_for(_rv(opts.resource_version))
    if not opts.limit:
        return [o for o in store.cache.list(prefix) if match(o)], str(store.cache.revision), "", None
    return _page_from_cache(store, prefix, "", opts, match)


def _page_from_cache(store: ResourceStore, prefix: str, start_after: str, opts: ListOptions,
                     match) -> tuple[list[dict[str, Any]], str, str, int | None]:
    revision = store.cache.revision
    items: list[dict[str, Any]] = []
    keyed = store.cache.list_after(prefix, start_after)
    for i, (key, obj) in enumerate(keyed):
        if match(obj):
            items.append(obj)
            if len(items) == opts.limit:
                rest = keyed[i + 1:]
                if not any(match(o) for _, o in rest):
                    break
                # Like etcd, Kubernetes counts what is left only when nothing filters it.
                remaining = None if opts.filtered else len(rest)
                return items, str(revision), _encode_continue(revision, key), remaining
    return items, str(revision), "", None


async def _list_from_store(store: ResourceStore, prefix: str, revision: int, start_after: str,
                           opts: ListOptions, match) -> tuple[list[dict[str, Any]], str, str, int | None]:
    """A page at an older revision comes from the store's history (410 once compacted)."""
    items: list[dict[str, Any]] = []
    limit = opts.limit
    start = start_after
    try:
        while True:
            page = await store.backend.list(prefix, start_after=start, limit=max(limit, 1) if limit else 0,
                                            revision=revision)
            for kv in page.kvs:
                start = kv.key
                obj = decode(kv)
                if match(obj):
                    items.append(obj)
                    if limit and len(items) == limit:
                        more = page.more or kv is not page.kvs[-1]
                        if not more:
                            return items, str(revision), "", None
                        remaining = None
                        if not opts.filtered:
                            rest = await store.backend.list(prefix, start_after=kv.key, revision=revision)
                            remaining = len(rest.kvs)
                        return items, str(revision), _encode_continue(revision, kv.key), remaining
            if not page.more:
                return items, str(revision), "", None
    except CompactedError:
        if opts.continue_token:
            raise ExpiredContinue(_encode_continue(LATEST, start_after)) from None
        raise errors.gone(LIST_EXPIRED) from None
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


async def watch_events(store: ResourceStore, rt: ResourceType, namespace: str | None, opts: ListOptions, *,
                       bookmarks: bool, timeout: float,
                       client_gone: Callable[[], bool] = lambda: False) -> AsyncIterator[list[tuple[str, dict]]]:
    """A watch as batches of (type, object), whatever carries it (HTTP stream, in-process client).

    A watch that cannot start (too old or too new a resourceVersion) yields one ERROR event
    holding the Status, as kube-apiserver reports it inside a 200 stream."""
    match = matcher(rt, opts)
    prefix = rt.storage_prefix(namespace)
    rv = opts.resource_version
    wanted = _rv(rv) if rv not in ("", "0") else None  # a malformed resourceVersion is a plain 400
    # Without sendInitialEvents, a watch from "now" still starts with the current state (legacy watch).
    send_initial = opts.send_initial_events if opts.send_initial_events is not None else wanted is None
    initial: list[dict[str, Any]] = []
    try:
        if rv == "":
            await store.consistent()
        elif wanted is not None:
            await store.cache.wait_for(wanted)
        if send_initial or wanted is None:
            if send_initial:
                initial = [o for o in store.cache.list(prefix) if match(o)]
            watcher, backlog = store.cache.watch(prefix, None)
            start_rv = store.cache.revision
        else:
            watcher, backlog = store.cache.watch(prefix, wanted)
            start_rv = wanted
    except errors.ApiError as e:
        yield [("ERROR", e.status())]
        return

    def bookmark(revision: int, end_of_initial: bool = False) -> tuple[str, dict]:
        md: dict[str, Any] = {"resourceVersion": str(revision)}
        if end_of_initial:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return "BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": md}

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = _next_bookmark(loop.time(), deadline) if bookmarks else None
    try:
        first = [("ADDED", o) for o in initial]
        if opts.send_initial_events and bookmarks:
            first.append(bookmark(start_rv, True))
        first += [out for out in map(lambda ev: _filtered(ev, match), backlog) if out]
        if first:
            yield first
        while True:
            now = loop.time()
            remaining = deadline - now
            if remaining <= 0:
                return
            wait = remaining if next_bookmark is None else max(0.0, min(remaining, next_bookmark - now))
            try:
                ev = await watcher.next(min(wait, DISCONNECT_CHECK))
            except TimeoutError:
                if client_gone():
                    return
                if next_bookmark is not None and loop.time() >= next_bookmark - 0.01:
                    yield [bookmark(store.cache.revision)]
                    next_bookmark = _next_bookmark(loop.time(), deadline)
                continue
            if ev is None:
                return
            batch = []
            out = _filtered(ev, match)
            if out:
                batch.append(out)
            # Take what is already queued in the same batch.
            while not watcher.queue.empty():
                nxt = watcher.queue.get_nowait()
                if nxt is None:
                    watcher.closed = True
                    break
                more = _filtered(nxt, match)
                if more:
                    batch.append(more)
            if batch:
                yield batch
            if watcher.closed:
                return
    finally:
        watcher.close()


async def serve_watch(request: web.Request, store: ResourceStore, rt: ResourceType, namespace: str | None,
                      opts: ListOptions) -> web.StreamResponse:
    bookmarks = req.query_bool(request, "allowWatchBookmarks")
    timeout = req.query_int(request, "timeoutSeconds") or DEFAULT_WATCH_TIMEOUT
    as_table = req.wants_table(request)
    include_object = request.query.get("includeObject", "Metadata")

    def client_gone() -> bool:
        # aiohttp does not cancel the handler when the client goes away
        return request.transport is None or request.transport.is_closing()

    def frame(kind: str, obj: dict[str, Any]) -> bytes:
        if as_table and kind not in ("BOOKMARK", "ERROR"):
            obj = tables.table(rt, [obj], include_object=include_object)
        return orjson.dumps({"type": kind, "object": obj}) + b"\n"

    if opts.resource_version not in ("", "0"):
        _rv(opts.resource_version)  # before any header: a malformed resourceVersion is a plain 400
    matcher(rt, opts)  # and so is an unsupported field selector
    events = watch_events(store, rt, namespace, opts, bookmarks=bookmarks, timeout=timeout, client_gone=client_gone)
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        async for batch in events:
            await response.write(b"".join(frame(*e) for e in batch))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        await events.aclose()
    await _end(response, b"")
    return response


def _next_bookmark(now: float, deadline: float) -> float | None:
    """When the next BOOKMARK is due: every BOOKMARK_INTERVAL, and once 2 s before the watch
    times out so that the client can resume from a recent resourceVersion (as the cacher does)."""
    due = min(now + BOOKMARK_INTERVAL, deadline - 2.0)
    return due if due > now + 0.1 else None  # not twice for the same moment


async def _end(response: web.StreamResponse, last: bytes) -> None:
    try:
        if last:
            await response.write(last)
        await response.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass


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
