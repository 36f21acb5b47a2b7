"""A simulated container runtime: sandboxes and containers live in memory, nothing runs.

Containers start at once and run until stopped, unless the pod asks otherwise through
annotations (the kubelet copies pod annotations into SandboxConfig.annotations), in the spirit
of kwok's stages. Every key also exists per container as `fake.kubeling.io/<container>.<key>`,
which wins over the pod-wide `fake.kubeling.io/<key>`. Durations are Go-style ("2s", "1m30s",
"500ms") or plain seconds ("2.5").

  start-delay: D         CREATED -> RUNNING takes D (StartContainer blocks that long, as CRI does)
  start-error: MSG       StartContainer fails: the container ends EXITED, exit code 128,
                         reason "StartError" (what containerd reports when the task can't start)
  exit-after: D          the container exits by itself D after it started ...
  exit-code: N           ... with exit code N (default 0; reason "Completed" if 0 else "Error")
  exit-reason: R         ... overriding the reason (e.g. "OOMKilled")
  stop-delay: D|never    time the process takes to exit after SIGTERM (default 0: at once);
                         "never" ignores SIGTERM, so it is always killed after the grace period
  stop-exit-code: N      exit code when it exits on SIGTERM (default 143 = 128+SIGTERM)
  logs: "l1\nl2"         lines written when the container starts
                         (default: "fake container <name> started")
  readiness|liveness|startup: pass | fail | fail-after D | pass-after D
                         probe answers (default pass); "-after" counts from the container start
  exec-exit-code: N      exit code of exec_sync (default 0); exec-stdout: TEXT its output,
                         followed by the exec's stdin if it was given any (`kubectl exec -i`);
                         exec-stderr: TEXT its error output
  image-pull: fail       pull_image raises ImagePullError (pod-wide only: a pull names no container)
  image-pull-delay: D    pull_image takes D

Exit codes follow what containerd reports for a Linux process killed by a signal: 128+signal,
so 143 when SIGTERM ends it and 137 when SIGKILL does (grace period over, or timeout 0).

Time-based behaviour runs on the injected clock, and a timer task exists only for a container
that asked for `exit-after`, so 10,000 idle pods cost no tasks.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import ipaddress
import logging
import math
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from kubeling import __version__
from kubeling.client.clock import REAL, Clock
from kubeling.kubelet.runtime.base import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    ExecResult,
    ImageInfo,
    SandboxConfig,
    SandboxStatus,
)

log = logging.getLogger(__name__)

PREFIX = "fake.kubeling.io/"
SANDBOX_READY = "SANDBOX_READY"
SANDBOX_NOTREADY = "SANDBOX_NOTREADY"
EXIT_SIGTERM = 128 + 15
EXIT_SIGKILL = 128 + 9
EXIT_START_ERROR = 128
PROBE_KINDS = ("readiness", "liveness", "startup")

# CRI ContainerEventType names (GetContainerEvents), for listeners.
CONTAINER_CREATED_EVENT = "CONTAINER_CREATED_EVENT"
CONTAINER_STARTED_EVENT = "CONTAINER_STARTED_EVENT"
CONTAINER_STOPPED_EVENT = "CONTAINER_STOPPED_EVENT"
CONTAINER_DELETED_EVENT = "CONTAINER_DELETED_EVENT"


def _snapshot(status: Any) -> Any:
    """A shallow copy of a status record (what a real runtime's answer would be: the caller's
    own). copy.copy goes through __reduce_ex__: a tenth of a 10,000-pod sim's time."""
    new = object.__new__(type(status))
    new.__dict__.update(status.__dict__)
    return new


class FakeRuntimeError(Exception):
    """A failed runtime call; `code` mirrors the gRPC status a CRI runtime would return."""

    code = "Unknown"


class NotFoundError(FakeRuntimeError, LookupError):
    code = "NotFound"


class FailedPreconditionError(FakeRuntimeError):
    code = "FailedPrecondition"


