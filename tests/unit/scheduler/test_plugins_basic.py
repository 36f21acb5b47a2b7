"""Table-driven tests for the basic scheduler plugins: NodeUnschedulable, NodeName, NodePorts,
NodeResourcesFit, NodeResourcesBalancedAllocation, TaintToleration and ImageLocality.

Most tables are ported from kube-scheduler's own plugin tests (same inputs, same expected
reasons and scores); the arithmetic behind each expected score is spelled out next to it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from kubeling.scheduler import framework as fw
from kubeling.scheduler.framework import Code, CycleState, Handle, NodeInfo, PodInfo, Snapshot
from kubeling.scheduler.plugins import resource_scoring as rs
from kubeling.scheduler.plugins.balanced_allocation import NodeResourcesBalancedAllocation
from kubeling.scheduler.plugins.image_locality import MB, ImageLocality, normalize_image
from kubeling.scheduler.plugins.node_name import NodeName
from kubeling.scheduler.plugins.node_ports import NodePorts
from kubeling.scheduler.plugins.node_resources_fit import NodeResourcesFit
from kubeling.scheduler.plugins.node_unschedulable import NodeUnschedulable
from kubeling.scheduler.plugins.taint_toleration import TaintToleration
from kubeling.scheduler.registry import PLUGINS

_uids = itertools.count()


# ---- builders ---------------------------------------------------------------------------------------


def node(name: str = "node1", alloc: dict[str, str] | None = None, *, taints: list[dict] | None = None,
         unschedulable: bool = False, images: list[tuple[list[str], int]] | None = None) -> dict:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    status: dict[str, Any] = {"allocatable": dict(alloc or {}), "capacity": dict(alloc or {})}
    if images:
        status["images"] = [{"names": names, "sizeBytes": size} for names, size in images]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec, "status": status}


def container(requests: dict[str, str] | None = None, *, image: str = "busybox", ports: list[dict] | None = None,
              restart_policy: str | None = None) -> dict:
    c: dict[str, Any] = {"name": f"c{next(_uids)}", "image": image}
    if requests is not None:
        c["resources"] = {"requests": requests}
    if ports:
        c["ports"] = ports
    if restart_policy:
        c["restartPolicy"] = restart_policy
    return c


def pod(*containers: dict, init: list[dict] | None = None, overhead: dict[str, str] | None = None,
        node_name: str = "", tolerations: list[dict] | None = None) -> dict:
    n = next(_uids)
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    if node_name:
        spec["nodeName"] = node_name
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{n}", "namespace": "default", "uid": f"uid-{n}"}, "spec": spec}


def req_pod(*requests: dict[str, str], **kw: Any) -> dict:
    """A pod with one container per request list."""
    return pod(*(container(r) for r in requests), **kw)


def info(n: dict, *pods: dict) -> NodeInfo:
    ni = NodeInfo.of(n)
    for p in pods:
        ni.add_pod(PodInfo.of(p))
    return ni


def make(plugin_cls: type, infos: list[NodeInfo], args: dict | None = None):
    return plugin_cls(Handle(Snapshot(infos)), args)


def run_filter(plugin, p: dict, ni: NodeInfo) -> fw.Status:
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        _, status = plugin.pre_filter(state, p)
        if status.code == Code.SKIP:
            return fw.SUCCESS
        assert status.ok, status
    return plugin.filter(state, p, ni)


def run_scores(plugin, p: dict, infos: list[NodeInfo]) -> dict[str, int]:
    state = CycleState()
    if hasattr(plugin, "pre_score"):
        status = plugin.pre_score(state, p, infos)
        if status.code == Code.SKIP:  # the framework leaves the plugin out: it adds 0 everywhere
            return {ni.name: 0 for ni in infos}
        assert status.ok
    scores = {}
    for ni in infos:
        value, status = plugin.score(state, p, ni)
        assert status.ok, status
        scores[ni.name] = value
    if hasattr(plugin, "normalize_score"):
        plugin.normalize_score(state, p, scores)
    return scores


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict:
    t = {"key": key, "effect": effect}
    if value:
        t["value"] = value
    return t


def toleration(key: str = "", value: str = "", effect: str = "", operator: str = "") -> dict:
    t = {}
    for k, v in (("key", key), ("value", value), ("effect", effect), ("operator", operator)):
        if v:
            t[k] = v
    return t


# ---- registry and events ----------------------------------------------------------------------------

EVENTS = {"NodeAdd", "NodeUpdate", "NodeLabelChange", "NodeTaintChange", "NodeAllocatableChange",
          "NodeUnschedulableChange", "AssignedPodAdd", "AssignedPodUpdate", "AssignedPodDelete"}


@pytest.mark.parametrize("cls,expected", [
    (NodeUnschedulable, {"NodeAdd", "NodeUnschedulableChange", "NodeTaintChange"}),
    (NodeName, {"NodeAdd"}),
    (NodePorts, {"NodeAdd", "AssignedPodDelete"}),
    (NodeResourcesFit, {"NodeAdd", "NodeAllocatableChange", "AssignedPodDelete"}),
    (NodeResourcesBalancedAllocation, set()),
    (TaintToleration, {"NodeAdd", "NodeTaintChange"}),
    (ImageLocality, set()),
])
def test_registered_with_kubernetes_name_and_events(cls, expected):
    assert PLUGINS[cls.name] is cls
    events = set(make(cls, []).events_to_register())
    assert events == expected
    assert events <= EVENTS


# ---- NodeName ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("node_name,ok", [("", True), ("foo", True), ("bar", False)])
def test_node_name(node_name, ok):
    status = run_filter(make(NodeName, []), pod(container(), node_name=node_name), info(node("foo")))
    if ok:
        assert status.ok
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) didn't match the requested node name"]


# ---- NodeUnschedulable ------------------------------------------------------------------------------

UNSCHEDULABLE_KEY = "node.kubernetes.io/unschedulable"


@pytest.mark.parametrize("unschedulable,tolerations,ok", [
    (False, None, True),
    (True, None, False),
    (True, [toleration(UNSCHEDULABLE_KEY, effect="NoSchedule", operator="Exists")], True),
    (True, [toleration(operator="Exists")], True),  # empty key + Exists tolerates everything
    (True, [toleration(UNSCHEDULABLE_KEY, effect="NoExecute", operator="Exists")], False),
    (True, [toleration(UNSCHEDULABLE_KEY, value="x", effect="NoSchedule")], False),  # Equal "" != "x"
])
def test_node_unschedulable(unschedulable, tolerations, ok):
    status = run_filter(make(NodeUnschedulable, []), pod(container(), tolerations=tolerations),
                        info(node(unschedulable=unschedulable)))
    if ok:
        assert status.ok
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) were unschedulable"]


# ---- NodePorts --------------------------------------------------------------------------------------


def port_pod(*specs: str) -> dict:
    """Ports as "PROTO/IP/PORT" (IP may be empty)."""
    ports = []
    for s in specs:
        proto, ip, number = s.split("/")
        p = {"containerPort": int(number), "hostPort": int(number), "protocol": proto}
        if ip:
            p["hostIP"] = ip
        ports.append(p)
    return pod(container(ports=ports))


@pytest.mark.parametrize("wanted,existing,ok", [
    (["UDP/127.0.0.1/8080"], [], True),
    (["UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/9090"], True),
    (["UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/8080"], False),
    (["TCP/127.0.0.1/8080"], ["TCP/127.0.0.1/8080"], False),
    (["TCP/127.0.0.1/8080"], ["TCP/127.0.0.2/8080"], True),
    (["UDP/127.0.0.1/8080"], ["TCP/127.0.0.1/8080"], True),
    (["UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"], ["UDP/127.0.0.1/8080"], False),
    (["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"], ["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"], False),
    (["TCP/0.0.0.0/8001"], ["TCP/127.0.0.1/8001"], False),
    (["TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"], ["TCP/127.0.0.1/8001"], False),
    (["TCP/127.0.0.1/8001"], ["TCP/0.0.0.0/8001"], False),
    (["UDP/127.0.0.1/8001"], ["TCP/0.0.0.0/8001"], True),
    (["UDP/127.0.0.1/8001"], ["TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"], False),
    (["TCP//8001"], ["TCP/10.1.1.1/8001"], False),  # empty hostIP binds all addresses
])
def test_node_ports(wanted, existing, ok):
    ni = info(node(), port_pod(*existing)) if existing else info(node())
    status = run_filter(make(NodePorts, [ni]), port_pod(*wanted), ni)
    if ok:
        assert status.ok
    else:
        assert status.code == Code.UNSCHEDULABLE
        assert status.reasons == ["node(s) didn't have free ports for the requested pod ports"]


def test_node_ports_skips_pods_without_host_ports():
    plugin = make(NodePorts, [])
    p = pod(container(ports=[{"containerPort": 80}]))
    _, status = plugin.pre_filter(CycleState(), p)
    assert status.code == Code.SKIP


def test_node_ports_default_protocol_is_tcp():
    existing = pod(container(ports=[{"containerPort": 80, "hostPort": 80}]))
    ni = info(node(), existing)
    assert not run_filter(make(NodePorts, [ni]), port_pod("TCP/0.0.0.0/80"), ni).ok
    assert run_filter(make(NodePorts, [ni]), port_pod("UDP/0.0.0.0/80"), ni).ok


# ---- NodeResourcesFit: Filter (TestEnoughRequests) --------------------------------------------------

EXT_A, EXT_B, K8S_IO, HUGE = "example.com/aaa", "example.com/bbb", "kubernetes.io/something", "hugepages-2Mi"
# makeAllocatableResources(10, 20, 32, 5, 20, 5): 10m cpu, 20 bytes memory, 32 pods, ...
SMALL = {"cpu": "10m", "memory": "20", "pods": "32", EXT_A: "5", "ephemeral-storage": "20", HUGE: "5"}


def r(cpu: int = 0, mem: int = 0, extra: dict[str, int] | None = None) -> dict[str, str]:
    """Requests in millicores and bytes, plus other resources by name."""
    return {"cpu": f"{cpu}m", "memory": str(mem), **{k: str(v) for k, v in (extra or {}).items()}}


@pytest.mark.parametrize("name,p,existing,args,reasons", [
    ("no resources requested always fits", req_pod(), r(10, 20), None, []),
    ("too many resources fails", req_pod(r(1, 1)), r(10, 20), None, ["Insufficient cpu", "Insufficient memory"]),
    ("init container cpu", req_pod(r(1, 1), init=[container(r(3, 1))]), r(8, 19), None, ["Insufficient cpu"]),
    ("highest init container cpu", req_pod(r(1, 1), init=[container(r(3, 1)), container(r(2, 1))]),
     r(8, 19), None, ["Insufficient cpu"]),
    ("init container memory", req_pod(r(1, 1), init=[container(r(1, 3))]), r(9, 19), None,
     ["Insufficient memory"]),
    ("init containers take the max, not the sum", req_pod(r(1, 1), init=[container(r(1, 1)), container(r(1, 1))]),
     r(9, 19), None, []),
    ("both resources fit", req_pod(r(1, 1)), r(5, 5), None, []),
    ("one resource memory fits", req_pod(r(2, 1)), r(9, 5), None, ["Insufficient cpu"]),
    ("one resource cpu fits", req_pod(r(1, 2)), r(5, 19), None, ["Insufficient memory"]),
    ("equal edge case", req_pod(r(5, 1)), r(5, 19), None, []),
    ("extended resource fits", req_pod(r(0, 0, {EXT_A: 1})), r(0, 0), None, []),
    ("extended resource capacity enforced", req_pod(r(0, 0, {EXT_A: 10})), r(0, 0), None,
     [f"Insufficient {EXT_A}"]),
    ("extended resource used counts", req_pod(r(0, 0, {EXT_A: 3})), r(0, 0, {EXT_A: 3}), None,
     [f"Insufficient {EXT_A}"]),
    ("unknown extended resource", req_pod(r(0, 0, {EXT_B: 1})), r(0, 0), None, [f"Insufficient {EXT_B}"]),
    ("ignored extended resource", req_pod(r(0, 0, {EXT_B: 1})), r(0, 0),
     {"ignoredResources": [EXT_B]}, []),
    ("ignored resource group", req_pod(r(0, 0, {EXT_B: 1})), r(0, 0),
     {"ignoredResourceGroups": ["example.com"]}, []),
    ("kubernetes.io resources are never ignored", req_pod(r(0, 0, {K8S_IO: 1})), r(0, 0),
     {"ignoredResources": [K8S_IO]}, [f"Insufficient {K8S_IO}"]),
    ("hugepages enforced", req_pod(r(0, 0, {HUGE: 6})), r(0, 0), None, [f"Insufficient {HUGE}"]),
    ("ephemeral storage enforced", req_pod({"ephemeral-storage": "25"}), r(0, 0), None,
     ["Insufficient ephemeral-storage"]),
    ("requests + overhead fits", req_pod(r(1, 1), overhead=r(3, 13)), r(5, 5), None, []),
    ("requests + overhead does not fit memory", req_pod(r(1, 1), overhead=r(1, 15)), r(5, 5), None,
     ["Insufficient memory"]),
    ("sidecar counts during later init containers",
     req_pod(r(1, 1), init=[container(r(2, 0), restart_policy="Always"), container(r(3, 0))]), r(6, 0), None,
     ["Insufficient cpu"]),
    ("sidecar fits", req_pod(r(1, 1), init=[container(r(2, 0), restart_policy="Always"), container(r(3, 0))]),
     r(5, 0), None, []),
])
def test_fit_filter(name, p, existing, args, reasons):
    ni = info(node(alloc=SMALL), req_pod(existing))
    status = run_filter(make(NodeResourcesFit, [ni], args), p, ni)
    if not reasons:
        assert status.ok, status
    else:
        assert status.code == Code.UNSCHEDULABLE
        assert status.reasons == reasons


@pytest.mark.parametrize("existing_pods,p,reasons", [
    (1, req_pod(), ["Too many pods"]),
    (1, req_pod(r(1, 1)), ["Too many pods"]),
    (1, req_pod(r(11, 1)), ["Too many pods", "Insufficient cpu"]),
    (0, req_pod(r(11, 1)), ["Insufficient cpu"]),
])
def test_fit_filter_pod_count(existing_pods, p, reasons):
    ni = info(node(alloc={**SMALL, "pods": "1"}), *(req_pod() for _ in range(existing_pods)))
    status = run_filter(make(NodeResourcesFit, [ni]), p, ni)
    assert status.code == Code.UNSCHEDULABLE
    assert status.reasons == reasons


def test_fit_prefilter_computes_request_once():
    plugin = make(NodeResourcesFit, [])
    state = CycleState()
    p = req_pod(r(1, 1), init=[container(r(4, 0))], overhead=r(1, 0))
    plugin.pre_filter(state, p)
    request = state["PreFilterNodeResourcesFit"]
    assert (request.milli_cpu, request.memory) == (5, 1)
    # The filter reads the state, not the pod: a doctored state decides.
    state["PreFilterNodeResourcesFit"] = fw.Resources(milli_cpu=100)
    assert plugin.filter(state, p, info(node(alloc=SMALL))).reasons == ["Insufficient cpu"]


@pytest.mark.parametrize("args,error", [
    ({"scoringStrategy": {"type": "Random"}}, "Unsupported value"),
    ({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 101}]}}, "should be in range"),
    ({"scoringStrategy": {"resources": [{"name": "cpu", "weight": -1}]}}, "should be in range"),
    ({"ignoredResourceGroups": ["example.com/aaa"]}, "can't contain '/'"),
    ({"scoringStrategy": {"type": "RequestedToCapacityRatio",
                          "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 1},
                                                                 {"utilization": 10, "score": 2}]}}},
     "increasing"),
])
def test_fit_rejects_invalid_args(args, error):
    with pytest.raises(ValueError, match=error):
        make(NodeResourcesFit, [], args)


# ---- NodeResourcesFit: Score ------------------------------------------------------------------------


def cores(cpu: str, mem: str, ext: str = "") -> dict[str, str]:
    """Amounts as the Kubernetes tests give them: cpu in cores, memory in bytes, EXT units."""
    return {"cpu": cpu, "memory": mem, **({EXT: ext} if ext else {})}


def cap(cpu: str, mem: str, ext: str = "") -> dict[str, str]:
    return {**cores(cpu, mem, ext), "pods": "110"}


EXT = "intel.com/foo"
TWO_CONTAINERS = req_pod(cores("1000", "2000"), cores("2000", "3000"))  # 3000 cores, 5000 bytes
NO_CONTAINERS = pod()
DEFAULT_RES = [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
EXT_RES = DEFAULT_RES + [{"name": EXT, "weight": 1}]


def scored(plugin_cls, p, nodes_and_pods, args=None):
    infos = [info(n, *pods) for n, pods in nodes_and_pods]
    return list(run_scores(make(plugin_cls, infos, args), p, infos).values())


def _strategy(kind, resources=None, shape=None):
    s: dict[str, Any] = {"type": kind, "resources": resources or DEFAULT_RES}
    if shape is not None:
        s["requestedToCapacityRatio"] = {"shape": shape}
    return {"scoringStrategy": s}


@pytest.mark.parametrize("name,p,nodes,args,expected", [
    # cpu 100, mem 100 on both
    ("nothing scheduled, nothing requested", NO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("4000", "10000")), [])], None, [100, 100]),
    # n1: cpu (4000-3000)*100/4000 = 25, mem 50 -> 37; n2: cpu 50, mem 50 -> 50
    ("nothing scheduled, resources requested, differently sized nodes", TWO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("6000", "10000")), [])], None, [37, 50]),
    # n1: cpu 40, mem 100 -> 70; n2: cpu 40, mem 75 -> 57
    ("no resources requested, pods scheduled with resources", NO_CONTAINERS,
     [(node("n1", cap("10000", "20000")), [req_pod(cores("3000", "0")), req_pod(cores("3000", "0"))]),
      (node("n2", cap("10000", "20000")), [req_pod(cores("3000", "0")), req_pod(cores("3000", "5000"))])],
     None, [70, 57]),
    # n1: cpu 40, mem 75 -> 57; n2: cpu 40, mem 50 -> 45
    ("resources requested, pods scheduled with resources", TWO_CONTAINERS,
     [(node("n1", cap("10000", "20000")), [req_pod(cores("3000", "0"))]),
      (node("n2", cap("10000", "20000")), [req_pod(cores("3000", "5000"))])], None, [57, 45]),
    # n2: mem (50000-10000)*100/50000 = 80 -> (40+80)/2 = 60
    ("resources requested, pods scheduled with resources, differently sized nodes", TWO_CONTAINERS,
     [(node("n1", cap("10000", "20000")), [req_pod(cores("3000", "0"))]),
      (node("n2", cap("10000", "50000")), [req_pod(cores("3000", "5000"))])], None, [57, 60]),
    # cpu over capacity scores 0
    ("requested resources exceed node capacity", req_pod(cores("3000", "0")),
     [(node("n1", cap("4000", "10000")), [req_pod(cores("3000", "0"))]),
      (node("n2", cap("4000", "10000")), [req_pod(cores("3000", "5000"))])], None, [50, 25]),
    ("zero node resources", NO_CONTAINERS,
     [(node("n1", {"pods": "110"}), [req_pod(cores("3000", "0"))]),
      (node("n2", {"pods": "110"}), [req_pod(cores("3000", "5000"))])], None, [0, 0]),
    # (25*1 + 50*2) / 3 = 41; (50 + 100) / 3 = 50
    ("different weights", TWO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("6000", "10000")), [])],
     _strategy("LeastAllocated", [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}]), [41, 50]),
    ("bypass extended resource the pod does not request", TWO_CONTAINERS,
     [(node("n1", cap("6000", "10000")), []), (node("n2", cap("6000", "10000", ext="4")), [])],
     _strategy("LeastAllocated", EXT_RES), [50, 50]),
    # ext: (4-2)*100/4 = 50 and (10-2)*100/10 = 80 -> (50+50+50)/3 = 50, (50+50+80)/3 = 60
    ("honor extended resource the pod requests", req_pod(cores("3000", "5000", ext="2")),
     [(node("n1", cap("6000", "10000", ext="4")), []),
      (node("n2", cap("6000", "10000", ext="10")), [])],
     _strategy("LeastAllocated", EXT_RES), [50, 60]),
    # MostAllocated: n1 cpu 75, mem 50 -> 62; n2 50, 50 -> 50
    ("most allocated, differently sized nodes", TWO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("6000", "10000")), [])],
     _strategy("MostAllocated"), [62, 50]),
    # MostAllocated clamps requested to capacity: cpu 100, mem 50 -> 75
    ("most allocated, requests above capacity", req_pod(cores("5000", "5000")),
     [(node("n1", cap("4000", "10000")), [])], _strategy("MostAllocated"), [75]),
    # MostAllocated with existing pods: cpu (3000+6000)/10000 = 90, mem (5000+5000)/20000 = 50 -> 70
    ("most allocated, pods scheduled with resources", TWO_CONTAINERS,
     [(node("n1", cap("10000", "20000")), [req_pod(cores("6000", "5000"))])], _strategy("MostAllocated"), [70]),
    # RTCR, shape (0,10)->(100,0) i.e. least-allocated-like: n1 cpu util 75 -> 25, mem 50 -> 50,
    # round(37.5) = 38 (Go rounds halves away from zero); n2: 50, 50
    ("requested to capacity ratio, decreasing shape", TWO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("6000", "10000")), [])],
     _strategy("RequestedToCapacityRatio", shape=[{"utilization": 0, "score": 10},
                                                 {"utilization": 100, "score": 0}]), [38, 50]),
    # RTCR, decreasing shape: cpu util 75 -> 25, mem util 52 -> 48; round(36.5) = 37 in Go (banker's: 36)
    ("requested to capacity ratio, Go rounding", req_pod(cores("3000", "5200")),
     [(node("n1", cap("4000", "10000")), [])],
     _strategy("RequestedToCapacityRatio", shape=[{"utilization": 0, "score": 10},
                                                 {"utilization": 100, "score": 0}]), [37]),
    # RTCR, default shape (0,0)->(100,10): memory 0 scores 0 and is left out of the average
    ("requested to capacity ratio, zero-score resource ignored", req_pod(cores("2000", "0")),
     [(node("n1", cap("4000", "10000")), [])],
     _strategy("RequestedToCapacityRatio", shape=[{"utilization": 0, "score": 0},
                                                 {"utilization": 100, "score": 10}]), [50]),
    # RTCR with a bend: util 75 on (0,0)->(50,10)->(100,0) -> 100 + (0-100)*25/50 = 50
    ("requested to capacity ratio, broken line", req_pod(cores("3000", "0")),
     [(node("n1", cap("4000", "10000")), [])],
     _strategy("RequestedToCapacityRatio", [{"name": "cpu", "weight": 1}],
               [{"utilization": 0, "score": 0}, {"utilization": 50, "score": 10},
                {"utilization": 100, "score": 0}]), [50]),
])
def test_fit_score(name, p, nodes, args, expected):
    assert scored(NodeResourcesFit, p, nodes, args) == expected


def test_fit_score_uses_default_requests_for_containers_without_them():
    # The pod asks for nothing: it counts as 100m cpu and 200Mi memory for scoring.
    n = node("n1", cap("1", str(1000 * 1024 * 1024)))
    # cpu (1000-100)*100/1000 = 90, mem (1000-200)*100/1000 = 80 -> 85
    assert scored(NodeResourcesFit, pod(container()), [(n, [])]) == [85]
    # Init containers get the defaults too and take part in the max: cpu 500m, mem 200Mi -> 50, 80 -> 65
    p = pod(container(), init=[container({"cpu": "500m"})])
    assert scored(NodeResourcesFit, p, [(n, [])]) == [65]


def test_non_zero_requests():
    got = rs.non_zero_requests(pod(container({"memory": "0"}), container({"cpu": "1"}),
                                   init=[container({"cpu": "3"})], overhead={"cpu": "250m"}))
    assert (got.milli_cpu, got.memory) == (3250, fw.DEFAULT_MEMORY_REQUEST)


# ---- NodeResourcesBalancedAllocation ----------------------------------------------------------------


@pytest.mark.parametrize("name,p,nodes,args,expected", [
    ("nothing scheduled, nothing requested", NO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("4000", "10000")), [])], None, [100, 100]),
    # n1: fractions 0.75, 0.5 -> std 0.125 -> 87; n2: 0.5, 0.5 -> 100
    ("nothing scheduled, resources requested, differently sized nodes", TWO_CONTAINERS,
     [(node("n1", cap("4000", "10000")), []), (node("n2", cap("6000", "10000")), [])], None, [87, 100]),
    # n1: 0.6, 0.25 -> std 0.175 -> 82; n2: 0.6, 0.5 -> std 0.05 -> 95
    ("resources requested, pods scheduled with resources", TWO_CONTAINERS,
     [(node("n1", cap("10000", "20000")), [req_pod(cores("3000", "0"))]),
      (node("n2", cap("10000", "20000")), [req_pod(cores("3000", "5000"))])], None, [82, 95]),
    # fractions are capped at 1: cpu 1.0 (6000/4000), mem 0.5 -> 75
    ("requested resources exceed node capacity", req_pod(cores("3000", "0")),
     [(node("n1", cap("4000", "10000")), [req_pod(cores("3000", "5000"))])], None, [75]),
    # BestEffort: real requests (zero), not scoring defaults: 0, 0 -> 100
    ("best effort pod on an empty node", pod(container()),
     [(node("n1", cap("4000", "10000")), [])], None, [100]),
    # three resources: 0.6, 0.5, 0.2 -> mean 13/30, std sqrt(((1/6)^2 + (1/15)^2 + (7/30)^2)/3) = 0.17 -> 83
    ("three resources", req_pod(cores("3000", "5000", ext="2")),
     [(node("n1", cap("5000", "10000", ext="10")), [])], {"resources": EXT_RES}, [83]),
    # extended resource the pod doesn't request is left out: 0.6, 0.5 -> 95
    ("extended resource not requested", req_pod(cores("3000", "5000")),
     [(node("n1", cap("5000", "10000", ext="10")), [])], {"resources": EXT_RES}, [95]),
])
def test_balanced_allocation_score(name, p, nodes, args, expected):
    assert scored(NodeResourcesBalancedAllocation, p, nodes, args) == expected


# ---- scoring arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize("fn,args,expected", [
    (rs.go_div, (-100, 7), -14),
    (rs.go_div, (100, 7), 14),
    (rs.go_div, (-7, 7), -1),
    (rs.go_round, (36.5,), 37),
    (rs.go_round, (37.5,), 38),
    (rs.go_round, (-2.5,), -3),
    (rs.go_round, (2.4,), 2),
])
def test_go_arithmetic(fn, args, expected):
    assert fn(*args) == expected


def test_broken_linear_truncates_toward_zero():
    f = rs.broken_linear(rs.parse_shape([{"utilization": 0, "score": 10}, {"utilization": 7, "score": 0}]))
    assert [f(0), f(1), f(7), f(100)] == [100, 86, 0, 0]  # 100 + (-100*1)/7 = 100 - 14


@pytest.mark.parametrize("name,expected", [
    ("example.com/gpu", True), ("hugepages-2Mi", True), ("kubernetes.io/something", True),
    ("attachable-volumes-aws-ebs", True), ("cpu", False), ("memory", False), ("requests.example.com/x", False),
])
def test_scalar_resource_names(name, expected):
    assert rs.is_scalar_resource_name(name) is expected


# ---- TaintToleration --------------------------------------------------------------------------------


@pytest.mark.parametrize("tolerations,taints,reason", [
    ([], [taint("dedicated", "user1")], "node(s) had untolerated taint {dedicated: user1}"),
    ([toleration("dedicated", "user1", "NoSchedule")], [taint("dedicated", "user1")], None),
    ([toleration("dedicated", "user2", "NoSchedule")], [taint("dedicated", "user1")],
     "node(s) had untolerated taint {dedicated: user1}"),
    ([toleration("foo", effect="NoSchedule", operator="Exists")], [taint("foo", "bar")], None),
    ([toleration("dedicated", "user2", "NoSchedule"), toleration("foo", effect="NoSchedule", operator="Exists")],
     [taint("dedicated", "user2"), taint("foo", "bar")], None),
    ([toleration("foo", "bar", "PreferNoSchedule")], [taint("foo", "bar")], "node(s) had untolerated taint {foo: bar}"),
    ([toleration("foo", "bar")], [taint("foo", "bar")], None),  # empty effect matches all effects
    ([], [taint("foo", "bar", "PreferNoSchedule")], None),  # only NoSchedule/NoExecute filter
    ([], [taint("foo", "bar", "NoExecute")], "node(s) had untolerated taint {foo: bar}"),
    ([toleration(operator="Exists")], [taint("a", "1"), taint("b", "2", "NoExecute")], None),
    ([toleration(effect="NoSchedule", operator="Exists")], [taint("a", "1"), taint("b", "2", "NoExecute")],
     "node(s) had untolerated taint {b: 2}"),
    ([], [taint("node-role.kubernetes.io/control-plane")],
     "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
    ([toleration("node-role.kubernetes.io/control-plane", operator="Equal")],
     [taint("node-role.kubernetes.io/control-plane")], None),
    ([toleration("a", "1", "NoSchedule")], [taint("a", "1"), taint("c", "3"), taint("d", "4")],
     "node(s) had untolerated taint {c: 3}"),  # the first untolerated one, in node order
])
def test_taint_toleration_filter(tolerations, taints, reason):
    status = run_filter(make(TaintToleration, []), pod(container(), tolerations=tolerations), info(node(taints=taints)))
    if reason is None:
        assert status.ok
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [reason]


P = "PreferNoSchedule"


@pytest.mark.parametrize("name,tolerations,node_taints,expected", [
    ("tolerated taints score higher than intolerable ones", [toleration("foo", "bar", P)],
     [[taint("foo", "bar", P)], [taint("foo", "blah", P)]], [100, 0]),
    ("all-tolerated nodes score the same whatever the count",
     [toleration("cpu-type", "arm64", P), toleration("disk-type", "ssd", P)],
     [[], [taint("cpu-type", "arm64", P)], [taint("cpu-type", "arm64", P), taint("disk-type", "ssd", P)]],
     [100, 100, 100]),
    ("the more intolerable taints, the lower the score", [toleration("foo", "bar", P)],
     [[], [taint("cpu-type", "arm64", P)], [taint("cpu-type", "arm64", P), taint("disk-type", "ssd", P)]],
     [100, 50, 0]),
    ("only PreferNoSchedule taints and tolerations count",
     [toleration("cpu-type", "arm64", "NoSchedule"), toleration("disk-type", "ssd", "NoSchedule")],
     [[], [taint("cpu-type", "arm64", "NoSchedule")],
      [taint("cpu-type", "arm64", P), taint("disk-type", "ssd", P)]], [100, 100, 0]),
    ("a toleration without effect also tolerates PreferNoSchedule", [toleration("foo", "bar")],
     [[taint("foo", "bar", P)], []], [100, 100]),
    ("no taints and tolerations: the untainted node wins", [], [[], [taint("cpu-type", "arm64", P)]], [100, 0]),
    # counts 0, 1, 3 -> 100 - 100*c/3 = 100, 67, 0
    ("integer normalization", [], [[], [taint("a", "", P)], [taint("a", "", P), taint("b", "", P), taint("c", "", P)]],
     [100, 67, 0]),
])
def test_taint_toleration_score(name, tolerations, node_taints, expected):
    nodes = [(node(f"n{i}", taints=t), []) for i, t in enumerate(node_taints)]
    assert scored(TaintToleration, pod(container(), tolerations=tolerations), nodes) == expected


# ---- ImageLocality ----------------------------------------------------------------------------------

NODE_40_300_2000 = node("n1", images=[(["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40 * MB),
                                      (["gcr.io/300:latest", "gcr.io/300:v1"], 300 * MB),
                                      (["gcr.io/2000:latest"], 2000 * MB)])
NODE_250_10 = node("n2", images=[(["gcr.io/250:latest"], 250 * MB), (["gcr.io/10:latest", "gcr.io/10:v1"], 10 * MB)])
NODE_EMPTY = node("n3")


def image_pod(*images: str, init: tuple[str, ...] = ()) -> dict:
    return pod(*(container(image=i) for i in images), init=[container(image=i) for i in init] or None)


@pytest.mark.parametrize("name,p,nodes,expected", [
    # n1: 40MB * 1/2 = 20MB < 23MB -> 0; n2: 250MB/2 = 125MB -> 100*(125-23)/(2000-23) = 5
    ("two images spread on two nodes, prefer the larger image one", image_pod("gcr.io/40", "gcr.io/250"),
     [NODE_40_300_2000, NODE_250_10], [0, 5]),
    # n1: (40+300)/2 = 170MB -> 100*147/1977 = 7
    ("two images on one node, prefer this node", image_pod("gcr.io/40", "gcr.io/300"),
     [NODE_40_300_2000, NODE_250_10], [7, 0]),
    # n1: 2000MB/2 = 1000MB -> 100*977/1977 = 49; n2: 10MB/2 -> 0
    ("large image", image_pod("gcr.io/10", "gcr.io/2000"), [NODE_40_300_2000, NODE_250_10], [49, 0]),
    # n1: 2000MB/3 -> 100*(699050666-23MB)/(2000MB-23MB) = 32
    ("large image, with a node without images", image_pod("gcr.io/10", "gcr.io/2000"),
     [NODE_40_300_2000, NODE_250_10, NODE_EMPTY], [32, 0, 0]),
    # one container: 2000MB/2 = 1000MB hits the max threshold
    ("above the per-container maximum", image_pod("gcr.io/2000"), [NODE_40_300_2000, NODE_250_10], [100, 0]),
    ("init containers count", image_pod("gcr.io/40", init=("gcr.io/300",)), [NODE_40_300_2000, NODE_250_10], [7, 0]),
    ("tags must match", image_pod("gcr.io/300:v2"), [NODE_40_300_2000, NODE_250_10], [0, 0]),
    # docker.io short names: 600MB on one of two nodes -> 300MB -> 100*277/977 = 28
    ("short names match fully qualified node images", image_pod("nginx"),
     [node("a", images=[(["docker.io/library/nginx:latest"], 600 * MB)]), node("b")], [28, 0]),
])
def test_image_locality_score(name, p, nodes, expected):
    assert scored(ImageLocality, p, [(n, []) for n in nodes]) == expected
    # The batch form, from the node table's image columns, gives the same scores.
    infos = [info(n) for n in nodes]
    plugin = make(ImageLocality, infos)
    state = CycleState()
    plugin.pre_score(state, p, infos)
    assert [int(v) for v in plugin.score_nodes(state, p, infos)] == expected


@pytest.mark.parametrize("name,normalized", [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx:1.25"),
    ("library/nginx", "docker.io/library/nginx:latest"),
    ("docker.io/nginx", "docker.io/library/nginx:latest"),
    ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
    ("user/app:v1", "docker.io/user/app:v1"),
    ("gcr.io/pause", "gcr.io/pause:latest"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("nginx@sha256:abcd", "docker.io/library/nginx@sha256:abcd"),
])
def test_normalize_image(name, normalized):
    assert normalize_image(name) == normalized
