"""DefaultPreemption (PostFilter) and PrioritySort (QueueSort), with tables ported from
kube-scheduler's defaultpreemption and queuesort tests. A small fake framework runs a
NodeResourcesFit-like check (pods, cpu, memory) so that these tests need no other plugin."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    Handle,
    NodeInfo,
    PodInfo,
    Snapshot,
    Status,
    pod_requests,
    unschedulable,
)
from kubeling.scheduler.plugins import default_preemption as dp
from kubeling.scheduler.plugins import priority_sort as ps
from kubeling.scheduler.registry import PLUGINS

NEG, LOW, MID, HIGH, VERY_HIGH = -100, 0, 100, 1000, 10000
SMALL = {"cpu": "100m", "memory": "100"}
MEDIUM = {"cpu": "200m", "memory": "200"}
LARGE = {"cpu": "300m", "memory": "300"}
VERY_LARGE = {"cpu": "500m", "memory": "500"}
ONE_POD = {"pods": "1"}
NODE_RES = {"cpu": "200m", "memory": "400"}

U = Code.UNSCHEDULABLE
UU = Code.UNSCHEDULABLE_AND_UNRESOLVABLE


# ---- builders and fakes -------------------------------------------------------------------------


def pod(name, priority=None, node=None, req=None, start=None, nominated=None, policy=None,
        terminating=False, disruption_target=False, ns="default"):
    spec = {"containers": [{"name": "c", "image": "i", "resources": {"requests": dict(req or {})}}]}
    if priority is not None:
        spec["priority"] = priority
    if node:
        spec["nodeName"] = node
    if policy:
        spec["preemptionPolicy"] = policy
    md = {"name": name, "namespace": ns, "uid": name}
    if terminating:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {}
    if start is not None:
        status["startTime"] = f"1970-01-01T00:00:{start:02d}Z"
    if nominated:
        status["nominatedNodeName"] = nominated
    if disruption_target:
        status["conditions"] = [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def node(name, capacity, labels=None):
    # Like Kubernetes' test wrapper: 32 pods unless the capacity says otherwise.
    alloc = {"pods": "32", **capacity}
    return {"metadata": {"name": name, "labels": labels or {}}, "status": {"capacity": alloc, "allocatable": alloc}}


def snapshot(nodes, pods):
    infos = [NodeInfo.of(n) for n in nodes]
    by_name = {i.name: i for i in infos}
    for p in pods:
        by_name[p["spec"]["nodeName"]].add_pod(PodInfo.of(p))
    return Snapshot(infos)


class FakeFramework:
    """Filter = a NodeResourcesFit-like check; PreFilter extensions fail on nodes labelled
    error=true (like Kubernetes' TestPlugin) and count calls in the cycle state."""

    def __init__(self, nominated=None):
        self.nominated = nominated or {}

    def run_filter_plugins(self, state, pod_, node_info):
        req, alloc, used = pod_requests(pod_), node_info.allocatable, node_info.requested
        reasons = []
        if len(node_info.pods) + 1 > alloc.allowed_pods:
            reasons.append("Too many pods")
        if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
            reasons.append("Insufficient cpu")
        if req.memory > 0 and req.memory > alloc.memory - used.memory:
            reasons.append("Insufficient memory")
        return unschedulable(*reasons) if reasons else SUCCESS

    def _extension(self, verb, state, pod_, node_info):
        if (node_info.node["metadata"].get("labels") or {}).get("error") == "true":
            return Status(Code.ERROR, [f'running {verb} on PreFilter plugin "test-plugin": '
                                       f'failed to {verb[:-3].lower()} pod: {pod_["metadata"]["name"]}'])
        if "Counter" in state:
            state["Counter"][verb] += 1
        return SUCCESS

    def run_pre_filter_extension_remove_pod(self, state, pod_, info, node_info):
        return self._extension("RemovePod", state, pod_, node_info)

    def run_pre_filter_extension_add_pod(self, state, pod_, info, node_info):
        return self._extension("AddPod", state, pod_, node_info)

    def nominated_pods_for_node(self, name):
        return [PodInfo.of(p) for p in self.nominated.get(name, [])]


class FakeClient:
    def __init__(self, missing=()):
        self.calls = []
        self.missing = set(missing)

    async def patch(self, rt, ns, name, body, *, patch_type="merge", subresource=""):
        self.calls.append(("patch", name, body, patch_type, subresource))
        if name in self.missing:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        return {}

    async def delete(self, rt, ns, name, **kw):
        self.calls.append(("delete", name))
        if name in self.missing:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        return {}

    def deleted(self):
        return sorted(c[1] for c in self.calls if c[0] == "delete")


class FakeRecorder:
    def __init__(self):
        self.events = []

    def eventf(self, obj, type_, reason, fmt, *args):
        self.events.append((obj["kind"], obj["metadata"]["name"], type_, reason, fmt % args))


def plugin(nodes, pods, *, args=None, nominated=None, client=None, seed=0):
    handle = Handle(snapshot(nodes, pods), client or FakeClient(), FakeClock(), FakeFramework(nominated))
    handle.recorder = FakeRecorder()
    return dp.DefaultPreemption(handle, args, rng=random.Random(seed))


def statuses(spec):
    """{node: code} -> {node: Status}; a node left out has no status (absent)."""
    return {name: Status(code) for name, code in spec.items()}


# ---- PostFilter ---------------------------------------------------------------------------------

POST_FILTER_CASES = [
    dict(id="higher priority pod can be made schedulable",
         pod=pod("p", HIGH), pods=[pod("p1", node="node1")],
         nodes=[node("node1", ONE_POD)], statuses={"node1": U},
         want_node="node1", want_code=Code.SUCCESS, want_msg=""),
    dict(id="tied priority is still unschedulable",
         pod=pod("p"), pods=[pod("p1", node="node1")],
         nodes=[node("node1", ONE_POD)], statuses={"node1": U},
         want_node="", want_code=U,
         want_msg="preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
    dict(id="respects UnschedulableAndUnresolvable statuses",
         pod=pod("p", HIGH), pods=[pod("p1", node="node1")],
         nodes=[node("node1", ONE_POD)], statuses={"node1": UU},
         want_node="", want_code=U,
         want_msg="preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."),
    dict(id="absent status means UnschedulableAndUnresolvable",
         pod=pod("p", HIGH), pods=[pod("p1", node="node1")],
         nodes=[node("node1", ONE_POD)], statuses={},
         want_node="", want_code=U,
         want_msg="preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."),
    dict(id="schedulable on one node",
         pod=pod("p", MID), pods=[pod("p1", HIGH, "node1"), pod("p2", LOW, "node2")],
         nodes=[node("node1", ONE_POD), node("node2", ONE_POD)], statuses={"node1": U, "node2": U},
         want_node="node2", want_code=Code.SUCCESS, want_msg=""),
    dict(id="node with the lowest highest-priority victim",
         pod=pod("p", VERY_HIGH),
         pods=[pod("p1", HIGH, "node1"), pod("p2", LOW, "node1"), pod("p3", MID, "node2")],
         nodes=[node("node1", ONE_POD), node("node2", ONE_POD)], statuses={"node1": U, "node2": U},
         want_node="node2", want_code=Code.SUCCESS, want_msg=""),
    dict(id="not enough cpu even without lower-priority pods",
         pod=pod("p", HIGH, req=LARGE), pods=[pod("p1", node="node1"), pod("p2", node="node2")],
         nodes=[node("node1", NODE_RES), node("node2", NODE_RES)], statuses={"node1": U, "node2": U},
         want_node="", want_code=U, want_msg="preemption: 0/2 nodes are available: 2 Insufficient cpu."),
    dict(id="mixed reasons: no lower-priority pod, not enough cpu",
         pod=pod("p", HIGH, req=LARGE),
         pods=[pod("p1", HIGH, "node1"), pod("p2", node="node2"), pod("p3", HIGH, "node3")],
         nodes=[node("node1", ONE_POD), node("node2", NODE_RES), node("node3", ONE_POD)],
         statuses={"node1": U, "node2": U, "node3": U},
         want_node="", want_code=U,
         want_msg="preemption: 0/3 nodes are available: 1 Insufficient cpu, "
                  "2 No preemption victims found for incoming pod."),
    dict(id="mixed reasons: 2 unresolvable nodes, 2 without enough cpu",
         pod=pod("p", HIGH, req=LARGE), pods=[pod("p1", node="node1"), pod("p2", node="node2")],
         nodes=[node(f"node{i}", NODE_RES) for i in (1, 2, 3, 4)],
         statuses={"node1": U, "node2": U, "node4": UU},
         want_node="", want_code=U,
         want_msg="preemption: 0/4 nodes are available: 2 Insufficient cpu, "
                  "2 Preemption is not helpful for scheduling."),
    dict(id="only node fails in a PreFilter extension: an error",
         pod=pod("p", HIGH, req=LARGE), pods=[pod("p1", node="node1")],
         nodes=[node("node1", LARGE, {"error": "true"})], statuses={"node1": U},
         want_node=None, want_code=Code.ERROR,
         want_msg='preemption: running RemovePod on PreFilter plugin "test-plugin": failed to remove pod: p'),
    dict(id="one node fails with an error, the other is a candidate",
         pod=pod("p", HIGH, req=LARGE), pods=[pod("p1", node="node1"), pod("p2", node="node2", req=MEDIUM)],
         nodes=[node("node1", LARGE, {"error": "true"}), node("node2", LARGE)], statuses={"node1": U, "node2": U},
         want_node="node2", want_code=Code.SUCCESS, want_msg=""),
    dict(id="preemptionPolicy Never",
         pod=pod("p", HIGH, policy="Never"), pods=[pod("p1", node="node1")],
         nodes=[node("node1", ONE_POD)], statuses={"node1": U},
         want_node=None, want_code=U, want_msg="preemption: not eligible due to preemptionPolicy=Never."),
]


@pytest.mark.parametrize("case", POST_FILTER_CASES, ids=[c["id"] for c in POST_FILTER_CASES])
async def test_post_filter(case):
    pl = plugin(case["nodes"], case["pods"])
    got_node, status = await pl.post_filter(CycleState(), case["pod"], statuses(case["statuses"]))
    assert got_node == case["want_node"]
    assert status.code == case["want_code"]
    assert status.message() == case["want_msg"]


# ---- which node wins (ported from TestSelectBestCandidate) --------------------------------------

SELECT_CASES = [
    ("fits on both nodes once lower-priority pods go", HIGH, LARGE,
     [("p1", MID, "node1", LARGE, 0), ("p2", MID, "node2", LARGE, 0)], {"node1", "node2"}),
    ("node with the lowest highest-priority victim", HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", MEDIUM, 0), ("p1.2", MID, "node1", LARGE, 0),
      ("p2.1", MID, "node2", MEDIUM, 0), ("p2.2", LOW, "node2", MEDIUM, 0),
      ("p3.1", LOW, "node3", MEDIUM, 0), ("p3.2", LOW, "node3", MEDIUM, 0)], {"node3"}),
    ("same highest priority: smallest sum of priorities", HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", MEDIUM, 0), ("p1.2", MID, "node1", LARGE, 0),
      ("p2.1", MID, "node2", LARGE, 0), ("p2.2", LOW, "node2", MEDIUM, 0),
      ("p3.1", MID, "node3", MEDIUM, 0), ("p3.2", MID, "node3", MEDIUM, 0)], {"node2"}),
    ("same highest priority and sum: fewest victims", HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", SMALL, 0), ("p1.2", NEG, "node1", SMALL, 0),
      ("p1.3", MID, "node1", SMALL, 0), ("p1.4", NEG, "node1", SMALL, 0),
      ("p2.1", MID, "node2", LARGE, 0), ("p2.2", NEG, "node2", MEDIUM, 0),
      ("p3.1", MID, "node3", MEDIUM, 0), ("p3.2", NEG, "node3", SMALL, 0),
      ("p3.3", LOW, "node3", SMALL, 0)], {"node2"}),
    ("sum of adjusted (non-negative) priorities", HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", SMALL, 0), ("p1.2", NEG, "node1", SMALL, 0),
      ("p1.3", NEG, "node1", SMALL, 0),
      ("p2.1", MID, "node2", LARGE, 0), ("p2.2", NEG, "node2", MEDIUM, 0),
      ("p3.1", MID, "node3", MEDIUM, 0), ("p3.2", NEG, "node3", SMALL, 0),
      ("p3.3", LOW, "node3", SMALL, 0)], {"node2"}),
    ("non-overlapping highest priority, sum and count", VERY_HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", SMALL, 0), ("p1.2", LOW, "node1", SMALL, 0), ("p1.3", LOW, "node1", SMALL, 0),
      ("p2.1", HIGH, "node2", LARGE, 0),
      ("p3.1", MID, "node3", MEDIUM, 0), ("p3.2", LOW, "node3", SMALL, 0),
      ("p3.3", LOW, "node3", SMALL, 0), ("p3.4", LOW, "node3", MEDIUM, 0),
      ("p4.1", MID, "node4", MEDIUM, 0), ("p4.2", MID, "node4", SMALL, 0),
      ("p4.3", MID, "node4", SMALL, 0), ("p4.4", NEG, "node4", SMALL, 0)], {"node1"}),
    ("same priority and count: latest start of the top victims", HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", MEDIUM, 2), ("p1.2", MID, "node1", MEDIUM, 2),
      ("p2.1", MID, "node2", MEDIUM, 3), ("p2.2", MID, "node2", MEDIUM, 3),
      ("p3.1", MID, "node3", MEDIUM, 1), ("p3.2", MID, "node3", MEDIUM, 1)], {"node2"}),
    ("same priority and count, every start time different", HIGH, VERY_LARGE,
     [("p1.1", MID, "node1", MEDIUM, 4), ("p1.2", MID, "node1", MEDIUM, 2),
      ("p2.1", MID, "node2", MEDIUM, 5), ("p2.2", MID, "node2", MEDIUM, 1),
      ("p3.1", MID, "node3", MEDIUM, 3), ("p3.2", MID, "node3", MEDIUM, 6)], {"node3"}),
    ("different priorities, start of the top victims decides", HIGH, VERY_LARGE,
     [("p1.1", LOW, "node1", MEDIUM, 4), ("p1.2", MID, "node1", MEDIUM, 2),
      ("p2.1", MID, "node2", MEDIUM, 6), ("p2.2", LOW, "node2", MEDIUM, 1),
      ("p3.1", LOW, "node3", MEDIUM, 3), ("p3.2", MID, "node3", MEDIUM, 5)], {"node2"}),
]


