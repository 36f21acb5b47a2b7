"""Choosing and opening a node agent's runtime (the parts that need no containerd)."""

from __future__ import annotations

import pytest

from kubeling.kubelet import containerd, runtimes
from kubeling.kubelet.runtime.fake import FakeRuntime


def test_auto_picks_cri_where_containerd_can_run(monkeypatch):
    monkeypatch.setattr(containerd, "available", lambda: None)
    assert runtimes.choose("auto") == ("cri", "")


def test_auto_falls_back_to_fake_and_says_why(monkeypatch):
    monkeypatch.setattr(containerd, "available", lambda: "runc not found on PATH (install the runc package)")
    kind, why = runtimes.choose("auto")
    assert kind == "fake"
    assert why == ("using the fake runtime (containers are simulated): runc not found on PATH "
                   "(install the runc package)")


@pytest.mark.parametrize("asked", ["fake", "cri"])
def test_an_explicit_choice_is_kept(monkeypatch, asked):
    monkeypatch.setattr(containerd, "available", lambda: "not root")
    assert runtimes.choose(asked) == (asked, "")


@pytest.mark.parametrize(("cidr", "bridge"), [("10.42.0.0/24", "kl-10-42-0"), ("192.168.255.0/24", "kl-192-168-255")])
def test_bridge_named_after_the_pod_cidr_fits_an_interface_name(cidr, bridge):
    assert runtimes.bridge_name(cidr) == bridge
    assert len(bridge) <= 15


async def test_fake_needs_nothing():
    opened = await runtimes.open_runtime("fake", None)
    assert isinstance(opened.runtime, FakeRuntime) and opened.on_pod_cidr is None
    await opened.close()


async def test_cri_needs_a_data_dir():
    with pytest.raises(ValueError, match="needs a data dir"):
        await runtimes.open_runtime("cri", None)
    with pytest.raises(ValueError, match="unknown runtime"):
        await runtimes.open_runtime("docker", None)
