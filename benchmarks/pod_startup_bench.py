"""Pod startup latency with real containers (kubeling issue 6), as Kubernetes' pod startup SLI:
from a pod's creation to all its containers running, as seen by a watch.

Setups, each on a reserved pod network (a bridge and a /24 no test uses):
  floor   a containerd of our own (kubeling.kubelet.containerd.Containerd, kubeling's CNI
          conflist), driven directly through CRIRuntime from this process: RunPodSandbox +
          CreateContainer + StartContainer (+ ContainerStatus says RUNNING) per pod, pods
          launched at the same arrival times as below, so they overlap as they would. It runs
          beside each kubeling setup, each rate just before kubeling's, so both see much the
          same machine (a shared machine's load can change several times over in a minute)
  up      `kubeling up --runtime cri`: API server, controllers, scheduler and kubelet in one
          process, the kubelet running its own containerd
  agent   `kubeling server` plus a standalone `kubeling agent --runtime cri`, to see the
          agent's own memory
In each, P busybox pods (`sleep 3600`, image already imported) arrive at each rate; a pod's
latency is from the moment this process sent its create to the watch event showing every
container running (also from its creationTimestamp, which has 1 s resolution, for reference).
Between rates every pod is deleted and the runtime must hold no sandbox. Where the time goes
comes from containerd's own timestamps (sandbox ready, container created, container started)
set against the client's send time and the watch's arrival times; every CRI call of both the
floor and the kubelet is traced (kubelet/runtime/critrace.py, KUBELING_CRI_TRACE), so each
setup also shows its CRI calls per pod (count and time per method), the calls it makes for the
whole node during the phase, and the gaps between a pod's calls. Goals are printed, never
asserted.

    python benchmarks/pod_startup_bench.py [--pods 50] [--rates 5,20] [--setups floor,up,agent] [--keep]

Needs root and containerd, runc and the CNI plugins (as the CRI tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import _common as c  # first: puts src/ and the repo root on sys.path
import api_bench
from controller_bench import Watch

from kubeling.images import PAUSE_IMAGE, build_busybox, build_pause, import_images
from kubeling.kubelet import podspec
from kubeling.kubelet.cni import write_conflist
from kubeling.kubelet.containerd import Containerd
from kubeling.kubelet.runtime import critrace
from kubeling.kubelet.runtime.base import ContainerConfig, ContainerState, SandboxConfig
from kubeling.kubelet.runtime.cri import CRIError, CRIRuntime
from tests.support.cluster import Server, start_component, stop_process
from tests.support.containerd import (
    PodNetwork,
    cleanup_cri,
    discard_short_state,
    processes_of,
    reserve_pod_network,
    warm_up_network,
    why_no_pod_network,
)

Obj = dict[str, Any]

NS = "bench"
IMAGE = "docker.io/library/busybox:1.36"
POD_IMAGE = "busybox:1.36"  # as a user writes it; the kubelet normalizes it
SLO = 5.0  # Kubernetes' pod startup SLO, p99 seconds (excluding image pulls)
FLOOR_RATIO_GOAL = 1.5
AGENT_RSS_GOAL = 60.0  # MiB with 50 running pods
SETUPS = ("floor", "up", "agent")


# ---- one pod's timeline ---------------------------------------------------------------------------


@dataclass
class Timeline:
    """Wall-clock times (time.time()) of one pod's steps; None until seen."""

    sent: float = 0.0
    created: float | None = None  # the create's response arrived (kubeling) / sandbox asked for (floor)
    bound: float | None = None  # first watch event with spec.nodeName
    running: float | None = None  # all containers running: watch event (kubeling), ContainerStatus (floor)
    creation_ts: float | None = None  # metadata.creationTimestamp (1 s resolution)
    events: int = 0  # watch events for the pod until running
    uid: str = ""
    # containerd's own stamps, read back over CRI once the pod runs: the sandbox's CreatedAt is
    # taken as RunPodSandbox begins (the floor's own times show it), the others as their calls end
    sandbox_begun: float | None = None
    container_created: float | None = None
    container_started: float | None = None
    # client-side times of the CRI calls (the floor's own, the kubelet's from its trace)
    sandbox_sent: float | None = None
    sandbox_returned: float | None = None
    create_began: float | None = None
    create_returned: float | None = None
    start_began: float | None = None
    start_returned: float | None = None
    error: str = ""

    @property
    def latency(self) -> float | None:
        return None if self.running is None else self.running - self.sent


