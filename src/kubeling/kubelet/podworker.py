"""Pod workers: one asyncio task per pod UID running a level-based sync loop.

Each sync looks at what the runtime has and takes the steps toward what the spec asks, as
kubelet's SyncPod/computePodActions do: sandbox, init containers in order (sidecars kept
running), app containers, restarts per restartPolicy with CrashLoopBackOff, image pulls with
ImagePullBackOff, liveness restarts, activeDeadlineSeconds, and graceful termination ending in
the pod object's deletion with grace 0. Every sync publishes the pod status it saw.

Lifecycle hooks run as kuberuntime runs them: postStart right after StartContainer (a failure
kills the container: FailedPostStartHook), preStop before the stop signal. A sandbox the relist
(pleg.py) finds dead is replaced, as computePodActions does: its containers are killed, a new
sandbox (attempt + 1) is made and the containers start again in it (SandboxChanged).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.meta import parse_time, rfc3339
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.kubelet import lifecycle, podspec, status as podstatus
from kubeling.kubelet.gc import GC_PERIOD, GarbageCollector
from kubeling.kubelet.pleg import RELIST_PERIOD, Relister
from kubeling.kubelet.probes import LIVENESS, ProbeManager, container_ref
from kubeling.kubelet.runtime.base import ContainerState, ContainerStatus, ImageInfo, Runtime, SandboxConfig
from kubeling.kubelet.volumes import PodVolumes, VolumeManager

log = logging.getLogger(__name__)

PODS = registry.lookup("", "v1", "pods")

BACKOFF_INITIAL = 10.0  # seconds; kubelet's backOffPeriod
BACKOFF_MAX = 300.0  # MaxContainerBackOff
MIN_GRACE = 2.0  # kubelet's minimumGracePeriodInSeconds
DEFAULT_GRACE = 30
RESYNC = 1.0  # how often a worker looks at its containers (kubelet's PLEG relist period)
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
SANDBOX_CHANGED_MESSAGE = "Pod sandbox changed, it will be killed and re-created."
AUTO = object()  # PodWorkers' relist_period: relist unless the runtime reports changes itself


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it (10s, 1m20s, 5m0s, 1.2s, 523ms)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000):d}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def format_pod(pod: Obj) -> str:
    """kubelet's format.Pod: NAME_NAMESPACE(UID)."""
    md = pod["metadata"]
    return f"{md['name']}_{md.get('namespace', '')}({md.get('uid', '')})"


def _stamp(t: float) -> str:
    return rfc3339(dt.datetime.fromtimestamp(t, dt.UTC))


class Backoff:
    """client-go's flowcontrol.Backoff without jitter: per key, doubling from initial to max;
    an entry untouched for twice max (the container ran that long) starts over."""

    def __init__(self, clock: Clock, initial: float = BACKOFF_INITIAL, maximum: float = BACKOFF_MAX):
        self.clock, self.initial, self.maximum = clock, initial, maximum
        self._entries: dict[Any, tuple[float, float]] = {}  # key -> (backoff, last update)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def get(self, key: Any) -> float:
        return self._entries.get(key, (0.0, 0.0))[0]

    def _expired(self, key: Any, event_time: float) -> bool:
        return event_time - self._entries[key][1] > 2 * self.maximum

    def in_backoff_since(self, key: Any, event_time: float) -> bool:
        """Whether `event_time` (e.g. when the container died) is within the key's back-off."""
        if key not in self._entries or self._expired(key, event_time):
            return False
        return self._now() - event_time < self._entries[key][0]

    def in_backoff_since_update(self, key: Any) -> bool:
        if key not in self._entries:
            return False
        backoff, last = self._entries[key]
        return self._now() - last < backoff

    def next(self, key: Any, event_time: float) -> None:
        if key not in self._entries or self._expired(key, event_time):
            backoff = self.initial
        else:
            backoff = min(self._entries[key][0] * 2, self.maximum)
        self._entries[key] = (backoff, self._now())

    def forget_prefix(self, uid: str) -> None:
        for key in [k for k in self._entries if k[0] == uid]:
            del self._entries[key]


