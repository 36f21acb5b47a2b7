"""The scheduler cache (pkg/scheduler/backend/cache): what every node holds, bound and assumed.

- Nodes come from the node informer, bound pods from the assigned-pod informer. A pod may
  arrive before its node (separate watches): it waits on a placeholder NodeInfo, which also
  keeps a removed node's pods until they go.
- An assumed pod counts against its node from the moment the scheduler picks it, before the
  bind returns; forget_pod() undoes it when the bind fails, and the informer's copy replaces
  it (confirms it) when the bind lands. With assumed_ttl > 0, an assumed pod whose binding
  finished but which the informer never confirmed expires.
- update_snapshot() is incremental: every change stamps the NodeInfo with a fresh generation
  and moves it to the front of a most-recently-updated order, so a refresh only walks and
  re-clones the nodes changed since the snapshot's generation.
- Snapshot order interleaves zones (nodeTree), so that a search stopping after
  percentageOfNodesToScore feasible nodes still sees every zone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections import OrderedDict
from dataclasses import dataclass

from kubeling.client.clock import REAL, Clock
from kubeling.scheduler.framework import NodeInfo, Obj, PodInfo, Snapshot, pod_key

log = logging.getLogger("kubeling.scheduler.cache")

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
BETA_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION_LABEL = "failure-domain.beta.kubernetes.io/region"

CLEANUP_PERIOD = 1.0  # cleanAssumedPeriod


class CacheError(Exception):
    """An event the cache cannot apply (Kubernetes logs these and carries on)."""


def zone_key(node: Obj) -> str:
    """The node's failure domain, region and zone (utilnode.GetZoneKey); "" when unlabelled."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = labels.get(ZONE_LABEL, labels.get(BETA_ZONE_LABEL, ""))
    region = labels.get(REGION_LABEL, labels.get(BETA_REGION_LABEL, ""))
    if not zone and not region:
        return ""
    return f"{region}:\x00:{zone}"


