"""Writing core/v1 Events as client-go's recorder does (tools/record).

`EventRecorder.event()` never blocks and never raises: it queues the event, and one background
task correlates and writes it. Correlation follows client-go's EventCorrelator:
- aggregation: once 10 events differing only by message (same source, object, type, reason)
  are seen within 10 minutes, they collapse into one event with the message prefixed by
  `(combined from similar events): `;
- counting: an exact repeat PATCHes the existing event's count/lastTimestamp/message instead
  of creating a new one (re-created if the PATCH finds it gone);
- spam filter: a token bucket per source+object (burst 25, refill 1 per 5 minutes) drops the excess.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import rfc3339
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock

log = logging.getLogger(__name__)

EVENTS = registry.lookup("", "v1", "events")

NORMAL = "Normal"
WARNING = "Warning"

MAX_LRU_ENTRIES = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0  # seconds
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
COMBINED_PREFIX = "(combined from similar events): "

MAX_QUEUED_EVENTS = 1000  # client-go's broadcaster queue; beyond it events are dropped
DROP_REPORT_EVERY = 10.0  # seconds: dropped events are logged as one line per this, with a count
WRITERS = 16  # event writes in flight at once (one at a time per involved object)
MAX_TRIES_PER_EVENT = 12
RETRY_SLEEP = 10.0


class _LRU(OrderedDict):
    """A bounded dict evicting the least recently used key (groupcache/lru)."""

    def __init__(self, size: int = MAX_LRU_ENTRIES):
        super().__init__()
        self.size = size

    def lookup(self, key: Any) -> Any:
        try:
            self.move_to_end(key)
        except KeyError:
            return None
        return self[key]

    def put(self, key: Any, value: Any) -> None:
        if key in self:
            self.move_to_end(key)
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class TokenBucket:
    """A bucket starting full with `burst` tokens, refilled at `qps` per second of `clock` time."""

    def __init__(self, qps: float, burst: int, clock: Clock):
        self.qps, self.burst, self.clock = qps, burst, clock
        self.tokens = float(burst)
        self.last = clock.monotonic()

    def try_accept(self) -> bool:
        now = self.clock.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


# ---- keys (client-go's getEventKey / getSpamKey / EventAggregatorByReasonFunc) ----------------

def _object_key(ev: Obj) -> tuple:
    src, ref = ev.get("source") or {}, ev.get("involvedObject") or {}
    return (src.get("component", ""), src.get("host", ""), ref.get("kind", ""), ref.get("namespace", ""),
            ref.get("name", ""), ref.get("uid", ""), ref.get("apiVersion", ""))


def event_key(ev: Obj) -> tuple:
    """Identity of an exact repeat: source, involvedObject (with fieldPath), type, reason, message."""
    field_path = (ev.get("involvedObject") or {}).get("fieldPath", "")
    return _object_key(ev) + (field_path, ev.get("type", ""), ev.get("reason", ""), ev.get("message", ""))


def spam_key(ev: Obj) -> tuple:
    """The spam filter's bucket: one per source + object."""
    return _object_key(ev)


def aggregate_key(ev: Obj) -> tuple[tuple, str]:
    """(group of similar events, the member's local key): similar = same but for the message."""
    group = _object_key(ev) + (ev.get("type", ""), ev.get("reason", ""),
                               ev.get("reportingComponent", ""), ev.get("reportingInstance", ""))
    return group, ev.get("message", "")


# ---- correlation --------------------------------------------------------------------------------

@dataclass
class _AggregateRecord:
    local_keys: set[str] = field(default_factory=set)
    last: float = float("-inf")  # clock.monotonic() of the last similar event


@dataclass
class _Observation:
    count: int
    first_timestamp: str
    name: str
    resource_version: str


@dataclass
class CorrelateResult:
    event: Obj | None = None
    patch: Obj | None = None  # a strategic merge patch for an existing event, or None to create
    skip: bool = False