@dataclass
class _Container:
    """What the worker knows of one container name of the pod."""

    spec: Obj
    init: bool
    container_id: str = ""
    previous_id: str = ""
    observed: ContainerStatus | None = None
    observed_at: float = -1.0  # clock.monotonic() when `observed` was asked for
    restart_count: int = 0
    image_id: str = ""
    last_terminated: Obj | None = None  # the previous instance's terminated state
    waiting: tuple[str, str] | None = None  # (reason, message) overriding the default waiting state
    liveness_failed: bool = False
    stale: bool = False  # its instance ran in a sandbox that was replaced: init containers run again

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def sidecar(self) -> bool:
        return self.init and podstatus.is_sidecar(self.spec)

    @property
    def state(self) -> ContainerState | None:
        return self.observed.state if self.observed else None

    @property
    def running(self) -> bool:
        return self.state == ContainerState.RUNNING

    @property
    def exited(self) -> bool:
        return self.state == ContainerState.EXITED


def _terminated(st: ContainerStatus, runtime_name: str) -> Obj:
    term: Obj = {"exitCode": st.exit_code, "reason": st.reason or ("Completed" if st.exit_code == 0 else "Error"),
                 "startedAt": _stamp(st.started_at) if st.started_at else None,
                 "finishedAt": _stamp(st.finished_at) if st.finished_at else None,
                 "containerID": f"{runtime_name}://{st.id}"}
    if st.message:
        term["message"] = st.message
    return term


def _retrieve(task: asyncio.Future) -> None:
    """Mark a background call's failure as seen (whoever needs the answer asks again)."""
    if not task.cancelled():
        task.exception()


def should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


