"""The scheduling framework's vocabulary: statuses, cycle state, node and pod views, and the
plugin interface with kube-scheduler's extension points.

A plugin is a small class that implements the extension points it cares about; the
framework (scheduler/runtime.py) calls every enabled plugin at each point, in profile order.
"""

from __future__ import annotations

import copy as _copy
import enum
from dataclasses import dataclass, field
from typing import Any

from kubeling.api import quantity

Obj = dict[str, Any]

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2  # preemption might help
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3  # preemption cannot help
    WAIT = 4  # Permit: wait for approval
    SKIP = 5  # PreFilter/PreScore: the plugin has nothing to do for this pod
    PENDING = 6


@dataclass
class Status:
    code: Code = Code.SUCCESS
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def rejected(self) -> bool:
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()


class _AllPass(list):
    """A batch Filter's answer that every node passed, told apart without reading it."""


def all_pass(n: int) -> list[Status | None]:
    """filter_nodes' result for `n` nodes that all pass (the caller must not change it)."""
    return _AllPass([None] * n)


def none_rejected(statuses: list[Status | None]) -> bool:
    """Whether a filter_nodes result rejects no node."""
    return type(statuses) is _AllPass or not any(statuses)


def unschedulable(*reasons: str, resolvable: bool = True) -> Status:
    return Status(Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(reasons))


def error(reason: str) -> Status:
    return Status(Code.ERROR, [reason])


def skip() -> Status:
    return Status(Code.SKIP)


class CycleState(dict):
    """Data plugins share within one scheduling cycle (PreFilter -> Filter, PreScore -> Score)."""

    def clone(self) -> CycleState:
        """A copy whose entries can be changed without touching this one (entries that
        plugins change in place, such as PreFilter extension state, provide clone())."""
        copied = CycleState()
        for key, value in self.items():
            copied[key] = value.clone() if hasattr(value, "clone") else _copy.deepcopy(value)
        return copied


# ---- resources ----------------------------------------------------------------------------------

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"


@dataclass
class Resources:
    """Amounts in scheduler units: cpu in millicores, memory and storage in bytes, others as counts."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, values: dict[str, Any] | None) -> Resources:
        r = cls()
        for name, value in (values or {}).items():
            r.set(name, value)
        return r

    def set(self, name: str, value: Any) -> None:
        amount = _amount(name == CPU, value)
        if name == CPU:
            self.milli_cpu = amount
        elif name == MEMORY:
            self.memory = amount
        elif name == EPHEMERAL:
            self.ephemeral_storage = amount
        elif name == PODS:
            self.allowed_pods = amount
        else:
            self.scalar[name] = amount

    def add(self, other: Resources) -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.allowed_pods += other.allowed_pods
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + v

    def sub(self, other: Resources) -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.allowed_pods -= other.allowed_pods
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) - v

    def copy(self) -> Resources:
        return Resources(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pods, dict(self.scalar))


_AMOUNTS: dict[tuple[bool, str], int] = {}  # (in millis, quantity text) -> amount
_MAX_AMOUNTS = 4096


def _amount(milli: bool, value: Any) -> int:
    """A quantity in scheduler units, remembered: pods repeat a few quantities ("100m", "128Mi")
    and every cycle reads them again (Quantity.value() is exact, hence slow, arithmetic)."""
    key = (milli, str(value))
    amount = _AMOUNTS.get(key)
    if amount is None:
        q = quantity.parse(key[1])
        amount = q.milli_value() if milli else q.value()
        if len(_AMOUNTS) >= _MAX_AMOUNTS:
            _AMOUNTS.clear()
        _AMOUNTS[key] = amount
    return amount


def _max_into(acc: Resources, other: Resources) -> None:
    acc.milli_cpu = max(acc.milli_cpu, other.milli_cpu)
    acc.memory = max(acc.memory, other.memory)
    acc.ephemeral_storage = max(acc.ephemeral_storage, other.ephemeral_storage)
    for k, v in other.scalar.items():
        acc.scalar[k] = max(acc.scalar.get(k, 0), v)


# Defaults the scoring plugins assume for containers that request nothing (so that
# BestEffort pods still spread): schedutil.DefaultMilliCPURequest / DefaultMemoryRequest.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def container_requests(container: Obj, non_missing: bool = False) -> Resources:
    requests = (container.get("resources") or {}).get("requests") or {}
    r = Resources.from_list(requests)
    if non_missing:
        if CPU not in requests:
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if MEMORY not in requests:
            r.memory = DEFAULT_MEMORY_REQUEST
    return r


def pod_requests(pod: Obj, non_missing: bool = False) -> Resources:
    """What a pod asks of its node, as Kubernetes computes it (resourcehelper.PodRequests):
    the larger of (sum of containers + restartable init "sidecar" containers) and each
    init container's request (plus the sidecars started before it), plus pod overhead.
    With non_missing, a container without a cpu/memory request counts the scoring defaults."""
    spec = pod.get("spec") or {}
    if not spec.get("initContainers") and not spec.get("overhead"):
        return _containers_sum(spec.get("containers") or (), non_missing)
    total = Resources()
    for c in spec.get("containers") or []:
        total.add(container_requests(c, non_missing))
    sidecars = Resources()
    init_max = Resources()
    for c in spec.get("initContainers") or []:
        req = container_requests(c, non_missing)
        if c.get("restartPolicy") == "Always":
            sidecars.add(req)
            total.add(req)
            continue
        step = sidecars.copy()
        step.add(req)
        _max_into(init_max, step)
    _max_into(total, init_max)
    if spec.get("overhead"):
        total.add(Resources.from_list(spec["overhead"]))
    return total


def _containers_sum(containers: Any, non_missing: bool) -> Resources:
    """pod_requests of a pod with neither init containers nor overhead: the containers' sum,
    floored at 0 as the max with the (empty) init containers' request floors it."""
    total = None
    for c in containers:
        r = container_requests(c, non_missing)
        if total is None:
            total = r
        else:
            total.add(r)
    if total is None:
        return Resources()
    total.milli_cpu = max(total.milli_cpu, 0)
    total.memory = max(total.memory, 0)
    total.ephemeral_storage = max(total.ephemeral_storage, 0)
    return total


