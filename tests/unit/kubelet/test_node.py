"""NodeManager on an in-process API server and a fake clock: registration, the Lease
heartbeat, and node status written only on change or every 5 minutes."""

import asyncio

import pytest

from kubeling.api import errors
from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.kubelet.node import (LEASE_NAMESPACE, LEASES, NODES, HostInfo, NodeManager, default_allocatable,
                                   node_images)
from kubeling.kubelet.runtime.base import ImageInfo

INFO = HostInfo(os_image="Debian GNU/Linux 12 (bookworm)", kernel_version="6.1.0", operating_system="linux",
                architecture="amd64", machine_id="m1", system_uuid="u1", boot_id="b1")
CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}


class StubRuntime:
    name = "fake"
    version = "0.1.0"

    def __init__(self, images=()):
        self.images = list(images)

    async def list_images(self):
        return list(self.images)


class Recording:
    """A client that counts writes by (verb, resource, subresource)."""

    def __init__(self, inner):
        self.inner = inner
        self.writes: list[tuple[str, str, str]] = []
        self.reads: list[str] = []  # plural of each GET

    def count(self, verb, plural, sub=""):
        return self.writes.count((verb, plural, sub))

    async def get(self, rt, *a, **kw):
        self.reads.append(rt.plural)
        return await self.inner.get(rt, *a, **kw)

    async def create(self, rt, ns, obj, **kw):
        self.writes.append(("create", rt.plural, kw.get("subresource", "")))
        return await self.inner.create(rt, ns, obj, **kw)

    async def update(self, rt, obj, **kw):
        self.writes.append(("update", rt.plural, kw.get("subresource", "")))
        return await self.inner.update(rt, obj, **kw)

    async def patch(self, rt, ns, name, body, **kw):
        self.writes.append(("patch", rt.plural, kw.get("subresource", "")))
        return await self.inner.patch(rt, ns, name, body, **kw)


@pytest.fixture
async def local():
    c = await LocalClient.start()
    yield c
    await c.close()


@pytest.fixture
def client(local):
    return Recording(local)


@pytest.fixture
def clock():
    return FakeClock()


def manager(client, clock, name="node-1", runtime=None, **kw):
    kw.setdefault("capacity", CAPACITY)
    return NodeManager(client, runtime or StubRuntime(), node_name=name, node_ip="10.0.0.5", labels={"type": "kwok"},
                       clock=clock, kubelet_port=10250, info=INFO, jitter=0.0, **kw)


async def spin(rounds: int = 60) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def tick(clock, seconds: float, step: float = 5.0) -> None:
    t = 0.0
    while t < seconds:
        clock.advance(min(step, seconds - t))
        t += step
        await spin()


@pytest.fixture
async def running(client, clock):
    """A started NodeManager; stopped after the test."""
    tasks = []

    async def start(m):
        tasks.append(asyncio.create_task(m.run()))
        await spin()
        return m

    yield start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Events:
    """An event recorder that keeps what it is given."""

    def __init__(self):
        self.seen = []

    def event(self, obj, type, reason, message):
        self.seen.append((obj["kind"], obj["metadata"]["name"], type, reason, message))

    def reasons(self) -> list[str]:
        return [r for _, _, _, r, _ in self.seen]


def conditions(node):
    return {c["type"]: c for c in node["status"]["conditions"]}


# ---- registration ------------------------------------------------------------------------------