@pytest.mark.parametrize("name,prio,req,existing,expected", SELECT_CASES, ids=[c[0] for c in SELECT_CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_select_best_candidate(name, prio, req, existing, expected, seed):
    node_names = sorted({e[2] for e in existing})
    nodes = [node(n, VERY_LARGE) for n in node_names]
    pods = [pod(n, p, nd, r, start) for n, p, nd, r, start in existing]
    pl = plugin(nodes, pods, seed=seed)
    candidate, nominated, status = pl.find_candidate(CycleState(), pod("p", prio, req=req),
                                                     statuses({n: U for n in node_names}))
    assert status.ok
    assert candidate.name in expected and nominated == candidate.name


# ---- victims on one node ------------------------------------------------------------------------

VICTIM_CASES = [
    ("only as many as needed, lowest priority first",
     pod("p", HIGH, req=LARGE),
     [pod("a", MID, "n", SMALL), pod("b", LOW, "n", SMALL), pod("c", NEG, "n", MEDIUM)],
     ["c"], Code.SUCCESS),
    ("equal priority: the one started later goes",
     pod("p", HIGH, req=MEDIUM),
     [pod("old", MID, "n", LARGE, start=1), pod("new", MID, "n", LARGE, start=5)],
     ["new"], Code.SUCCESS),
    ("victims sorted most important first",
     pod("p", HIGH, req=VERY_LARGE),
     [pod("a", LOW, "n", SMALL), pod("b", MID, "n", SMALL), pod("c", NEG, "n", SMALL)],
     ["b", "a", "c"], Code.SUCCESS),
    ("higher and equal priority pods are never victims",
     pod("p", MID, req=VERY_LARGE),
     [pod("a", HIGH, "n", SMALL), pod("b", MID, "n", SMALL)],
     [], UU),
]


@pytest.mark.parametrize("name,preemptor,existing,want,code", VICTIM_CASES, ids=[c[0] for c in VICTIM_CASES])
def test_select_victims_on_node(name, preemptor, existing, want, code):
    pl = plugin([node("n", VERY_LARGE)], existing)
    info = pl.handle.snapshot.get("n")
    before = len(info.pods)
    victims, violations, status = pl.select_victims_on_node(CycleState(), preemptor, info.clone())
    assert [v["metadata"]["name"] for v in victims] == want
    assert (violations, status.code) == (0, code)
    assert len(info.pods) == before  # the snapshot's NodeInfo is untouched


def test_dry_run_works_on_a_copy_of_the_cycle_state():
    """Each node's what-if runs on its own clone: the caller's state is not changed."""
    pl = plugin([node("n1", ONE_POD), node("n2", ONE_POD)], [pod("a", LOW, "n1"), pod("b", LOW, "n2")])
    state = CycleState(Counter={"RemovePod": 0, "AddPod": 0})
    candidate, _, status = pl.find_candidate(state, pod("p", HIGH), statuses({"n1": U, "n2": U}))
    assert status.ok and candidate.victims
    assert state["Counter"] == {"RemovePod": 0, "AddPod": 0}


# ---- eligibility (ported from TestPodEligibleToPreemptOthers) -----------------------------------

ELIGIBLE_CASES = [
    ("nominated node unresolvable: preempt again",
     pod("p", HIGH, nominated="node1"), [pod("p1", LOW, "node1", terminating=True, disruption_target=True)],
     Status(UU, ["node(s) had untolerated taint {dedicated: gpu}"]), True, ""),
    ("no nominated node", pod("p", HIGH), [], Status(), True, ""),
    ("preemptionPolicy Never", pod("p", HIGH, policy="Never"), [], Status(), False, dp.NOT_ELIGIBLE_POLICY),
    ("victim still terminating on the nominated node",
     pod("p", HIGH, nominated="node1"), [pod("p1", LOW, "node1", terminating=True, disruption_target=True)],
     Status(U), False, dp.NOT_ELIGIBLE_TERMINATING),
    ("terminating pod was not preempted (no DisruptionTarget)",
     pod("p", HIGH, nominated="node1"), [pod("p1", LOW, "node1", terminating=True)], Status(U), True, ""),
    ("terminating preempted pod has a higher priority",
     pod("p", LOW, nominated="node1"), [pod("p1", HIGH, "node1", terminating=True, disruption_target=True)],
     Status(U), True, ""),
]


@pytest.mark.parametrize("name,preemptor,pods,nominated_status,want,why", ELIGIBLE_CASES,
                         ids=[c[0] for c in ELIGIBLE_CASES])
def test_pod_eligible_to_preempt_others(name, preemptor, pods, nominated_status, want, why):
    pl = plugin([node("node1", {})], pods)
    assert pl.pod_eligible_to_preempt_others(preemptor, nominated_status) == (want, why)


async def test_not_eligible_message_is_prefixed_and_keeps_nomination():
    pl = plugin([node("node1", ONE_POD)], [pod("p1", LOW, "node1", terminating=True, disruption_target=True)])
    got, status = await pl.post_filter(CycleState(), pod("p", HIGH, nominated="node1"), statuses({"node1": U}))
    assert got is None
    assert (status.code, status.message()) == (U, "preemption: " + dp.NOT_ELIGIBLE_TERMINATING)


# ---- how many nodes the dry run examines -------------------------------------------------------


@pytest.mark.parametrize("num_nodes,pct,absolute,want", [
    (0, 10, 100, 0),
    (50, 10, 100, 50),       # fewer nodes than the absolute minimum: all of them
    (1000, 10, 100, 100),    # 10% = 100
    (5000, 10, 100, 500),    # the percentage wins
    (1001, 10, 0, 100),      # integer division, as in Go
    (10, 0, 3, 3),
    (7, 50, 1, 3),
])
def test_calculate_num_candidates(num_nodes, pct, absolute, want):
    assert dp.calculate_num_candidates(num_nodes, pct, absolute) == want


@pytest.mark.parametrize("seed", range(5))
def test_dry_run_stops_after_enough_candidates_from_a_random_offset(seed):
    names = [f"n{i}" for i in range(10)]
    nodes = [node(n, ONE_POD) for n in names]
    pl = plugin(nodes, [pod(f"v{i}", LOW, n) for i, n in enumerate(names)],
                args={"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 3}, seed=seed)
    offset, num = pl.get_offset_and_num_candidates(len(nodes))
    assert offset == random.Random(seed).randrange(10) and num == 3
    candidates, node_statuses, errors = pl.dry_run_preemption(
        CycleState(), pod("p", HIGH), list(pl.handle.snapshot), offset, num)
    assert [c.name for c in candidates] == [names[(offset + i) % 10] for i in range(3)]
    assert node_statuses == {} and errors == []


@pytest.mark.parametrize("args,error", [
    ({"minCandidateNodesPercentage": 101}, "minCandidateNodesPercentage: Invalid value: 101: not in valid range [0, 100]"),
    ({"minCandidateNodesAbsolute": -1}, "minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)"),
    ({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0},
     "cannot be zero at the same time as minCandidateNodesAbsolute"),
])
def test_invalid_args(args, error):
    with pytest.raises(ValueError, match=re.escape(error)):
        plugin([], [], args=args)


# ---- the FailedScheduling wording ---------------------------------------------------------------


@pytest.mark.parametrize("total,node_statuses,want", [
    (5, {}, "0/5 nodes are available: 5 Preemption is not helpful for scheduling."),
    (5, {f"n{i}": Status(UU, [dp.ERR_NO_VICTIMS]) for i in range(5)},
     "0/5 nodes are available: 5 No preemption victims found for incoming pod."),
    # Sorted as strings, counts included: "10 ..." before "2 ...".
    (12, {**{f"a{i}": Status(U, ["Insufficient cpu"]) for i in range(10)},
          **{f"b{i}": Status(U, ["Insufficient cpu", "Insufficient memory"]) for i in range(2)}},
     "0/12 nodes are available: 12 Insufficient cpu, 2 Insufficient memory."),
    (3, {"a": Status(U, ["Too many pods"])},
     "0/3 nodes are available: 1 Too many pods, 2 Preemption is not helpful for scheduling."),
])
def test_fit_error_message(total, node_statuses, want):
    assert dp.fit_error_message(total, node_statuses, [dp.ERR_NOT_HELPFUL]) == want


# ---- acting on the decision (ported from TestPreempt) -------------------------------------------

PREEMPT_CASES = [
    ("basic preemption", pod("p", HIGH, req=VERY_LARGE, policy="PreemptLowerPriority"),
     [pod("p1.1", LOW, "node1", SMALL), pod("p1.2", LOW, "node1", SMALL),
      pod("p2.1", HIGH, "node2", LARGE), pod("p3.1", MID, "node3", MEDIUM)], "node1", ["p1.1", "p1.2"]),
    ("preemptionPolicy unset", pod("p", HIGH, req=VERY_LARGE),
     [pod("p1.1", LOW, "node1", SMALL), pod("p1.2", LOW, "node1", SMALL),
      pod("p2.1", HIGH, "node2", LARGE), pod("p3.1", MID, "node3", MEDIUM)], "node1", ["p1.1", "p1.2"]),
    ("fewer priority points lost on node3", pod("p", HIGH, req=VERY_LARGE),
     [pod("p1.1", MID, "node1", SMALL), pod("p1.2", LOW, "node1", SMALL), pod("p2.1", MID, "node3", LARGE)],
     "node3", ["p2.1"]),
    ("preemptionPolicy Never", pod("p", HIGH, req=VERY_LARGE, policy="Never"),
     [pod("p1.1", LOW, "node1", SMALL), pod("p1.2", LOW, "node1", SMALL)], None, []),
]


@pytest.mark.parametrize("name,preemptor,pods,want_node,want_deleted", PREEMPT_CASES,
                         ids=[c[0] for c in PREEMPT_CASES])
async def test_preempt_deletes_victims(name, preemptor, pods, want_node, want_deleted):
    nodes = [node(n, VERY_LARGE) for n in ("node1", "node2", "node3")]
    pl = plugin(nodes, pods)
    got, status = await pl.post_filter(CycleState(), preemptor, statuses({n: U for n in ("node1", "node2", "node3")}))
    assert got == want_node
    assert status.ok == (want_node is not None)
    assert pl.handle.client.deleted() == want_deleted
    patched = sorted(c[1] for c in pl.handle.client.calls if c[0] == "patch")
    assert patched == want_deleted  # each victim first gets its DisruptionTarget condition
    assert [(e[1], e[3], e[4]) for e in pl.handle.recorder.events] == [
        (v, "Preempted", f"Preempted by pod p on node {want_node}") for v in want_deleted]


async def test_prepare_marks_skips_and_clears_nominations():
    victims = [pod("gone", LOW, "n1", SMALL), pod("dying", LOW, "n1", SMALL, terminating=True),
               pod("v", LOW, "n1", SMALL)]
    nominated = [pod("low-nominated", LOW, nominated="n1"), pod("high-nominated", VERY_HIGH, nominated="n1"),
                 pod("low-unset", LOW)]
    client = FakeClient(missing={"gone"})
    pl = plugin([node("n1", SMALL)], victims, nominated={"n1": nominated}, client=client)
    preemptor = pod("p", HIGH)
    preemptor["spec"]["schedulerName"] = "my-scheduler"
    status = await pl.prepare_candidate(dp.Candidate("n1", victims), preemptor)
    assert status.ok
    assert client.deleted() == ["v"]  # "gone" vanished at the status patch, "dying" is already going
    cond_patch = next(c for c in client.calls if c[0] == "patch" and c[1] == "v")
    cond = cond_patch[2]["status"]["conditions"][0]
    assert cond_patch[3:] == ("strategic", "status")
    assert {k: cond[k] for k in ("type", "status", "reason", "message")} == {
        "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
        "message": "my-scheduler: preempting to accommodate a higher priority pod"}
    assert cond["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    clears = [c for c in client.calls if c[0] == "patch" and c[2] == {"status": {"nominatedNodeName": None}}]
    assert [c[1] for c in clears] == ["low-nominated"]


async def test_prepare_reports_api_errors():
    class Failing(FakeClient):
        async def delete(self, rt, ns, name, **kw):
            raise ApiError(500, "InternalError", "etcd is down")

    pl = plugin([node("n1", ONE_POD)], [pod("v", LOW, "n1")], client=Failing())
    got, status = await pl.post_filter(CycleState(), pod("p", HIGH), statuses({"n1": U}))
    assert got is None
    assert (status.code, status.message()) == (Code.ERROR, "preemption: etcd is down")


# ---- pick_one_node directly ---------------------------------------------------------------------


def test_pick_one_node_prefers_fewer_pdb_violations_then_first():
    now = FakeClock().now()
    a = dp.Candidate("a", [pod("x", LOW)], num_pdb_violations=1)
    b = dp.Candidate("b", [pod("y", MID)], num_pdb_violations=0)
    c = dp.Candidate("c", [pod("z", MID)], num_pdb_violations=0)
    assert dp.pick_one_node([a, b, c], now).name == "b"
    assert dp.pick_one_node([], now) is None


# ---- PrioritySort ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Queued:
    pod: dict
    timestamp: float


@pytest.mark.parametrize("a,b,want", [
    (Queued(pod("a", HIGH), 2.0), Queued(pod("b", LOW), 1.0), True),    # priority first
    (Queued(pod("a", LOW), 1.0), Queued(pod("b", HIGH), 2.0), False),
    (Queued(pod("a", MID), 1.0), Queued(pod("b", MID), 2.0), True),     # then queue time
    (Queued(pod("a", MID), 2.0), Queued(pod("b", MID), 1.0), False),
    (Queued(pod("a"), 1.0), Queued(pod("b", 0), 1.0), False),            # no priority = 0; strict
    (Queued(pod("a", NEG), 1.0), Queued(pod("b"), 2.0), False),
])
def test_priority_sort_less(a, b, want):
    pl = ps.PrioritySort(Handle(Snapshot()))
    assert pl.less(a, b) is want


def test_priority_sort_accepts_pod_infos():
    a = Queued(PodInfo.of(pod("a", HIGH)), 5.0)
    b = Queued(PodInfo.of(pod("b", LOW)), 1.0)
    assert ps.less(a, b) and not ps.less(b, a)


def test_pod_priority_and_registry():
    assert ps.pod_priority(pod("a", 7)) == 7 and ps.pod_priority(pod("b")) == 0
    assert PLUGINS["DefaultPreemption"] is dp.DefaultPreemption
    assert PLUGINS["PrioritySort"] is ps.PrioritySort
    assert dp.DefaultPreemption.name == "DefaultPreemption" and ps.PrioritySort.name == "PrioritySort"
    assert plugin([], []).events_to_register() == []
