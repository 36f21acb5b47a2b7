"""The node IPAM controller: a pod CIDR for every Node (kube-controller-manager's `nodeipam`
with the range allocator, pkg/controller/nodeipam/ipam, v1.32).

The cluster CIDR (`--cluster-cidr`, k3s' 10.42.0.0/16 by default) is cut into blocks of
`--node-cidr-mask-size` bits (/24). A Node without spec.podCIDRs gets the next free block,
patched into spec.podCIDR and spec.podCIDRs; the kubelet then hands pod IPs out of it. Blocks
of Nodes that already have one are marked used before anything is allocated, and a deleted
Node's block is free again. When the range is exhausted the Node gets the Event Kubernetes
records (Normal `CIDRNotAvailable`, "Node NAME status is now: CIDRNotAvailable") and nothing
else; it is tried again when a block is freed.

Differences from Kubernetes, on purpose:
- On by default. kube-controller-manager only allocates with --allocate-node-cidrs=true; k3s
  always passes it, and kubeling's kubelet needs a podCIDR to write its CNI config, so here the
  controller being enabled (`--controllers`, `-nodeipam` to turn it off) is the switch.
- IPv4 single-stack only (no dual-stack `--cluster-cidr a,b`, no IPv6 ranges).
- A Node whose podCIDR lies outside the cluster CIDR is logged and left alone; Kubernetes'
  controller-manager refuses to start.
- A Node waiting for a free block is retried when one is freed, instead of on a backoff timer
  (blocks only come free when Nodes are deleted, which this controller sees).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.client.controller import Controller
from kubeling.client.events import NORMAL, EventRecorder
from kubeling.client.informer import InformerFactory

log = logging.getLogger("kubeling.controllers.nodeipam")

NODES = registry.lookup("", "v1", "nodes")

DEFAULT_CLUSTER_CIDR = "10.42.0.0/16"  # k3s' default
DEFAULT_NODE_CIDR_MASK_SIZE = 24  # kube-controller-manager's IPv4 default
DEFAULT_WORKERS = 4

# Node status changes recorded as Events (controllerutil.RecordNodeStatusChange).
CIDR_NOT_AVAILABLE = "CIDRNotAvailable"
CIDR_ASSIGNMENT_FAILED = "CIDRAssignmentFailed"


# ---- settings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeIPAMSettings:
    """The controller's flags, checked: build with `parse` from what the command line gave."""

    cluster_cidr: IPv4Network = field(default_factory=lambda: IPv4Network(DEFAULT_CLUSTER_CIDR))
    node_cidr_mask_size: int = DEFAULT_NODE_CIDR_MASK_SIZE

    @classmethod
    def parse(cls, cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
              node_cidr_mask_size: int | str = DEFAULT_NODE_CIDR_MASK_SIZE) -> NodeIPAMSettings:
        """Raise ValueError with a message fit for the command line when a flag is wrong."""
        text = cluster_cidr.strip()
        if "," in text:
            raise ValueError(f"--cluster-cidr {cluster_cidr!r}: dual-stack is not supported, give one IPv4 CIDR")
        try:
            if "/" not in text:  # Go's ParseCIDR wants the prefix length; ip_network would take a /32
                raise ValueError
            network = ipaddress.ip_network(text, strict=False)  # host bits dropped, as ParseCIDR does
        except ValueError:
            raise ValueError(f"--cluster-cidr {cluster_cidr!r}: invalid CIDR address: {text}") from None
        if not isinstance(network, IPv4Network):
            raise ValueError(f"--cluster-cidr {cluster_cidr!r}: only IPv4 is supported")
        try:
            size = int(node_cidr_mask_size)
        except (TypeError, ValueError):
            raise ValueError(f"--node-cidr-mask-size {node_cidr_mask_size!r}: not an integer") from None
        if not network.prefixlen <= size <= 32:
            raise ValueError(f"--node-cidr-mask-size {size}: must be between the --cluster-cidr prefix length "
                             f"({network.prefixlen}) and 32")
        return cls(network, size)


# ---- the set of blocks --------------------------------------------------------------------------

class CIDRSet:
    """cidrset.CidrSet for IPv4: the cluster CIDR cut into node-sized blocks, handed out round
    robin from where the last allocation stopped (a freed block is not reused at once)."""

    def __init__(self, cluster: IPv4Network, mask_size: int):
        self.cluster, self.mask_size = cluster, mask_size
        self.size = 1 << (mask_size - cluster.prefixlen)
        self._shift = 32 - mask_size
        self._used: set[int] = set()
        self._next = 0

    @property
    def used(self) -> int:
        return len(self._used)

    def block(self, index: int) -> IPv4Network:
        return IPv4Network((int(self.cluster.network_address) | (index << self._shift), self.mask_size))

    def allocate_next(self) -> IPv4Network | None:
        """The next free block, now used; None when every block is."""
        if len(self._used) >= self.size:
            return None
        candidate = self._next
        while candidate in self._used:
            candidate = (candidate + 1) % self.size
        self._next = (candidate + 1) % self.size
        self._used.add(candidate)
        return self.block(candidate)

    def _indices(self, cidr: IPv4Network) -> range:
        if not cidr.overlaps(self.cluster):
            raise ValueError(f"cidr {cidr} is out the range of cluster cidr {self.cluster}")
        base = int(self.cluster.network_address)
        first = max(int(cidr.network_address), base) - base
        last = min(int(cidr.broadcast_address), int(self.cluster.broadcast_address)) - base
        return range(first >> self._shift, (last >> self._shift) + 1)

    def occupy(self, cidr: IPv4Network) -> None:
        """Mark every block cidr touches used (ValueError when it lies outside the cluster CIDR)."""
        self._used.update(self._indices(cidr))

    def release(self, cidr: IPv4Network) -> None:
        self._used.difference_update(self._indices(cidr))


