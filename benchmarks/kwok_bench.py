"""kwok-style benchmark: N simulated nodes (`kubeling sim`) against a real `kubeling server`
with its controllers and scheduler in the loop, as kwok's CI benchmark on a 2-core runner.

Phases, each timed by a watch in this process (the phase ends when the event that completes
it arrives, then a LIST must agree):
  nodes   `kubeling sim --nodes N` started until all N Nodes are Ready
  pods    P replicas over D Deployments created until every pod is Running and Ready
  delete  the Deployments scaled to 0 until no pod is left
  idle    N nodes and nothing else: store revisions per second (Lease renewals, status
          syncs), SQLite file size before and after, and who wrote what
Then the RSS of the server and of the sim process. Goals are printed, never asserted.
`--split` runs the scheduler and the controller-manager as processes of their own (as
Kubernetes runs them) instead of inside the server.

    python benchmarks/kwok_bench.py [--nodes 1000] [--pods 2000] [--deployments 1] [--idle 30]
    python benchmarks/kwok_bench.py --nodes 5000 --pods 10000      # kwok's own figures
    python benchmarks/kwok_bench.py --nodes 5000 --pods 10000 --deployments 10 --split
    python benchmarks/kwok_bench.py --profile pods                 # py-spy on server and sim
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c  # first: puts src/ and the repo root on sys.path
import api_bench  # reused: the HTTPS client and the py-spy helpers
import orjson
from controller_bench import Watch

from tests.support.cluster import Server, start_component, stop_process

Obj = dict[str, Any]

NS = "bench"
PREFIX = "kwok-node-"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json", "Accept": "application/json"}
LEASE_RENEW_INTERVAL = 10.0  # the kubelet's renewInterval (a quarter of the 40 s lease)
PHASES = ("nodes", "pods", "delete", "idle")
IDLE_SAMPLES = 6  # state.db size samples over the idle window
IMAGE = "busybox:1.36"  # the pods' one container

# kwok's CI thresholds for its 5,000 nodes / 10,000 pods run on a 2-core hosted runner (seconds),
# and this project's own goal for each phase.
KWOK = {"nodes": 60.0, "pods": 60.0, "delete": 90.0}
GOAL = 20.0


# ---- objects ----------------------------------------------------------------------------------


def deployment(name: str, replicas: int) -> Obj:
    """A plain one-container Deployment, as kwok's benchmark pods (a small request, so the
    scheduler's resource plugins have something to count)."""
    labels = {"app": name}
    container = {"name": "main", "image": IMAGE, "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [container], "terminationGracePeriodSeconds": 30}}}}


def split(total: int, parts: int) -> list[int]:
    """`total` replicas over `parts` Deployments, as even as integers allow."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def node_ready(node: Obj) -> bool:
    return any(cond.get("type") == "Ready" and cond.get("status") == "True"
               for cond in (node.get("status") or {}).get("conditions") or [])


def pod_running(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        cond.get("type") == "Ready" and cond.get("status") == "True" for cond in status.get("conditions") or [])


# ---- counters kept per event, so a waiter's check is O(1) -------------------------------------------


@dataclass
class Tally:
    """Per object name, which states it is in; counts per state, updated on every event."""

    tests: dict[str, Any]  # state name -> predicate on the object
    states: dict[str, frozenset[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    first: dict[str, float] = field(default_factory=dict)  # state -> when an object first reached it
    low: dict[str, int] = field(default_factory=dict)  # state -> fewest objects in it since reset_low()

    def on_event(self, kind: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        old = self.states.pop(name, frozenset())
        new = frozenset() if kind == "DELETED" else frozenset(s for s, test in self.tests.items() if test(obj))
        if kind != "DELETED":
            self.states[name] = new
        for s in old - new:
            self.counts[s] -= 1
            self.low[s] = min(self.low.get(s, self.counts[s]), self.counts[s])
        for s in new - old:
            self.counts[s] += 1
            self.first.setdefault(s, time.perf_counter())

    def reset_low(self) -> None:
        self.low = dict(self.counts)

    def seed(self, objects: dict[str, Obj]) -> None:
        for obj in objects.values():
            self.on_event("ADDED", obj)


def reached(tally: Tally, state: str, n: int):
    return lambda _w: tally.counts[state] >= n


def emptied(_w: Watch) -> bool:
    return not _w.objects


# ---- the store, read from outside -----------------------------------------------------------------


def store_files(data_dir: Path) -> dict[str, int]:
    """Bytes of the SQLite database and its WAL."""
    db = data_dir / "state.db"
    return {p.name: p.stat().st_size for p in (db, db.with_name("state.db-wal")) if p.exists()}


def read_only(data_dir: Path) -> contextlib.closing[sqlite3.Connection]:
    """A read-only connection to the server's own state.db, closed at the end of the block."""
    return contextlib.closing(sqlite3.connect(f"file:{data_dir / 'state.db'}?mode=ro", uri=True, timeout=10))


def store_revision(data_dir: Path) -> tuple[int, int]:
    """(current, compacted) revision, read-only from the server's own file."""
    with read_only(data_dir) as db:
        return db.execute("SELECT revision, compacted FROM meta").fetchone()


def store_shape(data_dir: Path) -> tuple[int, int, int]:
    """(bytes of state.db, rows in its log table, free pages): what compaction must keep flat."""
    with read_only(data_dir) as db:
        rows = db.execute("SELECT count(*) FROM log").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return store_files(data_dir).get("state.db", 0), rows, free


def writes_by_resource(data_dir: Path, after: int, upto: int) -> Counter[str]:
    """Log rows in (after, upto] per resource (`group/plural`); compacted rows are gone."""
    with read_only(data_dir) as db:
        rows = db.execute("SELECT key FROM log WHERE revision > ? AND revision <= ?", (after, upto)).fetchall()
    out: Counter[str] = Counter()
    for (key,) in rows:
        parts = key.split("/")  # "", "registry", group, plural, ...
        out[f"{parts[2]}/{parts[3]}" if len(parts) > 3 else key] += 1
    return out


# ---- profiling ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def profiling(pids: dict[str, int], root: Path, label: str) -> AsyncIterator[None]:
    """py-spy on each process for the length of the block, then each one's hotspots."""
    outs = {name: root / f"profile-{name}-{label}.txt" for name in pids}
    spies = {name: api_bench.start_profiler(pid, 900, outs[name]) for name, pid in pids.items()}
    await asyncio.sleep(0.5)  # py-spy attaching
    try:
        yield
    finally:
        for name, spy in spies.items():
            spy.send_signal(signal.SIGINT)
            _, err = await asyncio.to_thread(spy.communicate, timeout=60)
            out = outs[name]
            if not out.exists():
                print(f"py-spy on {name} failed: {err.decode()}")
                continue
            # Non-blocking sampling can tear a frame (bad UTF-8, a stray newline): keep whole lines.
            lines = out.read_bytes().decode(errors="replace").splitlines()
            out.write_text("\n".join(ln for ln in lines if ln.rpartition(" ")[2].isdigit()) + "\n")
            print(f"\n===== {name} (pid {pids[name]}) profile: {label} =====")
            api_bench.summarize_profile(out)


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float | None  # None: timed out
    cores: dict[str, float]
    notes: list[str] = field(default_factory=list)
    writes: Counter[str] = field(default_factory=Counter)  # store rows per resource (a sample: see Writes)
    revisions: int = 0  # store revisions during the phase


class Writes:
    """Store revisions over a block, and which resource made each: the log is read every
    SAMPLE_EVERY seconds, before compaction (the server keeps the newest 10,000 revisions)
    takes the rows. Rows compacted between two reads are missing from `by_resource`."""

    SAMPLE_EVERY = 2.0

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.by_resource: Counter[str] = Counter()
        self.revisions = 0
        self._task: asyncio.Task | None = None

    def __enter__(self) -> Writes:
        self.start = self._read_upto = store_revision(self.data_dir)[0]
        self._task = asyncio.get_running_loop().create_task(self._follow())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.revisions = self._sample() - self.start

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.SAMPLE_EVERY)
            self._sample()

    def _sample(self) -> int:
        end, compacted = store_revision(self.data_dir)
        self.by_resource += writes_by_resource(self.data_dir, max(self._read_upto, compacted), end)
        self._read_upto = end
        return end


