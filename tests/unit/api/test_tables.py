"""Table responses: columns and cells as Kubernetes 1.32's printers produce them.

Expected cells follow pkg/printers/internalversion/printers_test.go where it has a
matching case, and printers.go's logic elsewhere.
"""

from __future__ import annotations

import datetime as dt

import pytest

from kubeling.api import registry, tables

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rt(group: str, plural: str) -> registry.ResourceType:
    found = registry.lookup(group, "v1", plural)
    assert found is not None
    return found


def cells(group: str, plural: str, obj: dict) -> list:
    return tables.row_cells(rt(group, plural), obj, NOW)


MINUTE, HOUR, DAY = 60, 3600, 86400

# ---------------------------------------------------------------------------
# duration.HumanDuration
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),  # Go truncates toward zero: -1 is still "now"
        (-1, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (9 * MINUTE + 59, "9m59s"),
        (10 * MINUTE + 30, "10m"),
        (179 * MINUTE + 59, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 5 * MINUTE, "3h5m"),
        (7 * HOUR + 59 * MINUTE, "7h59m"),
        (8 * HOUR + 30 * MINUTE, "8h"),
        (47 * HOUR + 59 * MINUTE, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + 3 * HOUR, "2d3h"),
        (7 * DAY + 23 * HOUR, "7d23h"),
        (8 * DAY + 5 * HOUR, "8d"),
        (729 * DAY, "729d"),
        (730 * DAY, "2y"),
        (731 * DAY, "2y1d"),
        (8 * 365 * DAY - DAY, "7y364d"),
        (8 * 365 * DAY, "8y"),
        (20 * 365 * DAY + 100 * DAY, "20y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert tables.human_duration(dt.timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "<unknown>"),
        ("", "<unknown>"),
        ("not a time", "<unknown>"),
        (ago(5 * MINUTE), "5m"),
        ("2024-05-01T11:59:30.123456Z", "29s"),  # MicroTime
        ("2024-05-01T11:59:30.123456789Z", "29s"),  # nanoseconds, as Go may write
    ],
)
def test_translate_timestamp_since(value: str | None, expected: str) -> None:
    assert tables.translate_timestamp_since(value, NOW) == expected


# ---------------------------------------------------------------------------
# Column definitions
# ---------------------------------------------------------------------------

