"""The node IPAM controller against an in-process API server, on a fake clock."""

from __future__ import annotations

import re
from ipaddress import IPv4Network

import pytest

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.clock import FakeClock
from kubeling.client.events import EventRecorder
from kubeling.client.informer import InformerFactory
from kubeling.client.local import LocalClient
from kubeling.controllers.manager import CONTROLLERS, parse_controllers
from kubeling.controllers.nodeipam import CIDRSet, NodeIPAMController, NodeIPAMSettings, pod_cidrs
from tests.support.eventually import eventually

NODES = registry.lookup("", "v1", "nodes")
EVENTS = registry.lookup("", "v1", "events")


# ---- settings -----------------------------------------------------------------------------------

def test_settings_default_to_k3s_cluster_cidr_and_24_bit_blocks():
    settings = NodeIPAMSettings.parse()
    assert (settings.cluster_cidr, settings.node_cidr_mask_size) == (IPv4Network("10.42.0.0/16"), 24)
    assert NodeIPAMSettings() == settings


def test_settings_drop_host_bits_as_go_parse_cidr_does():
    assert NodeIPAMSettings.parse("10.42.7.9/16", "25").cluster_cidr == IPv4Network("10.42.0.0/16")


@pytest.mark.parametrize("cidr, size, message", [
    ("10.42.0.0", 24, "invalid CIDR address: 10.42.0.0"),
    ("banana/16", 24, "invalid CIDR address"),
    ("fd00::/48", 64, "only IPv4"),
    ("10.42.0.0/16,fd00::/48", 24, "dual-stack is not supported"),
    ("10.42.0.0/16", 8, "must be between the --cluster-cidr prefix length (16) and 32"),
    ("10.42.0.0/16", 33, "must be between"),
    ("10.42.0.0/16", "x", "not an integer"),
])
def test_bad_settings_say_which_flag(cidr, size, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        NodeIPAMSettings.parse(cidr, size)


def test_nodeipam_is_on_by_default():
    assert "nodeipam" in parse_controllers("*")
    assert "nodeipam" not in parse_controllers("*,-nodeipam")
    assert next(s for s in CONTROLLERS if s.name == "nodeipam").component == "cidrAllocator"


# ---- the set of blocks --------------------------------------------------------------------------

def test_cidr_set_hands_out_blocks_round_robin_until_exhausted():
    s = CIDRSet(IPv4Network("10.0.0.0/30"), 31)
    assert [str(s.allocate_next()) for _ in range(2)] == ["10.0.0.0/31", "10.0.0.2/31"]
    assert s.allocate_next() is None
    s.release(IPv4Network("10.0.0.0/31"))
    assert str(s.allocate_next()) == "10.0.0.0/31"


def test_cidr_set_does_not_reuse_a_freed_block_at_once():
    s = CIDRSet(IPv4Network("10.42.0.0/16"), 24)
    first, second = s.allocate_next(), s.allocate_next()
    s.release(first)
    assert str(s.allocate_next()) == "10.42.2.0/24"
    assert second == IPv4Network("10.42.1.0/24")


def test_cidr_set_occupies_whatever_blocks_a_cidr_covers():
    s = CIDRSet(IPv4Network("10.42.0.0/16"), 24)
    s.occupy(IPv4Network("10.42.0.0/23"))  # two blocks
    s.occupy(IPv4Network("10.42.2.128/25"))  # part of one block: the whole block is taken
    assert s.used == 3
    assert str(s.allocate_next()) == "10.42.3.0/24"
    with pytest.raises(ValueError, match="out the range of cluster cidr 10.42.0.0/16"):
        s.occupy(IPv4Network("10.43.0.0/24"))


def test_pod_cidrs_reads_the_list_or_the_single_field():
    assert pod_cidrs({"spec": {"podCIDRs": ["10.1.0.0/24"], "podCIDR": "10.1.0.0/24"}}) == ["10.1.0.0/24"]
    assert pod_cidrs({"spec": {"podCIDR": "10.1.0.0/24"}}) == ["10.1.0.0/24"]
    assert pod_cidrs({"spec": {}}) == [] and pod_cidrs({}) == []


# ---- harness ------------------------------------------------------------------------------------

class Env:
    def __init__(self, client: LocalClient, clock: FakeClock):
        self.client, self.clock = client, clock
        self.factory = InformerFactory(client, clock=clock)
        self.recorder = EventRecorder(client, "cidrAllocator", clock=clock)
        self.ctrl: NodeIPAMController | None = None

    async def start(self, cluster_cidr: str = "10.42.0.0/16", mask: int = 24) -> NodeIPAMController:
        self.ctrl = NodeIPAMController(self.client, self.factory, self.recorder, clock=self.clock, workers=2,
                                       settings=NodeIPAMSettings.parse(cluster_cidr, mask))
        await self.factory.start()
        await self.factory.wait_for_sync(2)
        await self.ctrl.start()
        return self.ctrl

    async def stop(self):
        if self.ctrl is not None:
            await self.ctrl.stop()
        await self.factory.stop()
        await self.recorder.close()

    async def add_node(self, name: str, pod_cidr: str | None = None) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
        if pod_cidr:
            node["spec"] = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
        await self.client.create(NODES, None, node)

    async def cidr(self, name: str) -> str | None:
        spec = (await self.client.get(NODES, None, name)).get("spec") or {}
        if spec.get("podCIDRs"):
            assert spec["podCIDR"] == spec["podCIDRs"][0]
            return spec["podCIDR"]
        return None

    async def events(self, reason: str) -> list[dict]:
        await self.recorder.flush()
        return [e for e in (await self.client.list(EVENTS, "default"))["items"] if e["reason"] == reason]


@pytest.fixture
async def env():
    client = await LocalClient.start()
    e = Env(client, FakeClock())
    yield e
    await e.stop()
    await client.close()


# ---- allocation ---------------------------------------------------------------------------------

async def test_new_nodes_get_the_next_free_block(env):
    await env.start()
    for name in ("n1", "n2", "n3"):
        await env.add_node(name)
    cidrs = [await eventually(lambda n=name: env.cidr(n)) for name in ("n1", "n2", "n3")]
    assert sorted(cidrs) == ["10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"]


async def test_blocks_of_existing_nodes_are_kept_and_never_handed_out_again(env):
    await env.add_node("old-a", "10.42.0.0/24")
    await env.add_node("old-b", "10.42.2.0/24")
    await env.add_node("outsider", "192.168.5.0/24")  # outside the range: left alone
    await env.add_node("new")
    await env.start()
    assert await eventually(lambda: env.cidr("new")) == "10.42.1.0/24"
    await env.add_node("newer")
    assert await eventually(lambda: env.cidr("newer")) == "10.42.3.0/24"
    assert await env.cidr("old-a") == "10.42.0.0/24" and await env.cidr("outsider") == "192.168.5.0/24"


async def test_a_deleted_nodes_block_is_free_again(env):
    await env.start("10.42.0.0/23", 24)  # two blocks
    await env.add_node("a")
    await env.add_node("b")
    assert await eventually(lambda: env.cidr("a")) == "10.42.0.0/24"
    assert await eventually(lambda: env.cidr("b")) == "10.42.1.0/24"
    await env.client.delete(NODES, None, "a")
    await eventually(lambda: env.ctrl.cidrs.used == 1)
    await env.add_node("c")
    assert await eventually(lambda: env.cidr("c")) == "10.42.0.0/24"


async def test_an_exhausted_range_records_cidr_not_available_and_sets_nothing(env):
    await env.start("10.42.0.0/24", 24)  # one block
    await env.add_node("first")
    assert await eventually(lambda: env.cidr("first")) == "10.42.0.0/24"
    await env.add_node("second")
    events = await eventually(lambda: env.events("CIDRNotAvailable"))
    event = events[0]
    assert (event["type"], event["message"]) == ("Normal", "Node second status is now: CIDRNotAvailable")
    assert event["involvedObject"]["kind"] == "Node" and event["involvedObject"]["name"] == "second"
    assert event["involvedObject"]["uid"] == (await env.client.get(NODES, None, "second"))["metadata"]["uid"]
    assert event["source"]["component"] == "cidrAllocator"
    assert await env.cidr("second") is None

    # A freed block goes to the node that waited for one.
    await env.client.delete(NODES, None, "first")
    assert await eventually(lambda: env.cidr("second"), env.clock) == "10.42.0.0/24"


async def test_a_node_given_a_cidr_by_someone_else_keeps_it(env):
    await env.start()
    await env.add_node("manual", "10.42.0.0/24")  # e.g. kubectl patch before we got to it
    await env.add_node("auto")
    assert await eventually(lambda: env.cidr("auto")) == "10.42.1.0/24"
    assert await env.cidr("manual") == "10.42.0.0/24"


# ---- the API's side: podCIDR is set once ---------------------------------------------------------

async def test_pod_cidr_may_be_set_once_and_never_changed(env):
    await env.add_node("n1")
    await env.client.patch(NODES, None, "n1", {"spec": {"podCIDR": "10.42.9.0/24"}}, patch_type="strategic")
    assert await env.cidr("n1") == "10.42.9.0/24"  # a lone podCIDR fills podCIDRs, as conversion does
    with pytest.raises(ApiError) as e:
        await env.client.patch(NODES, None, "n1", {"spec": {"podCIDRs": ["10.42.8.0/24"]}},
                               patch_type="strategic")
    assert e.value.code == 422
    assert 'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid' in \
        e.value.message
    # podCIDR alone follows the list, as it reads back through Kubernetes' conversion.
    await env.client.patch(NODES, None, "n1", {"spec": {"podCIDR": "10.42.7.0/24"}}, patch_type="strategic")
    assert await env.cidr("n1") == "10.42.9.0/24"
    # The same value again is no change, and allowed.
    await env.client.patch(NODES, None, "n1", {"spec": {"podCIDR": "10.42.9.0/24", "podCIDRs": ["10.42.9.0/24"]}},
                           patch_type="strategic")
