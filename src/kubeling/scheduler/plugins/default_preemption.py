"""DefaultPreemption (PostFilter): when a pod fits on no node, find a node where evicting
lower-priority pods would let it fit, evict them, and nominate that node for the pod.

Follows kube-scheduler 1.32 (plugins/defaultpreemption and framework/preemption):
eligibility, candidate nodes (filter status Unschedulable, not UnschedulableAndUnresolvable),
a dry run on a bounded number of nodes from a random offset, minimal victim sets (remove all
lower-priority pods, then reprieve the most important ones that still leave room), the
choice of the best candidate, and the FailedScheduling wording when nothing can be done.
PodDisruptionBudgets are not modelled yet: no victim ever counts as violating one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubeling.api import meta, registry
from kubeling.api.errors import ApiError
from kubeling.client.clock import REAL
from kubeling.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    NodeInfo,
    Obj,
    Plugin,
    PodInfo,
    Status,
    unschedulable,
)
from kubeling.scheduler.plugins.priority_sort import pod_priority
from kubeling.scheduler.registry import register

log = logging.getLogger(__name__)

NAME = "DefaultPreemption"
PODS = registry.lookup("", "v1", "pods")

# User-facing reasons, worded as Kubernetes words them (they end up in FailedScheduling).
ERR_NO_VICTIMS = "No preemption victims found for incoming pod"
ERR_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NOT_ELIGIBLE_POLICY = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
MESSAGE_PREFIX = "preemption: "

DISRUPTION_TARGET = "DisruptionTarget"
REASON_PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"

DEFAULT_ARGS = {"minCandidateNodesPercentage": 10, "minCandidateNodesAbsolute": 100}

# Added to every victim priority before summing so that negative priorities still make a
# node with more victims score worse (math.MaxInt32 + 1 in Kubernetes).
_PRIORITY_OFFSET = 2**31


@dataclass
class Candidate:
    """A node where the preemptor fits once `victims` (most important first) are gone."""

    name: str
    victims: list[Obj] = field(default_factory=list)
    num_pdb_violations: int = 0


# ---- arguments ----------------------------------------------------------------------------------


def validate_args(args: dict[str, Any]) -> list[str]:
    """Errors in DefaultPreemptionArgs, in Kubernetes' field.Invalid wording."""
    pct = args["minCandidateNodesPercentage"]
    absolute = args["minCandidateNodesAbsolute"]
    errs = []
    if not 0 <= pct <= 100:
        errs.append(f"minCandidateNodesPercentage: Invalid value: {pct}: not in valid range [0, 100]")
    if absolute < 0:
        errs.append(f"minCandidateNodesAbsolute: Invalid value: {absolute}: not in valid range [0, inf)")
    if pct == 0 and absolute == 0:
        errs.append("minCandidateNodesPercentage: Invalid value: 0: "
                    "cannot be zero at the same time as minCandidateNodesAbsolute")
        errs.append("minCandidateNodesAbsolute: Invalid value: 0: "
                    "cannot be zero at the same time as minCandidateNodesPercentage")
    return errs


def calculate_num_candidates(num_nodes: int, percentage: int, absolute: int) -> int:
    """How many candidates the dry run looks for: a percentage of the potential nodes, at
    least `absolute`, at most all of them (integer arithmetic, as in Go)."""
    n = num_nodes * percentage // 100
    return min(max(n, absolute), num_nodes)


# ---- pod helpers --------------------------------------------------------------------------------


def pod_start_time(pod: Obj, now: dt.datetime) -> dt.datetime:
    """status.startTime, or now for a pod that has not started (util.GetPodStartTime)."""
    start = (pod.get("status") or {}).get("startTime")
    return meta.parse_time(start) if start else now


def _importance_key(now: dt.datetime):
    return lambda pod: (-pod_priority(pod), pod_start_time(pod, now))


def more_important_pod(a: Obj, b: Obj, now: dt.datetime) -> bool:
    """Higher priority first; at equal priority the pod that started earlier."""
    key = _importance_key(now)
    return key(a) < key(b)


def earliest_start_time_of_top_victims(victims: list[Obj], now: dt.datetime) -> dt.datetime:
    """The earliest start time among the highest-priority victims (util.GetEarliestPodStartTime)."""
    top = max(pod_priority(p) for p in victims)
    return min(pod_start_time(p, now) for p in victims if pod_priority(p) == top)


