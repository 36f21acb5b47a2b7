"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

A candidate takes the Lease when nobody holds it or when the holder's lease has expired. Expiry is
judged by when *this* candidate last saw the record change, measured on its own monotonic clock
(never by comparing the holder's timestamps with local time, so clock skew does not matter).
Every write is an update carrying the resourceVersion that was read: a 409 means another
candidate wrote first, and the attempt simply fails until the next retry.

The leader renews every `retry_period`; if renewals keep failing for `renew_deadline` it steps
down (before other candidates, who wait `lease_duration`, may take over). Differences from
client-go, both on the safe side: a leader that sees another holder in the Lease steps down at
once, and `on_stopped_leading` is called only if leadership was actually held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import rfc3339_micro
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock

log = logging.getLogger(__name__)

LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")
JITTER_FACTOR = 1.2  # client-go's acquire loop waits retry_period * (1 + rand * 1.2)


class LeaderElector:
    def __init__(self, client: Client, *, namespace: str, name: str, identity: str,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 clock: Clock | None = None, release_on_cancel: bool = False,
                 jitter: float = JITTER_FACTOR, rng: random.Random | None = None,
                 recorder: Any = None):
        if not identity:
            raise ValueError("leader election requires a non-empty identity")
        if lease_duration <= renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if renew_deadline <= jitter * retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period*{jitter}")
        if retry_period <= 0:
            raise ValueError("retry_period must be greater than zero")
        self.client = client
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.clock = clock or REAL
        self.release_on_cancel = release_on_cancel
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._recorder = recorder  # an EventRecorder: "<identity> became leader" on the Lease
        self._lease: Obj | None = None  # the last Lease read or written (its resourceVersion included)
        self._observed: Obj | None = None  # the last lease spec seen...
        self._observed_time = 0.0  # ...and when it was seen (clock.monotonic())
        self._leading = False

    # ---- state ----------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while run() holds leadership and the last record seen names this candidate."""
        return self._leading and self.observed_leader == self.identity

    @property
    def observed_leader(self) -> str:
        """The holderIdentity of the last Lease record seen ("" if none or released)."""
        return (self._observed or {}).get("holderIdentity") or ""

    def _observe(self, lease: Obj) -> None:
        spec = lease.get("spec") or {}
        if spec != self._observed:
            if (spec.get("holderIdentity") or "") != self.observed_leader:
                log.info("lease %s/%s: new leader observed: %r", self.namespace, self.name,
                         spec.get("holderIdentity") or "")
            self._observed = spec
            self._observed_time = self.clock.monotonic()
        self._lease = lease

    def _expired(self, spec: Obj) -> bool:
        duration = spec.get("leaseDurationSeconds") or 0
        return self._observed_time + duration <= self.clock.monotonic()

    # ---- one attempt ----------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease; True if this candidate now holds it."""
        now = rfc3339_micro(self.clock.now())
        spec: Obj = {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, int(self.lease_duration)),
                     "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        if self._holding() and await self._fast_renew(spec):
            return True
        try:
            lease = await self.client.get(LEASES, self.namespace, self.name)
        except ApiError as e:
            if e.code != 404:
                log.error("error retrieving lease %s/%s: %s", self.namespace, self.name, e.message)
                return False
            return await self._create(spec)
        except Exception as e:
            log.error("error retrieving lease %s/%s: %s", self.namespace, self.name, e)
            return False
        self._observe(lease)
        old = lease.get("spec") or {}
        holder = old.get("holderIdentity") or ""
        if holder and holder != self.identity and not self._expired(old):
            return False
        if holder == self.identity:
            spec["acquireTime"] = old.get("acquireTime") or now
            spec["leaseTransitions"] = old.get("leaseTransitions") or 0
        else:
            spec["leaseTransitions"] = (old.get("leaseTransitions") or 0) + 1
        return await self._update(lease, spec)

    def _holding(self) -> bool:
        """Leading by our own last write, and that write has not expired yet."""
        return (self._lease is not None and self.observed_leader == self.identity
                and not self._expired(self._observed or {}))

    async def _fast_renew(self, spec: Obj) -> bool:
        # While leading, our last write is the current record unless someone wrote since: update it
        # directly (one request, no GET); a 409 sends us down the read-then-write path.
        assert self._lease is not None and self._observed is not None
        spec["acquireTime"] = self._observed.get("acquireTime") or spec["acquireTime"]
        spec["leaseTransitions"] = self._observed.get("leaseTransitions") or 0
        return await self._update(self._lease, spec, quiet=True)

    async def _create(self, spec: Obj) -> bool:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        try:
            created = await self.client.create(LEASES, self.namespace, lease)
        except Exception as e:
            log.info("error creating lease %s/%s: %s", self.namespace, self.name, _message(e))
            return False
        self._observe(created)
        return True

    async def _update(self, lease: Obj, spec: Obj, *, quiet: bool = False) -> bool:
        body = {**lease, "spec": spec}  # metadata keeps the resourceVersion read: optimistic concurrency
        try:
            updated = await self.client.update(LEASES, body)
        except Exception as e:
            log.log(logging.DEBUG if quiet else logging.INFO, "failed to update lease %s/%s: %s",
                    self.namespace, self.name, _message(e))
            return False
        self._observe(updated)
        return True

    async def release(self) -> bool:
        """Give the Lease up at once (holder "", 1 s duration) if this candidate holds it."""
        if self._lease is None or self.observed_leader != self.identity:
            return True
        now = rfc3339_micro(self.clock.now())
        spec = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": now, "renewTime": now,
                "leaseTransitions": (self._observed or {}).get("leaseTransitions") or 0}
        ok = await self._update(self._lease, spec)
        if not ok:
            log.error("failed to release lease %s/%s", self.namespace, self.name)
        return ok

    # ---- the loop -------------------------------------------------------------------------------

    async def run(self, on_started_leading: Callable[[], Awaitable[None]],
                  on_stopped_leading: Callable[[], None] | None = None) -> None:
        """Wait for leadership, run `on_started_leading()` while leading, and return when leadership
        is lost (the leading coroutine is then cancelled) or when it returns; cancellation of run()
        cancels it too. An exception from the leading coroutine is re-raised here."""
        await self._acquire()
        self._leading = True
        log.info("successfully acquired lease %s/%s as %s", self.namespace, self.name, self.identity)
        if self._recorder is not None and self._lease is not None:
            self._recorder.event(self._lease, "Normal", "LeaderElection", f"{self.identity} became leader")
        work = asyncio.ensure_future(on_started_leading())
        renew = asyncio.ensure_future(self._renew_loop())
        try:
            await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._leading = False
            for task in (work, renew):
                task.cancel()
            for task in (work, renew):
                with contextlib.suppress(asyncio.CancelledError):
                    await _settle(task)
            if self.release_on_cancel:
                await self.release()
            if on_stopped_leading is not None:
                on_stopped_leading()
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.retry_period * (1.0 + self._rng.random() * self.jitter))

    async def _renew_loop(self) -> None:
        """Returns when leadership is lost."""
        while True:
            await self.clock.sleep(self.retry_period)
            if not await self._renew_within_deadline():
                log.info("failed to renew lease %s/%s: leadership lost", self.namespace, self.name)
                return

    async def _renew_within_deadline(self) -> bool:
        start = self.clock.monotonic()
        while True:
            if await self._attempt():
                return True
            if self.observed_leader != self.identity:
                return False  # someone else holds the Lease now: stop acting at once
            if self.clock.monotonic() - start >= self.renew_deadline:
                return False
            await self.clock.sleep(self.retry_period)

    async def _attempt(self) -> bool:
        # A hung request must not outlive the renew deadline (measured in real time here).
        try:
            return await asyncio.wait_for(self.try_acquire_or_renew(), self.renew_deadline)
        except TimeoutError:
            log.error("renewing lease %s/%s timed out", self.namespace, self.name)
            return False


async def _settle(task: asyncio.Future) -> None:
    """Wait for a cancelled task to finish; its own exception, if any, is reported by run()."""
    with contextlib.suppress(Exception):
        await task


def _message(e: Exception) -> str:
    return e.message if isinstance(e, ApiError) else str(e)


async def run_while_leader(client, *, namespace: str, name: str, lead, identity: str = "",
                           clock=None, component: str = "component") -> None:
    """Run `lead()` whenever this process holds the Lease, forever (until cancelled): the
    loop every leader-elected component (controller-manager, scheduler) shares. A clean stop
    releases the Lease, so a standby takes over at once instead of waiting for expiry."""
    import socket
    import uuid

    from kubeling.client.clock import REAL

    clock = clock or REAL
    elector = LeaderElector(client, namespace=namespace, name=name,
                            identity=identity or f"{socket.gethostname()}_{uuid.uuid4()}", clock=clock,
                            release_on_cancel=True)
    while True:
        try:
            await elector.run(lead)
            log.info("%s lost the %s/%s lease; standing by", component, namespace, name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped with an error; standing by for the lease again", component)
            await clock.sleep(2.0)
