"""The snapshot's node table: refreshed row by row from the cache's changes, it must always equal
a table built from scratch; it lists the nodes holding pods with affinity and the images."""

from __future__ import annotations

import random

import numpy as np

from kubeling.scheduler import node_table
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.framework import NodeInfo, PodInfo, Snapshot

ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}
PREFERRED = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 1, "podAffinityTerm": {"labelSelector": {}, "topologyKey": "zone"}}]}}


def node(name: str, cpu: str = "4", *, taints: bool = False, cordoned: bool = False,
         images: list[str] | None = None, gpu: str | None = None) -> dict:
    alloc = {"cpu": cpu, "memory": "8Gi", "pods": "110"}
    if gpu is not None:
        alloc["example.com/gpu"] = gpu
    spec: dict = {"unschedulable": True} if cordoned else {}
    if taints:
        spec["taints"] = [{"key": "k", "effect": "NoSchedule"}]
    status: dict = {"allocatable": alloc}
    if images:
        status["images"] = [{"names": [i], "sizeBytes": 1} for i in images]
    return {"metadata": {"name": name}, "spec": spec, "status": status}


def pod(name: str, node_name: str, cpu: str = "100m", affinity: dict | None = None) -> dict:
    spec = {"nodeName": node_name, "containers": [
        {"name": "c", "resources": {"requests": {"cpu": cpu, "example.com/gpu": "1"}}}]}
    if affinity:
        spec["affinity"] = affinity
    return {"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": spec}


def same(a: node_table.NodeTable, b: node_table.NodeTable) -> None:
    assert [i.name for i in a.infos] == [i.name for i in b.infos]
    for name in node_table.COLUMNS:
        assert a.cols[name].tolist() == b.cols[name].tolist(), name
    assert a.tainted.tolist() == b.tainted.tolist() and a.cordoned.tolist() == b.cordoned.tolist()
    assert [x.tolist() for x in a.scalar("example.com/gpu")] == [x.tolist() for x in b.scalar("example.com/gpu")]
    assert +a.image_nodes == +b.image_nodes
    assert a.image_sizes == b.image_sizes
    assert [i.name for i in a.affinity_infos()] == [i.name for i in b.affinity_infos()]
    assert [i.name for i in a.affinity_infos(True)] == [i.name for i in b.affinity_infos(True)]


def test_incremental_refresh_equals_a_rebuild():
    rng = random.Random(3)
    cache = Cache()
    for i in range(20):
        cache.add_node(node(f"n{i}"))
    snap = Snapshot()
    cache.update_snapshot(snap)
    table = node_table.of(snap)
    table.scalar("example.com/gpu")  # a scalar column built before the changes must follow them
    pods: list[dict] = []
    for step in range(300):
        r = rng.random()
        name = f"n{rng.randrange(20)}"
        if r < 0.5:
            p = pod(f"p{step}", name, rng.choice(["100m", "1"]), rng.choice([None, ANTI, PREFERRED]))
            cache.assume_pod(p)
            pods.append(p)
        elif r < 0.7 and pods:
            cache.forget_pod(pods.pop(rng.randrange(len(pods))))
        else:
            cache.update_node(node(name, rng.choice(["2", "4", "8"]), taints=rng.random() < 0.3,
                                   cordoned=rng.random() < 0.2, images=rng.choice([None, ["a"], ["a", "b"]]),
                                   gpu=rng.choice([None, "2"])))
        cache.update_snapshot(snap)
        if step % 7 == 0:
            table = node_table.of(snap)
            fresh = node_table.NodeTable().refresh(_unmanaged(snap))
            same(table, fresh)
    assert table._epoch == 1  # built once, then refreshed row by row


def _unmanaged(snap: Snapshot) -> Snapshot:
    return Snapshot(snap.node_infos)


def test_affinity_lists_name_the_nodes_with_such_pods_in_snapshot_order():
    infos = [NodeInfo.of(node(n)) for n in ("a", "b", "c")]
    infos[2].add_pod(PodInfo.of(pod("x", "c", affinity=ANTI)))
    infos[0].add_pod(PodInfo.of(pod("y", "a", affinity=PREFERRED)))
    infos[1].add_pod(PodInfo.of(pod("z", "b")))
    table = node_table.of(Snapshot(infos))
    assert [i.name for i in table.affinity_infos()] == ["a", "c"]
    assert [i.name for i in table.affinity_infos(required_anti_only=True)] == ["c"]


