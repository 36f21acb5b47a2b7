"""The framework runtime: how many nodes the search looks at and where it starts, PreFilter
narrowing, scoring with weights and normalization, the random tie-break, the FailedScheduling
message (FitError) and the binding cycle. Small fake plugins stand in for the real ones, so
each test shows one rule of kube-scheduler's schedulePod."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kubeling.scheduler import framework as fw
from kubeling.scheduler.framework import Code, CycleState, NodeInfo, PreFilterResult, Status
from kubeling.scheduler.runtime import (
    NO_NODES_AVAILABLE,
    Diagnosis,
    FitError,
    Framework,
    num_feasible_nodes_to_find,
)

POD = {"metadata": {"name": "p", "namespace": "default", "uid": "p"}, "spec": {"containers": []}}


# ---- fakes --------------------------------------------------------------------------------------


class Filter(fw.Plugin):
    """Rejects the nodes named in `reject` with their reasons; records the order of nodes seen."""

    def __init__(self, name: str = "Filter", reject: dict[str, list[str]] | None = None,
                 resolvable: bool = True):
        super().__init__(None)
        self.name, self.reject, self.resolvable = name, reject or {}, resolvable
        self.seen: list[str] = []

    def filter(self, state, pod, node_info):
        self.seen.append(node_info.name)
        reasons = self.reject.get(node_info.name)
        return fw.unschedulable(*reasons, resolvable=self.resolvable) if reasons else fw.SUCCESS


class PreFilter(fw.Plugin):
    """Narrows the search to `nodes` (None: all), or rejects the pod with `status`."""

    def __init__(self, name: str, nodes: set[str] | None = None, status: Status = fw.SUCCESS):
        super().__init__(None)
        self.name, self.nodes, self.status = name, nodes, status
        self.calls = 0

    def pre_filter(self, state, pod):
        self.calls += 1
        state[self.name] = "ran"
        return (PreFilterResult(self.nodes) if self.nodes is not None else None), Status(
            self.status.code, list(self.status.reasons))


class Score(fw.Plugin):
    def __init__(self, name: str, scores: dict[str, int], skip: bool = False):
        super().__init__(None)
        self.name, self.scores, self.skip = name, scores, skip
        self.calls = 0

    def pre_score(self, state, pod, nodes):
        return fw.skip() if self.skip else fw.SUCCESS

    def score(self, state, pod, node_info):
        self.calls += 1
        return self.scores.get(node_info.name, 0), fw.SUCCESS


class NormalizedScore(Score):
    """Scales its raw scores so that the best node gets MAX_NODE_SCORE (as many real plugins do)."""

    def normalize_score(self, state, pod, scores):
        top = max(scores.values()) or 1
        for name in scores:
            scores[name] = scores[name] * fw.MAX_NODE_SCORE // top
        return fw.SUCCESS


class Recorder(fw.Plugin):
    """A reserve/permit/bind plugin that logs every call into a shared list."""

    def __init__(self, name: str, log: list[str], *, reserve: Status = fw.SUCCESS, permit: Status = fw.SUCCESS,
                 bind: Status = fw.SUCCESS):
        super().__init__(None)
        self.name, self.log = name, log
        self._reserve, self._permit, self._bind = reserve, permit, bind

    async def reserve(self, state, pod, node):
        self.log.append(f"reserve {self.name}")
        return self._reserve

    def unreserve(self, state, pod, node):
        self.log.append(f"unreserve {self.name}")

    async def permit(self, state, pod, node):
        self.log.append(f"permit {self.name}")
        return self._permit, 0.0

    async def pre_bind(self, state, pod, node):
        self.log.append(f"preBind {self.name}")
        return fw.SUCCESS

    async def bind(self, state, pod, node):
        self.log.append(f"bind {self.name}")
        return self._bind

    async def post_bind(self, state, pod, node):
        self.log.append(f"postBind {self.name}")


def nodes(n: int) -> list[NodeInfo]:
    return [NodeInfo.of({"metadata": {"name": f"n{i}"}}) for i in range(n)]


def framework(node_infos: list[NodeInfo], *, pre_filter=(), filter=(), score=(), weights=None,
              percentage: int | None = None, seed: int = 0, **points) -> Framework:
    all_points = {"preFilter": list(pre_filter), "filter": list(filter), "preScore": list(score),
                  "score": list(score), **points}
    return Framework("default-scheduler", all_points, dict(weights or {}), percentage,
                     fw.Handle(fw.Snapshot(node_infos)), random.Random(seed))


def fit_error(f: Framework) -> FitError:
    with pytest.raises(FitError) as info:
        f.schedule(CycleState(), POD)
    return info.value


# ---- how many nodes to search -------------------------------------------------------------------


@pytest.mark.parametrize("percentage, num_all, want", [
    # kube-scheduler's TestNumFeasibleNodesToFind
    (None, 10, 10),
    (40, 10, 10),
    (None, 1000, 420),   # adaptive: 50 - 1000/125 = 42%
    (40, 1000, 400),
    (None, 6000, 300),   # 50 - 48 = 2% -> the 5% floor
    (40, 6000, 2400),
    # edges of the formula
    (None, 0, 0),
    (None, 99, 99),      # below minFeasibleNodesToFind: every node
    (None, 100, 100),    # 50% of 100 is 50, raised to the minimum of 100
    (None, 200, 100),    # 49% of 200 = 98 -> 100
    (10, 500, 100),      # 50 -> 100
    (None, 5000, 500),   # 50 - 40 = 10%
    (100, 5000, 5000),
    (0, 1000, 420),      # 0 means "adaptive", as an unset value
])
def test_num_feasible_nodes_to_find(percentage, num_all, want):
    assert num_feasible_nodes_to_find(num_all, percentage) == want


def test_search_stops_once_enough_feasible_nodes_are_found():
    filt = Filter(reject={f"n{i}": ["nope"] for i in range(10)})
    f = framework(nodes(200), filter=[filt])
    result = f.schedule(CycleState(), POD)
    assert len(filt.seen) == 110  # 10 rejected, then 100 feasible (49% of 200 = 98, at least 100)
    assert (result.evaluated_nodes, result.feasible_nodes) == (110, 100)


def test_each_search_starts_where_the_previous_one_stopped():
    filt = Filter()
    f = framework(nodes(250), filter=[filt], percentage=40)  # 100 nodes per search
    seen = []
    for _ in range(3):
        filt.seen = []
        f.schedule(CycleState(), POD)
        seen.append((filt.seen[0], filt.seen[-1], len(filt.seen)))
    assert seen == [("n0", "n99", 100), ("n100", "n199", 100), ("n200", "n49", 100)]  # wraps around


def test_percentage_100_checks_every_node():
    filt = Filter()
    f = framework(nodes(300), filter=[filt], percentage=100)
    assert f.schedule(CycleState(), POD).feasible_nodes == 300
    assert len(filt.seen) == 300


# ---- PreFilter ----------------------------------------------------------------------------------


def test_pre_filter_result_narrows_the_nodes_filtered():
    filt = Filter()
    f = framework(nodes(4), pre_filter=[PreFilter("A", {"n1", "n2", "n3"}), PreFilter("B", {"n2", "n3", "gone"})],
                  filter=[filt], score=[Score("S", {"n3": 10})])
    assert f.schedule(CycleState(), POD).node == "n3"
    assert sorted(filt.seen) == ["n2", "n3"]


def test_nodes_left_out_by_pre_filter_are_named_in_the_message():
    f = framework(nodes(4), pre_filter=[PreFilter("NodeAffinity", {"n1", "n2"})],
                  filter=[Filter(reject={"n1": ["Insufficient cpu"], "n2": ["Insufficient cpu"]})])
    err = fit_error(f)
    assert err.message() == ("0/4 nodes are available: 2 Insufficient cpu, "
                             "2 node(s) didn't satisfy plugin(s) [NodeAffinity].")
    assert err.diagnosis.node_statuses["n0"].code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert "NodeAffinity" in err.diagnosis.unschedulable_plugins


@pytest.mark.parametrize("pre_filters, want", [
    ([PreFilter("A", set())], "0/3 nodes are available: node(s) didn't satisfy plugin A."),
    ([PreFilter("B", {"n0"}), PreFilter("A", {"n1"})],
     "0/3 nodes are available: node(s) didn't satisfy plugin(s) [A B] simultaneously."),
])
def test_pre_filter_results_with_no_node_in_common(pre_filters, want):
    filt = Filter()
    err = fit_error(framework(nodes(3), pre_filter=pre_filters, filter=[filt]))
    assert err.message() == want
    assert filt.seen == []
    assert all(s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE for s in err.diagnosis.node_statuses.values())


def test_pre_filter_rejection_message_is_not_repeated_per_node():
    reject = PreFilter("VolumeBinding", status=fw.unschedulable("pod has unbound immediate PersistentVolumeClaims",
                                                                resolvable=False))
    later = PreFilter("Later")
    filt = Filter()
    err = fit_error(framework(nodes(3), pre_filter=[reject, later], filter=[filt]))
    assert err.message() == "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    assert set(err.diagnosis.node_statuses) == {"n0", "n1", "n2"}
    assert err.diagnosis.unschedulable_plugins == {"VolumeBinding"}
    assert filt.seen == [] and later.calls == 0  # unresolvable: nothing else runs


def test_resolvable_pre_filter_rejection_still_runs_the_other_pre_filters():
    # Preemption re-runs the filters with the cycle state, so every PreFilter must have run.
    reject = PreFilter("First", status=fw.unschedulable("not yet"))
    later = PreFilter("Later")
    state = CycleState()
    f = framework(nodes(2), pre_filter=[reject, later], filter=[Filter()])
    with pytest.raises(FitError) as info:
        f.schedule(state, POD)
    assert later.calls == 1 and state["Later"] == "ran"
    assert info.value.message() == "0/2 nodes are available: not yet."
    assert info.value.diagnosis.node_statuses["n0"].plugin == "First"


# ---- FitError: the FailedScheduling message -----------------------------------------------------


def test_histogram_counts_reasons_and_sorts_them_as_strings():
    reject = {f"n{i}": ["node(s) were unschedulable"] for i in range(10)}
    reject["n10"] = ["Insufficient memory", "Insufficient cpu"]
    reject["n11"] = ["Insufficient cpu"]
    err = fit_error(framework(nodes(12), filter=[Filter(reject=reject)]))
    # kube-scheduler sorts the formatted strings: "1 I.." < "10 n.." < "2 I..".
    assert err.message() == ("0/12 nodes are available: 1 Insufficient memory, 10 node(s) were unschedulable, "
                             "2 Insufficient cpu.")
    assert err.diagnosis.unschedulable_plugins == {"Filter"}


@pytest.mark.parametrize("post_filter_msg", [
    "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
    "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod",
])
def test_post_filter_message_ends_with_exactly_one_period(post_filter_msg):
    err = FitError(POD, 2, Diagnosis(node_statuses={"a": fw.unschedulable("Insufficient cpu"),
                                                    "b": fw.unschedulable("Insufficient cpu")},
                                     post_filter_msg=post_filter_msg))
    assert err.message() == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are "
                             "available: 2 No preemption victims found for incoming pod.")


def test_post_filter_message_follows_a_pre_filter_message():
    err = FitError(POD, 3, Diagnosis(node_statuses={"a": fw.unschedulable("x")}, pre_filter_msg="too big",
                                     post_filter_msg="preemption: not eligible"))
    assert err.message() == "0/3 nodes are available: too big. preemption: not eligible."


def test_no_nodes_at_all():
    err = fit_error(framework([]))
    assert err.message() == NO_NODES_AVAILABLE == "no nodes available to schedule pods"
    assert str(err) == NO_NODES_AVAILABLE


# ---- scoring ------------------------------------------------------------------------------------

A_SCORES = {"n0": 10, "n1": 50, "n2": 30}
B_RAW = {"n0": 5, "n1": 1, "n2": 10}  # normalized: 50, 10, 100


@pytest.mark.parametrize("weights, totals, best", [
    ({"A": 2, "B": 1}, {"n0": 70, "n1": 110, "n2": 160}, "n2"),
    ({"A": 5, "B": 1}, {"n0": 100, "n1": 260, "n2": 250}, "n1"),
    ({"B": 3}, {"n0": 160, "n1": 80, "n2": 330}, "n2"),  # no weight given: 1
])
def test_scores_are_normalized_then_weighted(weights, totals, best):
    score = [Score("A", A_SCORES), NormalizedScore("B", B_RAW)]
    f = framework(nodes(3), score=score, weights=weights)
    assert f.run_score(CycleState(), POD, f.handle.snapshot.node_infos) == totals
    assert f.schedule(CycleState(), POD).node == best


def test_a_plugin_skipped_at_pre_score_does_not_score():
    skipped = Score("Skipped", {"n0": 100}, skip=True)
    f = framework(nodes(2), score=[skipped, Score("A", {"n1": 1})])
    assert f.schedule(CycleState(), POD).node == "n1"
    assert skipped.calls == 0


def test_a_single_feasible_node_is_not_scored():
    score = Score("A", {})
    f = framework(nodes(3), filter=[Filter(reject={"n0": ["no"], "n2": ["no"]})], score=[score])
    result = f.schedule(CycleState(), POD)
    assert (result.node, result.evaluated_nodes, result.feasible_nodes) == ("n1", 3, 1)
    assert score.calls == 0


def test_ties_are_broken_at_random_among_the_best():
    scores = {"n0": 10, "n1": 90, "n2": 40, "n3": 90, "n4": 90}
    f = framework(nodes(5), score=[Score("A", scores)], seed=7)
    picks = Counter(f.schedule(CycleState(), POD).node for _ in range(300))
    assert set(picks) == {"n1", "n3", "n4"}
    assert min(picks.values()) > 60  # roughly uniform: 100 each expected
    again = framework(nodes(5), score=[Score("A", scores)], seed=7)
    assert Counter(again.schedule(CycleState(), POD).node for _ in range(300)) == picks  # seeded: reproducible


# ---- binding cycle ------------------------------------------------------------------------------


async def test_reserve_failure_unreserves_every_reserve_plugin_in_reverse():
    log: list[str] = []
    f = framework(nodes(1), reserve=[Recorder("R1", log), Recorder("R2", log, reserve=fw.error("full")),
                                     Recorder("R3", log)])
    status = await f.run_reserve(CycleState(), POD, "n0")
    assert status.code == Code.ERROR and status.message() == "full"
    assert log == ["reserve R1", "reserve R2", "unreserve R3", "unreserve R2", "unreserve R1"]


async def test_permit_rejection_stops_at_the_rejecting_plugin():
    log: list[str] = []
    f = framework(nodes(1), permit=[Recorder("P1", log, permit=fw.unschedulable("denied")), Recorder("P2", log)])
    status = await f.run_permit(CycleState(), POD, "n0")
    assert status.rejected and status.message() == "denied"
    assert log == ["permit P1"]


async def test_binding_uses_the_first_bind_plugin_that_does_not_skip():
    log: list[str] = []
    plugins = [Recorder("Skipper", log, bind=fw.skip()), Recorder("Binder", log), Recorder("Never", log)]
    f = framework(nodes(1), preBind=plugins[:1], bind=plugins, postBind=plugins[1:2])
    assert (await f.run_binding(CycleState(), POD, "n0")).ok
    assert log == ["preBind Skipper", "bind Skipper", "bind Binder", "postBind Binder"]


async def test_a_failed_bind_skips_post_bind():
    log: list[str] = []
    binder = Recorder("Binder", log, bind=fw.error("conflict"))
    f = framework(nodes(1), bind=[binder], postBind=[binder])
    status = await f.run_binding(CycleState(), POD, "n0")
    assert status.message() == "conflict"
    assert log == ["bind Binder"]
