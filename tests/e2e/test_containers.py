"""The whole chain with real parts only: `kubeling up` (SQLite store, its own containerd over
CRI, CNI bridge networking) driven by the real kubectl. A Deployment of a locally built busybox
image serving a ConfigMap over HTTP rolls out, every pod IP answers, logs and exec work, a
rolling image update replaces the containers, and deleting it leaves no container or sandbox in
containerd. A second agent (its own containerd) joins and pods spread over both nodes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from kubeling.images import build_busybox
from kubeling.kubelet.containerd import Containerd
from kubeling.kubelet.runtime.cri import CRIRuntime
from tests.support.cluster import Server, start_component, stop_process
from tests.support.containerd import requires_containerd
from tests.support.eventually import wait_until

pytestmark = requires_containerd

IMAGE, NEXT_IMAGE = "busybox:1.36", "busybox:1.37"
CONTENT = "hello from a real container\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("kubeling-cri")
    data = root / "data"
    images = data / "images"  # the air-gap directory `kubeling up` imports at start
    images.mkdir(parents=True)
    build_busybox(images / "busybox-1.36.tar", f"docker.io/library/{IMAGE}")
    build_busybox(images / "busybox-1.37.tar", f"docker.io/library/{NEXT_IMAGE}",
                  extra_file=("etc/image-tag", b"1.37\n"))
    srv = Server(data_dir=data, home=root / "home", command="up")
    srv.home.mkdir()
    srv.start(["--runtime", "cri", "--node-name", "node-1"], timeout=60)
    yield srv
    srv.stop(timeout=60)


def web(name: str, replicas: int, spread: bool = False) -> str:
    pod_spec = {
        "terminationGracePeriodSeconds": 2,
        "containers": [{
            "name": "web", "image": IMAGE,
            "command": ["sh", "-c", "echo serving $(hostname); exec httpd -f -v -p 8080 -h /www"],
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1},
            "volumeMounts": [{"name": "content", "mountPath": "/www"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        }],
        "volumes": [{"name": "content", "configMap": {"name": f"{name}-content"}}],
    }
    if spread:
        pod_spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": name}}}]
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-content"},
         "data": {"index.html": CONTENT}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}},
    ]
    return yaml.safe_dump_all(docs)


def running_pods(server, ns: str, app: str) -> list[dict]:
    out = server.kubectl("get", "pods", "-n", ns, "-l", f"app={app}", "-o", "json").stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


def http_get(ip: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as resp:
        return resp.read().decode()


def cri(data_dir: Path, call):
    """Run `call(runtime)` against the containerd that the agent with this data dir runs."""
    async def go():
        runtime = CRIRuntime(Containerd(data_dir).endpoint, pod_log_root=data_dir / "pod-logs")
        await runtime.start()
        try:
            return await call(runtime)
        finally:
            await runtime.close()

    return asyncio.run(go())


def sandboxes_of(data_dir: Path) -> list[dict]:
    """Every pod sandbox in the containerd of the agent with this data dir."""
    async def call(runtime):
        found = []
        for sb in await runtime.list_pod_sandboxes():
            status = await runtime.pod_sandbox_status(sb.id)
            found.append({"id": sb.id, "state": status.state, "ip": status.ip})
        return found
    return cri(data_dir, call)


def test_deployment_runs_real_containers(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=web("web", 3))
    server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=120s", timeout=150)
    pods = running_pods(server, ns, "web")
    assert len(pods) == 3
    node = json.loads(server.kubectl("get", "node", "node-1", "-o", "json").stdout)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    pod_cidr = node["spec"]["podCIDR"]
    prefix = pod_cidr.rsplit(".", 2)[0]
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 3 and all(ip.startswith(prefix + ".") for ip in ips), (ips, pod_cidr)
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        assert status["ready"] and status["containerID"].startswith("containerd://")
        assert "running" in status["state"]

    # The node reaches every pod over the CNI bridge, and each serves the ConfigMap's content.
    for ip in ips:
        assert http_get(ip) == CONTENT

    name = pods[0]["metadata"]["name"]
    logs = server.kubectl("logs", "-n", ns, name).stdout
    assert logs.startswith(f"serving {name}\n")
    assert "response:200" in logs  # httpd -v logs the probe's and our requests to stderr
    tail = server.kubectl("logs", "-n", ns, name, "--tail=1", "--timestamps").stdout.splitlines()
    assert len(tail) == 1 and tail[0][:4].isdigit()

    out = server.kubectl("exec", "-n", ns, name, "--", "cat", "/www/index.html").stdout
    assert out == CONTENT
    failed = server.kubectl("exec", "-n", ns, name, "--", "sh", "-c", "echo oops >&2; exit 3", check=False)
    assert failed.returncode == 3
    assert "oops" in failed.stderr and "command terminated with exit code 3" in failed.stderr
    piped = server.kubectl("exec", "-i", "-n", ns, name, "--", "sh", "-c", "read line; echo got $line",
                           input="hello\n")
    assert piped.stdout == "got hello\n"
    # The container's own view: its hostname is the pod's.
    assert server.kubectl("exec", "-n", ns, name, "--", "hostname").stdout.strip() == name

    # A rolling update replaces every container with one of the new image.
    old_ids = {p["status"]["containerStatuses"][0]["containerID"] for p in pods}
    old_image = pods[0]["status"]["containerStatuses"][0]["imageID"]
    server.kubectl("set", "image", "-n", ns, "deployment/web", f"web={NEXT_IMAGE}")
    server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=120s", timeout=150)

    def replaced():
        now = running_pods(server, ns, "web")
        return now if len(now) == 3 and all(p["spec"]["containers"][0]["image"] == NEXT_IMAGE for p in now) else None

    pods = wait_until(replaced, timeout=60, what="only new pods")
    for pod in pods:
        status = pod["status"]["containerStatuses"][0]
        assert status["containerID"] not in old_ids
        assert status["imageID"] != old_image and status["image"].endswith(NEXT_IMAGE)
        assert http_get(pod["status"]["podIP"]) == CONTENT
    assert server.kubectl("exec", "-n", ns, pods[0]["metadata"]["name"], "--", "cat", "/etc/image-tag").stdout \
        == "1.37\n"

    # Deleting the Deployment removes every container and sandbox from containerd.
    server.kubectl("delete", "-n", ns, "deployment/web", "--wait=true", "--timeout=60s")
    wait_until(lambda: not running_pods(server, ns, "web") and not server.kubectl(
        "get", "pods", "-n", ns, "-o", "name").stdout.strip(), timeout=60, what="pods gone")
    wait_until(lambda: not sandboxes_of(server.data_dir), timeout=30, what="no sandboxes in containerd")

    async def containers(runtime):
        return await runtime.list_containers()

    assert cri(server.data_dir, containers) == []


def test_two_agents_share_the_pods(server, ns, tmp_path):
    agent_dir = tmp_path / "agent"
    (agent_dir / "images").mkdir(parents=True)
    for tar in (server.data_dir / "images").glob("*.tar"):  # the same air-gap images on the second node
        (agent_dir / "images" / tar.name).symlink_to(tar)
    agent = start_component(server, "agent", tmp_path / "agent.log", "--node-name", "node-2", "--runtime", "cri",
                            "--data-dir", str(agent_dir), "--kubelet-port", "0")
    try:
        def node2_ready():
            out = server.kubectl("get", "node", "node-2", "-o", "json", check=False)
            if out.returncode:
                return False
            conditions = json.loads(out.stdout)["status"].get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        wait_until(node2_ready, timeout=60, what="node-2 Ready")
        server.kubectl("apply", "-n", ns, "-f", "-", input=web("spread", 4, spread=True))
        server.kubectl("rollout", "status", "-n", ns, "deployment/spread", "--timeout=120s", timeout=150)
        pods = running_pods(server, ns, "spread")
        by_node: dict[str, list[str]] = {}
        for pod in pods:
            by_node.setdefault(pod["spec"]["nodeName"], []).append(pod["status"]["podIP"])
        assert sorted(len(v) for v in by_node.values()) == [2, 2] and set(by_node) == {"node-1", "node-2"}
        nodes = {n["metadata"]["name"]: n["spec"]["podCIDR"]
                 for n in json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)["items"]}
        assert nodes["node-1"] != nodes["node-2"]
        for node, ips in by_node.items():
            prefix = nodes[node].rsplit(".", 2)[0] + "."
            for ip in ips:
                assert ip.startswith(prefix), (node, ip, nodes[node])
                assert http_get(ip) == CONTENT
        # node-2's pods live in node-2's own containerd.
        assert len([s for s in sandboxes_of(agent_dir) if s["state"] == "SANDBOX_READY"]) == 2
        server.kubectl("delete", "-n", ns, "deployment/spread", "--wait=true", "--timeout=60s")
        wait_until(lambda: not server.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip(),
                   timeout=60, what="pods gone")
        wait_until(lambda: not sandboxes_of(agent_dir), timeout=30, what="node-2's sandboxes removed")
    finally:
        stop_process(agent, timeout=30)
        # A node whose agent is gone stays Ready until its Lease expires; take it out at once, as
        # an operator would, so the next tests' pods land on node-1.
        server.kubectl("delete", "node", "node-2", "--ignore-not-found")


def test_missing_image_backs_off(server, ns):
    # No registry is reachable here: a loopback port where nothing listens refuses at once.
    image = "127.0.0.1:9/nothing/here:1"
    server.kubectl("run", "-n", ns, "nopull", f"--image={image}", "--restart=Never")

    def backing_off():
        pod = json.loads(server.kubectl("get", "pod", "-n", ns, "nopull", "-o", "json").stdout)
        waiting = ((pod["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
        return waiting.get("reason") == "ImagePullBackOff"

    wait_until(backing_off, timeout=60, what="ImagePullBackOff")
    described = server.kubectl("describe", "pod", "-n", ns, "nopull").stdout
    assert f'Pulling image "{image}"' in described
    assert f'Failed to pull image "{image}"' in described
    assert "Error: ErrImagePull" in described and "Error: ImagePullBackOff" in described
    assert f'Back-off pulling image "{image}"' in described
    row = server.kubectl("get", "pod", "-n", ns, "nopull").stdout.splitlines()[1].split()
    assert row[2] in ("ImagePullBackOff", "ErrImagePull")


def pod_manifest(name: str, spec: dict, annotations: dict | None = None) -> str:
    md = {"name": name, "labels": {"app": name}}
    if annotations:
        md["annotations"] = annotations
    spec.setdefault("terminationGracePeriodSeconds", 2)  # sh as PID 1 ignores SIGTERM: no 30 s waits
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec})


def get_pod(server, ns: str, name: str) -> dict:
    return json.loads(server.kubectl("get", "pod", "-n", ns, name, "-o", "json").stdout)


def test_container_spec_reaches_the_container(server, ns):
    """Init containers, env from every source, and each volume kind, seen from inside a real container."""
    server.kubectl("create", "configmap", "-n", ns, "settings", "--from-literal=color=blue",
                   "--from-literal=size=large")
    server.kubectl("create", "secret", "generic", "-n", ns, "creds", "--from-literal=password=s3cret")
    spec = {
        "restartPolicy": "Never",
        "initContainers": [{"name": "init", "image": IMAGE,
                            "command": ["sh", "-c", "echo prepared-by-init > /scratch/ready"],
                            "volumeMounts": [{"name": "work", "mountPath": "/scratch"}]}],
        "containers": [{
            "name": "main", "image": IMAGE, "workingDir": "/scratch",
            "command": ["sh", "-c", "cat ready; echo COLOR=$COLOR SIZE=$size PASS=$PASS POD=$POD_NAME NODE=$NODE "
                                    "MEM=$MEM_LIMIT; cat /creds/password; echo; cat /info/labels; echo; "
                                    "cat /host/marker; sleep 3600"],
            "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                             "divisor": "1Mi"}}}],
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "resources": {"limits": {"memory": "64Mi", "cpu": "100m"}},
            "volumeMounts": [{"name": "work", "mountPath": "/scratch"},
                             {"name": "creds", "mountPath": "/creds"},
                             {"name": "info", "mountPath": "/info"},
                             {"name": "host", "mountPath": "/host", "readOnly": True}],
        }],
        "volumes": [{"name": "work", "emptyDir": {}},
                    {"name": "creds", "secret": {"secretName": "creds"}},
                    {"name": "info", "downwardAPI": {"items": [{"path": "labels",
                                                                "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    {"name": "host", "hostPath": {"path": str(server.data_dir / "hostpath-" / ns),
                                                  "type": "DirectoryOrCreate"}}],
    }
    host_dir = server.data_dir / "hostpath-" / ns
    host_dir.mkdir(parents=True)
    (host_dir / "marker").write_text("from the host\n")
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_manifest("spec", spec))
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/spec", "--timeout=60s", timeout=90)
    pod = get_pod(server, ns, "spec")
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    logs = wait_until(lambda: (out := server.kubectl("logs", "-n", ns, "spec").stdout).count("\n") >= 5 and out,
                      timeout=20, what="the container's output")
    assert logs.splitlines()[:5] == [
        "prepared-by-init",
        "COLOR=blue SIZE=large PASS=s3cret POD=spec NODE=node-1 MEM=64",
        "s3cret",
        'app="spec"',
        "from the host",
    ]
    # Secret and configMap-like volumes are read-only, as the kubelet mounts them.
    denied = server.kubectl("exec", "-n", ns, "spec", "--", "sh", "-c", "echo x > /creds/new", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr


def test_host_network_pod_uses_the_node_address(server, ns):
    spec = {"hostNetwork": True, "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"]}]}
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_manifest("hostnet", spec))
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/hostnet", "--timeout=60s", timeout=90)
    pod = get_pod(server, ns, "hostnet")
    assert pod["status"]["podIP"] == pod["status"]["hostIP"]
    # It sees the node's interfaces, the CNI bridge among them.
    links = server.kubectl("exec", "-n", ns, "hostnet", "--", "ip", "-o", "link").stdout
    assert "kl-" in links


def test_restarts_and_logs_of_previous_instances(server, ns):
    spec = {"containers": [{"name": "main", "image": IMAGE,
                            "command": ["sh", "-c", "echo run at $(date +%s%N); sleep 1; echo bye; exit 1"]}]}
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_manifest("crashy", spec))

    def restarted():
        statuses = get_pod(server, ns, "crashy")["status"].get("containerStatuses") or [{}]
        return statuses[0] if statuses[0].get("restartCount", 0) >= 1 else None

    status = wait_until(restarted, timeout=60, what="a restart")
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Error"
    previous = server.kubectl("logs", "-n", ns, "crashy", "--previous").stdout.splitlines()
    assert previous[0].startswith("run at ") and previous[1] == "bye"
    # -f follows the current instance until it exits.
    followed = server.kubectl("logs", "-n", ns, "crashy", "-f", timeout=30).stdout.splitlines()
    assert followed and followed[0].startswith("run at ") and followed[-1] == "bye"
    assert followed[0] != previous[0]


def test_real_probes_restart_and_gate_readiness(server, ns):
    spec = {"containers": [{
        "name": "main", "image": IMAGE,
        "command": ["sh", "-c", "touch /tmp/alive; (sleep 2; httpd -p 9000 -h /tmp) & sleep 3600"],
        "readinessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1},
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1},
    }]}
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_manifest("probed", spec))
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/probed", "--timeout=60s", timeout=90)
    server.kubectl("exec", "-n", ns, "probed", "--", "rm", "/tmp/alive")

    def restarted():
        statuses = get_pod(server, ns, "probed")["status"].get("containerStatuses") or [{}]
        return statuses[0].get("restartCount", 0) >= 1

    wait_until(restarted, timeout=60, what="a liveness restart")
    events = server.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=probed",
                            "-o", "json").stdout
    messages = [e["message"] for e in json.loads(events)["items"]]
    assert any(m.startswith("Liveness probe failed: cat: can't open '/tmp/alive'") for m in messages), messages
    assert "Container main failed liveness probe, will be restarted" in messages


def test_exec_with_a_terminal(server, ns):
    import os
    import pty
    import subprocess

    spec = {"containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "3600"]}]}
    server.kubectl("apply", "-n", ns, "-f", "-", input=pod_manifest("tty", spec))
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/tty", "--timeout=60s", timeout=90)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(["kubectl", "exec", "-it", "-n", ns, "tty", "--", "sh"], stdin=follower,
                            stdout=follower, stderr=follower, env=server.env(), start_new_session=True)
    os.close(follower)
    try:
        os.write(leader, b"echo $((6*7)); tty; exit 5\n")
        out = b""
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            out += chunk
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    text = out.decode(errors="replace")
    assert "42" in text and "/dev/pts/" in text, text
    assert proc.returncode == 5
