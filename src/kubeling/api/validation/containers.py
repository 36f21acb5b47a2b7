"""One container of a pod spec: image, probes, ports, env, mounts, resources (pkg/apis/core/validation)."""

from __future__ import annotations

import re
from typing import Any

from kubeling.api.names import config_key, env_var_name, is_qualified_name, port_name, port_number
from kubeling.api.quantity import Quantity
from kubeling.api.validation.causes import (
    NEGATIVE,
    Cause,
    duplicate,
    each_invalid,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
)
from kubeling.api.validation.common import Obj, as_dict, as_str, dicts, is_int, nonnegative, one_of

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                   "status.podIPs")
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def validate_container(ctr: Obj, path: str, volumes: set[str], *, init: bool) -> list[Cause]:
    """Everything about one container but its name (the pod checks names across containers)."""
    causes = image_errors(ctr, f"{path}.image")
    for probe_key in PROBES:
        probe = ctr.get(probe_key)
        if not isinstance(probe, dict):
            continue
        if init and ctr.get("restartPolicy") != "Always":
            causes.append(forbidden(f"{path}.{probe_key}",
                                    "may not be set for init containers without restartPolicy=Always"))
            continue
        causes += _probe(probe, f"{path}.{probe_key}")
        threshold = probe.get("successThreshold")
        if probe_key != "readinessProbe" and is_int(threshold) and threshold != 1:
            causes.append(invalid(f"{path}.{probe_key}.successThreshold", threshold, "must be 1"))
    causes += _container_ports(dicts(ctr.get("ports")), f"{path}.ports")
    causes += _env(dicts(ctr.get("env")), f"{path}.env")
    causes += _volume_mounts(dicts(ctr.get("volumeMounts")), volumes, f"{path}.volumeMounts")
    causes += one_of(ctr.get("terminationMessagePolicy"), TERMINATION_MESSAGE_POLICIES,
                     f"{path}.terminationMessagePolicy")
    causes += one_of(ctr.get("imagePullPolicy"), PULL_POLICIES, f"{path}.imagePullPolicy")
    causes += _resources(as_dict(ctr.get("resources")), f"{path}.resources")
    return causes


def image_errors(ctr: Obj, path: str) -> list[Cause]:
    """The image rule, checked on create and again on every pod update."""
    image = as_str(ctr.get("image"))
    if not image:
        return [required(path)]
    if image != image.strip():
        return [invalid(path, image, "must not have leading or trailing whitespace")]
    return []


def port_num_or_name(port: Any, path: str) -> list[Cause]:
    """An IntOrString port: a port number or an IANA_SVC_NAME."""
    if isinstance(port, str):
        return each_invalid(path, port, port_name(port))
    if is_int(port):
        return each_invalid(path, port, port_number(port))
    return [required(path)] if port is None else []


# ---------------------------------------------------------------- probes


