"""Scheduler benchmark, in the manner of kube-scheduler's scheduler_perf SchedulingBasic:
Node objects only (no kubelet), pods with small requests, pods scheduled per second.

Per node count: (1) the scheduler as its own process against a real server, timed from the
first pod create until a watch has seen every pod bound; (2) the scheduling algorithm
alone, in-process, per pod; (3) the baseline, measured in the same run: a client creating
the same pods and binding them to round-robin nodes through the same API, no filtering or
scoring. Goals are printed, never asserted.

    python benchmarks/scheduler_bench.py [--nodes 100,1000] [--pods 3000]
    python benchmarks/scheduler_bench.py --nodes 100,1000,5000 --pods 10000   # the issue's full figures
    python benchmarks/scheduler_bench.py --profile   # py-spy on the scheduler during (1) and the event backlog after it
    python benchmarks/scheduler_bench.py --profile server   # py-spy on the server during (3) and (1)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c  # first: puts src/ and the repo root on sys.path
import api_bench  # reused: the HTTPS client, the py-spy helpers
import controller_bench  # reused: the LIST+watch helper
import orjson

from kubeling import gctune
from kubeling.client.cache import Indexer
from kubeling.scheduler import framework as fw
from kubeling.scheduler import plugins as _plugins  # noqa: F401 - registers every plugin
from kubeling.scheduler.cache import Cache
from kubeling.scheduler.config import ProfileConfig, build_framework
from kubeling.scheduler.runtime import Framework
from tests.support.cluster import SRC, Server

Obj = dict[str, Any]
Window = Callable[[], contextlib.AbstractAsyncContextManager[Any]]

NS = "bench"
ZONES = ("zone-a", "zone-b", "zone-c")
MAX_PODS_PER_NODE = 110
# The scheduler's RestClient keeps at most 64 connections, so it never has more than 64
# binds in flight; the load generator creates at the same width.
CONCURRENCY = 64

GOAL_RATIO = 0.8  # (1) / (3)
KUBE_FLOOR = 680.0  # pods/s: scheduler_perf SchedulingBasic 5000 nodes / 10k pods, CI threshold
KUBE_FLOOR_NODES = 5000


# ---- objects ----------------------------------------------------------------------------------


def node(i: int) -> Obj:
    """A fake node as scheduler_perf makes them: big, Ready, labelled with hostname and zone."""
    name = f"node-{i:05d}"
    capacity = {"cpu": "32", "memory": "256Gi", "pods": str(MAX_PODS_PER_NODE), "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "topology.kubernetes.io/zone": ZONES[i % len(ZONES)]}},
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status"}]},
    }


def pod(i: int) -> Obj:
    """A pod with small requests (scheduler_perf's pod-default, with 128Mi)."""
    body = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"pod-{i:06d}", "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                               "limits": {"cpu": "100m", "memory": "128Mi"}}}]},
    }
    if OWNER.ref is not None:
        body["metadata"]["ownerReferences"] = [OWNER.ref]
    return body


# ---- --owned: pods controlled by one ReplicaSet, so PodTopologySpread's system defaults apply ----


class OWNER:
    """With --owned, the ownerReference every pod() carries (None: bare pods). Set per cluster,
    since each server gives the ReplicaSet its own uid."""

    enabled = False
    ref: Obj | None = None
    RS = "bench-rs"

    @classmethod
    def replica_set(cls, uid: str = "") -> Obj:
        """The owner: selects the pods' labels; 0 replicas (the controllers are off anyway)."""
        md: Obj = {"name": cls.RS, "namespace": NS, **({"uid": uid} if uid else {})}
        return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": md,
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "bench"}},
                         "template": {"metadata": {"labels": {"app": "bench"}},
                                      "spec": {"containers": [{"name": "pause",
                                                               "image": "registry.k8s.io/pause:3.10"}]}}}}

    @classmethod
    def use(cls, uid: str) -> None:
        cls.ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": cls.RS, "uid": uid,
                   "controller": True, "blockOwnerDeletion": True}

    @classmethod
    async def create(cls, api: api_bench.Api) -> None:
        created = await api.request("POST", f"/apis/apps/v1/namespaces/{NS}/replicasets", cls.replica_set(), 201)
        cls.use(orjson.loads(created)["metadata"]["uid"])