@dataclass
class Run:
    args: argparse.Namespace
    server: Server
    api: api_bench.Api
    root: Path
    sim: subprocess.Popen | None = None
    components: dict[str, subprocess.Popen] = field(default_factory=dict)  # --split: scheduler, controllers
    phases: list[Phase] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, phase: Phase) -> None:
        """Keep a phase's result, and say it now: a large run takes minutes."""
        self.phases.append(phase)
        print(f"[{time.perf_counter() - self.started:5.0f} s] {phase.name}: {_secs(phase.seconds)}",
              file=sys.stderr, flush=True)

    @property
    def pids(self) -> dict[str, int]:
        assert self.server.process is not None
        out = {"server": self.server.process.pid}
        out.update({name: proc.pid for name, proc in self.components.items()})
        if self.sim is not None:
            out["sim"] = self.sim.pid
        return out

    def window(self, phase: str, pids: dict[str, int] | None = None) -> contextlib.AbstractAsyncContextManager:
        if self.args.profile != phase:
            return contextlib.nullcontext()
        return profiling(pids or self.pids, self.root, phase)


async def count_items(api: api_bench.Api, path: str) -> int:
    return len(orjson.loads(await api.request("GET", path))["items"])


async def phase_nodes(run: Run, nodes: Watch, tally: Tally) -> Phase:
    n, log = run.args.nodes, run.root / "sim.log"
    with Writes(run.server.data_dir) as writes:
        t0 = time.perf_counter()
        pulled = ["--image", IMAGE] if run.args.pulled else []
        run.sim = start_component(run.server, "sim", log, "--nodes", str(n), "--name-prefix", PREFIX, *pulled)
        with c.CpuWindow(run.pids) as cpu:
            async with run.window("nodes"):
                end = await nodes.until(reached(tally, "ready", n), run.args.timeout)
    seconds = None if end is None else end - t0
    notes = [f"first Ready after {tally.first['ready'] - t0:.2f} s" if "ready" in tally.first else "none Ready"]
    run.figures["rss after nodes"] = {k: c.rss_mb(pid) for k, pid in run.pids.items()}
    listed = await count_items(run.api, "/api/v1/nodes")
    if listed != n:
        notes.append(f"LIST found {listed} nodes")
    return Phase("nodes", seconds, cpu.cores or {}, notes, writes.by_resource, writes.revisions)


