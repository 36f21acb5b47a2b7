"""Many simulated nodes in one process (as kwok does): each a full kubelet with the fake
runtime, sharing one API client and one pods informer that hands each pod to its node."""

from __future__ import annotations

import asyncio
import logging
import random

from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.client.informer import Informer
from kubeling.client.rest import RestClient
from kubeling.kubelet.agent import PODS, Kubelet
from kubeling.kubelet.runtime.fake import FakeRuntime

log = logging.getLogger("kubeling.sim")

# A simulated node's size (configurable): what kube-scheduler's scheduler_perf nodes have.
SIM_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}
# The kubelet's HeartbeatClient times out after min(nodeStatusUpdateFrequency, lease duration).
HEARTBEAT_TIMEOUT = 10.0
HEARTBEAT_CONNECTIONS = 16


def heartbeat_client_for(client: Client) -> Client | None:
    """A second client on the same connection, with its own keep-alive pool, for every node's
    Lease and status (None when `client` is not a RestClient: in-process tests share it)."""
    if not isinstance(client, RestClient):
        return None
    return RestClient(client.connection, user_agent=f"{client.user_agent} heartbeat",
                      max_connections=HEARTBEAT_CONNECTIONS, request_timeout=HEARTBEAT_TIMEOUT)


def _node_of(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


class SimulatedNodes:
    def __init__(self, client: Client, count: int, *, name_prefix: str = "sim-node-", clock: Clock = REAL,
                 capacity: dict[str, str] | None = None):
        self.client, self.clock = client, clock
        self.kubelets: dict[str, Kubelet] = {}
        rng = random.Random()  # one jitter source for every node's loops
        self.heartbeat_client = heartbeat_client_for(client)
        for i in range(count):
            name = f"{name_prefix}{i}"
            subnet = f"10.{64 + i // 256 % 64}.{i % 256}.0/24"  # a pod CIDR per node, as node IPAM would give
            self.kubelets[name] = Kubelet(client, FakeRuntime(clock=clock, pod_cidr=subnet), node_name=name,
                                          node_ip=f"127.{1 + i // 65536 % 254}.{i // 256 % 256}.{i % 256}",
                                          clock=clock, capacity=dict(capacity or SIM_CAPACITY), watch_pods=False,
                                          labels={"type": "kubeling-sim"}, rng=rng,
                                          heartbeat_client=self.heartbeat_client)
        self.informer = Informer(client, PODS, field_selector="spec.nodeName!=", clock=clock)
        self.informer.add_handler(on_add=self._update, on_update=lambda _old, new: self._update(new),
                                  on_delete=self._delete)

    def _update(self, pod: Obj) -> None:
        kubelet = self.kubelets.get(_node_of(pod))
        if kubelet is not None:
            kubelet.pods.update(pod)

    def _delete(self, pod: Obj) -> None:
        kubelet = self.kubelets.get(_node_of(pod))
        if kubelet is not None:
            kubelet.pods.delete(pod)

    async def start(self, concurrency: int = 64) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def start_one(k: Kubelet) -> None:
            async with gate:
                await k.start()

        await asyncio.gather(*(start_one(k) for k in self.kubelets.values()))
        await self.informer.start()
        log.info("%d simulated nodes running", len(self.kubelets))

    async def stop(self) -> None:
        await self.informer.stop()
        await asyncio.gather(*(k.stop() for k in self.kubelets.values()), return_exceptions=True)
        if self.heartbeat_client is not None:
            await self.heartbeat_client.close()