def test_images_are_counted_per_node_with_normalized_names():
    table = node_table.of(Snapshot([NodeInfo.of(node("a", images=["nginx"])),
                                    NodeInfo.of(node("b", images=["docker.io/library/nginx:latest", "busybox"]))]))
    assert table.image_nodes["docker.io/library/nginx:latest"] == 2
    assert table.any_image(["docker.io/library/busybox:latest"])
    assert not table.any_image(["docker.io/library/redis:latest"])


def test_image_summary_follows_node_changes_without_walking_the_nodes():
    cache = Cache()
    cache.add_node(node("a", images=["nginx"]))
    cache.add_node(node("b"))
    snap = Snapshot()
    cache.update_snapshot(snap)
    table = node_table.of(snap)
    nginx, redis = "docker.io/library/nginx:latest", "docker.io/library/redis:latest"
    assert table.image_summary([nginx, redis]) == {nginx: (1, 1)}
    cache.update_node(node("b", images=["nginx", "redis"]))
    cache.update_snapshot(snap)
    assert node_table.of(snap).image_summary([nginx, redis]) == {nginx: (1, 2), redis: (1, 1)}
    cache.update_node(node("b"))
    cache.update_node(node("a"))
    cache.update_snapshot(snap)
    table = node_table.of(snap)
    assert table.image_summary([nginx, redis]) == {} and table.image_sizes == {}


def test_rows_are_none_for_a_node_info_outside_the_snapshot():
    infos = [NodeInfo.of(node(n)) for n in ("a", "b")]
    table = node_table.of(Snapshot(infos))
    assert table.rows([infos[1], infos[0]]).tolist() == [1, 0]
    assert table.rows([infos[0], infos[0].clone()]) is None


def test_numbers_too_large_for_int64_make_the_table_decline():
    table = node_table.of(Snapshot([NodeInfo.of(node("a", cpu="100000000000000"))]))  # 1e17 millicores
    assert not table.safe
    assert node_table.of(Snapshot([NodeInfo.of(node("a"))])).safe
    assert isinstance(node_table.of(Snapshot([])).cols["alloc_cpu"], np.ndarray)


def _labelled(name: str, zone: str | None) -> dict:
    n = node(name)
    n["metadata"]["labels"] = {} if zone is None else {"zone": zone}
    return n


def _in_app(p: dict, app: str) -> dict:
    return {**p, "metadata": {**p["metadata"], "labels": {"app": app}}}


def test_label_codes_and_pod_counts_follow_the_cache_row_by_row():
    rng = random.Random(4)
    cache = Cache()
    for i in range(15):
        cache.add_node(_labelled(f"n{i}", rng.choice([None, "a", "b"])))
    snap = Snapshot()
    cache.update_snapshot(snap)

    def is_web(p: dict) -> bool:
        return ((p.get("metadata") or {}).get("labels") or {}).get("app") == "web"

    def columns(table: node_table.NodeTable) -> tuple[list, list]:
        zones = table.labels("zone")
        return ([None if c == node_table.MISSING else zones.values[c] for c in zones.codes.tolist()],
                table.pod_counts("web", is_web).tolist())

    columns(node_table.of(snap))  # built before the changes, kept up by them
    pods: dict[str, dict] = {}
    confirmed: set[str] = set()
    for step in range(300):
        r, name = rng.random(), f"n{rng.randrange(15)}"
        if r < 0.45:
            p = _in_app(pod(f"p{step}", name), rng.choice(["web", "db"]))
            cache.assume_pod(p)
            pods[p["metadata"]["uid"]] = p
        elif r < 0.6 and pods:
            uid = rng.choice(sorted(pods))
            (cache.remove_pod if uid in confirmed else cache.forget_pod)(pods.pop(uid))
        elif r < 0.8 and pods:  # the informer confirms it, or updates it, with other labels
            uid = rng.choice(sorted(pods))
            new = _in_app(pods[uid], rng.choice(["web", "db"]))
            cache.update_pod(pods[uid], new) if uid in confirmed else cache.add_pod(new)
            confirmed.add(uid)
            pods[uid] = new
        else:
            cache.update_node(_labelled(name, rng.choice([None, "a", "b", "c"])))
        cache.update_snapshot(snap)
        if step % 5 == 0:
            assert columns(node_table.of(snap)) == columns(node_table.NodeTable().refresh(_unmanaged(snap)))
    assert node_table.of(snap)._epoch == 1