def admitted(body: Obj, uid: int) -> Obj:
    """The pod as the server stores it (identity, defaults and admission), for (2) which has no server."""
    out = orjson.loads(orjson.dumps(body))
    out["metadata"].update(namespace=NS, uid=f"00000000-0000-0000-0000-{uid:012d}")
    out["spec"].update(schedulerName="default-scheduler", priority=0, restartPolicy="Always",
                       tolerations=[{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                                     "tolerationSeconds": 300} for k in ("not-ready", "unreachable")])
    out["status"] = {"phase": "Pending", "qosClass": "Guaranteed"}
    return out


def binding(name: str, node_name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}


# ---- clusters ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    server: Server
    api: api_bench.Api
    node_names: list[str]
    scheduler: subprocess.Popen | None = None

    @property
    def server_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    async def stop(self) -> None:
        await self.api.close()
        if self.scheduler is not None:
            api_bench._stop(self.scheduler)
        self.server.stop()


async def open_cluster(root: Path, name: str, nodes: int, pool: int) -> Cluster:
    """An API-only server (no controllers, no scheduler) holding `nodes` Ready nodes."""
    server = Server(data_dir=root / name, home=root / "home").start(["--controllers", "", "--disable-scheduler"])
    api = api_bench.Api.open(server.kubeconfig, root / name / "client", pool=pool)
    cluster = Cluster(server, api, [])
    try:
        await controller_bench.create_namespace(api, NS)
        if OWNER.enabled:
            await OWNER.create(api)
        cluster.node_names = await create_all(api, "/api/v1/nodes", [node(i) for i in range(nodes)], pool)
    except BaseException:
        await cluster.stop()
        raise
    return cluster


async def create_all(api: api_bench.Api, path: str, bodies: list[Obj], concurrency: int) -> list[str]:
    """POST every body, `concurrency` in flight; the names, in body order."""
    todo = iter(bodies)

    async def worker() -> None:
        for body in todo:  # a shared iterator: each body is sent once
            await api.request("POST", path, body, 201)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [b["metadata"]["name"] for b in bodies]


