"""Events expire an hour after they were last written, as kube-apiserver's `--event-ttl`
(1h) makes them: it puts every Event write under an etcd lease of that length. Here a sweep
of the watch cache deletes, once a minute, the Events whose newest timestamp is older than
the TTL (a client stamps each write of an Event: lastTimestamp, eventTime or its series)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from kubeling.api import errors, registry
from kubeling.api.meta import parse_time
from kubeling.apiserver.storage import ResourceStore

log = logging.getLogger(__name__)

EVENTS = registry.lookup("", "v1", "events")
EVENT_TTL = 3600.0  # seconds (kube-apiserver's --event-ttl default)
SWEEP_EVERY = 60.0  # seconds
DELETE_CHUNK = 100  # expired Events deleted at once

_STAMPS = ("lastTimestamp", "eventTime", "firstTimestamp")


def last_written(event: dict[str, Any]) -> dt.datetime | None:
    """The newest of the times an Event's writers put on it (None when it has none readable)."""
    values = [event.get(k) for k in _STAMPS]
    values.append((event.get("series") or {}).get("lastObservedTime"))
    values.append((event.get("metadata") or {}).get("creationTimestamp"))
    times = []
    for v in values:
        if isinstance(v, str) and v:
            try:
                t = parse_time(v)
            except ValueError:
                continue
            times.append(t if t.tzinfo else t.replace(tzinfo=dt.UTC))
    return max(times) if times else None


async def expire_events(store: ResourceStore, now: dt.datetime, ttl: float = EVENT_TTL) -> int:
    """Delete the Events last written more than `ttl` seconds before `now`; how many went.
    The delete is conditional on the resourceVersion seen, so a repeat counted meanwhile stays."""
    cutoff = now - dt.timedelta(seconds=ttl)
    expired = [e for e in store.cache.list(EVENTS.storage_prefix()) if (t := last_written(e)) is not None
               and t < cutoff]
    gone = 0
    # A chunk of deletes at once shares the store's group commits; one at a time would take a
    # commit each (a busy run's 40,000 Events expire in the same sweep).
    for i in range(0, len(expired), DELETE_CHUNK):
        gone += sum(await asyncio.gather(*(_delete(store, e) for e in expired[i:i + DELETE_CHUNK])))
    return gone


async def _delete(store: ResourceStore, event: dict[str, Any]) -> bool:
    """Delete an Event unless it changed (a repeat counted) or went since the cache saw it."""
    md = event["metadata"]
    try:
        await store.delete(EVENTS, md.get("namespace"), md["name"],
                           {"preconditions": {"resourceVersion": md["resourceVersion"]}}, False)
    except errors.ApiError as e:
        if e.code not in (404, 409):
            raise
        return False
    return True


async def run_event_ttl(store: ResourceStore, ttl: float = EVENT_TTL, every: float = SWEEP_EVERY) -> None:
    """Sweep until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            gone = await expire_events(store, dt.datetime.now(dt.UTC), ttl)
        except errors.ApiError as e:
            log.warning("event expiry sweep failed: %s", e.message)
            continue
        if gone:
            log.info("%d event(s) expired (older than %.0f s)", gone, ttl)