async def test_registration_writes_what_the_kubelet_writes(client, clock):
    images = [ImageInfo("sha256:aa", ["docker.io/library/busybox:1.36"], 4_000_000),
              ImageInfo("sha256:bb", ["registry.k8s.io/pause:3.10"], 700_000)]
    m = manager(client, clock, runtime=StubRuntime(images))
    await m.register()
    node = await client.get(NODES, None, "node-1")
    md, st = node["metadata"], node["status"]
    assert md["labels"] == {"type": "kwok", "kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                            "beta.kubernetes.io/arch": "amd64"}
    assert md["annotations"]["volumes.kubernetes.io/controller-managed-attach-detach"] == "true"
    assert st["capacity"] == CAPACITY
    assert st["allocatable"] == {"cpu": "4", "memory": "8286208Ki", "pods": "110",
                                 "ephemeral-storage": str(100 * 2**30 - int(100 * 2**30 * 0.1))}
    assert st["addresses"] == [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "node-1"}]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert st["nodeInfo"] == {"machineID": "m1", "systemUUID": "u1", "bootID": "b1", "kernelVersion": "6.1.0",
                              "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "fake://0.1.0",
                              "kubeletVersion": "v1.32.4", "kubeProxyVersion": "", "operatingSystem": "linux",
                              "architecture": "amd64"}
    assert st["images"] == [{"names": ["docker.io/library/busybox:1.36"], "sizeBytes": 4_000_000},
                            {"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 700_000}]
    assert [c["type"] for c in st["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    want = {"MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            "Ready": ("True", "KubeletReady", "kubelet is posting ready status")}
    for ctype, cond in conditions(node).items():
        assert (cond["status"], cond["reason"], cond["message"]) == want[ctype]
        assert cond["lastHeartbeatTime"] == cond["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert m.node_uid == md["uid"]


async def test_registering_over_an_existing_node_reconciles_default_labels(client, clock):
    await client.inner.create(NODES, None, {"metadata": {"name": "node-1", "labels": {
        "kubernetes.io/hostname": "old", "team": "a"}}})
    m = manager(client, clock)
    node = await m.register()
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    assert node["metadata"]["labels"]["team"] == "a"  # labels the kubelet does not own stay
    assert "type" not in node["metadata"]["labels"]  # --node-labels apply on creation only
    assert m.node_uid == node["metadata"]["uid"]


@pytest.mark.parametrize("capacity,want", [
    ({"cpu": "2", "memory": "1Gi", "pods": "110"}, {"cpu": "2", "memory": "946176Ki", "pods": "110"}),
    ({"memory": "50Mi"}, {"memory": "0"}),
    ({"ephemeral-storage": "1000"}, {"ephemeral-storage": "900"}),
])
def test_default_allocatable_subtracts_eviction_thresholds(capacity, want):
    assert default_allocatable(capacity) == want


def test_node_images_biggest_first_capped():
    imgs = [ImageInfo("sha256:1", ["a:1"], 10), ImageInfo("sha256:2", [], 99),
            ImageInfo("docker.io/b@sha256:3", [f"b:{i}" for i in range(7)], 50)]
    assert node_images(imgs) == [{"names": ["docker.io/b@sha256:3", "b:0", "b:1", "b:2", "b:3"], "sizeBytes": 50},
                                 {"names": ["a:1"], "sizeBytes": 10}]


# ---- the lease -------------------------------------------------------------------------------------


async def test_lease_created_with_owner_and_renewed_every_10s(client, clock, running):
    m = await running(manager(client, clock))
    lease = await client.get(LEASES, LEASE_NAMESPACE, "node-1")
    assert lease["spec"]["holderIdentity"] == "node-1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["spec"]["renewTime"] == "2026-01-01T00:00:00.000000Z"
    assert lease["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": "node-1",
                                                     "uid": m.node_uid}]
    await tick(clock, 9)
    assert client.count("update", "leases") == 0
    await tick(clock, 1)
    assert client.count("update", "leases") == 1
    await tick(clock, 50)
    assert client.count("update", "leases") == 6
    lease = await client.get(LEASES, LEASE_NAMESPACE, "node-1")
    assert lease["spec"]["renewTime"] == "2026-01-01T00:01:00.000000Z"


async def test_a_new_node_creates_its_lease_without_reading_it_first(client, clock, running):
    await running(manager(client, clock))
    assert "leases" not in client.reads
    assert client.count("create", "leases") == 1


async def test_a_lease_left_from_before_is_taken_over(client, clock, running):
    stale = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "node-1", "namespace": LEASE_NAMESPACE},
             "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                      "renewTime": "2025-12-31T00:00:00.000000Z"}}
    await client.inner.create(LEASES, LEASE_NAMESPACE, stale)
    await running(manager(client, clock))  # a new Node, an old Lease: the create conflicts
    lease = await client.get(LEASES, LEASE_NAMESPACE, "node-1")
    assert lease["spec"]["renewTime"] == "2026-01-01T00:00:00.000000Z"
    assert client.count("update", "leases") == 1


async def test_an_existing_node_reads_its_lease(client, clock, running):
    await running(manager(client, clock))
    await running(manager(client, clock))  # a restarted kubelet: the Node exists
    assert client.reads.count("leases") == 1
    assert client.count("create", "leases") == 1


async def test_lease_renewal_recovers_from_a_conflict(client, clock, running):
    await running(manager(client, clock))
    other = await client.get(LEASES, LEASE_NAMESPACE, "node-1")
    other["spec"]["holderIdentity"] = "someone-else"
    await client.inner.update(LEASES, other)  # our cached lease is now stale
    await tick(clock, 10)
    lease = await client.get(LEASES, LEASE_NAMESPACE, "node-1")
    assert lease["spec"]["holderIdentity"] == "someone-else"  # the renewal hit a 409
    await tick(clock, 0.2, step=0.2)  # retried 200 ms later, after reading the lease again
    lease = await client.get(LEASES, LEASE_NAMESPACE, "node-1")
    assert lease["spec"]["holderIdentity"] == "node-1"
    assert lease["spec"]["renewTime"] == "2026-01-01T00:00:10.200000Z"


# ---- node status -------------------------------------------------------------------------------------


async def test_status_written_only_every_5_minutes_when_nothing_changes(client, clock, running):
    await running(manager(client, clock))
    assert client.count("create", "nodes") == 1
    await tick(clock, 290)
    assert client.count("patch", "nodes", "status") == 0
    await tick(clock, 10)
    assert client.count("patch", "nodes", "status") == 1
    node = await client.get(NODES, None, "node-1")
    ready = conditions(node)["Ready"]
    assert ready["lastHeartbeatTime"] == "2026-01-01T00:05:00Z"
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    await tick(clock, 300)
    assert client.count("patch", "nodes", "status") == 2


async def test_status_written_at_the_next_sync_after_a_change(client, clock, running):
    runtime = StubRuntime()
    m = await running(manager(client, clock, runtime=runtime))
    await tick(clock, 20)
    m.set_ready(False, "container runtime is down")
    await tick(clock, 10)
    assert client.count("patch", "nodes", "status") == 1
    node = await client.get(NODES, None, "node-1")
    ready = conditions(node)["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "KubeletNotReady",
                                                                    "container runtime is down")
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:30Z"
    assert conditions(node)["MemoryPressure"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"

    runtime.images.append(ImageInfo("sha256:cc", ["nginx:1.27"], 1000))
    await tick(clock, 10)
    assert client.count("patch", "nodes", "status") == 2
    node = await client.get(NODES, None, "node-1")
    assert node["status"]["images"] == [{"names": ["nginx:1.27"], "sizeBytes": 1000}]


async def test_status_restored_when_someone_else_marks_the_node_unknown(client, clock, running):
    await running(manager(client, clock))
    node = await client.get(NODES, None, "node-1")
    for c in node["status"]["conditions"]:
        c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
    await client.inner.update(NODES, node, subresource="status")
    await tick(clock, 10)
    node = await client.get(NODES, None, "node-1")
    ready = conditions(node)["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:10Z"


async def test_node_events_on_registration_and_transitions(client, clock, running):
    ev = Events()
    m = await running(manager(client, clock, events=ev))
    assert [r for _, _, _, r, _ in ev.seen] == ["NodeHasSufficientMemory", "NodeHasNoDiskPressure",
                                                "NodeHasSufficientPID", "NodeReady"]
    assert ev.seen[-1] == ("Node", "node-1", "Normal", "NodeReady", "Node node-1 status is now: NodeReady")
    m.set_ready(False, "PLEG is not healthy")
    await tick(clock, 10)
    assert ev.seen[-1][3] == "NodeNotReady"


async def test_a_periodic_report_without_changes_records_no_events(client, clock, running):
    ev = Events()
    await running(manager(client, clock, events=ev))
    registered = ev.reasons()
    await tick(clock, 300)
    assert client.count("patch", "nodes", "status") == 1  # the 5-minute report
    assert ev.reasons() == registered


# ---- failures and scale ------------------------------------------------------------------------------


async def test_registration_retried_with_backoff(local, clock, running):
    class Flaky(Recording):
        fails = 2

        async def create(self, rt, ns, obj, **kw):
            if rt.plural == "nodes" and self.fails:
                self.fails -= 1
                raise errors.internal("etcdserver: request timed out")
            return await super().create(rt, ns, obj, **kw)

    client = Flaky(local)
    await running(manager(client, clock))
    with pytest.raises(errors.ApiError):
        await client.get(NODES, None, "node-1")
    await tick(clock, 0.1, step=0.1)  # first retry after 100 ms: fails again
    await tick(clock, 0.2, step=0.2)  # second after 200 ms more: succeeds
    assert (await client.get(NODES, None, "node-1"))["metadata"]["name"] == "node-1"


async def test_many_nodes_each_one_sleeping_task(client, clock, running):
    n = 40
    for i in range(n):
        await running(manager(client, clock, name=f"node-{i}"))
    await spin(200)
    assert len(clock._sleepers) == n  # one timer per node, nothing spinning
    await tick(clock, 10)
    assert client.count("update", "leases") == n
    assert len(clock._sleepers) == n
    nodes = await client.inner.list(NODES)
    assert len(nodes["items"]) == n


# ---- status read from a shared Node cache (simulated nodes) -------------------------------------------


class NodeCache:
    """What a Node informer would hold: refreshed only when the test says (a watch that lags)."""

    def __init__(self, client):
        self.client, self.nodes = client, {}

    async def refresh(self, name="node-1"):
        self.nodes[name] = await self.client.inner.get(NODES, None, name)

    def get(self, name):
        return self.nodes.get(name)


async def test_status_syncs_read_the_cache_instead_of_getting_the_node(client, clock, running):
    cache = NodeCache(client)
    await running(manager(client, clock, node_cache=cache.get))
    await cache.refresh()
    await tick(clock, 60)
    assert "nodes" not in client.reads
    assert client.count("patch", "nodes", "status") == 0
    node = await client.inner.get(NODES, None, "node-1")  # someone marks it Unknown; the cache sees it
    for c in node["status"]["conditions"]:
        c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
    await client.inner.update(NODES, node, subresource="status")
    await cache.refresh()
    await tick(clock, 10)
    assert client.count("patch", "nodes", "status") == 1
    assert conditions(await client.inner.get(NODES, None, "node-1"))["Ready"]["status"] == "True"


async def test_a_cache_behind_our_own_write_does_not_repeat_it(client, clock, running):
    cache = NodeCache(client)
    m = await running(manager(client, clock, node_cache=cache.get))
    await cache.refresh()  # Ready=True, and it stays so in the cache: its watch lags
    m.set_ready(False, "container runtime is down")
    await tick(clock, 10)
    assert client.count("patch", "nodes", "status") == 1
    await tick(clock, 30)
    assert client.count("patch", "nodes", "status") == 1  # computed over the patch's answer, not the cache
    m.set_ready(True)
    await tick(clock, 10)
    assert client.count("patch", "nodes", "status") == 2
    assert conditions(await client.inner.get(NODES, None, "node-1"))["Ready"]["status"] == "True"


async def test_before_the_cache_has_the_node_the_registration_answer_stands_in(client, clock, running):
    cache = NodeCache(client)
    await running(manager(client, clock, node_cache=cache.get))
    await tick(clock, 30)
    assert "nodes" not in client.reads
    assert client.count("patch", "nodes", "status") == 0


async def test_a_node_gone_from_the_cache_is_read_from_the_server(client, clock, running):
    cache = NodeCache(client)
    await running(manager(client, clock, node_cache=cache.get))
    await cache.refresh()
    await tick(clock, 10)
    cache.nodes.clear()  # deleted, as an informer would see it
    await tick(clock, 10)
    assert client.reads.count("nodes") == 1
