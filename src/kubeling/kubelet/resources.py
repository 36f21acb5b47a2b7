"""A container's resources in CRI's units, as kubelet's generateLinuxContainerConfig computes them:
CPU shares from the request, the CFS quota from the limit, the memory limit, and the OOM score
adjustment by the pod's QoS class (pkg/kubelet/qos/policy.go).

A runtime with `restrict_oom_score_adj` (containerd here, lacking CAP_SYS_RESOURCE) raises a
negative score to its own; the kubelet still asks for what Kubernetes asks for.
"""

from __future__ import annotations

import functools
from typing import Any

from kubeling.api import quantity
from kubeling.api.strategies import qos_class
from kubeling.client.base import Obj

MIN_SHARES = 2
MAX_SHARES = 262144
SHARES_PER_CPU = 1024
QUOTA_PERIOD = 100000  # microseconds: the kubelet's default --cpu-cfs-quota-period (100ms)
MIN_QUOTA = 1000  # the kernel refuses a quota under 1ms
GUARANTEED_OOM_SCORE_ADJ = -997
BESTEFFORT_OOM_SCORE_ADJ = 1000
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000  # scheduling.SystemCriticalPriority
DEFAULT_MEMORY_CAPACITY = 8 * 1024 ** 3  # when /proc/meminfo cannot be read


@functools.cache
def machine_memory() -> int:
    """The node's memory in bytes (cadvisor's MemoryCapacity: MemTotal)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return DEFAULT_MEMORY_CAPACITY


def _amount(resources: Obj, kind: str, name: str) -> str | None:
    value = (resources.get(kind) or {}).get(name)
    return None if value is None else str(value)


def milli_cpu_to_shares(milli_cpu: int) -> int:
    if milli_cpu <= 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli_cpu * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli_cpu: int, period: int = QUOTA_PERIOD) -> int:
    """0 (no quota) without a limit, else the limit's share of the period, at least MIN_QUOTA."""
    if milli_cpu <= 0:
        return 0
    return max(MIN_QUOTA, milli_cpu * period // 1000)


def is_critical(pod: Obj) -> bool:
    return int((pod.get("spec") or {}).get("priority") or 0) >= SYSTEM_CRITICAL_PRIORITY


def oom_score_adj(pod: Obj, container: Obj, memory_capacity: int) -> int:
    """Guaranteed -997, BestEffort 1000, Burstable 1000 - 1000*request/capacity kept in [3, 999]."""
    if is_critical(pod):
        return GUARANTEED_OOM_SCORE_ADJ
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return GUARANTEED_OOM_SCORE_ADJ
    if qos == "BestEffort":
        return BESTEFFORT_OOM_SCORE_ADJ
    res = container.get("resources") or {}
    request = _amount(res, "requests", "memory") or _amount(res, "limits", "memory")
    request_bytes = quantity.value(request) if request else 0
    adj = 1000 - (1000 * request_bytes) // max(memory_capacity, 1)
    if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ:
        return 1000 + GUARANTEED_OOM_SCORE_ADJ
    if adj == BESTEFFORT_OOM_SCORE_ADJ:
        return adj - 1  # a Burstable container must not be killed before a BestEffort one
    return adj


def linux_resources(pod: Obj, container: Obj, memory_capacity: int | None = None) -> dict[str, Any]:
    """CRI LinuxContainerResources keys (see runtime/cri.py) for one container."""
    res = container.get("resources") or {}
    cpu_request, cpu_limit = _amount(res, "requests", "cpu"), _amount(res, "limits", "cpu")
    request_milli = quantity.milli_value(cpu_request) if cpu_request else 0
    limit_milli = quantity.milli_value(cpu_limit) if cpu_limit else 0
    # With a limit and no request the request is the limit (API defaulting, repeated by the kubelet).
    shares = milli_cpu_to_shares(request_milli if request_milli or not limit_milli else limit_milli)
    out: dict[str, Any] = {"cpu_shares": shares, "cpu_period": QUOTA_PERIOD,
                           "cpu_quota": milli_cpu_to_quota(limit_milli),
                           "oom_score_adj": oom_score_adj(pod, container, memory_capacity or machine_memory())}
    memory_limit = _amount(res, "limits", "memory")
    if memory_limit and quantity.value(memory_limit) > 0:
        out["memory_limit_in_bytes"] = quantity.value(memory_limit)
    return out
