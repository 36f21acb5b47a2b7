"""The garbage collector against an in-process API server: background, foreground and orphan
propagation, several owners, dangling references."""


import pytest

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.local import LocalClient
from kubeling.controllers.garbagecollector import GarbageCollector, Identity, references_diffs
from tests.support.eventually import eventually

PODS = registry.lookup("", "v1", "pods")
CM = registry.lookup("", "v1", "configmaps")
RS = registry.lookup("apps", "v1", "replicasets")
DEPLOY = registry.lookup("apps", "v1", "deployments")
EVENTS = registry.lookup("", "v1", "events")
NODES = registry.lookup("", "v1", "nodes")
NS = "default"


async def exists(client, rt, name, ns=NS) -> dict | None:
    try:
        return await client.get(rt, ns, name)
    except ApiError as e:
        if e.code == 404:
            return None
        raise


async def gone(client, rt, name, ns=NS) -> bool:
    return await exists(client, rt, name, ns) is None


class Env:
    def __init__(self, client, clock, factory, recorder, gc):
        self.client, self.clock, self.factory, self.recorder, self.gc = client, clock, factory, recorder, gc

    async def wait(self, check, timeout: float = 3.0):
        return await eventually(check, self.clock, timeout)


@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield c
    await c.close()


async def start_gc(client) -> Env:
    clock = FakeClock()
    factory = InformerFactory(client, clock=clock)
    recorder = EventRecorder(client, "garbage-collector-controller", clock=clock)
    gc = GarbageCollector(client, factory, recorder, clock=clock, workers=4)
    await factory.start()
    await factory.wait_for_sync(5)
    await gc.start()
    return Env(client, clock, factory, recorder, gc)


@pytest.fixture
async def env(client):
    e = await start_gc(client)
    yield e
    await stop(e)


async def stop(e: Env) -> None:
    await e.gc.stop()
    await e.factory.stop()
    await e.recorder.close()


def ref(owner: dict, *, block: bool | None = True, controller: bool = True) -> dict:
    r = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
         "uid": owner["metadata"]["uid"], "controller": controller}
    if block is not None:
        r["blockOwnerDeletion"] = block
    return r


def replicaset(name: str) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def deployment(name: str) -> dict:
    rs = replicaset(name)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": rs["spec"]}


def pod(name: str, *owners: dict, finalizers: list[str] | None = None) -> dict:
    md: dict = {"name": name, "labels": {"app": "x"}}
    if owners:
        md["ownerReferences"] = list(owners)
    if finalizers:
        md["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def configmap(name: str, *owners: dict, ns: str = NS) -> dict:
    md: dict = {"name": name, "namespace": ns}
    if owners:
        md["ownerReferences"] = list(owners)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"k": "v"}}


async def owner_refs(client, rt, name) -> list[dict] | None:
    obj = await exists(client, rt, name)
    return None if obj is None else obj["metadata"].get("ownerReferences") or []


# ---- pure helpers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("old,new,expected", [
    ([], [{"uid": "a"}], (["a"], [], [])),
    ([{"uid": "a"}], [], ([], ["a"], [])),
    ([{"uid": "a", "blockOwnerDeletion": True}], [{"uid": "a", "blockOwnerDeletion": False}], ([], [], ["a"])),
    ([{"uid": "a"}, {"uid": "b"}], [{"uid": "b"}, {"uid": "c"}], (["c"], ["a"], [])),
])
def test_references_diffs(old, new, expected):
    added, removed, changed = references_diffs(old, new)
    assert ([r["uid"] for r in added], [r["uid"] for r in removed], [n["uid"] for _, n in changed]) == expected


def test_identity_string_matches_kubernetes():
    ident = Identity("apps/v1", "ReplicaSet", "web", "u-1", "default")
    assert str(ident) == "[apps/v1/ReplicaSet, namespace: default, name: web, uid: u-1]"


# ---- propagation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [None, "Background"])
async def test_background_delete_of_a_replicaset_removes_its_pods(env, client, policy):
    rs = await client.create(RS, NS, replicaset("web"))
    for i in range(3):
        await client.create(PODS, NS, pod(f"web-{i}", ref(rs)))
    await client.create(PODS, NS, pod("unrelated"))
    await client.delete(RS, NS, "web", propagation_policy=policy)
    for i in range(3):
        await env.wait(lambda i=i: gone(client, PODS, f"web-{i}"))
    assert await exists(client, PODS, "unrelated")