class ImagePullError(FakeRuntimeError):
    pass


@dataclass
class ContainerEvent:
    """A container state change (CRI ContainerEventResponse), so a kubelet need not relist."""

    type: str
    container_id: str
    sandbox_id: str
    pod_namespace: str
    pod_name: str
    pod_uid: str
    created_at: float


# ---------------------------------------------------------------- annotation parsing

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PROBE_AFTER = re.compile(r"^(pass|fail)-after[\s:=]*(\S+)$")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("1m30s", "500ms") or a plain number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}")
    return total


@dataclass(frozen=True)
class ProbeRule:
    """Answer `initial` until `flip_after` seconds after the start, then the opposite."""

    initial: bool = True
    flip_after: float | None = None

    def answer(self, running_for: float) -> bool:
        if self.flip_after is not None and running_for >= self.flip_after:
            return not self.initial
        return self.initial


def parse_probe(text: str) -> ProbeRule:
    value = text.strip().lower()
    if value in ("pass", "fail"):
        return ProbeRule(initial=value == "pass")
    m = _PROBE_AFTER.match(value)
    if not m:
        raise ValueError(f"invalid probe answer {text!r} (want pass, fail, fail-after D or pass-after D)")
    # "fail-after D": passes first, fails from D on.
    return ProbeRule(initial=m.group(1) == "fail", flip_after=parse_duration(m.group(2)))


@dataclass
class Behaviour:
    """How one simulated container behaves, resolved from annotations at creation."""

    start_delay: float = 0.0
    start_error: str = ""
    exit_after: float | None = None
    exit_code: int = 0
    exit_reason: str = ""
    stop_delay: float = 0.0
    stop_exit_code: int = EXIT_SIGTERM
    logs: list[str] | None = None
    probes: dict[str, ProbeRule] = field(default_factory=dict)
    exec_exit_code: int = 0
    exec_stdout: str = ""
    exec_stderr: str = ""

    @classmethod
    def from_annotations(cls, annotations: dict[str, str], container: str) -> Behaviour:
        def full_key(key: str) -> str:
            own = f"{PREFIX}{container}.{key}"
            return own if own in annotations else PREFIX + key

        def get(key: str) -> str | None:
            return annotations.get(full_key(key))

        def parse(key: str, conv: Callable[[str], Any], default: Any) -> Any:
            raw = get(key)
            if raw is None:
                return default
            try:
                return conv(raw)
            except ValueError as e:
                raise FakeRuntimeError(f"invalid annotation {full_key(key)}={raw!r}: {e}") from None

        def stop_delay(raw: str) -> float:
            return math.inf if raw.strip().lower() == "never" else parse_duration(raw)

        logs = get("logs")
        return cls(
            start_delay=parse("start-delay", parse_duration, 0.0),
            start_error=get("start-error") or "",
            exit_after=parse("exit-after", parse_duration, None),
            exit_code=parse("exit-code", int, 0),
            exit_reason=get("exit-reason") or "",
            stop_delay=parse("stop-delay", stop_delay, 0.0),
            stop_exit_code=parse("stop-exit-code", int, EXIT_SIGTERM),
            logs=None if logs is None else [ln for ln in logs.rstrip("\n").split("\n") if logs],
            probes={k: parse(k, parse_probe, None) for k in PROBE_KINDS if get(k) is not None},
            exec_exit_code=parse("exec-exit-code", int, 0),
            exec_stdout=get("exec-stdout") or "",
            exec_stderr=get("exec-stderr") or "",
        )


# ---------------------------------------------------------------- images


def normalize_image(ref: str) -> str:
    """The fully qualified name containerd records: docker.io/library/nginx:latest."""
    name, sep, digest = ref.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = ("docker.io/library/" if not slash else "docker.io/") + name
    if not sep and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if sep else name


