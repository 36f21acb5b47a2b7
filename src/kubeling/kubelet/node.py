"""The kubelet's node: registration, the node Lease heartbeat and node status.

Follows pkg/kubelet/kubelet_node_status.go, nodestatus/setters.go and
pkg/kubelet/nodelease: the Node is created (or reconciled when it already exists), a Lease
in kube-node-lease is renewed every 10 s, and node status is computed every 10 s but
written only when it changed or 5 minutes passed since the last report. The Node is read
with a GET per status period, as the kubelet does, or from a shared cache (`node_cache`:
simulated nodes share one Node informer instead of N/10 GETs per second).

One NodeManager is one sleeping task on the injected clock, so thousands fit in a process.
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import os
import platform
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubeling import KUBERNETES_VERSION
from kubeling.api import errors, quantity, registry
from kubeling.api.meta import rfc3339, rfc3339_micro
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.kubelet.runtime.base import ImageInfo, Runtime
from kubeling.client.base import json_copy

log = logging.getLogger("kubeling.kubelet.node")

NODES = registry.lookup("", "v1", "nodes")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_INTERVAL = 10.0  # a quarter of the lease duration, as the kubelet does
STATUS_UPDATE_FREQUENCY = 10.0  # nodeStatusUpdateFrequency: how often status is computed
STATUS_REPORT_FREQUENCY = 300.0  # nodeStatusReportFrequency: a write at least this often
JITTER = 0.04  # wait.JitterUntil's factor in the kubelet's loops
MAX_BACKOFF = 7.0  # registration and lease retries back off up to this
MAX_IMAGES = 50  # nodeStatusMaxImages
MAX_NAMES_PER_IMAGE = 5
POD_CIDR_FIRST_POLL = 0.1  # awaiting a podCIDR: the Node is read again after this, doubling

# Labels the kubelet owns and keeps in sync on an existing Node (updateDefaultLabels).
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
BETA_LABEL_OS = "beta.kubernetes.io/os"
BETA_LABEL_ARCH = "beta.kubernetes.io/arch"
ANNOTATION_CMAD = "volumes.kubernetes.io/controller-managed-attach-detach"

# Eviction hard thresholds the kubelet subtracts from capacity by default.
EVICTION_MEMORY_AVAILABLE = 100 * 1024 * 1024  # memory.available<100Mi
EVICTION_NODEFS_FRACTION = 0.10  # nodefs.available<10%

# (type, reason when fine, message when fine) in the order the kubelet's setters add them.
_PRESSURE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
READY_REASON = "KubeletReady"
READY_MESSAGE = "kubelet is posting ready status"
# What the kubelet says while the runtime's network (CNI) has no config yet.
NETWORK_NOT_READY_MESSAGE = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                             "message:Network plugin returns error: cni plugin not initialized")
NOT_READY_REASON = "KubeletNotReady"

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "ppc64le": "ppc64le", "s390x": "s390x"}


# ---- the machine ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostInfo:
    """What nodeInfo says about the machine (cAdvisor's MachineInfo and VersionInfo)."""

    os_image: str
    kernel_version: str
    operating_system: str
    architecture: str
    machine_id: str
    system_uuid: str
    boot_id: str

    def for_node(self, node_name: str) -> HostInfo:
        """The same machine seen as a distinct simulated node: its own ids, stable per name."""
        ns = uuid.uuid5(uuid.NAMESPACE_DNS, node_name)
        return HostInfo(self.os_image, self.kernel_version, self.operating_system, self.architecture,
                        ns.hex, str(ns), str(uuid.uuid5(ns, "boot")))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Unknown"


@functools.cache
def host_info() -> HostInfo:
    """This machine, read once (the files do not change while we run)."""
    machine_id = _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")
    return HostInfo(
        os_image=_os_image(),
        kernel_version=platform.release(),
        operating_system="linux",
        architecture=_ARCH.get(platform.machine().lower(), platform.machine().lower()),
        machine_id=machine_id,
        system_uuid=_read("/sys/class/dmi/id/product_uuid") or machine_id,
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
    )


def _mem_total_bytes() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _binary_quantity(n: int) -> str:
    """How resource.NewQuantity(n, BinarySI) prints: whole Ki when it divides, else bytes."""
    return f"{n // 1024}Ki" if n % 1024 == 0 and n else str(n)


def host_capacity(path: str = ".") -> dict[str, str]:
    """This machine's capacity as the kubelet reports it (ephemeral storage: the filesystem of `path`)."""
    st = os.statvfs(path)
    return {
        "cpu": str(os.cpu_count() or 1),
        "ephemeral-storage": _binary_quantity(st.f_blocks * st.f_frsize),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": _binary_quantity(_mem_total_bytes()),
        "pods": "110",
    }


def default_allocatable(capacity: dict[str, str]) -> dict[str, str]:
    """Capacity less the default eviction thresholds (no kube/system reservations), as the
    kubelet computes it with its default configuration."""
    out = dict(capacity)
    if "memory" in capacity:
        out["memory"] = _binary_quantity(max(0, quantity.value(capacity["memory"]) - EVICTION_MEMORY_AVAILABLE))
    if "ephemeral-storage" in capacity:
        total = quantity.value(capacity["ephemeral-storage"])
        out["ephemeral-storage"] = str(total - int(total * EVICTION_NODEFS_FRACTION))
    return out


# ---- status pieces ----------------------------------------------------------------------------------


def node_images(images: list[ImageInfo]) -> list[dict[str, Any]]:
    """status.images: biggest first, at most 50, at most 5 names each (setters.Images)."""
    out = []
    for img in sorted(images, key=lambda i: i.size, reverse=True)[:MAX_IMAGES]:
        names = [n for n in ([img.id] if "@" in img.id else []) + list(img.repo_tags) if n]
        if names:
            out.append({"names": names[:MAX_NAMES_PER_IMAGE], "sizeBytes": img.size})
    return out


def _condition(ctype: str, status: str, reason: str, message: str, previous: Obj | None, now: str) -> Obj:
    # The transition time moves only when the status does (setters.*Condition).
    same = previous is not None and previous.get("status") == status
    return {"type": ctype, "status": status, "lastHeartbeatTime": now,
            "lastTransitionTime": previous.get("lastTransitionTime", now) if same else now,
            "reason": reason, "message": message}


def _comparable(status: Obj) -> Obj:
    """A status without heartbeat times and with canonical quantities, for change detection
    (nodeStatusHasChanged ignores lastHeartbeatTime). Shares what it does not change with
    `status` (no deep copy: thousands of simulated nodes compare every 10 s)."""
    out = dict(status)
    if isinstance(out.get("conditions"), list):
        out["conditions"] = [{k: v for k, v in cond.items() if k != "lastHeartbeatTime"}
                             if isinstance(cond, dict) else cond for cond in out["conditions"]]
    for key in ("capacity", "allocatable"):
        if isinstance(out.get(key), dict):
            out[key] = {k: _canonical(v) for k, v in out[key].items()}
    return out


def _canonical(q: Any) -> Any:
    try:
        return quantity.canonical(q)
    except (TypeError, ValueError):
        return q


_MANAGED = ("capacity", "allocatable", "conditions", "addresses", "daemonEndpoints", "nodeInfo", "images")

PodCIDRHook = Callable[[str], Awaitable[None] | None]
NodeCache = Callable[[str], Obj | None]  # node name -> the Node as an informer holds it, None if unseen


def _revision(node: Obj) -> int | None:
    rv = (node.get("metadata") or {}).get("resourceVersion", "")
    return int(rv) if isinstance(rv, str) and rv.isdigit() else None


def newest(cached: Obj, written: Obj | None) -> Obj:
    """The later of a cached Node and the one our own last write returned: a watch may not yet
    have delivered that write, and a status computed over the older one would write it again."""
    if written is None:
        return cached
    a, b = _revision(cached), _revision(written)
    return written if a is not None and b is not None and b > a else cached


def node_pod_cidr(node: Obj) -> str:
    """The Node's podCIDR (the first of spec.podCIDRs, IPv4 single-stack), "" when unset."""
    spec = node.get("spec") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    return cidrs[0] if cidrs and isinstance(cidrs[0], str) else ""


# ---- the manager ----------------------------------------------------------------------------------


class NodeManager:
    """Registers one Node, keeps its Lease fresh and its status current."""

    def __init__(self, client: Client, runtime: Runtime, *, node_name: str, node_ip: str,
                 labels: dict[str, str] | None = None, capacity: dict[str, str] | None = None,
                 allocatable: dict[str, str] | None = None, clock: Clock = REAL, kubelet_port: int = 10250,
                 hostname: str | None = None, info: HostInfo | None = None, taints: list[Obj] | None = None,
                 events: Any = None, jitter: float = JITTER, rng: random.Random | None = None,
                 on_pod_cidr: PodCIDRHook | None = None, await_pod_cidr: bool = False,
                 node_cache: NodeCache | None = None):
        # on_pod_cidr: called with the Node's podCIDR when first seen and on change (the kubelet's
        # updatePodCIDR: the runtime's network config follows it); await_pod_cidr: read the Node
        # every POD_CIDR_FIRST_POLL s, doubling, until it has one, rather than every status period.
        # node_cache: where status syncs read the Node (None: a GET each time).
        self.client = client
        self.runtime = runtime
        self.node_name = node_name
        self.node_ip = node_ip
        self.hostname = hostname or node_name
        self.clock = clock
        self.kubelet_port = kubelet_port
        self.info = info or host_info()
        self.capacity = dict(capacity) if capacity is not None else host_capacity()
        self.allocatable = dict(allocatable) if allocatable is not None else default_allocatable(self.capacity)
        self.extra_labels = dict(labels or {})
        self.taints = list(taints or [])
        self.events = events  # an EventRecorder, or None for no node events
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.node_uid = ""
        self._lease: Obj | None = None
        self._last_report = float("-inf")  # monotonic time of the last status write
        self._ready: tuple[bool, str] = (True, "")
        self.on_pod_cidr = on_pod_cidr
        self.await_pod_cidr = await_pod_cidr
        self.pod_cidr = ""  # the podCIDR last applied
        self._pod_cidr_poll = POD_CIDR_FIRST_POLL
        self.node_cache = node_cache
        self._written: Obj | None = None  # the Node as our last create or patch returned it
        self._cache_saw_node = False
        self._created_node = False  # this manager created the Node (so no Lease can exist yet)

    # -- what the kubelet says about itself

    def set_ready(self, ready: bool, message: str = "") -> None:
        """Runtime health as the Ready condition shows it; written at the next status sync."""
        self._ready = (ready, message)

    def default_labels(self) -> dict[str, str]:
        return {LABEL_HOSTNAME: self.hostname.lower(), LABEL_OS: self.info.operating_system,
                LABEL_ARCH: self.info.architecture, BETA_LABEL_OS: self.info.operating_system,
                BETA_LABEL_ARCH: self.info.architecture}

    def node_info(self) -> dict[str, str]:
        i = self.info
        return {"machineID": i.machine_id, "systemUUID": i.system_uuid, "bootID": i.boot_id,
                "kernelVersion": i.kernel_version, "osImage": i.os_image,
                "containerRuntimeVersion": f"{self.runtime.name}://{self.runtime.version}",
                "kubeletVersion": KUBERNETES_VERSION, "kubeProxyVersion": "",
                "operatingSystem": i.operating_system, "architecture": i.architecture}

    async def desired_status(self, current: Obj) -> Obj:
        """The managed part of status, computed over what the server holds now."""
        now = rfc3339(self.clock.now())
        previous = {c.get("type"): c for c in current.get("conditions") or []}
        conditions = [_condition(t, "False", reason, message, previous.get(t), now)
                      for t, reason, message in _PRESSURE_CONDITIONS]
        ready, why = self._ready
        if ready and self.await_pod_cidr and not self.pod_cidr:
            ready, why = False, NETWORK_NOT_READY_MESSAGE  # no CNI config before the node has a podCIDR
        conditions.append(_condition("Ready", "True" if ready else "False", READY_REASON if ready else NOT_READY_REASON,
                                     READY_MESSAGE if ready else why, previous.get("Ready"), now))
        return {
            "capacity": dict(self.capacity),
            "allocatable": dict(self.allocatable),
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": self.node_ip},
                          {"type": "Hostname", "address": self.hostname}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": self.node_info(),
            "images": node_images(await self.runtime.list_images()),
        }

    # -- registration

    async def register(self) -> Obj:
        """Create the Node, or reconcile the one that exists (tryRegisterWithAPIServer)."""
        labels = {**self.extra_labels, **self.default_labels()}
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node_name, "labels": labels, "annotations": {ANNOTATION_CMAD: "true"}},
                "spec": {"taints": copy.deepcopy(self.taints)} if self.taints else {}}
        node["status"] = await self.desired_status({})
        try:
            created = await self.client.create(NODES, None, node)
            self._written, self._created_node = created, True
            self._registered(created)
            await self.update_pod_cidr(created)
            self._last_report = self.clock.monotonic()  # the create carried a full status
            self._record_transitions({}, created.get("status") or {})
            return created
        except errors.ApiError as e:
            if e.code != 409:
                raise
        existing = await self.client.get(NODES, None, self.node_name)
        md = existing.get("metadata") or {}
        want_labels = {k: v for k, v in self.default_labels().items() if (md.get("labels") or {}).get(k) != v}
        want_ann = {} if (md.get("annotations") or {}).get(ANNOTATION_CMAD) == "true" else {ANNOTATION_CMAD: "true"}
        if want_labels or want_ann:
            meta: Obj = {}
            if want_labels:
                meta["labels"] = want_labels
            if want_ann:
                meta["annotations"] = want_ann
            existing = await self.client.patch(NODES, None, self.node_name, {"metadata": meta})
        self._written = existing
        self._registered(existing)
        await self.update_pod_cidr(existing)
        return existing

    def _registered(self, node: Obj) -> None:
        self.node_uid = node["metadata"].get("uid", "")
        log.info("node %s registered", self.node_name)

    # -- pod CIDR

    async def update_pod_cidr(self, node: Obj) -> bool:
        """Apply the Node's podCIDR when it is new (the hook's failure is logged and retried at the
        next read). True when applied."""
        cidr = node_pod_cidr(node)
        if not cidr or cidr == self.pod_cidr:
            return False
        if self.on_pod_cidr is not None:
            try:
                result = self.on_pod_cidr(cidr)
                if inspect.isawaitable(result):
                    await result
            except Exception as e:
                log.warning("node %s: failed to apply podCIDR %s: %s", self.node_name, cidr, e)
                return False
        log.info("node %s: podCIDR %s (was %r)", self.node_name, cidr, self.pod_cidr)
        self.pod_cidr = cidr
        return True

    def _status_interval(self) -> float:
        if self.await_pod_cidr and not self.pod_cidr:
            wait = self._pod_cidr_poll
            self._pod_cidr_poll = min(wait * 2, STATUS_UPDATE_FREQUENCY)
            return wait
        return self._period(STATUS_UPDATE_FREQUENCY)

    # -- status

    async def read_node(self) -> Obj:
        """The Node from the cache (or our newer write), else from the server."""
        cached = self.node_cache(self.node_name) if self.node_cache is not None else None
        if cached is not None:
            self._cache_saw_node = True
            return newest(cached, self._written)
        if self.node_cache is not None and not self._cache_saw_node and self._written is not None:
            return self._written  # just registered: the cache's watch has not brought it yet
        return await self.client.get(NODES, None, self.node_name)  # no cache, or the Node is gone from it

    async def sync_status(self) -> bool:
        """Compute status over the server's Node; write it when it changed or a report is due.
        True when written."""
        node = await self.read_node()
        await self.update_pod_cidr(node)
        current = node.get("status") or {}
        desired = await self.desired_status(current)
        old = _comparable({k: current.get(k) for k in _MANAGED if k in current})
        changed = old != _comparable(desired)
        due = self.clock.monotonic() - self._last_report >= STATUS_REPORT_FREQUENCY
        if not (changed or due):
            return False
        self._written = await self.client.patch(NODES, None, self.node_name, {"status": desired},
                                                patch_type="strategic", subresource="status")
        self._last_report = self.clock.monotonic()
        self._record_transitions(current, desired)
        return True

    def _record_transitions(self, old: Obj, new: Obj) -> None:
        """`NodeHasSufficientMemory`, `NodeReady`... events when a condition changes (setters)."""
        if self.events is None:
            return
        before = {c.get("type"): c.get("status") for c in old.get("conditions") or []}
        ref = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "uid": self.node_name}}
        for cond in new.get("conditions") or []:
            if before.get(cond["type"]) == cond["status"]:
                continue
            reason = _event_reason(cond)
            self.events.event(ref, "Normal", reason, f"Node {self.node_name} status is now: {reason}")

    # -- lease

    def _owner(self) -> list[Obj]:
        if not self.node_uid:
            return []
        return [{"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": self.node_uid}]

    async def renew_lease(self) -> Obj:
        """Create or renew kube-node-lease/<node> (nodelease.controller)."""
        now = rfc3339_micro(self.clock.now())
        if self._lease is None:
            self._lease = await self._existing_lease()
            if self._lease is None:
                try:
                    self._lease = await self.client.create(LEASES, LEASE_NAMESPACE, self._new_lease(now))
                    return self._lease
                except errors.ApiError as e:
                    if e.code != 409:
                        raise
                    self._lease = await self.client.get(LEASES, LEASE_NAMESPACE, self.node_name)
        lease = json_copy(self._lease)
        lease["spec"].update(holderIdentity=self.node_name, leaseDurationSeconds=LEASE_DURATION_SECONDS,
                             renewTime=now)
        if self._owner() and not lease["metadata"].get("ownerReferences"):
            lease["metadata"]["ownerReferences"] = self._owner()
        try:
            self._lease = await self.client.update(LEASES, lease)
        except errors.ApiError:
            self._lease = None  # stale or gone: read it again on the retry
            raise
        return self._lease

    async def _existing_lease(self) -> Obj | None:
        """The Lease as stored, None when there is none. A Node this manager has just created has
        none (its Lease would have been garbage collected with the Node before it): no GET then,
        a conflict on the create says otherwise."""
        if self._created_node:
            return None
        try:
            return await self.client.get(LEASES, LEASE_NAMESPACE, self.node_name)
        except errors.ApiError as e:
            if e.code != 404:
                raise
            return None

    def _new_lease(self, now: str) -> Obj:
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.node_name, "namespace": LEASE_NAMESPACE},
                 "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                          "renewTime": now}}
        if self._owner():
            lease["metadata"]["ownerReferences"] = self._owner()
        return lease

    # -- the loop

    def _period(self, base: float) -> float:
        return base + self.rng.random() * self.jitter * base if self.jitter else base

    async def _register_until_done(self) -> None:
        if self.node_uid:
            return  # already registered (Kubelet.start registers before running)
        backoff = 0.1
        while True:
            try:
                await self.register()
                return
            except Exception as e:  # keep trying, as the kubelet does
                log.warning("unable to register node %s: %s", self.node_name, e)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def run(self) -> None:
        """Register, then heartbeat and report status until cancelled."""
        await self._register_until_done()
        next_status = next_lease = self.clock.monotonic()
        lease_backoff = 0.2
        while True:
            now = self.clock.monotonic()
            # The Lease first: it is what keeps the node Ready when the server is slow to answer.
            if now >= next_lease:
                try:
                    await self.renew_lease()
                    lease_backoff, next_lease = 0.2, now + self._period(LEASE_RENEW_INTERVAL)
                except Exception as e:  # retried with backoff
                    log.warning("failed to renew lease %s/%s: %s", LEASE_NAMESPACE, self.node_name, e)
                    next_lease = now + lease_backoff
                    lease_backoff = min(lease_backoff * 2, MAX_BACKOFF)
            if now >= next_status:
                try:
                    await self.sync_status()
                except Exception as e:  # retried at the next period
                    log.warning("error updating node %s status: %s", self.node_name, e)
                next_status = now + self._status_interval()
            await self.clock.sleep(max(0.0, min(next_status, next_lease) - self.clock.monotonic()))


def _event_reason(cond: Obj) -> str:
    if cond["type"] == "Ready":
        return "NodeReady" if cond["status"] == "True" else "NodeNotReady"
    fine = cond["status"] == "False"
    return {"MemoryPressure": ("NodeHasInsufficientMemory", "NodeHasSufficientMemory"),
            "DiskPressure": ("NodeHasDiskPressure", "NodeHasNoDiskPressure"),
            "PIDPressure": ("NodeHasInsufficientPID", "NodeHasSufficientPID")}[cond["type"]][fine]
