"""The kubelet following its Node's podCIDR: NodeManager's hook, and the fake runtime's pod IPs."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.kubelet.node import NODES, HostInfo, NodeManager, node_pod_cidr
from kubeling.kubelet.runtime.base import SandboxConfig
from kubeling.kubelet.runtime.fake import FakeRuntime

INFO = HostInfo(os_image="Debian", kernel_version="6.1.0", operating_system="linux", architecture="amd64",
                machine_id="m1", system_uuid="u1", boot_id="b1")
CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110"}


class Counting:
    """A client that counts Node reads."""

    def __init__(self, inner):
        self.inner, self.node_gets = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def get(self, rt, *a, **kw):
        if rt is NODES:
            self.node_gets += 1
        return await self.inner.get(rt, *a, **kw)


@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield Counting(c)
    await c.close()


@pytest.fixture
def clock():
    return FakeClock()


def manager(client, clock, **kw):
    return NodeManager(client, FakeRuntime(clock=clock), node_name="node-1", node_ip="10.0.0.5", clock=clock,
                       capacity=CAPACITY, info=INFO, jitter=0.0, **kw)


async def spin(rounds: int = 60) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def tick(clock, seconds: float, step: float = 0.5) -> None:
    t = 0.0
    while t < seconds:
        clock.advance(min(step, seconds - t))
        t += step
        await spin()


async def set_cidr(client, cidr: str) -> None:
    await client.patch(NODES, None, "node-1", {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}, patch_type="strategic")


@pytest.mark.parametrize("spec, want", [
    ({"podCIDRs": ["10.42.1.0/24"], "podCIDR": "10.42.1.0/24"}, "10.42.1.0/24"),
    ({"podCIDR": "10.42.2.0/24"}, "10.42.2.0/24"),
    ({}, ""),
])
def test_node_pod_cidr(spec, want):
    assert node_pod_cidr({"spec": spec}) == want


async def test_hook_called_once_per_new_cidr(client, clock):
    seen: list[str] = []

    async def hook(cidr):
        seen.append(cidr)
    m = manager(client, clock, on_pod_cidr=hook)
    await m.register()
    assert seen == [] and m.pod_cidr == ""
    await set_cidr(client, "10.42.0.0/24")
    await m.sync_status()
    await m.sync_status()
    assert seen == ["10.42.0.0/24"] and m.pod_cidr == "10.42.0.0/24"


async def test_hook_called_at_registration_when_the_node_already_has_a_cidr(client, clock):
    seen: list[str] = []
    await manager(client, clock).register()
    await set_cidr(client, "10.42.5.0/24")
    restarted = manager(client, clock, on_pod_cidr=seen.append)  # a plain function works too
    await restarted.register()
    assert seen == ["10.42.5.0/24"]


async def test_a_failing_hook_is_retried_at_the_next_read(client, clock):
    calls = []

    def hook(cidr):
        calls.append(cidr)
        if len(calls) == 1:
            raise OSError("read-only file system")
    m = manager(client, clock, on_pod_cidr=hook)
    await m.register()
    await set_cidr(client, "10.42.0.0/24")
    await m.sync_status()
    assert m.pod_cidr == ""
    await m.sync_status()
    assert calls == ["10.42.0.0/24"] * 2 and m.pod_cidr == "10.42.0.0/24"


async def test_awaiting_a_cidr_reads_the_node_quickly_then_at_the_usual_pace(client, clock):
    m = manager(client, clock, on_pod_cidr=lambda _c: None, await_pod_cidr=True)
    task = asyncio.create_task(m.run())
    try:
        await spin()
        start = client.node_gets
        await tick(clock, 7.5, step=0.05)  # reads at 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s
        assert client.node_gets - start == 6
        await set_cidr(client, "10.42.0.0/24")
        await tick(clock, 8)  # the next read (12.7 s) sees it
        assert m.pod_cidr == "10.42.0.0/24"
        reads = client.node_gets
        await tick(clock, 20)
        assert client.node_gets - reads == 2  # back to every 10 s
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_without_awaiting_the_node_is_read_every_status_period(client, clock):
    m = manager(client, clock, on_pod_cidr=lambda _c: None)
    task = asyncio.create_task(m.run())
    try:
        await spin()
        start = client.node_gets
        await tick(clock, 9.5)
        assert client.node_gets == start
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ---- the fake runtime's pod IPs ------------------------------------------------------------------

def sandbox(name: str) -> SandboxConfig:
    return SandboxConfig(name=name, namespace="default", uid=f"uid-{name}")


async def test_fake_runtime_takes_pod_ips_from_the_nodes_cidr():
    rt = FakeRuntime(clock=FakeClock())
    before = await rt.pod_sandbox_status(await rt.run_pod_sandbox(sandbox("a")))
    rt.update_pod_cidr("10.42.7.0/24")
    after = await rt.pod_sandbox_status(await rt.run_pod_sandbox(sandbox("b")))
    assert ipaddress.ip_address(after.ip) in ipaddress.ip_network("10.42.7.0/24")
    assert after.ip == "10.42.7.2"  # .1 is the bridge's, as with bridge + host-local
    assert (await rt.pod_sandbox_status(before.id)).ip == before.ip  # a running pod keeps its address


async def test_fake_runtime_keeps_addresses_in_use_when_the_pool_changes():
    rt = FakeRuntime(clock=FakeClock(), pod_cidr="10.42.7.0/24")
    first = await rt.pod_sandbox_status(await rt.run_pod_sandbox(sandbox("a")))
    rt.update_pod_cidr("10.42.7.0/23")  # overlaps the old range
    rt.update_pod_cidr("10.42.7.0/23")  # the same again changes nothing
    ips = {(await rt.pod_sandbox_status(await rt.run_pod_sandbox(sandbox(n)))).ip for n in "bcd"}
    assert first.ip not in ips and len(ips) == 3