class _PodWorker:
    def __init__(self, owner: PodWorkers, pod: Obj):
        self.o = owner
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        self.containers: dict[str, _Container] = {}
        for c in spec.get("initContainers") or ():
            self.containers[c["name"]] = _Container(c, init=True)
        for c in spec.get("containers") or ():
            self.containers[c["name"]] = _Container(c, init=False)
        self.sandbox_id = ""
        self.sandbox: SandboxConfig | None = None
        self.sandbox_attempt = 0
        self.sandbox_made_at = 0.0  # clock.monotonic() once RunPodSandbox returned
        self.old_sandboxes: list[str] = []  # replaced sandboxes, kept while they hold a last instance
        self.container_sandbox: dict[str, str] = {}  # container id -> the sandbox it was made in
        self.created = owner.clock.now().timestamp()
        self.volumes: PodVolumes | None = None
        self.pod_ips: list[str] = []
        self.removed = False  # the pod is gone from the API
        self.terminal = False  # the pod will run nothing more
        self.torn_down = False
        self.deleting = False  # the final status, written before the object is deleted
        self.terminal_reason = ""
        self.start_time = (pod.get("status") or {}).get("startTime") or ""
        self.wake = asyncio.Event()
        self.idle = False
        self.done = False
        self._sleep: asyncio.Future | None = None
        self._backoff_events: set[Any] = set()
        self._image_checks: dict[str, asyncio.Task] = {}  # image -> ImageStatus asked with RunPodSandbox

    # ---- the loop ----

    async def run(self) -> None:
        try:
            while not self.done:
                try:
                    await self.sync()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sync of pod %s failed", format_pod(self.pod))
                if not self.done:
                    await self._wait()
        finally:
            self._drop_image_checks()
            self.idle = True

    async def _wait(self) -> None:
        self.wake.clear()
        self._sleep = asyncio.ensure_future(self.o.clock.sleep(self.o.resync))
        waker = asyncio.ensure_future(self.wake.wait())
        await asyncio.sleep(0)  # let the clock register the sleeper before we count as idle
        self.idle = True
        try:
            await asyncio.wait({self._sleep, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.idle = False
            self._sleep.cancel()
            waker.cancel()

    def parked(self) -> bool:
        return self.done or (self.idle and not self.wake.is_set() and self._sleep is not None
                             and not self._sleep.done())

    async def sync(self) -> None:
        self._drop_image_checks()  # an early ImageStatus answer is good for the sync that asked only
        md = self.pod["metadata"]
        if self.removed or md.get("deletionTimestamp"):
            await self.terminate()
            return
        if not self.start_time:
            self.start_time = rfc3339(self.o.clock.now())
        if (self.pod.get("status") or {}).get("phase") in podstatus.TERMINAL_PHASES:
            self.terminal = True
        if not self.terminal and self._deadline_exceeded():
            self.terminal, self.terminal_reason = True, "DeadlineExceeded"
            self.o.event(self.pod, "Normal", "DeadlineExceeded", DEADLINE_MESSAGE)
        if self.terminal:
            await self.tear_down()
        elif await self._mount_volumes():
            await self._check_sandbox()
            if not self.terminal:
                await self._ensure_sandbox()
                await self._refresh()
                await self._step()
                await self._remove_old_sandboxes()
            if self.terminal:
                await self.tear_down()
        self.publish()

    # ---- steps toward the spec ----

    def _deadline_exceeded(self) -> bool:
        deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is None:
            return False
        started = parse_time(self.start_time).timestamp()
        return self.o.clock.now().timestamp() - started >= deadline

    async def _mount_volumes(self) -> bool:
        """Volumes before the sandbox, as kubelet's WaitForAttachAndMount: until they are all set
        up the pod stays in ContainerCreating, with a FailedMount event per failed attempt."""
        volumes, errors = await self.o.volumes.mount(self.pod)
        for message in errors:
            self.o.event(self.pod, "Warning", "FailedMount", message)
        self.volumes = volumes
        return volumes is not None

    async def _ensure_sandbox(self) -> None:
        if self.sandbox_id:
            return
        self.sandbox = podspec.sandbox_config(self.pod, self.sandbox_attempt)
        self._check_images_early()
        self.sandbox_id = await self.o.runtime.run_pod_sandbox(self.sandbox)
        self.sandbox_made_at = self.o.clock.monotonic()
        self.o.own_sandbox(self.sandbox_id, self.uid)
        st = await self.o.runtime.pod_sandbox_status(self.sandbox_id)
        if (self.pod.get("spec") or {}).get("hostNetwork"):
            self.pod_ips = [self.o.node_ip]
        else:
            self.pod_ips = [ip for ip in [st.ip, *st.additional_ips] if ip]

    def _check_images_early(self) -> None:
        """Ask ImageStatus for the containers the new sandbox starts first while RunPodSandbox
        runs, so CreateContainer follows the sandbox without that round trip (the pull decision,
        its events and any pull still come after the sandbox, as kuberuntime orders them)."""
        first = [c for c in self.containers.values() if c.init][:1] or \
            [c for c in self.containers.values() if not c.init]
        for c in first:
            image = c.spec.get("image", "")
            if image and image not in self._image_checks:
                task = asyncio.ensure_future(self.o.runtime.image_status(image))
                task.add_done_callback(_retrieve)  # a failure is asked again in _image_status
                self._image_checks[image] = task

    async def _image_status(self, image: str) -> ImageInfo | None:
        """The image's status: the early answer once (if it came), else a new ImageStatus call."""
        task = self._image_checks.pop(image, None)
        if task is not None:
            try:
                return await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # we are cancelled ourselves
            except Exception as e:
                log.debug("early ImageStatus of %s failed, asking again: %s", image, e)
        return await self.o.runtime.image_status(image)

    def _drop_image_checks(self) -> None:
        for task in self._image_checks.values():
            task.cancel()
        self._image_checks.clear()

    async def _check_sandbox(self) -> None:
        """A sandbox the relist found dead (NOTREADY, or gone) is replaced: its containers are
        killed and, unless restartPolicy Never pods that ran containers end there, a new sandbox
        (attempt + 1) runs them again."""
        relister = self.o.relister
        if not self.sandbox_id or relister is None or not relister.sandbox_gone(self.sandbox_id,
                                                                                 self.sandbox_made_at):
            return
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        recreate = policy != "Never" or all(c.observed is None for c in self.containers.values())
        if recreate:
            self.o.event(self.pod, "Normal", "SandboxChanged", SANDBOX_CHANGED_MESSAGE)
        await self._refresh()
        await self.kill_all(self._grace())
        self.o.probes.remove_pod(self.uid)
        try:
            await self.o.runtime.stop_pod_sandbox(self.sandbox_id)
        except Exception as e:  # its network may be half gone; GC of the old sandbox retries
            log.warning("stopping dead sandbox %s of pod %s: %s", self.sandbox_id, format_pod(self.pod), e)
        self.old_sandboxes.append(self.sandbox_id)
        self.sandbox_id, self.pod_ips = "", []
        if not recreate:
            self.terminal = True
            return
        self.sandbox_attempt += 1
        for c in self.containers.values():
            c.stale = c.observed is not None

    async def _remove_old_sandboxes(self) -> None:
        """Replaced sandboxes go once no container's current or last instance is in them."""
        if not self.old_sandboxes:
            return
        kept = {self.container_sandbox.get(cid) for c in self.containers.values()
                for cid in (c.container_id, c.previous_id) if cid}
        for sandbox_id in [s for s in self.old_sandboxes if s not in kept]:
            await self._remove_sandbox(sandbox_id)

    async def _remove_sandbox(self, sandbox_id: str) -> None:
        try:
            await self.o.runtime.stop_pod_sandbox(sandbox_id)
            await self.o.runtime.remove_pod_sandbox(sandbox_id)
        except Exception as e:  # next sync tries again
            log.warning("removing sandbox %s of pod %s: %s", sandbox_id, format_pod(self.pod), e)
            return
        if sandbox_id in self.old_sandboxes:
            self.old_sandboxes.remove(sandbox_id)
        self.container_sandbox = {c: s for c, s in self.container_sandbox.items() if s != sandbox_id}
        self.o.disown_sandbox(sandbox_id)

    async def _refresh(self) -> None:
        """Each container's status; with a relist, only for those whose listed state differs from
        what the worker last saw (a steady pod costs no runtime call), and not for those seen
        settled after the last listing began: that listing knows nothing newer, and the next one
        wakes the worker if they change (a status write echoed back by the informer costs no call)."""
        relister = self.o.relister
        for c in self.containers.values():
            if not c.container_id:
                continue
            if relister is not None and c.observed is not None and c.state in _SETTLED and (
                    relister.container_state(c.container_id) == c.state or relister.listed_until < c.observed_at):
                continue
            await self._observe(c)

    async def _observe(self, c: _Container) -> None:
        """Ask the runtime for the container's status."""
        c.observed_at = self.o.clock.monotonic()
        c.observed = await self.o.runtime.container_status(c.container_id)

    async def _step(self) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        for c in self.containers.values():
            if not c.init:
                continue
            if c.sidecar:
                await self._keep_running(c, "Always")
                if not (c.running and self.o.probes.started(self.uid, c.name)):
                    return
                continue
            if c.observed is None or (c.stale and c.exited and c.observed.exit_code == 0):
                await self._start(c)  # first run, or again in a new sandbox
                return
            if not c.exited:
                return
            if c.observed.exit_code == 0:
                continue
            if policy == "Never":
                self.terminal = True  # a failed init container with Never fails the pod
                return
            await self._restart(c)
            return
        apps = [c for c in self.containers.values() if not c.init]
        for c in apps:
            await self._keep_running(c, policy)
        if policy != "Always" and all(c.exited and not should_restart(policy, c.observed.exit_code) for c in apps):
            self.terminal = True

    async def _keep_running(self, c: _Container, policy: str) -> None:
        if c.observed is None:
            await self._start(c)
        elif c.running and c.liveness_failed:
            await self._kill(c, self._grace(), f"Container {c.name} failed liveness probe, will be restarted")
            await self._observe(c)
            if should_restart(policy, c.observed.exit_code):
                await self._restart(c)
        elif c.exited and should_restart(policy, c.observed.exit_code):
            await self._restart(c)

    async def _restart(self, c: _Container) -> None:
        """Start a dead container again, unless it is in its CrashLoopBackOff."""
        assert c.observed is not None
        key = (self.uid, c.name)
        finished = c.observed.finished_at
        if self.o.backoff.in_backoff_since(key, finished):
            delay = go_duration(self.o.backoff.get(key))
            c.waiting = ("CrashLoopBackOff", f"back-off {delay} restarting failed container={c.name} "
                                             f"pod={format_pod(self.pod)}")
            if (key, finished) not in self._backoff_events:
                self._backoff_events.add((key, finished))
                self.o.event(container_ref(self.pod, c.name), "Warning", "BackOff",
                             f"Back-off restarting failed container {c.name} in pod {format_pod(self.pod)}")
            return
        self.o.backoff.next(key, finished)
        await self._start(c)

    async def _start(self, c: _Container) -> None:
        ref = container_ref(self.pod, c.name)
        if not await self._ensure_image(c, ref):
            return
        attempt = c.restart_count + (1 if c.observed else 0)
        try:
            config = await podspec.container_config(self.o.client, self.pod, c.spec, attempt,
                                                    host_ip=self.o.node_ip, pod_ips=self.pod_ips,
                                                    volumes=self.volumes)
        except podspec.ConfigError as e:
            c.waiting = ("CreateContainerConfigError", str(e))
            self.o.event(ref, "Warning", "Failed", f"Error: {e}")
            return
        assert self.sandbox is not None
        try:
            cid = await self.o.runtime.create_container(self.sandbox_id, config, self.sandbox)
        except Exception as e:
            c.waiting = ("CreateContainerError", str(e))
            self.o.event(ref, "Warning", "Failed", f"Error: {e}")
            return
        self.o.event(ref, "Normal", "Created", f"Created container: {c.name}")
        self.container_sandbox[cid] = self.sandbox_id
        await self._replace_instance(c, cid)
        try:
            await self.o.runtime.start_container(cid)
        except Exception as e:
            self.o.event(ref, "Warning", "Failed", f"Error: {e}")
        else:
            self.o.event(ref, "Normal", "Started", f"Started container {c.name}")
        await self._observe(c)
        await self._post_start(c, ref)
        if c.running:
            self.o.probes.add_container(self.pod, c.spec, cid, self.pod_ips[0] if self.pod_ips else "")

    async def _post_start(self, c: _Container, ref: Obj) -> None:
        """Run the postStart hook; when it fails the container is killed (kuberuntime's startContainer)."""
        handler = (c.spec.get("lifecycle") or {}).get("postStart")
        if not handler or not c.running:
            return
        try:
            await lifecycle.run_hook(self.o.runtime, self.o.clock, self.pod, c.spec, c.container_id, handler,
                                     self.pod_ips[0] if self.pod_ips else "")
        except lifecycle.HookError as e:
            self.o.event(ref, "Warning", "FailedPostStartHook", e.message)
            await self._kill(c, self._grace(), "FailedPostStartHook")
            c.waiting = ("PostStartHookError", e.message)
            return
        await self._observe(c)

    async def _replace_instance(self, c: _Container, cid: str) -> None:
        """Make cid the current instance; the previous one stays (for logs --previous), older go."""
        if c.observed is not None:
            c.last_terminated = _terminated(c.observed, self.o.runtime.name)
            c.restart_count += 1
            if c.previous_id:
                await self._remove_container(c.previous_id)
            c.previous_id = c.container_id
        c.container_id, c.waiting, c.liveness_failed, c.stale = cid, None, False, False

    async def _remove_container(self, cid: str) -> None:
        try:
            await self.o.runtime.remove_container(cid)
        except Exception as e:  # already gone is fine
            log.debug("removing container %s: %s", cid, e)
        self.container_sandbox.pop(cid, None)

    async def _ensure_image(self, c: _Container, ref: Obj) -> bool:
        image = c.spec.get("image", "")
        policy = c.spec.get("imagePullPolicy") or _default_pull_policy(image)
        present = await self._image_status(image)
        if policy == "Never" and present is None:
            message = f'Container image "{image}" is not present with pull policy of Never'
            c.waiting = ("ErrImageNeverPull", message)
            self.o.event(ref, "Warning", "ErrImageNeverPull", message)
            return False
        if present is not None and policy != "Always":
            c.image_id = present.id
            self.o.event(ref, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return True
        key = (self.uid, image)
        if self.o.image_backoff.in_backoff_since_update(key):
            c.waiting = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            self.o.event(ref, "Normal", "BackOff", f'Back-off pulling image "{image}"')
            self.o.event(ref, "Warning", "Failed", "Error: ImagePullBackOff")
            return False
        self.o.event(ref, "Normal", "Pulling", f'Pulling image "{image}"')
        began = self.o.clock.monotonic()
        try:
            info = await self._pull(image)
        except Exception as e:
            self.o.image_backoff.next(key, self.o.clock.now().timestamp())
            c.waiting = ("ErrImagePull", str(e))
            self.o.event(ref, "Warning", "Failed", f'Failed to pull image "{image}": {e}')
            self.o.event(ref, "Warning", "Failed", "Error: ErrImagePull")
            return False
        took = go_duration(int((self.o.clock.monotonic() - began) * 1000) / 1000)
        self.o.event(ref, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took} '
                                              f"({took} including waiting). Image size: {info.size} bytes.")
        c.image_id = info.id
        return True

    async def _pull(self, image: str) -> ImageInfo:
        # CRI's PullImage carries the sandbox config; runtimes whose pull_image takes it get it.
        pull = self.o.runtime.pull_image
        if "sandbox" in inspect.signature(pull).parameters:
            return await pull(image, sandbox=self.sandbox)
        return await pull(image)

    # ---- stopping ----

    def _grace(self) -> float:
        md, spec = self.pod["metadata"], self.pod.get("spec") or {}
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        return float(grace)

    async def _kill(self, c: _Container, grace: float, message: str = "") -> None:
        """preStop (exec, httpGet or sleep) within the grace period, then SIGTERM with what is left of it."""
        if not c.running:
            return
        ref = container_ref(self.pod, c.name)
        self.o.probes.remove_container(self.uid, c.name)
        self.o.event(ref, "Normal", "Killing", message or f"Stopping container {c.name}")
        began = self.o.clock.monotonic()
        pre_stop = (c.spec.get("lifecycle") or {}).get("preStop")
        if pre_stop and grace > 0:
            try:
                await lifecycle.run_hook(self.o.runtime, self.o.clock, self.pod, c.spec, c.container_id, pre_stop,
                                         self.pod_ips[0] if self.pod_ips else "", timeout=grace)
            except Exception as e:  # the message stays out of the event: it may hold secrets (as Kubernetes)
                log.info("preStop hook of %s in pod %s failed: %s", c.name, format_pod(self.pod), e)
                self.o.event(ref, "Warning", "FailedPreStopHook", "PreStopHook failed")
        remaining = grace - (self.o.clock.monotonic() - began)
        if grace > 0:
            remaining = max(remaining, MIN_GRACE)
        await self.o.runtime.stop_container(c.container_id, max(remaining, 0.0))
        await self._observe(c)

    async def kill_all(self, grace: float) -> None:
        """App containers together, then sidecars in reverse order (as kubelet does)."""
        apps = [c for c in self.containers.values() if not c.init]
        await asyncio.gather(*(self._kill(c, grace) for c in apps))
        for c in reversed([c for c in self.containers.values() if c.init]):
            await self._kill(c, grace)

    async def tear_down(self) -> None:
        """A terminal pod: nothing runs any more, its sandbox is stopped."""
        if self.torn_down:
            return
        await self._refresh()
        await self.kill_all(self._grace())
        self.o.probes.remove_pod(self.uid)
        if self.sandbox_id:
            await self.o.runtime.stop_pod_sandbox(self.sandbox_id)
        self.torn_down = True

    async def terminate(self) -> None:
        """Graceful deletion: stop everything, remove the sandbox, then delete the pod object."""
        await self._refresh()
        await self.kill_all(self._grace())
        self.o.probes.remove_pod(self.uid)
        if self.sandbox_id:
            await self.o.runtime.stop_pod_sandbox(self.sandbox_id)
            await self.o.runtime.remove_pod_sandbox(self.sandbox_id)
            self.o.disown_sandbox(self.sandbox_id)
        for sandbox_id in list(self.old_sandboxes):
            await self._remove_sandbox(sandbox_id)
        self.sandbox_id = ""
        await self.o.volumes.unmount(self.uid)  # the containers using them are gone with the sandbox
        for c in self.containers.values():
            c.waiting = None
        if not self.removed:
            self.deleting = True
            self.publish(pod_ips=[])
            await self.o.status.flush(self.uid)
            md = self.pod["metadata"]
            try:
                await self.o.client.delete(PODS, md.get("namespace"), md["name"], grace_period_seconds=0,
                                           preconditions={"uid": self.uid})
            except ApiError as e:
                if e.code not in (404, 409):
                    raise
        self.o.status.forget(self.uid)
        self.o.backoff.forget_prefix(self.uid)
        self.done = True

    # ---- status ----

    def container_status(self, c: _Container) -> Obj:
        st = c.observed
        running = c.running
        ready = (running and self.o.probes.ready(self.uid, c.name)) or (
            c.init and not c.sidecar and c.exited and st is not None and st.exit_code == 0)
        out: Obj = {"name": c.name, "image": c.spec.get("image", ""),
                    "imageID": (st.image_ref or c.image_id) if st else "",
                    "ready": bool(ready), "restartCount": c.restart_count,
                    "started": bool(running and self.o.probes.started(self.uid, c.name))}
        if st is not None:
            out["containerID"] = f"{self.o.runtime.name}://{st.id}"
        last = c.last_terminated
        if st is None or (c.waiting and st.state != ContainerState.RUNNING):
            if st is not None and st.state == ContainerState.EXITED:
                last = _terminated(st, self.o.runtime.name)  # waiting to restart: the dead one is last
            reason, message = c.waiting or ("PodInitializing" if self.containers_have_init() else
                                            "ContainerCreating", "")
            out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        elif st.state == ContainerState.RUNNING:
            out["state"] = {"running": {"startedAt": _stamp(st.started_at)}}
        elif st.state == ContainerState.EXITED:
            out["state"] = {"terminated": _terminated(st, self.o.runtime.name)}
        else:
            out["state"] = {"waiting": {"reason": "ContainerCreating"}}
        out["lastState"] = {"terminated": last} if last else {}
        return out

    def containers_have_init(self) -> bool:
        return any(c.init for c in self.containers.values())

    def publish(self, pod_ips: list[str] | None = None) -> None:
        init = [self.container_status(c) for c in self.containers.values() if c.init]
        apps = [self.container_status(c) for c in self.containers.values() if not c.init]
        status = podstatus.compute_status(
            self.pod, init_statuses=init, statuses=apps, host_ip=self.o.node_ip,
            pod_ips=self.pod_ips if pod_ips is None else pod_ips,
            sandbox_ready=bool(self.sandbox_id) and not self.torn_down, start_time=self.start_time,
            now=rfc3339(self.o.clock.now()), terminal_reason=self.terminal_reason,
            terminal_message=DEADLINE_MESSAGE if self.terminal_reason else "",
            pod_is_terminal=self.terminal or self.deleting, previous=self.o.status.get(self.uid))
        self.o.status.set_status(self.pod, status)


_SETTLED = (ContainerState.RUNNING, ContainerState.EXITED)


def _default_pull_policy(image: str) -> str:
    """Always for :latest or untagged images, else IfNotPresent (API defaulting, in case it is absent)."""
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    return "Always" if ":" not in name or name.endswith(":latest") else "IfNotPresent"


class PodWorkers:
    """Runs the pods bound to this node: `update(pod)` and `delete(pod)` come from the informer."""

    def __init__(self, runtime: Runtime, client: Client, status_manager: podstatus.StatusManager,
                 probe_manager: ProbeManager, *, node_name: str, node_ip: str, clock: Clock | None = None,
                 recorder: Any = None, resync: float = RESYNC, volumes: VolumeManager | None = None,
                 relist_period: Any = AUTO):
        # relist_period: seconds between runtime listings (pleg.py), None for none; by default none
        # for a runtime that reports container changes itself (the fake: its sandboxes never die).
        self.runtime, self.client = runtime, client
        # without a VolumeManager of the kubelet's, a private one on a temporary root
        self._own_volumes = volumes is None
        self.volumes = volumes or VolumeManager(client, clock=clock or REAL)
        self.status, self.probes = status_manager, probe_manager
        self.node_name, self.node_ip = node_name, node_ip
        self.clock = clock or REAL
        self.recorder = recorder
        self.resync = resync
        self.backoff = Backoff(self.clock)
        self.image_backoff = Backoff(self.clock)
        self._workers: dict[str, _PodWorker] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._sandbox_owner: dict[str, str] = {}  # sandbox id -> pod uid, for every worker's sandboxes
        if relist_period is AUTO:
            relist_period = None if hasattr(runtime, "add_listener") else RELIST_PERIOD
        self.relister = Relister(runtime, self.clock, self._sandbox_changed, relist_period) \
            if relist_period else None
        # A runtime reporting container changes itself wakes the pod's worker at once (CRI's
        # GetContainerEvents), rather than at its next resync.
        self._listening = self.relister is None and hasattr(runtime, "add_listener")
        if self._listening:
            runtime.add_listener(self._container_event)
        self.gc: GarbageCollector | None = None
        if probe_manager.on_result is None:
            probe_manager.on_result = self.on_probe_result

    def update(self, pod: Obj) -> None:
        """A pod bound to this node was added or changed."""
        uid = pod["metadata"]["uid"]
        worker = self._workers.get(uid)
        if self.relister is not None:
            self.relister.start()
        if worker is None:
            if (pod.get("status") or {}).get("phase") in podstatus.TERMINAL_PHASES and \
                    not pod["metadata"].get("deletionTimestamp"):
                return  # a finished pod (e.g. after a restart of the agent): nothing to run
            worker = self._workers[uid] = _PodWorker(self, pod)
            task = asyncio.get_running_loop().create_task(worker.run(), name=f"pod-{pod['metadata']['name']}")
            self._tasks[uid] = task
            task.add_done_callback(lambda _t, uid=uid: self._finished(uid))
            return
        worker.pod = pod
        worker.wake.set()

    def delete(self, pod: Obj) -> None:
        """The pod is gone from the API: stop what runs, without writing to the API any more."""
        worker = self._workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.removed = True
            worker.wake.set()

    def on_probe_result(self, uid: str, container_name: str, kind: str, ok: bool) -> None:
        worker = self._workers.get(uid)
        if worker is None:
            return
        if kind == LIVENESS and not ok and container_name in worker.containers:
            worker.containers[container_name].liveness_failed = True
        worker.wake.set()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(obj, type_, reason, message)

    def running(self) -> list[str]:
        """UIDs of the pods with a worker."""
        return list(self._workers)

    def _finished(self, uid: str) -> None:
        self._workers.pop(uid, None)
        self._tasks.pop(uid, None)
        self._sandbox_owner = {s: u for s, u in self._sandbox_owner.items() if u != uid}

    # ---- sandboxes: relist and garbage collection ----

    def own_sandbox(self, sandbox_id: str, uid: str) -> None:
        self._sandbox_owner[sandbox_id] = uid

    def disown_sandbox(self, sandbox_id: str) -> None:
        self._sandbox_owner.pop(sandbox_id, None)

    def owned_sandboxes(self) -> set[str]:
        return set(self._sandbox_owner)

    def worker_started(self, uid: str) -> float | None:
        worker = self._workers.get(uid)
        return worker.created if worker is not None else None

    async def forget_pod(self, uid: str) -> None:
        await self.volumes.unmount(uid)

    def _container_event(self, event: Any) -> None:
        worker = self._workers.get(event.pod_uid)
        if worker is not None:
            worker.wake.set()

    def _sandbox_changed(self, sandbox_id: str) -> None:
        worker = self._workers.get(self._sandbox_owner.get(sandbox_id, ""))
        if worker is not None:
            worker.wake.set()

    def start_gc(self, bound_uids: Callable[[], set[str]], synced: Callable[[], bool],
                 period: float = GC_PERIOD) -> GarbageCollector:
        """Collect sandboxes no worker owns once `synced()` (the pods informer), then every period;
        `bound_uids()`: the pods bound to this node."""
        if self.gc is None:
            self.gc = GarbageCollector(self.runtime, self, bound_uids=bound_uids, synced=synced,
                                       clock=self.clock, period=period)
            self.gc.start()
        return self.gc

    async def wait_idle(self, max_spins: int = 2000) -> bool:
        """Let every worker run until it waits for its next resync or news (for tests with a
        FakeClock). False if some worker is still busy after max_spins loop turns, e.g. blocked
        in a runtime call that waits for the clock."""
        for _ in range(max_spins):
            await asyncio.sleep(0)
            # A finished worker counts once its task's done callback has removed it.
            if all(w.parked() and not w.done for w in self._workers.values()) and not self.status._tasks and \
                    (self.relister is None or self.relister.parked()):
                return True
        return False

    async def close(self) -> None:
        if self._listening:
            self.runtime.remove_listener(self._container_event)
            self._listening = False
        if self.gc is not None:
            await self.gc.stop()
        if self.relister is not None:
            await self.relister.stop()
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._own_volumes:
            self.volumes.close()