def image_info(ref: str) -> ImageInfo:
    """A stable fake image: its id hashes the normalized name; its size is derived from it."""
    name = normalize_image(ref)
    digest = hashlib.sha256(name.encode()).hexdigest()
    size = 1_000_000 + int(digest[:8], 16) % 100_000_000
    return ImageInfo(id=f"sha256:{digest}", repo_tags=[name] if "@" not in name else [], size=size)


def image_ref(name: str, image_id: str) -> str:
    """The repo digest the kubelet reports as imageID (docker.io/library/nginx@sha256:...)."""
    repo = name.split("@", 1)[0]
    last = repo.rsplit("/", 1)
    if ":" in last[-1]:
        repo = repo[: repo.rindex(":")]
    return f"{repo}@{image_id}"


# ---------------------------------------------------------------- IP allocation


class IPPool:
    """host-local style: hand out addresses round-robin, skipping network, gateway (.1) and
    broadcast, so a freed address is not reused at once."""

    def __init__(self, cidr: str):
        self.net = ipaddress.ip_network(cidr, strict=False)
        self._first = int(self.net.network_address) + 2
        self._last = int(self.net.broadcast_address) - (1 if self.net.version == 4 else 0)
        self._next = self._first
        self._used: set[int] = set()

    def allocate(self) -> str:
        size = self._last - self._first + 1
        for _ in range(max(size, 0)):
            candidate = self._next
            self._next = self._first if candidate >= self._last else candidate + 1
            if candidate not in self._used:
                self._used.add(candidate)
                return str(ipaddress.ip_address(candidate))
        lo, hi = ipaddress.ip_address(self._first - 1), ipaddress.ip_address(self._last)
        raise FakeRuntimeError(
            f"failed to allocate for range 0: no IP addresses available in range set: {lo}-{hi}")

    def release(self, ip: str) -> None:
        self._used.discard(int(ipaddress.ip_address(ip)))


# ---------------------------------------------------------------- records


def rfc3339nano(t: dt.datetime) -> str:
    """Go's time.RFC3339Nano in UTC: fraction with trailing zeros trimmed, as CRI logs carry."""
    t = t.astimezone(dt.UTC)
    frac = f"{t.microsecond * 1000:09d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


@dataclass
class _Sandbox:
    config: SandboxConfig
    status: SandboxStatus
    containers: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _Container:
    status: ContainerStatus
    behaviour: Behaviour
    reserved_name: str
    starting: bool = False
    removed: bool = False
    timer: asyncio.Task | None = None
    # (epoch seconds, wall time, text): stdout lines, oldest first
    logs: list[tuple[float, dt.datetime, str]] = field(default_factory=list)
    waiters: list[asyncio.Future] = field(default_factory=list)

    def notify(self) -> None:
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


# ---------------------------------------------------------------- the runtime


