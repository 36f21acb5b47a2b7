"""The scheduling queue, as kube-scheduler's PriorityQueue (pkg/scheduler/backend/queue) has it.

Three places a pending pod can wait:
- activeQ: ready to be tried, highest priority first, then first come first served;
- backoffQ: failed recently, waits out its backoff (initial * 2^(attempts-1), capped), ordered
  by when that ends;
- unschedulable: failed and nothing has changed since; only a cluster event that one of the
  plugins which rejected it registered for (or the 5-minute leftover flush) moves it back.

A pod handed out by pop() is "in flight" until done(). A move request (cluster event) that
arrives while a pod is in flight sends that pod to backoffQ rather than to the unschedulable
pool when its cycle fails, because the event may have been the one it was waiting for
(the move-request cycle counter of Kubernetes).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubeling.api.selectors import LabelSelector
from kubeling.client.clock import REAL, Clock
from kubeling.scheduler.framework import Obj, PodInfo, pod_key, pod_requests

ACTIVE_Q, BACKOFF_Q, UNSCHEDULABLE = "activeQ", "backoffQ", "unschedulablePods"

# Events that concern every pod whatever rejected it (framework.WildCardEvent, UnschedulableTimeout).
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
FORCE_ACTIVATE = "ForceActivate"
WILDCARD_EVENTS = frozenset({"*", UNSCHEDULABLE_TIMEOUT, FORCE_ACTIVATE})

# The kinds of node update Kubernetes tells apart (framework.NodeSchedulingPropertiesChange);
# a plugin registered for "NodeUpdate" hears all of them.
NODE_UPDATE_EVENTS = frozenset({
    "NodeUnschedulableChange", "NodeAllocatableChange", "NodeLabelChange", "NodeTaintChange",
    "NodeConditionChange", "NodeAnnotationChange",
})

POD_TOPOLOGY_SPREAD = "PodTopologySpread"
SCHEDULING_GATES = "SchedulingGates"

BACKOFF_FLUSH_PERIOD = 1.0  # flushBackoffQCompleted runs every second ...
UNSCHEDULABLE_FLUSH_PERIOD = 30.0  # ... flushUnschedulablePodsLeftover every 30 s


def event_matches(registered: str, event: str) -> bool:
    """Whether a plugin that registered `registered` cares about `event` (ClusterEvent.Match:
    same resource and overlapping action types, NodeUpdate covering every kind of node update)."""
    if registered == event or registered == "*":
        return True
    if registered == "NodeUpdate":
        return event in NODE_UPDATE_EVENTS
    if event == "NodeUpdate":
        return registered in NODE_UPDATE_EVENTS
    return False


def node_update_events(old: Obj, new: Obj) -> list[str]:
    """The scheduling-relevant changes between two versions of a node, as the events the queue
    understands (empty when nothing a plugin looks at changed)."""
    o_spec, n_spec = old.get("spec") or {}, new.get("spec") or {}
    o_md, n_md = old.get("metadata") or {}, new.get("metadata") or {}
    o_st, n_st = old.get("status") or {}, new.get("status") or {}
    events = []
    # Only becoming schedulable can help a pod (nodeSpecUnschedulableChanged).
    if bool(o_spec.get("unschedulable")) != bool(n_spec.get("unschedulable")) and not n_spec.get("unschedulable"):
        events.append("NodeUnschedulableChange")
    if (o_st.get("allocatable") or {}) != (n_st.get("allocatable") or {}):
        events.append("NodeAllocatableChange")
    if (o_md.get("labels") or {}) != (n_md.get("labels") or {}):
        events.append("NodeLabelChange")
    if (o_spec.get("taints") or []) != (n_spec.get("taints") or []):
        events.append("NodeTaintChange")
    if _conditions(o_st) != _conditions(n_st):
        events.append("NodeConditionChange")
    if (o_md.get("annotations") or {}) != (n_md.get("annotations") or {}):
        events.append("NodeAnnotationChange")
    return events


def _conditions(status: Obj) -> dict[str, Any]:
    # Heartbeat times change every few seconds and mean nothing to scheduling.
    return {c.get("type"): c.get("status") for c in status.get("conditions") or []}


def pod_updated(old: Obj, new: Obj) -> bool:
    """Whether an update could change the pod's scheduling result (isPodUpdated): anything but
    resourceVersion, generation, managedFields, finalizers and status."""
    def strip(pod: Obj) -> Obj:
        md = {k: v for k, v in (pod.get("metadata") or {}).items()
              if k not in ("resourceVersion", "generation", "managedFields", "finalizers")}
        return {**{k: v for k, v in pod.items() if k != "status"}, "metadata": md}
    return strip(old) != strip(new)


def pod_scaled_down(old: Obj, new: Obj) -> bool:
    """A bound pod that now requests less frees room on its node (UpdatePodScaleDown)."""
    o, n = pod_requests(old), pod_requests(new)
    return (n.milli_cpu < o.milli_cpu or n.memory < o.memory or n.ephemeral_storage < o.ephemeral_storage
            or any(n.scalar.get(k, 0) < v for k, v in o.scalar.items()))


def queue_key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return md.get("uid") or pod_key(pod)


def pod_priority(pod: Obj) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


@dataclass(eq=False)
class QueuedPodInfo:
    """A pending pod and its history in the queue."""

    pod_info: PodInfo
    timestamp: float  # clock.monotonic() when it last entered the queue: FIFO and backoff start
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    scheduling_cycle: int = 0  # the cycle in which pop() last handed it out

    @property
    def pod(self) -> Obj:
        return self.pod_info.pod

    @property
    def key(self) -> str:
        return queue_key(self.pod)

    @property
    def uid(self) -> str:
        return self.pod_info.uid

    @property
    def gated(self) -> bool:
        return bool((self.pod.get("spec") or {}).get("schedulingGates"))


class _Heap:
    """A heap of keyed items with O(log n) removal by key (entries are invalidated lazily)."""

    def __init__(self, order: Callable[[QueuedPodInfo], tuple]):
        self._order = order
        self._heap: list[list] = []
        self._entries: dict[str, list] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> QueuedPodInfo | None:
        entry = self._entries.get(key)
        return entry[-1] if entry else None

    def push(self, qpi: QueuedPodInfo) -> None:
        """Add, or re-position an item already present (its sort key may have changed)."""
        self.remove(qpi.key)
        entry = [*self._order(qpi), next(self._seq), qpi]
        self._entries[qpi.key] = entry
        heapq.heappush(self._heap, entry)

    def remove(self, key: str) -> QueuedPodInfo | None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        qpi, entry[-1] = entry[-1], None
        return qpi

    def peek(self) -> QueuedPodInfo | None:
        while self._heap and self._heap[0][-1] is None:
            heapq.heappop(self._heap)
        return self._heap[0][-1] if self._heap else None

    def pop(self) -> QueuedPodInfo | None:
        qpi = self.peek()
        if qpi is not None:
            heapq.heappop(self._heap)
            del self._entries[qpi.key]
        return qpi

    def items(self) -> list[QueuedPodInfo]:
        return [e[-1] for e in self._entries.values()]


class Nominator:
    """Pods nominated to a node by preemption, waiting for victims to leave (nominator.go).
    The scheduler's own nomination wins over a pod update that does not touch
    status.nominatedNodeName, since the API write may not have landed yet."""

    def __init__(self):
        self._node_of: dict[str, str] = {}
        self._by_node: dict[str, dict[str, PodInfo]] = {}

    def add(self, info: PodInfo, node_name: str | None = None) -> None:
        key = queue_key(info.pod)
        self.delete(key)
        node = node_name if node_name is not None else _status_nomination(info.pod)
        if not node:
            return
        self._node_of[key] = node
        self._by_node.setdefault(node, {})[key] = info

    def delete(self, key: str) -> None:
        node = self._node_of.pop(key, None)
        if node is None:
            return
        pods = self._by_node.get(node, {})
        pods.pop(key, None)
        if not pods:
            self._by_node.pop(node, None)

    def update(self, old: Obj | None, info: PodInfo) -> None:
        key = queue_key(info.pod)
        node = None
        if old is not None and _status_nomination(old) == _status_nomination(info.pod):
            node = self._node_of.get(key)  # keep what the scheduler nominated in memory
        self.add(info, node)

    def refresh(self, info: PodInfo) -> None:
        """Point an existing nomination at the newest version of the pod."""
        key = queue_key(info.pod)
        node = self._node_of.get(key)
        if node is not None:
            self._by_node[node][key] = info

    def node_of(self, key: str) -> str | None:
        return self._node_of.get(key)

    def pods_for_node(self, node_name: str) -> list[PodInfo]:
        return list(self._by_node.get(node_name, {}).values())

    def node_names(self) -> Collection[str]:
        """The nodes some pod is nominated to (a live view)."""
        return self._by_node.keys()


def _status_nomination(pod: Obj) -> str:
    return (pod.get("status") or {}).get("nominatedNodeName") or ""


class SchedulingQueue:
    def __init__(self, clock: Clock = REAL, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_unschedulable_duration: float = 300.0,
                 plugin_events: dict[str, Iterable[str]] | None = None):
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable_duration = max_unschedulable_duration
        self._active = _Heap(lambda q: (-pod_priority(q.pod), q.timestamp))
        self._backoff = _Heap(lambda q: (self.backoff_expiry(q),))
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._changed_in_flight: set[str] = set()  # updated while being scheduled
        self._deleted_in_flight: set[str] = set()  # deleted while being scheduled
        self._cycle = 0
        self._move_request_cycle = -1
        self._closed = False
        self._waiters: list[asyncio.Future] = []
        self._tasks: list[asyncio.Task] = []
        self.nominator = Nominator()
        self._plugin_events: dict[str, set[str]] | None = None
        self._interested: dict[str, frozenset[str]] = {}
        if plugin_events is not None:
            self.set_plugin_events(plugin_events)

    # ---- configuration --------------------------------------------------------------------------

    def set_plugin_events(self, plugin_events: dict[str, Iterable[str]]) -> None:
        """Which cluster events each enabled plugin registered (Plugin.events_to_register())."""
        self._plugin_events = {name: set(events) for name, events in plugin_events.items()}
        self._interested = {}

    def interested_plugins(self, event: str) -> frozenset[str] | None:
        """Plugins that registered for `event`; None when the queue was not told (all are).
        Read-only for callers: the answer is kept per event (every bound pod asks again)."""
        if self._plugin_events is None:
            return None
        interested = self._interested.get(event)
        if interested is None:
            interested = self._interested[event] = frozenset(
                name for name, events in self._plugin_events.items() if any(event_matches(r, event) for r in events))
        return interested

    # ---- backoff --------------------------------------------------------------------------------

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        duration = self.initial_backoff
        for _ in range(1, qpi.attempts):
            if duration > self.max_backoff - duration:
                return self.max_backoff
            duration += duration
        return min(duration, self.max_backoff)

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def is_backing_off(self, qpi: QueuedPodInfo) -> bool:
        return self.backoff_expiry(qpi) > self.clock.monotonic()

    # ---- pods arriving and leaving --------------------------------------------------------------

    def add(self, pod: Obj) -> None:
        """A new pending pod: straight to activeQ."""
        self._to_active(self._new_info(pod))

    def update(self, old: Obj | None, new: Obj) -> None:
        key = queue_key(new)
        info = PodInfo.of(new)
        for heap in (self._active, self._backoff):
            qpi = heap.get(key)
            if qpi is not None:
                qpi.pod_info = info
                heap.push(qpi)  # priority may have changed
                self.nominator.update(old, info)
                return
        qpi = self._unschedulable.get(key)
        if qpi is not None:
            qpi.pod_info = info
            self.nominator.update(old, info)
            if old is None or pod_updated(old, new):
                # The change may fix what was wrong: retry (after its backoff, if it was tried).
                del self._unschedulable[key]
                if qpi.attempts and self.is_backing_off(qpi):
                    self._backoff.push(qpi)
                else:
                    self._to_active(qpi)
            return
        qpi = self._in_flight.get(key)
        if qpi is not None:
            qpi.pod_info = info
            if old is None or pod_updated(old, new):
                self._changed_in_flight.add(key)
            self.nominator.update(old, info)
            return
        self._to_active(self._new_info(new))

    def delete(self, pod: Obj) -> None:
        key = queue_key(pod)
        self.nominator.delete(key)
        if self._active.remove(key) or self._backoff.remove(key) or self._unschedulable.pop(key, None):
            return
        if key in self._in_flight:
            self._deleted_in_flight.add(key)

    def activate(self, pods: Iterable[Obj]) -> None:
        """Move these pods to activeQ at once if they wait in backoffQ or unschedulable."""
        for pod in pods:
            key = queue_key(pod)
            qpi = self._backoff.remove(key) or self._unschedulable.pop(key, None)
            if qpi is not None:
                self._to_active(qpi)

    # ---- the scheduling loop's side -------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule; waits while activeQ is empty, None once closed."""
        while True:
            if self._closed:
                return None
            qpi = self._active.pop()
            if qpi is not None:
                break
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self._cycle += 1
        qpi.attempts += 1
        qpi.scheduling_cycle = self._cycle
        qpi.unschedulable_plugins = set()
        qpi.pending_plugins = set()
        self._in_flight[qpi.key] = qpi
        return qpi

    @property
    def scheduling_cycle(self) -> int:
        return self._cycle

    def done(self, uid: str) -> None:
        """The scheduling of this pod is over (bound, or put back)."""
        self._in_flight.pop(uid, None)
        self._changed_in_flight.discard(uid)
        self._deleted_in_flight.discard(uid)

    def add_unschedulable_if_not_present(self, qpi: QueuedPodInfo, *, backoff: bool = False,
                                         scheduling_cycle: int | None = None) -> str | None:
        """Put back a pod whose scheduling failed. It goes to backoffQ when asked (`backoff`),
        when no plugin rejected it (an error: retry soon), when it changed, or when a move
        request arrived since its cycle started; otherwise to the unschedulable pool.
        Returns the queue it went to (None: it was deleted meanwhile, or is already queued)."""
        key = qpi.key
        try:
            if key in self._deleted_in_flight or self._queued(key):
                return None
            qpi.timestamp = self.clock.monotonic()
            cycle = qpi.scheduling_cycle if scheduling_cycle is None else scheduling_cycle
            rejectors = qpi.unschedulable_plugins | qpi.pending_plugins
            self._nominate_from_status(qpi.pod_info)
            if backoff or not rejectors or key in self._changed_in_flight or self._move_request_cycle >= cycle:
                self._backoff.push(qpi)
                return BACKOFF_Q
            self._unschedulable[key] = qpi
            return UNSCHEDULABLE
        finally:
            self.done(key)

    # ---- cluster events -------------------------------------------------------------------------

    def move_all_to_active_or_backoff(self, event: str,
                                      plugins_interested: Callable[[set[str]], bool] | None = None, *,
                                      pre_check: Callable[[Obj], bool] | None = None) -> int:
        """A cluster event: move back the unschedulable pods it may help (those a plugin that
        registered the event rejected; `plugins_interested` overrides that test, `pre_check`
        filters pods first). Returns how many moved."""
        candidates = [q for q in self._unschedulable.values() if pre_check is None or pre_check(q.pod)]
        return self._move(candidates, event, plugins_interested)

    def assigned_pod_added(self, pod: Obj) -> int:
        """A pod was bound: it can only help pods that want to be near it (pod affinity) or
        spread with it (PodTopologySpread), never ones a single node turned away."""
        return self._move(self._cross_topology_pods(pod), "AssignedPodAdd")

    def assigned_pod_updated(self, old: Obj, new: Obj) -> int:
        if pod_scaled_down(old, new):
            # Freed resources may help pods NodeResourcesFit rejected, anywhere.
            return self.move_all_to_active_or_backoff("AssignedPodUpdate")
        return self._move(self._cross_topology_pods(new), "AssignedPodUpdate")

    def assigned_pod_deleted(self, pod: Obj) -> int:
        return self.move_all_to_active_or_backoff("AssignedPodDelete")

    def _move(self, candidates: list[QueuedPodInfo], event: str,
              plugins_interested: Callable[[set[str]], bool] | None = None) -> int:
        wildcard = event in WILDCARD_EVENTS
        if plugins_interested is None and not wildcard:
            interested = self.interested_plugins(event)
            if interested is not None:
                if not interested:
                    return 0  # no plugin registered the event: not even a move request
                plugins_interested = interested.intersection
        moved = activated = 0
        for qpi in candidates:
            if qpi.gated:
                continue  # only an update lifting its gates can release it
            rejectors = qpi.unschedulable_plugins | qpi.pending_plugins
            if rejectors and not wildcard and plugins_interested is not None and not plugins_interested(rejectors):
                continue
            del self._unschedulable[qpi.key]
            moved += 1
            # A plugin that asked the pod to wait (Pending) and hears the event wants it now.
            immediate = bool(qpi.pending_plugins) and plugins_interested is not None \
                and bool(plugins_interested(qpi.pending_plugins))
            if not immediate and self.is_backing_off(qpi):
                self._backoff.push(qpi)
            elif self._to_active(qpi, wake=False):
                activated += 1
        self._move_request_cycle = self._cycle
        if activated:
            self._wake()
        return moved

    def _cross_topology_pods(self, pod: Obj) -> list[QueuedPodInfo]:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        out = []
        for qpi in self._unschedulable.values():
            same_ns = (qpi.pod.get("metadata") or {}).get("namespace", "") == namespace
            if (POD_TOPOLOGY_SPREAD in qpi.unschedulable_plugins and same_ns) or \
                    any(_term_matches(t, qpi.pod, pod) for t in _required_affinity_terms(qpi.pod)):
                out.append(qpi)
        return out

    # ---- periodic flushing ----------------------------------------------------------------------

    def flush_backoff_completed(self) -> int:
        """Move the pods whose backoff is over to activeQ."""
        now = self.clock.monotonic()
        moved = 0
        while (qpi := self._backoff.peek()) is not None and self.backoff_expiry(qpi) <= now:
            self._backoff.pop()
            self._to_active(qpi, wake=False)
            moved += 1
        if moved:
            self._wake()
        return moved

    def flush_unschedulable_left_over(self) -> int:
        """Retry pods that sat unschedulable longer than max_unschedulable_duration, in case
        an event that would have helped them was missed."""
        now = self.clock.monotonic()
        stale = [q for q in self._unschedulable.values() if now - q.timestamp > self.max_unschedulable_duration]
        return self._move(stale, UNSCHEDULABLE_TIMEOUT) if stale else 0

    def start(self) -> None:
        """Run the two flushers in the background on the clock (PriorityQueue.Run)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._every(BACKOFF_FLUSH_PERIOD, self.flush_backoff_completed)),
                       loop.create_task(self._every(UNSCHEDULABLE_FLUSH_PERIOD, self.flush_unschedulable_left_over))]

    async def _every(self, period: float, fn: Callable[[], Any]) -> None:
        while not self._closed:
            await self.clock.sleep(period)
            if not self._closed:
                fn()

    def close(self) -> None:
        """Stop: wake every pop() with None and stop the flushers."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        self._wake()

    # ---- nominated pods -------------------------------------------------------------------------

    def add_nominated(self, pod: Obj, node_name: str) -> None:
        info = self._find(queue_key(pod))
        self.nominator.add(info.pod_info if info else PodInfo.of(pod), node_name)

    def delete_nominated(self, pod: Obj) -> None:
        self.nominator.delete(queue_key(pod))

    def nominated_node(self, pod: Obj) -> str | None:
        return self.nominator.node_of(queue_key(pod))

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.nominator.pods_for_node(node_name)

    def nominated_node_names(self) -> Collection[str]:
        return self.nominator.node_names()

    # ---- inspection -----------------------------------------------------------------------------

    def pending_pods(self) -> dict[str, int]:
        return {ACTIVE_Q: len(self._active), BACKOFF_Q: len(self._backoff), UNSCHEDULABLE: len(self._unschedulable)}

    def where(self, pod: Obj) -> str | None:
        """Which queue holds the pod ("inFlight" while being scheduled), for tests and debugging."""
        key = queue_key(pod)
        if key in self._active:
            return ACTIVE_Q
        if key in self._backoff:
            return BACKOFF_Q
        if key in self._unschedulable:
            return UNSCHEDULABLE
        return "inFlight" if key in self._in_flight else None

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    # ---- internals ------------------------------------------------------------------------------

    def _new_info(self, pod: Obj) -> QueuedPodInfo:
        return QueuedPodInfo(PodInfo.of(pod), self.clock.monotonic())

    def _queued(self, key: str) -> bool:
        return key in self._active or key in self._backoff or key in self._unschedulable

    def _find(self, key: str) -> QueuedPodInfo | None:
        return (self._active.get(key) or self._backoff.get(key) or self._unschedulable.get(key)
                or self._in_flight.get(key))

    def _to_active(self, qpi: QueuedPodInfo, *, wake: bool = True) -> bool:
        """Into activeQ, unless scheduling gates hold the pod back (the SchedulingGates
        PreEnqueue plugin): then it waits in the unschedulable pool until an update lifts them."""
        self._backoff.remove(qpi.key)
        self._nominate_from_status(qpi.pod_info)
        if qpi.gated:
            qpi.unschedulable_plugins = {SCHEDULING_GATES}
            self._unschedulable[qpi.key] = qpi
            return False
        if qpi.initial_attempt_timestamp is None:
            qpi.initial_attempt_timestamp = self.clock.monotonic()
        self._unschedulable.pop(qpi.key, None)
        self._active.push(qpi)
        if wake:
            self._wake()
        return True

    def _nominate_from_status(self, info: PodInfo) -> None:
        # A nomination the scheduler made in memory outlives pod versions that do not carry it yet.
        if self.nominator.node_of(queue_key(info.pod)) is None:
            self.nominator.add(info)
        else:
            self.nominator.refresh(info)

    def _wake(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters = []


def _required_affinity_terms(pod: Obj) -> list[Obj]:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("podAffinity") or {}
    return affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []


def _term_matches(term: Obj, owner: Obj, pod: Obj) -> bool:
    """Whether `pod` is one the affinity term of `owner` looks for (AffinityTerm.Matches).
    Namespace labels are not at hand here, so a namespaceSelector counts as matching: moving
    a pod needlessly costs one retry, missing one would strand it."""
    namespaces = set(term.get("namespaces") or [])
    ns = (pod.get("metadata") or {}).get("namespace", "")
    if term.get("namespaceSelector") is None:
        if not namespaces:
            namespaces = {(owner.get("metadata") or {}).get("namespace", "")}
        if ns not in namespaces:
            return False
    try:
        selector = LabelSelector.from_dict(term.get("labelSelector"))
    except Exception:  # an invalid selector selects nothing, as in Kubernetes
        return False
    return selector.matches((pod.get("metadata") or {}).get("labels"))
