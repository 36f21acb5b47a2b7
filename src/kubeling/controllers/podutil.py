"""Pod and ownerReference helpers shared by the workload controllers.

Mirrors Kubernetes' pkg/api/v1/pod (readiness, availability), pkg/controller/controller_utils.go
(active pods, the scale-down ranking) and apimachinery's controller-reference helpers.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from kubeling.api.meta import parse_time
from kubeling.api.selectors import DOUBLE_EQUALS, EQUALS, IN, LabelSelector
from kubeling.client.base import Obj
from kubeling.client.cache import Indexer

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
CONTROLLER_UID_INDEX = "controllerUID"
ORPHAN_INDEX = "orphanNamespace"
LABEL_INDEX = "label"  # cache.by_label: `key=value` per label
_INT = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.ParseInt accepts in base 10

# controller.ActivePods: phases not listed rank with Pending (Go's map zero value).
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def json_copy(obj: Any) -> Any:
    """A deep copy of a JSON-shaped object (every API object is one), through orjson: several
    times faster than copy.deepcopy, which a sync would otherwise spend much of its time in."""
    try:
        return orjson.loads(orjson.dumps(obj))
    except TypeError:  # not JSON after all (orjson.JSONEncodeError is a TypeError)
        return copy.deepcopy(obj)


# ---- readiness and availability (pkg/api/v1/pod) ------------------------------------------------

def get_pod_ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = get_pod_ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def _time(value: str | None) -> dt.datetime | None:
    """A metav1.Time field; None for the zero time (absent or empty)."""
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least min_ready_seconds (strictly: the deadline must be before now)."""
    if not is_pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = _time((get_pod_ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) < now


def is_pod_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not terminal and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def filter_active_pods(pods: Iterable[Obj]) -> list[Obj]:
    return [p for p in pods if is_pod_active(p)]


def pod_key(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


# ---- controller references (apimachinery metav1) ------------------------------------------------

def get_controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with controller: true, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj) -> Obj:
    """metav1.NewControllerRef: the ownerReference a controller puts on what it creates."""
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controller_uid_index(obj: Obj) -> list[str]:
    """Index function: the uid of obj's controller, so owners find their dependents cheaply."""
    ref = get_controller_of(obj)
    return [ref["uid"]] if ref and ref.get("uid") else []


def orphan_index(obj: Obj) -> list[str]:
    """Index function: the namespace of an object without a controller, which any controller
    of that namespace may adopt (Kubernetes keys these `_ORPHAN_POD/<namespace>`)."""
    if get_controller_of(obj) is not None:
        return []
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def add_claim_indexers(indexer: Indexer) -> None:
    """The indexes `owned_or_orphaned` reads; adding them twice costs nothing."""
    for name, fn in ((CONTROLLER_UID_INDEX, controller_uid_index), (ORPHAN_INDEX, orphan_index)):
        if not indexer.has_index(name):
            indexer.add_indexer(name, fn)


def owned_or_orphaned(indexer: Indexer, namespace: str, owner_uid: str) -> list[Obj]:
    """What a controller may claim (controller.FilterPodsByOwner with orphans): the objects of
    `namespace` it controls, then the namespace's orphans, from two index reads, not a scan
    of the namespace. Objects controlled by anyone else are never candidates anyway."""
    owned = [o for o in indexer.by_index(CONTROLLER_UID_INDEX, owner_uid)
             if (o.get("metadata") or {}).get("namespace") == namespace]
    return owned + indexer.by_index(ORPHAN_INDEX, namespace)


LabelMatcher = Callable[[Mapping[str, str] | None], bool]


def label_matcher(selector: LabelSelector) -> LabelMatcher:
    """selector.matches, made fast for the usual selector (matchLabels only): its pairs must all
    be among the labels, a subset test done in C. A sync matches every pod of its owner."""
    if selector.matches_nothing or not all(r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1
                                           for r in selector.requirements):
        return selector.matches
    pairs = frozenset((r.key, r.values[0]) for r in selector.requirements)

    def matches(labels: Mapping[str, str] | None) -> bool:
        return pairs <= (labels or {}).items()
    return matches


def matching(indexer: Indexer, namespace: str, selector: LabelSelector) -> list[Obj]:
    """The objects of `namespace` that selector matches (a lister's List(selector)). A label the
    selector pins to one value narrows the search to that label's index entry."""
    if selector.matches_nothing:
        return []
    index, value = "namespace", namespace
    if indexer.has_index(LABEL_INDEX):
        narrowest = indexer.count_by_index(index, value)
        for req in selector.requirements:
            pinned = selector.requires_exact_match(req.key)
            if pinned is None:
                continue
            entry = f"{req.key}={pinned}"
            count = indexer.count_by_index(LABEL_INDEX, entry)
            if count < narrowest:
                index, value, narrowest = LABEL_INDEX, entry, count
    matches = label_matcher(selector)
    return [o for o in indexer.by_index(index, value) if (o.get("metadata") or {}).get("namespace") == namespace
            and matches((o.get("metadata") or {}).get("labels"))]


# ---- the scale-down ranking (controller.ActivePodsWithRanks) --------------------------------------

def deletion_cost(pod: Obj) -> int:
    """The pod-deletion-cost annotation as an int32; 0 when absent or invalid."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    if raw is None:
        return 0
    if not _INT.fullmatch(raw):
        return 0
    value = int(raw)
    return value if -(2**31) <= value < 2**31 else 0


def _ready_time(pod: Obj) -> dt.datetime | None:
    return _time((get_pod_ready_condition(pod) or {}).get("lastTransitionTime"))


def _max_restarts(pod: Obj) -> tuple[int, int]:
    """(highest restartCount of regular containers, of restartable init containers: sidecars)."""
    status = pod.get("status") or {}
    regular = max((c.get("restartCount") or 0 for c in status.get("containerStatuses") or []), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    sidecar = max((c.get("restartCount") or 0 for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _log_rank(t: dt.datetime, now: dt.datetime) -> int:
    """floor(log2(age in nanoseconds)); -1 for no age, as in logarithmicRankDiff."""
    delta = now - t
    nanos = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _newer_first(t1: dt.datetime | None, t2: dt.datetime | None, now: dt.datetime | None,
                 uid1: str, uid2: str) -> bool:
    """Zero time first, then the younger one, in power-of-two age buckets (LogarithmicScaleDown)
    with ties in a bucket broken by uid so that the choice is random-ish but stable."""
    if t1 is None or t2 is None or now is None:
        return t1 is None
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    return uid1 < uid2 if diff == 0 else diff < 0


def _less(a: Obj, b: Obj, rank_a: int, rank_b: int, now: dt.datetime | None) -> bool:
    """True when a should be deleted before b."""
    node_a, node_b = (a.get("spec") or {}).get("nodeName") or "", (b.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):  # 1. unassigned < assigned
        return not node_a
    phase_a = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase"), 0)
    phase_b = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase"), 0)
    if phase_a != phase_b:  # 2. Pending < Unknown < Running
        return phase_a < phase_b
    ready_a, ready_b = is_pod_ready(a), is_pod_ready(b)
    if ready_a != ready_b:  # 3. not ready < ready
        return not ready_a
    cost_a, cost_b = deletion_cost(a), deletion_cost(b)
    if cost_a != cost_b:  # 4. lower pod-deletion-cost < higher
        return cost_a < cost_b
    if rank_a != rank_b:  # 5. doubled up on a node < not doubled up
        return rank_a > rank_b
    uid_a, uid_b = (a.get("metadata") or {}).get("uid", ""), (b.get("metadata") or {}).get("uid", "")
    if ready_a and ready_b:  # 6. ready for a shorter time < longer
        t_a, t_b = _ready_time(a), _ready_time(b)
        if t_a != t_b:
            return _newer_first(t_a, t_b, now, uid_a, uid_b)
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a[0] != restarts_b[0]:  # 7. more restarts < fewer (regular, then sidecars)
        return restarts_a[0] > restarts_b[0]
    if restarts_a[1] != restarts_b[1]:
        return restarts_a[1] > restarts_b[1]
    c_a = _time((a.get("metadata") or {}).get("creationTimestamp"))
    c_b = _time((b.get("metadata") or {}).get("creationTimestamp"))
    if c_a != c_b:  # 8. newer < older
        return _newer_first(c_a, c_b, now, uid_a, uid_b)
    return False


def rank_pods_for_deletion(pods: Sequence[Obj], ranks: Sequence[int] | None = None,
                           now: dt.datetime | None = None) -> list[Obj]:
    """pods sorted so that the ones to delete first come first (ActivePodsWithRanks).
    ranks[i] is how many related pods share pods[i]'s node (higher: delete sooner)."""
    ranks = list(ranks) if ranks is not None else [0] * len(pods)

    def cmp(i: int, j: int) -> int:
        if _less(pods[i], pods[j], ranks[i], ranks[j], now):
            return -1
        if _less(pods[j], pods[i], ranks[j], ranks[i], now):
            return 1
        return 0

    order = sorted(range(len(pods)), key=functools.cmp_to_key(cmp))
    return [pods[i] for i in order]


def ranks_by_related_pods_on_node(pods: Sequence[Obj], related: Iterable[Obj]) -> list[int]:
    """For each pod, how many active related pods run on its node (getPodsRankedByRelatedPodsOnSameNode)."""
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    return [on_node.get((p.get("spec") or {}).get("nodeName") or "", 0) for p in pods]