# ---- node helpers -------------------------------------------------------------------------------

def pod_cidrs(node: Obj) -> list[str]:
    """spec.podCIDRs, or the older single spec.podCIDR when only that is set."""
    spec = node.get("spec") or {}
    cidrs = [c for c in spec.get("podCIDRs") or [] if isinstance(c, str) and c]
    if not cidrs and isinstance(spec.get("podCIDR"), str) and spec["podCIDR"]:
        cidrs = [spec["podCIDR"]]
    return cidrs


def _ipv4(cidr: str) -> IPv4Network | None:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return network if isinstance(network, IPv4Network) else None


def _node_ref(node: Obj) -> Obj:
    md = node.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Node", "name": md.get("name", ""), "uid": md.get("uid", "")}


def cidr_patch(cidr: IPv4Network) -> Obj:
    """What PatchNodeCIDRs sends: the list and, for older readers, its first entry."""
    return {"spec": {"podCIDR": str(cidr), "podCIDRs": [str(cidr)]}}


# ---- the controller -----------------------------------------------------------------------------

class NodeIPAMController(Controller):
    name = "nodeipam"

    def __init__(self, client: Client, factory: InformerFactory, recorder: EventRecorder, *,
                 clock: Clock = REAL, workers: int = DEFAULT_WORKERS, settings: NodeIPAMSettings | None = None):
        super().__init__(workers=workers, clock=clock)
        self.client, self.recorder = client, recorder
        self.settings = settings or NodeIPAMSettings()
        self.cidrs = CIDRSet(self.settings.cluster_cidr, self.settings.node_cidr_mask_size)
        # Blocks reserved for a node and patched (or being patched) but not yet seen on it:
        # a second look at the node before the informer catches up reuses the same block.
        self._pending: dict[str, IPv4Network] = {}
        self._waiting: set[str] = set()  # nodes that found the range exhausted
        self.nodes = factory.informer(NODES)
        self.nodes.add_handler(on_add=self._node_changed, on_update=lambda _old, new: self._node_changed(new),
                               on_delete=self._node_deleted)

    async def start(self) -> None:
        # Every block already in use is marked before the first allocation.
        for node in self.nodes.indexer.list():
            self._occupy(node)
        await super().start()

    # ---- informer handlers ----------------------------------------------------------------------

    def _node_changed(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        if pod_cidrs(node):
            self._occupy(node)
        elif name not in self._waiting and name not in self._pending:
            # A waiting node is woken when a block is freed; a pending one is settled by its patch.
            self.queue.add(name)

    def _node_deleted(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        self._waiting.discard(name)
        freed = self._release_pending(name)
        for cidr in filter(None, map(_ipv4, pod_cidrs(node))):
            try:
                self.cidrs.release(cidr)
                freed = True
            except ValueError:
                pass  # outside our range: never ours
        if freed and self._waiting:
            for waiting in sorted(self._waiting):
                self.queue.add(waiting)
            self._waiting.clear()

    # ---- bookkeeping ----------------------------------------------------------------------------

    def _occupy(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        self._waiting.discard(name)
        cidrs = [c for c in map(_ipv4, pod_cidrs(node)) if c is not None]
        reserved = self._pending.pop(name, None)
        if reserved is not None and reserved not in cidrs:
            self.cidrs.release(reserved)  # someone else gave the node another block
        for cidr in cidrs:
            try:
                self.cidrs.occupy(cidr)
            except ValueError as e:
                log.warning("node %s: podCIDR %s left alone: %s", name, cidr, e)

    def _release_pending(self, name: str) -> bool:
        reserved = self._pending.pop(name, None)
        if reserved is None:
            return False
        self.cidrs.release(reserved)
        return True

    # ---- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        """Give the node a block unless it has one (AllocateOrOccupyCIDR, then the CIDR patch)."""
        node = self.nodes.indexer.get(key)
        if node is None:
            self._release_pending(key)
            return None
        if pod_cidrs(node):
            self._occupy(node)
            return None
        cidr = self._pending.get(key) or self.cidrs.allocate_next()
        if cidr is None:
            self._waiting.add(key)
            log.warning("node %s: no CIDR left in %s to allocate", key, self.settings.cluster_cidr)
            self.recorder.event(_node_ref(node), NORMAL, CIDR_NOT_AVAILABLE,
                                f"Node {key} status is now: {CIDR_NOT_AVAILABLE}")
            return None
        self._pending[key] = cidr
        try:
            await self.client.patch(NODES, None, key, cidr_patch(cidr), patch_type="strategic")
        except ApiError as e:
            if e.code in (404, 422):  # gone, or given another block meanwhile: the informer says which
                self._release_pending(key)
                return None
            self.recorder.event(_node_ref(node), NORMAL, CIDR_ASSIGNMENT_FAILED,
                                f"Node {key} status is now: {CIDR_ASSIGNMENT_FAILED}")
            raise  # retried with backoff, keeping the reservation
        log.info("node %s: set podCIDR %s", key, cidr)
        return None
