"""`kubeling up --runtime fake` with the real kubectl: the whole chain from a Deployment to
Running pods on a kubelet, crash loops, graceful deletion, and pods moving off a dead node."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
import yaml

from tests.support.cluster import Server, start_component, stop_process
from tests.support.eventually import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("kubeling-up")
    srv = Server(data_dir=root / "data", home=root / "home", command="up")
    srv.home.mkdir()
    srv.start(["--runtime", "fake", "--node-name", "node-1"])
    yield srv
    srv.stop()


def pods(server, ns: str, selector: str = "") -> list[dict]:
    args = ["get", "pods", "-n", ns, "-o", "json"] + (["-l", selector] if selector else [])
    return json.loads(server.kubectl(*args).stdout)["items"]


def deployment(name: str, replicas: int = 3, tolerations: list | None = None) -> str:
    spec = {"terminationGracePeriodSeconds": 5, "containers": [{"name": "main", "image": "busybox:1.36"}]}
    if tolerations:
        spec["tolerations"] = tolerations
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name},
                                           "annotations": {"fake.kubeling.io/logs": f"hello from {name}"}},
                              "spec": spec}}})


def test_node_is_registered_ready(server):
    node = json.loads(server.kubectl("get", "node", "node-1", "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    assert node["status"]["allocatable"]["pods"] == "110"
    lease = json.loads(server.kubectl("get", "lease", "-n", "kube-node-lease", "node-1", "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == "node-1"


def test_deployment_runs_and_logs(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=deployment("web"))
    server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    lines = server.kubectl("get", "pods", "-n", ns).stdout.splitlines()
    assert len(lines) == 4
    for line in lines[1:]:
        assert line.split()[1:3] == ["1/1", "Running"]
    pod = pods(server, ns)[0]
    assert pod["spec"]["nodeName"] == "node-1" and pod["status"]["podIP"]
    statuses = pod["status"]["containerStatuses"]
    assert statuses[0]["ready"] and statuses[0]["containerID"] and "running" in statuses[0]["state"]
    # kubectl -> API server pods/log proxy -> the kubelet's HTTPS log endpoint -> the runtime
    logs = server.kubectl("logs", "-n", ns, pod["metadata"]["name"]).stdout
    assert logs.strip() == "hello from web"
    stamped = server.kubectl("logs", "-n", ns, pod["metadata"]["name"], "--timestamps").stdout
    assert stamped.strip().endswith(" hello from web") and stamped[:4].isdigit()
    assert server.kubectl("logs", "-n", ns, "deploy/web").stdout.strip() == "hello from web"


def test_crashing_container_backs_off(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: crasher
          annotations: {fake.kubeling.io/exit-after: "0.2s", fake.kubeling.io/exit-code: "1"}
        spec:
          containers: [{name: main, image: busybox:1.36}]
        """))

    def crash_looping():
        pod = json.loads(server.kubectl("get", "pod", "-n", ns, "crasher", "-o", "json").stdout)
        status = (pod["status"].get("containerStatuses") or [{}])[0]
        waiting = (status.get("state") or {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) >= 1 else None

    status = wait_until(crash_looping, timeout=40, what="CrashLoopBackOff")
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Error"
    row = server.kubectl("get", "pod", "-n", ns, "crasher").stdout.splitlines()[1].split()
    assert row[2] == "CrashLoopBackOff"


def test_delete_is_graceful(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: slow-stop
          annotations: {fake.kubeling.io/stop-delay: "1.5s"}
        spec:
          terminationGracePeriodSeconds: 10
          containers: [{name: main, image: busybox:1.36}]
        """))
    wait_until(lambda: json.loads(server.kubectl("get", "pod", "-n", ns, "slow-stop", "-o", "json").stdout)
               ["status"].get("phase") == "Running", what="Running")
    start = time.monotonic()
    server.kubectl("delete", "pod", "-n", ns, "slow-stop", "--timeout=30s")
    took = time.monotonic() - start
    assert 1.4 <= took < 10, took  # waited for the container to stop, not for the whole grace period
    events = server.kubectl("get", "events", "-n", ns, "--field-selector", "reason=Killing", "-o", "json").stdout
    assert any("Stopping container main" in e["message"] for e in json.loads(events)["items"])


def test_pods_move_off_a_node_whose_agent_stops(server, ns, tmp_path):
    agent = start_component(server, "agent", tmp_path / "agent.log", "--node-name", "node-2", "--runtime", "fake",
                            "--kubelet-port", "0")
    try:
        wait_until(lambda: "node-2" in server.kubectl("get", "nodes", "-o", "name").stdout, what="node-2")
        server.kubectl("cordon", "node-1")
        tolerate = [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 1} for k in ("unreachable", "not-ready")]
        server.kubectl("apply", "-n", ns, "-f", "-", input=deployment("mover", replicas=2, tolerations=tolerate))
        server.kubectl("rollout", "status", "-n", ns, "deployment/mover", "--timeout=60s")
        assert {p["spec"]["nodeName"] for p in pods(server, ns, "app=mover")} == {"node-2"}
        server.kubectl("uncordon", "node-1")
        stop_process(agent, sig=9)  # the node dies: no more heartbeats

        def node_not_ready():
            node = json.loads(server.kubectl("get", "node", "node-2", "-o", "json").stdout)
            ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
            return ready["status"] == "Unknown"

        wait_until(node_not_ready, timeout=70, what="node-2 Ready=Unknown")
        assert "NotReady" in server.kubectl("get", "node", "node-2").stdout

        def moved():
            running = [p for p in pods(server, ns, "app=mover") if not p["metadata"].get("deletionTimestamp")]
            return len(running) == 2 and all(p["spec"].get("nodeName") == "node-1" for p in running)

        wait_until(moved, timeout=60, what="pods to move to node-1")
    finally:
        stop_process(agent)
