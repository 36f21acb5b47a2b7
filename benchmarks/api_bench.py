"""API server benchmark: create throughput over HTTPS against the raw store, LIST and
watch latency, startup time and memory of a real `kubeling server` process.

Baseline, measured in the same run: concurrent creates straight through the SqliteBackend
(in-process, same value size and concurrency as the HTTPS creates). Goals are printed,
never asserted.

    python benchmarks/api_bench.py [--concurrency 32] [--seconds 4] [--pods 10000]
    python benchmarks/api_bench.py --profile      # (b) only, with py-spy attached to the server
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c  # first: puts src/ and the repo root on sys.path
import aiohttp
import orjson
import store_bench  # reused measurement helper: writes_per_s

from kubeling.store.sqlite import SqliteBackend
from tests.support.cluster import Server

TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")  # what kubectl get sends
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
BENCH_NS = "bench"

GOAL_CREATES = 1000.0  # creates/s
GOAL_RATIO = 0.5  # (b)/(a)
GOAL_LIST_P99 = 0.5  # s
GOAL_WATCH_P99 = 0.050  # s
GOAL_START_EXISTING = 1.0  # s
GOAL_IDLE_RSS = 80.0  # MiB


# ---- objects ----------------------------------------------------------------------------------


def configmap(name: str) -> dict[str, Any]:
    """A small ConfigMap, the kind of object controllers write all day."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"mode": "fast", "replicas": "3", "endpoint": "http://svc.bench.svc:8080/api"}}


