"""Running our own containerd, as k3s does: a config under the data dir, a private root, state,
socket and runc root, supervised by PID.

The config carries what this kind of machine needs (see DESIGN.md section 4):
`restrict_oom_score_adj` (no CAP_SYS_RESOURCE), cgroupfs instead of systemd, no AppArmor,
overlayfs, runc, and a locally built pause image as the sandbox image.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from kubeling.images.busybox import PAUSE_IMAGE

log = logging.getLogger("kubeling.containerd")

CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin", "/usr/libexec/cni", "/usr/local/lib/cni")
# A unix socket path holds at most 107 bytes; containerd also adds ".ttrpc" to the gRPC socket.
MAX_SOCKET_PATH = 100
SHORT_STATE_PARENT = "/run"

# Plugins the CRI path never uses; leaving them out shortens startup and avoids probing
# file systems (btrfs, zfs, devmapper) that are not there.
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)
# containerd logs this when the CRI plugin cannot load; waiting longer would not help.
CRI_LOAD_FAILURE = 'failed to load plugin io.containerd.grpc.v1.cri"'


def available() -> str | None:
    """None when this machine can run containerd for us; else a sentence saying why not."""
    missing = [name for name in ("containerd", "runc", "ctr") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (install the containerd and runc packages)"
    if os.geteuid() != 0:
        return "containerd needs root to run containers, and kubeling is not running as root"
    return None


def find_cni_bin_dir() -> str:
    """The first standard CNI plugin directory that holds the `bridge` plugin (or the first that exists)."""
    for directory in CNI_BIN_DIRS:
        if (Path(directory) / "bridge").exists():
            return directory
    bridge = shutil.which("bridge")
    if bridge:
        return str(Path(bridge).parent)
    return next((d for d in CNI_BIN_DIRS if Path(d).is_dir()), CNI_BIN_DIRS[0])


def _toml_str(value: str | Path) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class ContainerdError(RuntimeError):
    pass


class Containerd:
    """One containerd process owned by kubeling, with everything it writes under `data_dir/containerd`."""

    def __init__(self, data_dir: Path, *, cni_bin_dir: str | None = None, cni_conf_dir: Path | None = None,
                 sandbox_image: str = PAUSE_IMAGE, log_file: Path | None = None, log_level: str = "warn"):
        self.data_dir = Path(data_dir).absolute()
        self.home = self.data_dir / "containerd"
        self.root = self.home / "root"
        self.runc_root = self.home / "runc"
        self.config_path = self.home / "config.toml"
        self.cni_bin_dir = cni_bin_dir or find_cni_bin_dir()
        self.cni_conf_dir = Path(cni_conf_dir) if cni_conf_dir else self.home / "cni" / "net.d"
        self.sandbox_image = sandbox_image
        self.log_file = Path(log_file) if log_file else self.home / "containerd.log"
        self.log_level = log_level
        self.state, self.address = self._state_and_socket()
        self.endpoint = "unix://" + self.address
        self.process: asyncio.subprocess.Process | None = None
        self.started_in: float = 0.0  # seconds from spawn to a ready CRI socket

    def _state_and_socket(self) -> tuple[Path, str]:
        """State and socket under the data dir, unless the socket path would be too long for a unix
        socket; then both go to a short /run/kubeling-<hash of data dir> directory."""
        socket = self.home / "containerd.sock"
        if len(str(socket) + ".ttrpc") <= MAX_SOCKET_PATH:
            return self.home / "state", str(socket)
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        short = Path(SHORT_STATE_PARENT) / f"kubeling-{digest}"
        return short, str(short / "containerd.sock")

    @property
    def uses_short_state_dir(self) -> bool:
        return not self.state.is_relative_to(self.home)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def config_toml(self) -> str:
        """containerd's config (version 2) for this instance."""
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        runc = shutil.which("runc") or "runc"
        disabled = ", ".join(_toml_str(p) for p in DISABLED_PLUGINS)
        return f"""\
# Written by kubeling; rewritten on every start.
version = 2
root = {_toml_str(self.root)}
state = {_toml_str(self.state)}
disabled_plugins = [{disabled}]

[grpc]
  address = {_toml_str(self.address)}

[ttrpc]
  address = {_toml_str(self.address + ".ttrpc")}

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_str(self.home / "opt")}

[{cri}]
  sandbox_image = {_toml_str(self.sandbox_image)}
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = {_toml_str(runc)}
  Root = {_toml_str(self.runc_root)}
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = {_toml_str(self.cni_bin_dir)}
  conf_dir = {_toml_str(self.cni_conf_dir)}
  max_conf_num = 1
"""

    def write_config(self) -> None:
        for directory in (self.home, self.root, self.runc_root, self.state, self.cni_conf_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o711)
        self.config_path.write_text(self.config_toml())

    async def start(self, timeout: float = 20) -> None:
        """Write the config, spawn containerd and wait until its CRI service answers."""
        if self.process and self.process.returncode is None:
            return
        why_not = available()
        if why_not:
            raise ContainerdError(f"cannot start containerd: {why_not}")
        if Path(self.address).exists() and await cri_ready(self.endpoint):
            raise ContainerdError(f"another containerd is already serving {self.address}")
        self.write_config()
        Path(self.address).unlink(missing_ok=True)  # a stale socket must not look like readiness
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with open(self.log_file, "ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                shutil.which("containerd") or "containerd", "--config", str(self.config_path),
                "--log-level", self.log_level, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)  # a Ctrl-C in a terminal goes to kubeling, which stops us in order
        try:
            await self._wait_ready(began + timeout)
        except BaseException:
            await self.stop()
            raise
        self.started_in = time.monotonic() - began
        log.info("containerd (pid %s) ready on %s in %.2fs", self.pid, self.endpoint, self.started_in)

    async def _wait_ready(self, deadline: float) -> None:
        delay = 0.01
        while True:
            if self.process and self.process.returncode is not None:
                raise ContainerdError(f"containerd exited with code {self.process.returncode} while starting; "
                                      f"see {self.log_file}: {self._log_tail()}")
            if Path(self.address).exists():
                if await cri_ready(self.endpoint):
                    return
                self._raise_if_cri_failed()
            if time.monotonic() > deadline:
                raise ContainerdError(f"containerd did not answer on {self.address} in time; see {self.log_file}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    def _raise_if_cri_failed(self) -> None:
        with contextlib.suppress(OSError):
            for line in reversed(self.log_file.read_text(errors="replace").splitlines()):
                if CRI_LOAD_FAILURE in line:
                    raise ContainerdError(f"containerd's CRI plugin failed to load: {line.strip()}")

    def _log_tail(self, lines: int = 3) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-lines:])
        return ""

    async def stop(self, grace: float = 10) -> None:
        """SIGTERM containerd by PID, SIGKILL after `grace` seconds. Idempotent.

        Containers (and their shims) keep running, as with any containerd restart: remove pod
        sandboxes through CRI first if they must go too."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            log.warning("containerd (pid %s) did not stop in %gs; killing it", process.pid, grace)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def version(self) -> dict[str, str]:
        """CRI Version: {runtime_name, runtime_version, runtime_api_version}."""
        return await cri_version(self.endpoint)


# Version asks nothing of the pod log root; CRIRuntime only wants one to be named.
_NO_POD_LOGS = os.devnull


async def cri_version(endpoint: str, timeout: float = 2) -> dict[str, str]:
    """Who answers CRI v1 on `endpoint`, asked through CRIRuntime (raises CRIError if nothing does)."""
    from kubeling.kubelet.runtime.cri import CRIRuntime  # the CRI client loads only when containerd is used

    runtime = CRIRuntime(endpoint, pod_log_root=_NO_POD_LOGS, request_timeout=timeout)
    try:
        await runtime.start()
    finally:
        await runtime.close()
    return {"runtime_name": runtime.name, "runtime_version": runtime.version,
            "runtime_api_version": runtime.api_version}


async def cri_ready(endpoint: str) -> bool:
    """True once the CRI runtime service answers Version (the socket alone can be up before CRI is)."""
    try:
        await cri_version(endpoint, timeout=1)
    except Exception:  # any failure just means "not yet"
        return False
    return True
