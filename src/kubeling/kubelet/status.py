"""The pod status the kubelet writes, and the manager that writes it.

Pure functions compute phase and conditions as kubelet's getPhase and
pkg/kubelet/status/generate.go do; `StatusManager` patches the status subresource only when
the computed status differs from what was last written, with at most one write in flight per
pod (the latest computed status wins, intermediate ones are skipped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable


from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import rfc3339
from kubeling.api.patch import prune_nulls
from kubeling.client.base import Client, Obj, json_copy
from kubeling.client.clock import REAL, Clock

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL_PHASES = (SUCCEEDED, FAILED)

# Condition types the kubelet owns; others (PodScheduled, readiness gates, DisruptionTarget) are kept.
READY_TO_START = "PodReadyToStartContainers"
INITIALIZED = "Initialized"
CONTAINERS_READY = "ContainersReady"
READY = "Ready"
KUBELET_CONDITIONS = (READY_TO_START, INITIALIZED, READY, CONTAINERS_READY)

RETRY_PAUSE = 1.0  # seconds between attempts at a failed status write


def is_sidecar(container: Obj) -> bool:
    """A restartable init container (restartPolicy: Always on an init container)."""
    return container.get("restartPolicy") == "Always"


def _by_name(statuses: Iterable[Obj] | None) -> dict[str, Obj]:
    return {s["name"]: s for s in statuses or ()}


def _last_terminated(cs: Obj) -> Obj | None:
    return (cs.get("lastState") or {}).get("terminated")


def get_phase(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], pod_is_terminal: bool = False) -> str:
    """The pod phase from its container statuses (kubelet's getPhase, sidecar-aware)."""
    spec = pod.get("spec") or {}
    init_by_name, by_name = _by_name(init_statuses), _by_name(statuses)
    pending_init = failed_init = pending_sidecars = 0
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("initContainers") or ():
        cs = init_by_name.get(c["name"])
        state = (cs or {}).get("state") or {}
        if is_sidecar(c):
            if cs is None:
                unknown += 1
            elif "running" in state:
                pending_sidecars += 0 if cs.get("started") else 1
                running += 1
            elif "waiting" in state and _last_terminated(cs) is None:
                pending_sidecars += 1
                waiting += 1
            elif "terminated" not in state and "waiting" not in state:
                pending_sidecars += 1
                unknown += 1
            continue
        if cs is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode", 0) != 0
        elif "waiting" in state and _last_terminated(cs) is not None:
            failed_init += _last_terminated(cs).get("exitCode", 0) != 0
        else:
            pending_init += 1
    for c in spec.get("containers") or ():
        cs = by_name.get(c["name"])
        state = (cs or {}).get("state") or {}
        if cs is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if _last_terminated(cs) is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    policy = spec.get("restartPolicy", "Always")
    if failed_init and policy == "Never":
        return FAILED
    if pending_init or (pending_sidecars and not pod_is_terminal) or waiting:
        return PENDING
    if running and not unknown:
        return RUNNING
    if not running and stopped and not unknown:
        if pod_is_terminal:
            return SUCCEEDED if stopped == succeeded else FAILED
        if policy == "Always":
            return RUNNING
        if stopped == succeeded:
            return SUCCEEDED
        return FAILED if policy == "Never" else RUNNING
    return PENDING


def _go_list(names: list[str]) -> str:
    """A []string as Go's %s prints it."""
    return "[" + " ".join(names) + "]"


def _cond(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": type_, "status": "True" if ok else "False"}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _has_started_regular(statuses: list[Obj]) -> bool:
    for cs in statuses:
        state = cs.get("state") or {}
        if "running" in state or "terminated" in state or _last_terminated(cs) is not None:
            return True
    return False


def initialized_condition(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], phase: str) -> Obj:
    init = (pod.get("spec") or {}).get("initContainers") or []
    if not init:
        return _cond(INITIALIZED, True)
    by_name = _by_name(init_statuses)
    unknown, incomplete = [], []
    for c in init:
        cs = by_name.get(c["name"])
        if cs is None:
            unknown.append(c["name"])
        elif is_sidecar(c):
            if not cs.get("started"):
                incomplete.append(c["name"])
        else:
            term = (cs.get("state") or {}).get("terminated")
            if term is None or term.get("exitCode", 0) != 0:
                incomplete.append(c["name"])
    if phase == SUCCEEDED and not unknown:
        return _cond(INITIALIZED, True, "PodCompleted")
    if _has_started_regular(statuses):
        return _cond(INITIALIZED, True)
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_go_list(incomplete)}")
    if messages:
        return _cond(INITIALIZED, False, "ContainersNotInitialized", ", ".join(messages))
    return _cond(INITIALIZED, True)


