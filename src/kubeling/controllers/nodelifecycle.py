"""The node lifecycle controller with taint-based eviction (Kubernetes' pkg/controller/nodelifecycle
and pkg/controller/tainteviction, v1.32).

Node health: every monitor period each node is checked. A node is heard from when its Ready
condition's lastHeartbeatTime changes or its Lease in kube-node-lease is renewed; the time of
hearing is this controller's own clock, so clock skew between nodes does not matter. A node not
heard from for longer than the grace period gets Ready, MemoryPressure, DiskPressure and
PIDPressure set to Unknown ("Kubelet stopped posting node status.").

Taints: a node whose Ready condition is False carries `node.kubernetes.io/not-ready:NoExecute`,
Unknown carries `node.kubernetes.io/unreachable:NoExecute` (the two are exclusive), True carries
neither. New taints are rate limited per zone, and none are added when every zone has lost all its
nodes: then the fault is more likely on the control plane's side than on the nodes'.

Pods: pods on a node that is not Ready are marked not Ready; pods on a node with NoExecute taints
they do not tolerate are deleted at once; pods that tolerate them for tolerationSeconds are
deleted when that time has passed; pods tolerating them without a limit stay.

Work items share one queue: `node:NAME` for a node's health and taints, `NAMESPACE/NAME` for a pod.
"""

from __future__ import annotations

from kubeling.api.taints import tolerates

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import parse_time, rfc3339
from kubeling.client.base import Client, Obj, json_copy, object_key
from kubeling.client.cache import by_node_name
from kubeling.client.clock import REAL, Clock
from kubeling.client.controller import Controller
from kubeling.client.events import NORMAL, WARNING, EventRecorder, TokenBucket
from kubeling.client.informer import InformerFactory

log = logging.getLogger("kubeling.controllers.nodelifecycle")

NODES = registry.lookup("", "v1", "nodes")
PODS = registry.lookup("", "v1", "pods")
LEASES = registry.lookup("coordination.k8s.io", "v1", "leases")

NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_NAME_INDEX = "spec.nodeName"
NODE_KEY_PREFIX = "node:"  # node names are DNS subdomains: no ':' and no '/'

# kube-controller-manager defaults.
NODE_MONITOR_PERIOD = 5.0
NODE_MONITOR_GRACE_PERIOD = 40.0
NODE_STARTUP_GRACE_PERIOD = 60.0
EVICTION_LIMITER_QPS = 0.1  # new NoExecute taints per second per healthy zone
SECONDARY_EVICTION_LIMITER_QPS = 0.01  # ... per partially disrupted large zone
LARGE_CLUSTER_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
DEFAULT_WORKERS = 8

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
WANTED_TAINT = {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE}  # by Ready status
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"

# The conditions the controller turns Unknown; NetworkUnavailable belongs to the network provider.
UNKNOWN_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
REASON_STATUS_UNKNOWN = "NodeStatusUnknown"
MESSAGE_STATUS_UNKNOWN = "Kubelet stopped posting node status."
REASON_NEVER_UPDATED = "NodeStatusNeverUpdated"
MESSAGE_NEVER_UPDATED = "Kubelet never posted node status."

# Events.
NODE_NOT_READY = "NodeNotReady"
TAINT_MANAGER_EVICTION = "TaintManagerEviction"
DISRUPTION_TARGET = "DisruptionTarget"
DELETION_BY_TAINT_MANAGER = "DeletionByTaintManager"

# Zone states (pkg/controller/nodelifecycle).
STATE_NORMAL = "Normal"
STATE_FULL_DISRUPTION = "FullDisruption"
STATE_PARTIAL_DISRUPTION = "PartialDisruption"


# ---- object helpers -----------------------------------------------------------------------------

