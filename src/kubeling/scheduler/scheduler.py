"""The scheduler: watch pods and nodes, pick a node for each pending pod, bind it.

One loop pops pods from the scheduling queue and runs the scheduling cycle (filter,
score, reserve, permit) against a snapshot of the cache; binding runs in its own task,
so the next pod is scheduled while the API call is in flight (the pod is *assumed* on
its node meanwhile). A pod that fits nowhere gets PodScheduled=False and a
FailedScheduling event saying why, node by node, in Kubernetes' words.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket

from kubeling import gctune
from kubeling.api import errors, meta, registry
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.leaderelection import run_while_leader
from kubeling.scheduler import framework as fw
from kubeling.scheduler import plugins as _plugins  # noqa: F401 - registers every plugin
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.config import ProfileConfig, build_framework
from kubeling.scheduler.queue import QueuedPodInfo, SchedulingQueue, node_update_events
from kubeling.scheduler.runtime import FitError, Framework

log = logging.getLogger("kubeling.scheduler")

PODS = registry.lookup("", "v1", "pods")
NODES = registry.lookup("", "v1", "nodes")
COMPONENT = "default-scheduler"
LISTED = tuple(registry.lookup(g, "v1", plural) for g, plural in (
    ("", "services"), ("apps", "replicasets"), ("apps", "statefulsets"), ("", "namespaces")))
LEASE_NAMESPACE, LEASE_NAME = "kube-system", "kube-scheduler"
# One Scheduled event per pod: during a burst pods bind faster than a busy server takes their
# events (a bind and an event cost it about the same), so the backlog may reach the burst's
# size; it is written afterwards rather than dropped at client-go's 1,000.
EVENT_QUEUE = 50_000
EVENT_WRITERS = 32
# The scheduling loop yields to the event loop at most once per SLICE seconds: one pod per
# turn of a busy loop (the API server, informers and controllers in the same process) starved
# it, and unscheduled pods are the one thing everything downstream waits for.
SLICE = 0.01


def _is_assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _is_terminal_or_deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) or \
        (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class Scheduler:
    def __init__(self, client: Client, *, profiles: list[ProfileConfig] | None = None, clock: Clock = REAL,
                 rng: random.Random | None = None, recorder: EventRecorder | None = None):
        self.client, self.clock = client, clock
        self.recorder = recorder or EventRecorder(client, COMPONENT, host=socket.gethostname(), clock=clock,
                                                  max_queued=EVENT_QUEUE, writers=EVENT_WRITERS)
        self.cache = Cache(clock)
        self.queue = SchedulingQueue(clock)
        self.snapshot = fw.Snapshot()
        self.frameworks: dict[str, Framework] = {}
        for cfg in profiles or [ProfileConfig()]:
            handle = fw.Handle(self.snapshot, client, clock, recorder=self.recorder)
            framework = build_framework(cfg, handle, rng)
            handle.framework = framework
            framework.nominator = self.queue.nominated_pods_for_node
            framework.nominated_node_names = self.queue.nominated_node_names
            self.frameworks[cfg.scheduler_name] = framework
        self.queue.set_plugin_events(self._plugin_events())
        self.factory = InformerFactory(client, clock=clock)
        # Caches plugins read: default topology spreading selects a pod's Service/ReplicaSet/
        # StatefulSet; namespaceSelector in pod affinity terms needs namespace labels.
        listers = {rt.kind: self.factory.informer(rt).indexer for rt in LISTED}
        for framework in self.frameworks.values():
            framework.handle.listers = listers
        # Nothing looks pods up by index here: without the default indexes (namespace, owner,
        # labels) each pod event costs the informer a dict store, not three index updates.
        self.factory.informer(PODS, indexers={}).add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.factory.informer(NODES).add_handler(self._node_added, self._node_updated, self._node_deleted)
        self._tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None

    def _plugin_events(self) -> dict[str, list[str]]:
        """Which cluster events may help a pod each plugin rejected (the queue moves on these)."""
        events: dict[str, list[str]] = {}
        for framework in self.frameworks.values():
            for plugins in framework.points.values():
                for p in plugins:
                    if hasattr(p, "events_to_register"):
                        events[p.name] = list(p.events_to_register())
        return events

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.factory.start()
        await self.factory.wait_for_sync()
        # The informer caches are the process's big, long-lived heap: with CPython's default
        # thresholds full collections rescan them as pods arrive (as in the API server).
        gctune.tune_for_large_heap()
        self.queue.start()
        self.cache.start()
        self._loop_task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        self.queue.close()
        self.cache.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.factory.stop()
        await self.recorder.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        slice_end = 0.0
        while (qpi := await self.queue.pop()) is not None:
            # Let binding tasks and informer events run between slices: with a long queue the
            # loop would otherwise hold the event loop and every bind would wait for the end.
            if loop.time() >= slice_end:
                await asyncio.sleep(0)
                slice_end = loop.time() + SLICE
            try:
                await self.schedule_one(qpi)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling %s failed", qpi.pod_info.key)
                self.queue.add_unschedulable_if_not_present(qpi, backoff=True)
                self.queue.done(qpi.pod_info.uid)

    # ---- the scheduling cycle -------------------------------------------------------------------

    async def schedule_one(self, qpi: QueuedPodInfo) -> None:
        pod = qpi.pod_info.pod
        framework = self.frameworks.get((pod.get("spec") or {}).get("schedulerName") or "default-scheduler")
        if framework is None or _is_assigned(pod) or _is_terminal_or_deleting(pod) or \
                self.cache.is_assumed(qpi.pod_info.uid):
            self.queue.done(qpi.pod_info.uid)
            return
        self.cache.update_snapshot(self.snapshot)
        state = fw.CycleState()
        try:
            result = framework.schedule(state, pod)
        except FitError as e:
            nominated = None
            if framework.plugins("postFilter"):
                nominated, status = await framework.run_post_filter(state, pod, e.diagnosis.node_statuses)
                if not status.ok and status.message():
                    e.diagnosis.post_filter_msg = status.message()
            await self._failed(qpi, e.message(), "Unschedulable", e.diagnosis.unschedulable_plugins, nominated)
            return
        # Informer objects are never changed in place, so only the changed level is copied
        # (a deep copy of every pod was a visible share of each cycle).
        assumed = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": result.node}}
        self.cache.assume_pod(assumed, qpi.pod_info)
        status = await framework.run_reserve(state, assumed, result.node)
        if status.ok:
            status = await framework.run_permit(state, assumed, result.node)
        if not status.ok:
            self.cache.forget_pod(assumed)
            framework.run_unreserve(state, assumed, result.node)
            await self._failed(qpi, status.message(), "SchedulerError", {status.plugin}, None)
            return
        task = asyncio.create_task(self._bind(framework, state, qpi, assumed, result.node))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, framework: Framework, state: fw.CycleState, qpi: QueuedPodInfo, assumed: Obj,
                    node: str) -> None:
        try:
            status = await framework.run_binding(state, assumed, node)
        except Exception as e:
            status = fw.error(str(e))
        if not status.ok:
            self.cache.forget_pod(assumed)
            framework.run_unreserve(state, assumed, node)
            await self._failed(qpi, f"Binding rejected: {status.message()}", "SchedulerError", set(), None)
            return
        self.cache.finish_binding(assumed)
        md = assumed["metadata"]
        self.recorder.event(assumed, "Normal", "Scheduled",
                            f"Successfully assigned {md.get('namespace')}/{md['name']} to {node}")
        self.queue.done(qpi.pod_info.uid)

    async def _failed(self, qpi: QueuedPodInfo, message: str, reason: str, plugins: set[str],
                      nominated: str | None) -> None:
        """Say why (event + PodScheduled condition), then park the pod until something changes."""
        pod = qpi.pod_info.pod
        md = pod["metadata"]
        self.recorder.event(pod, "Warning", "FailedScheduling", message)
        qpi.unschedulable_plugins = {p for p in plugins if p}
        self.queue.add_unschedulable_if_not_present(qpi, backoff=reason != "Unschedulable")
        if nominated:
            self.queue.add_nominated(pod, nominated)
        self.queue.done(qpi.pod_info.uid)  # nominated "" clears an earlier nomination below
        status: Obj = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": reason,
                                       "message": message, "lastProbeTime": None,
                                       "lastTransitionTime": meta.rfc3339(self.clock.now())}]}
        if nominated is not None:
            status["nominatedNodeName"] = nominated or None
        try:
            await self.client.patch(PODS, md.get("namespace"), md["name"], {"status": status},
                                    patch_type="strategic", subresource="status")
        except errors.ApiError as e:
            if e.code != 404:
                log.warning("could not record scheduling failure of %s: %s", qpi.pod_info.key, e.message)

    # ---- informer handlers ----------------------------------------------------------------------

    def _responsible(self, pod: Obj) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or "default-scheduler") in self.frameworks

    def _pod_added(self, pod: Obj) -> None:
        if _is_assigned(pod):
            self.cache.add_pod(pod)
            self.queue.assigned_pod_added(pod)
        elif self._responsible(pod) and not _is_terminal_or_deleting(pod):
            self.queue.add(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if _is_assigned(new):
            if _is_assigned(old):
                self.cache.update_pod(old, new)
                self.queue.assigned_pod_updated(old, new)
            else:
                self.queue.delete(old)
                self.cache.add_pod(new)
                self.queue.assigned_pod_added(new)
        elif self._responsible(new):
            if _is_terminal_or_deleting(new):
                self.queue.delete(new)
            else:
                self.queue.update(old, new)

    def _pod_deleted(self, pod: Obj) -> None:
        if _is_assigned(pod):
            self.cache.remove_pod(pod)
            self.queue.assigned_pod_deleted(pod)
        else:
            self.queue.delete(pod)

    def _node_added(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff("NodeAdd")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(old, new)
        for event in node_update_events(old, new):
            self.queue.move_all_to_active_or_backoff(event)

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node)


async def run_scheduler(client: Client, *, leader_elect: bool = True, profiles: list[ProfileConfig] | None = None,
                        clock: Clock = REAL) -> None:
    """Run the scheduler until cancelled, only while holding the kube-scheduler Lease."""
    async def lead() -> None:
        scheduler = Scheduler(client, profiles=profiles, clock=clock)
        await scheduler.start()
        try:
            await asyncio.Event().wait()
        finally:
            await scheduler.stop()

    if not leader_elect:
        await lead()
        return
    await run_while_leader(client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, lead=lead, clock=clock,
                           component="scheduler")
