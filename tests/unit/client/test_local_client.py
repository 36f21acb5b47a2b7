"""The in-process client gives the API server's own semantics."""

import asyncio

import pytest

from kubeling.api import errors, registry
from kubeling.client.local import LocalClient

CM = registry.lookup("", "v1", "configmaps")
PODS = registry.lookup("", "v1", "pods")


@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield c
    await c.close()


async def test_crud_and_errors(client):
    created = await client.create(CM, "default", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    assert created["kind"] == "ConfigMap" and created["metadata"]["uid"]
    created["data"]["k"] = "changed locally"  # callers own their copies
    assert (await client.get(CM, "default", "a"))["data"] == {"k": "v"}
    patched = await client.patch(CM, "default", "a", {"data": {"x": "y"}})
    assert patched["data"] == {"k": "v", "x": "y"}
    stale = dict(created, data={"k": "stale"})
    with pytest.raises(errors.ApiError) as e:
        await client.update(CM, stale)
    assert e.value.code == 409 and e.value.reason == "Conflict"
    listed = await client.list(CM, "default")
    assert listed["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    await client.delete(CM, "default", "a")
    with pytest.raises(errors.ApiError) as e:
        await client.get(CM, "default", "a")
    assert e.value.code == 404


async def test_watch_from_resource_version(client):
    rv = (await client.list(CM, "default"))["metadata"]["resourceVersion"]
    await client.create(CM, "default", {"metadata": {"name": "w", "labels": {"a": "1"}}})
    await client.patch(CM, "default", "w", {"metadata": {"labels": {"a": "2"}}})
    seen = []
    async for ev in client.watch(CM, "default", resource_version=rv, label_selector="a=1", timeout_seconds=1):
        seen.append((ev.type, ev.object["metadata"]["labels"]["a"]))
        if len(seen) == 2:
            break
    assert seen == [("ADDED", "1"), ("DELETED", "2")]  # it stopped matching the selector


async def test_binding_sets_node_once(client):
    await client.create(PODS, "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
    await client.create(PODS, "default", binding, subresource="binding", name="p")
    pod = await client.get(PODS, "default", "p")
    assert pod["spec"]["nodeName"] == "n1"
    assert [c["type"] for c in pod["status"]["conditions"]] == ["PodScheduled"]
    with pytest.raises(errors.ApiError) as e:
        await client.create(PODS, "default", binding, subresource="binding", name="p")
    assert e.value.code == 409


async def test_watch_ends_at_timeout(client):
    events = [ev async for ev in client.watch(CM, "default", timeout_seconds=0.2)]
    assert events == []
    await asyncio.sleep(0)
