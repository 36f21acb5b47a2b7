"""Many simulated nodes in one process (as kwok does): each a full kubelet with the fake
runtime, sharing one API client, one pods informer that hands each pod to its node, and one
Node informer their status syncs read (instead of a GET per node every 10 s)."""

from __future__ import annotations

import asyncio
import logging
import random

from kubeling import gctune
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.client.informer import Informer
from kubeling.client.rest import RestClient
from kubeling.kubelet.agent import PODS, Kubelet
from kubeling.kubelet.node import NODES
from kubeling.kubelet.runtime.fake import FakeRuntime

log = logging.getLogger("kubeling.sim")

# A simulated node's size (configurable): what kube-scheduler's scheduler_perf nodes have.
SIM_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}
SIM_LABELS = {"type": "kubeling-sim"}
# How often a simulated pod's worker looks at its containers unprompted. The fake runtime's
# container events wake it at once; what is left to time are CrashLoopBackOff restarts, which
# Kubernetes' pod workers also retry every 10 s (backOffPeriod), and activeDeadlineSeconds. At 1 s
# (a real node's relist period) 10,000 pods cost half a core of syncs that find nothing to do.
SIM_POD_RESYNC = 10.0
# The kubelet's HeartbeatClient times out after min(nodeStatusUpdateFrequency, lease duration).
HEARTBEAT_TIMEOUT = 10.0
# Connections for every node's Lease and status: a node's Lease must renew within 40 s however
# slow the server answers under load, so the pool grows with the nodes (5,000 renewals per 10 s
# over 16 connections need each answer in 32 ms; over 100, in 200 ms).
HEARTBEAT_CONNECTIONS = 16
NODES_PER_HEARTBEAT_CONNECTION = 50
# Pod status writes and reads: every real kubelet has a connection of its own; the simulated ones
# share a pool that grows with them, so a slow answer under load holds up fewer pods.
POD_CONNECTIONS = 64
NODES_PER_POD_CONNECTION = 20
# Every node's Events share a few connections of their own (the kubelet's event client has its own
# rate limit): a burst of them (three per started pod) waits there, not in front of pod status writes.
EVENT_CONNECTIONS = 8


def pod_connections(nodes: int) -> int:
    """The size of the sim's main client pool (pod status writes, pod reads) for `nodes` nodes."""
    return max(POD_CONNECTIONS, nodes // NODES_PER_POD_CONNECTION)


def heartbeat_client_for(client: Client, nodes: int = 0) -> Client | None:
    """A second client on the same connection, with its own keep-alive pool, for every node's
    Lease and status (None when `client` is not a RestClient: in-process tests share it)."""
    if not isinstance(client, RestClient):
        return None
    connections = max(HEARTBEAT_CONNECTIONS, nodes // NODES_PER_HEARTBEAT_CONNECTION)
    return RestClient(client.connection, user_agent=f"{client.user_agent} heartbeat",
                      max_connections=connections, request_timeout=HEARTBEAT_TIMEOUT)


def event_client_for(client: Client) -> Client | None:
    """A client with its own small pool for every node's Events (None: share `client`)."""
    if not isinstance(client, RestClient):
        return None
    return RestClient(client.connection, user_agent=f"{client.user_agent} events", max_connections=EVENT_CONNECTIONS)


def _node_of(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


class SimulatedNodes:
    def __init__(self, client: Client, count: int, *, name_prefix: str = "sim-node-", clock: Clock = REAL,
                 capacity: dict[str, str] | None = None, images: list[str] | None = None):
        self.client, self.clock = client, clock
        self.kubelets: dict[str, Kubelet] = {}
        rng = random.Random()  # one jitter source for every node's loops
        self.heartbeat_client = heartbeat_client_for(client, count)
        self.event_client = event_client_for(client)
        selector = ",".join(f"{k}={v}" for k, v in SIM_LABELS.items())
        self.node_informer = Informer(client, NODES, label_selector=selector, clock=clock)
        for i in range(count):
            name = f"{name_prefix}{i}"
            subnet = f"10.{64 + i // 256 % 64}.{i % 256}.0/24"  # a pod CIDR per node, as node IPAM would give
            runtime = FakeRuntime(clock=clock, pod_cidr=subnet, images=images)
            self.kubelets[name] = Kubelet(client, runtime, node_name=name,
                                          node_ip=f"127.{1 + i // 65536 % 254}.{i // 256 % 256}.{i % 256}",
                                          clock=clock, capacity=dict(capacity or SIM_CAPACITY), watch_pods=False,
                                          labels=dict(SIM_LABELS), rng=rng,
                                          heartbeat_client=self.heartbeat_client, event_client=self.event_client)
            self.kubelets[name].node.node_cache = self.node_informer.indexer.get
            self.kubelets[name].pods.resync = SIM_POD_RESYNC
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
        await self.node_informer.start()  # first: it sees each Node as it registers

        async def start_one(k: Kubelet) -> None:
            async with gate:
                await k.start()

        await asyncio.gather(*(start_one(k) for k in self.kubelets.values()))
        await self.informer.start()
        gctune.tune_for_large_heap()  # thousands of nodes' objects: collect less, never rescan them
        log.info("%d simulated nodes running", len(self.kubelets))

    async def stop(self) -> None:
        await self.informer.stop()
        await self.node_informer.stop()
        await asyncio.gather(*(k.stop() for k in self.kubelets.values()), return_exceptions=True)
        for extra in (self.heartbeat_client, self.event_client):
            if extra is not None:
                await extra.close()