PROGRESS_EVERY = 2.0


async def progress(pods: Watch, tally: Tally, t0: float) -> list[str]:
    """Pods created / scheduled / Running every PROGRESS_EVERY seconds: which step lags."""
    lines: list[str] = []
    try:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            lines.append(f"{time.perf_counter() - t0:4.0f} s: {len(pods.objects):,} created, "
                         f"{tally.counts['scheduled']:,} scheduled, {tally.counts['running']:,} Running")
    except asyncio.CancelledError:
        return lines


async def phase_pods(run: Run, pods: Watch, tally: Tally) -> Phase:
    p, d = run.args.pods, run.args.deployments
    await run.api.request("POST", "/api/v1/namespaces",
                          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, 201)
    path = f"/apis/apps/v1/namespaces/{NS}/deployments"
    with c.CpuWindow(run.pids) as cpu, Writes(run.server.data_dir) as writes:
        async with run.window("pods"):
            t0 = time.perf_counter()
            sampler = asyncio.create_task(progress(pods, tally, t0))
            await asyncio.gather(*(run.api.request("POST", path, deployment(f"load-{i}", r), 201)
                                   for i, r in enumerate(split(p, d))))
            scheduled = await pods.until(reached(tally, "scheduled", p), run.args.timeout)
            end = await pods.until(reached(tally, "running", p), run.args.timeout)
            sampler.cancel()
    seconds = None if end is None else end - t0
    notes = [f"at {line}" for line in await sampler]  # it returns its lines when cancelled
    if len(pods.added_at) >= p:  # the ReplicaSet controller's part: every pod created
        notes.append(f"all created after {sorted(pods.added_at)[p - 1] - t0:.2f} s")
    if scheduled is not None:
        notes.append(f"all scheduled after {scheduled - t0:.2f} s")
    if "running" in tally.first:
        notes.append(f"first Running after {tally.first['running'] - t0:.2f} s")
    items = orjson.loads(await run.api.request("GET", f"/api/v1/namespaces/{NS}/pods"))["items"]
    per_node = Counter(i["spec"].get("nodeName", "") for i in items)
    pending = per_node.pop("", 0)
    notes.append(f"{len(items)} pods listed, {pending} unbound, on {len(per_node)} nodes, at most "
                 f"{max(per_node.values(), default=0)} on one")
    run.figures["rss after pods"] = {k: c.rss_mb(pid) for k, pid in run.pids.items()}
    return Phase("pods", seconds, cpu.cores or {}, notes, writes.by_resource, writes.revisions)


