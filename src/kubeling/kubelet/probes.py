"""Startup, liveness and readiness probes (kubelet's prober workers).

One worker task per (container instance, probe kind). A worker waits initialDelaySeconds, then
probes every periodSeconds; its result flips only after successThreshold consecutive successes
or failureThreshold consecutive failures, and each flip is reported through `on_result`.
Liveness and readiness wait for the startup probe to succeed; startup stops once it has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from kubeling.client.base import Obj
from kubeling.client.clock import REAL, Clock
from kubeling.httpbody import read_at_most
from kubeling.kubelet.runtime.base import Runtime

log = logging.getLogger(__name__)

STARTUP, LIVENESS, READINESS = "startup", "liveness", "readiness"
KINDS = (STARTUP, LIVENESS, READINESS)
SPEC_FIELD = {STARTUP: "startupProbe", LIVENESS: "livenessProbe", READINESS: "readinessProbe"}

# on_result(pod uid, container name, kind, success)
ResultCallback = Callable[[str, str, str, bool], None]


def probe_settings(probe: Obj) -> tuple[float, float, float, int, int]:
    """(initialDelay, period, timeout, successThreshold, failureThreshold) with API defaults."""
    return (float(probe.get("initialDelaySeconds") or 0), float(probe.get("periodSeconds") or 10),
            float(probe.get("timeoutSeconds") or 1), int(probe.get("successThreshold") or 1),
            int(probe.get("failureThreshold") or 3))


def _resolve_port(port: Any, container: Obj) -> int:
    """A port number, or the number of the container's port of that name."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or ():
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port: {port} in {container.get('name')}")


async def http_probe(action: Obj, pod_ip: str, container: Obj, timeout: float) -> tuple[bool, str]:
    """httpGet: 200-399 is success (kubelet follows redirects only to the same host; aiohttp's default)."""
    host = action.get("host") or pod_ip
    port = _resolve_port(action.get("port"), container)
    scheme = (action.get("scheme") or "HTTP").lower()
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    headers = {h["name"]: h.get("value", "") for h in action.get("httpHeaders") or ()}
    headers.setdefault("User-Agent", "kube-probe/1.32")
    url = f"{scheme}://{host}:{port}{path}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers=headers, ssl=False) as resp:
                body = (await read_at_most(resp.content, 10 * 1024)).decode(errors="replace")
                if 200 <= resp.status < 400:
                    return True, ""
                return False, f"HTTP probe failed with statuscode: {resp.status}" + (f" {body}" if body else "")
    except TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except aiohttp.ClientError as e:
        return False, f'Get "{url}": {e}'


async def tcp_probe(action: Obj, pod_ip: str, container: Obj, timeout: float) -> tuple[bool, str]:
    host = action.get("host") or pod_ip
    port = _resolve_port(action.get("port"), container)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as e:
        return False, f"dial tcp {host}:{port}: {e or 'i/o timeout'}"
    writer.close()
    return True, ""


async def run_probe(runtime: Runtime, container_id: str, kind: str, probe: Obj, pod_ip: str,
                    container: Obj) -> tuple[bool, str]:
    """One probe: the runtime's simulated answer when it has one, else a real exec/http/tcp check."""
    answer = await runtime.probe(container_id, kind, probe)
    if answer is not None:
        return bool(answer), ""
    timeout = probe_settings(probe)[2]
    if "exec" in probe:
        result = await runtime.exec_sync(container_id, list(probe["exec"].get("command") or []), timeout)
        output = (result.stdout + result.stderr).decode(errors="replace")
        return result.exit_code == 0, output
    if "httpGet" in probe:
        return await http_probe(probe["httpGet"], pod_ip, container, timeout)
    if "tcpSocket" in probe:
        return await tcp_probe(probe["tcpSocket"], pod_ip, container, timeout)
    return False, "unsupported probe handler"


@dataclass
class _Worker:
    uid: str
    container_name: str
    container_id: str
    kind: str
    probe: Obj
    container: Obj
    pod_ip: str
    result: bool | None = None  # None until the first flip; kubelet's initial values below
    task: asyncio.Task | None = None
    runs: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})