def pod_requests_for_scoring(pod: Obj) -> Resources:
    return pod_requests(pod, non_missing=True)


class _CycleRequests:
    """A pod's requests kept in a CycleState; shared, not copied, by CycleState.clone()."""

    __slots__ = ("pod", "requests")

    def __init__(self, pod: Obj, requests: Resources):
        self.pod, self.requests = pod, requests

    def clone(self) -> _CycleRequests:
        return self


_CYCLE_REQUESTS = ("__pod_requests__", "__pod_requests_non_missing__")


def cycle_pod_requests(state: CycleState, pod: Obj, non_missing: bool = False) -> Resources:
    """pod_requests(pod, non_missing), computed once per scheduling cycle: the PreFilter and
    PreScore plugins that read it share one Resources (read-only for them)."""
    key = _CYCLE_REQUESTS[non_missing]
    hit = state.get(key)
    if hit is not None and hit.pod is pod:
        return hit.requests
    requests = pod_requests(pod, non_missing)
    state[key] = _CycleRequests(pod, requests)
    return requests


# ---- pods and nodes -----------------------------------------------------------------------------


def pod_key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


@dataclass
class PodInfo:
    """A pod with what the scheduler derives from it once, not per node."""

    pod: Obj
    requests: Resources
    non_zero_requests: Resources  # with scoring defaults for containers that request nothing

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        return cls(pod, pod_requests(pod), pod_requests_for_scoring(pod))

    @property
    def key(self) -> str:
        return pod_key(self.pod)

    @property
    def uid(self) -> str:
        return (self.pod.get("metadata") or {}).get("uid", "")


@dataclass
class NodeInfo:
    """A node and what is placed on it (bound and assumed pods), kept current by the cache."""

    node: Obj
    pods: dict[str, PodInfo] = field(default_factory=dict)  # by pod uid
    requested: Resources = field(default_factory=Resources)
    non_zero_requested: Resources = field(default_factory=Resources)
    allocatable: Resources = field(default_factory=Resources)
    used_ports: set[tuple[str, str, int]] = field(default_factory=set)  # (hostIP, protocol, port)
    generation: int = 0
    # A plain attribute, not a property: the framework reads it for every node of every cycle.
    name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.name = _node_name(self.node)

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        info = cls(node)
        info.set_node(node)
        return info

    def set_node(self, node: Obj) -> None:
        self.node = node
        self.name = _node_name(node)
        self.allocatable = Resources.from_list((node.get("status") or {}).get("allocatable"))

    def add_pod(self, info: PodInfo) -> None:
        self.pods[info.uid] = info
        self.requested.add(info.requests)
        self.non_zero_requested.add(info.non_zero_requests)
        self.used_ports |= host_ports(info.pod)

    def remove_pod(self, uid: str) -> bool:
        info = self.pods.pop(uid, None)
        if info is None:
            return False
        self.requested.sub(info.requests)
        self.non_zero_requested.sub(info.non_zero_requests)
        if self.used_ports and host_ports(info.pod):  # a pod without host ports leaves the union as it was
            self.used_ports = set().union(*(host_ports(p.pod) for p in self.pods.values())) if self.pods else set()
        return True

    def clone(self) -> NodeInfo:
        return NodeInfo(self.node, dict(self.pods), self.requested.copy(), self.non_zero_requested.copy(),
                        self.allocatable.copy(), set(self.used_ports), self.generation)