async def phase_delete(run: Run, pods: Watch) -> Phase:
    with c.CpuWindow(run.pids) as cpu, Writes(run.server.data_dir) as writes:
        async with run.window("delete"):
            t0 = time.perf_counter()
            await asyncio.gather(*(run.api.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/load-{i}",
                                                   {"spec": {"replicas": 0}}, headers=MERGE_PATCH)
                                   for i in range(run.args.deployments)))
            end = await pods.until(emptied, run.args.timeout)
    seconds = None if end is None else end - t0
    left = await count_items(run.api, f"/api/v1/namespaces/{NS}/pods")
    return Phase("delete", seconds, cpu.cores or {}, [f"LIST found {left} pods"] if left else [],
                 writes.by_resource, writes.revisions)


async def phase_idle(run: Run) -> Phase:
    data = run.server.data_dir
    await asyncio.sleep(run.args.settle)  # the last status syncs and events after the deletions
    before_files = store_files(data)
    with c.CpuWindow(run.pids) as cpu, Writes(data) as writes:
        async with run.window("idle"):
            t0 = time.perf_counter()
            samples = [(0.0, *store_shape(data))]
            for i in range(1, IDLE_SAMPLES + 1):  # is the file bounded, or only slow to grow?
                await asyncio.sleep(t0 + run.args.idle * i / IDLE_SAMPLES - time.perf_counter())
                samples.append((time.perf_counter() - t0, *store_shape(data)))
            seconds = time.perf_counter() - t0
    after_files = store_files(data)
    run.figures.update(idle_rate=writes.revisions / seconds, files_before=before_files, files_after=after_files,
                       store_samples=samples,
                       by_resource=writes.by_resource, retained=sum(writes.by_resource.values()),
                       revisions=writes.revisions)
    return Phase("idle", seconds, cpu.cores or {})


