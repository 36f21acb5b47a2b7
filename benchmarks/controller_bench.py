"""Controller-manager benchmark: how fast the ReplicaSet and Deployment controllers turn a
scale-up into pods, compared with a plain client creating the same pods, and how many
Deployments per second they reconcile.

Baseline, measured in the same run: the pods a 1,000-replica Deployment needs, created
straight through the API by this process at the concurrency the controller can reach.
Goals are printed, never asserted.

    python benchmarks/controller_bench.py [--replicas 1000] [--deployments 200] [--runs 5]
    python benchmarks/controller_bench.py --profile   # (2) and (4) only, py-spy on the controller-manager
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
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
from pathlib import Path
from typing import Any

import _common as c  # first: puts src/ and the repo root on sys.path
import aiohttp
import api_bench  # reused: the HTTPS client, the ~1 KB pod, the py-spy helpers
import orjson

from kubeling.api.meta import rfc3339
from kubeling.controllers.podutil import new_controller_ref
from kubeling.controllers.replicaset import pod_from_template
from tests.support.cluster import SRC, Server

Obj = dict[str, Any]
Window = Callable[[], contextlib.AbstractAsyncContextManager[Any]]  # wraps the timed part of a run

NS = "bench"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json", "Accept": "application/json"}
# The RestClient's keep-alive pool (max_connections=64) caps the controller's in-flight creates,
# however wide its slow-start batch (1, 2, 4, ... 256 within a 500-pod burst): match it. Only
# 63 of each burst's 500 go out in batches narrower than that.
BASELINE_CONCURRENCY = 64
STANDALONE_CONTROLLERS = "replicaset,deployment"

GOAL_RATIO = 0.7  # baseline time / controller time


# ---- objects ----------------------------------------------------------------------------------


def pod_template(app: str) -> Obj:
    """The realistic ~1 KB pod of api_bench as a Deployment's template (no per-pod fields)."""
    pod = api_bench.pod(0)
    labels = {k: v for k, v in pod["metadata"]["labels"].items() if k not in ("pod-template-hash", "shard")}
    labels["app"] = app
    container = pod["spec"]["containers"][0]
    container["env"] = [e for e in container["env"] if e["name"] != "POD_INDEX"]
    return {"metadata": {"labels": labels, "annotations": pod["metadata"]["annotations"]}, "spec": pod["spec"]}


def deployment(name: str, replicas: int) -> Obj:
    template = pod_template(name)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}}


def baseline_pods(count: int) -> list[Obj]:
    """Byte for byte what the ReplicaSet controller sends: its own pod_from_template, with
    generateName, the pod-template-hash label and a controller ownerReference."""
    template = pod_template("web")
    template["metadata"]["labels"]["pod-template-hash"] = "5d7f9c8b6d"
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": "web-5d7f9c8b6d", "namespace": NS, "uid": str(uuid.uuid4())},
          "spec": {"template": template}}
    ref = new_controller_ref(rs)
    return [pod_from_template(template, rs, ref) for _ in range(count)]


def ready_status(pod: Obj) -> Obj:
    """What a kubelet (or kwok) reports for a started pod: Running, every condition True."""
    now = rfc3339()
    conditions = [{"type": t, "status": "True", "lastTransitionTime": now}
                  for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")]
    statuses = [{"name": ctr["name"], "image": ctr["image"], "imageID": "", "ready": True, "started": True,
                 "restartCount": 0, "state": {"running": {"startedAt": now}}} for ctr in pod["spec"]["containers"]]
    return {"status": {"phase": "Running", "conditions": conditions, "containerStatuses": statuses,
                       "startTime": now, "podIP": "10.88.0.10", "hostIP": "10.0.0.1"}}


def is_ready(pod: Obj) -> bool:
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in (pod.get("status") or {}).get("conditions") or [])


# ---- a watch holding the latest objects, with waiters on conditions -------------------------------


Condition = Callable[["Watch"], bool]


