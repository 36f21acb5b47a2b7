"""Container resources and security context in CRI's units (kubelet's generateLinuxContainerConfig)."""

from __future__ import annotations

import pytest

from kubeling.kubelet import podspec, resources
from kubeling.kubelet.resources import linux_resources, milli_cpu_to_quota, milli_cpu_to_shares, oom_score_adj

GI = 1024 ** 3


def pod(*containers: dict, **spec) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "spec": {"containers": list(containers), **spec}}


def ctr(requests: dict | None = None, limits: dict | None = None, **extra) -> dict:
    res = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": "c", "image": "busybox", "resources": res, **extra}


@pytest.mark.parametrize(("milli", "shares"), [(0, 2), (1, 2), (100, 102), (250, 256), (1000, 1024),
                                               (10**6, 262144)])
def test_shares(milli, shares):
    assert milli_cpu_to_shares(milli) == shares


@pytest.mark.parametrize(("milli", "quota"), [(0, 0), (5, 1000), (10, 1000), (250, 25000), (1500, 150000)])
def test_quota(milli, quota):
    assert milli_cpu_to_quota(milli) == quota


def test_best_effort_container():
    c = ctr()
    assert linux_resources(pod(c), c, 8 * GI) == {"cpu_shares": 2, "cpu_period": 100000, "cpu_quota": 0,
                                                  "oom_score_adj": 1000}


def test_guaranteed_container():
    c = ctr({"cpu": "500m", "memory": "64Mi"}, {"cpu": "500m", "memory": "64Mi"})
    assert linux_resources(pod(c), c, 8 * GI) == {
        "cpu_shares": 512, "cpu_period": 100000, "cpu_quota": 50000, "memory_limit_in_bytes": 64 * 1024 ** 2,
        "oom_score_adj": -997}


def test_limit_only_cpu_sets_shares_from_limit():
    c = ctr(limits={"cpu": "2"})
    out = linux_resources(pod(c), c, 8 * GI)
    assert (out["cpu_shares"], out["cpu_quota"]) == (2048, 200000)


def test_burstable_oom_score():
    half = ctr({"memory": "4Gi"})
    assert oom_score_adj(pod(half), half, 8 * GI) == 500
    tiny = ctr({"memory": "1"})
    assert oom_score_adj(pod(tiny), tiny, 8 * GI) == 999  # never as killable as BestEffort
    huge = ctr({"memory": "16Gi"})
    assert oom_score_adj(pod(huge), huge, 8 * GI) == 3  # never as protected as Guaranteed
    cpu_only = ctr({"cpu": "100m"})
    assert oom_score_adj(pod(cpu_only), cpu_only, 8 * GI) == 999


def test_critical_pod_is_protected():
    c = ctr()
    assert oom_score_adj(pod(c, priority=2000001000), c, 8 * GI) == -997


def test_machine_memory_is_read():
    assert resources.machine_memory() > 0


def test_security_context_container_over_pod():
    c = ctr(securityContext={"runAsUser": 1000, "readOnlyRootFilesystem": True, "privileged": False,
                             "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}})
    p = pod(c, securityContext={"runAsUser": 5, "runAsGroup": 3000})
    out = podspec.security_config(p, c)
    assert out == {"run_as_user": 1000, "run_as_group": 3000, "readonly_rootfs": True,
                   "capabilities_add": ["NET_ADMIN"], "capabilities_drop": ["ALL"]}
    assert podspec.security_config(pod(ctr()), ctr()) == {}


def test_linux_config_merges_both():
    c = ctr({"cpu": "1"}, securityContext={"privileged": True})
    out = podspec.linux_config(pod(c), c, 8 * GI)
    assert out["cpu_shares"] == 1024 and out["privileged"] is True


def test_run_as_non_root_with_root_user_is_a_config_error():
    c = ctr(securityContext={"runAsNonRoot": True})
    with pytest.raises(podspec.ConfigError) as e:
        podspec.check_non_root(pod(c, securityContext={"runAsUser": 0}), c)
    assert str(e.value) == 'container\'s runAsUser breaks non-root policy (pod: "p_ns(u1)", container: c)'
    podspec.check_non_root(pod(c, securityContext={"runAsUser": 10}), c)


async def test_container_config_carries_cri_keys():
    c = ctr({"cpu": "250m"}, {"memory": "32Mi"}, securityContext={"runAsUser": 7})
    config = await podspec.container_config(None, pod(c), c, 0)
    assert config.linux["cpu_shares"] == 256 and config.linux["memory_limit_in_bytes"] == 32 * 1024 ** 2
    assert config.linux["run_as_user"] == 7
    assert "resources" not in config.linux and "security_context" not in config.linux


def test_cri_accepts_the_keys():
    from kubeling.kubelet.runtime.cri import linux_container_config

    c = ctr({"cpu": "250m", "memory": "16Mi"}, {"cpu": "500m", "memory": "32Mi"},
            securityContext={"runAsUser": 7, "runAsGroup": 8, "readOnlyRootFilesystem": True,
                             "capabilities": {"add": ["NET_ADMIN"]}})
    msg = linux_container_config(podspec.linux_config(pod(c), c, 8 * GI), False)
    assert (msg.resources.cpu_shares, msg.resources.cpu_quota, msg.resources.cpu_period) == (256, 50000, 100000)
    assert msg.resources.memory_limit_in_bytes == 32 * 1024 ** 2 and 3 <= msg.resources.oom_score_adj <= 999
    sc = msg.security_context
    assert (sc.run_as_user.value, sc.run_as_group.value, sc.readonly_rootfs) == (7, 8, True)
    assert list(sc.capabilities.add_capabilities) == ["NET_ADMIN"]
