"""The scheduler, driven by the real kubectl: Node objects with different capacities, labels
and taints (no kubelet needed, as in kube-scheduler's scheduler_perf)."""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter

import pytest
import yaml

from tests.support.eventually import wait_until


def node(name: str, cpu: str = "4", memory: str = "8Gi", zone: str = "", taints: list | None = None,
         labels: dict | None = None) -> dict:
    lbls = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}
    if zone:
        lbls["topology.kubernetes.io/zone"] = zone
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": lbls},
           "spec": {"taints": taints} if taints else {},
           "status": {"capacity": capacity, "allocatable": capacity,
                      "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                      "message": "kubelet is posting ready status"}]}}
    return obj


def apply(server, *objs: dict) -> None:
    server.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def pods_by_node(server, ns: str, selector: str = "") -> Counter:
    args = ["get", "pods", "-n", ns, "-o", "json"] + (["-l", selector] if selector else [])
    items = json.loads(server.kubectl(*args).stdout)["items"]
    return Counter(p["spec"].get("nodeName") or "" for p in items)


@pytest.fixture(scope="module")
def nodes(server):
    apply(server,
          node("small-a", cpu="1", zone="zone-a"),
          node("big-a", cpu="8", zone="zone-a"),
          node("big-b", cpu="8", zone="zone-b"),
          node("big-c", cpu="8", zone="zone-c"),
          node("gpu-1", cpu="16", zone="zone-c", labels={"accelerator": "gpu"},
               taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    return ["small-a", "big-a", "big-b", "big-c", "gpu-1"]


def test_deployment_spreads_across_zones(server, nodes, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: spread}
        spec:
          replicas: 6
          selector: {matchLabels: {app: spread}}
          template:
            metadata: {labels: {app: spread}}
            spec:
              topologySpreadConstraints:
              - maxSkew: 1
                topologyKey: topology.kubernetes.io/zone
                whenUnsatisfiable: DoNotSchedule
                labelSelector: {matchLabels: {app: spread}}
              containers:
              - name: main
                image: nginx
                resources: {requests: {cpu: 100m, memory: 64Mi}}
        """))
    by_node = wait_until(lambda: (c := pods_by_node(server, ns, "app=spread")) and "" not in c and
                         sum(c.values()) == 6 and c, what="6 scheduled pods")
    zone_of = {"small-a": "a", "big-a": "a", "big-b": "b", "big-c": "c", "gpu-1": "c"}
    zones = Counter()
    for node_name, n in by_node.items():
        zones[zone_of[node_name]] += n
    assert zones == {"a": 2, "b": 2, "c": 2}
    assert "gpu-1" not in by_node  # tainted: nothing here tolerates it
    pod = json.loads(server.kubectl("get", "pods", "-n", ns, "-l", "app=spread", "-o", "json").stdout)["items"][0]
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["PodScheduled"]["status"] == "True"
    events = server.kubectl("get", "events", "-n", ns, "--field-selector", "reason=Scheduled", "-o", "json").stdout
    messages = [e["message"] for e in json.loads(events)["items"]]
    name = pod["metadata"]["name"]
    assert f"Successfully assigned {ns}/{name} to {pod['spec']['nodeName']}" in messages


def test_impossible_pod_explains_why_and_schedules_once_a_node_is_added(server, nodes, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: huge}
        spec:
          containers:
          - name: main
            image: nginx
            resources: {requests: {cpu: "12"}}
        """))
    expected = ("0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
                "4 Insufficient cpu. preemption: 0/5 nodes are available: "
                "1 Preemption is not helpful for scheduling, 4 No preemption victims found for incoming pod.")

    def described():
        out = server.kubectl("describe", "pod", "-n", ns, "huge").stdout
        return out if "FailedScheduling" in out else None

    out = wait_until(described, what="FailedScheduling event")
    assert re.search(r"Warning\s+FailedScheduling\s+\S+\s+default-scheduler\s+" + re.escape(expected), out), out
    pod = json.loads(server.kubectl("get", "pod", "-n", ns, "huge", "-o", "json").stdout)
    cond = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"][0]
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", expected)

    apply(server, node("huge-node", cpu="32", zone="zone-d"))
    wait_until(lambda: json.loads(server.kubectl("get", "pod", "-n", ns, "huge", "-o", "json").stdout)
               ["spec"].get("nodeName") == "huge-node", what="the pod to land on the new node")


def test_node_selector_and_toleration(server, nodes, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: gpu-job}
        spec:
          nodeSelector: {accelerator: gpu}
          tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]
          containers: [{name: main, image: nginx}]
        """))
    wait_until(lambda: json.loads(server.kubectl("get", "pod", "-n", ns, "gpu-job", "-o", "json").stdout)
               ["spec"].get("nodeName") == "gpu-1", what="gpu-job on gpu-1")