def pod(i: int) -> dict[str, Any]:
    """A realistic ~1 KB Pod: one container, labels, a few env vars, resources, a probe."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": f"web-{i:05d}",
            "labels": {"app": "web", "tier": "frontend", "release": "stable",
                       "pod-template-hash": "5d7f9c8b6d", "shard": str(i % 16)},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
        },
        "spec": {
            "containers": [{
                "name": "web",
                "image": "registry.example.com/team/web-frontend:1.27.3",
                "args": ["--listen=:8080", "--metrics=:9102", "--log-format=json"],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9102, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"},
                        {"name": "CACHE_SIZE_MB", "value": "256"},
                        {"name": "UPSTREAM_URL", "value": "http://api.backend.svc.cluster.local:8080"},
                        {"name": "FEATURE_FLAGS", "value": "search,checkout,recommendations"},
                        {"name": "POD_INDEX", "value": str(i)}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                   "periodSeconds": 5, "failureThreshold": 3},
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
        },
    }


# ---- an HTTPS client with a keep-alive pool -------------------------------------------------------


@dataclass
class Api:
    session: aiohttp.ClientSession
    base: str

    @classmethod
    def open(cls, kubeconfig: Path, scratch: Path, pool: int) -> Api:
        ctx, base = c.client_ssl_context(kubeconfig, scratch)
        conn = aiohttp.TCPConnector(ssl=ctx, limit=pool, keepalive_timeout=120)
        return cls(aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)), base)

    async def request(self, method: str, path: str, body: Any = None, expect: int = 200,
                      headers: dict[str, str] | None = None) -> bytes:
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(method, self.base + path, data=data,
                                        headers=headers or JSON_HEADERS) as resp:
            payload = await resp.read()
            if resp.status != expect:
                raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
            return payload

    async def close(self) -> None:
        await self.session.close()


# ---- (a) the store alone, (b) creates over HTTPS --------------------------------------------------


async def store_writes_per_s(root: Path, value: bytes, writers: int, seconds: float) -> float:
    store_bench.VALUE = value  # the helper writes its module's VALUE: make it a stored ConfigMap
    store = SqliteBackend(root / f"baseline-{writers}-writers.db")
    await store.start()
    try:
        return await store_bench.writes_per_s(store, writers, seconds, "a")
    finally:
        await store.close()


@dataclass
class CreateRun:
    rate: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)


async def api_creates_per_s(api: Api, server_pid: int, workers: int, seconds: float) -> CreateRun:
    path = "/api/v1/namespaces/default/configmaps"
    # Warm-up, untimed: one request per worker opens (and TLS-handshakes) the whole pool.
    await asyncio.gather(*(api.request("POST", path, configmap(f"warm-{w}"), 201) for w in range(workers)))
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = 0
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            await api.request("POST", path, configmap(f"cm-{w}-{i}"), 201)
            latencies.append(time.perf_counter() - t)
            i += 1

    with c.CpuWindow({"server": server_pid, "client": os.getpid()}) as window:
        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(workers)))
        elapsed = time.perf_counter() - start
    return CreateRun(len(latencies) / elapsed, latencies, window.cores or {})


async def check_created(api: Api, expected: int) -> None:
    """Every 201 must be a stored object: count them back."""
    listed = orjson.loads(await api.request("GET", "/api/v1/namespaces/default/configmaps"))
    if len(listed["items"]) != expected:
        raise RuntimeError(f"{len(listed['items'])} ConfigMaps stored, {expected} creates answered 201")


# ---- (d) LIST of many pods ----------------------------------------------------------------------


async def create_pods(api: Api, count: int, workers: int) -> float:
    await api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": BENCH_NS}}, 201)
    path = f"/api/v1/namespaces/{BENCH_NS}/pods"
    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:  # a shared iterator: each index is taken once
            await api.request("POST", path, pod(i), 201)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - start)


async def list_latencies(api: Api, query: str, accept: str, runs: int, expect_items: int) -> list[float]:
    path = f"/api/v1/namespaces/{BENCH_NS}/pods{query}"
    headers = {"Accept": accept}
    first = orjson.loads(await api.request("GET", path, headers=headers))  # also checks the answer is real
    found = len(first.get("rows", first.get("items", [])))
    if found != expect_items:
        raise RuntimeError(f"LIST {path} returned {found} items, expected {expect_items}")
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        await api.request("GET", path, headers=headers)
        samples.append(time.perf_counter() - t)
    return samples


# ---- (e) write response -> watch event ------------------------------------------------------------


@dataclass
class WatchRun:
    after_response: list[float]  # event arrival - response arrival (negative: event came first)
    after_request: list[float]  # event arrival - request sent


async def watch_latencies(api: Api, updates: int) -> WatchRun:
    name = "watch-probe"
    base = "/api/v1/namespaces/default/configmaps"
    created = orjson.loads(await api.request("POST", base, configmap(name), 201))
    rv = created["metadata"]["resourceVersion"]
    arrived: dict[str, float] = {}
    waiters: dict[str, asyncio.Future[float]] = {}
    url = f"{api.base}{base}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3D{name}"
    resp = await api.session.get(url, headers={"Accept": "application/json"},
                                 timeout=aiohttp.ClientTimeout(total=None, sock_read=None))

    async def read_events() -> None:
        while line := await resp.content.readline():
            now = time.perf_counter()
            ev_rv = orjson.loads(line)["object"]["metadata"]["resourceVersion"]
            arrived[ev_rv] = now
            if (fut := waiters.pop(ev_rv, None)) is not None and not fut.done():
                fut.set_result(now)

    reader = asyncio.create_task(read_events())
    run = WatchRun([], [])
    try:
        for i in range(updates):
            sent = time.perf_counter()
            patch = orjson.loads(await api.request(
                "PATCH", f"{base}/{name}", {"data": {"seq": str(i)}},
                headers={"Content-Type": "application/merge-patch+json"}))
            answered = time.perf_counter()
            ev_rv = patch["metadata"]["resourceVersion"]
            if ev_rv not in arrived:
                waiters[ev_rv] = asyncio.get_running_loop().create_future()
                await asyncio.wait_for(waiters[ev_rv], 5.0)
            run.after_response.append(arrived[ev_rv] - answered)
            run.after_request.append(arrived[ev_rv] - sent)
    finally:
        reader.cancel()
        resp.close()
    return run


# ---- (f) startup ----------------------------------------------------------------------------------


def time_startup(data_dir: Path, timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from spawning `kubeling server` to /readyz OK, and to kubeconfig.yaml present."""
    kubeconfig = data_dir / "kubeconfig.yaml"
    kubeconfig.unlink(missing_ok=True)  # a stale one would count as ready before the server even ran
    port = c.free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "server.log", "ab") as log:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "kubeling", "server", "--data-dir", str(data_dir),
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        ready = None
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}; see {data_dir / 'server.log'}")
            now = time.perf_counter() - start
            if now > timeout:
                raise RuntimeError("server did not become ready")
            if ready is None and c.readyz_ok(port):
                ready = time.perf_counter() - start
            if ready is not None and kubeconfig.exists():
                return ready, time.perf_counter() - start
            time.sleep(0.002)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def startup_figures(root: Path, runs: int) -> dict[str, tuple[float, float]]:
    """Medians of (to /readyz, to kubeconfig) on fresh dirs and on one reused dir."""
    fresh = [time_startup(root / f"fresh-{i}") for i in range(runs)]
    existing = [time_startup(root / "fresh-0") for _ in range(runs)]

    def med(samples: list[tuple[float, float]]) -> tuple[float, float]:
        return c.median([s[0] for s in samples]), c.median([s[1] for s in samples])

    return {"fresh": med(fresh), "existing": med(existing)}


