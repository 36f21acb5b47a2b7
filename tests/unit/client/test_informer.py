"""Informers: list then watch, indexes, handlers, relist on 410, resync."""


import pytest

from kubeling.api import registry
from kubeling.client.cache import by_node_name
from kubeling.client.informer import Informer, InformerFactory
from kubeling.client.local import LocalClient
from tests.support.eventually import eventually

CM = registry.lookup("", "v1", "configmaps")
PODS = registry.lookup("", "v1", "pods")


@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield c
    await c.close()


def pod(name: str, node: str = "", owner: str = "") -> dict:
    md = {"name": name, "labels": {"app": "x"}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner,
                                  "controller": True}]
    spec = {"containers": [{"name": "c", "image": "i"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": md, "spec": spec}


async def test_list_then_watch_with_handlers_and_indexes(client):
    await client.create(PODS, "default", pod("before", node="n1", owner="u1"))
    inf = Informer(client, PODS)
    inf.add_indexer("node", by_node_name)
    log = []
    inf.add_handler(on_add=lambda o: log.append(("add", o["metadata"]["name"])),
                    on_update=lambda a, b: log.append(("update", b["metadata"]["name"])),
                    on_delete=lambda o: log.append(("delete", o["metadata"]["name"])))
    await inf.start()
    await inf.wait_synced(2)
    assert inf.has_synced and log == [("add", "before")]
    await client.create(PODS, "default", pod("after", node="n2", owner="u1"))
    await client.patch(PODS, "default", "before", {"metadata": {"labels": {"v": "2"}}})
    await client.delete(PODS, "default", "after", grace_period_seconds=0)
    await eventually(lambda: len(log) == 4)
    assert log[1:] == [("add", "after"), ("update", "before"), ("delete", "after")]
    assert [p["metadata"]["name"] for p in inf.indexer.by_index("node", "n1")] == ["before"]
    assert inf.indexer.by_index("node", "n2") == []
    assert [p["metadata"]["name"] for p in inf.indexer.by_index("owner", "u1")] == ["before"]
    assert [p["metadata"]["name"] for p in inf.indexer.by_index("label", "v=2")] == ["before"]
    await inf.stop()


async def test_relist_after_gone_turns_differences_into_events(client):
    inf = Informer(client, CM, namespace="default")
    log = []
    inf.add_handler(on_add=lambda o: log.append(("add", o["metadata"]["name"])),
                    on_delete=lambda o: log.append(("delete", o["metadata"]["name"])))
    await client.create(CM, "default", {"metadata": {"name": "stays"}})
    await client.create(CM, "default", {"metadata": {"name": "goes"}})
    await inf.start()
    await inf.wait_synced(2)
    await inf.stop()
    # While the informer is away: one object goes, one arrives, and its resourceVersion expires.
    await client.delete(CM, "default", "goes")
    await client.create(CM, "default", {"metadata": {"name": "new"}})
    inf.resource_version = "1"  # older than the watch cache's history: the server answers 410
    client.store.cache._history.clear()
    assert await inf._watch() is True  # 410 Gone: the informer must relist
    log.clear()
    await inf.start()
    await eventually(lambda: ("add", "new") in log and ("delete", "goes") in log)
    assert sorted(o["metadata"]["name"] for o in inf.indexer.list()) == ["new", "stays"]
    await inf.stop()


async def test_factory_shares_informers_and_late_handlers_see_cached_objects(client):
    factory = InformerFactory(client)
    a = factory.informer(CM)
    assert factory.informer(CM) is a
    assert factory.informer(CM, namespace="default") is not a
    await client.create(CM, "default", {"metadata": {"name": "x"}})
    await factory.start()
    await factory.wait_for_sync(2)
    seen = []
    a.add_handler(on_add=lambda o: seen.append(o["metadata"]["name"]))
    assert seen == ["x"]
    await factory.stop()
