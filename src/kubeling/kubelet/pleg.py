"""The pod lifecycle event generator (kubelet's generic PLEG): one ListPodSandbox and one
ListContainers per node every period, compared with the previous listing; a sandbox or
container whose state changed wakes the worker of its pod, at once instead of at its next resync.

The workers also read the listing: a sandbox found NOTREADY (its pause process died) is
re-created, and a container whose listed state is what the worker last saw needs no
ContainerStatus call. A runtime that reports changes itself (the fake runtime) needs no relist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kubeling.client.clock import Clock
from kubeling.kubelet.runtime.base import ContainerState, Runtime

log = logging.getLogger(__name__)

RELIST_PERIOD = 1.0  # seconds, as kubelet's relistPeriod
SANDBOX_READY = "SANDBOX_READY"


class Relister:
    """Lists the runtime every `period`; `on_change(sandbox_id)` for each sandbox whose own state or
    one of whose containers' states changed since the last listing (or that appeared or vanished)."""

    def __init__(self, runtime: Runtime, clock: Clock, on_change: Callable[[str], None],
                 period: float = RELIST_PERIOD):
        self.runtime, self.clock, self.on_change, self.period = runtime, clock, on_change, period
        self.sandboxes: dict[str, str] = {}  # sandbox id -> state
        self.containers: dict[str, tuple[ContainerState, str]] = {}  # container id -> (state, sandbox id)
        self.listed_at = -1.0  # clock.monotonic() when the last listing began; -1: never
        self.listed_until = -1.0  # ... and when it ended: all it holds is older than that
        self.idle = False
        self._task: asyncio.Task | None = None

    def parked(self) -> bool:
        """Not started, or waiting for its next period (for tests on a FakeClock)."""
        return self._task is None or self.idle

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pleg-relist")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.relist()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the runtime is down for a moment: try again next period
                log.warning("PLEG relist failed: %s", e)
            self.idle = True
            try:
                await self.clock.sleep(self.period)
            finally:
                self.idle = False

    async def relist(self) -> set[str]:
        """List once; return (and report) the ids of the sandboxes that changed."""
        began = self.clock.monotonic()
        sandboxes = {s.id: s.state for s in await self.runtime.list_pod_sandboxes()}
        containers = {c.id: (c.state, c.sandbox_id) for c in await self.runtime.list_containers()}
        changed = {sid for sid in sandboxes.keys() | self.sandboxes.keys()
                   if sandboxes.get(sid) != self.sandboxes.get(sid)}
        changed |= {(containers.get(cid) or self.containers[cid])[1]
                    for cid in containers.keys() | self.containers.keys()
                    if containers.get(cid) != self.containers.get(cid)}
        self.sandboxes, self.containers, self.listed_at = sandboxes, containers, began
        self.listed_until = self.clock.monotonic()
        for sid in changed:
            if sid:
                self.on_change(sid)
        return changed

    def sandbox_gone(self, sandbox_id: str, made_at: float) -> bool:
        """The sandbox is NOTREADY, or missing from a listing begun after it was made (monotonic)."""
        state = self.sandboxes.get(sandbox_id)
        if state is None:
            return self.listed_at > made_at
        return state != SANDBOX_READY

    def container_state(self, container_id: str) -> ContainerState | None:
        entry = self.containers.get(container_id)
        return entry[0] if entry else None
