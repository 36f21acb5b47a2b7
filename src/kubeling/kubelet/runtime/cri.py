"""The Runtime (base.py) over CRI v1 gRPC: containerd (or any CRI runtime) runs the pods.

The kubelet's dataclasses map onto CRI messages as Kubernetes' kuberuntime does. The
`ContainerConfig.linux` dict carries what the kubelet resolved from the pod spec, in CRI's
units; every key is optional:

    cpu_shares: int              LinuxContainerResources.cpu_shares (relative weight, >= 2)
    cpu_quota: int               .cpu_quota, microseconds per period (CFS), with ...
    cpu_period: int              .cpu_period, microseconds (Kubernetes uses 100000)
    memory_limit_in_bytes: int   .memory_limit_in_bytes
    oom_score_adj: int           .oom_score_adj
    run_as_user: int             LinuxContainerSecurityContext.run_as_user
    run_as_group: int            .run_as_group (needs run_as_user)
    readonly_rootfs: bool        .readonly_rootfs
    privileged: bool             .privileged
    capabilities_add / capabilities_drop: list[str]   .capabilities

Other keys are ignored. A value of the wrong type is a CRIError with code InvalidArgument.

Calls go over grpc_unary (gRPC on HTTP/2, without grpcio). gRPC failures raise CRIError (a RuntimeError); NotFound also is a LookupError. Stopping or
removing what is already gone is not an error, as the kubelet treats it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError, Message

from kubeling.kubelet.runtime import crilog
from kubeling.kubelet.runtime.critrace import Call, CallTrace, call_ids
from kubeling.kubelet.runtime.base import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    ExecResult,
    ImageInfo,
    SandboxConfig,
    SandboxStatus,
)
from kubeling.kubelet.runtime.criapi import RPCS, pb
from kubeling.kubelet.runtime.grpc_unary import Channel, Code, GrpcError

API_VERSION = "v1"
REQUEST_TIMEOUT = 120.0  # seconds; the kubelet's default --runtime-request-timeout is 2m
MAX_MESSAGE = 16 * 1024 * 1024  # ExecSync output is capped at 16 MiB by the runtime
_NS = 1e9


class CRIError(RuntimeError):
    """A failed CRI call. `code` is the gRPC status in Go's spelling ("NotFound", "Unknown")."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class CRINotFoundError(CRIError, LookupError):
    pass


def cri_error(e: GrpcError) -> CRIError:
    cls = CRINotFoundError if e.code == Code.NotFound else CRIError
    return cls(e.code.name, e.message or e.code.name)


# ---------------------------------------------------------------- dataclasses -> messages

_PROTOCOLS = {"TCP": pb.TCP, "UDP": pb.UDP, "SCTP": pb.SCTP}
_STATES = {pb.CONTAINER_CREATED: ContainerState.CREATED, pb.CONTAINER_RUNNING: ContainerState.RUNNING,
           pb.CONTAINER_EXITED: ContainerState.EXITED, pb.CONTAINER_UNKNOWN: ContainerState.UNKNOWN}
_RESOURCE_KEYS = ("cpu_shares", "cpu_quota", "cpu_period", "memory_limit_in_bytes", "oom_score_adj")


def _seconds(ns: int) -> float:
    return ns / _NS if ns > 0 else 0.0


def dns_config(dns: dict[str, Any]) -> pb.DNSConfig:
    """A pod's dnsConfig ({nameservers, searches, options: [{name, value}]}) as CRI's, whose
    options are resolv.conf words ("ndots:5"). CRI's own keys (servers, options as strings) pass."""
    options = []
    for opt in dns.get("options") or ():
        if isinstance(opt, str):
            options.append(opt)
        elif opt.get("value") not in (None, ""):
            options.append(f"{opt['name']}:{opt['value']}")
        else:
            options.append(opt["name"])
    return pb.DNSConfig(servers=list(dns.get("nameservers") or dns.get("servers") or ()),
                        searches=list(dns.get("searches") or ()), options=options)