class FakeRuntime:
    """An in-memory Runtime (see base.py) whose containers simulate what annotations ask."""

    name = "fake"
    version = __version__

    def __init__(self, *, clock: Clock = REAL, pod_cidr: str = "10.244.0.0/24",
                 images: list[str] | None = None):
        self.clock = clock
        self.pool = IPPool(pod_cidr)
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._names: set[str] = set()
        self._images: dict[str, ImageInfo] = {}
        self._listeners: list[Callable[[ContainerEvent], None]] = []
        self._closed = False
        for ref in images or ():
            self._add_image(ref)

    async def start(self) -> None:
        pass

    def update_pod_cidr(self, cidr: str) -> None:
        """The node's podCIDR, as CRI's UpdateRuntimeConfig gives it: new sandboxes take their
        addresses from it; running ones keep theirs."""
        if ipaddress.ip_network(cidr, strict=False) == self.pool.net:
            return
        pool = IPPool(cidr)
        for sb in self._sandboxes.values():  # an address still in use stays taken
            if sb.status.ip and ipaddress.ip_address(sb.status.ip) in pool.net:
                pool._used.add(int(ipaddress.ip_address(sb.status.ip)))
        self.pool = pool

    async def close(self) -> None:
        self._closed = True  # ends log followers
        for c in self._containers.values():
            if c.timer is not None:
                c.timer.cancel()
                c.timer = None
            c.notify()

    # -- events

    def add_listener(self, fn: Callable[[ContainerEvent], None]) -> None:
        """Call fn on every container state change (CRI GetContainerEvents, as a callback)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[ContainerEvent], None]) -> None:
        self._listeners.remove(fn)

    def _emit(self, kind: str, c: _Container) -> None:
        if not self._listeners:
            return
        sb = self._sandboxes.get(c.status.sandbox_id)
        cfg = sb.config if sb else SandboxConfig(name="", namespace="", uid="")
        event = ContainerEvent(kind, c.status.id, c.status.sandbox_id, cfg.namespace, cfg.name,
                               cfg.uid, self._now())
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # a broken listener must not break the runtime
                log.exception("fake runtime: event listener failed")

    # -- helpers

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise NotFoundError(f'an error occurred when try to find sandbox "{sandbox_id}": not found')
        return sb

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise NotFoundError(
                f'an error occurred when try to find container "{container_id}": not found')
        return c

    # -- sandboxes

    async def run_pod_sandbox(self, config: SandboxConfig) -> str:
        sandbox_id = os.urandom(32).hex()
        ip = "" if config.host_network else self.pool.allocate()
        status = SandboxStatus(id=sandbox_id, state=SANDBOX_READY, ip=ip, created_at=self._now(), uid=config.uid,
                               attempt=config.attempt)
        self._sandboxes[sandbox_id] = _Sandbox(config=config, status=status)
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill its containers at once and tear down its network (the IP goes back to the
        pool; the status keeps reporting it, as containerd's does). Idempotent."""
        sb = self._sandboxes.get(sandbox_id)
        if sb is None or sb.status.state == SANDBOX_NOTREADY:
            return
        for cid in list(sb.containers):
            self._kill(self._containers[cid])
        sb.status.state = SANDBOX_NOTREADY
        if sb.status.ip:
            self.pool.release(sb.status.ip)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove it and its containers, stopping them first. Idempotent, as CRI requires."""
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for cid in list(sb.containers):
            await self.remove_container(cid)
        del self._sandboxes[sandbox_id]

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        return _snapshot(self._sandbox(sandbox_id).status)

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        return [_snapshot(sb.status) for sb in self._sandboxes.values()]

    # -- containers

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str:
        sb = self._sandbox(sandbox_id)
        if sb.status.state != SANDBOX_READY:
            raise FailedPreconditionError(f'sandbox "{sandbox_id}" is not ready')
        image = self._images.get(normalize_image(config.image)) or self._images.get(config.image)
        if image is None:
            raise NotFoundError(f'failed to resolve image "{normalize_image(config.image)}": not found')
        reserved = f"{config.name}_{sandbox.name}_{sandbox.namespace}_{sandbox.uid}_{config.attempt}"
        if reserved in self._names:
            raise FakeRuntimeError(f'failed to reserve container name "{reserved}": name is reserved')
        behaviour = Behaviour.from_annotations({**sandbox.annotations, **config.annotations}, config.name)
        container_id = os.urandom(32).hex()
        log_path = config.log_path
        if sandbox.log_directory and log_path:
            log_path = f"{sandbox.log_directory.rstrip('/')}/{log_path}"
        status = ContainerStatus(
            id=container_id, name=config.name, state=ContainerState.CREATED, attempt=config.attempt,
            image=image.repo_tags[0] if image.repo_tags else config.image,
            image_ref=image_ref(normalize_image(config.image), image.id),
            created_at=self._now(), log_path=log_path, sandbox_id=sandbox_id)
        c = _Container(status=status, behaviour=behaviour, reserved_name=reserved)
        self._containers[container_id] = c
        self._names.add(reserved)
        sb.containers.add(container_id)
        self._emit(CONTAINER_CREATED_EVENT, c)
        return container_id

    async def start_container(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.status.state != ContainerState.CREATED or c.starting:
            raise FailedPreconditionError(
                f'container "{container_id}" is in CONTAINER_{c.status.state.value} state')
        b = c.behaviour
        if b.start_delay > 0:
            c.starting = True
            try:
                await self.clock.sleep(b.start_delay)
            finally:
                c.starting = False
            if c.removed or c.status.state != ContainerState.CREATED:
                raise FakeRuntimeError(f'container "{container_id}" was stopped while starting')
        if b.start_error:
            self._exit(c, EXIT_START_ERROR, "StartError", b.start_error)
            raise FakeRuntimeError(f"failed to create containerd task: {b.start_error}")
        c.status.state = ContainerState.RUNNING
        c.status.started_at = self._now()
        lines = b.logs if b.logs is not None else [f"fake container {c.status.name} started"]
        for line in lines:
            self._write_log(c, line)
        if b.exit_after is not None:
            c.timer = asyncio.get_running_loop().create_task(self._exit_later(c, b.exit_after))
        self._emit(CONTAINER_STARTED_EVENT, c)

    async def _exit_later(self, c: _Container, delay: float) -> None:
        await self.clock.sleep(delay)
        c.timer = None  # done: _exit must not cancel the task it runs in
        if c.status.state == ContainerState.RUNNING:
            self._exit(c, c.behaviour.exit_code, c.behaviour.exit_reason)

    def _exit(self, c: _Container, code: int, reason: str = "", message: str = "") -> None:
        if c.timer is not None:
            c.timer.cancel()
            c.timer = None
        s = c.status
        s.state = ContainerState.EXITED
        s.finished_at = self._now()
        s.exit_code = code
        s.reason = reason or ("Completed" if code == 0 else "Error")
        s.message = message
        c.notify()
        self._emit(CONTAINER_STOPPED_EVENT, c)

    def _kill(self, c: _Container) -> None:
        """SIGKILL: a running (or still starting) container ends with 137."""
        if c.status.state == ContainerState.RUNNING or (
                c.status.state == ContainerState.CREATED and c.starting):
            self._exit(c, EXIT_SIGKILL)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, wait up to `timeout` for the process to exit (its `stop-delay`), then
        SIGKILL. Returns once the container has exited; a no-op if it is not running."""
        c = self._container(container_id)
        if c.status.state != ContainerState.RUNNING:
            self._kill(c)  # a container still in its start delay is killed
            return
        b = c.behaviour
        if timeout <= 0:
            self._kill(c)
            return
        if b.stop_delay < timeout:
            if b.stop_delay > 0:
                await self.clock.sleep(b.stop_delay)
            if c.status.state == ContainerState.RUNNING:
                self._exit(c, b.stop_exit_code)
            return
        await self.clock.sleep(timeout)
        self._kill(c)

    async def remove_container(self, container_id: str) -> None:
        """Remove it, killing it first if it still runs. Idempotent, as CRI requires."""
        c = self._containers.pop(container_id, None)
        if c is None:
            return
        self._kill(c)
        c.removed = True
        self._names.discard(c.reserved_name)
        sb = self._sandboxes.get(c.status.sandbox_id)
        if sb is not None:
            sb.containers.discard(container_id)
        c.notify()
        self._emit(CONTAINER_DELETED_EVENT, c)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return _snapshot(self._container(container_id).status)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        if sandbox_id is None:
            return [_snapshot(c.status) for c in self._containers.values()]
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return []
        return [_snapshot(self._containers[cid].status) for cid in sb.containers]

    # -- exec, logs, probes

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float,
                        stdin: bytes = b"") -> ExecResult:
        """The annotated answer; `stdin` (the kubelet's interactive exec) is echoed after it."""
        c = self._container(container_id)
        if c.status.state != ContainerState.RUNNING:
            raise FailedPreconditionError(
                f'container is in CONTAINER_{c.status.state.value} state')
        b = c.behaviour
        return ExecResult(exit_code=b.exec_exit_code, stdout=b.exec_stdout.encode() + stdin,
                          stderr=b.exec_stderr.encode())

    async def exec_url(self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool, stdout: bool,
                       stderr: bool) -> str | None:
        """No streaming server here: None tells the kubelet to exec through exec_sync."""
        self._container(container_id)
        return None

    async def probe(self, container_id: str, kind: str, probe: dict[str, Any]) -> bool | None:
        """The answer the annotations give (default pass); a container not running fails."""
        c = self._container(container_id)
        if c.status.state != ContainerState.RUNNING:
            return False
        rule = c.behaviour.probes.get(kind)
        if rule is None:
            return True
        return rule.answer(self._now() - c.status.started_at)

    def _write_log(self, c: _Container, line: str) -> None:
        now = self.clock.now()
        c.logs.append((now.timestamp(), now, line))
        c.notify()

    def write_log(self, container_id: str, line: str) -> None:
        """Append a stdout line to a container's log (for tests and simulations)."""
        self._write_log(self._container(container_id), line)

    def logs(self, container_id: str, *, follow: bool = False, tail_lines: int | None = None,
             since: float | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        """The log as the kubelet serves it: tail first, then drop lines older than `since`;
        with follow, keep yielding until the container exits or is removed."""
        c = self._container(container_id)  # fail at call time, not at first iteration
        return self._log_stream(c, follow, tail_lines, since, timestamps)

    async def _log_stream(self, c: _Container, follow: bool, tail_lines: int | None,
                          since: float | None, timestamps: bool) -> AsyncIterator[bytes]:
        def fmt(entry: tuple[float, dt.datetime, str]) -> bytes | None:
            ts, when, text = entry
            if since is not None and ts < since:
                return None
            return (f"{rfc3339nano(when)} {text}\n" if timestamps else f"{text}\n").encode()

        start = len(c.logs)
        if tail_lines is None or tail_lines < 0:
            start = 0
        elif tail_lines > 0:
            start = max(0, len(c.logs) - tail_lines)
        while True:
            while start < len(c.logs):
                out = fmt(c.logs[start])
                start += 1
                if out is not None:
                    yield out
            if not follow or self._closed or c.removed or c.status.state == ContainerState.EXITED:
                return
            fut = asyncio.get_running_loop().create_future()
            c.waiters.append(fut)
            await fut

    # -- images

    def _add_image(self, ref: str) -> ImageInfo:
        info = image_info(ref)
        self._images[normalize_image(ref)] = info
        self._images[info.id] = info
        return info

    async def image_status(self, image: str) -> ImageInfo | None:
        """A pulled (or preloaded) image, by name or by id; None if absent."""
        info = self._images.get(image) or self._images.get(normalize_image(image))
        return copy.deepcopy(info) if info else None

    async def pull_image(self, image: str, sandbox: SandboxConfig | None = None) -> ImageInfo:
        """Record the image as present. `sandbox` (as in CRI's PullImageRequest) carries the
        pod annotations that may make the pull slow or fail."""
        ann = sandbox.annotations if sandbox else {}
        delay = ann.get(PREFIX + "image-pull-delay")
        if delay:
            await self.clock.sleep(parse_duration(delay))
        if ann.get(PREFIX + "image-pull", "").strip().lower() == "fail":
            name = normalize_image(image)
            raise ImagePullError(
                f'failed to pull and unpack image "{name}": failed to resolve reference '
                f'"{name}": {name}: not found')
        return copy.deepcopy(self._add_image(image))

    async def list_images(self) -> list[ImageInfo]:
        seen = {id(info): info for info in self._images.values()}
        return [copy.deepcopy(info) for info in seen.values()]