COLUMNS = {
    ("", "pods"): (["Name", "Ready", "Status", "Restarts", "Age"],
                   ["IP", "Node", "Nominated Node", "Readiness Gates"]),
    ("", "nodes"): (["Name", "Status", "Roles", "Age", "Version"],
                    ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("", "namespaces"): (["Name", "Status", "Age"], []),
    ("", "configmaps"): (["Name", "Data", "Age"], []),
    ("", "secrets"): (["Name", "Type", "Data", "Age"], []),
    ("", "services"): (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
    ("", "serviceaccounts"): (["Name", "Secrets", "Age"], []),
    ("", "endpoints"): (["Name", "Endpoints", "Age"], []),
    ("", "events"): (["Last Seen", "Type", "Reason", "Object", "Message"],
                     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("events.k8s.io", "events"): (["Last Seen", "Type", "Reason", "Object", "Message"],
                                  ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("apps", "deployments"): (["Name", "Ready", "Up-to-date", "Available", "Age"],
                              ["Containers", "Images", "Selector"]),
    ("apps", "replicasets"): (["Name", "Desired", "Current", "Ready", "Age"],
                              ["Containers", "Images", "Selector"]),
    ("apps", "daemonsets"): (["Name", "Desired", "Current", "Ready", "Up-to-date", "Available",
                              "Node Selector", "Age"], ["Containers", "Images", "Selector"]),
    ("apps", "statefulsets"): (["Name", "Ready", "Age"], ["Containers", "Images"]),
    ("batch", "jobs"): (["Name", "Status", "Completions", "Duration", "Age"],
                        ["Containers", "Images", "Selector"]),
    ("batch", "cronjobs"): (["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"],
                            ["Containers", "Images", "Selector"]),
    ("coordination.k8s.io", "leases"): (["Name", "Holder", "Age"], []),
    ("discovery.k8s.io", "endpointslices"): (["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
}


@pytest.mark.parametrize(("key", "expected"), COLUMNS.items(), ids=[f"{g or 'core'}/{p}" for g, p in COLUMNS])
def test_column_names_and_priorities(key: tuple[str, str], expected: tuple[list[str], list[str]]) -> None:
    cols = tables.column_definitions(rt(*key))
    assert [c["name"] for c in cols if c["priority"] == 0] == expected[0]
    assert [c["name"] for c in cols if c["priority"] == 1] == expected[1]
    for col in cols:
        assert set(col) == {"name", "type", "format", "description", "priority"}
        assert col["description"], col["name"]  # every column of these kinds is documented


def test_every_registered_kind_prints_one_cell_per_column() -> None:
    for resource in registry.RESOURCES:
        n = len(tables.column_definitions(resource))
        assert len(tables.row_cells(resource, {"metadata": {"name": "x"}}, NOW)) == n, resource.kind


@pytest.mark.parametrize(
    ("key", "column", "type_", "fmt"),
    [
        (("", "pods"), "Name", "string", "name"),
        (("", "pods"), "Restarts", "string", ""),
        (("apps", "replicasets"), "Desired", "integer", ""),
        (("apps", "daemonsets"), "Available", "integer", ""),
        (("batch", "cronjobs"), "Suspend", "boolean", ""),
        (("batch", "cronjobs"), "Active", "integer", ""),
        (("", "events"), "Name", "string", "name"),
        (("", "events"), "Count", "string", ""),
    ],
)
def test_column_types(key: tuple[str, str], column: str, type_: str, fmt: str) -> None:
    col = next(c for c in tables.column_definitions(rt(*key)) if c["name"] == column)
    assert (col["type"], col["format"]) == (type_, fmt)


def test_column_descriptions_come_from_the_schema() -> None:
    cols = {c["name"]: c for c in tables.column_definitions(rt("", "pods"))}
    assert cols["Name"]["description"].startswith("Name must be unique within a namespace.")
    assert cols["Age"]["description"].startswith("CreationTimestamp is a timestamp")
    assert cols["IP"]["description"].startswith("podIP address allocated to the pod.")
    assert cols["Ready"]["description"] == "The aggregate readiness state of this pod for accepting traffic."


# ---------------------------------------------------------------------------
# Pods
# ---------------------------------------------------------------------------


def pod(name: str = "web-0", *, containers: int = 1, init: list[dict] | None = None, status: dict | None = None,
        deleted: bool = False, spec: dict | None = None) -> dict:
    meta = {"name": name, "namespace": "default", "creationTimestamp": ago(3 * HOUR + 5 * MINUTE)}
    if deleted:
        meta["deletionTimestamp"] = ago(10)
    body = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]}
    if init is not None:
        body["initContainers"] = init
    body.update(spec or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body, "status": status or {}}


def running(ready: bool = True, restarts: int = 0, last_finished: float | None = None, **extra) -> dict:
    cs = {"name": "c", "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(60)}}}
    if last_finished is not None:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(last_finished)}}
    cs.update(extra)
    return cs


def waiting(reason: str, restarts: int = 0, last_finished: float | None = None, ready: bool = False,
            **extra) -> dict:
    cs = running(ready, restarts, last_finished, **extra)
    cs["state"] = {"waiting": {"reason": reason} if reason else {}}
    return cs


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0, restarts: int = 0,
               last_finished: float | None = None, ready: bool = False, **extra) -> dict:
    cs = running(ready, restarts, last_finished, **extra)
    term: dict = {"exitCode": exit_code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    cs["state"] = {"terminated": term}
    return cs


READY_TRUE = {"type": "Ready", "status": "True"}
INITIALIZED_TRUE = {"type": "Initialized", "status": "True"}

POD_CASES = [
    # (id, pod, ready, status, restarts)
    ("running-one-of-two", pod(containers=2, status={"phase": "Running", "containerStatuses": [
        running(restarts=3), {"name": "c1", "restartCount": 3}]}), "1/2", "Running", "6"),
    ("waiting-reason-overrides-phase", pod(containers=2, status={"phase": "podPhase", "containerStatuses": [
        running(restarts=3), waiting("ContainerWaitingReason", restarts=3)]}),
     "1/2", "ContainerWaitingReason", "6"),
    ("first-container-wins", pod(containers=2, status={"phase": "podPhase", "containerStatuses": [
        waiting("ContainerWaitingReason", restarts=3), terminated("ContainerTerminatedReason", restarts=3)]}),
     "0/2", "ContainerWaitingReason", "6"),
    ("ready-without-running-is-not-counted", pod(containers=2, status={"phase": "podPhase", "containerStatuses": [
        running(restarts=3), {"name": "c1", "ready": True, "restartCount": 3}]}), "1/2", "podPhase", "6"),
    ("pod-reason-overrides-phase", pod(containers=2, status={"phase": "Failed", "reason": "Evicted"}),
     "0/2", "Evicted", "0"),
    ("pending-unscheduled", pod(status={"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}), "0/1", "Pending", "0"),
    ("container-creating", pod(status={"phase": "Pending", "containerStatuses": [
        waiting("ContainerCreating")]}), "0/1", "ContainerCreating", "0"),
    ("crash-loop-with-last-restart", pod(status={"phase": "Running", "containerStatuses": [
        waiting("CrashLoopBackOff", restarts=5, last_finished=5 * MINUTE)]}),
     "0/1", "CrashLoopBackOff", "5 (5m ago)"),
    ("completed-and-running-not-ready", pod(containers=2, status={"phase": "Running", "containerStatuses": [
        terminated("Completed", ready=True, restarts=3), running(restarts=3)]}), "1/2", "NotReady", "6"),
    ("completed-and-running-ready", pod(containers=2, status={
        "phase": "Running", "conditions": [READY_TRUE],
        "containerStatuses": [terminated("Completed", ready=True, restarts=3), running(restarts=3)]}),
     "1/2", "Running", "6"),
    ("init-running-with-restarts", pod(init=[{"name": "i0"}], status={
        "phase": "Pending",
        "initContainerStatuses": [running(False, 3, last_finished=10, name="i0")],
        "containerStatuses": [waiting("")]}), "0/1", "Init:0/1", "3 (10s ago)"),
    ("init-second-of-two", pod(init=[{"name": "i0"}, {"name": "i1"}], status={
        "phase": "Pending",
        "initContainerStatuses": [terminated(name="i0", restarts=2, last_finished=2 * MINUTE),
                                  running(False, 3, last_finished=10, name="i1")],
        "containerStatuses": [waiting("")]}), "0/1", "Init:1/2", "5 (10s ago)"),
    ("init-crash-loop", pod(init=[{"name": "i0"}], status={
        "phase": "Pending", "initContainerStatuses": [waiting("CrashLoopBackOff", 4, 30, name="i0")]}),
     "0/1", "Init:CrashLoopBackOff", "4 (30s ago)"),
    ("init-pod-initializing-is-a-count", pod(init=[{"name": "i0"}], status={
        "phase": "Pending", "initContainerStatuses": [waiting("PodInitializing", name="i0")]}),
     "0/1", "Init:0/1", "0"),
    ("init-failed-with-reason", pod(init=[{"name": "i0"}], status={
        "phase": "Failed", "initContainerStatuses": [terminated("Error", 1, name="i0")]}),
     "0/1", "Init:Error", "0"),
    ("init-failed-exit-code", pod(init=[{"name": "i0"}], status={
        "phase": "Pending", "initContainerStatuses": [terminated(exit_code=2, name="i0")]}),
     "0/1", "Init:ExitCode:2", "0"),
    ("init-killed-by-signal", pod(init=[{"name": "i0"}], status={
        "phase": "Pending", "initContainerStatuses": [terminated(exit_code=137, signal=9, name="i0")]}),
     "0/1", "Init:Signal:9", "0"),
    ("init-done-counts-only-app-restarts", pod(init=[{"name": "i0"}], status={
        "phase": "Running",
        "initContainerStatuses": [terminated(name="i0", restarts=2, last_finished=2 * MINUTE)],
        "containerStatuses": [running(False, 4, last_finished=20)]}), "0/1", "Running", "4 (20s ago)"),
    ("restart-5d-ago", pod(status={"phase": "Running", "containerStatuses": [
        running(restarts=3, last_finished=5 * DAY)]}), "1/1", "Running", "3 (5d ago)"),
    ("newest-restart-of-two", pod(containers=2, status={"phase": "Running", "containerStatuses": [
        running(restarts=6, last_finished=5 * DAY), running(restarts=3, last_finished=20 * DAY)]}),
     "2/2", "Running", "9 (5d ago)"),
    ("restarts-without-termination-time", pod(status={"phase": "Running", "containerStatuses": [
        running(restarts=2)]}), "1/1", "Running", "2"),
    ("scheduling-gated", pod(containers=2, spec={"schedulingGates": [{"name": "example.com/gate"}]}, status={
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
     "0/2", "SchedulingGated", "0"),
    ("succeeded", pod(status={"phase": "Succeeded", "containerStatuses": [terminated("Completed")]}),
     "0/1", "Completed", "0"),
    ("failed", pod(status={"phase": "Failed", "containerStatuses": [terminated("Error", 1)]}),
     "0/1", "Error", "0"),
    ("oom-killed", pod(status={"phase": "Running", "containerStatuses": [
        terminated("OOMKilled", 137, restarts=1, last_finished=90)]}), "0/1", "OOMKilled", "1 (90s ago)"),
    ("terminated-without-reason", pod(status={"phase": "Running", "containerStatuses": [
        terminated(exit_code=3)]}), "0/1", "ExitCode:3", "0"),
    ("terminated-by-signal", pod(status={"phase": "Running", "containerStatuses": [
        terminated(exit_code=143, signal=15)]}), "0/1", "Signal:15", "0"),
    ("terminating", pod(deleted=True, status={"phase": "Running", "containerStatuses": [running()]}),
     "1/1", "Terminating", "0"),
    ("succeeded-while-deleted-stays-completed", pod(deleted=True, status={
        "phase": "Succeeded", "containerStatuses": [terminated("Completed")]}), "0/1", "Completed", "0"),
    ("failed-while-deleted-stays-error", pod(deleted=True, status={
        "phase": "Failed", "containerStatuses": [terminated("Error", 1)]}), "0/1", "Error", "0"),
    ("node-lost", pod(deleted=True, status={"phase": "Running", "reason": "NodeLost"}), "0/1", "Unknown", "0"),
    ("sidecar-started-and-ready", pod(init=[{"name": "i0", "restartPolicy": "Always"}], status={
        "phase": "Running", "conditions": [INITIALIZED_TRUE, READY_TRUE],
        "initContainerStatuses": [running(name="i0", started=True, restarts=1, last_finished=4 * HOUR)],
        "containerStatuses": [running()]}), "2/2", "Running", "1 (4h ago)"),
    ("sidecar-not-started", pod(init=[{"name": "i0", "restartPolicy": "Always"}, {"name": "i1"}], status={
        "phase": "Pending",
        "initContainerStatuses": [running(False, name="i0", started=False), waiting("", name="i1")],
        "containerStatuses": [waiting("PodInitializing")]}), "0/2", "Init:0/2", "0"),
    ("sidecar-then-plain-init", pod(init=[{"name": "i0", "restartPolicy": "Always"}, {"name": "i1"}], status={
        "phase": "Pending",
        "initContainerStatuses": [running(name="i0", started=True), running(False, name="i1")],
        "containerStatuses": [waiting("PodInitializing")]}), "1/2", "Init:1/2", "0"),
]


@pytest.mark.parametrize(("obj", "ready", "status", "restarts"), [c[1:] for c in POD_CASES],
                         ids=[c[0] for c in POD_CASES])
def test_pod_cells(obj: dict, ready: str, status: str, restarts: str) -> None:
    row = cells("", "pods", obj)
    assert row[:5] == ["web-0", ready, status, restarts, "3h5m"]


@pytest.mark.parametrize(
    ("spec", "status", "wide"),
    [
        ({}, {"phase": "Pending"}, ["<none>", "<none>", "<none>", "<none>"]),
        ({"nodeName": "node-1"}, {"phase": "Running", "podIP": "10.88.0.5", "podIPs": [{"ip": "10.88.0.5"}]},
         ["10.88.0.5", "node-1", "<none>", "<none>"]),
        ({}, {"podIPs": [{"ip": "fd00::5"}, {"ip": "10.88.0.6"}], "nominatedNodeName": "node-2"},
         ["fd00::5", "<none>", "node-2", "<none>"]),
        ({"readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
         {"conditions": [{"type": "example.com/lb", "status": "True"},
                         {"type": "example.com/dns", "status": "False"}]},
         ["<none>", "<none>", "<none>", "1/2"]),
        ({"readinessGates": [{"conditionType": "example.com/lb"}]}, {}, ["<none>", "<none>", "<none>", "0/1"]),
    ],
)
def test_pod_wide_cells(spec: dict, status: dict, wide: list[str]) -> None:
    assert cells("", "pods", pod(spec=spec, status=status))[5:] == wide


@pytest.mark.parametrize(
    ("phase", "conditions"),
    [
        ("Succeeded", [{"type": "Completed", "status": "True", "reason": "Succeeded",
                        "message": "The pod has completed successfully."}]),
        ("Failed", [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]),
        ("Running", None),
    ],
)
def test_pod_row_conditions(phase: str, conditions: list | None) -> None:
    out = tables.table(rt("", "pods"), [pod(status={"phase": phase})], now=NOW)
    assert out["rows"][0].get("conditions") == conditions


# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------


def node(conditions: list[dict] | None = None, labels: dict | None = None, unschedulable: bool = False,
         addresses: list[dict] | None = None, info: dict | None = None) -> dict:
    return {
        "metadata": {"name": "node-1", "labels": labels or {}, "creationTimestamp": ago(2 * DAY + 3 * HOUR)},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {"conditions": conditions or [], "addresses": addresses or [], "nodeInfo": info or {}},
    }


READY = {"type": "Ready", "status": "True"}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (node([READY], info={"kubeletVersion": "v1.32.0"}), ["node-1", "Ready", "<none>", "2d3h", "v1.32.0"]),
        (node([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "False"}]),
         ["node-1", "NotReady", "<none>", "2d3h", ""]),
        (node([{"type": "Ready", "status": "Unknown"}]), ["node-1", "NotReady", "<none>", "2d3h", ""]),
        (node([]), ["node-1", "Unknown", "<none>", "2d3h", ""]),
        (node([READY], unschedulable=True), ["node-1", "Ready,SchedulingDisabled", "<none>", "2d3h", ""]),
        (node([], unschedulable=True), ["node-1", "Unknown,SchedulingDisabled", "<none>", "2d3h", ""]),
        (node([READY], labels={"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
                               "node-role.kubernetes.io/": "", "kubernetes.io/hostname": "node-1"}),
         ["node-1", "Ready", "control-plane,worker", "2d3h", ""]),
        (node([READY], labels={"kubernetes.io/role": "master"}), ["node-1", "Ready", "master", "2d3h", ""]),
        (node([READY], labels={"kubernetes.io/role": ""}), ["node-1", "Ready", "<none>", "2d3h", ""]),
    ],
)
def test_node_cells(obj: dict, expected: list) -> None:
    assert cells("", "nodes", obj)[:5] == expected


def test_node_wide_cells() -> None:
    obj = node([READY], addresses=[{"type": "Hostname", "address": "node-1"},
                                   {"type": "InternalIP", "address": "192.168.1.10"},
                                   {"type": "InternalIP", "address": "192.168.1.11"}],
               info={"osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0",
                     "containerRuntimeVersion": "containerd://1.7.24"})
    assert cells("", "nodes", obj)[5:] == ["192.168.1.10", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0",
                                           "containerd://1.7.24"]
    assert cells("", "nodes", node())[5:] == ["<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]


# ---------------------------------------------------------------------------
# Services, endpoints, endpoint slices
# ---------------------------------------------------------------------------


def service(spec: dict, status: dict | None = None) -> dict:
    return {"metadata": {"name": "web", "creationTimestamp": ago(45)}, "spec": spec, "status": status or {}}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (service({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                  "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                  "selector": {"tier": "fe", "app": "web"}}),
         ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "45s", "app=web,tier=fe"]),
        (service({"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80}]}),
         ["web", "ClusterIP", "None", "<none>", "80/TCP", "45s", "<none>"]),
        (service({"clusterIPs": ["10.96.0.11"]}), ["web", "ClusterIP", "10.96.0.11", "<none>", "<none>", "45s",
                                                    "<none>"]),
        (service({"type": "ClusterIP", "clusterIP": "10.96.0.12", "externalIPs": ["1.2.3.4", "5.6.7.8"],
                  "ports": [{"port": 8080, "protocol": "TCP"}]}),
         ["web", "ClusterIP", "10.96.0.12", "1.2.3.4,5.6.7.8", "8080/TCP", "45s", "<none>"]),
        (service({"type": "NodePort", "clusterIP": "10.96.0.13",
                  "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
         ["web", "NodePort", "10.96.0.13", "<none>", "80:30080/TCP", "45s", "<none>"]),
        (service({"type": "LoadBalancer", "clusterIP": "10.96.0.14",
                  "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}),
         ["web", "LoadBalancer", "10.96.0.14", "<pending>", "443:31443/TCP", "45s", "<none>"]),
        (service({"type": "LoadBalancer", "clusterIP": "10.96.0.15", "externalIPs": ["9.9.9.9"]},
                 {"loadBalancer": {"ingress": [{"ip": "3.3.3.3"}, {"hostname": "lb.example.com"},
                                               {"ip": "2.2.2.2"}]}}),
         ["web", "LoadBalancer", "10.96.0.15", "2.2.2.2,3.3.3.3,lb.example.com,9.9.9.9", "<none>", "45s",
          "<none>"]),
        (service({"type": "ExternalName", "externalName": "db.example.com"}),
         ["web", "ExternalName", "<none>", "db.example.com", "<none>", "45s", "<none>"]),
    ],
)
def test_service_cells(obj: dict, expected: list) -> None:
    assert cells("", "services", obj) == expected


def endpoints(subsets: list[dict]) -> dict:
    return {"metadata": {"name": "web", "creationTimestamp": ago(59)}, "subsets": subsets}


@pytest.mark.parametrize(
    ("subsets", "expected"),
    [
        ([], "<none>"),
        ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 8080}]}],
         "10.0.0.1:8080,10.0.0.2:8080"),
        ([{"addresses": [{"ip": "10.0.0.1"}]}], "10.0.0.1"),
        ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
        ([{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 80}, {"port": 443}]}],
         "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 7 more..."),
        ([{"notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 80}]}], ""),
    ],
)
def test_endpoints_cells(subsets: list[dict], expected: str) -> None:
    assert cells("", "endpoints", endpoints(subsets)) == ["web", expected, "59s"]


@pytest.mark.parametrize(
    ("ports", "eps", "expected_ports", "expected_eps"),
    [
        ([], [], "<unset>", "<unset>"),
        ([{"name": "http", "port": 80, "protocol": "TCP"}], [{"addresses": ["10.0.0.1"]}], "80", "10.0.0.1"),
        ([{"name": "http"}, {}], [{"addresses": ["10.0.0.1", "10.0.0.2"]}, {"addresses": ["10.0.0.3"]}],
         "http,*", "10.0.0.1,10.0.0.2,10.0.0.3"),
        ([{"port": p} for p in (80, 81, 82, 83, 84)],
         [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)],
         "80,81,82 + 2 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."),
    ],
)
def test_endpointslice_cells(ports: list, eps: list, expected_ports: str, expected_eps: str) -> None:
    obj = {"metadata": {"name": "web-abc12", "creationTimestamp": ago(5 * MINUTE)}, "addressType": "IPv4",
           "ports": ports, "endpoints": eps}
    assert cells("discovery.k8s.io", "endpointslices", obj) == ["web-abc12", "IPv4", expected_ports,
                                                                 expected_eps, "5m"]


# ---------------------------------------------------------------------------
# Small core kinds
# ---------------------------------------------------------------------------

CREATED = {"creationTimestamp": ago(10 * DAY)}


@pytest.mark.parametrize(
    ("key", "obj", "expected"),
    [
        (("", "namespaces"), {"metadata": {"name": "kube-system", **CREATED}, "status": {"phase": "Active"}},
         ["kube-system", "Active", "10d"]),
        (("", "namespaces"), {"metadata": {"name": "old", **CREATED, "deletionTimestamp": ago(1)},
                              "status": {"phase": "Terminating"}}, ["old", "Terminating", "10d"]),
        (("", "configmaps"), {"metadata": {"name": "cfg", **CREATED}, "data": {"a": "1", "b": "2"},
                              "binaryData": {"c": "AA=="}}, ["cfg", 3, "10d"]),
        (("", "configmaps"), {"metadata": {"name": "empty", **CREATED}}, ["empty", 0, "10d"]),
        (("", "secrets"), {"metadata": {"name": "tls", **CREATED}, "type": "kubernetes.io/tls",
                           "data": {"tls.crt": "", "tls.key": ""}}, ["tls", "kubernetes.io/tls", 2, "10d"]),
        (("", "serviceaccounts"), {"metadata": {"name": "default", **CREATED}}, ["default", 0, "10d"]),
        (("", "serviceaccounts"), {"metadata": {"name": "builder", **CREATED},
                                   "secrets": [{"name": "builder-token"}]}, ["builder", 1, "10d"]),
        (("coordination.k8s.io", "leases"), {"metadata": {"name": "node-1", **CREATED},
                                             "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}},
         ["node-1", "node-1", "10d"]),
        (("coordination.k8s.io", "leases"), {"metadata": {"name": "free", **CREATED}, "spec": {}},
         ["free", "", "10d"]),
    ],
)
def test_simple_kind_cells(key: tuple[str, str], obj: dict, expected: list) -> None:
    assert cells(*key, obj) == expected


# ---------------------------------------------------------------------------
# Events (core/v1 and events.k8s.io/v1)
# ---------------------------------------------------------------------------

CORE_EVENT = {
    "metadata": {"name": "web-0.17a9", "namespace": "default", "creationTimestamp": ago(5 * MINUTE)},
    "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "default",
                       "fieldPath": "spec.containers{web}"},
    "reason": "Pulled", "message": "  Container image \"nginx\" already present on machine\n",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": ago(5 * MINUTE), "lastTimestamp": ago(30), "count": 3, "type": "Normal",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ["30s", "Normal", "Pulled", "pod/web-0", "spec.containers{web}", "kubelet, node-1",
              "Container image \"nginx\" already present on machine", "5m", 3, "web-0.17a9"]),
        # New-style event: no first/last timestamps, no count, reporting fields instead of source.
        ({"firstTimestamp": None, "lastTimestamp": None, "count": None, "source": {},
          "eventTime": "2024-05-01T11:58:00.000000Z", "reportingComponent": "default-scheduler",
          "reportingInstance": ""},
         ["2m", "Normal", "Pulled", "pod/web-0", "spec.containers{web}", "default-scheduler",
          "Container image \"nginx\" already present on machine", "2m", 1, "web-0.17a9"]),
        ({"series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}},
         ["10s", "Normal", "Pulled", "pod/web-0", "spec.containers{web}", "kubelet, node-1",
          "Container image \"nginx\" already present on machine", "5m", 7, "web-0.17a9"]),
        ({"involvedObject": {"kind": "Node"}, "firstTimestamp": None, "lastTimestamp": None},
         ["<unknown>", "Normal", "Pulled", "node", "", "kubelet, node-1",
          "Container image \"nginx\" already present on machine", "<unknown>", 3, "web-0.17a9"]),
    ],
)
def test_core_event_cells(changes: dict, expected: list) -> None:
    assert cells("", "events", {**CORE_EVENT, **changes}) == expected


def test_events_k8s_io_event_cells_match_core_printing() -> None:
    new = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "default", "creationTimestamp": ago(90)},
        "eventTime": "2024-05-01T11:58:30.500000Z", "reportingController": "deployment-controller",
        "reportingInstance": "ctrl-1", "action": "Scale", "reason": "ScalingReplicaSet",
        "regarding": {"kind": "Deployment", "name": "web", "namespace": "default", "apiVersion": "apps/v1"},
        "note": "Scaled up replica set web-7d4b9c to 3", "type": "Normal",
    }
    assert cells("events.k8s.io", "events", new) == [
        "89s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller, ctrl-1",
        "Scaled up replica set web-7d4b9c to 3", "89s", 1, "web.1"]
    legacy = {**new, "deprecatedSource": {"component": "kubelet"}, "deprecatedCount": 4,
              "deprecatedFirstTimestamp": ago(HOUR), "deprecatedLastTimestamp": ago(MINUTE)}
    assert cells("events.k8s.io", "events", legacy)[5:9] == ["kubelet, ctrl-1", legacy["note"], "60m", 4]
    assert cells("events.k8s.io", "events", legacy)[0] == "60s"


# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                    {"name": "log", "image": "busybox:1.36"}]}}
SELECTOR = {"matchLabels": {"app": "web", "tier": "fe"}}


def workload(spec: dict, status: dict | None = None, **meta) -> dict:
    return {"metadata": {"name": "web", "creationTimestamp": ago(5 * DAY), **meta}, "spec": spec,
            "status": status or {}}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (workload({"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
                  {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}),
         ["web", "2/3", 3, 2, "5d", "web,log", "nginx:1.27,busybox:1.36", "app=web,tier=fe"]),
        (workload({"selector": SELECTOR, "template": TEMPLATE}),
         ["web", "0/1", 0, 0, "5d", "web,log", "nginx:1.27,busybox:1.36", "app=web,tier=fe"]),
        (workload({"replicas": 0, "selector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]},
                   "template": TEMPLATE}),
         ["web", "0/0", 0, 0, "5d", "web,log", "nginx:1.27,busybox:1.36", "<invalid>"]),
        (workload({"replicas": 1, "selector": {}, "template": TEMPLATE}),
         ["web", "0/1", 0, 0, "5d", "web,log", "nginx:1.27,busybox:1.36", ""]),
    ],
)
def test_deployment_cells(obj: dict, expected: list) -> None:
    assert cells("apps", "deployments", obj) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                               {"key": "canary", "operator": "DoesNotExist"},
                               {"key": "app", "operator": "Exists"},
                               {"key": "tier", "operator": "NotIn", "values": ["db"]}]},
         "app,!canary,env in (dev,prod),tier notin (db)"),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": []}]}, "<error>"),
        ({"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["x"]}]}, "<error>"),
    ],
)
def test_format_label_selector(selector: dict | None, expected: str) -> None:
    assert tables.format_label_selector(selector) == expected