def containers_ready_condition(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], phase: str) -> Obj:
    spec = pod.get("spec") or {}
    unknown, unready = [], []
    init_by_name, by_name = _by_name(init_statuses), _by_name(statuses)
    sidecars = [c for c in spec.get("initContainers") or () if is_sidecar(c)]
    for group, known in ((sidecars, init_by_name), (spec.get("containers") or [], by_name)):
        for c in group:
            cs = known.get(c["name"])
            if cs is None:
                unknown.append(c["name"])
            elif not cs.get("ready"):
                unready.append(c["name"])
    if (phase == SUCCEEDED and not unknown) or phase == FAILED:
        return _cond(CONTAINERS_READY, False, "PodCompleted" if phase == SUCCEEDED else "PodFailed")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_go_list(unready)}")
    if messages:
        return _cond(CONTAINERS_READY, False, "ContainersNotReady", ", ".join(messages))
    return _cond(CONTAINERS_READY, True)


def ready_condition(pod: Obj, containers_ready: Obj, conditions: list[Obj]) -> Obj:
    """Ready: ContainersReady, then every readiness gate's condition True."""
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": READY}
    present = {c.get("type"): c for c in conditions}
    messages = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or ():
        name = gate.get("conditionType", "")
        c = present.get(name)
        if c is None:
            messages.append(f'corresponding condition of pod readiness gate "{name}" does not exist.')
        elif c.get("status") != "True":
            messages.append(f'the status of pod readiness gate "{name}" is not "True", but {c.get("status")}')
    if messages:
        return _cond(READY, False, "ReadinessGatesNotReady", ", ".join(messages))
    return _cond(READY, True)


def pod_conditions(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], phase: str,
                   sandbox_ready: bool, now: str, previous: Obj | None = None) -> list[Obj]:
    """The kubelet's conditions merged into the pod's others, lastTransitionTime kept when unchanged
    (compared with `previous`, the status the kubelet last computed, else the pod's)."""
    old = (pod.get("status") or {}).get("conditions") or []
    old_by_type = {c.get("type"): c for c in (previous or {}).get("conditions") or old}
    foreign = [c for c in old if c.get("type") not in KUBELET_CONDITIONS]
    cready = containers_ready_condition(pod, init_statuses, statuses, phase)
    fresh = [
        _cond(READY_TO_START, sandbox_ready),
        initialized_condition(pod, init_statuses, statuses, phase),
        ready_condition(pod, cready, foreign),
        cready,
    ]
    for c in fresh:
        prev = old_by_type.get(c["type"])
        c["lastProbeTime"] = None
        c["lastTransitionTime"] = (prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"]
                                   else now)
    # Kubernetes lists PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled.
    scheduled = [c for c in foreign if c.get("type") == "PodScheduled"]
    others = [c for c in foreign if c.get("type") != "PodScheduled"]
    return fresh + scheduled + others


