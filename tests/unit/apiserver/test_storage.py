"""Generic REST semantics (create/update/patch/delete) and paged lists, over the in-memory store."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from kubeling.api import errors, registry
from kubeling.apiserver import listing
from kubeling.apiserver.storage import ResourceStore, WriteOptions, encode
from kubeling.apiserver.server import bootstrap
from kubeling.apiserver.watchcache import WatchCache
from kubeling.store import open_backend

NS = registry.lookup("", "v1", "namespaces")
CM = registry.lookup("", "v1", "configmaps")
PODS = registry.lookup("", "v1", "pods")
DEPLOY = registry.lookup("apps", "v1", "deployments")
OPTS = WriteOptions()
DRY = WriteOptions(dry_run=True)


def cm(name: str, **md: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **md}, "data": {"k": "v"}}


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pod(name: str, node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def make_store(keep_revisions: int = 0):
    backend = open_backend("memory://", keep_revisions=keep_revisions)
    await backend.start()
    cache = WatchCache(backend)
    await cache.start()
    store = ResourceStore(backend, cache)
    await bootstrap(store)  # the system namespaces, as the server creates them
    return store


@pytest.fixture
async def store():
    s = await make_store()
    yield s
    await s.cache.stop()
    await s.backend.close()


async def raises(code: int, reason: str, coro) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as e:
        await coro
    assert (e.value.code, e.value.reason) == (code, reason), e.value.message
    return e.value


# ---- create ---------------------------------------------------------------------------------------


async def test_create_owns_system_metadata(store):
    obj = cm("a", uid="mine", creationTimestamp="2001-01-01T00:00:00Z", resourceVersion="77", generation=4)
    created = (await store.create(CM, "default", obj, OPTS)).object
    md = created["metadata"]
    assert md["uid"] != "mine" and md["creationTimestamp"] != "2001-01-01T00:00:00Z"
    assert md["resourceVersion"] == str(await store.backend.current_revision())
    assert "generation" not in md and md["namespace"] == "default"
    assert await store.get(CM, "default", "a") == created


async def test_create_errors(store):
    await store.create(CM, "default", cm("dup"), OPTS)
    e = await raises(409, "AlreadyExists", store.create(CM, "default", cm("dup"), OPTS))
    assert e.message == 'configmaps "dup" already exists'
    e = await raises(404, "NotFound", store.create(CM, "nowhere", cm("x"), OPTS))
    assert e.message == 'namespaces "nowhere" not found'
    await raises(400, "BadRequest", store.create(CM, "default", cm("x", namespace="other"), OPTS))
    await raises(422, "Invalid", store.create(CM, "default", cm("Not_Valid"), OPTS))


async def test_dry_run_create_writes_nothing(store):
    rev = await store.backend.current_revision()
    result = await store.create(CM, "default", cm("dry"), DRY)
    assert result.object["metadata"]["name"] == "dry" and "resourceVersion" not in result.object["metadata"]
    assert await store.backend.current_revision() == rev
    await store.create(CM, "default", cm("dry"), OPTS)
    await raises(409, "AlreadyExists", store.create(CM, "default", cm("dry"), DRY))


async def test_generation_starts_at_one_and_follows_spec_changes(store):
    d = (await store.create(DEPLOY, "default", deployment("d"), OPTS)).object
    assert d["metadata"]["generation"] == 1
    relabel = copy.deepcopy(d)
    relabel["metadata"]["labels"] = {"x": "y"}
    d = (await store.update(DEPLOY, "default", "d", relabel, OPTS)).object
    assert d["metadata"]["generation"] == 1
    scale = copy.deepcopy(d)
    scale["spec"]["replicas"] = 4
    d = (await store.update(DEPLOY, "default", "d", scale, OPTS)).object
    assert d["metadata"]["generation"] == 2
    status = copy.deepcopy(d)
    status["status"] = {"replicas": 4}
    d = (await store.update(DEPLOY, "default", "d", status, OPTS, "status")).object
    assert d["metadata"]["generation"] == 2 and d["status"] == {"replicas": 4}


# ---- update and patch -----------------------------------------------------------------------------


async def test_stale_update_is_a_conflict_and_noop_keeps_the_revision(store):
    created = (await store.create(CM, "default", cm("c"), OPTS)).object
    same = await store.update(CM, "default", "c", copy.deepcopy(created), OPTS)
    assert same.object["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    newer = {**copy.deepcopy(created), "data": {"k": "2"}}
    await store.update(CM, "default", "c", newer, OPTS)
    stale = {**copy.deepcopy(created), "data": {"k": "3"}}
    e = await raises(409, "Conflict", store.update(CM, "default", "c", stale, OPTS))
    assert e.message == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                         "please apply your changes to the latest version and try again")
    e = await raises(400, "BadRequest", store.update(CM, "default", "c", cm("other"), OPTS))
    assert e.message == "the name of the object (other) does not match the name on the URL (c)"
    await raises(404, "NotFound", store.update(CM, "default", "ghost", cm("ghost"), OPTS))


@pytest.mark.parametrize("retry", [True, False])
async def test_a_write_that_loses_the_race_is_retried_on_the_newer_object(store, retry):
    await store.create(CM, "default", cm("race"), OPTS)
    current = await store._current(CM, "default", "race")
    # Another writer gets in between our read and our compare-and-swap.
    other = copy.deepcopy(current)
    other["data"]["other"] = "1"
    await store.backend.update(CM.storage_key("default", "race"), encode(other), 0)

    def mine(cur: dict[str, Any]) -> dict[str, Any]:
        cur["data"]["mine"] = "1"
        return cur

    if not retry:  # a PUT with a resourceVersion precondition must not be rebased
        await raises(409, "Conflict", store._write_update(CM, current, mine, OPTS, "", retry=False))
        return
    result = await store._write_update(CM, current, mine, OPTS, "", retry=True)
    assert result.object["data"] == {"k": "v", "other": "1", "mine": "1"}
    assert await store.get(CM, "default", "race") == result.object


async def test_merge_patch_with_a_stale_resource_version_conflicts(store):
    created = (await store.create(CM, "default", cm("p"), OPTS)).object
    await store.patch(CM, "default", "p", "application/merge-patch+json", b'{"data": {"k": "2"}}', OPTS)
    body = orjson.dumps({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {}})
    await raises(409, "Conflict", store.patch(CM, "default", "p", "application/merge-patch+json", body, OPTS))


# ---- delete -------------------------------------------------------------------------------------


async def test_finalizers_mark_then_last_removal_deletes(store):
    await store.create(DEPLOY, "default", {**deployment("f"), "metadata": {"name": "f", "finalizers": ["x/y"]}}, OPTS)
    marked, removed = await store.delete(DEPLOY, "default", "f", {}, False)
    assert not removed and marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["generation"] == 2  # as the generic registry's markAsDeleting
    again, removed = await store.delete(DEPLOY, "default", "f", {}, False)
    assert not removed and again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    body = b'{"metadata": {"finalizers": null}}'
    result = await store.patch(DEPLOY, "default", "f", "application/merge-patch+json", body, OPTS)
    assert result.object["metadata"]["name"] == "f"
    await raises(404, "NotFound", store.get(DEPLOY, "default", "f"))


@pytest.mark.parametrize("options,finalizer", [
    ({"propagationPolicy": "Orphan"}, "orphan"),
    ({"orphanDependents": True}, "orphan"),
    ({"propagationPolicy": "Foreground"}, "foregroundDeletion"),
])
async def test_propagation_finalizers(store, options, finalizer):
    await store.create(CM, "default", cm("gc"), OPTS)
    marked, removed = await store.delete(CM, "default", "gc", options, False)
    assert not removed and marked["metadata"]["finalizers"] == [finalizer]


async def test_unknown_propagation_policy_is_invalid(store):
    await store.create(CM, "default", cm("gc"), OPTS)
    await raises(422, "Invalid", store.delete(CM, "default", "gc", {"propagationPolicy": "Up"}, False))


@pytest.mark.parametrize("rt,name,pre,message", [
    (CM, "c", {"uid": "u0"}, 'Operation cannot be fulfilled on ConfigMap "c": the UID in the precondition (u0) '
                             "does not match the UID in record ({uid}). The object might have been deleted and "
                             "then recreated"),
    (CM, "c", {"resourceVersion": "1"}, 'Operation cannot be fulfilled on ConfigMap "c": the ResourceVersion in '
                                        "the precondition (1) does not match the ResourceVersion in record ({rv}). "
                                        "The object might have been modified"),
    (NS, "kube-node-lease", {"uid": "u0"}, 'Operation cannot be fulfilled on namespaces "kube-node-lease": '
                                           "Precondition failed: UID in precondition: u0, UID in object meta: {uid}"),
])
async def test_delete_preconditions(store, rt, name, pre, message):
    if rt is CM:
        await store.create(CM, "default", cm("c"), OPTS)
    obj = await store.get(rt, "default" if rt.namespaced else None, name)
    e = await raises(409, "Conflict", store.delete(rt, "default" if rt.namespaced else None, name,
                                                   {"preconditions": pre}, False))
    assert e.message == message.format(uid=obj["metadata"]["uid"], rv=obj["metadata"]["resourceVersion"])


@pytest.mark.parametrize("node,phase,grace,gone", [
    (None, None, None, True),  # never scheduled: nothing to stop
    ("n1", None, None, False),  # the kubelet stops it within the default 30 s
    ("n1", None, 0, True),  # force
    ("n1", "Succeeded", None, True),  # finished: nothing to stop
])
async def test_pod_graceful_deletion(store, node, phase, grace, gone):
    await store.create(PODS, "default", pod("p", node), OPTS)
    if phase:
        cur = await store.get(PODS, "default", "p")
        await store.update(PODS, "default", "p", {**cur, "status": {"phase": phase}}, OPTS, "status")
    options = {} if grace is None else {"gracePeriodSeconds": grace}
    obj, removed = await store.delete(PODS, "default", "p", options, False)
    assert removed is gone
    if not gone:
        assert obj["metadata"]["deletionGracePeriodSeconds"] == 30
        # A shorter grace period later (the kubelet's final delete) removes it.
        _, removed = await store.delete(PODS, "default", "p", {"gracePeriodSeconds": 0}, False)
        assert removed


async def test_namespace_deletion_waits_for_its_finalizer(store):
    await store.create(NS, None, {"metadata": {"name": "doomed"}}, OPTS)
    marked, removed = await store.delete(NS, None, "doomed", {}, False)
    assert not removed
    assert marked["status"]["phase"] == "Terminating" and marked["spec"]["finalizers"] == ["kubernetes"]
    assert "deletionGracePeriodSeconds" not in marked["metadata"]
    e = await raises(403, "Forbidden", store.create(CM, "doomed", cm("late"), OPTS))
    assert e.message == ('configmaps "late" is forbidden: unable to create new content in namespace doomed '
                         "because it is being terminated")

    def finalize(ns: dict[str, Any]) -> dict[str, Any]:
        ns["spec"]["finalizers"] = []
        return ns

    await store.mutate(NS, None, "doomed", finalize, OPTS, subresource="finalize")
    await raises(404, "NotFound", store.get(NS, None, "doomed"))


async def test_dry_run_delete_writes_nothing(store):
    await store.create(CM, "default", cm("keep"), OPTS)
    rev = await store.backend.current_revision()
    _, removed = await store.delete(CM, "default", "keep", {}, True)
    assert removed and await store.backend.current_revision() == rev
    assert (await store.get(CM, "default", "keep"))["metadata"]["name"] == "keep"


# ---- paged lists ----------------------------------------------------------------------------------


def list_opts(**kw: Any) -> listing.ListOptions:
    base = {"label": None, "field": None, "limit": 0, "continue_token": "", "resource_version": "",
            "rv_match": ""}
    return listing.ListOptions(**{**base, **kw})


async def fill(store, n: int) -> None:
    for i in range(n):
        await store.create(CM, "default", cm(f"c{i:02d}"), OPTS)


async def test_pages_count_what_remains(store):
    await fill(store, 7)
    items, rv, token, remaining = await listing.list_objects(store, CM, "default", list_opts(limit=3))
    assert [o["metadata"]["name"] for o in items] == ["c00", "c01", "c02"] and remaining == 4
    items, rv2, token, remaining = await listing.list_objects(store, CM, "default",
                                                              list_opts(limit=3, continue_token=token))
    assert [o["metadata"]["name"] for o in items] == ["c03", "c04", "c05"] and remaining == 1 and rv2 == rv
    items, _, token, remaining = await listing.list_objects(store, CM, "default",
                                                            list_opts(limit=3, continue_token=token))
    assert [o["metadata"]["name"] for o in items] == ["c06"] and token == "" and remaining is None


async def test_expired_continue_gives_410_with_a_token_to_go_on():
    store = await make_store(keep_revisions=5)
    try:
        await fill(store, 6)
        _, rv, token, _ = await listing.list_objects(store, CM, "default", list_opts(limit=2))
        for i in range(12):  # churn past the kept history
            await store.create(CM, "default", cm(f"z{i:02d}"), OPTS)
        assert await store.backend.compacted_revision() > int(rv)
        with pytest.raises(listing.ExpiredContinue) as e:
            await listing.list_objects(store, CM, "default", list_opts(limit=2, continue_token=token))
        status = e.value.status()
        assert (status["code"], status["reason"]) == (410, "Expired")
        assert status["message"] == listing.CONTINUE_EXPIRED
        items, _, _, _ = await listing.list_objects(store, CM, "default",
                                                    list_opts(continue_token=status["metadata"]["continue"]))
        assert [o["metadata"]["name"] for o in items][:4] == ["c02", "c03", "c04", "c05"]
        assert len(items) == 16  # the rest, as it is now
        e2 = await raises(410, "Expired", listing.list_objects(store, CM, "default",
                                                               list_opts(resource_version=rv, rv_match="Exact")))
        assert e2.message == "The resourceVersion for the provided list is too old."
    finally:
        await store.cache.stop()
        await store.backend.close()


async def test_uid_in_an_update_is_a_precondition(store):
    created = (await store.create(CM, "default", cm("u"), OPTS)).object
    body = {"metadata": {"uid": "someone-else", "labels": {"a": "b"}}}
    e = await raises(409, "Conflict", store.patch(CM, "default", "u", "application/merge-patch+json",
                                                  orjson.dumps(body), OPTS))
    assert e.message == ('Operation cannot be fulfilled on configmaps "u": Precondition failed: UID in '
                         f'precondition: someone-else, UID in object meta: {created["metadata"]["uid"]}')
    body["metadata"]["uid"] = created["metadata"]["uid"]
    patched = await store.patch(CM, "default", "u", "application/merge-patch+json", orjson.dumps(body), OPTS)
    assert patched.object["metadata"]["labels"] == {"a": "b"}


async def test_generated_name_clash_is_retried_with_another_suffix(store, monkeypatch):
    from kubeling.apiserver import storage as storage_module

    suffixes = iter(["aaaaa", "aaaaa", "bbbbb"])
    monkeypatch.setattr(storage_module, "_generate_name", lambda prefix: prefix + next(suffixes))
    first = await store.create(CM, "default", {"metadata": {"generateName": "gen-"}}, OPTS)
    second = await store.create(CM, "default", {"metadata": {"generateName": "gen-"}}, OPTS)
    assert (first.object["metadata"]["name"], second.object["metadata"]["name"]) == ("gen-aaaaa", "gen-bbbbb")
    e = await raises(409, "AlreadyExists", store.create(CM, "default", {"metadata": {"name": "gen-aaaaa"}}, OPTS))
    assert e.message == 'configmaps "gen-aaaaa" already exists'


def test_copy_stored_is_a_deep_copy_and_falls_back_for_non_json_values():
    from kubeling.apiserver.storage import copy_stored

    stored = {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"n": [1, 2.5, None, True]}}
    copied = copy_stored(stored)
    assert copied == stored
    copied["metadata"]["labels"]["x"] = "2"
    copied["spec"]["n"].append(3)
    assert stored["metadata"]["labels"] == {"x": "1"} and stored["spec"]["n"] == [1, 2.5, None, True]
    odd = {"data": {1, 2}, "raw": b"\x00"}  # not JSON: copied by copy.deepcopy
    again = copy_stored(odd)
    assert again == odd and again["data"] is not odd["data"]