@dataclass
class PhaseResult:
    setup: str
    rate: float
    pods: dict[str, Timeline]
    seconds: float  # first send to last running
    cpu: dict[str, float] = field(default_factory=dict)  # cores
    rss: dict[str, float] = field(default_factory=dict)  # MiB, all pods running
    notes: list[str] = field(default_factory=list)
    cri_rows: list[tuple[str, str]] = field(default_factory=list)  # (label, value) from the CRI trace

    def latencies(self) -> list[float]:
        return [t.latency for t in self.pods.values() if t.latency is not None]

    def p(self, q: float) -> float:
        return c.percentile(self.latencies(), q)


def gaps(pods: dict[str, Timeline], start: str, end: str) -> list[float]:
    out = []
    for t in pods.values():
        a, b = getattr(t, start), getattr(t, end)
        if a is not None and b is not None:
            out.append(b - a)
    return out


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def arrivals(n: int, rate: float, launch: Callable[[int], Awaitable[None]]) -> None:
    """Start launch(i) at i/rate seconds from now, each in its own task, whatever the earlier
    ones are doing (an open-loop load, as pods arrive in a cluster)."""
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(launch(i)))
    await asyncio.gather(*tasks)


async def runtime_stamps(cri: CRIRuntime, by_uid: dict[str, Timeline]) -> None:
    """containerd's times for each pod's sandbox and container (end of RunPodSandbox, of
    CreateContainer, of StartContainer), matched to pods by the sandbox's pod uid."""
    for sandbox in await cri.list_pod_sandboxes():
        t = by_uid.get(sandbox.uid)
        if t is None:
            continue
        t.sandbox_begun = sandbox.created_at
        for listed in await cri.list_containers(sandbox.id):
            status = await cri.container_status(listed.id)
            t.container_created, t.container_started = status.created_at, status.started_at


# ---- the CRI trace: which calls a pod cost, and the gaps between them -------------------------------


def pod_calls(calls: list[critrace.Call], uids: set[str]) -> tuple[dict[str, list[critrace.Call]], list[critrace.Call]]:
    """Calls per pod uid (those naming one of its sandboxes or containers), and the calls naming
    no pod (ListPodSandbox, ListContainers, ImageStatus, Status...)."""
    sandbox_pod = {call.sandbox: call.pod for call in calls if call.pod in uids and call.sandbox}
    container_pod = {call.container: sandbox_pod[call.sandbox] for call in calls
                     if call.container and call.sandbox in sandbox_pod}
    per_pod: dict[str, list[critrace.Call]] = {uid: [] for uid in uids}
    node: list[critrace.Call] = []
    for call in calls:
        uid = sandbox_pod.get(call.sandbox) or container_pod.get(call.container)
        if uid:
            per_pod[uid].append(call)
        elif not call.sandbox and not call.container:
            node.append(call)
    return per_pod, node


def _first(calls: list[critrace.Call], method: str) -> critrace.Call | None:
    return next((call for call in calls if call.method == method and not call.error), None)


def call_rows(per_pod: dict[str, list[critrace.Call]], node: list[critrace.Call], pods: int) -> list[tuple[str, str]]:
    """Per method: calls per pod and p50/p99 of their duration; the node-wide calls of the phase."""
    by_method: dict[str, list[float]] = {}
    for calls in per_pod.values():
        for call in calls:
            by_method.setdefault(call.method, []).append(call.ended - call.began)
    rows = []
    per_pod_text = [f"{m} {len(d) / max(1, pods):.1f}x {ms(c.percentile(d, 50))}/{ms(c.percentile(d, 99))}"
                    for m, d in sorted(by_method.items(), key=lambda kv: kv[1] and -len(kv[1]))]
    rows.append(("CRI calls per pod (calls, p50/p99 each)", ", ".join(per_pod_text) or "-"))
    node_methods: dict[str, list[float]] = {}
    for call in node:
        node_methods.setdefault(call.method, []).append(call.ended - call.began)
    node_text = [f"{m} {len(d)}x {ms(c.percentile(d, 50))}/{ms(c.percentile(d, 99))}"
                 for m, d in sorted(node_methods.items())]
    rows.append(("CRI calls for the node in the phase (calls, p50/p99)", ", ".join(node_text) or "-"))
    return rows


def apply_trace(result: PhaseResult, path: Path, began: float) -> None:
    """Fill each pod's client-side call times from the CRI trace, and the phase's CRI rows."""
    if not path.exists():
        return
    ended = began + result.seconds
    calls = [call for call in critrace.read(path) if began <= call.began <= ended]
    by_uid = {t.uid: t for t in result.pods.values() if t.uid}
    per_pod, node = pod_calls(calls, set(by_uid))
    for uid, own in per_pod.items():
        t, sandbox = by_uid[uid], _first(own, "RunPodSandbox")
        create, start = _first(own, "CreateContainer"), _first(own, "StartContainer")
        t.sandbox_sent = sandbox.began if sandbox else None
        t.sandbox_returned = sandbox.ended if sandbox else t.sandbox_returned
        t.create_began, t.create_returned = (create.began, create.ended) if create else (None, t.create_returned)
        t.start_began, t.start_returned = (start.began, start.ended) if start else (None, None)
    result.cri_rows = call_rows(per_pod, node, len(by_uid))


