"""The ReplicaSet controller against an in-process API server, on a fake clock."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from kubeling.api import registry
from kubeling.api.errors import ApiError, forbidden
from kubeling.api.meta import rfc3339
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.local import LocalClient
from kubeling.controllers import podutil
from kubeling.controllers import replicaset as replicaset_module
from kubeling.controllers.replicaset import (
    ReplicaSetController,
    pod_name_prefix,
    pods_to_delete,
    slow_start_batch,
)
from tests.support.eventually import eventually

RS = registry.lookup("apps", "v1", "replicasets")
PODS = registry.lookup("", "v1", "pods")
EVENTS = registry.lookup("", "v1", "events")
NS = "default"


# ---- harness ------------------------------------------------------------------------------------

class FlakyClient:
    """A LocalClient whose pod creations/deletions can be made to fail, as a quota would."""

    def __init__(self, inner: LocalClient):
        self.inner = inner
        self.fail_creates: ApiError | None = None
        self.fail_deletes: ApiError | None = None
        self.creates = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def create(self, rt, namespace, obj, **kw):
        if rt is PODS:
            self.creates += 1
            if self.fail_creates is not None:
                raise self.fail_creates
        return await self.inner.create(rt, namespace, obj, **kw)

    async def delete(self, rt, namespace, name, **kw):
        if rt is PODS and self.fail_deletes is not None:
            raise self.fail_deletes
        return await self.inner.delete(rt, namespace, name, **kw)


class Env:
    def __init__(self, local: LocalClient, clock: FakeClock):
        self.local = local
        self.client = FlakyClient(local)
        self.clock = clock
        self.factory = InformerFactory(self.client, clock=clock)
        self.recorder = EventRecorder(self.client, "replicaset-controller", clock=clock)
        self.ctrl = ReplicaSetController(self.client, self.factory, self.recorder, clock=clock, workers=2)

    async def start(self, run_workers: bool = True):
        await self.factory.start()
        await self.factory.wait_for_sync(2)
        if run_workers:
            await self.ctrl.start()

    async def stop(self):
        await self.ctrl.stop()
        await self.factory.stop()
        await self.recorder.close()

    async def pods(self, active_only: bool = True) -> list[dict]:
        items = (await self.local.list(PODS, NS))["items"]
        return [p for p in items if podutil.is_pod_active(p)] if active_only else items

    async def wait_pods(self, n: int, **kw) -> list[dict]:
        async def check():
            pods = await self.pods(**kw)
            return pods if len(pods) == n else None
        return await eventually(check)

    async def wait_status(self, name: str, **want) -> dict:
        async def check():
            status = (await self.local.get(RS, NS, name)).get("status") or {}
            return status if all(status.get(k, 0) == v for k, v in want.items()) else None
        return await eventually(check)

    async def events(self, reason: str) -> list[str]:
        items = (await self.local.list(EVENTS, NS))["items"]
        return sorted(e["message"] for e in items if e["reason"] == reason)

    async def wait_events(self, reason: str, n: int) -> list[str]:
        async def check():
            msgs = await self.events(reason)
            return msgs if len(msgs) == n else None
        return await eventually(check)

    async def synced(self, name: str):
        """The controller's caches have seen the ReplicaSet's latest write."""
        rv = (await self.local.get(RS, NS, name))["metadata"]["resourceVersion"]

        async def check():
            cached = self.ctrl.rs_informer.indexer.get(f"{NS}/{name}")
            return cached is not None and cached["metadata"]["resourceVersion"] == rv
        await eventually(check)


@pytest.fixture
async def env():
    local = await LocalClient.start()
    e = Env(local, FakeClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    yield e
    await e.stop()
    await local.close()


def replicaset(name: str = "web", replicas: int = 3, labels: dict | None = None, **spec) -> dict:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": {**labels, "tier": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, **spec}}


def bare_pod(name: str, labels: dict) -> dict:
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def set_ready(client, pod: dict, when: dt.datetime, phase: str = "Running", ready: bool = True):
    cond = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": rfc3339(when)}
    await client.patch(PODS, NS, pod["metadata"]["name"],
                       {"status": {"phase": phase, "conditions": [cond]}}, subresource="status")


# ---- creation, ownership, status, events --------------------------------------------------------

async def test_creates_replicas_owned_by_the_replicaset(env):
    await env.start()
    rs = await env.local.create(RS, NS, replicaset("web", 3))
    pods = await env.wait_pods(3)
    for pod in pods:
        md = pod["metadata"]
        assert md["name"].startswith("web-") and md["generateName"] == "web-"
        assert md["labels"] == {"app": "web", "tier": "x"}
        assert md["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                          "uid": rs["metadata"]["uid"], "controller": True,
                                          "blockOwnerDeletion": True}]
    status = await env.wait_status("web", replicas=3, fullyLabeledReplicas=3, observedGeneration=1)
    assert "readyReplicas" not in status and "conditions" not in status
    msgs = await env.wait_events("SuccessfulCreate", 3)
    assert msgs == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)


async def test_a_costly_status_sync_holds_its_key_but_a_scaling_one_does_not(env, monkeypatch):
    monkeypatch.setattr(replicaset_module, "HOLD_FROM", -1.0)  # every walk counts as costly
    seen: list[str] = []  # in order: "sync" (a reconcile begins), "scale" (it creates or deletes), "hold"
    monkeypatch.setattr(env.ctrl, "hold", lambda key, seconds: seen.append("hold"))
    real, real_reconcile = env.ctrl._manage_replicas, env.ctrl.reconcile

    async def reconcile(key):
        seen.append("sync")
        return await real_reconcile(key)
    monkeypatch.setattr(env.ctrl, "reconcile", reconcile)

    async def manage(pods, rs):
        if len(pods) != rs["spec"]["replicas"]:
            seen.append("scale")
        await real(pods, rs)
    monkeypatch.setattr(env.ctrl, "_manage_replicas", manage)
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 2))
    await env.wait_pods(2)
    await env.local.patch(RS, NS, "web", {"spec": {"replicas": 3}})
    await env.wait_pods(3)
    await env.wait_status("web", replicas=3, observedGeneration=2)
    syncs = " ".join(seen).split("sync")
    assert sum("scale" in s for s in syncs) == 2 and any("hold" in s for s in syncs)  # counting-only syncs held
    assert not any("scale" in s and "hold" in s for s in syncs)  # a scaling sync never is


async def test_scale_down_deletes_surplus_and_reports_events(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 4))
    await env.wait_pods(4)
    await env.local.patch(RS, NS, "web", {"spec": {"replicas": 1}})
    kept = await env.wait_pods(1, active_only=False)
    await env.wait_status("web", replicas=1, observedGeneration=2)
    msgs = await env.wait_events("SuccessfulDelete", 3)
    assert all(m.startswith("Deleted pod: web-") for m in msgs)
    assert f"Deleted pod: {kept[0]['metadata']['name']}" not in msgs


async def test_scale_down_prefers_unassigned_pending_and_not_ready(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 4))
    pods = await env.wait_pods(4)
    names = [p["metadata"]["name"] for p in pods]
    # names[0]: unassigned; names[1]: bound, Pending; names[2]: bound, Running not ready; names[3]: ready.
    for name in names[1:]:
        await env.local.create(PODS, NS, {"target": {"kind": "Node", "name": "n1"}}, subresource="binding",
                               name=name)
    await set_ready(env.local, pods[1], env.clock.now(), phase="Pending", ready=False)
    await set_ready(env.local, pods[2], env.clock.now(), ready=False)
    await set_ready(env.local, pods[3], env.clock.now())
    for keep in (3, 2, 1):  # scale down one at a time: each step removes the best victim
        await env.local.patch(RS, NS, "web", {"spec": {"replicas": keep}})
        await env.wait_pods(keep)
        active = {p["metadata"]["name"] for p in await env.pods()}
        assert active == set(names[4 - keep:])


async def test_pod_failures_and_deletions_are_replaced(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 2))
    pods = await env.wait_pods(2)
    await env.local.patch(PODS, NS, pods[0]["metadata"]["name"], {"status": {"phase": "Failed"}},
                          subresource="status")
    await env.local.delete(PODS, NS, pods[1]["metadata"]["name"], grace_period_seconds=0)
    fresh = await env.wait_pods(2)
    assert not {p["metadata"]["name"] for p in fresh} & {p["metadata"]["name"] for p in pods}
    await env.wait_status("web", replicas=2)
    assert len(await env.pods(active_only=False)) == 3  # the failed pod stays, uncounted


async def test_ready_and_available_with_min_ready_seconds(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 2, minReadySeconds=30))
    pods = await env.wait_pods(2)
    for pod in pods:
        await set_ready(env.local, pod, env.clock.now())
    status = await env.wait_status("web", replicas=2, readyReplicas=2)
    assert status.get("availableReplicas", 0) == 0
    env.clock.advance(31)  # the requeue after minReadySeconds fires on the fake clock
    await env.wait_status("web", replicas=2, readyReplicas=2, availableReplicas=2)


# ---- adoption and release -----------------------------------------------------------------------

async def test_adopts_matching_orphans_and_creates_only_the_rest(env):
    await env.local.create(PODS, NS, bare_pod("orphan", {"app": "web"}))
    await env.local.create(PODS, NS, bare_pod("stranger", {"app": "other"}))
    await env.start()
    rs = await env.local.create(RS, NS, replicaset("web", 2))
    await env.wait_status("web", replicas=2)
    orphan = await env.local.get(PODS, NS, "orphan")
    assert podutil.get_controller_of(orphan) == podutil.new_controller_ref(rs)
    assert "ownerReferences" not in (await env.local.get(PODS, NS, "stranger"))["metadata"]
    assert len(await env.wait_events("SuccessfulCreate", 1)) == 1
    status = await env.wait_status("web", replicas=2)
    assert status["fullyLabeledReplicas"] == 1  # the orphan lacks the template's tier label


async def test_releases_pods_whose_labels_stop_matching(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 2))
    pods = await env.wait_pods(2)
    name = pods[0]["metadata"]["name"]
    await env.local.patch(PODS, NS, name, {"metadata": {"labels": {"app": "debug"}}})

    async def released():
        return not (await env.local.get(PODS, NS, name))["metadata"].get("ownerReferences")
    await eventually(released)
    owned = await env.wait_pods(3)  # a replacement, and the released pod lives on
    assert sum(1 for p in owned if podutil.get_controller_of(p)) == 2


async def test_pods_of_another_controller_are_left_alone(env):
    other = await env.local.create(RS, NS, replicaset("other", 1, labels={"app": "web"}))
    pod = bare_pod("taken", {"app": "web"})
    pod["metadata"]["ownerReferences"] = [podutil.new_controller_ref(other)]
    await env.local.create(PODS, NS, pod)
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 1))
    await env.wait_status("web", replicas=1)
    await env.wait_status("other", replicas=1)
    taken = await env.local.get(PODS, NS, "taken")
    assert podutil.get_controller_of(taken)["uid"] == other["metadata"]["uid"]
    assert len(await env.pods()) == 2  # "web" made its own pod rather than take "other"'s


# ---- expectations, batching, failures -----------------------------------------------------------

async def test_unsatisfied_expectations_hold_back_a_second_round(env):
    await env.start(run_workers=False)
    await env.local.create(RS, NS, replicaset("web", 2))
    await env.synced("web")
    env.ctrl.expectations.expect_creations(f"{NS}/web", 1)  # as if a creation were in flight
    await env.ctrl.reconcile(f"{NS}/web")
    assert await env.pods() == []
    env.clock.advance(301)  # expectations expire after five minutes
    await env.ctrl.reconcile(f"{NS}/web")
    assert len(await env.pods()) == 2


async def test_creations_observed_lift_expectations(env):
    await env.start(run_workers=False)
    await env.local.create(RS, NS, replicaset("web", 3))
    await env.synced("web")
    key = f"{NS}/web"
    await env.ctrl.reconcile(key)
    assert len(await env.pods()) == 3
    await env.local.patch(RS, NS, "web", {"spec": {"replicas": 5}})
    await env.synced("web")

    async def satisfied():
        return env.ctrl.expectations.satisfied(key)
    await eventually(satisfied)  # the watch delivered all three creations
    await env.ctrl.reconcile(key)
    assert len(await env.pods()) == 5


async def test_status_written_only_when_it_changes(env):
    await env.start(run_workers=False)
    await env.local.create(RS, NS, replicaset("web", 1))
    await env.synced("web")
    await env.ctrl.reconcile(f"{NS}/web")

    async def pod_cached():
        return len(env.ctrl.pod_informer.indexer) == 1
    await eventually(pod_cached)
    await env.synced("web")
    await env.ctrl.reconcile(f"{NS}/web")  # records status.replicas=1
    await env.synced("web")
    before = (await env.local.get(RS, NS, "web"))["metadata"]["resourceVersion"]
    await env.ctrl.reconcile(f"{NS}/web")
    after = await env.local.get(RS, NS, "web")
    assert after["metadata"]["resourceVersion"] == before
    assert after["status"] == {"replicas": 1, "fullyLabeledReplicas": 1, "observedGeneration": 1}


async def test_burst_caps_one_sync(env):
    env.ctrl.burst_replicas = 2
    await env.start(run_workers=False)
    await env.local.create(RS, NS, replicaset("web", 5))
    await env.synced("web")
    await env.ctrl.reconcile(f"{NS}/web")
    assert len(await env.pods()) == 2


async def test_failed_create_sets_condition_and_event_then_recovers(env):
    env.client.fail_creates = forbidden('pods "web-" is forbidden: exceeded quota: q')
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 4))

    async def condition():
        conds = ((await env.local.get(RS, NS, "web")).get("status") or {}).get("conditions") or []
        return conds
    conds = await eventually(condition)
    assert conds == [{"type": "ReplicaFailure", "status": "True",
                      "lastTransitionTime": rfc3339(env.clock.now()), "reason": "FailedCreate",
                      "message": 'pods "web-" is forbidden: exceeded quota: q'}]
    msgs = await env.wait_events("FailedCreate", 1)
    assert msgs == ['Error creating: pods "web-" is forbidden: exceeded quota: q']
    env.client.fail_creates = None
    env.clock.advance(1)  # the retry backoff runs on the fake clock
    await env.wait_pods(4)
    status = await env.wait_status("web", replicas=4)
    assert "conditions" not in status


async def test_failed_first_batch_stops_the_sync_and_clears_expectations(env):
    env.client.fail_creates = forbidden("quota")
    await env.start(run_workers=False)
    await env.local.create(RS, NS, replicaset("web", 8))
    await env.synced("web")
    with pytest.raises(ApiError):
        await env.ctrl.reconcile(f"{NS}/web")
    assert env.client.creates == 1  # slow start: the first batch of one failed, nothing more tried
    assert env.ctrl.expectations.satisfied(f"{NS}/web")  # the 7 never sent are not awaited


async def test_failed_delete_sets_condition(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 2))
    await env.wait_pods(2)
    env.client.fail_deletes = forbidden("nope")
    await env.local.patch(RS, NS, "web", {"spec": {"replicas": 1}})

    async def condition():
        conds = ((await env.local.get(RS, NS, "web")).get("status") or {}).get("conditions") or []
        return conds
    conds = await eventually(condition)
    assert (conds[0]["reason"], conds[0]["message"]) == ("FailedDelete", "unable to delete pods: nope")
    assert await env.wait_events("FailedDelete", 1) == ["Error deleting: nope"]


async def test_bound_pods_deleted_gracefully_are_not_deleted_twice(env):
    await env.start()
    await env.local.create(RS, NS, replicaset("web", 2))
    pods = await env.wait_pods(2)
    for pod in pods:
        await env.local.create(PODS, NS, {"target": {"kind": "Node", "name": "n1"}}, subresource="binding",
                               name=pod["metadata"]["name"])
    await env.local.patch(RS, NS, "web", {"spec": {"replicas": 1}})
    await env.wait_pods(1)  # one terminating (deletionTimestamp set, kept for the kubelet)
    assert len(await env.pods(active_only=False)) == 2
    await env.wait_status("web", replicas=1, observedGeneration=2)
    assert len(await env.wait_events("SuccessfulDelete", 1)) == 1


async def test_deleting_replicaset_is_left_to_the_garbage_collector(env):
    await env.start(run_workers=False)
    rs = replicaset("web", 2)
    rs["metadata"]["finalizers"] = ["example.com/hold"]
    await env.local.create(RS, NS, rs)
    await env.local.create(PODS, NS, bare_pod("orphan", {"app": "web"}))
    await env.local.delete(RS, NS, "web")
    await env.synced("web")
    await env.ctrl.reconcile(f"{NS}/web")
    pods = await env.pods()
    assert [p["metadata"]["name"] for p in pods] == ["orphan"]
    assert "ownerReferences" not in pods[0]["metadata"]  # no adoption while being deleted


async def test_replicaset_gone_forgets_expectations(env):
    await env.start(run_workers=False)
    env.ctrl.expectations.expect_creations(f"{NS}/gone", 3)
    assert await env.ctrl.reconcile(f"{NS}/gone") is None
    assert env.ctrl.expectations.get(f"{NS}/gone") is None


# ---- pure helpers -------------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "fail_at", "calls", "successes"), [
    (0, None, 0, 0),
    (1, None, 1, 1),
    (7, None, 7, 7),  # batches 1, 2, 4
    (10, None, 10, 10),  # batches 1, 2, 4, 3
    (10, 1, 1, 0),
    (10, 4, 7, 6),  # the third batch (4 calls) holds the failure: no fourth batch
])
async def test_slow_start_batch(count, fail_at, calls, successes):
    made = 0

    async def fn():
        nonlocal made
        made += 1
        if made == fail_at:
            raise ValueError("boom")

    got, err = await slow_start_batch(count, 1, fn)
    assert (made, got) == (calls, successes)
    assert (err is None) == (fail_at is None or fail_at > count)


@pytest.mark.parametrize(("name", "prefix"), [("web", "web-"), ("a" * 253, "a" * 253)])
def test_pod_name_prefix(name, prefix):
    assert pod_name_prefix(name) == prefix


NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _pod(name: str, *, node: str = "", phase: str = "Running", ready: bool | None = None,
         ready_ago: float = 3600, created_ago: float = 7200, restarts: int = 0,
         cost: str | None = None) -> dict:
    conds = [] if ready is None else [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": rfc3339(NOW - dt.timedelta(seconds=ready_ago))}]
    md = {"name": name, "namespace": NS, "uid": name,
          "creationTimestamp": rfc3339(NOW - dt.timedelta(seconds=created_ago))}
    if cost is not None:
        md["annotations"] = {podutil.POD_DELETION_COST: cost}
    return {"metadata": md, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conds,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


@pytest.mark.parametrize(("first", "second", "why"), [
    (_pod("a"), _pod("b", node="n"), "unassigned before assigned"),
    (_pod("a", node="n", phase="Pending"), _pod("b", node="n", phase="Unknown"), "Pending before Unknown"),
    (_pod("a", node="n", phase="Unknown"), _pod("b", node="n"), "Unknown before Running"),
    (_pod("a", node="n", ready=False), _pod("b", node="n", ready=True), "not ready before ready"),
    (_pod("a", node="n", ready=True, cost="-5"), _pod("b", node="n", ready=True), "lower deletion cost"),
    (_pod("a", node="n", ready=True), _pod("b", node="n", ready=True, cost="10"), "default cost is 0"),
    (_pod("a", node="n", ready=True, ready_ago=10), _pod("b", node="n", ready=True, ready_ago=1000),
     "ready for less time"),
    (_pod("a", node="n", restarts=3), _pod("b", node="n", restarts=1), "more restarts"),
    (_pod("a", node="n", created_ago=10), _pod("b", node="n", created_ago=1000), "newer"),
    (_pod("a", node="n", ready=True, ready_ago=1000), _pod("b", node="n", ready=True, ready_ago=1001),
     "same log2 age bucket: by uid"),
])
def test_deletion_ranking_pairs(first, second, why):
    assert podutil.rank_pods_for_deletion([second, first], now=NOW) == [first, second], why
    assert podutil.rank_pods_for_deletion([first, second], now=NOW) == [first, second], why


def test_ranking_only_the_first_few_agrees_with_the_full_sort():
    # Ages in different log2 buckets: uid tie-breaks within a bucket make Kubernetes' order
    # intransitive, where no two sorts need agree.
    rng = random.Random(7)
    pods = [_pod(f"p{i:03d}", node=rng.choice(["", "n1", "n2"]), phase=rng.choice(["Pending", "Running"]),
                 ready=rng.choice([None, False, True]), ready_ago=rng.choice([10, 1000]),
                 created_ago=rng.choice([10, 5000]), restarts=rng.choice([0, 1]),
                 cost=rng.choice([None, "1"])) for i in range(200)]
    ranks = [rng.randrange(3) for _ in pods]
    full = podutil.rank_pods_for_deletion(pods, ranks, NOW)
    for count in (1, 17, 199, 200, 500):
        assert podutil.rank_pods_for_deletion(pods, ranks, NOW, count) == full[:count]


def test_doubled_up_nodes_lose_pods_first():
    a, b = _pod("a", node="crowded"), _pod("b", node="quiet")
    related = [a, _pod("x", node="crowded"), b]
    assert pods_to_delete([b, a], related, 1, NOW) == [a]


@pytest.mark.parametrize(("pod", "min_ready", "available"), [
    (_pod("a", ready=True, ready_ago=10), 0, True),
    (_pod("a", ready=True, ready_ago=10), 5, True),
    (_pod("a", ready=True, ready_ago=10), 10, False),  # the deadline must be strictly in the past
    (_pod("a", ready=True, ready_ago=10), 30, False),
    (_pod("a", ready=False, ready_ago=100), 0, False),
    (_pod("a"), 0, False),
])
def test_is_pod_available(pod, min_ready, available):
    assert podutil.is_pod_available(pod, min_ready, NOW) is available


@pytest.mark.parametrize(("phase", "deleting", "active"), [
    ("Pending", False, True), ("Running", False, True), ("Unknown", False, True),
    ("Succeeded", False, False), ("Failed", False, False), ("Running", True, False),
])
def test_is_pod_active(phase, deleting, active):
    pod = _pod("a", phase=phase)
    if deleting:
        pod["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    assert podutil.is_pod_active(pod) is active


@pytest.mark.parametrize(("raw", "cost"), [("7", 7), ("-3", -3), ("+2", 2), ("x", 0), ("1_0", 0),
                                           (" 1", 0), ("2147483648", 0)])
def test_deletion_cost(raw, cost):
    assert podutil.deletion_cost(_pod("a", cost=raw)) == cost