def pod_terminating_by_preemption(pod: Obj) -> bool:
    """Being deleted, with the DisruptionTarget condition the scheduler sets on its victims."""
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == DISRUPTION_TARGET:
            return cond.get("status") == "True" and cond.get("reason") == REASON_PREEMPTION_BY_SCHEDULER
    return False


# ---- choosing -----------------------------------------------------------------------------------


def pick_one_node(candidates: list[Candidate], now: dt.datetime) -> Candidate | None:
    """The best candidate by Kubernetes' criteria, each one only breaking the ties of the
    previous: fewest PDB violations, lowest highest-victim priority, smallest sum of victim
    priorities, fewest victims, latest start of the highest-priority victims, then the first."""
    if not candidates:
        return None
    scores = (
        lambda c: -c.num_pdb_violations,
        lambda c: -pod_priority(c.victims[0]),
        lambda c: -sum(pod_priority(p) + _PRIORITY_OFFSET for p in c.victims),
        lambda c: -len(c.victims),
        lambda c: earliest_start_time_of_top_victims(c.victims, now),
    )
    remaining = candidates
    for score in scores:
        best = max(score(c) for c in remaining)
        remaining = [c for c in remaining if score(c) == best]
        if len(remaining) == 1:
            break
    return remaining[0]


def fit_error_message(num_all_nodes: int, node_statuses: dict[str, Status], absent_reasons: list[str]) -> str:
    """`0/N nodes are available: <count> <reason>, ...` (FitError.Error): each reason counted
    over the nodes, nodes without a status counted under `absent_reasons`, and the
    "<count> <reason>" strings sorted as strings (so "10 x" sorts before "2 y", as in Go)."""
    reasons: Counter[str] = Counter()
    for status in node_statuses.values():
        reasons.update(status.reasons)
    if len(node_statuses) < num_all_nodes:
        for reason in absent_reasons:
            reasons[reason] += num_all_nodes - len(node_statuses)
    histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
    message = f"0/{num_all_nodes} nodes are available:"
    if histogram:
        message += f" {', '.join(histogram)}."
    return message


def clone_state(state: CycleState) -> CycleState:
    """A copy the dry run of one node may change freely (CycleState.Clone): entries that know
    how to clone themselves do so, others are deep-copied."""
    return state.clone()


def _as_error(status: Status) -> Status:
    # A failing PreFilter extension is an internal error, whatever code it returned.
    return Status(Code.ERROR, [status.message()])


def _aggregate(errors: list[str]) -> str:
    # utilerrors.NewAggregate's wording: one error as is, several in brackets.
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _with_prefix(status: Status) -> Status:
    msg = status.message()
    return Status(status.code, [MESSAGE_PREFIX + msg], NAME) if msg else status


# ---- the plugin ---------------------------------------------------------------------------------