def port_mapping(port: dict[str, Any]) -> pb.PortMapping:
    protocol = str(port.get("protocol") or "TCP").upper()
    if protocol not in _PROTOCOLS:
        raise CRIError("InvalidArgument", f'unsupported protocol "{port.get("protocol")}"')
    return pb.PortMapping(protocol=_PROTOCOLS[protocol], container_port=int(port.get("container_port", 0)),
                          host_port=int(port.get("host_port", 0)), host_ip=port.get("host_ip", "") or "")


def _namespaces(host_network: bool) -> pb.NamespaceOption:
    # The kubelet gives each container its own PID namespace (v1 pods' default) and the pod one IPC.
    return pb.NamespaceOption(network=pb.NODE if host_network else pb.POD, pid=pb.CONTAINER, ipc=pb.POD)


def sandbox_labels(config: SandboxConfig) -> dict[str, str]:
    """The pod's labels plus the ones the kubelet adds to find its sandboxes again."""
    return {**config.labels, "io.kubernetes.pod.name": config.name,
            "io.kubernetes.pod.namespace": config.namespace, "io.kubernetes.pod.uid": config.uid}


def pod_sandbox_config(config: SandboxConfig, *, pod_log_root: Path, cgroup_parent: str = "") -> pb.PodSandboxConfig:
    return pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=config.name, uid=config.uid, namespace=config.namespace,
                                       attempt=config.attempt),
        # A sandbox on the node's network keeps the node's hostname; CRI wants it empty then.
        hostname="" if config.host_network else config.hostname,
        log_directory=str(pod_log_root / config.log_directory) if config.log_directory else "",
        dns_config=dns_config(config.dns) if config.dns else None,
        port_mappings=[port_mapping(p) for p in config.port_mappings],
        labels=sandbox_labels(config), annotations=config.annotations,
        linux=pb.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=pb.LinuxSandboxSecurityContext(namespace_options=_namespaces(config.host_network))))


def _int(linux: dict[str, Any], key: str) -> int:
    value = linux[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise CRIError("InvalidArgument", f"linux.{key}: expected an integer, got {value!r}")
    return value


def _bool(linux: dict[str, Any], key: str) -> bool:
    value = linux.get(key, False)
    if not isinstance(value, bool):
        raise CRIError("InvalidArgument", f"linux.{key}: expected a boolean, got {value!r}")
    return value


def _strings(linux: dict[str, Any], key: str) -> list[str]:
    value = linux.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CRIError("InvalidArgument", f"linux.{key}: expected a list of strings, got {value!r}")
    return value


def linux_container_config(linux: dict[str, Any], host_network: bool) -> pb.LinuxContainerConfig:
    resources = pb.LinuxContainerResources(**{k: _int(linux, k) for k in _RESOURCE_KEYS if k in linux})
    sc = pb.LinuxContainerSecurityContext(
        privileged=_bool(linux, "privileged"), readonly_rootfs=_bool(linux, "readonly_rootfs"),
        namespace_options=_namespaces(host_network))
    if "run_as_user" in linux:
        sc.run_as_user.value = _int(linux, "run_as_user")
    if "run_as_group" in linux:
        sc.run_as_group.value = _int(linux, "run_as_group")
    add, drop = _strings(linux, "capabilities_add"), _strings(linux, "capabilities_drop")
    if add or drop:
        sc.capabilities.add_capabilities[:] = add
        sc.capabilities.drop_capabilities[:] = drop
    return pb.LinuxContainerConfig(resources=resources, security_context=sc)


def container_config(config: ContainerConfig, sandbox: SandboxConfig) -> pb.ContainerConfig:
    return pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=config.name, attempt=config.attempt),
        image=pb.ImageSpec(image=config.image, user_specified_image=config.image),
        command=config.command, args=config.args, working_dir=config.working_dir,
        envs=[pb.KeyValue(key=k, value=v) for k, v in config.env.items()],
        mounts=[pb.Mount(container_path=m.container_path, host_path=m.host_path, readonly=m.readonly)
                for m in config.mounts],
        labels=config.labels, annotations=config.annotations, log_path=config.log_path,
        stdin=config.stdin, tty=config.tty, linux=linux_container_config(config.linux, sandbox.host_network))