async def test_foreground_waits_for_blocking_dependents(env, client):
    rs = await client.create(RS, NS, replicaset("fg"))
    await client.create(PODS, NS, pod("blocking", ref(rs, block=True), finalizers=["example.com/hold"]))
    await client.create(PODS, NS, pod("nonblocking", ref(rs, block=False), finalizers=["example.com/hold"]))
    await client.create(PODS, NS, pod("plain", ref(rs)))
    await client.delete(RS, NS, "fg", propagation_policy="Foreground")

    async def dependents_being_deleted():
        pods = [await exists(client, PODS, n) for n in ("blocking", "nonblocking")]
        return all(p and p["metadata"].get("deletionTimestamp") for p in pods) and await gone(client, PODS, "plain")

    await env.wait(dependents_being_deleted)
    owner = await exists(client, RS, "fg")
    assert owner is not None and owner["metadata"]["finalizers"] == ["foregroundDeletion"]

    # The pod without blockOwnerDeletion never held the owner back; the blocking one does.
    await client.patch(PODS, NS, "nonblocking", {"metadata": {"finalizers": None}})
    await env.wait(lambda: gone(client, PODS, "nonblocking"))
    assert await exists(client, RS, "fg") is not None
    await client.patch(PODS, NS, "blocking", {"metadata": {"finalizers": None}})
    await env.wait(lambda: gone(client, RS, "fg"))


async def test_dependent_seen_after_foreground_deletion_began_is_deleted(env, client):
    rs = await client.create(RS, NS, replicaset("late"))
    await client.create(PODS, NS, pod("holder", ref(rs, block=True), finalizers=["example.com/hold"]))
    await client.delete(RS, NS, "late", propagation_policy="Foreground")
    await env.wait(lambda: env.gc.nodes.get(rs["metadata"]["uid"]) is not None
                   and env.gc.nodes[rs["metadata"]["uid"]].deleting_dependents)
    # A dependent the graph learns of only now (its watch was behind the owner's).
    await client.create(PODS, NS, pod("latecomer", ref(rs, block=False)))
    await env.wait(lambda: gone(client, PODS, "latecomer"))
    assert await exists(client, RS, "late") is not None  # still held by the blocking pod
    await client.patch(PODS, NS, "holder", {"metadata": {"finalizers": None}})
    await env.wait(lambda: gone(client, RS, "late"))


async def test_foreground_deployment_cascades_through_replicasets(env, client):
    d = await client.create(DEPLOY, NS, deployment("app"))
    rs = await client.create(RS, NS, {**replicaset("app-1"), "metadata": {"name": "app-1",
                                                                          "ownerReferences": [ref(d)]}})
    await client.create(PODS, NS, pod("app-1-a", ref(rs)))
    await client.delete(DEPLOY, NS, "app", propagation_policy="Foreground")
    await env.wait(lambda: gone(client, DEPLOY, "app"))
    assert await gone(client, RS, "app-1")
    assert await gone(client, PODS, "app-1-a")


async def test_orphan_keeps_dependents_without_the_owner_reference(env, client):
    rs = await client.create(RS, NS, replicaset("orph"))
    other = await client.create(CM, NS, configmap("keeper"))
    await client.create(PODS, NS, pod("o-1", ref(rs)))
    await client.create(PODS, NS, pod("o-2", ref(rs), ref(other, controller=False)))
    await env.wait(lambda: len(env.gc.nodes.get(rs["metadata"]["uid"], None).dependents) == 2
                   if rs["metadata"]["uid"] in env.gc.nodes else False)
    await client.delete(RS, NS, "orph", propagation_policy="Orphan")
    await env.wait(lambda: gone(client, RS, "orph"))
    assert await owner_refs(client, PODS, "o-1") == []
    assert [r["uid"] for r in await owner_refs(client, PODS, "o-2")] == [other["metadata"]["uid"]]


async def test_dependent_with_another_live_owner_survives(env, client):
    a = await client.create(CM, NS, configmap("owner-a"))
    b = await client.create(CM, NS, configmap("owner-b"))
    await client.create(CM, NS, configmap("shared", ref(a, controller=False), ref(b, controller=False)))
    await client.delete(CM, NS, "owner-a")
    await env.wait(lambda: _uids(owner_refs(client, CM, "shared"), [b["metadata"]["uid"]]))
    assert await exists(client, CM, "shared")
    await client.delete(CM, NS, "owner-b")
    await env.wait(lambda: gone(client, CM, "shared"))