def compute_status(pod: Obj, *, init_statuses: list[Obj], statuses: list[Obj], host_ip: str,
                   pod_ips: list[str], sandbox_ready: bool, start_time: str | None, now: str,
                   terminal_reason: str = "", terminal_message: str = "", pod_is_terminal: bool = False,
                   previous: Obj | None = None) -> Obj:
    """The whole status the kubelet would write for pod (a fresh dict); `previous` is the status
    it computed last (the pod object may lag behind it)."""
    old = previous or pod.get("status") or {}
    phase = get_phase(pod, init_statuses, statuses, pod_is_terminal)
    if terminal_reason:
        phase = FAILED
    if old.get("phase") in TERMINAL_PHASES and phase not in TERMINAL_PHASES:
        phase = old["phase"]  # a terminal phase never goes back
    status: Obj = {"phase": phase, "conditions": pod_conditions(pod, init_statuses, statuses, phase,
                                                                sandbox_ready, now, previous)}
    if terminal_reason:
        status["reason"], status["message"] = terminal_reason, terminal_message
    elif old.get("phase") == phase and old.get("reason"):
        status["reason"], status["message"] = old["reason"], old.get("message", "")
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    if pod_ips:
        status["podIP"] = pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in pod_ips]
    if start_time:
        status["startTime"] = start_time
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    if old.get("qosClass"):
        status["qosClass"] = old["qosClass"]
    for kept in ("nominatedNodeName",):
        if old.get(kept):
            status[kept] = old[kept]
    return status


def status_patch(old: Obj, new: Obj) -> Obj:
    """A merge patch turning status `old` into `new` (top-level keys; lists are replaced whole)."""
    patch: Obj = {k: v for k, v in new.items() if old.get(k) != v}
    for k in old:
        if k not in new:
            patch[k] = None
    return patch


class StatusManager:
    """Writes computed pod statuses to the API, coalescing rapid changes per pod."""

    def __init__(self, client: Client, clock: Clock | None = None):
        self.client = client
        self.clock = clock or REAL
        self._desired: dict[str, tuple[str, str, Obj]] = {}  # uid -> (namespace, name, status)
        self._written: dict[str, Obj] = {}  # uid -> last status the server accepted (or had)
        self._tasks: dict[str, asyncio.Task] = {}
        self.writes = 0  # how many patches were sent, for tests and metrics

    def now(self) -> str:
        return rfc3339(self.clock.now())

    def get(self, uid: str) -> Obj | None:
        """The latest status computed for the pod (written or about to be)."""
        entry = self._desired.get(uid)
        return entry[2] if entry else self._written.get(uid)

    def set_status(self, pod: Obj, status: Obj) -> None:
        """Ask for `status` to be written; no-op when it equals what is written or pending."""
        md = pod["metadata"]
        uid = md["uid"]
        if uid not in self._written:
            self._written[uid] = json_copy(pod.get("status") or {})
        # Compared and kept as the server stores it: a merge patch drops null members (as
        # json-patch does), so the pod read back would otherwise differ and be written again.
        wanted = prune_nulls(status)  # also a copy: the caller may change `status` later
        if self.get(uid) == wanted:
            return
        self._desired[uid] = (md.get("namespace", ""), md["name"], wanted)
        if uid not in self._tasks:
            self._tasks[uid] = asyncio.get_running_loop().create_task(self._write_loop(uid),
                                                                      name=f"status-{md['name']}")

    def forget(self, uid: str) -> None:
        """Drop a pod that the kubelet no longer runs."""
        self._desired.pop(uid, None)
        self._written.pop(uid, None)
        task = self._tasks.pop(uid, None)
        if task is not None:
            task.cancel()

    async def flush(self, uid: str | None = None) -> None:
        """Wait until the pending writes (of one pod, or all) are done."""
        while True:
            tasks = [t for u, t in self._tasks.items() if uid is None or u == uid]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write_loop(self, uid: str) -> None:
        try:
            while uid in self._desired:
                namespace, name, status = self._desired[uid]
                patch = status_patch(self._written.get(uid) or {}, status)
                if patch:
                    try:
                        await self.client.patch(PODS, namespace, name, {"status": patch},
                                                patch_type="merge", subresource="status")
                        self.writes += 1
                    except ApiError as e:
                        if e.code == 404:
                            self._desired.pop(uid, None)
                            return
                        log.warning("status of pod %s/%s not written: %s", namespace, name, e.message)
                        await self.clock.sleep(RETRY_PAUSE)
                        continue
                self._written[uid] = status
                if self._desired.get(uid, (None, None, None))[2] is status:
                    del self._desired[uid]  # nothing newer arrived while writing
        finally:
            self._tasks.pop(uid, None)