@register
class DefaultPreemption(Plugin):
    name = NAME

    def __init__(self, handle: Any, args: dict[str, Any] | None = None, *, rng: random.Random | None = None):
        super().__init__(handle, {**DEFAULT_ARGS, **(args or {})})
        errs = validate_args(self.args)
        if errs:
            raise ValueError(_aggregate(errs))
        # The dry run starts at a random node so that preemption spreads over the cluster.
        self.rng = rng or getattr(handle, "rng", None) or random.Random()

    def events_to_register(self) -> list[str]:
        # Without async preemption this plugin never rejects a pod by itself.
        return []

    # -- PostFilter -------------------------------------------------------------------------

    async def post_filter(self, state: CycleState, pod: Obj,
                          statuses: dict[str, Status]) -> tuple[str | None, Status]:
        """Returns (nominated node, status): a node name on success (the victims are already
        being deleted); "" when preemption cannot help (clear any earlier nomination); None
        when the nomination should stay as it is (not eligible, or an error)."""
        candidate, node, status = self.find_candidate(state, pod, statuses)
        if candidate is None:
            return node, _with_prefix(status)
        status = await self.prepare_candidate(candidate, pod)
        if not status.ok:
            return None, _with_prefix(status)
        return candidate.name, SUCCESS

    def find_candidate(self, state: CycleState, pod: Obj,
                       statuses: dict[str, Status]) -> tuple[Candidate | None, str | None, Status]:
        """Everything before the API calls: (best candidate or None, nomination to report
        when there is none, status without the "preemption: " prefix)."""
        nominated = (pod.get("status") or {}).get("nominatedNodeName") or ""
        eligible, why = self.pod_eligible_to_preempt_others(pod, _status_of(statuses, nominated))
        if not eligible:
            return None, None, unschedulable(why)
        all_nodes = list(self.handle.snapshot)
        if not all_nodes:
            return None, None, Status(Code.ERROR, ["no nodes available"])
        potential = [n for n in all_nodes if _status_of(statuses, n.name).code == Code.UNSCHEDULABLE]
        node_statuses: dict[str, Status] = {}
        candidates: list[Candidate] = []
        errors: list[str] = []
        if potential:
            offset, num = self.get_offset_and_num_candidates(len(potential))
            candidates, node_statuses, errors = self.dry_run_preemption(state, pod, potential, offset, num)
        if errors and not candidates:
            return None, None, Status(Code.ERROR, [_aggregate(errors)])
        if not candidates:
            msg = fit_error_message(len(all_nodes), node_statuses, [ERR_NOT_HELPFUL])
            return None, "", unschedulable(msg)
        best = pick_one_node(candidates, self._now())
        return best, best.name, SUCCESS

    def pod_eligible_to_preempt_others(self, pod: Obj, nominated_status: Status) -> tuple[bool, str]:
        """A pod may preempt unless its policy is Never, or it already preempted on its
        nominated node and a victim there is still terminating (wait for it instead)."""
        if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
            return False, NOT_ELIGIBLE_POLICY
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            # The nominated node no longer fits for reasons preemption cannot fix: try again.
            if nominated_status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node_info = self.handle.snapshot.get(nominated)
            if node_info is not None:
                priority = pod_priority(pod)
                for info in node_info.pods.values():
                    if pod_priority(info.pod) < priority and pod_terminating_by_preemption(info.pod):
                        return False, NOT_ELIGIBLE_TERMINATING
        return True, ""

    def get_offset_and_num_candidates(self, num_nodes: int) -> tuple[int, int]:
        return self.rng.randrange(num_nodes), calculate_num_candidates(
            num_nodes, self.args["minCandidateNodesPercentage"], self.args["minCandidateNodesAbsolute"])

    def dry_run_preemption(self, state: CycleState, pod: Obj, potential: list[NodeInfo], offset: int,
                           num_candidates: int) -> tuple[list[Candidate], dict[str, Status], list[str]]:
        """Simulate preemption on the potential nodes, from `offset` round the list, until
        `num_candidates` are found (at least one not violating a PDB). Returns the candidates
        (PDB-respecting ones first), the status of each node that is not one, and errors."""
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        node_statuses: dict[str, Status] = {}
        errors: list[str] = []
        for i in range(len(potential)):
            node_info = potential[(offset + i) % len(potential)].clone()
            victims, violations, status = self.select_victims_on_node(clone_state(state), pod, node_info)
            if status.ok and victims:
                found = non_violating if violations == 0 else violating
                if len(found) < num_candidates:
                    found.append(Candidate(node_info.name, victims, violations))
                if non_violating and len(non_violating) + len(violating) >= num_candidates:
                    break
                continue
            if status.ok:
                status = Status(Code.ERROR, [f'expected at least one victim pod on node "{node_info.name}"'])
            if status.code == Code.ERROR:
                errors.append(status.message())
            node_statuses[node_info.name] = status
        return non_violating + violating, node_statuses, errors

    def select_victims_on_node(self, state: CycleState, pod: Obj,
                               node_info: NodeInfo) -> tuple[list[Obj], int, Status]:
        """The fewest lower-priority pods to evict from node_info (a clone; it is changed)
        so that pod passes the Filter plugins: (victims most important first, PDB violations,
        status)."""
        fw = self.handle.framework
        run_filters = getattr(fw, "run_filter_plugins_with_nominated_pods", None) or fw.run_filter_plugins
        priority = pod_priority(pod)
        potential = [info for info in node_info.pods.values() if pod_priority(info.pod) < priority]
        for info in potential:
            node_info.remove_pod(info.uid)
            status = fw.run_pre_filter_extension_remove_pod(state, pod, info, node_info)
            if not status.ok:
                return [], 0, _as_error(status)
        if not potential:
            return [], 0, unschedulable(ERR_NO_VICTIMS, resolvable=False)
        # Without any lower-priority pod it still does not fit: this node cannot help. (Affinity
        # to a victim is deliberately not considered, as in Kubernetes.)
        status = run_filters(state, pod, node_info)
        if not status.ok:
            return [], 0, status
        # Give back the most important pods first; what no longer fits is a victim.
        key = _importance_key(self._now())
        potential.sort(key=lambda info: key(info.pod))
        victims: list[PodInfo] = []
        for info in potential:
            node_info.add_pod(info)
            status = fw.run_pre_filter_extension_add_pod(state, pod, info, node_info)
            if not status.ok:
                return [], 0, _as_error(status)
            if run_filters(state, pod, node_info).ok:
                continue
            node_info.remove_pod(info.uid)
            status = fw.run_pre_filter_extension_remove_pod(state, pod, info, node_info)
            if not status.ok:
                return [], 0, _as_error(status)
            victims.append(info)
        return [info.pod for info in victims], 0, SUCCESS

    # -- acting on the choice ---------------------------------------------------------------

    async def prepare_candidate(self, candidate: Candidate, pod: Obj) -> Status:
        """Evict the victims (in parallel) and take the nomination away from lower-priority
        pods nominated to the same node, so they look for room elsewhere sooner."""
        victims = [v for v in candidate.victims if not (v.get("metadata") or {}).get("deletionTimestamp")]
        results = await asyncio.gather(*(self._preempt(candidate.name, pod, v) for v in victims),
                                       return_exceptions=True)
        errors = [str(r) for r in results if isinstance(r, BaseException)]
        if errors:
            return Status(Code.ERROR, [errors[0]])
        await self._clear_lower_priority_nominations(pod, candidate.name)
        return SUCCESS

    async def _preempt(self, node_name: str, preemptor: Obj, victim: Obj) -> None:
        md = victim.get("metadata") or {}
        fw = self.handle.framework
        waiting = getattr(fw, "get_waiting_pod", lambda uid: None)(md.get("uid", ""))
        if waiting is not None:
            # Still waiting at Permit: rejecting it is enough, it was never bound.
            waiting.reject(NAME, "preempted")
        else:
            try:
                await self._mark_disruption_target(preemptor, victim)
                await self.handle.client.delete(PODS, md.get("namespace"), md.get("name"))
            except ApiError as e:
                if e.code != 404:
                    raise
                return  # already gone
        recorder = getattr(self.handle, "recorder", None)
        if recorder is not None:
            pmd = preemptor.get("metadata") or {}
            recorder.eventf({"kind": "Pod", "apiVersion": "v1", **victim}, "Normal", "Preempted",
                            "Preempted by pod %s on node %s", pmd.get("uid", ""), node_name)

    async def _mark_disruption_target(self, preemptor: Obj, victim: Obj) -> None:
        """The DisruptionTarget condition tells the victim's owner (and a later eligibility
        check) why it is going away."""
        scheduler = (preemptor.get("spec") or {}).get("schedulerName") or "default-scheduler"
        cond = {"type": DISRUPTION_TARGET, "status": "True", "reason": REASON_PREEMPTION_BY_SCHEDULER,
                "message": f"{scheduler}: preempting to accommodate a higher priority pod"}
        existing = next((c for c in (victim.get("status") or {}).get("conditions") or []
                         if c.get("type") == DISRUPTION_TARGET), None)
        if existing and all(existing.get(k) == cond[k] for k in ("status", "reason", "message")):
            return
        keep_time = existing and existing.get("status") == cond["status"] and existing.get("lastTransitionTime")
        cond["lastTransitionTime"] = keep_time or meta.rfc3339(self._now())
        md = victim.get("metadata") or {}
        await self.handle.client.patch(PODS, md.get("namespace"), md.get("name"),
                                       {"status": {"conditions": [cond]}},
                                       patch_type="strategic", subresource="status")

    async def _clear_lower_priority_nominations(self, pod: Obj, node_name: str) -> None:
        fw = self.handle.framework
        nominated = getattr(fw, "nominated_pods_for_node", lambda name: [])(node_name) or []
        priority = pod_priority(pod)
        for item in nominated:
            other = item.pod if isinstance(item, PodInfo) else item
            if pod_priority(other) >= priority or not (other.get("status") or {}).get("nominatedNodeName"):
                continue
            md = other.get("metadata") or {}
            try:
                await self.handle.client.patch(PODS, md.get("namespace"), md.get("name"),
                                               {"status": {"nominatedNodeName": None}},
                                               patch_type="strategic", subresource="status")
            except ApiError as e:  # not critical: the pod will find out on its next attempt
                log.warning("cannot clear nominatedNodeName of %s/%s: %s", md.get("namespace"), md.get("name"), e)

    def _now(self) -> dt.datetime:
        return (self.handle.clock or REAL).now()


def _status_of(statuses: dict[str, Status], node_name: str) -> Status:
    # A node without a status was ruled out before Filter (e.g. by a PreFilter result):
    # preemption cannot help there.
    status = statuses.get(node_name)
    return status if status is not None else Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