async def _uids(refs_coro, expected: list[str]) -> bool:
    refs = await refs_coro
    return refs is not None and [r["uid"] for r in refs] == expected


# ---- dangling references --------------------------------------------------------------------------

async def test_dangling_owner_references_at_startup_are_collected(client):
    live = await client.create(RS, NS, replicaset("live"))
    other_ns = await client.create(registry.lookup("", "v1", "namespaces"), None,
                                   {"metadata": {"name": "elsewhere"}})
    assert other_ns
    remote_owner = await client.create(CM, "elsewhere", configmap("remote", ns="elsewhere"))
    cases = {
        # name: owner reference, collected?
        "missing-owner": ({**ref(live), "name": "nope", "uid": "00000000-0000-0000-0000-000000000001"}, True),
        "uid-mismatch": ({**ref(live), "uid": "00000000-0000-0000-0000-000000000002"}, True),
        "owner-in-other-namespace": (ref(remote_owner), True),
        "live-owner": (ref(live), False),
    }
    for name, (owner, _) in cases.items():
        await client.create(CM, NS, configmap(name, owner))
    env = await start_gc(client)
    try:
        for name, (_, collected) in cases.items():
            if collected:
                await env.wait(lambda name=name: gone(client, CM, name))
        await env.wait(lambda: not len(env.gc.attempt_to_delete) and not env.gc.attempt_to_delete.processing)
        assert await exists(client, CM, "live-owner")
        assert await exists(client, CM, "remote", ns="elsewhere")
    finally:
        await stop(env)


async def test_invalid_cross_namespace_owner_is_reported(env, client):
    await client.create(registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": "other"}})
    owner = await client.create(CM, "other", configmap("boss", ns="other"))
    await env.wait(lambda: owner["metadata"]["uid"] in env.gc.nodes)
    dep = await client.create(CM, NS, configmap("stray", ref(owner)))
    await env.wait(lambda: gone(client, CM, "stray"))
    await env.recorder.flush()

    async def reported():
        events = (await client.list(EVENTS, NS, field_selector="reason=OwnerRefInvalidNamespace"))["items"]
        return events

    events = await env.wait(reported)
    assert events[0]["type"] == "Warning"
    assert events[0]["involvedObject"]["uid"] == dep["metadata"]["uid"]
    assert events[0]["message"] == (
        f'ownerRef [v1/ConfigMap, namespace: default, name: boss, uid: {owner["metadata"]["uid"]}] '
        'does not exist in namespace "default"')


async def test_graph_tracks_owners_and_dependents(env, client):
    rs = await client.create(RS, NS, replicaset("g"))
    p = await client.create(PODS, NS, pod("g-1", ref(rs)))
    rs_uid, pod_uid = rs["metadata"]["uid"], p["metadata"]["uid"]
    await env.wait(lambda: pod_uid in env.gc.nodes and rs_uid in env.gc.nodes)
    assert env.gc.nodes[rs_uid].dependents == {pod_uid}
    assert not env.gc.nodes[rs_uid].virtual
    # Dropping the reference unlinks the dependent.
    await client.patch(PODS, NS, "g-1", {"metadata": {"ownerReferences": None}})
    await env.wait(lambda: env.gc.nodes[rs_uid].dependents == set())
    assert await exists(client, PODS, "g-1")


async def test_cluster_scoped_owner_of_namespaced_dependents(env, client):
    node = await client.create(NODES, None, {"metadata": {"name": "node-a"}})
    await client.create(CM, NS, configmap("node-config", ref(node, controller=False)))
    # A cluster-scoped object cannot be owned by a namespaced one: never collected, never retried.
    await client.create(NODES, None, {"metadata": {"name": "node-b", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "node-config", "uid": "00000000-0000-0000-0000-00000000000b"}]}})
    await client.delete(NODES, None, "node-a")
    await env.wait(lambda: gone(client, CM, "node-config"))
    await env.wait(lambda: not len(env.gc.attempt_to_delete) and not env.gc.attempt_to_delete.processing)
    assert await exists(client, NODES, "node-b", ns=None)