def test_replicaset_cells() -> None:
    obj = workload({"replicas": 3, "selector": SELECTOR, "template": TEMPLATE}, {"replicas": 3, "readyReplicas": 1})
    assert cells("apps", "replicasets", obj) == [
        "web", 3, 3, 1, "5d", "web,log", "nginx:1.27,busybox:1.36", "app=web,tier=fe"]


def test_daemonset_cells() -> None:
    spec = {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"},
                                  "containers": [{"name": "agent", "image": "agent:v2"}]}}}
    status = {"desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3,
              "updatedNumberScheduled": 2, "numberAvailable": 3}
    assert cells("apps", "daemonsets", workload(spec, status)) == [
        "web", 4, 4, 3, 2, 3, "disk=ssd,kubernetes.io/os=linux", "5d", "agent", "agent:v2", "app=agent"]
    spec["template"]["spec"].pop("nodeSelector")
    assert cells("apps", "daemonsets", workload(spec))[1:8] == [0, 0, 0, 0, 0, "<none>", "5d"]


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        ({"replicas": 3}, {"readyReplicas": 2}, ["web", "2/3", "5d", "web,log", "nginx:1.27,busybox:1.36"]),
        ({}, {}, ["web", "0/1", "5d", "web,log", "nginx:1.27,busybox:1.36"]),
    ],
)
def test_statefulset_cells(spec: dict, status: dict, expected: list) -> None:
    assert cells("apps", "statefulsets", workload({**spec, "template": TEMPLATE}, status)) == expected