def _probe(probe: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        causes.append(required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        causes.append(forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        causes += nonnegative(f"{path}.{key}", probe.get(key))
    for key in ("httpGet", "tcpSocket"):
        action = probe.get(key)
        if isinstance(action, dict):
            causes += port_num_or_name(action.get("port"), f"{path}.{key}.port")
    return causes


# ---------------------------------------------------------------- ports


def _container_ports(ports: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        ppath = f"{path}[{i}]"
        name = as_str(port.get("name"))
        if name:
            msgs = port_name(name)
            if msgs:
                causes += each_invalid(f"{ppath}.name", name, msgs)
            elif name in names:
                causes.append(duplicate(f"{ppath}.name", name))
            names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            causes.append(required(f"{ppath}.containerPort"))
        else:
            causes += each_invalid(f"{ppath}.containerPort", container_port, port_number(container_port))
        if port.get("hostPort"):
            causes += each_invalid(f"{ppath}.hostPort", port["hostPort"], port_number(port["hostPort"]))
        causes += one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
    return causes


def host_port_conflicts(containers: list[Obj], path: str) -> list[Cause]:
    """AccumulateUniqueHostPorts: a hostIP/protocol/hostPort triple may be used once per pod."""
    causes: list[Cause] = []
    used: set[str] = set()
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(dicts(ctr.get("ports"))):
            if not port.get("hostPort"):
                continue
            key = f"{as_str(port.get('hostIP'))}/{as_str(port.get('protocol'))}/{port['hostPort']}"
            if key in used:
                causes.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            used.add(key)
    return causes


# ---------------------------------------------------------------- env


def _env(env: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, var in enumerate(env):
        epath = f"{path}[{i}]"
        name = as_str(var.get("name"))
        if not name:
            causes.append(required(f"{epath}.name"))
        else:
            causes += each_invalid(f"{epath}.name", name, env_var_name(name))
        value_from = var.get("valueFrom")
        if isinstance(value_from, dict):
            causes += _env_value_from(var, value_from, f"{epath}.valueFrom")
    return causes


def _env_value_from(var: Obj, source: Obj, path: str) -> list[Cause]:
    kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
             if source.get(k) is not None]
    causes: list[Cause] = []
    if not kinds:
        causes.append(invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                        "`configMapKeyRef` or `secretKeyRef`"))
    elif len(kinds) > 1:
        causes.append(invalid(path, "", "may not have more than one field specified at a time"))
    field_ref = source.get("fieldRef")
    if len(kinds) == 1 and isinstance(field_ref, dict):
        field_path = as_str(field_ref.get("fieldPath"))
        subscripted = re.fullmatch(r"metadata\.(labels|annotations)\['[^']*'\]", field_path)
        if not field_path:
            causes.append(required(f"{path}.fieldRef.fieldPath"))
        elif not subscripted and field_path not in ENV_FIELD_PATHS:
            causes.append(not_supported(f"{path}.fieldRef.fieldPath", field_path, sorted(ENV_FIELD_PATHS)))
    for ref in ("configMapKeyRef", "secretKeyRef"):
        selector = source.get(ref)
        if isinstance(selector, dict) and len(kinds) == 1:
            key = as_str(selector.get("key"))
            if not key:
                causes.append(required(f"{path}.{ref}.key"))
            else:
                causes += each_invalid(f"{path}.{ref}.key", key, config_key(key))
    if var.get("value"):
        causes.append(invalid(path, "", "may not be specified when `value` is not empty"))
    return causes


# ---------------------------------------------------------------- volume mounts


def _volume_mounts(mounts: list[Obj], volumes: set[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    mount_points: set[str] = set()
    for i, mount in enumerate(mounts):
        mpath = f"{path}[{i}]"
        name, mount_path = as_str(mount.get("name")), as_str(mount.get("mountPath"))
        if not name:
            causes.append(required(f"{mpath}.name"))
        if name not in volumes:
            causes.append(not_found(f"{mpath}.name", name))
        if not mount_path:
            causes.append(required(f"{mpath}.mountPath"))
        if mount_path in mount_points:
            causes.append(invalid(f"{mpath}.mountPath", mount_path, "must be unique"))
        mount_points.add(mount_path)
    return causes


# ---------------------------------------------------------------- resources


def _is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _resource_name(name: str, path: str) -> list[Cause]:
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            return [invalid(path, name, "must be a standard resource for containers")]
        return []
    causes = each_invalid(path, name, is_qualified_name(name))
    if not _is_native(name) and name.startswith("requests."):
        causes.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return causes


def _quantities(values: Any, path: str) -> tuple[dict[str, Quantity], list[Cause]]:
    parsed: dict[str, Quantity] = {}
    causes: list[Cause] = []
    for name, raw in as_dict(values).items():
        qpath = f"{path}[{name}]"
        causes += _resource_name(name, qpath)
        try:
            quantity = Quantity.from_json(raw)
        except ValueError as e:
            causes.append(invalid(qpath, raw if isinstance(raw, str) else str(raw), str(e)))
            continue
        if quantity.sign() < 0:
            causes.append(invalid(qpath, str(quantity), NEGATIVE))
        elif not _is_native(name) and quantity.milli_value() % 1000:
            causes.append(invalid(qpath, str(quantity), "must be an integer"))
        parsed[name] = quantity
    return parsed, causes


def _resources(resources: Obj, path: str) -> list[Cause]:
    limits, causes = _quantities(resources.get("limits"), f"{path}.limits")
    requests, request_causes = _quantities(resources.get("requests"), f"{path}.requests")
    causes += request_causes
    for name, request in requests.items():
        limit = limits.get(name)
        overcommit = _is_native(name) and not _is_hugepages(name)
        if limit is not None:
            if request.cmp(limit) != 0 and not overcommit:
                causes.append(invalid(f"{path}.requests", str(request),
                                      f"must be equal to {name} limit of {limit}"))
            elif request.cmp(limit) > 0:
                causes.append(invalid(f"{path}.requests", str(request),
                                      f"must be less than or equal to {name} limit of {limit}"))
        elif not overcommit:
            causes.append(required(f"{path}.limits", "Limit must be set for non overcommitable resources"))
    return causes
