"""Garbage collection of pod sandboxes no pod worker owns (kubelet's container GC, for sandboxes):
those of pods deleted while the agent was down, or left behind by a crash. It runs once the
pods informer has synced (before that every pod would look deleted), then every period.

A sandbox is removed when no worker holds it and either its pod has no worker and is not bound
to this node, or its pod's worker started after the sandbox was made (a leftover of an earlier
run: the kubelet does not adopt containers). Dead containers beyond the last instance per
container name are removed by the workers themselves (it is the one `logs --previous` reads).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from kubeling.client.clock import Clock
from kubeling.kubelet.runtime.base import Runtime

log = logging.getLogger(__name__)

GC_PERIOD = 60.0  # seconds, as kubelet's ContainerGCPeriod
SYNC_POLL = 0.1


class SandboxOwners(Protocol):
    """What the collector asks of the pod workers."""

    def owned_sandboxes(self) -> set[str]: ...
    def worker_started(self, uid: str) -> float | None:
        """When the pod's worker began (epoch seconds), None without a worker."""

    async def forget_pod(self, uid: str) -> None:
        """Drop what the kubelet keeps for a pod no worker runs (its volumes)."""


class GarbageCollector:
    def __init__(self, runtime: Runtime, owners: SandboxOwners, *, bound_uids: Callable[[], set[str]],
                 synced: Callable[[], bool], clock: Clock, period: float = GC_PERIOD):
        self.runtime, self.owners, self.clock, self.period = runtime, owners, clock, period
        self.bound_uids, self.synced = bound_uids, synced
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kubelet-gc")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while not self.synced():
            await self.clock.sleep(SYNC_POLL)
        while True:
            try:
                await self.collect()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("pod sandbox garbage collection failed: %s", e)
            await self.clock.sleep(self.period)

    async def collect(self) -> list[str]:
        """One pass: remove the unowned sandboxes; return their ids."""
        sandboxes = await self.runtime.list_pod_sandboxes()
        owned, bound = self.owners.owned_sandboxes(), self.bound_uids()
        removed, orphaned_pods = [], set()
        for sb in sandboxes:
            if sb.id in owned or not sb.uid:
                continue
            started = self.owners.worker_started(sb.uid)
            if started is None and sb.uid in bound:
                continue  # its worker is about to start
            if started is not None and sb.created_at >= started:
                continue  # its worker may be making it right now
            try:
                await self.runtime.stop_pod_sandbox(sb.id)
                await self.runtime.remove_pod_sandbox(sb.id)
            except Exception as e:  # e.g. a network namespace still busy: next period
                log.warning("removing pod sandbox %s of pod %s: %s", sb.id, sb.uid, e)
                continue
            removed.append(sb.id)
            if started is None:
                orphaned_pods.add(sb.uid)
        for uid in orphaned_pods:
            await self.owners.forget_pod(uid)
        if removed:
            log.info("removed %d pod sandbox(es) no pod worker owns", len(removed))
        return removed