def private_mb(pid: int) -> float:
    """Unique set size in MiB (Private_Clean + Private_Dirty): what the process alone costs, without
    the shared library pages (libcrypto, grpc, Python) that RSS counts in every process mapping them."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024


class MachineCpu:
    """Busy cores of the whole machine over a window, from /proc/stat: runc, shims and CNI plugins
    are short-lived processes no per-PID reading sees."""

    @staticmethod
    def _busy_total() -> tuple[int, int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields), fields[4]

    def __enter__(self) -> MachineCpu:
        self.start = self._busy_total()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total, iowait = self._busy_total()
        scale = (os.cpu_count() or 1) / max(1, total - self.start[1])
        self.cores = (busy - self.start[0]) * scale
        # Idle while some task waits for the disk: containerd commits its metadata with fsync.
        self.iowait = (iowait - self.start[2]) * scale


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and of its reaped children)."""
    table = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(proc.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return table


class TreeCpu:
    """Busy cores of this benchmark's own processes over a window: the given PIDs, the containerd's
    processes and shims, and all their descendants (runc, CNI plugins and other short-lived
    children count once their parent reaps them). The machine's figure minus this one is what
    other jobs on the shared machine took."""

    def __init__(self, pids: list[int], containerd: Containerd):
        self.pids, self.containerd = pids, containerd

    def _ours(self) -> dict[int, int]:
        table = _process_table()
        ours = set(self.pids) | set(processes_of(self.containerd))
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(ours)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in ours:
                    ours.add(child)
                    todo.append(child)
        return {pid: table[pid][1] for pid in ours if pid in table}

    def __enter__(self) -> TreeCpu:
        self.start, self.wall = self._ours(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        end, wall = self._ours(), time.perf_counter() - self.wall
        ticks = sum(t - self.start.get(pid, 0) for pid, t in end.items())
        self.cores = ticks / os.sysconf("SC_CLK_TCK") / max(wall, 1e-9)


def containerd_pid(containerd: Containerd) -> int | None:
    """containerd itself among the processes of this instance (the rest are shims)."""
    for pid in processes_of(containerd):
        with contextlib.suppress(OSError):
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if argv0.endswith(b"/containerd") or argv0 == b"containerd":
                return pid
    return None


def kill_leftovers(containerd: Containerd, timeout: float = 10) -> list[int]:
    """Wait for this containerd's processes to exit; SIGKILL (by PID) whatever is left."""
    deadline = time.monotonic() + timeout
    while processes_of(containerd) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = processes_of(containerd)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


async def wait_no_sandboxes(endpoint: str, timeout: float) -> int:
    """Poll the runtime until it holds no pod sandbox; return how many are left at the end."""
    runtime = CRIRuntime(endpoint, pod_log_root=os.devnull)
    await runtime.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            left = len(await runtime.list_pod_sandboxes())
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.2)
    finally:
        await runtime.close()


# ---- the floor: CRI straight from this process ------------------------------------------------------


async def floor_configs(name: str, uid: str, requests: str) -> tuple[SandboxConfig, ContainerConfig]:
    """What the floor asks for one pod: the kubelet's own configs for the benchmark's pod (its
    resources: a BestEffort pod's containers get CPU shares 2 and oom_score_adj 1000), or
    `minimal` ones (no resources, labels or annotations but the pod's)."""
    if requests == "kubelet":
        pod = pod_manifest(name)
        pod["metadata"].update(namespace=NS, uid=uid)
        spec = pod["spec"]["containers"][0]
        return podspec.sandbox_config(pod), await podspec.container_config(None, pod, spec, 0)  # type: ignore[arg-type]
    sandbox = SandboxConfig(name=name, namespace=NS, uid=uid, hostname=name,
                            labels={"app": "pod-startup-bench"}, log_directory=f"{NS}_{name}_{uid}")
    return sandbox, ContainerConfig(name="sleep", image=IMAGE, command=["sleep", "3600"], log_path="sleep/0.log")


async def floor_phase(cri: CRIRuntime, n: int, rate: float, requests: str = "kubelet") -> PhaseResult:
    pods: dict[str, Timeline] = {}

    async def launch(i: int) -> None:
        name, uid = f"floor-{int(rate)}-{i}", str(uuid.uuid4())
        t = pods[name] = Timeline(sent=time.time(), uid=uid)
        sandbox, container = await floor_configs(name, uid, requests)
        try:
            sandbox_id = await cri.run_pod_sandbox(sandbox)
            t.sandbox_returned = time.time()
            container_id = await cri.create_container(sandbox_id, container, sandbox)
            t.create_returned = time.time()
            await cri.start_container(container_id)
            status = await cri.container_status(container_id)
            if status.state is ContainerState.RUNNING:
                t.running = time.time()
            else:
                t.error = f"container {status.state.value} after StartContainer"
        except CRIError as e:
            t.error = str(e)

    began = time.time()
    await arrivals(n, rate, launch)
    result = PhaseResult("floor", rate, pods, max((t.running or began) for t in pods.values()) - began)
    await runtime_stamps(cri, {t.uid: t for t in pods.values()})
    errors = [t.error for t in pods.values() if t.error]
    if errors:
        result.notes.append(f"{len(errors)} pods failed, first: {errors[0]}")
    return result


@dataclass
class Floor:
    """The floor's containerd and a CRI client on it."""

    containerd: Containerd
    cri: CRIRuntime
    trace_path: Path
    requests: str = "kubelet"  # floor_configs()


@contextlib.asynccontextmanager
async def floor_runtime(home: Path, images: list[Path], network: PodNetwork) -> AsyncIterator[Floor]:
    """A containerd of our own on `network` with the images imported and the network warmed up;
    on exit its sandboxes are removed through CRI, it is stopped, and leftovers killed by PID."""
    containerd = Containerd(home)
    write_conflist(containerd.cni_conf_dir, network.subnet, bridge=network.bridge, data_dir=home / "cni-networks")
    await containerd.start()
    try:
        await asyncio.to_thread(import_images, containerd.address, images)
        trace_path = home / "cri-trace.jsonl"
        cri = CRIRuntime(containerd.endpoint, pod_log_root=home / "pod-logs", request_timeout=120,
                         trace=critrace.CallTrace(trace_path))
        await cri.start()
        try:
            await warm_up_network(cri)
            yield Floor(containerd, cri, trace_path)
        finally:
            await cri.close()
    finally:
        try:
            await cleanup_cri(containerd.endpoint)
        finally:
            await containerd.stop()
            left = await asyncio.to_thread(kill_leftovers, containerd)
            if left:
                print(f"floor: killed {len(left)} leftover processes", file=sys.stderr)
            discard_short_state(containerd)


async def measure_floor(floor: Floor, n: int, rate: float) -> PhaseResult:
    """One floor phase, then every sandbox removed."""
    pids = {"bench": os.getpid(), "containerd": containerd_pid(floor.containerd) or os.getpid()}
    began = time.time()
    with c.CpuWindow(pids) as cpu, MachineCpu() as machine, TreeCpu([os.getpid()], floor.containerd) as ours:
        result = await floor_phase(floor.cri, n, rate, floor.requests)
    result.cpu = {**(cpu.cores or {}), "ours with runc/CNI": ours.cores, "machine": machine.cores,
                  "others": max(0.0, machine.cores - ours.cores), "iowait": machine.iowait}
    apply_trace(result, floor.trace_path, began)
    result.rss = {"containerd": c.rss_mb(pids["containerd"])}
    report_phase(result)
    await cleanup_cri(floor.containerd.endpoint)
    return result


# ---- kubeling: pods through the API ----------------------------------------------------------------


def pod_manifest(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "pod-startup-bench"}},
            "spec": {"containers": [{"name": "sleep", "image": POD_IMAGE, "command": ["sleep", "3600"],
                                     "imagePullPolicy": "IfNotPresent"}],
                     # `sleep` as PID 1 ignores SIGTERM: a short grace keeps the deletes between phases short.
                     "terminationGracePeriodSeconds": 1}}


