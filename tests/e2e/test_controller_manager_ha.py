"""Two standalone controller-managers: only the Lease holder acts, and the standby takes
over when the leader stops."""

from __future__ import annotations

import json
import time

from tests.support.cluster import start_component, stop_process
from tests.support.eventually import wait_until


def lease_holder(server) -> str:
    out = server.kubectl("get", "lease", "-n", "kube-system", "kube-controller-manager", "-o", "json", check=False)
    return json.loads(out.stdout)["spec"].get("holderIdentity", "") if out.returncode == 0 else ""




def pod_count(server, ns="default") -> int:
    return len(server.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split())


def test_standby_takes_over_when_the_leader_stops(api_only_server, tmp_path):
    server = api_only_server
    first = start_component(server, "controller-manager", tmp_path / "cm1.log")
    second = None
    try:
        leader = wait_until(lambda: lease_holder(server))
        second = start_component(server, "controller-manager", tmp_path / "cm2.log")
        server.kubectl("create", "deployment", "ha", "--image=nginx", "--replicas=2")
        wait_until(lambda: pod_count(server) == 2)
        time.sleep(3)  # the standby has had time to (wrongly) act, and the leader to renew
        assert lease_holder(server) == leader
        assert pod_count(server) == 2  # one controller acted: no duplicates

        stop_process(first)  # a clean stop releases the Lease
        new_leader = wait_until(lambda: (h := lease_holder(server)) and h != leader and h, timeout=20)
        assert new_leader != leader
        server.kubectl("scale", "deployment", "ha", "--replicas=4")
        wait_until(lambda: pod_count(server) == 4)
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
