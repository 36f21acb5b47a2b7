"""The Deployment controller with the ReplicaSet controller, against an in-process API server
on a fake clock. Pods become Running/Ready only when a test patches their status, as kwok does."""

from __future__ import annotations

import asyncio
import copy

import pytest

from kubeling.api import registry
from kubeling.api.meta import rfc3339
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.local import LocalClient
from kubeling.controllers.deployment import DeploymentController, util
from kubeling.controllers.podutil import is_pod_ready
from kubeling.controllers.replicaset import ReplicaSetController
from tests.support.eventually import eventually as _eventually

DEPLOY = registry.lookup("apps", "v1", "deployments")
RS = registry.lookup("apps", "v1", "replicasets")
PODS = registry.lookup("", "v1", "pods")
EVENTS = registry.lookup("", "v1", "events")
NS = "default"


def eventually(check, timeout: float = 5.0):
    return _eventually(check, timeout=timeout)


# ---- harness ------------------------------------------------------------------------------------

def manifest(name="web", replicas=3, image="nginx:1", strategy=None, **spec):
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    body["spec"].update(spec)
    return body


class Env:
    def __init__(self, client: LocalClient, clock: FakeClock):
        self.client, self.clock = client, clock
        self.factory = InformerFactory(client, clock=clock)
        self.recorder = EventRecorder(client, "deployment-controller", clock=clock)
        self.rs_recorder = EventRecorder(client, "replicaset-controller", clock=clock)
        self.rsc = ReplicaSetController(client, self.factory, self.rs_recorder, clock=clock, workers=2)
        self.dc = DeploymentController(client, self.factory, self.recorder, clock=clock, workers=2)

    async def start(self):
        await self.factory.start()
        await self.factory.wait_for_sync(5)
        await self.rsc.start()
        await self.dc.start()

    async def stop(self):
        await self.dc.stop()
        await self.rsc.stop()
        await self.factory.stop()
        await self.recorder.close()
        await self.rs_recorder.close()

    # ---- reads ----

    async def deployment(self, name="web"):
        return await self.client.get(DEPLOY, NS, name)

    async def replica_sets(self, name="web"):
        items = (await self.client.list(RS, NS, label_selector=f"app={name}"))["items"]
        return sorted(items, key=lambda r: util.revision(r))

    async def pods(self, name="web"):
        return (await self.client.list(PODS, NS, label_selector=f"app={name}"))["items"]

    async def events(self, reason="ScalingReplicaSet"):
        await self.recorder.flush()
        items = (await self.client.list(EVENTS, NS))["items"]
        return [e["message"] for e in sorted(items, key=lambda e: e["metadata"]["creationTimestamp"])
                if e["reason"] == reason]

    def idle(self) -> bool:
        return all(len(c.queue) == 0 and c.queue.processing == 0 for c in (self.dc, self.rsc))

    async def settle(self, name="web"):
        """Wait until both controllers are idle and every ReplicaSet runs what it asks for."""
        async def settled():
            if not self.idle():
                return False
            rss = await self.replica_sets(name)
            pods = [p for p in await self.pods(name) if not p["metadata"].get("deletionTimestamp")]
            if len(pods) != sum(util.replicas(r) for r in rss):
                return False
            if any(util.status_int(r, "replicas") != util.replicas(r)
                   or util.status_int(r, "observedGeneration") < r["metadata"]["generation"] for r in rss):
                return False
            d = await self.deployment(name)
            if util.status_int(d, "observedGeneration") < d["metadata"]["generation"]:
                return False
            await asyncio.sleep(0.01)  # let in-flight watch events land, then check nothing moved
            return self.idle() and [r["metadata"]["resourceVersion"] for r in await self.replica_sets(name)] == [
                r["metadata"]["resourceVersion"] for r in rss]
        await eventually(settled)

    # ---- writes ----

    async def create(self, body):
        return await self.client.create(DEPLOY, NS, body)

    async def patch(self, name, patch):
        return await self.client.patch(DEPLOY, NS, name, patch)

    async def make_ready(self, pods):
        for pod in pods:
            status = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self.clock.now())}]}
            await self.client.patch(PODS, NS, pod["metadata"]["name"], {"status": status}, subresource="status")

    async def make_all_ready(self, name="web"):
        await self.make_ready([p for p in await self.pods(name) if not is_pod_ready(p)])


@pytest.fixture
async def env():
    client = await LocalClient.start()
    e = Env(client, FakeClock())
    await e.start()
    try:
        yield e
    finally:
        await e.stop()
        await client.close()