# ---- profiling the server during (b) -------------------------------------------------------------


# Default: sample only the thread holding the GIL, the resource a one-process Python server runs out of.
PROFILE_FLAGS = os.environ.get("KUBELING_BENCH_PYSPY_FLAGS", "--gil").split()


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                             "--rate", "500", "--format", "raw", "--threads", *PROFILE_FLAGS,
                             # native stacks need the target paused while sampled
                             *([] if "--native" in PROFILE_FLAGS else ["--nonblocking"]), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize_profile(raw: Path, top: int = int(os.environ.get("KUBELING_BENCH_PROFILE_TOP", "12"))) -> None:
    """Per thread: its share of the samples, then self and inclusive shares per function,
    from py-spy's collapsed stacks (`thread (ID): NAME;frame;frame count`)."""
    threads: dict[str, tuple[Counter[str], Counter[str], Counter[str]]] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread, *rest = stack.split(";")
        frames = [_short(f) for f in rest]
        if not frames:
            continue
        own, inclusive, kinds = threads.setdefault(thread, (Counter(), Counter(), Counter()))
        n = int(count)
        kinds[_thread_kind(frames)] += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    total = sum(sum(k.values()) for _, _, k in threads.values())
    print(f"\nserver profile during (b): {total} samples (active threads only)")
    for thread, (own, inclusive, kinds) in sorted(threads.items(), key=lambda t: -sum(t[1][2].values())):
        n_thread = sum(kinds.values())
        if n_thread < 0.02 * total:
            continue
        name = next((k for k, _ in kinds.most_common() if k), "?")
        print(f"\n  {thread} [{name}]: {100 * n_thread / total:.0f}% of samples")
        print(f"    top {top} by self time (% of this thread):")
        for f, n in own.most_common(top):
            print(f"      {100 * n / n_thread:5.1f}%  {f}")
        # Inclusive: skip the frames every sample of the thread goes through (bootstrap, run loop).
        print(f"    top {top} by inclusive time:")
        shown = [(f, n) for f, n in inclusive.most_common() if n < 0.9 * n_thread][:top]
        for f, n in shown:
            print(f"      {100 * n / n_thread:5.1f}%  {f}")


def _thread_kind(frames: list[str]) -> str:
    """What a stack shows the thread runs: the event loop, the store writer, or an executor."""
    for f in frames:
        if f.startswith("run (asyncio/runners.py)"):
            return "event loop"
        if f.startswith("_run_writer"):
            return "store writer"
        if f.startswith("_worker (concurrent/futures"):
            return "executor"
    return ""  # a partial stack (non-blocking sampling tears some)