def get_condition(obj: Obj, cond_type: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == cond_type:
            return cond
    return None


def _time(value: Any) -> dt.datetime | None:
    return parse_time(value) if value else None


def zone_key(node: Obj) -> str:
    """The node's failure domain, as GetZoneKey writes it: `region:\\x00:zone`, "" for none."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def no_execute_taints(node: Obj) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == NO_EXECUTE]


def has_taint(node: Obj, key: str, effect: str = NO_EXECUTE) -> bool:
    return any(t.get("key") == key and t.get("effect") == effect for t in (node.get("spec") or {}).get("taints") or [])


def matching_tolerations(taints: list[Obj], tolerations: list[Obj]) -> tuple[bool, list[tuple[Obj, Obj]]]:
    """(every taint tolerated, the (taint, first tolerating toleration) pairs)."""
    used = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append((taint, match))
    return True, used


def min_toleration_seconds(tolerations: list[Obj]) -> float | None:
    """The shortest tolerationSeconds (<= 0 meaning at once); None when every one tolerates forever."""
    if not tolerations:
        return 0.0
    limits = [t["tolerationSeconds"] for t in tolerations if t.get("tolerationSeconds") is not None]
    if not limits:
        return None
    return float(max(0, min(limits)))


def mark_conditions_unknown(node: Obj, now: dt.datetime) -> None:
    """Set the kubelet-owned conditions to Unknown in place (tryUpdateNodeHealth, grace exceeded)."""
    status = node.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    stamp = rfc3339(now)
    for cond_type in UNKNOWN_CONDITION_TYPES:
        cond = get_condition(node, cond_type)
        if cond is None:
            conditions.append({"type": cond_type, "status": "Unknown", "reason": REASON_NEVER_UPDATED,
                               "message": MESSAGE_NEVER_UPDATED,
                               "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                               "lastTransitionTime": stamp})
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason=REASON_STATUS_UNKNOWN, message=MESSAGE_STATUS_UNKNOWN,
                        lastTransitionTime=stamp)


def desired_taints(node: Obj, ready_status: str | None, now: dt.datetime, *, may_add: bool) -> list[Obj]:
    """The node's taints with the controller's NoExecute taint matching Ready: not-ready for False,
    unreachable for Unknown, none for True. A swap between the two is always allowed; a new one
    only when `may_add`."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    want = WANTED_TAINT.get(ready_status or "")
    ours = {TAINT_NOT_READY, TAINT_UNREACHABLE}
    present = {t.get("key") for t in taints if t.get("effect") == NO_EXECUTE and t.get("key") in ours}
    if want is not None and want in present:
        return [t for t in taints if not (t.get("effect") == NO_EXECUTE and t.get("key") in ours - {want})]
    kept = [t for t in taints if not (t.get("effect") == NO_EXECUTE and t.get("key") in ours)]
    if want is not None and (present or may_add):
        kept.append({"key": want, "effect": NO_EXECUTE, "timeAdded": rfc3339(now)})
    return kept


def compute_zone_state(ready: int, not_ready: int) -> str:
    """ComputeZoneState: full disruption when nothing is ready, partial past the unhealthy threshold."""
    if ready == 0 and not_ready > 0:
        return STATE_FULL_DISRUPTION
    if not_ready > 2 and not_ready / (ready + not_ready) >= UNHEALTHY_ZONE_THRESHOLD:
        return STATE_PARTIAL_DISRUPTION
    return STATE_NORMAL


# ---- health records -----------------------------------------------------------------------------

@dataclass
class NodeHealth:
    """What the controller last heard from a node, and when (its own clock)."""
    ready: Obj | None  # the Ready condition as last recorded
    probe: dt.datetime
    ready_transition: dt.datetime
    lease_renew: dt.datetime | None = None


@dataclass
class _Zone:
    state: str
    size: int
    limiter: TokenBucket | None  # None: no new taints in this zone


# ---- the controller -----------------------------------------------------------------------------

class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, client: Client, factory: InformerFactory, recorder: EventRecorder, *,
                 clock: Clock = REAL, workers: int = DEFAULT_WORKERS,
                 monitor_period: float = NODE_MONITOR_PERIOD,
                 grace_period: float = NODE_MONITOR_GRACE_PERIOD,
                 startup_grace_period: float = NODE_STARTUP_GRACE_PERIOD,
                 eviction_qps: float = EVICTION_LIMITER_QPS):
        super().__init__(workers=workers, clock=clock)
        self.client, self.recorder = client, recorder
        self.monitor_period, self.grace_period = monitor_period, grace_period
        self.startup_grace_period, self.eviction_qps = startup_grace_period, eviction_qps
        self.nodes = factory.informer(NODES)
        self.leases = factory.informer(LEASES, namespace=NODE_LEASE_NAMESPACE)
        self.pods = factory.informer(PODS)
        self.pods.add_indexer(NODE_NAME_INDEX, by_node_name)
        self.health: dict[str, NodeHealth] = {}
        self.zones: dict[str, _Zone] = {}
        self.master_disruption = False
        self._eviction_start: dict[str, dt.datetime] = {}  # pod key -> when its timed eviction began
        self._monitor_task: asyncio.Task | None = None
        self.nodes.add_handler(on_add=self._node_added, on_update=self._node_updated,
                               on_delete=self._node_deleted)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new),
                              on_delete=self._pod_deleted)

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        self._monitor_task = asyncio.create_task(self._monitor_loop(), name=f"{self.name}-monitor")

    async def stop(self) -> None:
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            await asyncio.gather(self._monitor_task, return_exceptions=True)
            self._monitor_task = None
        await super().stop()

    async def _monitor_loop(self) -> None:
        while True:
            try:
                self.monitor_pass()
            except Exception:
                log.exception("node health monitor pass failed")
            await self.clock.sleep(self.monitor_period)

    def monitor_pass(self) -> None:
        """monitorNodeHealth's bookkeeping: zone states, then every node to the workers."""
        nodes = self.nodes.indexer.list()
        names = {n["metadata"]["name"] for n in nodes}
        for gone in [n for n in self.health if n not in names]:
            del self.health[gone]
        self._update_zones(nodes)
        for node in nodes:
            self.queue.add(NODE_KEY_PREFIX + node["metadata"]["name"])

    def _update_zones(self, nodes: list[Obj]) -> None:
        counts: dict[str, list[int]] = {}
        for node in nodes:
            labels = node["metadata"].get("labels") or {}
            if EXCLUDE_DISRUPTION_LABEL in labels:
                continue
            ready = get_condition(node, "Ready")
            tally = counts.setdefault(zone_key(node), [0, 0])
            tally[0 if ready is not None and ready.get("status") == "True" else 1] += 1
        states = {zone: compute_zone_state(r, nr) for zone, (r, nr) in counts.items()}
        master = bool(states) and all(s == STATE_FULL_DISRUPTION for s in states.values())
        if master != self.master_disruption:
            log.warning("all nodes are not ready: %s master disruption mode", "entering" if master else "leaving")
            self.master_disruption = master
        for zone, state in states.items():
            size = sum(counts[zone])
            old = self.zones.get(zone)
            if old is None or old.state != state:
                self.zones[zone] = _Zone(state, size, self._limiter(state, size))
            else:
                old.size = size
        for zone in [z for z in self.zones if z not in states]:
            del self.zones[zone]

    def _limiter(self, state: str, size: int) -> TokenBucket | None:
        """setLimiterInZone: normal rate, a reduced rate for a partially disrupted large zone, or none."""
        qps = self.eviction_qps
        if state == STATE_PARTIAL_DISRUPTION:
            qps = SECONDARY_EVICTION_LIMITER_QPS if size > LARGE_CLUSTER_THRESHOLD else 0.0
        return TokenBucket(qps, 1, self.clock) if qps > 0 else None

    # ---- informer handlers ----------------------------------------------------------------------

    def _node_added(self, node: Obj) -> None:
        self.queue.add(NODE_KEY_PREFIX + node["metadata"]["name"])
        self._enqueue_pods_on(node["metadata"]["name"])

    def _node_updated(self, old: Obj, new: Obj) -> None:
        def ready(n: Obj) -> Any:
            cond = get_condition(n, "Ready")
            return cond and cond.get("status")

        if no_execute_taints(old) != no_execute_taints(new) or ready(old) != ready(new):
            self._enqueue_pods_on(new["metadata"]["name"])

    def _node_deleted(self, node: Obj) -> None:
        self.health.pop(node["metadata"]["name"], None)

    def _enqueue_pods_on(self, node_name: str) -> None:
        for pod in self.pods.indexer.by_index(NODE_NAME_INDEX, node_name):
            self.queue.add(object_key(pod))

    def _pod_changed(self, pod: Obj) -> None:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        key = object_key(pod)
        node = self.nodes.indexer.get(node_name)
        if key in self._eviction_start or (node is not None and _needs_pod_attention(node)):
            self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        self._eviction_start.pop(object_key(pod), None)

    # ---- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(NODE_KEY_PREFIX):
            return await self.sync_node(key[len(NODE_KEY_PREFIX):])
        return await self.sync_pod(key)

    async def sync_node(self, name: str) -> float | None:
        """One node's health, taints and pods' readiness (monitorNodeHealth's per-node body)."""
        cached = self.nodes.indexer.get(name)
        if cached is None:
            self.health.pop(name, None)
            return None
        node = cached  # copied only to be changed: this runs for every node every monitor period
        observed = get_condition(node, "Ready")
        observed = dict(observed) if observed is not None else None
        node, current = await self._update_health(node, observed)
        if current is None:
            return None  # never reported and still within the startup grace period
        observed_status = observed.get("status") if observed is not None else "Unknown"
        await self._reconcile_taints(node, observed_status)
        if current.get("status") != "True":
            if observed_status == "True":
                self.recorder.event(_node_ref(node), NORMAL, NODE_NOT_READY,
                                    f"Node {name} status is now: {NODE_NOT_READY}")
            await self._mark_pods_not_ready(name)
        return None

    async def _update_health(self, node: Obj, observed: Obj | None) -> tuple[Obj, Obj | None]:
        """tryUpdateNodeHealth: record what was heard, and turn the conditions Unknown once the node
        has been silent past its grace period. Returns the node (as stored) and its Ready condition."""
        name = node["metadata"]["name"]
        now = self.clock.now()
        # Counted from creation, but never from the future: the API server's clock may run ahead.
        created = min(_time(node["metadata"].get("creationTimestamp")) or now, now)
        saved = self.health.get(name)
        if observed is None:
            grace = self.startup_grace_period
            if saved is None:
                saved = NodeHealth(None, created, created)
        else:
            grace = self.grace_period
            if saved is None or saved.ready is None:
                saved = NodeHealth(observed, now, now, saved.lease_renew if saved else None)
            elif saved.ready.get("lastHeartbeatTime") != observed.get("lastHeartbeatTime"):
                transition = (now if saved.ready.get("lastTransitionTime") != observed.get("lastTransitionTime")
                              else saved.ready_transition)
                saved = NodeHealth(observed, now, transition, saved.lease_renew)
        lease = self.leases.indexer.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renew = _time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renew is not None and (saved.lease_renew is None or saved.lease_renew < renew):
            saved.lease_renew, saved.probe = renew, now
        self.health[name] = saved

        if now <= saved.probe + dt.timedelta(seconds=grace):
            return node, observed
        node = json_copy(node)
        mark_conditions_unknown(node, now)
        current = get_condition(node, "Ready")
        if current == observed:
            return node, current
        log.info("node %s not heard from for %.0fs: Ready is now Unknown", name,
                 (now - saved.probe).total_seconds())
        stored = await self.client.update(NODES, node, subresource="status")
        self.health[name] = NodeHealth(get_condition(stored, "Ready"), saved.probe, now, saved.lease_renew)
        return stored, get_condition(stored, "Ready")

    async def _reconcile_taints(self, node: Obj, ready_status: str | None) -> None:
        """processTaintBaseEviction: the NoExecute taint matching the observed Ready condition.
        Swapping not-ready for unreachable (or back) is immediate; a new taint spends the zone's
        eviction budget, and waits for a later pass when there is none."""
        if self.master_disruption:
            ready_status = "True"  # taint nothing, and lift what is there
        may_add = False
        if WANTED_TAINT.get(ready_status or "") is not None and not (
                has_taint(node, TAINT_NOT_READY) or has_taint(node, TAINT_UNREACHABLE)):
            limiter = self._zone(node).limiter
            if limiter is None or not limiter.try_accept():
                return  # the next monitor pass tries again
            may_add = True
        taints = desired_taints(node, ready_status, self.clock.now(), may_add=may_add)
        if taints == ((node.get("spec") or {}).get("taints") or []):
            return
        node = json_copy(node)
        node.setdefault("spec", {})["taints"] = taints
        if not taints:
            del node["spec"]["taints"]
        await self.client.update(NODES, node)

    def _zone(self, node: Obj) -> _Zone:
        zone = self.zones.get(zone_key(node))
        if zone is None:  # not yet counted by a monitor pass
            zone = self.zones[zone_key(node)] = _Zone(STATE_NORMAL, 1, self._limiter(STATE_NORMAL, 1))
        return zone

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods.indexer.by_index(NODE_NAME_INDEX, node_name):
            await self._mark_pod_not_ready(pod, node_name)

    async def _mark_pod_not_ready(self, pod: Obj, node_name: str) -> None:
        """MarkPodsNotReady for one pod: Ready=False (status subresource), then a Warning event."""
        if (pod.get("spec") or {}).get("nodeName") != node_name:
            return
        cond = get_condition(pod, "Ready")
        if cond is None or cond.get("status") == "False":
            return
        pod = json_copy(pod)
        cond = get_condition(pod, "Ready")
        cond.update(status="False", lastTransitionTime=rfc3339(self.clock.now()))
        try:
            stored = await self.client.update(PODS, pod, subresource="status")
        except ApiError as e:
            if e.code == 404:
                return  # already gone: nothing left to do
            raise
        self.recorder.event(stored, WARNING, NODE_NOT_READY, "Node is not ready")

    async def sync_pod(self, key: str) -> float | None:
        """A pod on a not-Ready node is marked not Ready; NoExecute taints it does not tolerate
        evict it, at once or after its shortest tolerationSeconds (processPodOnNode)."""
        pod = self.pods.indexer.get(key)
        if pod is None:
            self._eviction_start.pop(key, None)
            return None
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.nodes.indexer.get(node_name) if node_name else None
        if node is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._cancel_eviction(key, pod)
            return None
        ready = get_condition(node, "Ready")
        if ready is not None and ready.get("status") != "True":
            await self._mark_pod_not_ready(pod, node_name)
        taints = no_execute_taints(node)
        if not taints:
            self._cancel_eviction(key, pod)
            return None
        now = self.clock.now()
        tolerated, used = matching_tolerations(taints, (pod.get("spec") or {}).get("tolerations") or [])
        if not tolerated:
            await self._evict(key, pod)
            return None
        seconds = min_toleration_seconds([tol for _, tol in used])
        if seconds is None:
            self._cancel_eviction(key, pod)
            return None
        start = self._eviction_start.get(key)
        if start is None:
            start = min([now] + [t for t in (_time(taint.get("timeAdded")) for taint, _ in used) if t is not None])
            self._eviction_start[key] = start
        remaining = (start + dt.timedelta(seconds=seconds) - now).total_seconds()
        if remaining > 0:
            return remaining
        await self._evict(key, pod)
        return None

    def _cancel_eviction(self, key: str, pod: Obj) -> None:
        if self._eviction_start.pop(key, None) is not None:
            self.recorder.event(pod, NORMAL, TAINT_MANAGER_EVICTION, f"Cancelling deletion of Pod {key}")

    async def _evict(self, key: str, pod: Obj) -> None:
        """addConditionAndDeletePod: say why (DisruptionTarget), then delete."""
        self._eviction_start.pop(key, None)
        self.recorder.event(pod, NORMAL, TAINT_MANAGER_EVICTION, f"Marking for deletion Pod {key}")
        md = pod["metadata"]
        condition = {"type": DISRUPTION_TARGET, "status": "True", "reason": DELETION_BY_TAINT_MANAGER,
                     "message": "Taint manager: deleting due to NoExecute taint",
                     "lastTransitionTime": rfc3339(self.clock.now())}
        try:
            await self.client.patch(PODS, md["namespace"], md["name"], {"status": {"conditions": [condition]}},
                                    patch_type="strategic", subresource="status")
            await self.client.delete(PODS, md["namespace"], md["name"])
        except ApiError as e:
            if e.code != 404:
                raise


def _needs_pod_attention(node: Obj) -> bool:
    ready = get_condition(node, "Ready")
    return bool(no_execute_taints(node)) or (ready is not None and ready.get("status") != "True")


def _node_ref(node: Obj) -> Obj:
    """RecordNodeStatusChange's reference: the node's name doubles as its uid there."""
    name = node["metadata"]["name"]
    return {"kind": "Node", "name": name, "uid": name}
