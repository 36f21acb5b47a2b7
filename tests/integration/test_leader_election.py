"""Leader election between two candidates against a real kubeling server, in real (short) time.

Each candidate has its own RestClient, as two controller-manager processes would.
"""

import asyncio
import time

import pytest

from kubeling.client.events import EVENTS, EventRecorder
from kubeling.client.leaderelection import LEASES, LeaderElector
from kubeling.client.rest import RestClient

NS = "kube-system"
LEASE, RENEW, RETRY = 2.0, 1.5, 0.3
JITTERED_RETRY = RETRY * 2.2  # the longest pause between two acquire attempts


class Candidate:
    def __init__(self, kubeconfig, lease_name: str, identity: str, **kw):
        self.client = RestClient.from_kubeconfig(kubeconfig)
        self.recorder = EventRecorder(self.client, "kube-controller-manager")
        self.elector = LeaderElector(self.client, namespace=NS, name=lease_name, identity=identity,
                                     lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY,
                                     recorder=self.recorder, **kw)
        self.working = asyncio.Event()
        self.task = asyncio.create_task(self.elector.run(self._work))

    async def _work(self):
        self.working.set()
        await asyncio.Event().wait()

    async def stop(self):
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.recorder.close()
        await self.client.close()


async def until(predicate, timeout: float) -> float:
    """Seconds until predicate() holds; fails after timeout."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not reached in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def lease_spec(kubeconfig, name):
    async with RestClient.from_kubeconfig(kubeconfig) as client:
        return (await client.get(LEASES, NS, name))["spec"]


@pytest.mark.parametrize("release", [False, True])
async def test_the_other_candidate_takes_over_when_the_leader_stops(server, release):
    name = f"handover-{'release' if release else 'expiry'}"
    a = Candidate(server.kubeconfig, name, "a", release_on_cancel=release)
    await asyncio.wait_for(a.working.wait(), 5)
    b = Candidate(server.kubeconfig, name, "b")
    try:
        # b keeps seeing a renew, so it never takes over while a runs.
        await asyncio.sleep(LEASE + 2 * RETRY)
        assert a.elector.is_leader and not b.elector.is_leader and b.elector.observed_leader == "a"

        await a.stop()
        waited = await until(lambda: b.elector.is_leader, LEASE + JITTERED_RETRY + 1.0)
        if release:
            assert waited < JITTERED_RETRY + 0.5  # a gave the Lease up: no waiting for expiry
        else:
            assert waited >= LEASE - RETRY - 0.1  # a's last renewal must expire first
        await asyncio.wait_for(b.working.wait(), 1)

        spec = await lease_spec(server.kubeconfig, name)
        assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
        assert spec["leaseDurationSeconds"] == int(LEASE)
        await b.recorder.flush()
        messages = {e["message"] for e in (await b.client.list(EVENTS, NS))["items"]
                    if e["involvedObject"].get("name") == name}
        assert messages == {"a became leader", "b became leader"}
    finally:
        if not a.task.done():
            await a.stop()
        await b.stop()


async def test_repeated_event_is_counted_with_a_patch(server):
    async with RestClient.from_kubeconfig(server.kubeconfig) as client:
        recorder = EventRecorder(client, "kube-controller-manager")
        lease = await client.create(LEASES, NS, {"metadata": {"name": "event-count"}, "spec": {}})
        for _ in range(3):
            recorder.event(lease, "Normal", "LeaderElection", "x became leader")
        await recorder.close()
        [ev] = [e for e in (await client.list(EVENTS, NS))["items"]
                if e["involvedObject"].get("name") == "event-count"]
        assert ev["count"] == 3 and ev["involvedObject"]["kind"] == "Lease"