def start_scheduler(kubeconfig: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "kubeling", "scheduler", "--kubeconfig", str(kubeconfig),
                                 "--leader-elect", "false"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


class Bound:
    """Watch handler: which pods have spec.nodeName, and when each was first seen bound."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def on_event(self, kind: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if kind != "DELETED" and (obj.get("spec") or {}).get("nodeName") and name not in self.at:
            self.at[name] = time.perf_counter()

    def reached(self, n: int) -> controller_bench.Condition:
        return lambda _w: len(self.at) >= n


async def wait_scheduler_ready(api: api_bench.Api, timeout: float) -> None:
    """One canary pod in its own namespace, bound: the scheduler runs and its caches synced."""
    await controller_bench.create_namespace(api, "canary")
    bound = Bound()
    w = await controller_bench.Watch(api, "/api/v1/namespaces/canary/pods", on_event=bound.on_event).start()
    try:
        await api.request("POST", "/api/v1/namespaces/canary/pods", pod(0), 201)
        if await w.until(bound.reached(1), timeout) is None:
            raise RuntimeError("the scheduler bound no canary pod: see scheduler.log")
    finally:
        await w.close()


# ---- (1) the scheduler process and (3) the baseline client --------------------------------------


@dataclass
class PodRun:
    seconds: float | None  # first create -> last pod seen bound; None: timed out
    created: float  # first create -> last create answered
    bound: int  # pods the watch saw bound
    first: float  # seconds to the first pod bound
    half: float  # seconds to half of the pods bound
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process over the run
    per_node: Counter[str] = field(default_factory=Counter)  # from a LIST afterwards
    per_zone: Counter[str] = field(default_factory=Counter)
    events_at_end: int = 0  # Scheduled events stored when the last pod was seen bound (LIST)
    events: int = 0  # ... once the scheduler's recorder caught up, or gave up
    events_after: float = float("nan")  # seconds after the end until then
    drain_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process meanwhile

    @property
    def rate(self) -> float:
        return self.bound / self.seconds if self.seconds else 0.0


def _cpu(pids: dict[str, int | None]) -> dict[str, float]:
    return {k: c.cpu_seconds(p) for k, p in pids.items() if p is not None}


async def _timed(cluster: Cluster, n: int, timeout: float, load: Callable[[], Awaitable[float]],
                 window: Window = contextlib.nullcontext) -> PodRun:
    """Run `load` (the creates, and the binds for the baseline; it returns when the last create
    was answered) and time it until a watch has seen n pods bound; then LIST them to check
    where they went."""
    path = f"/api/v1/namespaces/{NS}/pods"
    bound = Bound()
    w = await controller_bench.Watch(cluster.api, path, on_event=bound.on_event).start()
    sched_pid = cluster.scheduler.pid if cluster.scheduler is not None else None
    pids = {"scheduler": sched_pid, "server": cluster.server_pid, "client": os.getpid()}
    try:
        async with window():
            before = _cpu(pids)
            t0 = time.perf_counter()
            created = await load() - t0
            end = await w.until(bound.reached(n), timeout)
            after = _cpu(pids)
    finally:
        await w.close()
    at = sorted(bound.at.values())
    run = PodRun(None if end is None else end - t0, created, len(at), at[0] - t0 if at else float("nan"),
                 at[n // 2 - 1] - t0 if len(at) >= n // 2 > 0 else float("nan"),
                 {k: after[k] - before[k] for k in after})
    zone_of = {name: ZONES[i % len(ZONES)] for i, name in enumerate(cluster.node_names)}
    run.per_node.update(dict.fromkeys(cluster.node_names, 0))  # empty nodes count in the minimum
    for p in orjson.loads(await cluster.api.request("GET", path))["items"]:
        where = p["spec"].get("nodeName") or ""
        run.per_node[where] += 1
        run.per_zone[zone_of.get(where, "")] += 1
    return run


async def scheduled(cluster: Cluster, n: int, concurrency: int, timeout: float,
                    window: Window = contextlib.nullcontext) -> PodRun:
    """(1): create n pods as fast as `concurrency` allows; the scheduler process binds them."""
    bodies = [pod(i) for i in range(n)]
    path = f"/api/v1/namespaces/{NS}/pods"

    async def load() -> float:
        await create_all(cluster.api, path, bodies, concurrency)
        return time.perf_counter()

    return await _timed(cluster, n, timeout, load, window)


async def baseline(cluster: Cluster, n: int, concurrency: int, timeout: float,
                   window: Window = contextlib.nullcontext) -> PodRun:
    """(3): the same creates, each pod then bound to the next node round-robin by `concurrency`
    binders (POST pods/NAME/binding, as DefaultBinder sends it): the API work of scheduling
    with a free algorithm."""
    path = f"/api/v1/namespaces/{NS}/pods"
    nodes = cluster.node_names
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def create(todo: Any) -> None:
        for i in todo:
            await cluster.api.request("POST", path, pod(i), 201)
            queue.put_nowait(f"pod-{i:06d}")

    async def bind() -> None:
        while (name := await queue.get()) is not None:
            target = nodes[int(name.rsplit("-", 1)[1]) % len(nodes)]
            await cluster.api.request("POST", f"{path}/{name}/binding", binding(name, target), 201)

    async def load() -> float:
        binders = [asyncio.create_task(bind()) for _ in range(concurrency)]
        todo = iter(range(n))
        try:
            await asyncio.gather(*(create(todo) for _ in range(concurrency)))
            created = time.perf_counter()
        finally:
            for _ in binders:
                queue.put_nowait(None)
        await asyncio.gather(*binders)
        return created

    return await _timed(cluster, n, timeout, load, window)


# ---- (2) the algorithm alone ----------------------------------------------------------------------


@dataclass
class AlgoRun:
    schedule_us: list[float]  # Framework.schedule() per pod
    snapshot_us: list[float]  # cache.update_snapshot() per pod (one node changed since the last)
    per_node: Counter[str]
    evaluated: int  # nodes filtered for the last pod (percentageOfNodesToScore at work)
    feasible: int  # nodes scored for the last pod

    @property
    def per_pod_us(self) -> float:
        return statistics.fmean(self.schedule_us) + statistics.fmean(self.snapshot_us)


def algorithm_setup(nodes: int, seed: int = 1) -> tuple[Cache, fw.Snapshot, Framework]:
    """The default profile over a cache holding `nodes` nodes, as the scheduler builds it."""
    cache = Cache()
    for i in range(nodes):
        cache.add_node(node(i))
    snapshot = fw.Snapshot()
    handle = fw.Handle(snapshot)
    if OWNER.enabled:  # the scheduler's ReplicaSet informer, holding the pods' owner
        OWNER.use("00000000-0000-0000-0000-0000000000rs")
        handle.listers["ReplicaSet"] = Indexer()
        handle.listers["ReplicaSet"].upsert(OWNER.replica_set(OWNER.ref["uid"]))
    framework = build_framework(ProfileConfig(), handle, random.Random(seed))
    handle.framework = framework
    return cache, snapshot, framework


def schedule_all(cache: Cache, snapshot: fw.Snapshot, framework: Framework, pods: list[Obj]) -> AlgoRun:
    """The scheduling cycle minus the API: refresh the snapshot, schedule, assume the pod on its
    node, so each pod sees the ones before it."""
    run = AlgoRun([], [], Counter(), 0, 0)
    clock = time.perf_counter
    for p in pods:
        t0 = clock()
        cache.update_snapshot(snapshot)
        t1 = clock()
        result = framework.schedule(fw.CycleState(), p)
        t2 = clock()
        run.snapshot_us.append((t1 - t0) * 1e6)
        run.schedule_us.append((t2 - t1) * 1e6)
        cache.assume_pod({**p, "spec": {**p["spec"], "nodeName": result.node}})
        run.per_node[result.node] += 1
        run.evaluated, run.feasible = result.evaluated_nodes, result.feasible_nodes
    return run


def algorithm(nodes: int, count: int) -> AlgoRun:
    """`count` pods timed, after 50 untimed."""
    cache, snapshot, framework = algorithm_setup(nodes)
    pods = [admitted(pod(i), i) for i in range(count + 50)]
    schedule_all(cache, snapshot, framework, pods[:50])  # warm-up: first snapshot, lazy imports
    return schedule_all(cache, snapshot, framework, pods[50:])


# Methods Framework.schedule() calls (the rest run in the binding cycle or on failure only).
TIMED_METHODS = ("pre_filter", "filter", "filter_nodes", "pre_score", "score", "score_nodes", "normalize_score")


@dataclass
class Breakdown:
    """Seconds inside each plugin method over `pods` pods, with the timers' own cost taken out."""

    pods: int
    spent: dict[str, float]  # "Plugin.method" -> seconds

    def per_pod_us(self) -> dict[str, float]:
        return {k: 1e6 * v / self.pods for k, v in self.spent.items()}


def plugin_breakdown(nodes: int, count: int) -> Breakdown:
    """Wrap each plugin's methods with a timer and schedule `count` pods (a separate pass from
    (2): the wrappers slow the loop). The part of a timer's cost that lands inside the timed
    span, measured on an empty method, is subtracted per call."""
    cache, snapshot, framework = algorithm_setup(nodes)
    spent: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    seen: set[int] = set()
    for plugins in framework.points.values():
        for p in plugins:
            if id(p) in seen:
                continue
            seen.add(id(p))
            for method in TIMED_METHODS:
                if hasattr(p, method):
                    setattr(p, method, _timer(getattr(p, method), f"{p.name}.{method}", spent, calls))
    pods = [admitted(pod(i), i) for i in range(count + 50)]
    schedule_all(cache, snapshot, framework, pods[:50])
    spent.clear()
    calls.clear()
    schedule_all(cache, snapshot, framework, pods[50:])
    inner = _timer_cost()
    return Breakdown(count, {k: max(0.0, v - calls[k] * inner) for k, v in spent.items()})


def _timer(method: Callable[..., Any], label: str, spent: Counter[str], calls: Counter[str]) -> Callable[..., Any]:
    clock = time.perf_counter

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = clock()
        try:
            return method(*args, **kwargs)
        finally:
            spent[label] += clock() - t
            calls[label] += 1

    return timed


def _timer_cost(n: int = 50_000) -> float:
    """Seconds a timer counts around a method that does nothing (median of 5 rounds)."""
    rounds = []
    for _ in range(5):
        spent: Counter[str] = Counter()
        noop = _timer(lambda *_a: None, "noop", spent, Counter())
        for _ in range(n):
            noop(None, None, None)
        rounds.append(spent["noop"] / n)
    return statistics.median(rounds)


# ---- profiling the scheduler process ---------------------------------------------------------------


def profiling(pid: int, out: Path, label: str, who: str = "scheduler") -> Window:
    """A window running py-spy on process `pid` (stopped with SIGINT at its end, so it writes
    its file), then printing the hotspots and the share of each source file."""

    @contextlib.asynccontextmanager
    async def window() -> AsyncIterator[None]:
        profiler = api_bench.start_profiler(pid, 900, out)
        await asyncio.sleep(0.5)  # py-spy attaching
        try:
            yield
        finally:
            profiler.send_signal(signal.SIGINT)
            _, err = await asyncio.to_thread(profiler.communicate, timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy failed: {err.decode()}")
        # Non-blocking sampling can tear a frame name into invalid UTF-8 or a line in two:
        # keep the well-formed `stack count` lines the summary can read.
        lines = out.read_bytes().decode(errors="replace").splitlines()
        kept = [ln for ln in lines if ln.rpartition(" ")[2].isdigit() and ";" in ln]
        out.write_text("\n".join(kept) + "\n")
        if len(kept) < len(lines):
            print(f"(dropped {len(lines) - len(kept)} malformed py-spy lines: {lines[-1][:80]!r}...)")
        print(f"\n===== {who} (pid {pid}) profile: {label} =====")
        api_bench.summarize_profile(out)
        summarize_by_file(out)

    return window


def summarize_by_file(raw: Path, top: int = 20) -> None:
    """Inclusive share of samples per source file (kubeling's own files, and libraries by
    package): which plugin or layer the time goes to, whatever function inside it."""
    per_file: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        files = {_file_of(f) for f in stack.split(";")[1:]}
        for f in files - {""}:
            per_file[f] += n
    print(f"\n  inclusive share per source file ({total} samples):")
    shown = [(f, n) for f, n in per_file.most_common() if n < 0.97 * total][:top]
    for f, n in shown:
        print(f"    {100 * n / total:5.1f}%  {f}")


def _file_of(frame: str) -> str:
    where = frame.partition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if "kubeling/" in where:
        return "kubeling/" + where.split("kubeling/", 1)[1]
    if "site-packages/" in where:
        return where.split("site-packages/", 1)[1].split("/", 1)[0] + " (package)"
    if "lib/python3" in where:
        return "stdlib " + where.rsplit("/lib/", 1)[1].split("/", 1)[1].split("/", 1)[0]
    return ""


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Result:
    nodes: int
    sched: PodRun
    base: PodRun
    algo: AlgoRun
    breakdown: Breakdown
    profiled: str  # "", "scheduler" or "server": who ran under py-spy
    log_counts: Counter[str]  # lines of interest in the scheduler's log


async def measure_one(args: argparse.Namespace, root: Path, nodes: int, profile: str) -> Result:
    """`profile`: "" for none, "scheduler" (during (1)) or "server" (during (3) and (1))."""
    pool = args.concurrency + 4  # + the watches
    name = f"n{nodes}"

    # The baseline's binders get their own connections, as the scheduler's RestClient has its own pool.
    base_cluster = await open_cluster(root, f"{name}-baseline", nodes, pool + args.concurrency)
    try:
        window = (profiling(base_cluster.server_pid, root / f"{name}-baseline-profile.txt",
                            f"(3) {nodes:,} nodes", "server") if profile == "server" else contextlib.nullcontext)
        base = await baseline(base_cluster, args.pods, args.concurrency, args.timeout, window)
    finally:
        await base_cluster.stop()

    cluster = await open_cluster(root, f"{name}-scheduler", nodes, pool)
    log = root / f"{name}-scheduler" / "scheduler.log"
    try:
        cluster.scheduler = start_scheduler(cluster.server.kubeconfig, log)
        await wait_scheduler_ready(cluster.api, 60.0)
        window = contextlib.nullcontext
        if profile:
            pid = cluster.scheduler.pid if profile == "scheduler" else cluster.server_pid
            window = profiling(pid, root / f"{name}-profile.txt", f"(1) {nodes:,} nodes", profile)
        sched = await scheduled(cluster, args.pods, args.concurrency, args.timeout, window)
        drain_window = contextlib.nullcontext
        if profile:  # the same process again, while the Scheduled events left over are written
            drain_window = profiling(pid, root / f"{name}-events-profile.txt", f"(1) {nodes:,} nodes, "
                                     "event backlog after the last bind", profile)
        async with drain_window():
            await count_events(cluster.api, sched, args.pods, {"scheduler": cluster.scheduler.pid,
                                                              "server": cluster.server_pid})
        if cluster.scheduler.poll() is not None:
            raise RuntimeError(f"the scheduler exited with {cluster.scheduler.returncode}")
    finally:
        await cluster.stop()

    algo = await asyncio.to_thread(algorithm, nodes, args.algo_pods)
    breakdown = await asyncio.to_thread(plugin_breakdown, nodes, args.breakdown_pods)
    return Result(nodes, sched, base, algo, breakdown, profile, scan_log(log))


async def count_events(api: api_bench.Api, run: PodRun, n: int, pids: dict[str, int | None],
                       patience: float = 120.0) -> None:
    """The Scheduled events stored now, then again each second until there are n of them (the
    recorder writes a backlog after the burst) or `patience` runs out."""
    async def stored() -> int:
        events = orjson.loads(await api.request("GET", f"/api/v1/namespaces/{NS}/events"))["items"]
        return sum(1 for e in events if e.get("reason") == "Scheduled")

    before, t0 = _cpu(pids), time.perf_counter()
    run.events_at_end = run.events = await stored()
    while run.events < n and time.perf_counter() - t0 < patience:
        await asyncio.sleep(1.0)
        run.events = await stored()
    run.events_after = time.perf_counter() - t0
    after = _cpu(pids)
    run.drain_cpu = {k: after[k] - before[k] for k in after}


LOG_MARKERS = {"dropped events": "dropping event", "errors": " ERROR ", "tracebacks": "Traceback"}


def scan_log(log: Path) -> Counter[str]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return Counter({k: text.count(marker) for k, marker in LOG_MARKERS.items()})


async def measure(args: argparse.Namespace, root: Path) -> list[Result]:
    # This process is the load and the watch in (1) and (3), on the same cores as the server and
    # the scheduler: with CPython's default GC thresholds its collections (a tenth of a core at
    # 10,000 pods, full ones up to 170 ms) took CPU from both; tuned as the components are.
    gctune.tune_for_large_heap()
    out = []
    largest = max(args.nodes)
    for nodes in args.nodes:
        out.append(await measure_one(args, root, nodes, args.profile if nodes == largest else ""))
        print(f"... {nodes:,} nodes done ({out[-1].sched.rate:,.0f} pods/s scheduled)", file=sys.stderr)
    return out


def _secs(x: float | None) -> str:
    return "timeout" if x is None else f"{x:.2f} s"


def rows(args: argparse.Namespace, results: list[Result]) -> list[c.Row]:
    p = args.pods
    out: list[c.Row] = []
    for r in results:
        s, b, a = r.sched, r.base, r.algo
        ratio = s.rate / b.rate if b.rate else 0.0
        note = f"  [{r.profiled} under py-spy]" if r.profiled else ""
        base_note = note if r.profiled == "server" else ""
        sched_cpu = s.cpu.get("scheduler", float("nan"))
        filled = [v for k, v in s.per_node.items() if k]
        out += [
            c.Row(f"{r.nodes:,} nodes, {p:,} pods, {args.concurrency} creates in flight", ""),
            c.Row(f"(3) baseline: create + bind round-robin by a client, pods/s{base_note}", f"{b.rate:,.0f}", "baseline",
                  _secs(b.seconds)),
            c.Row("    creates alone answered in", _secs(b.created), "", f"{p / b.created:,.0f} creates/s"),
            c.Row(f"(1) scheduler process, pods scheduled/s{note}", f"{s.rate:,.0f}",
                  f">= {GOAL_RATIO} x (3)", c.verdict(ratio >= GOAL_RATIO, ratio)),
            c.Row("    first create -> all bound; -> first / half bound; creates answered in",
                  _secs(s.seconds), "", f"{s.first:.2f} / {s.half:.2f} s; {s.created:.2f} s"),
            c.Row("    scheduler CPU per pod; cores used", f"{1000 * sched_cpu / p:.2f} ms", "",
                  f"{sched_cpu / s.seconds:.2f} cores" if s.seconds else ""),
            c.Row("    server CPU per pod, (1) / (3)", f"{1000 * s.cpu['server'] / p:.2f} / "
                  f"{1000 * b.cpu['server'] / p:.2f} ms", "", f"client {1000 * s.cpu['client'] / p:.2f} ms"),
            c.Row("    pods bound per node min / max; per zone", f"{min(filled, default=0)} / {max(filled, default=0)}",
                  f"<= {MAX_PODS_PER_NODE}",
                  ", ".join(f"{z[-1]}:{s.per_zone[z]}" for z in ZONES) +
                  (f"; {s.per_node['']} UNBOUND" if s.per_node.get("") else "")),
        ]
        out.append(c.Row("    Scheduled events stored when all bound; in the end (after)",
                         f"{s.events_at_end:,}; {s.events:,}", f"{p:,}",
                         f"{s.events_after:.0f} s later" if s.events == p else c.verdict(False, s.events / p)))
        if s.events > s.events_at_end:
            out.append(c.Row("    CPU per pod with the event backlog written after: scheduler / server",
                             f"{1000 * (sched_cpu + s.drain_cpu['scheduler']) / p:.2f} / "
                             f"{1000 * (s.cpu['server'] + s.drain_cpu['server']) / p:.2f} ms", "", ""))
        out.append(c.Row("    scheduler log: " + " / ".join(LOG_MARKERS), " / ".join(
            str(r.log_counts[k]) for k in LOG_MARKERS), "0 / 0 / 0", c.verdict(not any(r.log_counts.values()))))
        if r.nodes == KUBE_FLOOR_NODES:
            out.append(c.Row(f"    (1) vs kube-scheduler CI floor at {KUBE_FLOOR_NODES:,} nodes", f"{s.rate:,.0f}",
                             f">= {KUBE_FLOOR:,.0f}", c.verdict(s.rate >= KUBE_FLOOR, s.rate / KUBE_FLOOR)))
        else:
            out.append(c.Row(f"    (1) vs kube-scheduler's {KUBE_FLOOR:,.0f}/s floor (set at "
                             f"{KUBE_FLOOR_NODES:,} nodes)", "", "", f"{s.rate / KUBE_FLOOR:.2f}x (reference)"))
        n = len(a.schedule_us)
        out += [
            c.Row(f"(2) algorithm alone, {n:,} pods: schedule() + snapshot refresh per pod",
                  f"{a.per_pod_us:,.0f} us", "", f"{1e6 / a.per_pod_us:,.0f} pods/s"),
            c.Row("    schedule() p50 / p99; snapshot refresh p50",
                  f"{c.median(a.schedule_us):,.0f} / {c.percentile(a.schedule_us, 99):,.0f} us", "",
                  f"{c.median(a.snapshot_us):,.0f} us"),
            c.Row("    nodes filtered / scored per pod (percentageOfNodesToScore)",
                  f"{a.evaluated:,} / {a.feasible:,}", "",
                  f"{a.per_pod_us / max(1, a.evaluated):.1f} us per node filtered"),
            c.Row("    (1) scheduler CPU per pod / (2) per pod", "", "",
                  f"{1e3 * sched_cpu / p / (a.per_pod_us / 1e3):.1f}x"),
        ]
    return out


def print_breakdown(results: list[Result]) -> None:
    """Per node count: each plugin method's time per pod against schedule()'s untimed time in
    (2); what no plugin accounts for is the framework's own loop."""
    for r in results:
        total = statistics.fmean(r.algo.schedule_us)
        per_pod = r.breakdown.per_pod_us()
        print(f"\n(2) where schedule() goes, {r.nodes:,} nodes ({total:,.0f} us/pod untimed; "
              f"plugins timed over {r.breakdown.pods:,} pods):")
        for label, us in sorted(per_pod.items(), key=lambda kv: -kv[1]):
            if us >= 0.005 * total:
                print(f"  {100 * us / total:5.1f}%  {us:7.1f} us/pod  {label}")
        rest = total - sum(per_pod.values())
        print(f"  {100 * rest / total:5.1f}%  {rest:7.1f} us/pod  framework loop (runtime.py: plugin calls, "
              "statuses, score dicts, normalizing, weights)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", default="100,1000", help="comma-separated node counts, each a fresh cluster")
    p.add_argument("--pods", type=int, default=3000, help="pods to schedule per node count in (1) and (3)")
    p.add_argument("--concurrency", type=int, default=CONCURRENCY, help="creates (and baseline binds) in flight")
    p.add_argument("--algo-pods", type=int, default=3000, help="pods timed through schedule() in (2)")
    p.add_argument("--breakdown-pods", type=int, default=500, help="pods in the per-plugin timing pass")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds (1) or (3) may take before giving up")
    p.add_argument("--profile", nargs="?", const="scheduler", default="", choices=("scheduler", "server"),
                   help="py-spy, at the largest node count, on the scheduler during (1) (the default) or on "
                        "the server during (3) and (1)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state.db, profiles)")
    p.add_argument("--owned", action="store_true",
                   help="pods controlled by one ReplicaSet, so PodTopologySpread's system default constraints apply")
    args = p.parse_args()
    OWNER.enabled = args.owned
    args.nodes = [int(x) for x in args.nodes.split(",") if x]
    if args.pods > min(args.nodes) * MAX_PODS_PER_NODE:
        p.error(f"{args.pods} pods do not fit on {min(args.nodes)} nodes of {MAX_PODS_PER_NODE} pods")
    root = Path(tempfile.mkdtemp(prefix="kubeling-scheduler-bench-"))
    started = time.perf_counter()
    try:
        results = c.run_async(lambda: measure(args, root))
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_breakdown(results)
    print(f"\nkubeling scheduler benchmark ({os.cpu_count()} CPUs, {time.perf_counter() - started:.0f} s)\n")
    c.print_table(rows(args, results))


if __name__ == "__main__":
    main()
