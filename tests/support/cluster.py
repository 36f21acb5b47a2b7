"""Starting a real `kubeling server` for integration and end-to-end tests, and driving it
with the real kubectl. Every process started here is stopped by its own PID."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

KUBECTL = os.environ.get("KUBECTL", "kubectl")
# Servers run this checkout's code, whatever kubeling is installed in the environment.
SRC = Path(__file__).resolve().parents[2] / "src"
VERSIONED_KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"


def namespace_for(test_name: str) -> str:
    """A valid, unique namespace name for a test (parametrized ids included)."""
    name = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    if len(name) > 50:
        name = name[:40].strip("-") + "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


def kubectl_binary(minor: int | None = None) -> str:
    if minor is None:
        return KUBECTL
    return VERSIONED_KUBECTL.format(minor=minor)


@dataclass
class Server:
    data_dir: Path
    home: Path  # a private HOME, so kubectl's discovery cache is per test run
    process: subprocess.Popen | None = None
    port: int = 0
    log_path: Path = field(default=Path())
    extra: list[str] = field(default_factory=list)  # extra `kubeling server` options
    command: str = "server"  # or "up": the server plus a local node agent

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig.yaml"

    def start(self, extra: list[str] | None = None, timeout: float = 20.0) -> Server:
        """Start the server; a restart without `extra` reuses the previous start's options."""
        if extra is not None:
            self.extra = list(extra)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "server.log"
        # A kubeconfig left by an earlier (killed) run must not be mistaken for readiness.
        self.kubeconfig.unlink(missing_ok=True)
        log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "kubeling", self.command, "--data-dir", str(self.data_dir),
               "--port", str(self.port)] + self.extra
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"kubeling server exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"kubeling server did not become ready:\n{self.log()}")
            time.sleep(0.02)
        server_url = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        self.port = int(server_url.rsplit(":", 1)[1])
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        p = self.process
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        os.kill(p.pid, sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            return p.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["HOME"] = str(self.home)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, minor: int | None = None,
                timeout: float = 60.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        cmd = [kubectl_binary(minor), *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, env=env or self.env(),
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


def start_component(server: Server, component: str, log_path: Path, *extra: str) -> subprocess.Popen:
    """A standalone `kubeling <component> --kubeconfig ...` (controller-manager, scheduler, agent)
    against `server`, running this checkout's code; stop it with stop_process()."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "kubeling", component, "--kubeconfig", str(server.kubeconfig),
                                 *extra], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