class EventCorrelator:
    """Aggregation, repeat counting and spam filtering, in client-go's order."""

    def __init__(self, clock: Clock, names: _Namer, *, burst: int = SPAM_BURST, qps: float = SPAM_QPS,
                 max_events: int = AGGREGATE_MAX_EVENTS, max_interval: float = AGGREGATE_INTERVAL):
        self.clock, self.names = clock, names
        self.burst, self.qps = burst, qps
        self.max_events, self.max_interval = max_events, max_interval
        self._aggregates = _LRU()
        self._observed = _LRU()
        self._spam = _LRU()

    def correlate(self, ev: Obj) -> CorrelateResult:
        # One object key serves all three steps: an aggregated event keeps ev's source and object.
        obj_key = _object_key(ev)
        aggregated, key = self._aggregate(ev, obj_key)
        observed, patch = self._observe(aggregated, key)
        if self._filtered(obj_key):
            return CorrelateResult(skip=True)
        return CorrelateResult(event=observed, patch=patch)

    def update_state(self, ev: Obj) -> None:
        """Remember what the server stored (its name and resourceVersion), keyed by the event."""
        md = ev.get("metadata") or {}
        self._observed.put(event_key(ev), _Observation(
            ev.get("count") or 1, ev.get("firstTimestamp", ""), md.get("name", ""), md.get("resourceVersion", "")))

    def _aggregate(self, ev: Obj, obj_key: tuple) -> tuple[Obj, tuple]:
        group = obj_key + (ev.get("type", ""), ev.get("reason", ""), ev.get("reportingComponent", ""),
                           ev.get("reportingInstance", ""))
        local = ev.get("message", "")
        now = self.clock.monotonic()
        record = self._aggregates.lookup(group)
        if record is None or now - record.last > self.max_interval:
            record = _AggregateRecord()
        record.local_keys.add(local)
        record.last = now
        self._aggregates.put(group, record)
        if len(record.local_keys) < self.max_events:
            return ev, obj_key + ((ev.get("involvedObject") or {}).get("fieldPath", ""), ev.get("type", ""),
                                  ev.get("reason", ""), local)
        record.local_keys.pop()  # keep the set from growing past the threshold
        stamp = rfc3339(self.clock.now())
        combined = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": self.names.next(ev["involvedObject"].get("name", "")),
                         "namespace": ev["metadata"]["namespace"]},
            "involvedObject": ev["involvedObject"], "reason": ev.get("reason", ""),
            "message": COMBINED_PREFIX + ev.get("message", ""), "source": ev.get("source", {}),
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": ev.get("type", ""),
            "reportingComponent": ev.get("reportingComponent", ""),
            "reportingInstance": ev.get("reportingInstance", ""),
        }
        return combined, group

    def _observe(self, ev: Obj, key: tuple) -> tuple[Obj, Obj | None]:
        ev = {**ev, "metadata": dict(ev["metadata"])}
        last = self._observed.lookup(key)
        patch = None
        if last is not None and last.count > 0:
            ev["metadata"]["name"] = last.name
            if last.resource_version:
                ev["metadata"]["resourceVersion"] = last.resource_version
            ev["firstTimestamp"] = last.first_timestamp
            ev["count"] = last.count + 1
            # What client-go's two-way merge patch carries: the fields that change on a repeat.
            patch = {"count": ev["count"], "lastTimestamp": ev["lastTimestamp"], "message": ev["message"]}
        md = ev["metadata"]
        self._observed.put(key, _Observation(ev["count"], ev["firstTimestamp"], md["name"],
                                             md.get("resourceVersion", "")))
        return ev, patch

    def _filtered(self, key: tuple) -> bool:
        """Whether the spam filter drops an event about the object `key` (spam_key)."""
        bucket = self._spam.lookup(key)
        if bucket is None:
            bucket = TokenBucket(self.qps, self.burst, self.clock)
            self._spam.put(key, bucket)
        return not bucket.try_accept()


