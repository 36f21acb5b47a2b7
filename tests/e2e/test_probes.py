"""Probes through the whole chain with the real kubectl: `kubeling up --runtime fake`, the fake
runtime answering probes as the pod's annotations say, the kubelet's prober turning answers into
the Ready condition, restarts and Unhealthy events."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.support.cluster import Server
from tests.support.eventually import wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("kubeling-probes")
    srv = Server(data_dir=root / "data", home=root / "home", command="up")
    srv.home.mkdir()
    srv.start(["--runtime", "fake", "--node-name", "node-1"])
    yield srv
    srv.stop()


def probed_pod(name: str, annotations: dict[str, str], probes: str) -> str:
    notes = ", ".join(f"fake.kubeling.io/{k}: {v!r}" for k, v in annotations.items())
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}, annotations: {{{notes}}}}}
        spec:
          terminationGracePeriodSeconds: 1
          containers:
          - name: main
            image: busybox:1.36
        """) + textwrap.indent(probes, " " * 4)


def get_pod(server, ns: str, name: str) -> dict:
    return json.loads(server.kubectl("get", "pod", "-n", ns, name, "-o", "json").stdout)


def condition(pod: dict, kind: str) -> dict:
    return next((c for c in pod["status"].get("conditions") or [] if c["type"] == kind), {})


def events(server, ns: str, name: str, reason: str) -> list[str]:
    out = server.kubectl("get", "events", "-n", ns, "--field-selector",
                         f"involvedObject.name={name},reason={reason}", "-o", "json").stdout
    return [e["message"] for e in json.loads(out)["items"]]


def test_failing_readiness_keeps_pod_running_but_not_ready(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=probed_pod("unready", {"readiness": "fail"}, textwrap.dedent("""\
        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
          periodSeconds: 1
          failureThreshold: 1
        """)))
    wait_until(lambda: events(server, ns, "unready", "Unhealthy"), timeout=30, what="Unhealthy event")
    pod = get_pod(server, ns, "unready")
    assert pod["status"]["phase"] == "Running"
    assert (condition(pod, "Ready")["status"], condition(pod, "Ready")["reason"]) == ("False", "ContainersNotReady")
    assert condition(pod, "ContainersReady")["status"] == "False"
    status = pod["status"]["containerStatuses"][0]
    assert status["started"] is True and status["ready"] is False and status["restartCount"] == 0
    row = server.kubectl("get", "pod", "-n", ns, "unready").stdout.splitlines()[1].split()
    assert row[1:3] == ["0/1", "Running"]
    assert events(server, ns, "unready", "Unhealthy")[0].startswith("Readiness probe failed")


def test_readiness_that_starts_passing_makes_pod_ready(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=probed_pod("warming", {"readiness": "pass-after 2s"},
                                                                  textwrap.dedent("""\
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
        """)))
    wait_until(lambda: get_pod(server, ns, "warming")["status"].get("phase") == "Running", what="Running")
    assert condition(get_pod(server, ns, "warming"), "Ready").get("status") == "False"
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/warming", "--timeout=30s")
    row = server.kubectl("get", "pod", "-n", ns, "warming").stdout.splitlines()[1].split()
    assert row[1:3] == ["1/1", "Running"]


def test_failing_liveness_restarts_the_container(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=probed_pod("sick", {"liveness": "fail-after 1s"},
                                                                  textwrap.dedent("""\
        livenessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
          failureThreshold: 2
        """)))

    def restarted():
        statuses = get_pod(server, ns, "sick")["status"].get("containerStatuses") or [{}]
        return statuses[0] if statuses[0].get("restartCount", 0) >= 1 else None

    status = wait_until(restarted, timeout=60, what="a liveness restart")
    assert status["lastState"]["terminated"]["exitCode"] in (137, 143)
    assert any(m.startswith("Liveness probe failed") for m in events(server, ns, "sick", "Unhealthy"))
    assert "Container main failed liveness probe, will be restarted" in events(server, ns, "sick", "Killing")
    described = server.kubectl("describe", "pod", "-n", ns, "sick").stdout
    assert "Liveness:" in described and "tcp-socket :8080" in described


def test_startup_probe_gates_liveness_and_readiness(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=probed_pod("slowstart", {"startup": "pass-after 2s"},
                                                                  textwrap.dedent("""\
        startupProbe:
          exec: {command: ["true"]}
          periodSeconds: 1
          failureThreshold: 30
        """)))
    wait_until(lambda: get_pod(server, ns, "slowstart")["status"].get("phase") == "Running", what="Running")
    status = get_pod(server, ns, "slowstart")["status"]["containerStatuses"][0]
    assert status["started"] is False and status["ready"] is False
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/slowstart", "--timeout=30s")
    status = get_pod(server, ns, "slowstart")["status"]["containerStatuses"][0]
    assert status["started"] is True and status["ready"] is True
