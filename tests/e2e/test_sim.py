"""`kubeling sim --nodes 20` against a real server, driven by the real kubectl: twenty
simulated kubelets in one process register Ready nodes, run a 40-replica Deployment spread
over them, and tear its pods down when it scales to zero."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml

from tests.support.cluster import start_component, stop_process
from tests.support.eventually import wait_until

NODES = 20
REPLICAS = 40
PREFIX = "sim-"
PULLED = "nginx:1.27"  # `--image`: on every node from the start


@pytest.fixture(scope="module")
def sim(server, tmp_path_factory):
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    proc = start_component(server, "sim", log, "--nodes", str(NODES), "--name-prefix", PREFIX, "--image", PULLED)
    try:
        yield proc
    finally:
        stop_process(proc)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-4000:]


def ready_nodes(server) -> dict[str, str]:
    """Node name -> its READY column, from what `kubectl get nodes` prints."""
    lines = server.kubectl("get", "nodes", "--no-headers").stdout.splitlines()
    return {cols[0]: cols[1] for cols in (line.split() for line in lines)}


def pods(server, ns: str) -> list[dict]:
    return json.loads(server.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]


def deployment(name: str, replicas: int) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"terminationGracePeriodSeconds": 0,
                                       "containers": [{"name": "main", "image": "busybox:1.36",
                                                       "resources": {"requests": {"cpu": "100m"}}}]}}}})


def test_every_simulated_node_is_ready(server, sim):
    want = {f"{PREFIX}{i}": "Ready" for i in range(NODES)}
    wait_until(lambda: ready_nodes(server) == want, timeout=15, what=f"{NODES} Ready nodes")
    node = json.loads(server.kubectl("get", "node", f"{PREFIX}7", "-o", "json").stdout)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == f"{PREFIX}7"
    assert node["status"]["allocatable"]["pods"] == "110"
    names = [n for image in node["status"].get("images") or [] for n in image["names"]]
    assert any(n.endswith(f"/{PULLED}") for n in names), names
    # Each node keeps its own Lease, held by itself.
    leases = json.loads(server.kubectl("get", "leases", "-n", "kube-node-lease", "-o", "json").stdout)["items"]
    holders = {lease["metadata"]["name"]: lease["spec"]["holderIdentity"] for lease in leases}
    assert {name: holders.get(name) for name in want} == {name: name for name in want}
    # Distinct InternalIPs: the sim must not give every node the same address.
    nodes = json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    ips = {a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
    assert len(ips) == NODES


def test_deployment_spreads_runs_and_scales_to_zero(server, sim, ns):
    wait_until(lambda: list(ready_nodes(server).values()).count("Ready") == NODES, timeout=15, what="nodes Ready")
    server.kubectl("apply", "-n", ns, "-f", "-", input=deployment("web", REPLICAS))
    server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=25s", timeout=30)

    lines = server.kubectl("get", "pods", "-n", ns, "--no-headers").stdout.splitlines()
    assert len(lines) == REPLICAS
    assert Counter(tuple(line.split()[1:3]) for line in lines) == {("1/1", "Running"): REPLICAS}
    items = pods(server, ns)
    per_node = Counter(p["spec"]["nodeName"] for p in items)
    assert set(per_node) <= {f"{PREFIX}{i}" for i in range(NODES)}
    # The scheduler's spreading (BalancedAllocation, LeastAllocated) over identical nodes.
    assert len(per_node) >= NODES // 2, per_node
    assert max(per_node.values()) <= 4, per_node
    # Every pod got an address from its own node's pod CIDR, and its node's IP as hostIP.
    assert len({p["status"]["podIP"] for p in items}) == REPLICAS
    node_ips = {n["metadata"]["name"]: n["status"]["addresses"][0]["address"]
                for n in json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    assert all(p["status"]["hostIP"] == node_ips[p["spec"]["nodeName"]] for p in items)

    server.kubectl("scale", "-n", ns, "deployment/web", "--replicas=0")
    wait_until(lambda: not pods(server, ns), timeout=15, what="all pods gone")
    status = json.loads(server.kubectl("get", "-n", ns, "deployment/web", "-o", "json").stdout)["status"]
    assert status.get("replicas", 0) == 0 and status.get("availableReplicas", 0) == 0