def condition(d, ctype):
    return util.get_condition(d.get("status") or {}, ctype)


async def complete(env, name="web"):
    """Make pods ready until the rollout completes (as `kubectl rollout status` judges it)."""
    for _ in range(50):
        await env.settle(name)
        d = await env.deployment(name)
        if util.deployment_complete(d, d.get("status") or {}):
            return d
        await env.make_all_ready(name)
    raise AssertionError("rollout did not complete")


# ---- creation -----------------------------------------------------------------------------------

async def test_new_deployment_gets_one_owned_replica_set_with_hash_and_revision(env):
    await env.create(manifest())
    d = await complete(env)
    [rs] = await env.replica_sets()
    pod_hash = rs["metadata"]["labels"][util.POD_TEMPLATE_HASH]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert pod_hash == util.compute_hash(d["spec"]["template"])
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", util.POD_TEMPLATE_HASH: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"][util.POD_TEMPLATE_HASH] == pod_hash
    [ref] = rs["metadata"]["ownerReferences"]
    assert ref == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d["metadata"]["uid"],
                   "controller": True, "blockOwnerDeletion": True}
    ann = rs["metadata"]["annotations"]
    assert (ann[util.REVISION], ann[util.DESIRED_REPLICAS], ann[util.MAX_REPLICAS]) == ("1", "3", "4")
    assert d["metadata"]["annotations"][util.REVISION] == "1"
    status = d["status"]
    assert {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                                        "observedGeneration")} == {
        "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, "observedGeneration": 1}
    assert "unavailableReplicas" not in status
    avail, prog = condition(d, "Available"), condition(d, "Progressing")
    assert (avail["status"], avail["reason"], avail["message"]) == (
        "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert (prog["status"], prog["reason"], prog["message"]) == (
        "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.')
    assert await env.events() == [f"Scaled up replica set {rs['metadata']['name']} from 0 to 3"]
    pods = await env.pods()
    assert len(pods) == 3 and all(p["metadata"]["labels"][util.POD_TEMPLATE_HASH] == pod_hash for p in pods)


async def test_unavailable_status_before_pods_are_ready(env):
    await env.create(manifest(replicas=4))
    await env.settle()
    d = await env.deployment()
    assert d["status"]["unavailableReplicas"] == 4 and d["status"]["updatedReplicas"] == 4
    avail = condition(d, "Available")
    assert (avail["status"], avail["reason"]) == ("False", "MinimumReplicasUnavailable")
    prog = condition(d, "Progressing")
    assert prog["reason"] == "ReplicaSetUpdated" and prog["message"].endswith("is progressing.")


async def test_annotations_copied_except_last_applied(env):
    body = manifest()
    body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first", util.LAST_APPLIED: "{}"}
    await env.create(body)
    await env.settle()
    [rs] = await env.replica_sets()
    ann = rs["metadata"]["annotations"]
    assert ann["kubernetes.io/change-cause"] == "first" and util.LAST_APPLIED not in ann


# ---- rolling update -----------------------------------------------------------------------------

def watch_bounds(env, max_pods: int, min_ready: int) -> list[str]:
    """Check on every informer event, between the steps too: the ReplicaSets never ask for more
    than max_pods in all, and ready pods never drop below min_ready."""
    violations: list[str] = []
    rs_informer, pod_informer = env.factory.informer(RS), env.factory.informer(PODS)

    def check(*_):
        asked = sum(util.replicas(r) for r in rs_informer.indexer.list())
        ready = sum(1 for p in pod_informer.indexer.list() if is_pod_ready(p))
        if asked > max_pods:
            violations.append(f"ReplicaSets ask for {asked} pods")
        if ready < min_ready:
            violations.append(f"only {ready} pods ready")

    rs_informer.add_handler(on_update=check, on_add=check)
    pod_informer.add_handler(on_update=check, on_delete=check)
    return violations


@pytest.mark.parametrize("replicas,surge,unavailable", [
    (3, "25%", "25%"),  # 1 surge, 0 unavailable
    (4, 0, 1),
    (5, 2, 0),
    (6, "50%", "50%"),
])
async def test_rolling_update_respects_surge_and_unavailable_at_every_step(env, replicas, surge, unavailable):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    await env.create(manifest(replicas=replicas, strategy=strategy))
    d = await complete(env)
    max_surge, max_unavailable = util.max_surge(d), util.max_unavailable(d)
    violations = watch_bounds(env, replicas + max_surge, replicas - max_unavailable)
    await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})
    steps = 0
    while True:
        await env.settle()
        pods = await env.pods()
        ready = [p for p in pods if is_pod_ready(p)]
        assert len(pods) <= replicas + max_surge, f"step {steps}: {len(pods)} pods"
        assert len(ready) >= replicas - max_unavailable, f"step {steps}: {len(ready)} ready"
        d = await env.deployment()
        if util.deployment_complete(d, d["status"]):
            break
        waiting = [p for p in pods if not is_pod_ready(p)]
        assert waiting, f"step {steps}: stuck with every pod ready"
        await env.make_ready(waiting[:1])  # one pod at a time: the finest steps
        steps += 1
        assert steps < 40
    assert violations == []
    old, new = await env.replica_sets()
    assert util.replicas(old) == 0 and util.replicas(new) == replicas
    assert (util.revision(old), util.revision(new)) == (1, 2)
    assert d["metadata"]["annotations"][util.REVISION] == "2"
    assert all(p["spec"]["containers"][0]["image"] == "nginx:2" for p in await env.pods())