def _node_name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _pod_node(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _pod_uid(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("uid") or pod_key(pod)


class NodeTree:
    """Node names per zone, in arrival order; list() takes one node from each zone in turn."""

    def __init__(self):
        self._zones: dict[str, list[str]] = {}  # insertion-ordered: zones in arrival order
        self.num_nodes = 0

    def add(self, node: Obj) -> None:
        name, zone = _node_name(node), zone_key(node)
        names = self._zones.setdefault(zone, [])
        if name not in names:
            names.append(name)
            self.num_nodes += 1

    def remove(self, node: Obj) -> bool:
        name, zone = _node_name(node), zone_key(node)
        names = self._zones.get(zone) or []
        if name not in names:
            return False
        names.remove(name)
        if not names:
            del self._zones[zone]
        self.num_nodes -= 1
        return True

    def update(self, old: Obj | None, new: Obj) -> bool:
        """Re-file a node whose zone changed; True when the order changed."""
        if old is not None and zone_key(old) == zone_key(new):
            return False
        if old is not None:
            self.remove(old)
        self.add(new)
        return True

    def list(self) -> list[str]:
        out: list[str] = []
        columns = list(self._zones.values())
        for i in range(max((len(c) for c in columns), default=0)):
            out.extend(c[i] for c in columns if i < len(c))
        return out


@dataclass
class _PodState:
    pod: Obj
    binding_finished: bool = False
    deadline: float | None = None  # monotonic; None: never expires


@dataclass
class _Entry:
    info: NodeInfo
    has_node: bool  # False for a placeholder: pods seen before (or after) their node


class Cache:
    def __init__(self, clock: Clock = REAL, *, assumed_ttl: float = 0.0):
        self.clock = clock
        self.assumed_ttl = assumed_ttl
        self._nodes: OrderedDict[str, _Entry] = OrderedDict()  # last = most recently updated
        self._tree = NodeTree()
        self._tree_changed = False
        self._pods: dict[str, _PodState] = {}
        self._assumed: set[str] = set()
        self._generation = itertools.count(1)
        self._task: asyncio.Task | None = None

    # ---- nodes ----------------------------------------------------------------------------------

    def add_node(self, node: Obj) -> NodeInfo:
        name = _node_name(node)
        entry = self._nodes.get(name)
        old = entry.info.node if entry is not None and entry.has_node else None
        if entry is None:
            entry = self._nodes[name] = _Entry(NodeInfo.of(node), True)
        else:
            entry.info.set_node(node)
            entry.has_node = True
        self._tree_changed |= self._tree.update(old, node)
        self._touch(name)
        return entry.info.clone()

    def update_node(self, old: Obj | None, new: Obj | None = None) -> NodeInfo:
        """update_node(new) or update_node(old, new), like the informer's handler."""
        return self.add_node(old if new is None else new)

    def remove_node(self, node: Obj) -> None:
        name = _node_name(node)
        entry = self._nodes.get(name)
        if entry is None or not entry.has_node:
            raise CacheError(f"node {name} is not found")
        self._tree.remove(entry.info.node)
        self._tree_changed = True
        if entry.info.pods:
            # Its pods' deletions may still be on their way through the other watch.
            entry.has_node = False
            entry.info.set_node({"metadata": {"name": name}})
            self._touch(name)
        else:
            del self._nodes[name]

    def node_count(self) -> int:
        return self._tree.num_nodes

    def node_info(self, name: str) -> NodeInfo | None:
        """The live NodeInfo (placeholders included); read-only for callers."""
        entry = self._nodes.get(name)
        return entry.info if entry else None

    # ---- bound pods (informer) ------------------------------------------------------------------

    def add_pod(self, pod: Obj) -> None:
        """A bound pod from the informer: confirms an assumed pod, or adds it."""
        uid = _pod_uid(pod)
        state = self._pods.get(uid)
        if state is not None and uid in self._assumed:
            if _pod_node(state.pod) != _pod_node(pod):
                log.info("pod %s was added to node %s, not to %s where it was assumed",
                         pod_key(pod), _pod_node(pod), _pod_node(state.pod))
            if self._swap_in_place(state.pod, pod):
                self._assumed.discard(uid)
                self._pods[uid] = _PodState(pod)  # confirmed: no longer expires
            else:
                self._replace_pod(state.pod, pod)
        elif state is None:
            self._add_pod(pod)  # new, or an assumed pod that had expired
        else:
            raise CacheError(f"pod {pod_key(pod)}({uid}) was already in added state")

    def update_pod(self, old: Obj, new: Obj) -> None:
        uid = _pod_uid(new)
        state = self._pods.get(uid)
        # An assumed pod gets its informer Add before any Update.
        if state is None or uid in self._assumed:
            raise CacheError(f"pod {pod_key(old)}({uid}) is not added to scheduler cache, so cannot be updated")
        if _pod_node(state.pod) != _pod_node(new):
            raise CacheError(f"pod {pod_key(new)}({uid}) updated with a different node name: "
                             f"{_pod_node(state.pod)} -> {_pod_node(new)}")
        if not self._swap_in_place(state.pod, new):
            self._replace_pod(state.pod, new)

    def remove_pod(self, pod: Obj) -> None:
        uid = _pod_uid(pod)
        state = self._pods.get(uid)
        if state is None:
            raise CacheError(f"pod {pod_key(pod)}({uid}) is not found in scheduler cache, so cannot be removed from it")
        self._remove_pod(state.pod)

    def get_pod(self, pod: Obj) -> Obj | None:
        state = self._pods.get(_pod_uid(pod))
        return state.pod if state else None

    def pod_count(self) -> int:
        return len(self._pods)

    # ---- assumed pods (scheduler) ---------------------------------------------------------------

    def assume_pod(self, pod: Obj, pending: PodInfo | None = None) -> None:
        """Count `pod` (spec.nodeName set to the chosen node) against its node now. `pending`:
        the queue's PodInfo of the same pod before the node was chosen, whose requests (the
        same containers) are taken rather than computed again."""
        uid = _pod_uid(pod)
        if uid in self._pods:
            raise CacheError(f"pod {pod_key(pod)}({uid}) is in the cache, so can't be assumed")
        if not _pod_node(pod):
            raise CacheError(f"pod {pod_key(pod)}({uid}) has no spec.nodeName, so can't be assumed")
        self._add_pod(pod, None if pending is None else PodInfo(pod, pending.requests, pending.non_zero_requests))
        self._assumed.add(uid)

    def finish_binding(self, pod: Obj) -> None:
        """The bind call returned: from now the assumption may expire if never confirmed."""
        state = self._pods.get(_pod_uid(pod))
        if state is None or _pod_uid(pod) not in self._assumed:
            return
        state.binding_finished = True
        state.deadline = self.clock.monotonic() + self.assumed_ttl if self.assumed_ttl > 0 else None

    def forget_pod(self, pod: Obj) -> None:
        """The bind failed: give the node its room back."""
        uid = _pod_uid(pod)
        state = self._pods.get(uid)
        if state is not None and _pod_node(state.pod) != _pod_node(pod):
            raise CacheError(f"pod {pod_key(pod)}({uid}) was assumed on {_pod_node(pod)} "
                             f"but assigned to {_pod_node(state.pod)}")
        if state is None or uid not in self._assumed:
            raise CacheError(f"pod {pod_key(pod)}({uid}) wasn't assumed so cannot be forgotten")
        self._remove_pod(state.pod)

    def is_assumed(self, uid: str) -> bool:
        return uid in self._assumed

    def cleanup_expired_assumed_pods(self) -> list[Obj]:
        """Drop assumed pods whose binding finished more than assumed_ttl ago without the
        informer confirming them. Returns the expired pods."""
        now = self.clock.monotonic()
        expired = []
        for uid in list(self._assumed):
            state = self._pods[uid]
            if not state.binding_finished or state.deadline is None:
                continue  # still binding, or assumptions never expire (ttl 0)
            if now > state.deadline:
                log.info("pod %s expired", pod_key(state.pod))
                self._remove_pod(state.pod)
                expired.append(state.pod)
        return expired

    def start(self, period: float = CLEANUP_PERIOD) -> None:
        """Expire assumed pods in the background, every `period` seconds on the clock."""
        async def loop() -> None:
            while True:
                await self.clock.sleep(period)
                self.cleanup_expired_assumed_pods()
        self._task = asyncio.get_running_loop().create_task(loop())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # ---- snapshot -------------------------------------------------------------------------------

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Bring `snapshot` up to date, copying only the NodeInfos changed since its last
        refresh. Changed nodes already in it are overwritten in place, so the snapshot's
        list and every unchanged NodeInfo keep their identity (as Kubernetes keeps pointers)."""
        since = getattr(snapshot, "generation", 0)
        added: dict[str, NodeInfo] = {}
        for name in reversed(self._nodes):
            entry = self._nodes[name]
            if entry.info.generation <= since:
                break  # everything older was in the snapshot already
            if not entry.has_node:
                continue
            clone = entry.info.clone()
            existing = snapshot.get(name)
            if existing is None:
                added[name] = clone
            else:
                _overwrite(existing, clone)
                snapshot.mark_dirty(name)
        if self._nodes:
            snapshot.generation = self._nodes[next(reversed(self._nodes))].info.generation
        if added or self._tree_changed or len(snapshot) != self._tree.num_nodes:
            infos = []
            for name in self._tree.list():
                info = added.get(name) or snapshot.get(name)
                if info is None:  # the snapshot predates this cache: take it now
                    info = self._nodes[name].info.clone()
                infos.append(info)
            snapshot.set(infos)
            self._tree_changed = False

    def snapshot(self) -> Snapshot:
        """A fresh snapshot of the whole cluster."""
        snap = Snapshot()
        self.update_snapshot(snap)
        return snap

    # ---- internals ------------------------------------------------------------------------------

    def _touch(self, name: str) -> None:
        self._nodes[name].info.generation = next(self._generation)
        self._nodes.move_to_end(name)

    def _add_pod(self, pod: Obj, info: PodInfo | None = None) -> None:
        name = _pod_node(pod)
        entry = self._nodes.get(name)
        if entry is None:
            entry = self._nodes[name] = _Entry(NodeInfo({"metadata": {"name": name}}), False)
        entry.info.add_pod(info or PodInfo.of(pod))
        self._touch(name)
        self._pods[_pod_uid(pod)] = _PodState(pod)

    def _remove_pod(self, pod: Obj) -> None:
        uid, name = _pod_uid(pod), _pod_node(pod)
        entry = self._nodes.get(name)
        if entry is not None:
            entry.info.remove_pod(uid)
            if not entry.info.pods and not entry.has_node:
                del self._nodes[name]  # the last pod of a placeholder
            else:
                self._touch(name)
        self._pods.pop(uid, None)
        self._assumed.discard(uid)

    def _replace_pod(self, old: Obj, new: Obj) -> None:
        self._remove_pod(old)
        self._add_pod(new)

    def _swap_in_place(self, cached: Obj, new: Obj) -> bool:
        """A newer copy of a pod that differs from the cached one only in what no plugin reads
        (its status but startTime, resourceVersion): the bind confirming an assumed pod, or a
        kubelet's status update. It takes the cached pod's place on the live NodeInfo without
        stamping the node changed, so the next cycles neither re-clone the node nor refresh its
        row (at 10,000 pods starting, a tenth of the scheduler's time). Snapshot clones keep
        the older copy until the node next changes. False (nothing done) when anything else
        differs."""
        uid = _pod_uid(new)
        entry = self._nodes.get(_pod_node(new))
        info = entry.info.pods.get(uid) if entry is not None else None
        if info is None or info.pod is not cached or new.get("spec") != cached.get("spec") or \
                _start_time(new) != _start_time(cached) or \
                not _same_metadata(new.get("metadata") or {}, cached.get("metadata") or {}):
            return False
        entry.info.pods[uid] = PodInfo(new, info.requests, info.non_zero_requests)
        state = self._pods[uid]
        self._pods[uid] = _PodState(new, state.binding_finished, state.deadline) \
            if uid in self._assumed else _PodState(new)
        return True


def _start_time(pod: Obj) -> str | None:
    return (pod.get("status") or {}).get("startTime")  # preemption orders victims by it


# Metadata a write changes without changing the pod for scheduling.
_VOLATILE_METADATA = frozenset({"resourceVersion", "managedFields", "generation"})


def _same_metadata(a: Obj, b: Obj) -> bool:
    keys = a.keys() - _VOLATILE_METADATA
    return keys == b.keys() - _VOLATILE_METADATA and all(a[k] == b[k] for k in keys)


_NODE_INFO_FIELDS = tuple(f.name for f in dataclasses.fields(NodeInfo))  # fields() builds a tuple per call


def _overwrite(dst: NodeInfo, src: NodeInfo) -> None:
    for name in _NODE_INFO_FIELDS:
        setattr(dst, name, getattr(src, name))
