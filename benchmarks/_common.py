"""Measurement helpers shared by the benchmarks: percentiles, process CPU and memory
from /proc, a TLS client context from a kubeconfig, and the result table."""

from __future__ import annotations

import asyncio
import base64
import math
import os
import socket
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO / "src", REPO):  # kubeling itself, and tests.support for the Server helper
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- statistics -------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: with 30 samples p99 is the slowest, as it should be."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    return percentile(samples, 50)


# ---- a process seen from outside ----------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size in MiB (VmRSS), what `ps` and the OOM killer see."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class CpuWindow:
    """CPU used by a set of processes over a wall-clock window, in cores (1.0 = one core busy)."""

    pids: dict[str, int]
    start_wall: float = 0.0
    start_cpu: dict[str, float] | None = None
    cores: dict[str, float] | None = None

    def __enter__(self) -> CpuWindow:
        self.start_cpu = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.start_wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.start_wall
        assert self.start_cpu is not None
        self.cores = {k: (cpu_seconds(p) - self.start_cpu[k]) / wall for k, p in self.pids.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- talking to the server --------------------------------------------------------------------


def client_ssl_context(kubeconfig: Path, scratch: Path) -> tuple[ssl.SSLContext, str]:
    """TLS context with the admin client certificate, and the server URL, from a kubeconfig."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    scratch.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, name in (("certificate-authority-data", "ca.crt"), ("client-certificate-data", "client.crt"),
                      ("client-key-data", "client.key")):
        src = cluster if key.startswith("certificate-authority") else user
        files[name] = scratch / name
        files[name].write_bytes(base64.b64decode(src[key]))
    ctx = ssl.create_default_context(cafile=str(files["ca.crt"]))
    ctx.load_cert_chain(files["client.crt"], files["client.key"])
    return ctx, cluster["server"]


def readyz_ok(port: int, timeout: float = 1.0) -> bool:
    """One blocking GET /readyz; False while the port is closed or the server says not ready."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def run_async(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run on uvloop when installed, the loop the server itself uses."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


# ---- reporting --------------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    value: str
    goal: str = ""
    verdict: str = ""  # a ratio, PASS/FAIL, or a note


def print_table(rows: list[Row], out=sys.stdout) -> None:
    header = Row("metric", "value", "goal", "ratio / pass")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in ("metric", "value", "goal")]
    for i, r in enumerate([header, *rows]):
        print(f"{r.metric:<{widths[0]}}  {r.value:>{widths[1]}}  {r.goal:<{widths[2]}}  {r.verdict}", file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 12, file=out)


def verdict(ok: bool, ratio: float | None = None) -> str:
    text = "PASS" if ok else "FAIL"
    return f"{ratio:.2f}x  {text}" if ratio is not None else text
