"""A trace of CRI calls: what was asked of the runtime, for which pod, and how long it took.

Every call the CRI runtime makes is logged at DEBUG (logger kubeling.kubelet.runtime.critrace)
and counted per RPC method (`CallTrace.stats`). With KUBELING_CRI_TRACE=FILE in the environment
(or `CallTrace(path)`), each call is also appended to FILE as one JSON line, for tools that set a
pod's calls against its startup (benchmarks/pod_startup_bench.py):

    {"method": "CreateContainer", "began": 1700000000.123456, "ended": 1700000000.234567,
     "pod": "", "sandbox": "9f3e...", "container": "4be1...", "error": ""}

`pod` is the pod UID (RunPodSandbox only), `sandbox` and `container` the ids the request or its
response name; times are epoch seconds; `error` is the gRPC code name of a failed call.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import IO, Any

import orjson

log = logging.getLogger(__name__)

TRACE_ENV = "KUBELING_CRI_TRACE"


@dataclass(slots=True)
class MethodStats:
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0  # summed durations
    slowest: float = 0.0


@dataclass(slots=True)
class Call:
    method: str
    began: float
    ended: float
    pod: str = ""
    sandbox: str = ""
    container: str = ""
    error: str = ""

    def as_json(self) -> bytes:
        return orjson.dumps({"method": self.method, "began": self.began, "ended": self.ended, "pod": self.pod,
                             "sandbox": self.sandbox, "container": self.container, "error": self.error})


def call_ids(request: Any, response: Any) -> tuple[str, str, str]:
    """(pod uid, sandbox id, container id) named by a CRI request or its response."""
    pod = ""
    config = getattr(request, "config", None)
    if config is not None and hasattr(config, "metadata") and hasattr(config.metadata, "uid"):
        pod = config.metadata.uid  # RunPodSandboxRequest.config is a PodSandboxConfig
    sandbox = getattr(request, "pod_sandbox_id", "") or getattr(response, "pod_sandbox_id", "")
    container = getattr(request, "container_id", "") or getattr(response, "container_id", "")
    return pod, sandbox, container


class CallTrace:
    """Per-method counts and times of CRI calls; each call also a JSON line in `path` if given."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.stats: dict[str, MethodStats] = {}
        self.path = path
        self._file: IO[bytes] | None = open(path, "ab", buffering=0) if path else None

    @classmethod
    def from_env(cls) -> CallTrace:
        return cls(os.environ.get(TRACE_ENV) or None)

    def record(self, call: Call) -> None:
        stats = self.stats.get(call.method)
        if stats is None:
            stats = self.stats[call.method] = MethodStats()
        took = call.ended - call.began
        stats.calls += 1
        stats.errors += bool(call.error)
        stats.seconds += took
        stats.slowest = max(stats.slowest, took)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("CRI %s sandbox=%s container=%s took %.1f ms%s", call.method, call.sandbox[:13],
                      call.container[:13], took * 1000, f" error={call.error}" if call.error else "")
        if self._file is not None:
            # One unbuffered write per line: whole lines even when read while the kubelet runs.
            self._file.write(call.as_json() + b"\n")

    def summary(self) -> str:
        """"Method calls/avg ms/max ms" per method, the busiest first, for a log line."""
        parts = [f"{m} {s.calls}/{s.seconds / s.calls * 1000:.1f}/{s.slowest * 1000:.0f}"
                 for m, s in sorted(self.stats.items(), key=lambda kv: -kv[1].calls) if s.calls]
        return ", ".join(parts)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read(path: str | os.PathLike) -> list[Call]:
    """The calls a trace file holds (a torn last line is skipped)."""
    calls = []
    with open(path, "rb") as f:
        for line in f:
            try:
                calls.append(Call(**orjson.loads(line)))
            except (orjson.JSONDecodeError, TypeError):
                continue
    return calls
