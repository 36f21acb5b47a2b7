"""Pure helpers of the Deployment controller (Kubernetes' pkg/controller/deployment/util).

Annotations and condition reasons, maxSurge/maxUnavailable resolution, the pod-template
hash, finding the new and old ReplicaSets, proportions for scaling, and the status checks
(complete, progressing, timed out). Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Sequence

import orjson

from kubeling.api.meta import parse_time, rfc3339
from kubeling.client.base import Obj

# ---- names Kubernetes uses ----------------------------------------------------------------------

POD_TEMPLATE_HASH = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"
MAX_REV_HISTORY_CHARS = 2000

# The controller's own annotations are never copied from a Deployment to its ReplicaSets.
ANNOTATIONS_TO_SKIP = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                 DEPRECATED_ROLLBACK_TO})

PROGRESSING, AVAILABLE, REPLICA_FAILURE = "Progressing", "Available", "ReplicaFailure"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICA_SET = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

MAX_INT32 = 2**31 - 1

# rand.SafeEncodeString's alphabet: no vowels (no words) and no look-alike characters.
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


# ---- small accessors ----------------------------------------------------------------------------

def meta(obj: Obj) -> Obj:
    return obj.setdefault("metadata", {})


def annotations(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def replicas(obj: Obj | None) -> int:
    """spec.replicas (the API server defaults it to 1)."""
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Obj | None, field: str) -> int:
    return int(((obj or {}).get("status") or {}).get(field) or 0)


def uid(obj: Obj | None) -> str:
    return ((obj or {}).get("metadata") or {}).get("uid", "")


def name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


# ---- maxSurge / maxUnavailable ------------------------------------------------------------------

def int_or_percent(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetValueFromIntOrPercent: ints as they are, "25%" of total rounded as asked."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value}")
    pct = int(value[:-1])
    return -(-pct * total // 100) if round_up else pct * total // 100


def is_rolling_update(d: Obj) -> bool:
    return ((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """Surge rounds up, unavailable rounds down; if both end up 0, allow 1 unavailable."""
    surge = int_or_percent(max_surge, desired, True)
    unavailable = int_or_percent(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Obj) -> tuple[int | str | None, int | str | None]:
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    return resolve_fenceposts(*_rolling_params(d), replicas(d))[0]


def max_unavailable(d: Obj) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(*_rolling_params(d), replicas(d))[1], replicas(d))


# ---- the pod-template hash ----------------------------------------------------------------------

def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: each byte mapped onto the 27-letter alphabet."""
    return "".join(_SAFE_ALPHANUMS[b % len(_SAFE_ALPHANUMS)] for b in s.encode())


def compute_hash(template: Obj, collision_count: int | None = None) -> str:
    """controller.ComputeHash: FNV-32a of the template (canonical JSON here, where Kubernetes
    hashes the Go struct), then the collision count as 8 little-endian bytes."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0\0\0\0"
    return safe_encode(str(fnv32a(data)))


# ---- comparing templates ------------------------------------------------------------------------

def _semantic(value: object) -> object:
    """apimachinery's Semantic.DeepEqual treats nil and empty maps/slices alike."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _semantic_without_hash(template: Obj) -> object:
    """_semantic of template with its pod-template-hash label removed. _semantic builds new
    containers, so the label is dropped from those: template itself is left as it is."""
    out = _semantic(template or {})
    md = out.get("metadata") if isinstance(out, dict) else None
    labels = md.get("labels") if isinstance(md, dict) else None
    if isinstance(labels, dict) and POD_TEMPLATE_HASH in labels:
        del labels[POD_TEMPLATE_HASH]
        if not labels:  # what _semantic drops: an empty map, then a metadata left empty
            del md["labels"]
            if not md:
                del out["metadata"]
    return out


def equal_ignore_hash(t1: Obj, t2: Obj) -> bool:
    """Two pod templates equal except for their pod-template-hash label."""
    return _semantic_without_hash(t1) == _semantic_without_hash(t2)


# ---- sorting and filtering ReplicaSets ----------------------------------------------------------

_ZERO_TIME = "0001-01-01T00:00:00"  # metav1.Time's zero value, what an absent timestamp means


def _created(rs: Obj) -> tuple[str, int, str]:
    """Sort key: creationTimestamp, then name. A timestamp as servers write it
    (`2024-01-02T03:04:05Z`) compares as a string, without parsing; any other form is
    parsed and rewritten in that form (plus its microseconds)."""
    md = rs.get("metadata") or {}
    ts, name = md.get("creationTimestamp"), md.get("name", "")
    if not ts:
        return _ZERO_TIME, 0, name
    if len(ts) == 20 and ts[10] == "T" and ts[19] == "Z":
        return ts[:19], 0, name
    t = parse_time(ts).astimezone(dt.UTC)
    return t.isoformat()[:19], t.microsecond, name


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """controller.ReplicaSetsByCreationTimestamp: oldest first, ties by name."""
    return sorted(rss, key=_created)


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; equal sizes newest first (scaling up favours the new)."""
    def cmp(a: Obj, b: Obj) -> int:
        if replicas(a) != replicas(b):
            return -1 if replicas(a) > replicas(b) else 1
        return -1 if _created(b) < _created(a) else (1 if _created(a) < _created(b) else 0)
    return sorted(rss, key=functools.cmp_to_key(cmp))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; equal sizes oldest first (scaling down removes the old)."""
    return sorted(rss, key=lambda rs: (-replicas(rs), _created(rs)))


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    return sorted(rss, key=lambda rs: (revision(rs), _created(rs)))


