"""Pod status computation: phase rules (kubelet's getPhase) and conditions."""

from __future__ import annotations

import pytest

from kubeling.kubelet.status import compute_status, get_phase, status_patch

RUN = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
WAIT = {"waiting": {"reason": "ContainerCreating"}}


def term(code: int) -> dict:
    return {"terminated": {"exitCode": code}}


def cs(name: str, state: dict, last: dict | None = None, **kw) -> dict:
    return {"name": name, "state": state, "lastState": last or {}, **kw}


def pod(policy: str = "Always", init: list[dict] | None = None, n: int = 1, gates: list[str] | None = None) -> dict:
    spec = {"restartPolicy": policy, "containers": [{"name": f"c{i}"} for i in range(n)],
            "initContainers": init or []}
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    return {"metadata": {"name": "p", "uid": "u"}, "spec": spec, "status": {}}


@pytest.mark.parametrize("policy,states,phase", [
    ("Always", [RUN], "Running"),
    ("Always", [WAIT], "Pending"),
    ("Always", [term(0)], "Running"),  # restarting
    ("OnFailure", [term(0)], "Succeeded"),
    ("OnFailure", [term(1)], "Running"),
    ("Never", [term(1)], "Failed"),
    ("Never", [term(0), term(0)], "Succeeded"),
    ("Never", [term(0), RUN], "Running"),
    ("Never", [term(0), term(2)], "Failed"),
])
def test_phase_of_app_containers(policy, states, phase):
    p = pod(policy, n=len(states))
    assert get_phase(p, [], [cs(f"c{i}", s) for i, s in enumerate(states)]) == phase


def test_crash_looping_container_counts_as_stopped():
    p = pod("Always")
    assert get_phase(p, [], [cs("c0", {"waiting": {"reason": "CrashLoopBackOff"}}, term(1))]) == "Running"


def test_missing_status_is_pending():
    assert get_phase(pod(), [], []) == "Pending"


@pytest.mark.parametrize("policy,init_state,phase", [
    ("Always", RUN, "Pending"),
    ("Always", term(1), "Pending"),  # will be retried... but app containers have not started
    ("Never", term(1), "Failed"),
    ("Always", term(0), "Running"),
])
def test_phase_with_init_container(policy, init_state, phase):
    p = pod(policy, init=[{"name": "i"}])
    app = [cs("c0", RUN)] if phase == "Running" else [cs("c0", {"waiting": {"reason": "PodInitializing"}})]
    assert get_phase(p, [cs("i", init_state)], app) == phase


def test_unstarted_sidecar_keeps_pod_pending():
    p = pod(init=[{"name": "s", "restartPolicy": "Always"}])
    assert get_phase(p, [cs("s", RUN, started=False)], [cs("c0", WAIT)]) == "Pending"
    assert get_phase(p, [cs("s", RUN, started=True)], [cs("c0", RUN)]) == "Running"


def test_terminal_pod_with_stopped_sidecar_succeeds():
    p = pod("Never", init=[{"name": "s", "restartPolicy": "Always"}])
    assert get_phase(p, [cs("s", term(143))], [cs("c0", term(0))], pod_is_terminal=True) == "Succeeded"


def conds(status: dict) -> dict:
    return {c["type"]: c for c in status["conditions"]}


def test_conditions_ready_pod():
    p = pod()
    s = compute_status(p, init_statuses=[], statuses=[cs("c0", RUN, ready=True)], host_ip="1.2.3.4",
                       pod_ips=["10.0.0.5"], sandbox_ready=True, start_time="t0", now="t1")
    c = conds(s)
    assert [x["type"] for x in s["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                     "ContainersReady"]
    assert all(x["status"] == "True" and x["lastTransitionTime"] == "t1" for x in c.values())
    assert s["podIPs"] == [{"ip": "10.0.0.5"}] and s["hostIP"] == "1.2.3.4"


def test_readiness_gates():
    p = pod(gates=["example.com/lb", "example.com/dns"])
    p["status"]["conditions"] = [{"type": "example.com/dns", "status": "False"},
                                 {"type": "PodScheduled", "status": "True"}]
    s = compute_status(p, init_statuses=[], statuses=[cs("c0", RUN, ready=True)], host_ip="", pod_ips=[],
                       sandbox_ready=True, start_time=None, now="t")
    ready = conds(s)["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "ReadinessGatesNotReady"
    assert ready["message"] == ('corresponding condition of pod readiness gate "example.com/lb" does not exist., '
                                'the status of pod readiness gate "example.com/dns" is not "True", but False')
    assert conds(s)["ContainersReady"]["status"] == "True"
    assert "PodScheduled" in conds(s) and "example.com/dns" in conds(s)


def test_transition_time_kept_while_status_unchanged():
    p = pod()
    kw = dict(init_statuses=[], host_ip="", pod_ips=[], sandbox_ready=True, start_time=None)
    first = compute_status(p, statuses=[cs("c0", RUN, ready=False)], now="t1", **kw)
    second = compute_status(p, statuses=[cs("c0", RUN, ready=True)], now="t2", previous=first, **kw)
    assert conds(second)["Initialized"]["lastTransitionTime"] == "t1"
    assert conds(second)["Ready"]["lastTransitionTime"] == "t2"
    assert conds(first)["ContainersReady"]["message"] == "containers with unready status: [c0]"


def test_terminal_phase_never_regresses():
    p = pod()
    p["status"]["phase"] = "Failed"
    s = compute_status(p, init_statuses=[], statuses=[cs("c0", RUN)], host_ip="", pod_ips=[],
                       sandbox_ready=False, start_time=None, now="t")
    assert s["phase"] == "Failed"


def test_status_patch_nulls_removed_keys():
    assert status_patch({"a": 1, "b": 2}, {"a": 1, "c": 3}) == {"c": 3, "b": None}
