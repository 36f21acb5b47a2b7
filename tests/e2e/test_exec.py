"""`kubectl exec` with the real kubectl against `kubeling up --runtime fake`: kubectl -> API server
pods/exec (websocket, v5.channel.k8s.io) -> the kubelet's /exec -> the fake runtime's exec, whose
answer the pod's `fake.kubeling.io/exec-*` annotations set."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import textwrap
import time

import pytest

from tests.e2e.test_kubelet import server  # noqa: F401  (the module's `kubeling up`)
from tests.support.cluster import kubectl_binary
from tests.support.eventually import wait_until


def _pod(name: str, annotations: dict[str, str], containers=("main",), extra_spec: str = "") -> str:
    listed = ", ".join(f"{{name: {c}, image: busybox:1.36}}" for c in containers)
    notes = ", ".join(f'{k}: {json.dumps(v)}' for k, v in annotations.items())
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata:
          name: {name}
          annotations: {{{notes}}}
        spec:
          terminationGracePeriodSeconds: 0
          containers: [{listed}]
        """) + extra_spec


def _running(server, ns: str, name: str) -> None:  # noqa: F811
    def ready():
        pod = json.loads(server.kubectl("get", "pod", "-n", ns, name, "-o", "json").stdout)
        return all("running" in (cs.get("state") or {}) for cs in pod["status"].get("containerStatuses") or [{}])
    wait_until(ready, timeout=30, what=f"{name} running")


@pytest.fixture
def shell(server, ns):  # noqa: F811
    """A running pod whose exec prints a greeting, writes to stderr and exits 3."""
    server.kubectl("apply", "-n", ns, "-f", "-", input=_pod("shell", {
        "fake.kubeling.io/exec-stdout": "hello from exec\n",
        "fake.kubeling.io/exec-stderr": "something failed\n",
        "fake.kubeling.io/exec-exit-code": "3"}))
    _running(server, ns, "shell")
    return ns


def exec_(server, ns, *args, input=None, minor=None):  # noqa: F811
    return server.kubectl("exec", "-n", ns, *args, input=input, check=False, minor=minor, timeout=30)


def test_exec_prints_output_and_exits_zero(server, ns):  # noqa: F811
    server.kubectl("apply", "-n", ns, "-f", "-", input=_pod("ok", {"fake.kubeling.io/exec-stdout": "a\nb\n"}))
    _running(server, ns, "ok")
    result = exec_(server, ns, "ok", "--", "ls", "/")
    assert (result.returncode, result.stdout, result.stderr) == (0, "a\nb\n", "")


def test_exec_exit_code_and_stderr(server, shell):  # noqa: F811
    result = exec_(server, shell, "shell", "--", "sh", "-c", "exit 3")
    assert result.returncode == 3
    assert result.stdout == "hello from exec\n"
    assert result.stderr == "something failed\ncommand terminated with exit code 3\n"


def test_exec_with_stdin(server, shell):  # noqa: F811
    result = exec_(server, shell, "-i", "shell", "--", "cat", input="line 1\nline 2\n")
    assert result.returncode == 3
    assert result.stdout == "hello from exec\nline 1\nline 2\n"


def test_exec_with_a_tty_request_and_piped_stdin(server, shell):  # noqa: F811
    # stdin is a pipe, so kubectl says it cannot use a TTY and goes on without one
    result = exec_(server, shell, "-it", "shell", "--", "sh", input="echo hi\n")
    assert result.stdout == "hello from exec\necho hi\n"
    assert "Unable to use a TTY" in result.stderr
    assert result.returncode == 3


def _on_a_terminal(server, args: list[str], typed: bytes, timeout: float = 20) -> tuple[int, bytes]:  # noqa: F811
    """Run kubectl with a pty as its terminal, type `typed`, and return (exit code, what it printed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([kubectl_binary(), *args], stdin=follower, stdout=follower, stderr=follower,
                            env=server.env(), start_new_session=True)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        time.sleep(1.0)  # kubectl puts the terminal in raw mode before it reads
        os.write(leader, typed)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the follower side closed: kubectl is gone
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(0.1, deadline - time.monotonic())), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_exec_on_a_terminal(server, shell):  # noqa: F811
    # -it from a real terminal: tty=true (stderr joins stdout), resize messages, and ^D ends the input
    code, out = _on_a_terminal(server, ["exec", "-n", shell, "-it", "shell", "--", "sh"], b"echo hi\r\x04")
    assert code == 3, out
    # one output on a terminal: stdout (the typed input echoed after it), then stderr
    assert out.startswith(b"hello from exec\necho hi\rsomething failed\n"), out
    assert b"command terminated with exit code 3" in out


def test_exec_picks_the_named_container(server, ns):  # noqa: F811
    server.kubectl("apply", "-n", ns, "-f", "-", input=_pod("two", {
        "fake.kubeling.io/exec-stdout": "from a\n", "fake.kubeling.io/b.exec-stdout": "from b\n"},
        containers=("a", "b")))
    _running(server, ns, "two")
    assert exec_(server, ns, "two", "-c", "b", "--", "id").stdout == "from b\n"
    defaulted = exec_(server, ns, "two", "--", "id")
    assert defaulted.stdout == "from a\n"
    assert 'Defaulted container "a" out of: a, b' in defaulted.stderr


@pytest.mark.parametrize("minor", [30, 31, 33])
def test_exec_with_other_kubectl_versions(server, shell, minor):  # noqa: F811
    result = exec_(server, shell, "shell", "--", "true", minor=minor)
    assert result.returncode == 3 and result.stdout == "hello from exec\n"


def test_spdy_only_kubectl_is_told_why(server, shell):  # noqa: F811
    result = exec_(server, shell, "shell", "--", "true", minor=29)  # 1.29 speaks SPDY only
    assert result.returncode == 1
    assert "Error from server (BadRequest): SPDY/3.1 upgrades are not supported by kubeling" in result.stderr


def test_exec_errors(server, shell):  # noqa: F811
    ns = shell
    bad_container = exec_(server, ns, "shell", "-c", "nope", "--", "true")
    assert bad_container.returncode == 1
    assert "Error from server (BadRequest): container nope is not valid for pod shell" in bad_container.stderr
    missing = exec_(server, ns, "ghost", "--", "true")
    assert missing.returncode == 1 and 'pods "ghost" not found' in missing.stderr

    server.kubectl("apply", "-n", ns, "-f", "-", input=_pod("starting", {"fake.kubeling.io/start-delay": "1h"}))
    wait_until(lambda: json.loads(server.kubectl("get", "pod", "-n", ns, "starting", "-o", "json").stdout)
               ["spec"].get("nodeName"), what="starting bound")
    not_running = exec_(server, ns, "starting", "--", "true")
    assert not_running.returncode == 1
    assert ('error: Internal error occurred: unable to upgrade connection: container not found ("main")'
            in not_running.stderr)

    server.kubectl("apply", "-n", ns, "-f", "-", input=_pod("nowhere", {}, extra_spec="  nodeSelector: {none: x}\n"))
    unscheduled = exec_(server, ns, "nowhere", "--", "true")
    assert "Error from server (BadRequest): pod nowhere does not have a host assigned" in unscheduled.stderr