def job(spec: dict | None = None, status: dict | None = None, **meta) -> dict:
    return workload({"template": TEMPLATE, "selector": {"matchLabels": {"batch.kubernetes.io/job-name": "web"}},
                     **(spec or {})}, status, **meta)


def cond(type_: str, status: str = "True") -> dict:
    return {"type": type_, "status": status}


@pytest.mark.parametrize(
    ("obj", "status", "completions", "duration"),
    [
        (job({"completions": 1, "parallelism": 1}, {"startTime": ago(4 * MINUTE), "active": 1}),
         "Running", "0/1", "4m"),
        (job({"completions": 3}, {"startTime": ago(HOUR), "completionTime": ago(HOUR - 42), "succeeded": 3,
                                  "conditions": [cond("SuccessCriteriaMet"), cond("Complete")]}),
         "Complete", "3/3", "42s"),
        (job({}, {}), "Running", "0/1", ""),
        (job({"parallelism": 5}, {"succeeded": 2}), "Running", "2/1 of 5", ""),
        (job({"parallelism": 1}, {}), "Running", "0/1", ""),
        (job({"completions": 2}, {"conditions": [cond("FailureTarget"), cond("Failed")]}),
         "Failed", "0/2", ""),
        (job({"completions": 2}, {"conditions": [cond("FailureTarget")]}), "FailureTarget", "0/2", ""),
        (job({"completions": 2, "suspend": True}, {"conditions": [cond("Suspended")]}), "Suspended", "0/2", ""),
        (job({"completions": 2}, {"conditions": [cond("Suspended", "False")]}), "Running", "0/2", ""),
        (job({"completions": 2}, {"conditions": [cond("Suspended")]}, deletionTimestamp=ago(1)),
         "Terminating", "0/2", ""),
    ],
)
def test_job_cells(obj: dict, status: str, completions: str, duration: str) -> None:
    assert cells("batch", "jobs", obj) == [
        "web", status, completions, duration, "5d", "web,log", "nginx:1.27,busybox:1.36",
        "batch.kubernetes.io/job-name=web"]


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        ({"schedule": "*/5 * * * *", "suspend": False}, {"active": [{"name": "web-1"}], "lastScheduleTime": ago(70)},
         ["web", "*/5 * * * *", "<none>", "False", 1, "70s", "5d"]),
        ({"schedule": "@daily", "timeZone": "Etc/UTC", "suspend": True}, {},
         ["web", "@daily", "Etc/UTC", "True", 0, "<none>", "5d"]),
        ({"schedule": "0 * * * *"}, {}, ["web", "0 * * * *", "<none>", "False", 0, "<none>", "5d"]),
    ],
)
def test_cronjob_cells(spec: dict, status: dict, expected: list) -> None:
    obj = workload({**spec, "jobTemplate": {"spec": {"template": TEMPLATE}}}, status)
    assert cells("batch", "cronjobs", obj) == [*expected, "web,log", "nginx:1.27,busybox:1.36", "<none>"]


