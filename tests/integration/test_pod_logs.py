"""`kubectl logs` through a real kubeling server to an in-test kubelet server (HTTPS, client
certificates) over a stub runtime with known log lines: options, follow, previous, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time

import pytest
import requests

from kubeling.kubelet.server import KubeletServer, serving_context
from kubeling.kubelet.servingcert import self_signed_cert

NS = "logs"
NODE = "log-node"
NOW = time.time()


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class StubRuntime:
    """Containers with fixed log lines, one every 10 minutes up to now; `follow` on a
    container listed in `exiting` streams its later lines, then ends as the container exits."""

    name, version = "stub", "0.0.1"

    def __init__(self):
        self.lines = {
            "app-1": ["first run 1", "first run 2", "crashed"],
            "app-2": [f"line {i}" for i in range(1, 6)],
            "f-1": ["started"],
            "a-1": ["from a"], "b-1": ["from b"],
        }
        self.later = {"f-1": ["working", "done"]}

    def _timed(self, cid: str) -> list[tuple[float, str]]:
        lines = self.lines[cid]
        return [(NOW - 600 * (len(lines) - i), line) for i, line in enumerate(lines, 1)]

    async def logs(self, container_id, *, follow=False, tail_lines=None, since=None, timestamps=False):
        entries = self._timed(container_id)
        if since is not None:
            entries = [e for e in entries if e[0] >= since]
        if tail_lines is not None:
            entries = entries[len(entries) - tail_lines:] if tail_lines else []
        if follow:
            entries += [(NOW, line) for line in self.later.get(container_id, [])]
        for t, line in entries:
            await asyncio.sleep(0)
            yield ((_stamp(t) + " ") if timestamps else "").encode() + line.encode() + b"\n"


def _pod(name: str, containers: list[str], statuses: list[dict], node: str = NODE) -> dict:
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"nodeName": node, "containers": [{"name": c, "image": "busybox"} for c in containers]},
            "status": {"containerStatuses": statuses}}


def _running(name: str, cid: str, last: str = "") -> dict:
    cs = {"name": name, "containerID": f"stub://{cid}", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
          "restartCount": 1 if last else 0}
    if last:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "containerID": f"stub://{last}"}}
    return cs


KUBELET_PODS = {
    "web": _pod("web", ["app"], [_running("app", "app-2", last="app-1")]),
    "follow": _pod("follow", ["app"], [_running("app", "f-1")]),
    "two": _pod("two", ["a", "b"], [_running("a", "a-1"), _running("b", "b-1")]),
    "waiting": _pod("waiting", ["app"], [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]),
}
API_ONLY_PODS = {"ghost": ["app"], "pending": ["app"]}  # ghost: bound, unknown to the kubelet


class KubeletThread:
    """A KubeletServer on its own event loop, since kubectl runs blocking in the test."""

    def __init__(self, ca_pem: bytes):
        cert, key = self_signed_cert(NODE, ["127.0.0.1"])
        self.server = KubeletServer(StubRuntime(), lambda ns, name: KUBELET_PODS.get(name) if ns == NS else None,
                                    port=0, ssl_context=serving_context(cert, key, ca_pem))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> KubeletThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def cluster(api_only_server):
    srv = api_only_server
    with KubeletThread((srv.data_dir / "pki" / "ca.crt").read_bytes()) as kubelet:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                         {"type": "Hostname", "address": NODE}],
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.server.port}}}}
        objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, node]
        for name, pod in KUBELET_PODS.items():
            objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                            "spec": pod["spec"]})
        for name, containers in API_ONLY_PODS.items():
            spec = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
            if name != "pending":
                spec["nodeName"] = NODE
            objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                            "spec": spec})
        srv.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        yield srv, kubelet


def logs(cluster, *args, check=True):
    srv, _ = cluster
    return srv.kubectl("logs", "-n", NS, *args, check=check, timeout=30)


@pytest.mark.parametrize("args,want", [
    (["web"], "line 1\nline 2\nline 3\nline 4\nline 5\n"),
    (["web", "--tail=2"], "line 4\nline 5\n"),
    (["web", "--tail=0"], ""),
    (["web", "--since=25m"], "line 3\nline 4\nline 5\n"),
    (["web", "--limit-bytes=9"], "line 1\nli"),
    (["web", "-c", "app", "--previous"], "first run 1\nfirst run 2\ncrashed\n"),
    (["two", "-c", "b"], "from b\n"),
    (["follow", "-f"], "started\nworking\ndone\n"),
    (["pending"], ""),
])
def test_kubectl_logs(cluster, args, want):
    assert logs(cluster, *args).stdout == want


def test_kubectl_logs_timestamps(cluster):
    out = logs(cluster, "web", "--tail=1", "--timestamps").stdout
    assert out == f"{_stamp(NOW)} line 5\n"
    dt.datetime.strptime(out.split()[0][:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ")  # RFC 3339 with fractions


def test_kubectl_defaults_to_the_first_container(cluster):
    result = logs(cluster, "two")
    assert result.stdout == "from a\n"
    assert 'Defaulted container "a" out of: a, b' in result.stderr


@pytest.mark.parametrize("args,error", [
    (["nope"], 'error: error from server (NotFound): pods "nope" not found in namespace "logs"'),
    (["waiting"], 'Error from server (BadRequest): container "app" in pod "waiting" is waiting to start: '
                  'ContainerCreating'),
    (["follow", "--previous"], 'Error from server (BadRequest): previous terminated container "app" in pod '
                               '"follow" not found'),
    (["web", "-c", "nope"], "container nope is not valid for pod web"),
    (["ghost"], "Error from server (NotFound): the server could not find the requested resource "
                "( pods/log ghost)"),
])
def test_kubectl_logs_errors(cluster, args, error):
    result = logs(cluster, *args, check=False)
    assert result.returncode != 0
    assert error in result.stderr


@pytest.mark.parametrize("query,error", [
    ("", "Error from server (BadRequest): a container name must be specified for pod two, choose one of: [a b]"),
    ("?container=a&tailLines=-1", 'PodLogOptions "two" is invalid: tailLines: Invalid value: -1: must be greater '
                                  "than or equal to 0"),
    ("?container=a&tailLines=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
])
def test_raw_log_requests_validated_like_kube_apiserver(cluster, query, error):
    srv, _ = cluster
    result = srv.kubectl("get", "--raw", f"/api/v1/namespaces/{NS}/pods/two/log{query}", check=False)
    assert result.returncode != 0
    assert error in result.stderr


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_kubelet_requires_a_client_certificate(cluster):
    _, kubelet = cluster
    base = f"https://127.0.0.1:{kubelet.server.port}"
    assert requests.get(base + "/healthz", verify=False, timeout=5).text == "ok"
    resp = requests.get(f"{base}/containerLogs/{NS}/web/app", verify=False, timeout=5)
    assert (resp.status_code, resp.text) == (401, "Unauthorized")
