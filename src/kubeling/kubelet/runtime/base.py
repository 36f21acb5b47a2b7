"""The container runtime interface the kubelet drives, modelled on CRI v1 (RuntimeService and
ImageService), so the fake runtime and the CRI (containerd) runtime are interchangeable.

Times are seconds since the epoch (floats); ids are opaque strings.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class ContainerState(enum.Enum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    EXITED = "EXITED"
    UNKNOWN = "UNKNOWN"


@dataclass
class SandboxConfig:
    """What the kubelet knows about a pod when it asks for its sandbox (CRI PodSandboxConfig)."""

    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_directory: str = ""
    dns: dict[str, Any] = field(default_factory=dict)
    port_mappings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SandboxStatus:
    id: str
    state: str  # "SANDBOX_READY" | "SANDBOX_NOTREADY"
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)
    created_at: float = 0.0
    uid: str = ""  # the pod's (PodSandboxMetadata), so sandboxes no pod owns can be found
    attempt: int = 0


@dataclass
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False


@dataclass
class ContainerConfig:
    """One container to create in a sandbox (CRI ContainerConfig), already resolved by the
    kubelet: env values computed, volumes turned into host paths."""

    name: str
    image: str
    attempt: int = 0
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    working_dir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""  # relative to the sandbox's log_directory
    linux: dict[str, Any] = field(default_factory=dict)  # resources, security context
    stdin: bool = False
    tty: bool = False


@dataclass
class ContainerStatus:
    id: str
    name: str
    state: ContainerState
    attempt: int = 0
    image: str = ""
    image_ref: str = ""  # the image ID (digest) the container runs
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""  # e.g. "Completed", "Error", "OOMKilled"
    message: str = ""
    log_path: str = ""
    sandbox_id: str = ""


@dataclass
class ImageInfo:
    id: str
    repo_tags: list[str]
    size: int = 0


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


class Runtime(Protocol):
    """What the kubelet needs of a container runtime."""

    name: str  # e.g. "fake", "containerd"
    version: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    # sandboxes
    async def run_pod_sandbox(self, config: SandboxConfig) -> str: ...
    async def stop_pod_sandbox(self, sandbox_id: str) -> None: ...
    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...
    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus: ...
    async def list_pod_sandboxes(self) -> list[SandboxStatus]: ...

    # containers
    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds (0: kill at once)."""
    async def remove_container(self, container_id: str) -> None: ...
    async def container_status(self, container_id: str) -> ContainerStatus: ...
    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    # exec, logs, probes
    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult: ...
    def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
             since: float | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        """The container's log, line by line (each line ending in a newline)."""

    async def exec_url(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool, stdout: bool,
                       stderr: bool) -> str | None:
        """The URL of the runtime's streaming server for an exec session (CRI Exec); None from a
        runtime without one (the fake), and the kubelet then uses exec_sync."""

    async def probe(self, container_id: str, kind: str, probe: dict[str, Any]) -> bool | None:
        """A runtime that simulates containers answers probes itself (True/False); a real
        runtime returns None and the kubelet probes for real (exec via exec_sync, httpGet and
        tcpSocket against the pod IP)."""

    # images
    async def image_status(self, image: str) -> ImageInfo | None: ...
    async def pull_image(self, image: str, sandbox: SandboxConfig | None = None) -> ImageInfo:
        """Pull `image` (CRI PullImage carries the pod's sandbox config for per-pod credentials)."""
    async def list_images(self) -> list[ImageInfo]: ...