class _Namer:
    """`<object name>.<hex UnixNano>`, kept unique in this process even when the clock stands still."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._last = 0

    def next(self, object_name: str, now: dt.datetime | None = None) -> str:
        """The name for an event made at `now` (default: the clock's now)."""
        nanos = _unix_nano(self.clock.now() if now is None else now)
        nanos = max(nanos, self._last + 1)
        self._last = nanos
        return f"{object_name}.{nanos:x}"


def _unix_nano(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def object_reference(obj: Obj) -> Obj:
    """An ObjectReference to obj; obj may itself be a reference (with name at the top level)."""
    if "metadata" not in obj and "name" in obj:
        return {k: v for k, v in obj.items() if v}
    md = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": md.get("namespace", ""), "name": md.get("name", ""),
           "uid": md.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": md.get("resourceVersion", "")}
    return {k: v for k, v in ref.items() if v}


# ---- the recorder -------------------------------------------------------------------------------

class EventRecorder:
    """Records Events about objects on behalf of `component` (e.g. "deployment-controller")."""

    def __init__(self, client: Client, component: str, *, host: str = "", clock: Clock | None = None,
                 max_queued: int = MAX_QUEUED_EVENTS, writers: int = WRITERS, rng: random.Random | None = None):
        self.client = client
        self.component, self.host = component, host
        self.clock = clock or REAL
        self._names = _Namer(self.clock)
        self.correlator = EventCorrelator(self.clock, self._names)
        self._rng = rng or random.Random()
        self._max_queued, self._writers = max_queued, writers
        self._queue: asyncio.Queue[Obj | None] | None = None
        self._tasks: list[asyncio.Task] = []
        # Objects a writer is busy with -> their later events, which that writer writes next.
        self._busy: dict[str, deque[Obj]] = {}
        self._closing = False
        self._closed = asyncio.Event()
        self._stamp_second: dt.datetime | None = None
        self._stamp_text = ""
        self.dropped = 0  # events dropped on a full queue, in all
        self._drops_unreported = 0
        self._drops_reported_at: float | None = None

    def event(self, obj: Obj, type: str, reason: str, message: str) -> None:
        """Queue an Event about obj; never blocks, never raises."""
        if type not in (NORMAL, WARNING):
            log.error("Unsupported event type: %r", type)
            return
        ref = object_reference(obj)
        if not ref.get("kind") or not ref.get("name"):
            log.error("cannot record event %s about an object without kind or name: %r", reason, ref)
            return
        if self._closing:
            log.warning("event %s about %s/%s dropped: recorder closed", reason, ref.get("kind"), ref.get("name"))
            return
        queue = self._ensure_started()
        if queue is None:
            return
        if queue.qsize() >= self._max_queued:
            self._dropped(reason, ref)
            return
        queue.put_nowait(self._make_event(ref, type, reason, message))

    def _dropped(self, reason: str, ref: Obj) -> None:
        """Count a dropped event; log the first of a burst, then a count at most every
        DROP_REPORT_EVERY seconds (a scale-down of thousands would otherwise log thousands of lines)."""
        self.dropped += 1
        self._drops_unreported += 1
        now = self.clock.monotonic()
        if self._drops_reported_at is not None and now - self._drops_reported_at < DROP_REPORT_EVERY:
            return
        log.warning("event queue full (%d queued): dropped %d event(s) since the last report, the latest %s "
                    "about %s/%s", self._max_queued, self._drops_unreported, reason, ref["kind"], ref["name"])
        self._drops_unreported = 0
        self._drops_reported_at = now

    def eventf(self, obj: Obj, type: str, reason: str, fmt: str, *args: Any) -> None:
        """`event` with a printf-style message, formatted with Python's `%` operator."""
        try:
            message = fmt % args if args else fmt
        except (TypeError, ValueError) as e:
            message = f"{fmt} (bad format arguments {args!r}: {e})"
        self.event(obj, type, reason, message)

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Write what is queued (without retry pauses), then stop the background task."""
        self._closing = True
        self._closed.set()
        if self._drops_unreported:
            log.warning("event queue full: dropped %d more event(s) since the last report", self._drops_unreported)
            self._drops_unreported = 0
        if not self._tasks:
            return
        assert self._queue is not None
        for _ in self._tasks:  # behind every queued event: each writer stops at one
            self._queue.put_nowait(None)
        try:
            await asyncio.gather(*self._tasks)
        finally:
            self._tasks = []

    # ---- internals ----

    def _ensure_started(self) -> asyncio.Queue | None:
        if not self._tasks:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                log.error("EventRecorder.event called outside an event loop; event dropped")
                return None
            self._queue = asyncio.Queue()
            self._tasks = [loop.create_task(self._writer(), name=f"events-{self.component}-{i}")
                           for i in range(self._writers)]
        return self._queue

    def _make_event(self, ref: Obj, type: str, reason: str, message: str) -> Obj:
        now = self.clock.now()
        stamp = self._stamp(now)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": self._names.next(ref["name"], now), "namespace": ref.get("namespace") or "default"},
            "involvedObject": ref, "reason": reason, "message": message, "source": source,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": type,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }

    def _stamp(self, now: dt.datetime) -> str:
        """rfc3339(now), formatted once per second: a burst of events shares the string."""
        second = now.replace(microsecond=0)
        if second != self._stamp_second:
            self._stamp_second, self._stamp_text = second, rfc3339(second)
        return self._stamp_text

    async def _writer(self) -> None:
        """One of `writers` tasks taking events in queue order. Events about one object are
        written one at a time, in order, by the writer that took the first of them, so an
        event's create always lands before the patches that count its repeats."""
        assert self._queue is not None
        queue, busy = self._queue, self._busy
        while (ev := await queue.get()) is not None:
            involved = ev["involvedObject"]
            key = involved.get("uid") or f"{involved.get('kind')}/{involved.get('namespace')}/{involved.get('name')}"
            later = busy.get(key)
            if later is not None:
                later.append(ev)  # its writer gets to it after the one in flight
                continue
            busy[key] = later = deque()
            try:
                await self._record_one(ev)
                while later:
                    await self._record_one(later.popleft())
            finally:
                del busy[key]
        queue.task_done()

    async def _record_one(self, ev: Obj) -> None:
        try:
            await self._record(ev)
        except Exception:  # a recorder must never take its component down
            log.exception("unexpected error recording event")
        finally:
            assert self._queue is not None
            self._queue.task_done()

    async def _record(self, ev: Obj) -> None:
        result = self.correlator.correlate(ev)
        if result.skip or result.event is None:
            return
        for attempt in range(1, MAX_TRIES_PER_EVENT + 1):
            if await self._write(result.event, result.patch):
                return
            if self._closing or attempt == MAX_TRIES_PER_EVENT:
                break
            # Randomise the first pause so that clients do not retry in step after an outage.
            await self._pause(RETRY_SLEEP * (self._rng.random() if attempt == 1 else 1.0))
        log.error("unable to write event %s (retry limit exceeded or closing)", _describe(ev))

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock, cut short by close()."""
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({sleep, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            closed.cancel()

    async def _write(self, ev: Obj, patch: Obj | None) -> bool:
        """One attempt; True when done (written, or refused in a way retrying cannot fix)."""
        md = ev["metadata"]
        try:
            try:
                if patch is not None:
                    stored = await self.client.patch(EVENTS, md["namespace"], md["name"], patch,
                                                     patch_type="strategic")
                else:
                    stored = await self._create(ev)
            except ApiError as e:
                if patch is None or e.code != 404:
                    raise
                stored = await self._create(ev)  # the event expired or was deleted: start it again
        except ApiError as e:
            if _retryable(e):
                log.error("unable to write event %s: %s (may retry after sleeping)", _describe(ev), e.message)
                return False
            level = logging.DEBUG if e.reason == "AlreadyExists" else logging.ERROR
            log.log(level, "server rejected event %s: %s (will not retry)", _describe(ev), e.message)
            return True
        except Exception as e:  # transport trouble: worth retrying
            log.error("unable to write event %s: %s (may retry after sleeping)", _describe(ev), e)
            return False
        self.correlator.update_state(stored)
        return True

    async def _create(self, ev: Obj) -> Obj:
        body = {**ev, "metadata": {k: v for k, v in ev["metadata"].items() if k != "resourceVersion"}}
        return await self.client.create(EVENTS, body["metadata"]["namespace"], body)


def _retryable(e: ApiError) -> bool:
    # The REST client reports an unreachable server as a 503; overload (429) passes too. client-go
    # retries only transport errors, which it can tell apart from a server's 5xx answer.
    return e.code == 429 or e.code >= 500


def _describe(ev: Obj) -> str:
    ref = ev.get("involvedObject") or {}
    return f"{ev.get('reason')} on {ref.get('kind')} {ref.get('namespace', '')}/{ref.get('name')}"