# ---------------------------------------------------------------------------
# The Table envelope
# ---------------------------------------------------------------------------


def test_table_with_partial_object_metadata() -> None:
    p = pod(status={"phase": "Running", "containerStatuses": [running()]})
    out = tables.table(rt("", "pods"), [p], resource_version="42", continue_token="abc", now=NOW)
    assert out["kind"] == "Table"
    assert out["apiVersion"] == "meta.k8s.io/v1"
    assert out["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    assert [c["name"] for c in out["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    (row,) = out["rows"]
    assert row["cells"] == ["web-0", "1/1", "Running", "0", "3h5m", "<none>", "<none>", "<none>", "<none>"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": p["metadata"]}
    assert "conditions" not in row


@pytest.mark.parametrize("include", ["Object", "None", "Metadata", ""])
def test_include_object(include: str) -> None:
    cm = {"metadata": {"name": "cfg", "namespace": "default", **CREATED}, "data": {"k": "v"}}
    (row,) = tables.table(rt("", "configmaps"), [cm], include_object=include, now=NOW)["rows"]
    assert row["cells"] == ["cfg", 1, "10d"]
    if include == "Object":
        assert row["object"] == {"apiVersion": "v1", "kind": "ConfigMap", **cm}
    elif include == "None":
        assert "object" not in row
    else:
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert row["object"]["metadata"]["namespace"] == "default"


def test_invalid_include_object_is_rejected() -> None:
    with pytest.raises(ValueError, match="includeObject"):
        tables.table(rt("", "pods"), [], include_object="Everything")


def test_empty_table_and_no_headers() -> None:
    out = tables.table(rt("apps", "deployments"), [], now=NOW)
    assert out["rows"] == [] and out["metadata"] == {}
    assert len(out["columnDefinitions"]) == 8
    assert "columnDefinitions" not in tables.table(rt("apps", "deployments"), [], no_headers=True)


def test_rows_keep_input_order_and_age_uses_injected_clock() -> None:
    objs = [{"metadata": {"name": n, "creationTimestamp": ago(s)}, "data": {}} for n, s in
            [("b", 1), ("a", 3 * HOUR), ("c", 400 * DAY)]]
    out = tables.table(rt("", "configmaps"), objs, now=NOW)
    assert [r["cells"] for r in out["rows"]] == [["b", 0, "1s"], ["a", 0, "3h"], ["c", 0, "400d"]]
    later = tables.table(rt("", "configmaps"), objs, now=NOW + dt.timedelta(minutes=2))
    assert later["rows"][0]["cells"][2] == "2m1s"


def test_default_convertor_for_kinds_without_a_printer() -> None:
    other = registry.ResourceType("example.com", "v1", "Widget", "widgets", True)
    cols = tables.column_definitions(other)
    assert [(c["name"], c["type"]) for c in cols] == [("Name", "string"), ("Created At", "date")]
    assert tables.row_cells(other, {"metadata": {"name": "w", "creationTimestamp": "2024-01-02T03:04:05Z"}},
                            NOW) == ["w", "2024-01-02T03:04:05Z"]