# ---------------------------------------------------------------- messages -> dataclasses


def sandbox_status(s: pb.PodSandboxStatus | pb.PodSandbox) -> SandboxStatus:
    network = getattr(s, "network", None)
    return SandboxStatus(
        id=s.id, state=pb.PodSandboxState.Name(s.state), created_at=_seconds(s.created_at),
        uid=s.metadata.uid, attempt=s.metadata.attempt,
        ip=network.ip if network is not None else "",
        additional_ips=[p.ip for p in network.additional_ips] if network is not None else [])


def container_status(s: pb.ContainerStatus, sandbox_id: str = "") -> ContainerStatus:
    return ContainerStatus(
        id=s.id, name=s.metadata.name, attempt=s.metadata.attempt, state=_STATES[s.state],
        image=s.image.image, image_ref=s.image_ref, created_at=_seconds(s.created_at),
        started_at=_seconds(s.started_at), finished_at=_seconds(s.finished_at), exit_code=s.exit_code,
        reason=s.reason, message=s.message, log_path=s.log_path, sandbox_id=sandbox_id)


def listed_container(c: pb.Container) -> ContainerStatus:
    """What ListContainers tells (no times but creation, no exit code): the kubelet's relist."""
    return ContainerStatus(
        id=c.id, name=c.metadata.name, attempt=c.metadata.attempt, state=_STATES[c.state],
        image=c.image.image, image_ref=c.image_ref, created_at=_seconds(c.created_at), sandbox_id=c.pod_sandbox_id)


def image_info(image: pb.Image) -> ImageInfo:
    return ImageInfo(id=image.id, repo_tags=list(image.repo_tags), size=image.size)


# ---------------------------------------------------------------- the runtime