def filter_active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_count(rss: Iterable[Obj | None], field: str = "replicas") -> int:
    """Sum of a status field (replicas, readyReplicas, availableReplicas) over ReplicaSets."""
    return sum(status_int(rs, field) for rs in rss if rs is not None)


def find_new_replica_set(d: Obj, rs_list: Sequence[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's."""
    template = (d.get("spec") or {}).get("template") or {}
    for rs in by_creation(rs_list):
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


def find_old_replica_sets(d: Obj, rs_list: Sequence[Obj]) -> list[Obj]:
    """Every ReplicaSet but the new one."""
    new = find_new_replica_set(d, rs_list)
    return [rs for rs in rs_list if new is None or uid(rs) != uid(new)]


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The only active ReplicaSet (or the newest when none is active); None when several are."""
    if new_rs is None and not old_rss:
        return None
    old_sorted = list(reversed(by_creation(old_rss)))
    active = filter_active([*old_sorted, new_rs])
    if not active:
        return new_rs if new_rs is not None else old_sorted[0]
    return active[0] if len(active) == 1 else None


# ---- annotations --------------------------------------------------------------------------------

def revision(obj: Obj) -> int:
    """The revision annotation; 0 when absent or unparsable (MaxRevision skips those)."""
    try:
        return int(annotations(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = annotations(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def _int_annotation(rs: Obj, key: str) -> int | None:
    try:
        return int(annotations(rs)[key])
    except (KeyError, ValueError):
        return None


def desired_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS)


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's annotations (change-cause and the like) to the ReplicaSet."""
    ann = meta(rs).setdefault("annotations", {})
    changed = False
    for key, value in annotations(d).items():
        if key in ANNOTATIONS_TO_SKIP or ann.get(key) == value:
            continue
        ann[key] = value
        changed = True
    return changed


def set_new_replica_set_annotations(d: Obj, rs: Obj, new_revision: int, exists: bool,
                                    history_limit_chars: int = MAX_REV_HISTORY_CHARS) -> bool:
    """Copy annotations and raise the revision to new_revision; a ReplicaSet that had a revision
    (a rollback to it) keeps its former ones in revision-history."""
    changed = copy_deployment_annotations(d, rs)
    ann = meta(rs).setdefault("annotations", {})
    had = REVISION in ann
    old = ann.get(REVISION, "")
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return False
    if old_int < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if had:
            _append_revision_history(ann, old, history_limit_chars)
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def _append_revision_history(ann: dict[str, str], old_revision: str, limit: int) -> None:
    history = ann.get(REVISION_HISTORY, "")
    if not history:
        ann[REVISION_HISTORY] = old_revision
        return
    revisions = history.split(",")
    total = len(history) + len(old_revision) + 1
    start = 0
    while total > limit and start < len(revisions):
        total -= len(revisions[start]) + 1
        start += 1
    if total <= limit:
        ann[REVISION_HISTORY] = ",".join([*revisions[start:], old_revision])


def set_deployment_revision(d: Obj, rev: str) -> bool:
    ann = meta(d).setdefault("annotations", {})
    if ann.get(REVISION) == rev:
        return False
    ann[REVISION] = rev
    return True


# ---- proportional scaling -----------------------------------------------------------------------

def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _fraction(rs: Obj, d: Obj) -> int:
    """How many replicas rs should gain (or lose) to keep its share of the Deployment."""
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_replicas = replicas(d) + max_surge(d)
    annotated = _int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = status_int(d, "replicas")
    if not annotated:
        return 0
    return _round_half_away(replicas(rs) * deployment_replicas / annotated) - replicas(rs)


def get_proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now."""
    if not is_rolling_update(d):
        return replicas(d)
    surge = int_or_percent(_rolling_params(d)[0], replicas(d), True)
    current = replica_count(all_rss)
    max_total = replicas(d) + surge
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """The new ReplicaSet owns (and has available) all the desired replicas."""
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    return (desired is not None and replicas(rs) == replicas(d) and desired == replicas(d)
            and status_int(rs, "availableReplicas") == replicas(d))


# ---- conditions ---------------------------------------------------------------------------------

def new_condition(ctype: str, status: str, reason: str, message: str, now: dt.datetime) -> Obj:
    t = rfc3339(now)
    return {"type": ctype, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def get_condition(status: Obj, ctype: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """Replace the condition of the same type, unless status and reason are unchanged;
    the transition time only moves when the status does."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, ctype: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and pds != MAX_INT32


def has_revision_history_limit(d: Obj) -> bool:
    rhl = (d.get("spec") or {}).get("revisionHistoryLimit")
    return rhl is not None and rhl != MAX_INT32


def _generation(d: Obj) -> int:
    return int((d.get("metadata") or {}).get("generation") or 0)


def deployment_complete(d: Obj, status: Obj) -> bool:
    """Every desired replica updated and available, no old pods left, spec observed."""
    want = replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= _generation(d))


def deployment_progressing(d: Obj, new_status: Obj) -> bool:
    """New pods updated, ready or available, or old pods gone, since the last status."""
    old = d.get("status") or {}

    def get(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(new_status, "replicas") - get(new_status, "updatedReplicas")
    return (get(new_status, "updatedReplicas") > get(old, "updatedReplicas") or new_old < old_old
            or get(new_status, "readyReplicas") > get(old, "readyReplicas")
            or get(new_status, "availableReplicas") > get(old, "availableReplicas"))


def deployment_timed_out(d: Obj, new_status: Obj, now: dt.datetime) -> bool:
    """No progress reported for longer than progressDeadlineSeconds."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new_status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond["lastUpdateTime"])
    return since + dt.timedelta(seconds=d["spec"]["progressDeadlineSeconds"]) < now