def _short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`: merge lines of one function."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


# ---- the run --------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, root: Path) -> list[c.Row]:
    rows: list[c.Row] = []
    if not args.profile:
        starts = startup_figures(root / "startup", args.starts)
    srv = Server(data_dir=root / "server", home=root / "home").start()
    pool = max(args.concurrency, args.pod_concurrency) + 2
    api = Api.open(srv.kubeconfig, root / "client", pool=pool)
    try:
        assert srv.process is not None
        pid = srv.process.pid
        await asyncio.sleep(1.0)  # let start-up garbage settle before reading the idle figure
        idle_rss = c.rss_mb(pid)
        profiler = None
        if args.profile:
            profiler = start_profiler(pid, args.seconds, root / "profile.txt")
            await asyncio.sleep(0.5)  # py-spy attaching
        b = await api_creates_per_s(api, pid, args.concurrency, args.seconds)
        if profiler is not None:
            _, err = profiler.communicate(timeout=60)
            if profiler.returncode != 0:
                raise RuntimeError(f"py-spy failed: {err.decode()}")
            summarize_profile(root / "profile.txt")
            print("\n('run (asyncio/runners.py)' self time is uvloop's C code: sockets, TLS, callbacks)")
            print(f"\n(b) under profiling: {b.rate:.0f} creates/s, server {b.cpu['server']:.2f} cores")
            return []
        await check_created(api, len(b.latencies) + args.concurrency)
        stored = await api.request("GET", "/api/v1/namespaces/default/configmaps/cm-0-0")
        a = await store_writes_per_s(root, stored, args.concurrency, args.seconds)
        a1 = await store_writes_per_s(root, stored, 1, args.seconds)
        w = await watch_latencies(api, args.watch_updates)
        pod_rate = await create_pods(api, args.pods, args.pod_concurrency)
        loaded_rss = c.rss_mb(pid)
        plain = await list_latencies(api, "", "application/json", args.list_runs, args.pods)
        json_rss = c.rss_mb(pid)
        table = await list_latencies(api, "", TABLE_ACCEPT, args.list_runs, args.pods)
        page = await list_latencies(api, "?limit=500", TABLE_ACCEPT, args.list_runs, min(500, args.pods))
        listed_rss = c.rss_mb(pid)
    finally:
        await api.close()
        srv.stop()
    loaded_start = [time_startup(srv.data_dir) for _ in range(3)]

    ms = 1000.0
    early = sum(1 for x in w.after_response if x < 0)
    resp_to_event = [max(0.0, x) for x in w.after_response]
    share = b.cpu["server"] / max(1e-9, b.cpu["server"] + b.cpu["client"])
    rows += [
        c.Row(f"(a) store creates/s, SqliteBackend, {args.concurrency} concurrent, {len(stored)} B",
              f"{a:,.0f}", "baseline"),
        c.Row(f"(b) API creates/s, ConfigMap over HTTPS, {args.concurrency} concurrent", f"{b.rate:,.0f}",
              f">= {GOAL_CREATES:,.0f}", c.verdict(b.rate >= GOAL_CREATES, b.rate / GOAL_CREATES)),
        c.Row("(c) (b) / (a)", f"{b.rate / a:.2f}", f">= {GOAL_RATIO}", c.verdict(b.rate / a >= GOAL_RATIO)),
        c.Row("    store creates/s with 1 writer (one fsync per write), and (b) / that", f"{a1:,.0f}", "",
              f"{b.rate / a1:.2f}"),
        c.Row("    (b) create latency p50 / p99 under load",
              f"{c.median(b.latencies) * ms:.1f} / {c.percentile(b.latencies, 99) * ms:.1f} ms"),
        c.Row("    (b) CPU: server / client (cores of 2)",
              f"{b.cpu['server']:.2f} / {b.cpu['client']:.2f}", "", f"server {share:.0%} of used CPU"),
        c.Row(f"    {args.pods:,} pods created via API, {args.pod_concurrency} concurrent",
              f"{pod_rate:,.0f}/s"),
    ]
    for label, samples in (("JSON", plain), ("Table", table)):
        p99 = c.percentile(samples, 99)
        rows.append(c.Row(f"(d) LIST {args.pods:,} pods {label}, p50 / p99 of {args.list_runs}",
                          f"{c.median(samples) * ms:.0f} / {p99 * ms:.0f} ms", f"p99 < {GOAL_LIST_P99 * ms:.0f} ms",
                          c.verdict(p99 < GOAL_LIST_P99, p99 / GOAL_LIST_P99)))
    rows.append(c.Row("    kubectl get first page (limit=500, Table) p50 / p99",
                      f"{c.median(page) * ms:.1f} / {c.percentile(page, 99) * ms:.1f} ms"))
    wp99 = c.percentile(resp_to_event, 99)
    rows += [
        c.Row(f"(e) write response -> watch event, p50 / p99 of {len(resp_to_event)}",
              f"{c.median(resp_to_event) * ms:.2f} / {wp99 * ms:.2f} ms", f"p99 < {GOAL_WATCH_P99 * ms:.0f} ms",
              c.verdict(wp99 < GOAL_WATCH_P99, wp99 / GOAL_WATCH_P99)),
        c.Row("    event before response (counted as 0 above)", f"{early} of {len(w.after_response)}"),
        c.Row("    write request sent -> watch event, p50 / p99",
              f"{c.median(w.after_request) * ms:.2f} / {c.percentile(w.after_request, 99) * ms:.2f} ms"),
    ]
    for kind in ("fresh", "existing"):
        ready, cfg = starts[kind]
        ok = "" if kind == "fresh" else c.verdict(ready < GOAL_START_EXISTING, ready / GOAL_START_EXISTING)
        rows.append(c.Row(f"(f) start -> /readyz / kubeconfig, {kind} dir, median of {args.starts}",
                          f"{ready:.2f} / {cfg:.2f} s", "" if kind == "fresh" else f"< {GOAL_START_EXISTING:.0f} s",
                          ok))
    rows += [
        c.Row(f"    start -> /readyz / kubeconfig, dir with {args.pods:,} pods, median of 3",
              f"{c.median([s[0] for s in loaded_start]):.2f} / {c.median([s[1] for s in loaded_start]):.2f} s"),
        c.Row("(g) server RSS idle after start", f"{idle_rss:.0f} MiB", f"< {GOAL_IDLE_RSS:.0f} MiB",
              c.verdict(idle_rss < GOAL_IDLE_RSS, idle_rss / GOAL_IDLE_RSS)),
        c.Row(f"    server RSS after {args.pods:,} pods / JSON LISTs / all LISTs ({pool} connections)",
              f"{loaded_rss:.0f} / {json_rss:.0f} / {listed_rss:.0f} MiB"),
    ]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, default=32, help="concurrent creates in (a) and (b)")
    p.add_argument("--seconds", type=float, default=4.0, help="duration of (a) and of (b)")
    p.add_argument("--pods", type=int, default=10_000, help="pods to create for the LIST test")
    p.add_argument("--pod-concurrency", type=int, default=64)
    p.add_argument("--list-runs", type=int, default=30)
    p.add_argument("--watch-updates", type=int, default=200)
    p.add_argument("--starts", type=int, default=5, help="server starts per startup figure")
    p.add_argument("--profile", action="store_true", help="only (b), with py-spy sampling the server")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kubeling-api-bench-"))
    started = time.perf_counter()
    try:
        rows = c.run_async(lambda: measure(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if rows:
        print(f"\nkubeling API server benchmark ({os.cpu_count()} CPUs, {time.perf_counter() - started:.0f} s)\n")
        c.print_table(rows)


if __name__ == "__main__":
    main()