def _node_name(node: Obj) -> str:
    return (node.get("metadata") or {}).get("name", "")


def host_ports(pod: Obj) -> set[tuple[str, str, int]]:
    ports = set()
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.add((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
    return ports


# ---- the plugin interface -----------------------------------------------------------------------


@dataclass
class PreFilterResult:
    """Node names the pod can only go to (None: any)."""

    node_names: set[str] | None = None


class Plugin:
    """Base class: override the extension points the plugin takes part in. `handle` gives
    plugins the cluster snapshot (handle.snapshot: the NodeInfos of this cycle), the client
    and the clock."""

    name = ""

    def __init__(self, handle: Any, args: dict[str, Any] | None = None):
        self.handle = handle
        self.args = args or {}

    # Each extension point the plugin does not override is skipped by the framework.
    # def pre_filter(self, state, pod) -> tuple[PreFilterResult | None, Status]
    # def filter(self, state, pod, node_info) -> Status
    # def filter_nodes(self, state, pod, nodes: list[NodeInfo]) -> list[Status | None]
    #     optional batch form of filter (None: the node passes); the framework prefers it when
    #     filtering snapshot nodes. It must agree with filter() node by node and have no side
    #     effects, since the framework may evaluate a few nodes past the end of the search.
    # async def post_filter(self, state, pod, statuses: dict[str, Status]) -> tuple[str | None, Status]
    # def pre_score(self, state, pod, nodes: list[NodeInfo]) -> Status
    # def score(self, state, pod, node_info) -> tuple[int, Status]
    # def score_nodes(self, state, pod, nodes: list[NodeInfo]) -> list[int]
    #     optional batch form of score, preferred by the framework (same values as score()).
    # def normalize_score(self, state, pod, scores: dict[str, int]) -> Status
    # def normalize_score_array(self, state, pod, scores: np.ndarray) -> np.ndarray
    #     optional batch form of normalize_score, over the scores in node order.
    # async def reserve(self, state, pod, node_name) -> Status ; def unreserve(self, state, pod, node_name)
    # async def permit(self, state, pod, node_name) -> tuple[Status, float]
    # async def pre_bind / bind / post_bind(self, state, pod, node_name)
    # def events_to_register(self) -> list[str]: cluster events that may make a rejected pod schedulable


class Snapshot:
    """The cluster as one scheduling cycle sees it: every NodeInfo, in a stable order.
    The cache refreshes it incrementally between cycles; plugins only read it."""

    def __init__(self, node_infos: list[NodeInfo] | None = None):
        self.node_infos: list[NodeInfo] = list(node_infos or [])
        self._by_name = {n.name: n for n in self.node_infos}
        self.generation = 0  # the cache generation this snapshot reflects
        # For indexes derived from the snapshot (scheduler/node_table.py): `layout` changes
        # when the list is replaced; `dirty` names the NodeInfos the cache overwrote in place
        # since the index last looked. Only a cache-managed snapshot (generation > 0) keeps them.
        self.layout = 0
        self.dirty: set[str] = set()
        self.table: Any = None

    def get(self, name: str) -> NodeInfo | None:
        return self._by_name.get(name)

    def set(self, node_infos: list[NodeInfo]) -> None:
        self.node_infos = node_infos
        self._by_name = {n.name: n for n in node_infos}
        self.layout += 1
        self.dirty.clear()

    def mark_dirty(self, name: str) -> None:
        self.dirty.add(name)

    def __len__(self) -> int:
        return len(self.node_infos)

    def __iter__(self):
        return iter(self.node_infos)


@dataclass
class Handle:
    """What plugins may use besides their arguments. `framework` runs plugins (preemption
    re-runs the Filter plugins on what-if NodeInfos through it)."""

    snapshot: Snapshot
    client: Any = None
    clock: Any = None
    framework: Any = None
    recorder: Any = None
    listers: dict[str, Any] = field(default_factory=dict)  # kind -> informer cache (Indexer)

    def lister(self, kind: str) -> Any:
        """The informer cache of a kind (Service, ReplicaSet, StatefulSet, Namespace), or None."""
        return self.listers.get(kind)