async def measure(args: argparse.Namespace, root: Path) -> Run:
    # The node IPAM controller gives every Node a /24 from --cluster-cidr: its default /16 holds only 256.
    cidr = ["--cluster-cidr", args.cluster_cidr]
    split_off = ["--disable-scheduler", "--controllers", ""] if args.split else []
    server = Server(data_dir=root / "server", home=root / "home").start(cidr + split_off)
    run = Run(args, server, api_bench.Api.open(server.kubeconfig, root / "client", pool=16), root)
    if args.split:  # as Kubernetes runs them: each its own process, so on its own core
        run.components = {"scheduler": start_component(server, "scheduler", root / "scheduler.log"),
                          "controllers": start_component(server, "controller-manager", root / "controllers.log",
                                                         *cidr)}
    node_tally = Tally({"ready": node_ready})
    pod_tally = Tally({"scheduled": lambda o: bool(o["spec"].get("nodeName")), "running": pod_running})
    nodes = Watch(run.api, "/api/v1/nodes", on_event=node_tally.on_event)
    pods = Watch(run.api, f"/api/v1/namespaces/{NS}/pods", on_event=pod_tally.on_event)
    try:
        await nodes.start()
        node_tally.seed(nodes.objects)
        run.add(await phase_nodes(run, nodes, node_tally))
        await pods.start()
        node_tally.reset_low()  # do nodes stay Ready under load? (Lease renewals starved by it)
        run.add(await phase_pods(run, pods, pod_tally))
        run.add(await phase_delete(run, pods))
        run.figures["lowest Ready"] = node_tally.low.get("ready", node_tally.counts["ready"])
        await nodes.close()  # the idle window measures the cluster, not this watch
        await pods.close()
        run.add(await phase_idle(run))
        run.figures["rss at end"] = {k: c.rss_mb(pid) for k, pid in run.pids.items()}
    finally:
        await nodes.close()
        await pods.close()
        await run.api.close()
        if run.sim is not None:
            stop_process(run.sim)
        for proc in run.components.values():
            stop_process(proc)
        server.stop()
    run.figures["logs"] = {"server": scan_log(server.log_path), "sim": scan_log(root / "sim.log")}
    for name in run.components:
        run.figures["logs"][name] = scan_log(root / f"{name}.log")
    return run


