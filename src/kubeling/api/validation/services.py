"""Service, Endpoints and EndpointSlice (pkg/apis/core/validation, pkg/apis/discovery/validation)."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeling.api.names import dns1123_label, dns1123_subdomain, go_quote, port_number
from kubeling.api.validation.causes import (
    Cause,
    GoLiteral,
    duplicate,
    each_invalid,
    forbidden,
    invalid,
    required,
    too_many,
)
from kubeling.api.validation.common import Obj, as_dict, as_list, as_str, dicts, immutable, one_of
from kubeling.api.validation.containers import PROTOCOLS, port_num_or_name
from kubeling.api.validation.labels import validate_labels

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
MAX_SLICE_ENDPOINTS, MAX_SLICE_ADDRESSES, MAX_SLICE_PORTS = 1000, 100, 20000


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _port_name(name: str, path: str, several: bool) -> list[Cause]:
    """Service and Endpoints ports: a DNS-1123 label, required when there is more than one port."""
    if not name:
        return [required(path)] if several else []
    return each_invalid(path, name, dns1123_label(name))


# ---------------------------------------------------------------- Service


def validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    service_type = spec.get("type")
    ports = dicts(spec.get("ports"))
    headless = service_type == "ClusterIP" and _cluster_ip(spec) == "None"
    causes: list[Cause] = []
    if not ports and not headless and service_type != "ExternalName":
        causes.append(required("spec.ports"))
    if service_type == "ExternalName":
        cname = as_str(spec.get("externalName")).removesuffix(".")
        if cname:
            causes += each_invalid("spec.externalName", cname, dns1123_subdomain(cname))
        else:
            causes.append(required("spec.externalName"))
    causes += _service_ports(ports)
    causes += validate_labels(spec.get("selector"), "spec.selector")
    causes += one_of(spec.get("sessionAffinity"), ("ClientIP", "None"), "spec.sessionAffinity")
    causes += one_of(service_type, SERVICE_TYPES, "spec.type")
    cluster_ip = _cluster_ip(spec)
    if cluster_ip and cluster_ip != "None" and not _is_ip(cluster_ip) and service_type != "ExternalName":
        causes.append(invalid("spec.clusterIPs[0]", cluster_ip, IP_EXAMPLE))
    seen: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        if service_type == "ClusterIP" and port.get("nodePort"):
            causes.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
        key = (as_str(port.get("protocol")), port.get("port"))
        if key in seen:
            causes.append(duplicate(f"spec.ports[{i}]", _go_service_port(*key)))
        seen.add(key)
    if old is not None:
        causes += _service_update(spec, as_dict(old.get("spec")))
    return causes


def _cluster_ip(spec: Obj) -> str:
    ips = as_list(spec.get("clusterIPs"))
    return as_str(spec.get("clusterIP")) or (as_str(ips[0]) if ips else "")


def _go_service_port(protocol: str, port: Any) -> GoLiteral:
    return GoLiteral(f'core.ServicePort{{Name:"", Protocol:{go_quote(protocol)}, AppProtocol:(*string)(nil), '
                     f'Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')


def _service_ports(ports: list[Obj]) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        ppath = f"spec.ports[{i}]"
        name = as_str(port.get("name"))
        causes += _port_name(name, f"{ppath}.name", len(ports) > 1)
        if name:
            if name in names:
                causes.append(duplicate(f"{ppath}.name", name))
            names.add(name)
        causes += each_invalid(f"{ppath}.port", port.get("port"), port_number(port.get("port")))
        causes += one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
        target = port.get("targetPort")
        if target is not None:
            causes += port_num_or_name(target, f"{ppath}.targetPort")
        if port.get("nodePort"):
            causes += each_invalid(f"{ppath}.nodePort", port["nodePort"], port_number(port["nodePort"]))
    return causes


def _service_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    new_ip, old_ip = _cluster_ip(spec), _cluster_ip(old_spec)
    # An omitted clusterIP is filled from the old object by the registry before this runs.
    if new_ip and old_ip and new_ip != old_ip:
        shown = spec.get("clusterIPs") if isinstance(spec.get("clusterIPs"), list) else [new_ip]
        return [invalid("spec.clusterIPs[0]", shown, "may not change once set")]
    return []


# ---------------------------------------------------------------- Endpoints


def validate_endpoints(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(dicts(obj.get("subsets"))):
        spath = f"subsets[{i}]"
        for key in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(dicts(subset.get(key))):
                ip = as_str(address.get("ip"))
                if not _is_ip(ip):
                    causes.append(invalid(f"{spath}.{key}[{j}].ip", ip, IP_EXAMPLE))
        ports = dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            ppath = f"{spath}.ports[{j}]"
            causes += _port_name(as_str(port.get("name")), f"{ppath}.name", len(ports) > 1)
            causes += each_invalid(f"{ppath}.port", port.get("port"), port_number(port.get("port")))
            causes += one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
    return causes


# ---------------------------------------------------------------- EndpointSlice


def validate_endpointslice(obj: Obj, old: Obj | None) -> list[Cause]:
    address_type = obj.get("addressType")
    causes = one_of(address_type, ADDRESS_TYPES, "addressType")
    endpoints = dicts(obj.get("endpoints"))
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        causes.append(too_many("endpoints", len(endpoints), MAX_SLICE_ENDPOINTS))
    for i, endpoint in enumerate(endpoints):
        causes += _slice_endpoint(endpoint, f"endpoints[{i}]", address_type)
    causes += _slice_ports(dicts(obj.get("ports")))
    if old is not None:
        causes += immutable("addressType", address_type, old.get("addressType"))
    return causes


def _slice_endpoint(endpoint: Obj, path: str, address_type: Any) -> list[Cause]:
    causes: list[Cause] = []
    apath = f"{path}.addresses"
    addresses = as_list(endpoint.get("addresses"))
    if not addresses:
        causes.append(required(apath, "must contain at least 1 address"))
    elif len(addresses) > MAX_SLICE_ADDRESSES:
        causes.append(too_many(apath, len(addresses), MAX_SLICE_ADDRESSES))
    elif address_type in ADDRESS_TYPES:
        for j, address in enumerate(addresses):
            causes += each_invalid(f"{apath}[{j}]", as_str(address), _address_errors(address_type, as_str(address)))
    hostname = as_str(endpoint.get("hostname"))
    if endpoint.get("hostname"):
        causes += each_invalid(f"{path}.hostname", hostname, dns1123_label(hostname))
    return causes


def _address_errors(address_type: str, address: str) -> list[str]:
    if address_type == "FQDN":
        if len(address.split(".")) < 2:
            return ["should be a domain with at least two segments separated by dots"]
        return dns1123_subdomain(address)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        parsed = None
    expected = 4 if address_type == "IPv4" else 6
    if parsed is None or parsed.version != expected:
        return [f"must be a valid {address_type} address"]
    return []


def _slice_ports(ports: list[Obj]) -> list[Cause]:
    causes: list[Cause] = []
    if len(ports) > MAX_SLICE_PORTS:
        causes.append(too_many("ports", len(ports), MAX_SLICE_PORTS))
    names: set[str] = set()  # the empty name too may appear only once
    for i, port in enumerate(ports):
        ppath = f"ports[{i}]"
        name = as_str(port.get("name"))
        if name:
            causes += each_invalid(f"{ppath}.name", name, dns1123_label(name))
        if name in names:
            causes.append(duplicate(f"{ppath}.name", name))
        names.add(name)
        causes += one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
        if port.get("port") is not None:
            causes += each_invalid(f"{ppath}.port", port["port"], port_number(port["port"]))
    return causes