async def test_rolling_update_events_name_both_replica_sets(env):
    await env.create(manifest(replicas=2, strategy={"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    await complete(env)
    await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})
    await complete(env)
    old, new = (r["metadata"]["name"] for r in await env.replica_sets())
    assert await env.events() == [
        f"Scaled up replica set {old} from 0 to 2",
        f"Scaled up replica set {new} from 0 to 1",
        f"Scaled down replica set {old} from 2 to 1",
        f"Scaled up replica set {new} from 1 to 2",
        f"Scaled down replica set {old} from 1 to 0",
    ]


async def test_proportional_scaling_mid_rollout(env):
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    await env.create(manifest(replicas=10, strategy=strategy))
    await complete(env)
    await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "bad"}]}}}})
    await env.settle()
    old, new = await env.replica_sets()
    assert (util.replicas(old), util.replicas(new)) == (8, 5)  # stuck: new pods never get ready
    await env.patch("web", {"spec": {"replicas": 15}})
    await env.settle()
    old, new = await env.replica_sets()
    assert (util.replicas(old), util.replicas(new)) == (11, 7)
    for r in (old, new):
        assert r["metadata"]["annotations"][util.DESIRED_REPLICAS] == "15"
        assert r["metadata"]["annotations"][util.MAX_REPLICAS] == "18"


async def test_scale_without_rollout(env):
    await env.create(manifest(replicas=2))
    await complete(env)
    await env.patch("web", {"spec": {"replicas": 5}})
    d = await complete(env)
    [rs] = await env.replica_sets()
    assert util.replicas(rs) == 5 and d["status"]["availableReplicas"] == 5
    await env.patch("web", {"spec": {"replicas": 0}})
    await env.settle()
    [rs] = await env.replica_sets()
    assert util.replicas(rs) == 0 and await env.pods() == []
    name = rs["metadata"]["name"]
    assert (await env.events())[-2:] == [f"Scaled up replica set {name} from 2 to 5",
                                         f"Scaled down replica set {name} from 5 to 0"]


# ---- recreate -----------------------------------------------------------------------------------

async def test_recreate_never_runs_old_and_new_pods_together(env):
    await env.create(manifest(replicas=3, strategy={"type": "Recreate"}))
    await complete(env)
    overlap = []

    def watch_pods(_old=None, _new=None):
        hashes = {p["metadata"]["labels"].get(util.POD_TEMPLATE_HASH) for p in pod_informer.indexer.list()
                  if not p["metadata"].get("deletionTimestamp")}
        if len(hashes) > 1:
            overlap.append(hashes)

    pod_informer = env.factory.informer(PODS)
    pod_informer.add_handler(on_add=watch_pods, on_update=watch_pods)
    await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})
    d = await complete(env)
    assert not overlap
    old, new = await env.replica_sets()
    assert (util.replicas(old), util.replicas(new)) == (0, 3)
    assert d["status"]["updatedReplicas"] == 3
    events = await env.events()
    assert events[-2:] == [f"Scaled down replica set {old['metadata']['name']} from 3 to 0",
                           f"Scaled up replica set {new['metadata']['name']} from 0 to 3"]


# ---- history, rollback, restart -----------------------------------------------------------------

async def test_revision_history_limit_deletes_oldest_scaled_down_replica_sets(env):
    await env.create(manifest(replicas=1, revisionHistoryLimit=1))
    await complete(env)
    for image in ("nginx:2", "nginx:3"):
        await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
        await complete(env)

    async def pruned():
        rss = await env.replica_sets()
        return rss if len(rss) == 2 else None
    old, new = await eventually(pruned)
    assert (util.revision(old), util.revision(new)) == (2, 3)


