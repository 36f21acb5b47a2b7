"""Deployments, ReplicaSets, garbage collection and namespaces, driven by the real kubectl
against a kubeling server running its controller-manager. Pods are marked Running/Ready by
a stand-in kubelet (as kwok does) until real kubelets exist."""

from __future__ import annotations

import json
import re
import textwrap
import threading
import time

import pytest

from kubernetes import client, config, watch

from tests.support.eventually import wait_until
from tests.support.fake_kubelet import FakeKubelet

DEPLOY = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: {name}
    spec:
      replicas: {replicas}
      selector:
        matchLabels: {{app: {name}}}
      strategy:
        type: RollingUpdate
        rollingUpdate: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}
      template:
        metadata:
          labels: {{app: {name}}}
        spec:
          containers:
          - name: main
            image: {image}
    """)


def manifest(name: str, image: str = "nginx:1.25", replicas: int = 3, surge: int = 1, unavailable: int = 1) -> str:
    return DEPLOY.format(name=name, image=image, replicas=replicas, surge=surge, unavailable=unavailable)


@pytest.fixture(scope="module")
def kubelet(server):
    with FakeKubelet(str(server.kubeconfig), delay=0.05) as k:
        yield k




def get_json(server, *args: str) -> dict:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)




def owned_by(obj: dict, owner: dict) -> bool:
    refs = obj["metadata"].get("ownerReferences") or []
    return any(r["uid"] == owner["metadata"]["uid"] and r.get("controller") and r.get("blockOwnerDeletion")
               for r in refs)


def test_deployment_creates_one_replicaset_and_owned_pods(server, kubelet, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=manifest("web"))
    server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    deploy = get_json(server, "-n", ns, "deployment", "web")
    rss = get_json(server, "-n", ns, "replicasets")["items"]
    assert len(rss) == 1
    rs = rss[0]
    assert owned_by(rs, deploy)
    template_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{template_hash}"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = get_json(server, "-n", ns, "pods")["items"]
    assert len(pods) == 3 and all(owned_by(p, rs) for p in pods)
    assert all(p["metadata"]["name"].startswith(f"web-{template_hash}-") for p in pods)
    assert deploy["status"]["availableReplicas"] == 3 and deploy["status"]["updatedReplicas"] == 3
    lines = server.kubectl("get", "-n", ns, "deploy", "web").stdout.splitlines()
    assert lines[1].split()[:4] == ["web", "3/3", "3", "3"]
    events = server.kubectl("describe", "-n", ns, "deployment", "web").stdout
    assert re.search(rf"ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set web-{template_hash}"
                     r" (from 0 )?to 3", events), events
    rs_events = server.kubectl("describe", "-n", ns, "rs", rs["metadata"]["name"]).stdout
    assert "SuccessfulCreate" in rs_events and "Created pod: web-" in rs_events


class RolloutWatcher:
    """Checks the rolling-update bounds at every change it sees."""

    def __init__(self, kubeconfig: str, ns: str, name: str, replicas: int, surge: int, unavailable: int):
        api = config.new_client_from_config(kubeconfig)
        self.apps, self.core = client.AppsV1Api(api), client.CoreV1Api(api)
        self.ns, self.name = ns, name
        self.max_total, self.min_ready = replicas + surge, replicas - unavailable
        self.violations: list[str] = []
        self.states: set[tuple] = set()  # distinct ReplicaSet sizes seen during the rollout
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._rs_loop, daemon=True),
                         threading.Thread(target=self._pod_loop, daemon=True)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self._stopped.set()
        for t in self._threads:
            t.join(10)

    def _events(self, list_fn):
        """Watch events until stopped, in short streams so that stopping is quick."""
        while not self._stopped.is_set():
            yield from watch.Watch().stream(list_fn, self.ns, timeout_seconds=1)

    def _rs_loop(self):
        replicas: dict[str, int] = {}
        for ev in self._events(self.apps.list_namespaced_replica_set):
            rs = ev["object"]
            replicas[rs.metadata.name] = 0 if ev["type"] == "DELETED" else rs.spec.replicas
            self.states.add(tuple(sorted(replicas.items())))
            if sum(replicas.values()) > self.max_total:
                self.violations.append(f"ReplicaSets want {replicas} > {self.max_total}")

    def _pod_loop(self):
        ready: dict[str, bool] = {}
        for ev in self._events(self.core.list_namespaced_pod):
            pod = ev["object"]
            gone = ev["type"] == "DELETED" or pod.metadata.deletion_timestamp is not None
            ready[pod.metadata.name] = not gone and any(
                c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
            if len(ready) >= self.min_ready and sum(ready.values()) < self.min_ready:
                self.violations.append(f"only {sum(ready.values())} ready pods < {self.min_ready}")


def test_rolling_update_respects_surge_and_unavailability_then_undo(server, kubelet, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=manifest("roll", replicas=4))
    server.kubectl("rollout", "status", "-n", ns, "deployment/roll", "--timeout=60s")
    with RolloutWatcher(str(server.kubeconfig), ns, "roll", 4, 1, 1) as watcher:
        server.kubectl("set", "image", "-n", ns, "deployment/roll", "main=nginx:1.26")
        server.kubectl("rollout", "status", "-n", ns, "deployment/roll", "--timeout=60s")
        time.sleep(0.5)
    assert watcher.violations == []
    assert len(watcher.states) >= 4, watcher.states  # the rollout went through several steps
    rss = get_json(server, "-n", ns, "rs")["items"]
    by_revision = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in rss}
    assert set(by_revision) == {"1", "2"}
    assert by_revision["2"]["spec"]["replicas"] == 4 and by_revision["1"]["spec"]["replicas"] == 0
    images = {p["spec"]["containers"][0]["image"] for p in get_json(server, "-n", ns, "pods")["items"]}
    assert images == {"nginx:1.26"}
    history = server.kubectl("rollout", "history", "-n", ns, "deployment/roll").stdout
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M)

    server.kubectl("rollout", "undo", "-n", ns, "deployment/roll")
    server.kubectl("rollout", "status", "-n", ns, "deployment/roll", "--timeout=60s")
    deploy = get_json(server, "-n", ns, "deployment", "roll")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    revisions = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                 for rs in get_json(server, "-n", ns, "rs")["items"]}
    assert revisions == {"2", "3"}  # the old ReplicaSet is reused with a new revision
    server.kubectl("rollout", "undo", "-n", ns, "deployment/roll", "--to-revision=2")
    server.kubectl("rollout", "status", "-n", ns, "deployment/roll", "--timeout=60s")
    assert get_json(server, "-n", ns, "deployment", "roll")["spec"]["template"]["spec"]["containers"][0]["image"] \
        == "nginx:1.26"


def test_restart_pause_resume_and_scale(server, kubelet, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=manifest("ops", replicas=2))
    server.kubectl("rollout", "status", "-n", ns, "deployment/ops", "--timeout=60s")
    server.kubectl("rollout", "restart", "-n", ns, "deployment/ops")
    server.kubectl("rollout", "status", "-n", ns, "deployment/ops", "--timeout=60s")
    assert len(get_json(server, "-n", ns, "rs")["items"]) == 2
    server.kubectl("rollout", "pause", "-n", ns, "deployment/ops")
    server.kubectl("set", "image", "-n", ns, "deployment/ops", "main=nginx:1.27")
    time.sleep(1.0)
    assert len(get_json(server, "-n", ns, "rs")["items"]) == 2  # paused: no new ReplicaSet
    progressing = [c for c in get_json(server, "-n", ns, "deployment", "ops")["status"]["conditions"]
                   if c["type"] == "Progressing"][0]
    assert progressing["reason"] == "DeploymentPaused"
    server.kubectl("rollout", "resume", "-n", ns, "deployment/ops")
    server.kubectl("rollout", "status", "-n", ns, "deployment/ops", "--timeout=60s")
    assert len(get_json(server, "-n", ns, "rs")["items"]) == 3

    server.kubectl("scale", "-n", ns, "deployment/ops", "--replicas=0")
    wait_until(lambda: not get_json(server, "-n", ns, "pods")["items"], what="no pods")
    server.kubectl("scale", "-n", ns, "deployment/ops", "--replicas=3")
    server.kubectl("rollout", "status", "-n", ns, "deployment/ops", "--timeout=60s")
    assert len(get_json(server, "-n", ns, "pods")["items"]) == 3


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
def test_delete_with_each_propagation_policy(server, kubelet, ns, cascade):
    server.kubectl("apply", "-n", ns, "-f", "-", input=manifest("gc", replicas=2))
    server.kubectl("rollout", "status", "-n", ns, "deployment/gc", "--timeout=60s")
    server.kubectl("delete", "-n", ns, "deployment/gc", f"--cascade={cascade}", "--timeout=60s")
    if cascade == "orphan":
        time.sleep(1.0)
        rss = get_json(server, "-n", ns, "rs")["items"]
        pods = get_json(server, "-n", ns, "pods")["items"]
        assert len(rss) == 1 and len(pods) == 2
        assert not rss[0]["metadata"].get("ownerReferences")
        assert all(owned_by(p, rss[0]) for p in pods)  # pods still belong to their ReplicaSet
    else:
        wait_until(lambda: not get_json(server, "-n", ns, "rs")["items"]
                   and not get_json(server, "-n", ns, "pods")["items"], what="dependents gone")


def test_delete_namespace_with_content(server, kubelet):
    server.kubectl("create", "namespace", "doomed")
    server.kubectl("apply", "-n", "doomed", "-f", "-", input=manifest("app", replicas=2))
    server.kubectl("create", "configmap", "cfg", "-n", "doomed", "--from-literal=a=b")
    server.kubectl("rollout", "status", "-n", "doomed", "deployment/app", "--timeout=60s")
    out = server.kubectl("delete", "namespace", "doomed", "--timeout=60s").stdout
    assert out.strip() == 'namespace "doomed" deleted'
    gone = server.kubectl("get", "namespace", "doomed", check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    assert server.kubectl("get", "pods,rs,deploy,cm", "-n", "doomed", "-o", "name").stdout.strip() == ""