class ProbeManager:
    """Runs the probes of the containers that the pod workers start."""

    def __init__(self, runtime: Runtime, clock: Clock | None = None, on_result: ResultCallback | None = None,
                 *, recorder: Any = None):
        self.runtime = runtime
        self.clock = clock or REAL
        self.on_result = on_result
        self.recorder = recorder
        self._workers: dict[tuple[str, str, str], _Worker] = {}  # (uid, container, kind)
        self._pods: dict[str, Obj] = {}

    # ---- what the pod worker calls ----

    def add_container(self, pod: Obj, container: Obj, container_id: str, pod_ip: str) -> None:
        """Start the probes of a freshly started container instance (replacing an older instance's)."""
        uid = pod["metadata"]["uid"]
        self._pods[uid] = pod
        for kind in KINDS:
            self._stop((uid, container["name"], kind))
            probe = container.get(SPEC_FIELD[kind])
            if not probe:
                continue
            w = _Worker(uid, container["name"], container_id, kind, probe, container, pod_ip)
            self._workers[(uid, container["name"], kind)] = w
            w.task = asyncio.get_running_loop().create_task(self._run(w), name=f"probe-{kind}-{container['name']}")

    def remove_container(self, uid: str, container_name: str) -> None:
        for kind in KINDS:
            self._stop((uid, container_name, kind))

    def remove_pod(self, uid: str) -> None:
        for key in [k for k in self._workers if k[0] == uid]:
            self._stop(key)
        self._pods.pop(uid, None)

    def has_probe(self, uid: str, container_name: str, kind: str) -> bool:
        return (uid, container_name, kind) in self._workers

    def started(self, uid: str, container_name: str) -> bool:
        """Whether the container counts as started: no startup probe, or it has succeeded."""
        w = self._workers.get((uid, container_name, STARTUP))
        return w is None or w.result is True

    def ready(self, uid: str, container_name: str) -> bool:
        """Readiness: False until the readiness probe succeeds; True without one (once started)."""
        if not self.started(uid, container_name):
            return False
        w = self._workers.get((uid, container_name, READINESS))
        return w is None or w.result is True

    async def close(self) -> None:
        for key in list(self._workers):
            self._stop(key)

    # ---- workers ----

    def _stop(self, key: tuple[str, str, str]) -> None:
        w = self._workers.pop(key, None)
        if w is not None and w.task is not None:
            w.task.cancel()

    async def _run(self, w: _Worker) -> None:
        delay, period, _, success_threshold, failure_threshold = probe_settings(w.probe)
        if delay:
            await self.clock.sleep(delay)
        while True:
            if w.kind == STARTUP or self.started(w.uid, w.container_name):
                ok, output = await self._probe_once(w)
                if self._observe(w, ok, success_threshold, failure_threshold):
                    self._report(w)
                    if w.kind == STARTUP and ok:
                        return  # startup is probed until it first succeeds
                    if w.kind == LIVENESS and not ok:
                        return  # the container gets restarted; its next instance gets new workers
            await self.clock.sleep(period)

    async def _probe_once(self, w: _Worker) -> tuple[bool, str]:
        try:
            ok, output = await run_probe(self.runtime, w.container_id, w.kind, w.probe, w.pod_ip, w.container)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a probe that errors counts as a failure, as kubelet's does
            ok, output = False, str(e)
        if not ok:
            self._event_unhealthy(w, output)
        return ok, output

    @staticmethod
    def _observe(w: _Worker, ok: bool, success_threshold: int, failure_threshold: int) -> bool:
        """Count the run; True when the worker's result flips."""
        w.runs[ok] += 1
        w.runs[not ok] = 0
        threshold = success_threshold if ok else failure_threshold
        if w.result is not ok and w.runs[ok] >= threshold:
            w.result = ok
            return True
        return False

    def _report(self, w: _Worker) -> None:
        if self.on_result is not None:
            self.on_result(w.uid, w.container_name, w.kind, bool(w.result))

    def _event_unhealthy(self, w: _Worker, output: str) -> None:
        pod = self._pods.get(w.uid)
        if self.recorder is None or pod is None:
            return
        ref = container_ref(pod, w.container_name)
        self.recorder.event(ref, "Warning", "Unhealthy", f"{w.kind.capitalize()} probe failed: {output}")


def container_ref(pod: Obj, container_name: str) -> Obj:
    """An ObjectReference to one container of the pod, as kubelet's events carry it."""
    md = pod["metadata"]
    spec = pod.get("spec") or {}
    section = "containers"
    if any(c.get("name") == container_name for c in spec.get("initContainers") or ()):
        section = "initContainers"
    ref = {"kind": "Pod", "namespace": md.get("namespace", ""), "name": md["name"], "uid": md.get("uid", ""),
           "apiVersion": "v1", "resourceVersion": md.get("resourceVersion", ""),
           "fieldPath": f"spec.{section}{{{container_name}}}"}
    return {k: v for k, v in ref.items() if v}
