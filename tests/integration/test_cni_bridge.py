"""The kubelet's conflist against the real CNI plugins, run the way a container runtime runs them.

A network namespace stands in for a pod sandbox. Each plugin of `cni.conflist()` is executed
in turn with CNI_COMMAND=ADD and the network config on stdin, each after the first getting the
previous one's result as `prevResult` (the CNI spec's chaining); the namespace must come out
with an address in the podCIDR that the host reaches over HTTP, also through a hostPort that
`portmap` maps. DEL then runs in reverse order and everything made is removed again. Needs
root, `ip`, iptables and the reference plugins (Debian: containernetworking-plugins).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeling.kubelet.cni import conflist

POD_CIDR = "10.244.251.0/24"  # unlikely to clash with anything on the machine
CONTAINER_PORT = 8080
PLUGINS = ("bridge", "host-local", "portmap")
# Where distributions and containerd look for CNI plugins.
CNI_PATHS = (Path("/opt/cni/bin"), Path("/usr/lib/cni"), Path("/usr/libexec/cni"))


def _plugin_dir() -> Path | None:
    return next((d for d in CNI_PATHS if all((d / p).is_file() for p in PLUGINS)), None)


pytestmark = [
    pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="needs root on Linux"),
    pytest.mark.skipif(_plugin_dir() is None, reason="CNI plugins (bridge, host-local, portmap) not installed"),
    pytest.mark.skipif(shutil.which("ip") is None or shutil.which("iptables") is None,
                       reason="needs iproute2 and iptables"),
]


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    """A netns joined to the network by running the CNI plugins directly."""

    def __init__(self, tmp: Path, plugin_dir: Path):
        tag = secrets.token_hex(4)
        self.netns = f"kubeling-cni-test-{tag}"
        self.container_id = f"kubeling-test-{tag}"
        self.bridge = f"kt{tag}"  # interface names are at most 15 characters
        self.plugin_dir = plugin_dir
        self.conf = conflist(POD_CIDR, bridge=self.bridge, name=f"kubeling-test-{tag}", data_dir=tmp / "ipam")
        self.host_port = _free_port()
        self.port_mappings = [{"hostPort": self.host_port, "containerPort": CONTAINER_PORT, "protocol": "tcp"}]
        self.result: dict | None = None
        self.deleted = False

    def _exec(self, command: str, plugin: dict, prev: dict | None) -> dict:
        """One plugin call as the CNI spec has it: parameters in the environment, config on stdin."""
        config = {"cniVersion": self.conf["cniVersion"], "name": self.conf["name"], **plugin}
        if prev is not None:
            config["prevResult"] = prev
        if plugin.get("capabilities", {}).get("portMappings"):
            config["runtimeConfig"] = {"portMappings": self.port_mappings}  # what containerd passes
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": self.container_id,
               "CNI_NETNS": f"/var/run/netns/{self.netns}", "CNI_IFNAME": "eth0",
               "CNI_PATH": str(self.plugin_dir), "PATH": os.environ.get("PATH", "")}
        proc = subprocess.run([str(self.plugin_dir / plugin["type"])], input=json.dumps(config), env=env,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"CNI {command} {plugin['type']} failed ({proc.returncode}): "
                                 f"{proc.stdout} {proc.stderr}")
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def add(self) -> dict:
        _run("ip", "netns", "add", self.netns)
        prev = None
        for plugin in self.conf["plugins"]:
            prev = self._exec("ADD", plugin, prev)
            self.result = prev
        return prev

    def delete(self) -> None:
        """DEL every plugin, last first, then remove what the plugins leave behind by design."""
        if self.deleted:
            return
        self.deleted = True
        errors = []
        for plugin in reversed(self.conf["plugins"]):
            try:
                self._exec("DEL", plugin, self.result)
            except AssertionError as e:
                errors.append(str(e))
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)  # DEL keeps the bridge
        assert not errors, errors


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path, _plugin_dir())
    try:
        yield sb
    finally:
        sb.delete()


def _serve(netns: str, root: Path) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "http.server",
                             str(CONTAINER_PORT), "--bind", "0.0.0.0", "--directory", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _get(url: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_conflist_gives_the_netns_a_reachable_address_in_the_pod_cidr(sandbox: Sandbox, tmp_path: Path):
    result = sandbox.add()

    # The chained result: eth0 in the sandbox, an address of the podCIDR, the bridge as gateway.
    addresses = [ipaddress.ip_interface(ip["address"]) for ip in result["ips"]]
    assert len(addresses) == 1
    pod_ip = addresses[0].ip
    assert pod_ip in ipaddress.ip_network(POD_CIDR)
    assert result["ips"][0]["gateway"] == "10.244.251.1"
    assert f"inet {addresses[0].with_prefixlen}" in _run("ip", "netns", "exec", sandbox.netns,
                                                         "ip", "-4", "addr", "show", "eth0")
    assert "default via 10.244.251.1" in _run("ip", "netns", "exec", sandbox.netns, "ip", "route")
    assert "10.244.251.1/24" in _run("ip", "-4", "addr", "show", sandbox.bridge)  # isGateway
    assert any(p.name.startswith("10.244.251.") for p in (tmp_path / "ipam" / sandbox.conf["name"]).iterdir())

    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello from the pod\n")
    server = _serve(sandbox.netns, root)
    try:
        assert _get(f"http://{pod_ip}:{CONTAINER_PORT}/hello.txt") == "hello from the pod\n"
        # portmap: the hostPort on the host's side of the bridge leads to the pod.
        assert _get(f"http://10.244.251.1:{sandbox.host_port}/hello.txt") == "hello from the pod\n"
    finally:
        server.terminate()
        server.wait(10)

    sandbox.delete()
    assert sandbox.netns not in _run("ip", "netns", "list")
    assert subprocess.run(["ip", "link", "show", sandbox.bridge], capture_output=True).returncode != 0
    leases = tmp_path / "ipam" / sandbox.conf["name"]
    assert not any(p.name.startswith("10.244.251.") for p in leases.iterdir())  # DEL gave the address back