def scan_log(path: Path) -> Counter[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return Counter({"warnings": text.count(" WARNING "), "errors": text.count(" ERROR "),
                    "tracebacks": text.count("Traceback")})


# ---- the table ----------------------------------------------------------------------------------


def _secs(x: float | None) -> str:
    return "timeout" if x is None else f"{x:.2f} s"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def rows(run: Run) -> list[c.Row]:
    a, out = run.args, []
    counts = {"nodes": f"{a.nodes:,} nodes Ready", "pods": f"{a.pods:,} pods Running",
              "delete": f"{a.pods:,} pods deleted"}
    for ph in run.phases:
        if ph.name == "idle":
            continue
        kwok = f"kwok {KWOK[ph.name]:.0f} s at 5k/10k"
        ok = ph.seconds is not None and ph.seconds <= GOAL
        out.append(c.Row(f"({PHASES.index(ph.name) + 1}) {counts[ph.name]}", _secs(ph.seconds),
                         f"< {GOAL:.0f} s; {kwok}", c.verdict(ok)))
        rate = {"nodes": a.nodes, "pods": a.pods, "delete": a.pods}[ph.name]
        if ph.seconds:
            out.append(c.Row("    per second", f"{rate / ph.seconds:,.0f}/s"))
        out.append(c.Row("    CPU (cores)", ", ".join(f"{k} {v:.2f}" for k, v in ph.cores.items())))
        out.extend(c.Row(f"    {note}", "") for note in ph.notes)
        out.extend(write_rows(ph, rate, "node" if ph.name == "nodes" else "pod"))
    if "lowest Ready" in run.figures:
        low = run.figures["lowest Ready"]
        out.append(c.Row("    nodes Ready, fewest during (2) and (3)", f"{low:,}", f"{a.nodes:,}",
                         c.verdict(low == a.nodes)))
    idle = next((ph for ph in run.phases if ph.name == "idle"), None)
    if idle is not None:
        f = run.figures
        expected = a.nodes / LEASE_RENEW_INTERVAL
        out.append(c.Row(f"(4) idle {idle.seconds:.0f} s, {a.nodes:,} nodes: store writes", f"{f['idle_rate']:,.1f}/s",
                         f"~{expected:,.0f}/s (N/10 s)", f"{f['idle_rate'] / expected:.2f}x"))
        sampled = _sampled(f["retained"], f["revisions"])
        for resource, n in f["by_resource"].most_common(6):
            out.append(c.Row(f"    {resource}", f"{f['idle_rate'] * n / max(1, f['retained']):,.1f}/s", "", sampled))
        out.append(c.Row("    CPU (cores)", ", ".join(f"{k} {v:.2f}" for k, v in idle.cores.items())))
        for name in sorted(set(f["files_before"]) | set(f["files_after"])):
            before, after = f["files_before"].get(name, 0), f["files_after"].get(name, 0)
            out.append(c.Row(f"    {name} before -> after", f"{_mib(before)} -> {_mib(after)}",
                             "", f"{(after - before) / idle.seconds / 1024:+.1f} KiB/s"))
        for t, size, rows, free in f["store_samples"]:
            out.append(c.Row(f"    state.db at {t / 60:4.1f} min", _mib(size), "",
                             f"{rows:,} log rows, {free:,} free pages"))
    for label in ("rss after nodes", "rss after pods", "rss at end"):
        for proc, mb in run.figures.get(label, {}).items():
            per_node = f"{mb * 1024 / a.nodes:.0f} KiB/node" if proc == "sim" else ""
            out.append(c.Row(f"(5) {proc} RSS, {label[4:]}", f"{mb:.0f} MiB", "", per_node))
    for proc, counts_ in run.figures.get("logs", {}).items():
        if any(counts_.values()):
            out.append(c.Row(f"    {proc} log", ", ".join(f"{k} {v}" for k, v in counts_.items() if v)))
    return out


def _sampled(read: int, revisions: int) -> str:
    """Empty when every row was read; else that the shares come from the rows read."""
    return "" if read >= revisions else f"share of {read:,} rows read (others compacted first)"


def write_rows(ph: Phase, objects: int, noun: str) -> list[c.Row]:
    """Store writes per object during a phase, and the resources that made them."""
    if not ph.revisions:
        return []
    retained = sum(ph.writes.values())
    sampled = _sampled(retained, ph.revisions)
    out = [c.Row(f"    store writes per {noun}", f"{ph.revisions / objects:.2f}", "", f"{ph.revisions:,} in all")]
    for resource, n in ph.writes.most_common(5):
        out.append(c.Row(f"      {resource}", f"{ph.revisions * n / max(1, retained) / objects:.2f}", "", sampled))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1000, help="simulated nodes (kwok's CI: 5000)")
    p.add_argument("--pods", type=int, default=2000, help="pods in total (kwok's CI: 10000)")
    p.add_argument("--deployments", type=int, default=1, help="Deployments the pods are spread over")
    p.add_argument("--idle", type=float, default=30.0, help="seconds of the idle window")
    p.add_argument("--settle", type=float, default=12.0, help="seconds between the deletions and the idle window")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds each phase may take before giving up")
    p.add_argument("--cluster-cidr", default="10.0.0.0/8",
                   help="the server's --cluster-cidr: a /24 per node, so room for more than --nodes")
    p.add_argument("--pulled", action="store_true",
                   help="the nodes start with the pods' image, as nodes with pre-pulled images (kwok pulls nothing)")
    p.add_argument("--split", action="store_true",
                   help="scheduler and controller-manager as processes of their own, as Kubernetes runs them "
                        "(`kubeling server --disable-scheduler --controllers ''` + `kubeling scheduler` + "
                        "`kubeling controller-manager`), instead of inside the server")
    p.add_argument("--profile", choices=PHASES, help="py-spy on the server and the sim during this phase")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, state.db, profiles)")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kubeling-kwok-bench-"))
    started = time.perf_counter()
    try:
        run = c.run_async(lambda: measure(args, root))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    layout = "scheduler and controllers in their own processes" if args.split else "one server process"
    print(f"\nkubeling kwok-style benchmark ({os.cpu_count()} CPUs, {args.nodes:,} nodes, {args.pods:,} pods "
          f"in {args.deployments} Deployment(s), {layout}, {time.perf_counter() - started:.0f} s)\n")
    c.print_table(rows(run))


if __name__ == "__main__":
    main()
