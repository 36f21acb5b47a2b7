"""The namespace controller against an in-process API server: emptying, conditions, finalizing."""

from collections import Counter

import pytest

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.local import LocalClient
from kubeling.controllers.namespace import (
    ConditionUpdater,
    NamespaceController,
    deletable_resources,
    group_resource,
    gvr_string,
)
from tests.support.eventually import eventually as _eventually


def eventually(check, clock, timeout: float = 3.0):
    return _eventually(check, clock, timeout, advance=1.0)

NAMESPACES = registry.lookup("", "v1", "namespaces")
PODS = registry.lookup("", "v1", "pods")
CM = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")
RS = registry.lookup("apps", "v1", "replicasets")
DEPLOY = registry.lookup("apps", "v1", "deployments")
NS = "doomed"


async def get_or_none(client, rt, name, ns=None):
    try:
        return await client.get(rt, ns, name)
    except ApiError as e:
        if e.code == 404:
            return None
        raise


@pytest.fixture
async def env():
    client = await LocalClient.start()
    clock = FakeClock()
    factory = InformerFactory(client, clock=clock)
    recorder = EventRecorder(client, "namespace-controller", clock=clock)
    controller = NamespaceController(client, factory, recorder, clock=clock, workers=2)
    await factory.start()
    await factory.wait_for_sync(5)
    await controller.start()
    await client.create(NAMESPACES, None, {"metadata": {"name": NS}})
    yield client, clock, controller
    await controller.stop()
    await factory.stop()
    await recorder.close()
    await client.close()


