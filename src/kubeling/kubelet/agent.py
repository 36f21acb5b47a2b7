"""One kubelet: registers its Node, keeps the Lease fresh, and runs the pods bound to it.

Pieces (each its own module): NodeManager (registration, heartbeats, node status),
PodWorkers (one task per pod driving the runtime), StatusManager (pod status patches),
ProbeManager (startup/liveness/readiness), and an informer that watches only the pods
whose spec.nodeName is this node.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from pathlib import Path

from kubeling.api import registry
from kubeling.client.base import Client
from kubeling.client.clock import REAL, Clock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import Informer
from kubeling.kubelet.node import NodeManager
from kubeling.kubelet.podworker import PodWorkers
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.runtime.base import Runtime
from kubeling.kubelet.server import KubeletServer, serving_context
from kubeling.kubelet.servingcert import serving_cert
from kubeling.kubelet.status import StatusManager
from kubeling.kubelet.volumes import VolumeManager

log = logging.getLogger("kubeling.kubelet")

PODS = registry.lookup("", "v1", "pods")


def default_node_ip() -> str:
    """The address the host's name resolves to, as the kubelet picks its InternalIP."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class Kubelet:
    def __init__(self, client: Client, runtime: Runtime, *, node_name: str, node_ip: str = "",
                 clock: Clock = REAL, capacity: dict[str, str] | None = None,
                 labels: dict[str, str] | None = None, kubelet_port: int = 10250, watch_pods: bool = True,
                 client_ca_pem: bytes | None = None, rng: random.Random | None = None,
                 heartbeat_client: Client | None = None, root_dir: Path | None = None,
                 on_pod_cidr=None, await_pod_cidr: bool = False, event_client: Client | None = None):
        # rng: jitter source; simulated nodes share one (a Random holds ~2.5 KB of state).
        # heartbeat_client: for the Lease and node status only, as the kubelet's HeartbeatClient,
        # so heartbeats never queue behind pod traffic in the client's connection pool.
        # event_client: for Events only, as the kubelet's own event client (eventRecordQPS), so a
        # burst of events never delays pod status writes.
        # on_pod_cidr: called with the node's podCIDR once the node IPAM controller gives it one
        # (the CRI agent writes its CNI config then); by default the runtime's update_pod_cidr.
        # root_dir: the kubelet's state (pods/<uid>/volumes/...), as /var/lib/kubelet; None: a
        # temporary directory, made when a pod first needs one and removed by stop().
        self.client, self.runtime, self.clock = client, runtime, clock
        self.node_name = node_name
        self.node_ip = node_ip or default_node_ip()
        self.recorder = EventRecorder(event_client or client, "kubelet", host=node_name, clock=clock, rng=rng)
        self.node = NodeManager(heartbeat_client or client, runtime, node_name=node_name, node_ip=self.node_ip, labels=labels,
                                capacity=capacity, clock=clock, kubelet_port=kubelet_port, events=self.recorder,
                                rng=rng, on_pod_cidr=on_pod_cidr or getattr(runtime, "update_pod_cidr", None),
                                await_pod_cidr=await_pod_cidr)
        self.status = StatusManager(client, clock)
        self.probes = ProbeManager(runtime, clock, recorder=self.recorder)
        self.volumes = VolumeManager(client, root_dir, clock=clock)
        self.pods = PodWorkers(runtime, client, self.status, self.probes, node_name=node_name,
                               node_ip=self.node_ip, clock=clock, recorder=self.recorder, volumes=self.volumes)
        # Simulated nodes share one pods informer (kubelet/sim.py) instead of one watch each.
        self.informer = Informer(client, PODS, field_selector=f"spec.nodeName={node_name}", clock=clock) \
            if watch_pods else None
        if self.informer is not None:
            self.informer.add_handler(on_add=self.pods.update, on_update=lambda _old, new: self.pods.update(new),
                                      on_delete=self.pods.delete)
        self._node_task: asyncio.Task | None = None
        # The HTTPS endpoint the API server proxies `kubectl logs` to; it trusts the cluster CA.
        self.server = None
        if client_ca_pem:
            cert, key = serving_cert(node_name, [self.node_ip], root_dir / "pki" if root_dir else None)
            self.server = KubeletServer(runtime, self._pod, port=kubelet_port, host=self.node_ip,
                                        ssl_context=serving_context(cert, key, client_ca_pem))

    def _pod(self, namespace: str, name: str):
        for pod in self.informer.indexer.list() if self.informer is not None else []:
            md = pod["metadata"]
            if md.get("namespace") == namespace and md.get("name") == name:
                return pod
        return None

    async def start(self) -> None:
        await self.runtime.start()
        if self.server is not None:
            self.node.kubelet_port = await self.server.start()
        await self.node.register()
        self._node_task = asyncio.create_task(self.node.run(), name=f"node-{self.node_name}")
        if self.informer is not None:
            await self.informer.start()
            informer = self.informer  # sandboxes of pods no longer bound here go, once it has synced
            self.pods.start_gc(lambda: {p["metadata"]["uid"] for p in informer.indexer.list()},
                               lambda: informer.has_synced)
        log.info("kubelet %s running (%s runtime, node IP %s)", self.node_name, self.runtime.name, self.node_ip)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the node can take pods: its pods informer synced and, when the runtime's network
        follows the podCIDR, that CIDR applied."""
        deadline = self.clock.monotonic() + timeout
        if self.informer is not None:
            await self.informer.wait_synced(timeout)
        while self.node.await_pod_cidr and not self.node.pod_cidr:
            if self.clock.monotonic() > deadline:
                raise TimeoutError(f"node {self.node_name} got no podCIDR in {timeout:g}s (is the nodeipam "
                                   "controller running?)")
            await self.clock.sleep(0.05)
        if self.node.await_pod_cidr:
            await self.node.sync_status()  # Ready now, not at the next status period

    async def stop(self) -> None:
        if self._node_task is not None:
            self._node_task.cancel()
            await asyncio.gather(self._node_task, return_exceptions=True)
        if self.informer is not None:
            await self.informer.stop()
        if self.server is not None:
            await self.server.stop()
        await self.pods.close()
        self.volumes.close()
        await self.probes.close()
        await self.recorder.close()
        await self.runtime.close()