def all_running(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    names = {s["name"] for s in statuses if "running" in (s.get("state") or {})}
    return bool(spec.get("containers")) and all(ctr["name"] in names for ctr in spec["containers"])


@dataclass
class Cluster:
    """A started kubeling (up, or server + agent), its API client, pod watch and containerd."""

    name: str
    server: Server
    api: api_bench.Api
    containerd: Containerd  # the kubelet's (same paths as the one it runs; not started by us)
    trace_path: Path  # the kubelet's CRI trace (KUBELING_CRI_TRACE)
    agent: subprocess.Popen | None = None
    timelines: dict[str, Timeline] = field(default_factory=dict)
    watch: Watch | None = None

    @property
    def pids(self) -> dict[str, int]:
        assert self.server.process is not None
        out = {"server": self.server.process.pid}
        if self.agent is not None:
            out["agent"] = self.agent.pid
        pid = containerd_pid(self.containerd)
        if pid:
            out["containerd"] = pid
        return out

    def on_event(self, kind: str, pod: Obj) -> None:
        t = self.timelines.get(pod["metadata"]["name"])
        if t is None or kind == "DELETED" or t.running is not None:
            return
        now = time.time()
        t.events += 1
        t.uid = pod["metadata"]["uid"]
        if t.bound is None and (pod.get("spec") or {}).get("nodeName"):
            t.bound = now
        if all_running(pod):
            t.running = now
            t.creation_ts = parse_time(pod["metadata"]["creationTimestamp"])


async def create_pod(cluster: Cluster, name: str) -> None:
    t = cluster.timelines[name] = Timeline()
    t.sent = time.time()
    try:
        await cluster.api.request("POST", f"/api/v1/namespaces/{NS}/pods", pod_manifest(name), 201)
        t.created = time.time()
    except RuntimeError as e:
        t.error = str(e)


async def delete_all_pods(cluster: Cluster, timeout: float) -> None:
    """Delete every pod in the namespace, then wait until the watch has none and the runtime no sandbox."""
    assert cluster.watch is not None
    names = list(cluster.watch.objects)
    await asyncio.gather(*(cluster.api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{n}") for n in names))
    if await cluster.watch.until(lambda w: not w.objects, timeout) is None:
        raise RuntimeError(f"{cluster.name}: pods not gone after {timeout:.0f} s: {sorted(cluster.watch.objects)}")
    left = await wait_no_sandboxes(cluster.containerd.endpoint, timeout)
    if left:
        raise RuntimeError(f"{cluster.name}: {left} pod sandboxes left in the runtime after {timeout:.0f} s")


async def kubeling_phase(cluster: Cluster, n: int, rate: float, timeout: float) -> PhaseResult:
    assert cluster.watch is not None
    names = [f"{cluster.name}-{int(rate)}-{i}" for i in range(n)]
    cluster.timelines = {}

    def done(_w: Watch) -> bool:
        return len(cluster.timelines) == n and all(t.running or t.error for t in cluster.timelines.values())

    pids = cluster.pids
    own = [os.getpid(), *(pid for name, pid in pids.items() if name != "containerd")]
    with c.CpuWindow({"bench": os.getpid(), **pids}) as cpu, MachineCpu() as machine, \
            TreeCpu(own, cluster.containerd) as ours:
        began = time.time()
        await arrivals(n, rate, lambda i: create_pod(cluster, names[i]))
        finished = await cluster.watch.until(done, timeout)
    pods = dict(cluster.timelines)
    result = PhaseResult(cluster.name, rate, pods, max((t.running or began) for t in pods.values()) - began,
                         cpu={**(cpu.cores or {}), "ours with runc/CNI": ours.cores, "machine": machine.cores,
                              "others": max(0.0, machine.cores - ours.cores), "iowait": machine.iowait},
                         rss=memory(pids))
    apply_trace(result, cluster.trace_path, began)
    if finished is None:
        result.notes.append(f"only {len(result.latencies())}/{n} running after {timeout:.0f} s")
    errors = [t.error for t in pods.values() if t.error]
    if errors:
        result.notes.append(f"{len(errors)} creates failed, first: {errors[0]}")
    runtime = CRIRuntime(cluster.containerd.endpoint, pod_log_root=os.devnull)
    await runtime.start()
    try:
        await runtime_stamps(runtime, {t.uid: t for t in pods.values() if t.uid})
    finally:
        await runtime.close()
    return result


def memory(pids: dict[str, int]) -> dict[str, float]:
    """RSS of each process, and its unique (private) memory as `NAME uss`."""
    out = {}
    for name, pid in pids.items():
        out[name] = c.rss_mb(pid)
        out[f"{name} uss"] = private_mb(pid)
    return out


async def wait_node_ready(api: api_bench.Api, node: str, timeout: float) -> None:
    import orjson

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError):
            obj = orjson.loads(await api.request("GET", f"/api/v1/nodes/{node}"))
            ready = any(cd.get("type") == "Ready" and cd.get("status") == "True"
                        for cd in (obj.get("status") or {}).get("conditions") or [])
            if ready and (obj.get("spec") or {}).get("podCIDR"):
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"node {node} not Ready with a podCIDR after {timeout:.0f} s")


async def warm_up(cluster: Cluster, timeout: float) -> None:
    """One pod run and deleted first: the bridge is made on the first CNI ADD (and that first
    ADD now and then fails here; the kubelet retries), and first-call costs stay out of the figures."""
    assert cluster.watch is not None
    name = f"{cluster.name}-warmup"
    await create_pod(cluster, name)
    if await cluster.watch.until(lambda w: cluster.timelines[name].running is not None, timeout) is None:
        raise RuntimeError(f"{cluster.name}: the warm-up pod did not run in {timeout:.0f} s")
    await delete_all_pods(cluster, timeout)


def server_options(network: PodNetwork) -> list[str]:
    # The node's podCIDR is exactly the reserved subnet, so its bridge (named after the podCIDR) is ours too.
    return ["--cluster-cidr", network.subnet, "--node-cidr-mask-size", network.subnet.split("/")[1]]


@contextlib.contextmanager
def traced(path: Path) -> Any:
    """KUBELING_CRI_TRACE=path for the processes started inside (they inherit our environment)."""
    os.environ[critrace.TRACE_ENV] = str(path)
    try:
        yield
    finally:
        os.environ.pop(critrace.TRACE_ENV, None)


async def start_cluster(setup: str, root: Path, images: list[Path], network: PodNetwork) -> Cluster:
    home = root / setup
    data = home / "data"
    agent_dir = home / "agent"
    node_dir = data if setup == "up" else agent_dir
    (node_dir / "images").mkdir(parents=True)
    for tar in images:
        os.link(tar, node_dir / "images" / tar.name)
    (home / "home").mkdir()
    server = Server(data_dir=data, home=home / "home", command="up" if setup == "up" else "server")
    node = f"{setup}-node"
    extra = server_options(network)
    if setup == "up":
        extra += ["--runtime", "cri", "--node-name", node]
    trace_path = home / "cri-trace.jsonl"
    with traced(trace_path):
        await asyncio.to_thread(server.start, extra, 120)
    cluster = Cluster(setup, server, api_bench.Api.open(server.kubeconfig, home / "tls", 64), Containerd(node_dir),
                      trace_path)
    try:
        if setup == "agent":
            with traced(trace_path):
                cluster.agent = start_component(server, "agent", home / "agent.log", "--runtime", "cri",
                                                "--data-dir", str(agent_dir), "--node-name", node,
                                                "--kubelet-port", "0")
        await wait_node_ready(cluster.api, node, 120)
        await cluster.api.request("POST", "/api/v1/namespaces",
                                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, 201)
        cluster.watch = await Watch(cluster.api, f"/api/v1/namespaces/{NS}/pods", on_event=cluster.on_event).start()
        await warm_up(cluster, 120)
    except BaseException:
        await stop_cluster(cluster)
        raise
    return cluster


async def stop_cluster(cluster: Cluster) -> None:
    """Sandboxes removed through CRI, then the agent and the server stopped by PID (the kubelet
    stops its containerd), then any process of that containerd still alive killed by PID."""
    if cluster.watch is not None:
        await cluster.watch.close()
    await cluster.api.close()
    with contextlib.suppress(Exception):
        await cleanup_cri(cluster.containerd.endpoint)
    if cluster.agent is not None:
        await asyncio.to_thread(stop_process, cluster.agent, signal.SIGTERM, 60)
    await asyncio.to_thread(cluster.server.stop, signal.SIGTERM, 60)
    left = await asyncio.to_thread(kill_leftovers, cluster.containerd)
    if left:
        print(f"{cluster.name}: killed {len(left)} leftover processes", file=sys.stderr)
    discard_short_state(cluster.containerd)


def log_problems(cluster: Cluster) -> list[str]:
    logs = [cluster.server.log_path]
    if cluster.agent is not None:
        logs.append(cluster.server.data_dir.parent / "agent.log")
    notes = []
    for path in logs:
        text = path.read_text(errors="replace") if path.exists() else ""
        counts = {word: text.count(word) for word in (" WARNING ", " ERROR ", "Traceback")}
        if any(counts.values()):
            notes.append(f"{path.name}: " + ", ".join(f"{v} {k.strip()}" for k, v in counts.items() if v))
    return notes


async def run_kubeling(block: Block, root: Path, images: list[Path], network: PodNetwork,
                       args: argparse.Namespace, floor: Floor | None) -> None:
    """Each rate on the floor (when there is one) and right after on kubeling, so both see
    much the same machine (it is shared: minutes apart, its load can differ several times over)."""
    cluster = await start_cluster(block.setup, root, images, network)
    idle = memory(cluster.pids)
    try:
        for rate in args.rates:
            # Whichever runs second follows the other's 50 pods being torn down (the kernel frees
            # network namespaces after the call returns); --kubeling-first shows that order's cost.
            if floor is not None and not args.kubeling_first:
                block.floor[rate] = await measure_floor(floor, args.pods, rate)
            result = await kubeling_phase(cluster, args.pods, rate, args.timeout)
            block.results.append(result)
            report_phase(result)
            await delete_all_pods(cluster, args.timeout)
            if floor is not None and args.kubeling_first:
                block.floor[rate] = await measure_floor(floor, args.pods, rate)
    finally:
        await stop_cluster(cluster)
    block.memory = rss_rows(idle, block.results, args.pods)
    block.log_notes = log_problems(cluster)


# ---- reporting --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def spread(samples: list[float]) -> str:
    if not samples:
        return "-"
    return " / ".join(ms(c.percentile(samples, q)) for q in (50, 90, 99))


def report_phase(result: PhaseResult) -> None:
    print(f"[{result.setup} {result.rate:g}/s] p50/p90/p99 {spread(result.latencies())}; "
          f"{len(result.latencies())}/{len(result.pods)} running in {result.seconds:.1f} s",
          file=sys.stderr, flush=True)


# Segments of a pod's startup, each the median over the pods of (end - start).
SEGMENTS = (
    ("send -> create returned", "sent", "created"),
    ("send -> bound seen by watch", "sent", "bound"),
    ("send -> RunPodSandbox sent (client)", "sent", "sandbox_sent"),
    ("RunPodSandbox sent -> began (containerd)", "sandbox_sent", "sandbox_begun"),
    ("send -> RunPodSandbox began (containerd)", "sent", "sandbox_begun"),
    ("RunPodSandbox began -> returned (client)", "sandbox_begun", "sandbox_returned"),
    ("RunPodSandbox returned -> CreateContainer began (client)", "sandbox_returned", "create_began"),
    ("CreateContainer began -> returned (client)", "create_began", "create_returned"),
    ("RunPodSandbox returned -> CreateContainer returned", "sandbox_returned", "create_returned"),
    ("RunPodSandbox began -> container created", "sandbox_begun", "container_created"),
    ("CreateContainer returned -> StartContainer began (client)", "create_returned", "start_began"),
    ("StartContainer began -> returned (client)", "start_began", "start_returned"),
    ("container created -> started", "container_created", "container_started"),
    ("container started -> running seen", "container_started", "running"),
)


def breakdown(result: PhaseResult) -> list[c.Row]:
    rows = []
    for label, start, end in SEGMENTS:
        samples = gaps(result.pods, start, end)
        if samples:
            rows.append(c.Row(f"  {label}", spread(samples), "p50/p90/p99"))
    return rows


def floor_rows(floor: dict[float, PhaseResult], pods: int, where: str) -> list[c.Row]:
    rows = []
    for rate, base in floor.items():
        rows.append(c.Row(f"floor{where} {rate:g}/s: CRI direct, p50/p90/p99", spread(base.latencies()), "baseline",
                          f"{len(base.latencies())}/{pods} running"))
        rows += breakdown(base)
        rows += [c.Row(f"  {label}", value, "") for label, value in base.cri_rows]
        rows.append(c.Row("  CPU during the phase (cores)", ", ".join(f"{k} {v:.2f}" for k, v in base.cpu.items()), ""))
        rows += [c.Row("  note", note, "") for note in base.notes]
    return rows


def kubeling_rows(result: PhaseResult, base: PhaseResult | None) -> list[c.Row]:
    label = f"{result.setup} {result.rate:g}/s"
    ratio = result.p(50) / base.p(50) if base and base.latencies() and result.latencies() else None
    ok = ratio is not None and ratio <= FLOOR_RATIO_GOAL
    rows = [c.Row(f"{label}: send -> running, p50/p90/p99", spread(result.latencies()),
                  f"p50 <= {FLOOR_RATIO_GOAL}x floor", c.verdict(ok, ratio) if ratio else "no floor"),
            c.Row(f"{label}: p99 against the SLO", ms(result.p(99)), f"< {SLO:g} s",
                  c.verdict(result.p(99) < SLO, result.p(99) / SLO)),
            c.Row(f"{label}: creationTimestamp -> running", spread(gaps(result.pods, "creation_ts", "running")),
                  "(1 s resolution)")]
    rows += breakdown(result)
    rows += [c.Row(f"  {label}", value, "") for label, value in result.cri_rows]
    events = [t.events for t in result.pods.values() if t.running]
    if events:
        rows.append(c.Row("  watch events per pod until running", f"{sum(events) / len(events):.1f}", ""))
    rows.append(c.Row("  CPU during the phase (cores)", ", ".join(f"{k} {v:.2f}" for k, v in result.cpu.items()), ""))
    rows += [c.Row("  note", note, "") for note in result.notes]
    return rows


def memory_rows(setup: str, figures: dict[str, float]) -> list[c.Row]:
    rows = []
    for proc, mib in figures.items():
        goal, verdict = "", ""
        if setup == "agent" and proc.startswith("agent with"):
            goal, verdict = f"< {AGENT_RSS_GOAL:g} MiB", c.verdict(mib < AGENT_RSS_GOAL)
        kind = "USS" if " uss" in proc else "RSS"
        rows.append(c.Row(f"{kind} {setup}: {proc.replace(' uss', '')}", f"{mib:.1f} MiB", goal, verdict))
    return rows


@dataclass
class Block:
    """One kubeling setup and the floor measured just before it (the machine is shared: the
    floor of a few minutes earlier may have run under another load)."""

    setup: str
    floor: dict[float, PhaseResult] = field(default_factory=dict)
    results: list[PhaseResult] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    log_notes: list[str] = field(default_factory=list)


def table(blocks: list[Block], pods: int) -> list[c.Row]:
    rows: list[c.Row] = []
    for block in blocks:
        where = f" (before {block.setup})" if block.results else ""
        rows += floor_rows(block.floor, pods, where)
        for result in block.results:
            rows += kubeling_rows(result, block.floor.get(result.rate))
        rows += memory_rows(block.setup, block.memory)
    return rows


def summary(blocks: list[Block]) -> list[c.Row]:
    rows = []
    for block in blocks:
        for result in block.results:
            base = block.floor.get(result.rate)
            floor_p50 = ms(base.p(50)) if base else "-"
            ratio = f"{result.p(50) / base.p(50):.2f}x" if base and base.latencies() and result.latencies() else ""
            rows.append(c.Row(f"{result.setup} {result.rate:g}/s  p50 / p99  (floor p50)",
                              f"{ms(result.p(50))} / {ms(result.p(99))}  ({floor_p50})", "", ratio))
    return rows


def rss_rows(idle: dict[str, float], results: list[PhaseResult], pods: int) -> dict[str, float]:
    out = {f"{proc} idle (after warm-up)": mib for proc, mib in idle.items()}
    for proc in idle:
        peak = max((r.rss.get(proc, 0.0) for r in results), default=0.0)
        out[f"{proc} with {pods} running pods (max over rates)"] = peak
    return out


# ---- main -------------------------------------------------------------------------------------------


def build_images(directory: Path) -> list[Path]:
    directory.mkdir(parents=True)
    busybox, pause = directory / "busybox-1.36.tar", directory / "pause.tar"
    build_busybox(busybox, IMAGE)
    build_pause(pause, PAUSE_IMAGE)
    return [busybox, pause]


async def run_blocks(args: argparse.Namespace, root: Path, images: list[Path],
                     networks: tuple[PodNetwork, PodNetwork]) -> list[Block]:
    """Per kubeling setup, a fresh floor containerd beside it on a network of its own."""
    kubelings = [setup for setup in args.setups if setup != "floor"]
    blocks = []
    for setup in kubelings or ["floor"]:
        block = Block(setup)
        blocks.append(block)
        async with contextlib.AsyncExitStack() as stack:
            floor = None
            if "floor" in args.setups:
                floor = await stack.enter_async_context(floor_runtime(root / f"floor-{setup}", images, networks[0]))
                floor.requests = args.floor_requests
            if setup == "floor":
                assert floor is not None
                for rate in args.rates:
                    block.floor[rate] = await measure_floor(floor, args.pods, rate)
            else:
                await run_kubeling(block, root, images, networks[1], args, floor)
    return blocks


async def main(args: argparse.Namespace) -> int:
    why = why_no_pod_network()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="kl-startup-"))  # short: containerd's socket path must fit
    try:
        images = build_images(root / "images")
        with reserve_pod_network() as floor_net, reserve_pod_network() as kubeling_net:
            print(f"pod networks {floor_net.subnet} (floor), {kubeling_net.subnet} (kubeling); work dir {root}",
                  file=sys.stderr)
            blocks = await run_blocks(args, root, images, (floor_net, kubeling_net))
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\npod startup, {args.pods} pods per rate, rates {', '.join(f'{r:g}/s' for r in args.rates)}; "
          f"latency = watch sees all containers running - create sent")
    c.print_table(table(blocks, args.pods))
    if any(block.results for block in blocks):
        print()
        c.print_table(summary(blocks))
    for block in blocks:
        for line in block.log_notes:
            print(f"log {block.setup}: {line}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pods", type=int, default=50, help="pods per rate")
    p.add_argument("--rates", default="5,20", help="pods per second, comma-separated")
    p.add_argument("--setups", default=",".join(SETUPS), help=f"which of {', '.join(SETUPS)}, comma-separated")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for a phase")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, state)")
    p.add_argument("--kubeling-first", action="store_true", help="at each rate, kubeling before the floor")
    p.add_argument("--floor-requests", choices=("kubelet", "minimal"), default="kubelet",
                   help="the floor's CRI configs: the kubelet's own for the same pod (default), or minimal ones")
    args = p.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r]
    args.setups = [s for s in args.setups.split(",") if s]
    unknown = set(args.setups) - set(SETUPS)
    if unknown:
        p.error(f"unknown setups: {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    sys.exit(c.run_async(lambda: main(parse_args())))