def pod(name: str, node: str = "", finalizers: list[str] | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    md: dict = {"name": name}
    if finalizers:
        md["finalizers"] = finalizers
    return {"metadata": md, "spec": spec}


def deployment(name: str) -> dict:
    labels = {"app": name}
    return {"metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def conditions(ns: dict) -> dict[str, dict]:
    return {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}


async def test_namespace_is_emptied_then_removed(env):
    client, clock, _ = env
    for i in range(3):
        await client.create(CM, NS, {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v"}})
        await client.create(PODS, NS, pod(f"pod-{i}"))
    d = await client.create(DEPLOY, NS, deployment("web"))
    await client.create(RS, NS, {**deployment("web-1"), "metadata": {
        "name": "web-1", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": d["metadata"]["uid"], "controller": True}]}})
    await client.create(SECRETS, NS, {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    other = await client.create(CM, "default", {"metadata": {"name": "bystander"}})

    await client.delete(NAMESPACES, None, NS)
    ns = await client.get(NAMESPACES, None, NS)
    assert ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]

    await eventually(lambda: _gone(client, NS), clock)
    for rt in deletable_resources():
        assert (await client.list(rt, NS))["items"] == [], rt.plural
    assert await get_or_none(client, CM, "bystander", "default") == other


async def test_namespace_deletion_alongside_the_garbage_collector(env):
    from kubeling.controllers.garbagecollector import GarbageCollector

    client, clock, controller = env
    factory = InformerFactory(client, clock=clock)
    gc = GarbageCollector(client, factory, controller.recorder, clock=clock, workers=2)
    await factory.start()
    await factory.wait_for_sync(5)
    await gc.start()
    try:
        d = await client.create(DEPLOY, NS, deployment("web"))
        owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d["metadata"]["uid"],
                 "controller": True, "blockOwnerDeletion": True}
        for i in range(5):
            await client.create(CM, NS, {"metadata": {"name": f"cm-{i}", "ownerReferences": [owner]}})
        await client.delete(NAMESPACES, None, NS)
        await eventually(lambda: _gone(client, NS), clock)
        assert (await client.list(CM, NS))["items"] == []
    finally:
        await gc.stop()
        await factory.stop()


async def _gone(client, name) -> bool:
    return await get_or_none(client, NAMESPACES, name) is None


async def test_create_is_refused_while_terminating(env):
    client, _, _ = env
    # Content with a finalizer keeps the namespace Terminating for as long as the test needs.
    await client.create(CM, NS, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    await client.delete(NAMESPACES, None, NS)
    with pytest.raises(ApiError) as err:
        await client.create(CM, NS, {"metadata": {"name": "late"}})
    assert err.value.code == 403 and err.value.reason == "Forbidden"
    assert err.value.message == ('configmaps "late" is forbidden: unable to create new content in namespace '
                                 'doomed because it is being terminated')


async def test_finalizers_on_content_keep_the_namespace_with_conditions(env):
    client, clock, _ = env
    await client.create(CM, NS, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    await client.create(CM, NS, {"metadata": {"name": "free"}})
    await client.delete(NAMESPACES, None, NS)

    async def reported():
        ns = await client.get(NAMESPACES, None, NS)
        return ns if CM_REMAINING in conditions(ns) else None

    CM_REMAINING = "NamespaceContentRemaining"
    ns = await eventually(reported, clock)
    got = {t: (c["status"], c["reason"], c["message"]) for t, c in conditions(ns).items()}
    assert got == {
        "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure": ("False", "ParsedGroupVersions",
                                                        "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure": ("False", "ContentDeleted",
                                            "All content successfully deleted, may be waiting on finalization"),
        "NamespaceContentRemaining": ("True", "SomeResourcesRemain",
                                      "Some resources are remaining: configmaps. has 1 resource instances"),
        "NamespaceFinalizersRemaining": ("True", "SomeFinalizersRemain",
                                         "Some content in the namespace has finalizers remaining: "
                                         "example.com/hold in 1 resource instances"),
    }
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert await get_or_none(client, CM, "free", NS) is None
    held = await client.get(CM, NS, "held")
    assert held["metadata"].get("deletionTimestamp")

    # Once the finalizer goes, the next look (15 s estimate -> 8 s later) releases the namespace.
    await client.patch(CM, NS, "held", {"metadata": {"finalizers": None}})
    await eventually(lambda: _gone(client, NS), clock)


async def test_bound_pod_keeps_the_namespace_until_its_kubelet_removes_it(env):
    client, clock, _ = env
    await client.create(PODS, NS, pod("running", node="node-1"))
    await client.delete(NAMESPACES, None, NS)

    async def pod_terminating():
        p = await get_or_none(client, PODS, "running", NS)
        return p is not None and p["metadata"].get("deletionTimestamp")

    await eventually(pod_terminating, clock)
    ns = await client.get(NAMESPACES, None, NS)
    assert ns["status"]["phase"] == "Terminating"
    # The kubelet's part: the pod is gone for good.
    await client.delete(PODS, NS, "running", grace_period_seconds=0)
    await eventually(lambda: _gone(client, NS), clock, timeout=5)


async def test_live_namespace_is_left_alone(env):
    client, _, controller = env
    await client.create(CM, NS, {"metadata": {"name": "keep"}})
    await controller.delete(NS)  # what a stray queue entry would do
    assert await client.get(CM, NS, "keep")
    assert "conditions" not in (await client.get(NAMESPACES, None, NS)).get("status", {})


# ---- conditions, pure -----------------------------------------------------------------------------

@pytest.mark.parametrize("by_resource,by_finalizer,errors,expected", [
    ({}, Counter(), [], {}),
    ({"pods.": 2, "deployments.apps": 1}, Counter(), [],
     {"NamespaceContentRemaining": "Some resources are remaining: deployments.apps has 1 resource instances, "
                                   "pods. has 2 resource instances"}),
    ({"configmaps.": 1}, Counter({"b/x": 1, "a/y": 3}), [],
     {"NamespaceContentRemaining": "Some resources are remaining: configmaps. has 1 resource instances",
      "NamespaceFinalizersRemaining": "Some content in the namespace has finalizers remaining: "
                                      "a/y in 3 resource instances, b/x in 1 resource instances"}),
    ({}, Counter(), ["z failed", "a failed"],
     {"NamespaceDeletionContentFailure": "Failed to delete all resource types, 2 remaining: a failed, z failed"}),
])
def test_condition_messages(by_resource, by_finalizer, errors, expected):
    updater = ConditionUpdater("2026-01-01T00:00:00Z")
    for e in errors:
        updater.content_error(e)
    updater.content_totals(by_resource, by_finalizer)
    ns: dict = {}
    assert updater.update(ns)
    failing = {c["type"]: c["message"] for c in ns["status"]["conditions"] if c["status"] == "True"}
    assert failing == expected
    assert len(ns["status"]["conditions"]) == 5
    # The same findings again change nothing; recovery flips status and transition time.
    again = ConditionUpdater("2026-01-01T00:00:00Z")
    for e in errors:
        again.content_error(e)
    again.content_totals(by_resource, by_finalizer)
    assert not again.update(ns)
    if expected:
        ok = ConditionUpdater("2026-01-01T00:05:00Z")
        assert ok.update(ns)
        assert all(c["status"] == "False" for c in ns["status"]["conditions"])
        flipped = [c for c in ns["status"]["conditions"] if c["type"] in expected]
        assert all(c["lastTransitionTime"] == "2026-01-01T00:05:00Z" for c in flipped)


@pytest.mark.parametrize("rt,expected", [(PODS, "/v1, Resource=pods"), (DEPLOY, "apps/v1, Resource=deployments")])
def test_gvr_string(rt, expected):
    assert gvr_string(rt) == expected
    assert group_resource(rt) == f"{rt.plural}.{rt.group}"


def test_deletable_resources_are_the_namespaced_ones():
    kinds = {rt.kind for rt in deletable_resources()}
    assert {"Pod", "ConfigMap", "Deployment", "ReplicaSet", "Lease", "Event"} <= kinds
    assert not {"Namespace", "Node"} & kinds
