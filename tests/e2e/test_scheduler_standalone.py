"""`kubeling scheduler` as its own process against a server that runs no scheduler: two
replicas share the kube-system/kube-scheduler Lease (only the holder binds pods, the standby
takes over when the leader stops), and a --config profile changes where pods go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.conftest import running_server
from tests.support.cluster import SRC
from tests.support.eventually import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """API server only: no controllers, no in-process scheduler."""
    with running_server(tmp_path_factory, "--controllers", "", "--disable-scheduler") as srv:
        yield srv


def start_scheduler(server, log_path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "kubeling", "scheduler", "--kubeconfig",
                                 str(server.kubeconfig), *extra], stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def log_text(path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def lease_holder(server) -> str:
    out = server.kubectl("get", "lease", "-n", "kube-system", "kube-scheduler", "-o", "json", check=False)
    return json.loads(out.stdout)["spec"].get("holderIdentity") or "" if out.returncode == 0 else ""


def node(name: str, cpu: str, memory: str) -> dict:
    capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "e2e": "standalone"}},
            "status": {"capacity": capacity, "allocatable": capacity,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str, scheduler_name: str = "") -> dict:
    spec = {"containers": [{"name": "c", "image": "nginx",
                            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]}
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def apply(server, *objs: dict, ns: str | None = None) -> None:
    args = ["apply", "-f", "-"] + (["-n", ns] if ns else [])
    server.kubectl(*args, input=yaml.safe_dump_all(objs))


def node_of(server, ns: str, name: str) -> str:
    out = server.kubectl("get", "pod", name, "-n", ns, "-o", "jsonpath={.spec.nodeName}")
    return out.stdout.strip()


def events(server, ns: str, reason: str) -> list[str]:
    out = server.kubectl("get", "events", "-n", ns, "--field-selector", f"reason={reason}", "-o", "json")
    return [e["message"] for e in json.loads(out.stdout)["items"]]


@pytest.fixture(scope="module")
def nodes(server):
    apply(server, node("small", "2", "4Gi"), node("big", "16", "32Gi"))


def test_only_the_leader_schedules_and_the_standby_takes_over(server, nodes, tmp_path):
    ns = "sched-ha"
    server.kubectl("create", "namespace", ns)
    first = start_scheduler(server, tmp_path / "s1.log")
    second = None
    try:
        leader = wait_until(lambda: lease_holder(server), timeout=15, what="a scheduler leader")
        second = start_scheduler(server, tmp_path / "s2.log")
        # The standby is up and has seen who leads before there is any work to do.
        wait_until(lambda: f"new leader observed: {leader!r}" in log_text(tmp_path / "s2.log"), timeout=15,
                   what="the standby to observe the leader")
        apply(server, pod("one"), ns=ns)
        assert wait_until(lambda: node_of(server, ns, "one"), timeout=15, what="pod one bound") == "big"
        assert wait_until(lambda: events(server, ns, "Scheduled"), what="a Scheduled event") == [
            f"Successfully assigned {ns}/one to big"]
        assert lease_holder(server) == leader
        assert events(server, ns, "FailedScheduling") == []  # the standby never tried to bind it
        assert f"acquired lease kube-system/kube-scheduler as {leader}" in log_text(tmp_path / "s1.log")
        assert "acquired lease" not in log_text(tmp_path / "s2.log")

        stop(first)  # a clean stop releases the Lease: the standby takes it at once
        new_leader = wait_until(lambda: (h := lease_holder(server)) and h != leader and h, timeout=15,
                                what="the standby to lead")
        assert second.poll() is None
        assert f"acquired lease kube-system/kube-scheduler as {new_leader}" in log_text(tmp_path / "s2.log")
        apply(server, pod("two"), ns=ns)
        assert wait_until(lambda: node_of(server, ns, "two"), timeout=15, what="pod two bound") == "big"
        assert sorted(wait_until(lambda: (e := events(server, ns, "Scheduled")) and len(e) == 2 and e)) == [
            f"Successfully assigned {ns}/one to big", f"Successfully assigned {ns}/two to big"]
    finally:
        stop(first)
        if second is not None:
            stop(second)


def test_a_config_file_profile_changes_the_placement(server, nodes, tmp_path):
    ns = "sched-config"
    server.kubectl("create", "namespace", ns)
    config = tmp_path / "scheduler.yaml"
    config.write_text(textwrap.dedent("""\
        apiVersion: kubescheduler.config.k8s.io/v1
        kind: KubeSchedulerConfiguration
        percentageOfNodesToScore: 100
        profiles:
        - schedulerName: bin-packer
          pluginConfig:
          - name: NodeResourcesFit
            args:
              scoringStrategy:
                type: MostAllocated
                resources:
                - {name: cpu, weight: 1}
                - {name: memory, weight: 1}
        """))
    proc = start_scheduler(server, tmp_path / "s.log", "--config", str(config), "--leader-elect", "false")
    try:
        apply(server, pod("packed", scheduler_name="bin-packer"), pod("default-one"), ns=ns)
        # MostAllocated: the fullest node that fits, where the default profile picks the emptiest.
        assert wait_until(lambda: node_of(server, ns, "packed"), timeout=15, what="packed bound") == "small"
        # This process has no default-scheduler profile: the other pod is left alone.
        assert node_of(server, ns, "default-one") == ""
        assert events(server, ns, "FailedScheduling") == []
    finally:
        stop(proc)