@dataclass
class Watch:
    """LIST then watch one collection. `until(cond)` resolves with the arrival time of the
    event that made `cond` true, so the figures do not depend on a polling period."""

    api: api_bench.Api
    path: str
    on_event: Callable[[str, Obj], None] | None = None
    objects: dict[str, Obj] = field(default_factory=dict)
    added_at: list[float] = field(default_factory=list)  # arrival time of each ADDED event
    _waiters: list[tuple[Condition, asyncio.Future[float]]] = field(default_factory=list)
    _task: asyncio.Task | None = None
    _resp: aiohttp.ClientResponse | None = None

    async def start(self) -> Watch:
        listed = orjson.loads(await self.api.request("GET", self.path))
        self.objects = {o["metadata"]["name"]: o for o in listed["items"]}
        rv = listed["metadata"]["resourceVersion"]
        url = f"{self.api.base}{self.path}?watch=true&resourceVersion={rv}&timeoutSeconds=900"
        self._resp = await self.api.session.get(url, headers={"Accept": "application/json"},
                                                timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        if self._resp.status != 200:
            raise RuntimeError(f"watch {self.path}: {self._resp.status} {await self._resp.text()}")
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._resp is not None
        try:
            while line := await self._resp.content.readline():
                now = time.perf_counter()
                event = orjson.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    raise RuntimeError(f"watch {self.path}: {obj.get('message')}")
                if kind == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if kind == "DELETED":
                    self.objects.pop(name, None)
                else:
                    if kind == "ADDED":
                        self.added_at.append(now)
                    self.objects[name] = obj
                if self.on_event is not None:
                    self.on_event(kind, obj)
                self._wake(now)
            raise RuntimeError(f"watch {self.path} ended")
        except BaseException as e:  # a broken stream fails the waiters now, not at their timeout
            for _, fut in self._waiters:
                if not fut.done():
                    fut.set_exception(e if isinstance(e, Exception) else RuntimeError("watch cancelled"))
            raise

    def _wake(self, now: float) -> None:
        pending = []
        for cond, fut in self._waiters:
            if not fut.done() and cond(self):
                fut.set_result(now)
            elif not fut.done():
                pending.append((cond, fut))
        self._waiters = pending

    async def until(self, cond: Condition, timeout: float) -> float | None:
        """perf_counter time at which cond became true; None after timeout seconds."""
        if cond(self):
            return time.perf_counter()
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((cond, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._resp is not None:
            self._resp.close()


def at_least(n: int) -> Condition:
    return lambda w: len(w.objects) >= n


# ---- processes -----------------------------------------------------------------------------------


def start_server(root: Path, name: str, controllers: str | None) -> Server:
    """A fresh server; controllers=None keeps the default (every controller in-process)."""
    extra = [] if controllers is None else ["--controllers", controllers]
    return Server(data_dir=root / name, home=root / "home").start(extra)


def start_controller_manager(kubeconfig: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "kubeling", "controller-manager", "--kubeconfig",
                                 str(kubeconfig), "--leader-elect", "false", "--controllers", STANDALONE_CONTROLLERS],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)


@dataclass
class Cluster:
    """One server, optionally a standalone controller-manager, and a client pool for the load."""

    server: Server
    api: api_bench.Api
    cm: subprocess.Popen | None = None

    @property
    def server_pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    @property
    def cm_pid(self) -> int | None:
        return self.cm.pid if self.cm is not None else None

    async def stop(self) -> None:
        await self.api.close()
        if self.cm is not None:
            api_bench._stop(self.cm)
        self.server.stop()


def open_cluster(root: Path, name: str, mode: str, pool: int) -> Cluster:
    """mode: "none" (no controllers), "standalone" (own process), "in-process" (server default)."""
    server = start_server(root, name, None if mode == "in-process" else "")
    cluster = Cluster(server, api_bench.Api.open(server.kubeconfig, root / name / "client", pool=pool))
    if mode == "standalone":
        cluster.cm = start_controller_manager(server.kubeconfig, root / name / "controller-manager.log")
    return cluster


async def create_namespace(api: api_bench.Api, name: str = NS) -> None:
    await api.request("POST", "/api/v1/namespaces",
                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, 201)


async def count_items(api: api_bench.Api, path: str) -> int:
    return len(orjson.loads(await api.request("GET", path))["items"])


# ---- (1) baseline and (2)/(3) a Deployment scaled 0 -> N -------------------------------------------


@dataclass
class PodRun:
    seconds: float | None  # None: timed out
    reached: int  # pods seen by the watch
    listed: int  # pods a LIST found afterwards
    first_pod: float  # seconds to the first pod
    half: float  # seconds to half of the pods
    max_gap: float  # longest silence between two pods' arrivals: a barrier between batches or bursts
    cpu: dict[str, float]  # CPU seconds per process over the run


def _pod_run(w: Watch, t0: float, end: float | None, n: int, listed: int, cpu: dict[str, float]) -> PodRun:
    at = sorted(w.added_at)

    def pick(i: int) -> float:
        return at[i] - t0 if len(at) > i else float("nan")

    gap = max((b - a for a, b in itertools.pairwise(at)), default=math.nan)
    return PodRun(None if end is None else end - t0, len(w.objects), listed, pick(0), pick(n // 2 - 1), gap, cpu)


def _cpu(pids: dict[str, int | None]) -> dict[str, float]:
    return {k: c.cpu_seconds(p) for k, p in pids.items() if p is not None}


async def create_pods(cluster: Cluster, namespace: str, n: int, concurrency: int, timeout: float) -> PodRun:
    """n pods as the ReplicaSet controller would send them, `concurrency` requests in flight."""
    await create_namespace(cluster.api, namespace)
    pods_path = f"/api/v1/namespaces/{namespace}/pods"
    bodies = iter(baseline_pods(n))
    w = await Watch(cluster.api, pods_path).start()

    async def worker() -> None:
        for body in bodies:  # a shared iterator: each pod is sent once
            await cluster.api.request("POST", pods_path, body, 201)

    pids = {"server": cluster.server_pid, "client": os.getpid()}
    before = _cpu(pids)
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = await w.until(at_least(n), timeout)
        after = _cpu(pids)
        return _pod_run(w, t0, end, n, await count_items(cluster.api, pods_path),
                        {k: after[k] - before[k] for k in after})
    finally:
        await w.close()


async def baseline(cluster: Cluster, n: int, concurrency: int, timeout: float) -> tuple[PodRun, PodRun]:
    """Twice: first on a pool that opens its connections during the run, as the controller-manager's
    does when a burst starts; then again on the now warm pool (creates alone)."""
    cold = await create_pods(cluster, NS, n, concurrency, timeout)
    warm = await create_pods(cluster, f"{NS}-warm", n, concurrency, timeout)
    return cold, warm


async def wait_for_replicaset(api: api_bench.Api, deployments: int, timeout: float, namespace: str = NS) -> None:
    """Until the Deployment controller made the ReplicaSets: proof the controllers run and synced."""
    w = await Watch(api, f"/apis/apps/v1/namespaces/{namespace}/replicasets").start()
    try:
        if await w.until(at_least(deployments), timeout) is None:
            raise RuntimeError("the controllers made no ReplicaSet: see the controller-manager log")
    finally:
        await w.close()


async def scale_up(cluster: Cluster, n: int, timeout: float, window: Window = contextlib.nullcontext) -> PodRun:
    """Create a 0-replica Deployment, wait for its ReplicaSet, then time PATCH .../scale -> n pods
    (inside `window`, e.g. a profiler)."""
    api = cluster.api
    await create_namespace(api)
    base = f"/apis/apps/v1/namespaces/{NS}/deployments"
    await api.request("POST", base, deployment("web", 0), 201)
    await wait_for_replicaset(api, 1, 60.0)
    pods_path = f"/api/v1/namespaces/{NS}/pods"
    w = await Watch(api, pods_path).start()
    pids = {"server": cluster.server_pid, "controller-manager": cluster.cm_pid}
    try:
        async with window():
            before = _cpu(pids)
            t0 = time.perf_counter()
            await api.request("PATCH", f"{base}/web/scale", {"spec": {"replicas": n}}, headers=MERGE_PATCH)
            end = await w.until(at_least(n), timeout)
            after = _cpu(pids)
        return _pod_run(w, t0, end, n, await count_items(api, pods_path), {k: after[k] - before[k] for k in after})
    finally:
        await w.close()


# ---- (4) many Deployments, pods made Ready by a kwok-like marker -------------------------------------


class ReadyMarker:
    """Marks every new pod Running and Ready through the status subresource, as kwok would."""

    def __init__(self, api: api_bench.Api):
        self.api = api
        self.marked: set[str] = set()
        self.tasks: set[asyncio.Task] = set()
        self.errors: list[str] = []

    def on_event(self, kind: str, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        if kind == "DELETED" or name in self.marked or is_ready(pod) or pod["metadata"].get("deletionTimestamp"):
            return
        self.marked.add(name)
        task = asyncio.create_task(self._mark(pod))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _mark(self, pod: Obj) -> None:
        path = f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}/status"
        try:
            await self.api.request("PATCH", path, ready_status(pod), headers=MERGE_PATCH)
        except RuntimeError as e:
            self.errors.append(str(e)[:200])


def rolled_out(d: Obj) -> bool:
    status = d.get("status") or {}
    return status.get("observedGeneration") == d["metadata"].get("generation") and status.get("updatedReplicas") == 1


def available(d: Obj) -> bool:
    return rolled_out(d) and (d.get("status") or {}).get("availableReplicas") == 1


def every(n: int, pred: Callable[[Obj], bool]) -> Condition:
    return lambda w: len(w.objects) >= n and all(pred(d) for d in w.objects.values())


@dataclass
class ReconcileRun:
    rolled_out: float | None  # seconds until every Deployment has observedGeneration and updatedReplicas 1
    available: float | None  # ... and availableReplicas 1
    replicasets: int
    pods: int
    cm_cpu: float
    marker_errors: list[str]


async def many_deployments(cluster: Cluster, n: int, timeout: float,
                           window: Window = contextlib.nullcontext) -> ReconcileRun:
    api = cluster.api
    await create_namespace(api)
    marker = ReadyMarker(api)
    pods = await Watch(api, f"/api/v1/namespaces/{NS}/pods", on_event=marker.on_event).start()
    base = f"/apis/apps/v1/namespaces/{NS}/deployments"
    deploys = await Watch(api, base).start()
    # A 0-replica canary elsewhere first, so the clock does not include the controller-manager's start.
    await create_namespace(api, "canary")
    await api.request("POST", "/apis/apps/v1/namespaces/canary/deployments", deployment("canary", 0), 201)
    await wait_for_replicaset(api, 1, 60.0, "canary")
    try:
        async with window():
            cm0 = c.cpu_seconds(cluster.cm_pid) if cluster.cm_pid else 0.0
            t0 = time.perf_counter()
            await asyncio.gather(*(api.request("POST", base, deployment(f"app-{i:03d}", 1), 201)
                                   for i in range(n)))
            rolled = await deploys.until(every(n, rolled_out), timeout)
            done = await deploys.until(every(n, available), max(1.0, timeout - (time.perf_counter() - t0)))
            cm_cpu = (c.cpu_seconds(cluster.cm_pid) - cm0) if cluster.cm_pid else float("nan")
        rs = await count_items(api, f"/apis/apps/v1/namespaces/{NS}/replicasets")
        return ReconcileRun(None if rolled is None else rolled - t0, None if done is None else done - t0,
                            rs, await count_items(api, f"/api/v1/namespaces/{NS}/pods"), cm_cpu, marker.errors)
    finally:
        await deploys.close()
        await pods.close()
        await asyncio.gather(*marker.tasks, return_exceptions=True)


# ---- profiling the controller-manager --------------------------------------------------------------


def profiling(pid: int, out: Path, label: str) -> Window:
    """A window running py-spy on pid (stopped with SIGINT at its end, so it writes its file),
    then printing the hotspots."""

    @contextlib.asynccontextmanager
    async def window() -> AsyncIterator[None]:
        profiler = api_bench.start_profiler(pid, 600, out)
        await asyncio.sleep(0.5)  # py-spy attaching
        try:
            yield
        finally:
            profiler.send_signal(signal.SIGINT)
            _, err = await asyncio.to_thread(profiler.communicate, timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy failed: {err.decode()}")
        # Non-blocking sampling can tear a frame name into invalid UTF-8, which the summary rejects.
        out.write_text(out.read_bytes().decode(errors="replace"))
        print(f"\n===== controller-manager (pid {pid}) profile: {label} =====")
        api_bench.summarize_profile(out)

    return window


# ---- the run ------------------------------------------------------------------------------------


def _secs(x: float | None) -> str:
    return "timeout" if x is None else f"{x:.2f} s"


async def measure(args: argparse.Namespace, root: Path) -> list[c.Row]:
    n, pool = args.replicas, args.concurrency + 8  # + the watches
    timeout = args.timeout

    async def on(name: str, mode: str, body: Callable[[Cluster], Any]) -> Any:
        cluster = open_cluster(root, name, mode, pool)
        try:
            return await body(cluster)
        finally:
            await cluster.stop()

    if args.profile:
        def scale_profiled(cl: Cluster) -> Awaitable[PodRun]:
            assert cl.cm_pid is not None
            return scale_up(cl, n, timeout, profiling(cl.cm_pid, root / "scale.txt", f"(2) scale 0 -> {n}"))

        def many_profiled(cl: Cluster) -> Awaitable[ReconcileRun]:
            assert cl.cm_pid is not None
            label = f"(4) {args.deployments} Deployments"
            return many_deployments(cl, args.deployments, timeout, profiling(cl.cm_pid, root / "many.txt", label))

        s = await on("profile-scale", "standalone", scale_profiled)
        m = await on("profile-many", "standalone", many_profiled)
        print(f"\nunder profiling: (2) {_secs(s.seconds)} for {s.reached} pods; "
              f"(4) available after {_secs(m.available)}")
        return []

    async def repeat(name: str, mode: str, body: Callable[[Cluster], Any]) -> list[Any]:
        # A fresh cluster per run: no run inherits another's objects, caches or warm pools.
        return [await on(f"{name}-{i}", mode, body) for i in range(args.runs)]

    base = await repeat("baseline", "none", lambda cl: baseline(cl, n, args.concurrency, timeout))
    alone = await repeat("standalone", "standalone", lambda cl: scale_up(cl, n, timeout))
    inproc = await repeat("in-process", "in-process", lambda cl: scale_up(cl, n, timeout))
    many = await repeat("many", "standalone", lambda cl: many_deployments(cl, args.deployments, timeout))
    return rows(args, [b[0] for b in base], [b[1] for b in base], alone, inproc, many)


def _median_run(runs: list[Any], key: str) -> Any:
    """The run with the median figure (a timeout ranks slowest), so its other fields stay consistent."""
    ranked = sorted(runs, key=lambda r: math.inf if getattr(r, key) is None else getattr(r, key))
    return ranked[(len(ranked) - 1) // 2]


def _spread(runs: list[Any], key: str) -> str:
    values = [getattr(r, key) for r in runs]
    if len(values) < 2 or None in values:
        return ""
    return f"{min(values):.2f}-{max(values):.2f} s"


def rows(args: argparse.Namespace, bases: list[PodRun], warms: list[PodRun], alones: list[PodRun], inprocs: list[PodRun],
         manys: list[ReconcileRun]) -> list[c.Row]:
    n, d, k = args.replicas, args.deployments, args.runs
    base, warm, alone, inproc = (_median_run(r, "seconds") for r in (bases, warms, alones, inprocs))
    many = _median_run(manys, "available")
    out = [
        c.Row(f"(1) {n:,} pods created by a plain client, {args.concurrency} concurrent, median of {k}",
              _secs(base.seconds), "baseline", f"{n / base.seconds:,.0f} pods/s" if base.seconds else ""),
        c.Row("    range; server CPU per pod; longest gap", _spread(bases, "seconds"), "",
              f"{1000 * base.cpu['server'] / n:.2f} ms; {1000 * base.max_gap:.0f} ms"),
        c.Row("    the same again on the warm pool (TLS handshakes done)", _secs(warm.seconds), "",
              f"{n / warm.seconds:,.0f} pods/s" if warm.seconds else ""),
    ]
    for label, run, runs in ((f"(2) Deployment 0 -> {n:,}, standalone controller-manager", alone, alones),
                             (f"(3) Deployment 0 -> {n:,}, controllers in the server", inproc, inprocs)):
        ok = run.seconds is not None and base.seconds is not None
        ratio = base.seconds / run.seconds if ok else 0.0
        out += [
            c.Row(label, _secs(run.seconds) if ok else f"timeout ({run.reached:,} pods)",
                  f"(1)/this >= {GOAL_RATIO}", c.verdict(ok and ratio >= GOAL_RATIO, ratio)),
            c.Row("    range; to first pod / half of the pods; longest gap", _spread(runs, "seconds"), "",
                  f"{run.first_pod:.2f} / {run.half:.2f} s; {1000 * run.max_gap:.0f} ms"),
            c.Row("    warm-pool baseline / this", "", "",
                  f"{warm.seconds / run.seconds:.2f}x" if ok and warm.seconds else ""),
        ]
    cm_cpu = alone.cpu.get("controller-manager", math.nan)
    out += [
        c.Row("    (2) controller-manager CPU per pod", f"{1000 * cm_cpu / n:.2f} ms", "",
              f"{cm_cpu / alone.seconds:.2f} cores" if alone.seconds else ""),
        c.Row("    (2) server CPU per pod, and / (1)'s", f"{1000 * alone.cpu['server'] / n:.2f} ms", "",
              f"{alone.cpu['server'] / max(1e-9, base.cpu['server']):.2f}x"),
        c.Row("    (3) server CPU per pod, controllers included", f"{1000 * inproc.cpu['server'] / n:.2f} ms"),
    ]
    wrong = [r.listed for r in (*bases, *warms, *alones, *inprocs) if r.listed != n]
    out.append(c.Row("    runs whose LIST afterwards found != target pods", str(len(wrong)), "0",
                     c.verdict(not wrong) + (f" (found {wrong[0]:,})" if wrong else "")))
    rate = d / many.available if many.available else 0.0
    out += [
        c.Row(f"(4) {d} Deployments x 1 replica -> all available, median of {k}", _secs(many.available), "",
              f"{rate:.1f} Deployments reconciled/s"),
        c.Row("    range", _spread(manys, "available")),
        c.Row("    -> all observedGeneration current and updatedReplicas 1", _secs(many.rolled_out), "",
              f"{d / many.rolled_out:.1f}/s" if many.rolled_out else ""),
        c.Row("    ReplicaSets / pods found afterwards", f"{many.replicasets} / {many.pods}", f"{d} / {d}",
              c.verdict(many.replicasets == d and many.pods == d)),
        c.Row("    controller-manager CPU per Deployment", f"{1000 * many.cm_cpu / d:.1f} ms"),
    ]
    if any(r.marker_errors for r in manys):
        errors = [e for r in manys for e in r.marker_errors]
        out.append(c.Row("    pod status PATCHes refused", str(len(errors)), "0", errors[0][:60]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=1000, help="pods in (1), (2) and (3)")
    p.add_argument("--concurrency", type=int, default=BASELINE_CONCURRENCY, help="concurrent creates in (1)")
    p.add_argument("--deployments", type=int, default=200, help="Deployments in (4)")
    p.add_argument("--runs", type=int, default=5, help="fresh clusters per figure; the median is shown")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds each phase may take before giving up")
    p.add_argument("--profile", action="store_true", help="(2) and (4) only, with py-spy on the controller-manager")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kubeling-controller-bench-"))
    started = time.perf_counter()
    try:
        table = c.run_async(lambda: measure(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if table:
        print(f"\nkubeling controller-manager benchmark ({os.cpu_count()} CPUs, "
              f"{time.perf_counter() - started:.0f} s)\n")
        c.print_table(table)


if __name__ == "__main__":
    main()
