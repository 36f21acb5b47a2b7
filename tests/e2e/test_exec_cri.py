"""`kubectl exec -i` and `kubectl cp` on real containers (kubeling issue 6): the real kubectl
(v5 websocket) to the API server, to the kubelet, and over SPDY/3.1 to containerd's stream
server, so the end of kubectl's stdin reaches the command and `cat` or `tar xf -` return."""

from __future__ import annotations

import os

import pytest

from tests.e2e.test_containers import IMAGE, server  # noqa: F401  (the `kubeling up` fixture)
from tests.support.containerd import requires_containerd

pytestmark = requires_containerd


@pytest.fixture
def pod(server, ns):  # noqa: F811
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: shell}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: main, image: "{IMAGE}", command: [sleep, "3600"]}}
"""
    server.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    server.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/shell", "--timeout=60s", timeout=90)
    return "shell"


def test_piped_stdin_ends_and_cat_returns(server, ns, pod):  # noqa: F811
    piped = server.kubectl("exec", "-i", "-n", ns, pod, "--", "cat", input="hello\n", timeout=30)
    assert (piped.returncode, piped.stdout) == (0, "hello\n")
    counted = server.kubectl("exec", "-i", "-n", ns, pod, "--", "wc", "-c", input="x" * 200_000, timeout=30)
    assert counted.stdout.strip() == "200000"
    failed = server.kubectl("exec", "-i", "-n", ns, pod, "--", "sh", "-c", "cat >/dev/null; exit 4",
                            input="ignored", check=False, timeout=30)
    assert failed.returncode == 4 and "command terminated with exit code 4" in failed.stderr


def test_kubectl_cp_both_ways(server, ns, pod, tmp_path):  # noqa: F811
    small = tmp_path / "file"
    small.write_text("copied by kubectl cp\n")
    server.kubectl("cp", "-n", ns, str(small), f"{pod}:/tmp/file", timeout=30)
    assert server.kubectl("exec", "-n", ns, pod, "--", "cat", "/tmp/file").stdout == "copied by kubectl cp\n"

    big = tmp_path / "big.bin"  # well past SPDY's 64 KiB window, both ways
    big.write_bytes(os.urandom(3 << 20))
    server.kubectl("cp", "-n", ns, str(big), f"{pod}:/tmp/big.bin", timeout=60)
    back = tmp_path / "back.bin"
    server.kubectl("cp", "-n", ns, f"{pod}:/tmp/big.bin", str(back), timeout=60)
    assert back.read_bytes() == big.read_bytes()

    out = tmp_path / "out"
    server.kubectl("cp", "-n", ns, f"{pod}:/etc/hostname", str(out), timeout=30)
    assert out.read_text().strip() == pod  # the container's hostname is the pod's name


def test_exec_without_stdin_still_reports_output_and_exit_code(server, ns, pod):  # noqa: F811
    result = server.kubectl("exec", "-n", ns, pod, "--", "sh", "-c", "echo out; echo err >&2; exit 2",
                            check=False, timeout=30)
    assert result.returncode == 2
    assert result.stdout == "out\n" and "err\n" in result.stderr


def test_a_shell_reading_a_script_from_stdin_ends_with_it(server, ns, pod):  # noqa: F811
    result = server.kubectl("exec", "-i", "-n", ns, pod, "--", "sh", input="echo $((6*7))\ncd /tmp; pwd\n",
                            timeout=30)
    assert result.stdout == "42\n/tmp\n"  # no `exit`: the end of stdin ends the shell