async def test_undo_reuses_the_old_replica_set_with_a_new_revision(env):
    await env.create(manifest(replicas=2))
    await complete(env)
    await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})
    await complete(env)
    first, _ = await env.replica_sets()
    # What `kubectl rollout undo` does client-side: the old template, without its hash label.
    template = copy.deepcopy(first["spec"]["template"])
    del template["metadata"]["labels"][util.POD_TEMPLATE_HASH]
    await env.client.patch(DEPLOY, NS, "web", [{"op": "replace", "path": "/spec/template", "value": template}],
                           patch_type="json")
    d = await complete(env)
    rss = await env.replica_sets()
    assert len(rss) == 2
    second, reused = rss
    assert reused["metadata"]["uid"] == first["metadata"]["uid"]
    assert util.revision(reused) == 3 and util.revision(second) == 2
    assert reused["metadata"]["annotations"][util.REVISION_HISTORY] == "1"
    assert util.replicas(reused) == 2 and util.replicas(second) == 0
    assert d["metadata"]["annotations"][util.REVISION] == "3"


async def test_restart_rolls_out_a_new_replica_set(env):
    await env.create(manifest(replicas=1))
    await complete(env)
    restarted = {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}
    await env.patch("web", {"spec": {"template": {"metadata": {"annotations": restarted}}}})
    await complete(env)
    old, new = await env.replica_sets()
    assert new["spec"]["template"]["metadata"]["annotations"] == restarted
    assert util.replicas(old) == 0 and util.replicas(new) == 1


# ---- pause, deadline ----------------------------------------------------------------------------

async def test_pause_stops_rollouts_but_not_scaling(env):
    await env.create(manifest(replicas=2))
    await complete(env)
    await env.patch("web", {"spec": {"paused": True}})
    await env.settle()
    prog = condition(await env.deployment(), "Progressing")
    assert (prog["status"], prog["reason"], prog["message"]) == ("Unknown", "DeploymentPaused",
                                                                 "Deployment is paused")
    await env.patch("web", {"spec": {"replicas": 3,
                                     "template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})
    await env.settle()
    [rs] = await env.replica_sets()
    assert util.replicas(rs) == 3  # scaled, but no new ReplicaSet
    await env.patch("web", {"spec": {"paused": False}})

    async def resumed():
        return len(await env.replica_sets()) == 2
    await eventually(resumed)
    d = await complete(env)
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"


async def test_progress_deadline_exceeded_on_the_fake_clock(env):
    await env.create(manifest(replicas=2, progressDeadlineSeconds=30))
    await complete(env)
    await env.patch("web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "bad"}]}}}})
    await env.settle()
    d = await env.deployment()
    assert condition(d, "Progressing")["reason"] == "ReplicaSetUpdated"
    env.clock.advance(20)
    await env.settle()
    assert condition(await env.deployment(), "Progressing")["reason"] == "ReplicaSetUpdated"
    env.clock.advance(15)  # past the deadline: the controller had queued a look for then

    async def timed_out():
        c = condition(await env.deployment(), "Progressing")
        return c if c["reason"] == "ProgressDeadlineExceeded" else None
    cond = await eventually(timed_out)
    new = (await env.replica_sets())[-1]
    assert cond["status"] == "False"
    assert cond["message"] == f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.'


# ---- ownership ----------------------------------------------------------------------------------

async def test_adopts_matching_orphan_and_releases_non_matching(env):
    d = manifest(replicas=1)
    template = copy.deepcopy(d["spec"]["template"])
    pod_hash = util.compute_hash(template)
    template["metadata"]["labels"][util.POD_TEMPLATE_HASH] = pod_hash
    orphan = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": f"web-{pod_hash}", "namespace": NS,
                           "labels": {"app": "web", util.POD_TEMPLATE_HASH: pod_hash}},
              "spec": {"replicas": 1, "selector": {"matchLabels": template["metadata"]["labels"]},
                       "template": template}}
    await env.client.create(RS, NS, orphan)
    created = await env.create(d)
    await complete(env)
    [rs] = await env.replica_sets()
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    # Labels that stop matching the Deployment's selector release the ReplicaSet.
    await env.client.patch(RS, NS, rs["metadata"]["name"], {"metadata": {"labels": {"app": "other"}}})

    async def released():
        r = await env.client.get(RS, NS, rs["metadata"]["name"])
        return not r["metadata"].get("ownerReferences")
    await eventually(released)
