"""NodePorts: a pod's host ports must be free on the node.

A port is (hostIP, protocol, hostPort); hostIP 0.0.0.0 (or empty) binds every address, so it
conflicts with the same protocol/port on any IP, and any IP conflicts with it.
"""

from __future__ import annotations

from kubeling.scheduler import framework
from kubeling.scheduler.framework import CycleState, NodeInfo, Obj, Plugin, PreFilterResult, Status
from kubeling.scheduler.registry import register

NAME = "NodePorts"
PRE_FILTER_KEY = "PreFilter" + NAME
REASON = "node(s) didn't have free ports for the requested pod ports"
BIND_ALL = "0.0.0.0"

Port = tuple[str, str, int]  # (hostIP, protocol, hostPort), as NodeInfo.used_ports holds them


def wanted_ports(pod: Obj) -> list[Port]:
    """The host ports the pod's containers ask for (hostPort > 0), sanitized."""
    ports = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            port = int(p.get("hostPort") or 0)
            if port > 0:
                ports.append((p.get("hostIP") or BIND_ALL, p.get("protocol") or "TCP", port))
    return ports


def conflicts(used: set[Port], port: Port) -> bool:
    ip, protocol, number = port
    if number <= 0:
        return False
    if ip == BIND_ALL:
        return any(u[1] == protocol and u[2] == number for u in used)
    return (BIND_ALL, protocol, number) in used or port in used


def fits_ports(ports: list[Port], node_info: NodeInfo) -> bool:
    used = node_info.used_ports
    return not used or not any(conflicts(used, p) for p in ports)


@register
class NodePorts(Plugin):
    name = NAME

    def pre_filter(self, state: CycleState, pod: Obj) -> tuple[PreFilterResult | None, Status]:
        ports = wanted_ports(pod)
        if not ports:
            return None, framework.skip()
        state[PRE_FILTER_KEY] = ports
        return None, framework.SUCCESS

    def filter(self, state: CycleState, pod: Obj, node_info: NodeInfo) -> Status:
        ports = state.get(PRE_FILTER_KEY)
        if ports is None:
            ports = wanted_ports(pod)
        if fits_ports(ports, node_info):
            return framework.SUCCESS
        return framework.unschedulable(REASON)

    def events_to_register(self) -> list[str]:
        return ["NodeAdd", "AssignedPodDelete"]  # a new node, or a pod freeing its ports