class CRIRuntime:
    """A Runtime (base.py) speaking CRI v1 to `endpoint` ("unix:///run/containerd/containerd.sock")."""

    name = "containerd"
    version = ""

    def __init__(self, endpoint: str, *, pod_log_root: str | Path, runtime_handler: str = "",
                 cgroup_parent: str = "", request_timeout: float = REQUEST_TIMEOUT,
                 trace: CallTrace | None = None):
        # trace: counts and times every call (critrace.py); by default one that writes its
        # lines where KUBELING_CRI_TRACE says, if it says.
        self.endpoint = endpoint
        self.pod_log_root = Path(pod_log_root)
        self.runtime_handler = runtime_handler
        self.cgroup_parent = cgroup_parent
        self.request_timeout = request_timeout
        self.api_version = ""
        self._channel: Channel | None = None
        self._sandbox_of: dict[str, str] = {}  # container id -> sandbox id (ContainerStatus lacks it)
        self.trace = trace if trace is not None else CallTrace.from_env()

    # -- connection

    async def start(self) -> None:
        """Connect and ask the runtime who it is (fails if it does not answer CRI v1)."""
        try:
            self._channel = Channel(self.endpoint, max_message=MAX_MESSAGE + 1024 * 1024)
        except ValueError as e:
            raise CRIError("InvalidArgument", str(e)) from None
        resp = await self._call("Version", pb.VersionRequest(version=API_VERSION))
        self.name, self.version, self.api_version = resp.runtime_name, resp.runtime_version, resp.runtime_api_version

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        self.trace.close()

    async def _call(self, rpc: str, request: Message, timeout: float | None = -1.0) -> Any:
        if self._channel is None:
            raise CRIError("Unavailable", f"CRI runtime {self.endpoint} is not connected (start() first)")
        method = RPCS[rpc]
        began, response, error = time.time(), None, ""
        try:
            answer = await self._channel.call(method.path, request.SerializeToString(),
                                              self.request_timeout if timeout == -1.0 else timeout)
            response = method.response.FromString(answer)
            return response
        except GrpcError as e:
            error = e.code.name
            raise cri_error(e) from None
        except DecodeError as e:
            error = "Internal"
            raise CRIError("Internal", f"grpc: failed to unmarshal the received message: {e}") from None
        finally:
            if response is None and not error:
                error = "Canceled"  # the caller gave up (cancelled, or its own deadline)
            self.trace.record(Call(rpc, began, time.time(), *call_ids(request, response), error=error))

    async def _call_idempotent(self, rpc: str, request: Message) -> None:
        try:
            await self._call(rpc, request)
        except CRINotFoundError:
            pass  # already gone

    async def status(self) -> dict[str, tuple[bool, str, str]]:
        """The runtime's conditions (RuntimeReady, NetworkReady): type -> (status, reason, message)."""
        resp = await self._call("Status", pb.StatusRequest())
        return {c.type: (c.status, c.reason, c.message) for c in resp.status.conditions}

    # -- sandboxes

    async def run_pod_sandbox(self, config: SandboxConfig) -> str:
        request = pb.RunPodSandboxRequest(
            config=pod_sandbox_config(config, pod_log_root=self.pod_log_root, cgroup_parent=self.cgroup_parent),
            runtime_handler=self.runtime_handler)
        if request.config.log_directory:
            # The kubelet makes the pod's log directory; the runtime only creates files in it. In
            # line: a mkdir or two take microseconds, a hop to a thread and back (GIL) far longer.
            os.makedirs(request.config.log_directory, 0o755, exist_ok=True)
        resp = await self._call("RunPodSandbox", request)
        return resp.pod_sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call_idempotent("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self._call_idempotent("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
        self._sandbox_of = {c: s for c, s in self._sandbox_of.items() if s != sandbox_id}

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        resp = await self._call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id))
        return sandbox_status(resp.status)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        """Every sandbox, without IPs (ListPodSandbox has none: ask pod_sandbox_status)."""
        resp = await self._call("ListPodSandbox", pb.ListPodSandboxRequest())
        return [sandbox_status(s) for s in resp.items]

    # -- containers

    async def create_container(self, sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig) -> str:
        sandbox_config = pod_sandbox_config(sandbox, pod_log_root=self.pod_log_root, cgroup_parent=self.cgroup_parent)
        request = pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=container_config(config, sandbox),
                                            sandbox_config=sandbox_config)
        if sandbox_config.log_directory and config.log_path:
            # The kubelet makes the container's log directory (<log_directory>/<name>/).
            log_dir = os.path.dirname(os.path.join(sandbox_config.log_directory, config.log_path))
            os.makedirs(log_dir, 0o755, exist_ok=True)
        resp = await self._call("CreateContainer", request)
        self._sandbox_of[resp.container_id] = sandbox_id
        return resp.container_id

    async def start_container(self, container_id: str) -> None:
        await self._call("StartContainer", pb.StartContainerRequest(container_id=container_id))

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM (the image's stop signal), SIGKILL after `timeout` seconds (rounded up: CRI
        counts whole seconds). The call lasts up to the timeout, so its deadline is longer."""
        seconds = max(0, math.ceil(timeout))
        request = pb.StopContainerRequest(container_id=container_id, timeout=seconds)
        try:
            await self._call("StopContainer", request, timeout=self.request_timeout + seconds)
        except CRINotFoundError:
            pass

    async def remove_container(self, container_id: str) -> None:
        await self._call_idempotent("RemoveContainer", pb.RemoveContainerRequest(container_id=container_id))
        self._sandbox_of.pop(container_id, None)

    async def _sandbox_id(self, container_id: str) -> str:
        if container_id not in self._sandbox_of:  # created before we started: ask the list
            found = await self._call("ListContainers", pb.ListContainersRequest(filter=pb.ContainerFilter(id=container_id)))
            for c in found.containers:
                self._sandbox_of[c.id] = c.pod_sandbox_id
        return self._sandbox_of.get(container_id, "")

    async def container_status(self, container_id: str) -> ContainerStatus:
        resp = await self._call("ContainerStatus", pb.ContainerStatusRequest(container_id=container_id))
        return container_status(resp.status, await self._sandbox_id(container_id))

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Containers (of one sandbox), as ListContainers has them: no start/finish times or exit
        codes (ask container_status for those)."""
        request = pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=sandbox_id or ""))
        resp = await self._call("ListContainers", request)
        for c in resp.containers:
            self._sandbox_of[c.id] = c.pod_sandbox_id
        return [listed_container(c) for c in resp.containers]

    # -- exec, logs, probes

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float) -> ExecResult:
        """Run cmd in the container; `timeout` seconds (0: none) bound the command, the runtime kills it then."""
        seconds = max(0, math.ceil(timeout))
        request = pb.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=seconds)
        resp = await self._call("ExecSync", request, timeout=self.request_timeout + seconds if seconds else None)
        return ExecResult(exit_code=resp.exit_code, stdout=resp.stdout, stderr=resp.stderr)

    async def exec_url(self, container_id: str, cmd: list[str], *, tty: bool = False, stdin: bool = False,
                       stdout: bool = True, stderr: bool = True) -> str:
        """The URL of the runtime's streaming server for an interactive exec (CRI Exec)."""
        if not (stdin or stdout or stderr):
            raise CRIError("InvalidArgument", "one of stdin, stdout, or stderr must be set")
        request = pb.ExecRequest(container_id=container_id, cmd=cmd, tty=tty, stdin=stdin, stdout=stdout,
                                 stderr=stderr and not tty)  # a TTY merges stderr into stdout
        resp = await self._call("Exec", request)
        return resp.url

    def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
             since: float | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        """The container's CRI log file, read by crilog; a follow ends when the container exits."""
        return self._logs(container_id, follow, tail_lines, since, timestamps)

    async def _logs(self, container_id: str, follow: bool, tail_lines: int | None, since: float | None,
                    timestamps: bool) -> AsyncIterator[bytes]:
        status = await self.container_status(container_id)
        if not status.log_path or not os.path.exists(status.log_path):
            return  # nothing written yet (or logs not kept for this container)

        async def running() -> bool:
            try:
                return (await self.container_status(container_id)).state == ContainerState.RUNNING
            except CRINotFoundError:
                return False

        lines = crilog.read_log(status.log_path, follow=follow, tail_lines=tail_lines, since=since,
                                timestamps=timestamps, is_running=running)
        try:
            async for line in lines:
                yield line
        finally:
            await lines.aclose()

    async def probe(self, container_id: str, kind: str, probe: dict[str, Any]) -> bool | None:
        return None  # containers are real: the kubelet probes them itself

    # -- images

    async def image_status(self, image: str) -> ImageInfo | None:
        resp = await self._call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image)))
        return image_info(resp.image) if resp.HasField("image") else None

    async def pull_image(self, image: str, sandbox: SandboxConfig | None = None) -> ImageInfo:
        """Pull through the runtime (no deadline: a pull takes what it takes)."""
        request = pb.PullImageRequest(image=pb.ImageSpec(image=image, user_specified_image=image))
        if sandbox is not None:
            request.sandbox_config.CopyFrom(
                pod_sandbox_config(sandbox, pod_log_root=self.pod_log_root, cgroup_parent=self.cgroup_parent))
        resp = await self._call("PullImage", request, timeout=None)
        return await self.image_status(resp.image_ref) or ImageInfo(id=resp.image_ref, repo_tags=[image])

    async def list_images(self) -> list[ImageInfo]:
        resp = await self._call("ListImages", pb.ListImagesRequest())
        return [image_info(i) for i in resp.images]

    async def remove_image(self, image: str) -> None:
        await self._call_idempotent("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=image)))
