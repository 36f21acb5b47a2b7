"""`kubectl exec` through a real kubeling server to an in-test kubelet server (HTTPS, client
certificates, websocket) over a stub runtime: output, exit codes, stdin, and the errors of
each hop, as kubectl prints them."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from kubeling.kubelet.runtime.base import ExecResult
from kubeling.kubelet.server import KubeletServer, serving_context
from kubeling.kubelet.servingcert import self_signed_cert
from tests.integration.helpers import status_of

NS = "execs"
NODE = "exec-node"
GONE_NODE = "gone-node"


class StubRuntime:
    """exec_sync prints the command and any stdin; `exit N` exits N, `fail` is refused."""

    name, version = "stub", "0.0.1"

    async def exec_sync(self, container_id, cmd, timeout, stdin=b""):
        if cmd[:1] == ["fail"]:
            raise RuntimeError('container is in CONTAINER_EXITED state')
        code = int(cmd[1]) if cmd[:1] == ["exit"] else 0
        return ExecResult(code, stdout=f"{container_id}: {' '.join(cmd)}\n".encode() + stdin, stderr=b"to stderr\n")

    async def exec_url(self, container_id, cmd, **streams):
        return None  # no streaming server: the kubelet runs exec_sync


def _pod(name: str, containers: list[str], running: list[str], node: str = NODE) -> dict:
    statuses = [{"name": c, "containerID": f"stub://{c}-id", "state": {"running": {}} if c in running else
                 {"waiting": {"reason": "ContainerCreating"}}} for c in containers]
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"nodeName": node, "containers": [{"name": c, "image": "busybox"} for c in containers]},
            "status": {"containerStatuses": statuses}}


KUBELET_PODS = {
    "web": _pod("web", ["app"], ["app"]),
    "two": _pod("two", ["a", "b"], ["a", "b"]),
    "starting": _pod("starting", ["app"], []),
}


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(name: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


@pytest.fixture(scope="module")
def cluster(api_only_server):
    srv = api_only_server
    with KubeletThread((srv.data_dir / "pki" / "ca.crt").read_bytes()) as kubelet:
        objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
                   _node(NODE, kubelet.server.port), _node(GONE_NODE, _free_port())]
        pods = [*KUBELET_PODS.values(), _pod("orphan", ["app"], ["app"], node=GONE_NODE)]
        for pod in pods:
            objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": pod["metadata"], "spec": pod["spec"]})
        objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending", "namespace": NS},
                        "spec": {"containers": [{"name": "app", "image": "busybox"}]}})
        srv.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        yield srv


def kexec(cluster, *args, input=None):
    return cluster.kubectl("exec", "-n", NS, *args, input=input, check=False, timeout=30)


def test_exec_output_and_success(cluster):
    result = kexec(cluster, "web", "--", "ls", "-l", "/")
    assert (result.returncode, result.stdout, result.stderr) == (0, "app-id: ls -l /\n", "to stderr\n")


def test_exec_exit_code(cluster):
    result = kexec(cluster, "two", "-c", "b", "--", "exit", "42")
    assert result.returncode == 42
    assert result.stdout == "b-id: exit 42\n"
    assert result.stderr == "to stderr\ncommand terminated with exit code 42\n"


def test_exec_stdin(cluster):
    result = kexec(cluster, "-i", "web", "--", "cat", input="a\nb\n")
    assert (result.returncode, result.stdout) == (0, "app-id: cat\na\nb\n")


@pytest.mark.parametrize("args,error", [
    (["web", "-c", "nope", "--", "ls"], "Error from server (BadRequest): container nope is not valid for pod web"),
    (["pending", "--", "ls"], "Error from server (BadRequest): pod pending does not have a host assigned"),
    (["starting", "--", "ls"],
     'error: Internal error occurred: unable to upgrade connection: container not found ("app")'),
    (["web", "--", "fail"], "error: Internal error occurred: error executing command in container: "
                            "container is in CONTAINER_EXITED state"),
    (["orphan", "--", "ls"], "error: Internal error occurred: error dialing backend: "),
])
def test_exec_errors(cluster, args, error):
    result = kexec(cluster, *args)
    assert result.returncode == 1
    assert error in result.stderr


@pytest.mark.parametrize("method,path,headers,code,message", [
    ("GET", "web/exec?command=ls&stdout=true", {}, 400, "Upgrade request required"),
    ("POST", "web/exec?command=ls&stdout=true", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400,
     "SPDY/3.1 upgrades are not supported by kubeling: exec needs a WebSocket client (v5.channel.k8s.io, "
     "v4.channel.k8s.io), as kubectl 1.30 and newer are"),
    ("GET", "web/exec?command=ls&stdout=false", {}, 400, "you must specify at least 1 of stdin, stdout, stderr"),
    ("GET", "two/exec?command=ls&stdout=1", {}, 400,
     "a container name must be specified for pod two, choose one of: [a b]"),
    ("GET", "nope/exec?command=ls&stdout=1", {}, 404, 'pods "nope" not found'),
    ("DELETE", "web/exec", {}, 405, "the server does not allow this method on the requested resource"),
])
def test_raw_exec_requests(api, cluster, method, path, headers, code, message):
    r = api.request(method, f"/api/v1/namespaces/{NS}/pods/{path}", headers=headers)
    assert r.status_code == code
    assert status_of(r)["message"] == message


def test_discovery_lists_pods_exec(api, cluster):
    resources = {r["name"]: r for r in api.ok("GET", "/api/v1")["resources"]}
    assert resources["pods/exec"]["kind"] == "PodExecOptions"
    assert sorted(resources["pods/exec"]["verbs"]) == ["create", "get"]
