"""Per-kind semantic validation, worded as Kubernetes words it.

Mirrors pkg/apis/{core,apps,batch,coordination,discovery}/validation for the checks
users hit most.  `validate` returns metav1.StatusCause dicts; the caller turns a
non-empty list into a 422 with `errors.invalid`.  Objects are expected to have been
defaulted first (`api.defaults.apply_defaults`), as Kubernetes validates after
defaulting.  ObjectMeta (including each kind's name rule) is checked by
`validation.meta`; the syntax helpers shared with it are imported from there.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeling.api.errors import ApiError, field_cause
from kubeling.api.quantity import Quantity
from kubeling.api.selectors import LabelSelector, label_key_errors, label_value_errors
from kubeling.api.validation.meta import dns1123_label, dns1123_subdomain, go_quote, regex_error

KindKey = tuple[str, str, str]
Obj = dict[str, Any]
Cause = dict[str, str]

# ---------------------------------------------------------------------------
# field.Error constructors (k8s.io/apimachinery/pkg/util/validation/field)


class GoLiteral(str):
    """A value already rendered the way Go's %#v prints it."""


def go_value(value: Any) -> str:
    """How field.Error prints a bad value: numbers and bools bare, strings quoted, else %#v."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping):
        return go_string_map(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return go_string_slice(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def go_string_map(value: Mapping[str, Any] | None) -> str:
    if value is None:
        return "map[string]string(nil)"
    inner = ", ".join(f"{go_quote(str(k))}:{go_quote(str(value[k]))}" for k in sorted(value))
    return "map[string]string{" + inner + "}"


def go_string_slice(value: list[str] | None) -> str:
    if value is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(str(v)) for v in value) + "}"


def go_int_or_string(value: Any) -> GoLiteral:
    """intstr.IntOrString as %#v shows it."""
    if isinstance(value, str):
        return GoLiteral(f'intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}')
    return GoLiteral(f'intstr.IntOrString{{Type:0, IntVal:{int(value or 0)}, StrVal:""}}')


def go_label_selector(selector: Mapping[str, Any] | None) -> GoLiteral:
    """metav1.LabelSelector as %#v shows it (pointers are dereferenced by field.Error)."""
    selector = selector or {}
    exprs = selector.get("matchExpressions")
    if exprs:
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{"
            f"Key:{go_quote(str(e.get('key') or ''))}, Operator:{go_quote(str(e.get('operator') or ''))}, "
            f"Values:{go_string_slice(e.get('values'))}}}" for e in exprs)
        exprs_text = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        exprs_text = "[]v1.LabelSelectorRequirement(nil)"
    labels = go_string_map(selector.get("matchLabels"))
    return GoLiteral(f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs_text}}}")


def required(path: str, detail: str = "") -> Cause:
    return field_cause(path, _with_detail("Required value", detail), "FieldValueRequired")


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return field_cause(path, _with_detail(f"Invalid value: {go_value(value)}", detail), "FieldValueInvalid")


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported)
    return field_cause(path, f"Unsupported value: {go_value(value)}: {detail}", "FieldValueNotSupported")


def duplicate(path: str, value: Any) -> Cause:
    return field_cause(path, f"Duplicate value: {go_value(value)}", "FieldValueDuplicate")


def not_found(path: str, value: Any) -> Cause:
    return field_cause(path, f"Not found: {go_value(value)}", "FieldValueNotFound")


def forbidden(path: str, detail: str) -> Cause:
    return field_cause(path, _with_detail("Forbidden", detail), "FieldValueForbidden")


def too_long(path: str, max_bytes: int) -> Cause:
    return field_cause(path, f"Too long: must have at most {max_bytes} bytes", "FieldValueTooLong")


def too_many(path: str, actual: int, max_items: int) -> Cause:
    return field_cause(path, f"Too many: {actual}: must have at most {max_items} items", "FieldValueTooMany")


def _with_detail(body: str, detail: str) -> str:
    return f"{body}: {detail}" if detail else body


IMMUTABLE = "field is immutable"
NEGATIVE = "must be greater than or equal to 0"

# ---------------------------------------------------------------------------
# value syntax (k8s.io/apimachinery/pkg/util/validation)


_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_PERCENT_FMT = "[0-9]+%"


def config_key(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(_CONFIG_KEY_FMT, value):
        errs.append(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                 _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def port_name(value: str) -> list[str]:
    errs = []
    if len(value) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_number(value: Any) -> list[str]:
    return [] if _is_int(value) and 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


def env_var_name(value: str) -> list[str]:
    """IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation is on by default in 1.32)."""
    if not value:
        return ["environment variable name must be non-empty"]
    if any(ord(ch) > 127 or not ch.isprintable() or ch == "=" for ch in value):
        return [("a valid environment variable name must consist only of printable ASCII characters "
                 "other than '='")]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[Obj]:
    return [v for v in _list(value) if isinstance(v, dict)]


def _each(path: str, value: str, messages: list[str]) -> list[Cause]:
    return [invalid(path, value, m) for m in messages]


def _nonnegative(path: str, value: Any) -> list[Cause]:
    return [invalid(path, value, NEGATIVE)] if _is_int(value) and value < 0 else []


def _labels(path: str, labels: Any) -> list[Cause]:
    """ValidateLabels: every error reported at the map's own path."""
    causes: list[Cause] = []
    for key, value in _dict(labels).items():
        causes += _each(path, key, label_key_errors(key))
        causes += _each(path, _str(value), label_value_errors(_str(value)))
    return causes


def _immutable(path: str, new: Any, old: Any, shown: Any = None) -> list[Cause]:
    if _semantic(new) == _semantic(old):
        return []
    return [invalid(path, new if shown is None else shown, IMMUTABLE)]


def _semantic(value: Any) -> Any:
    """Normalize for Semantic.DeepEqual: nil and empty slices/maps compare equal."""
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# label selectors (k8s.io/apimachinery/pkg/apis/meta/v1/validation)


def _label_selector(path: str, selector: Obj) -> list[Cause]:
    causes = _labels(f"{path}.matchLabels", selector.get("matchLabels"))
    for i, expr in enumerate(_dicts(selector.get("matchExpressions"))):
        epath = f"{path}.matchExpressions[{i}]"
        operator, values = expr.get("operator"), _list(expr.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(required(f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                causes.append(forbidden(f"{epath}.values",
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            causes.append(invalid(f"{epath}.operator", _str(operator), "not a valid selector operator"))
        causes += _each(f"{epath}.key", _str(expr.get("key")), label_key_errors(_str(expr.get("key"))))
        for j, value in enumerate(values):
            causes += _each(f"{epath}.values[{j}]", _str(value), label_value_errors(_str(value)))
    return causes


def _as_selector(selector: Any) -> LabelSelector | None:
    """LabelSelectorAsSelector; None when it cannot be converted (an error in Kubernetes)."""
    try:
        return LabelSelector.from_dict(selector if isinstance(selector, dict) else None)
    except (ApiError, ValueError):
        return None


def _selector_matches_template(spec: Obj, path: str, *, skip_empty: bool) -> list[Cause]:
    selector = _as_selector(spec.get("selector"))
    template = _dict(spec.get("template"))
    labels = _dict(template.get("metadata")).get("labels")
    if selector is None or (skip_empty and selector.empty) or selector.matches(_dict(labels)):
        return []
    shown = GoLiteral(go_string_map(labels if isinstance(labels, dict) else None))
    return [invalid(f"{path}.template.metadata.labels", shown, "`selector` does not match template `labels`")]


# ---------------------------------------------------------------------------
# pod spec (pkg/apis/core/validation)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                   "status.podIPs")
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def _one_of(value: Any, allowed: tuple[str, ...], path: str) -> list[Cause]:
    """The common "Required if empty, NotSupported if unknown" check for enum strings."""
    if value in (None, ""):
        return [required(path)]
    if value not in allowed:
        return [not_supported(path, value, allowed)]
    return []


def _volumes(volumes: list[Obj], path: str) -> tuple[set[str], list[Cause]]:
    names: set[str] = set()
    causes: list[Cause] = []
    for i, vol in enumerate(volumes):
        vpath = f"{path}[{i}]"
        name = _str(vol.get("name"))
        if not name:
            causes.append(required(f"{vpath}.name"))
        else:
            causes += _each(f"{vpath}.name", name, dns1123_label(name))
            if name in names:
                causes.append(duplicate(f"{vpath}.name", name))
            names.add(name)
        sources = [s for s in VOLUME_SOURCES if vol.get(s) is not None]
        if not sources:
            causes.append(required(vpath, "must specify a volume type"))
        elif len(sources) > 1:
            causes.append(forbidden(f"{vpath}.{sources[1]}", "may not specify more than 1 volume type"))
        else:
            causes += _volume_source(sources[0], _dict(vol.get(sources[0])), f"{vpath}.{sources[0]}")
    return names, causes


def _volume_source(kind: str, source: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    required_field = {"configMap": "name", "secret": "secretName", "persistentVolumeClaim": "claimName",
                      "hostPath": "path", "nfs": "path"}.get(kind)
    if required_field and not source.get(required_field):
        causes.append(required(f"{path}.{required_field}"))
    mode = source.get("defaultMode")
    if _is_int(mode) and not 0 <= mode <= 0o777:
        causes.append(invalid(f"{path}.defaultMode", mode,
                              "must be a number between 0 and 0777 (octal), both inclusive"))
    if kind == "hostPath" and source.get("type") not in (None, *HOST_PATH_TYPES):
        causes.append(not_supported(f"{path}.type", source.get("type"), HOST_PATH_TYPES))
    return causes


def _container_ports(ports: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        ppath = f"{path}[{i}]"
        name = _str(port.get("name"))
        if name:
            msgs = port_name(name)
            if msgs:
                causes += _each(f"{ppath}.name", name, msgs)
            elif name in names:
                causes.append(duplicate(f"{ppath}.name", name))
            names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            causes.append(required(f"{ppath}.containerPort"))
        else:
            causes += _each(f"{ppath}.containerPort", container_port, port_number(container_port))
        if port.get("hostPort"):
            causes += _each(f"{ppath}.hostPort", port["hostPort"], port_number(port["hostPort"]))
        causes += _one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
    return causes


def _env(env: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, var in enumerate(env):
        epath = f"{path}[{i}]"
        name = _str(var.get("name"))
        if not name:
            causes.append(required(f"{epath}.name"))
        else:
            causes += _each(f"{epath}.name", name, env_var_name(name))
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
        field_path = _str(field_ref.get("fieldPath"))
        subscripted = re.fullmatch(r"metadata\.(labels|annotations)\['[^']*'\]", field_path)
        if not field_path:
            causes.append(required(f"{path}.fieldRef.fieldPath"))
        elif not subscripted and field_path not in ENV_FIELD_PATHS:
            causes.append(not_supported(f"{path}.fieldRef.fieldPath", field_path, sorted(ENV_FIELD_PATHS)))
    for ref in ("configMapKeyRef", "secretKeyRef"):
        selector = source.get(ref)
        if isinstance(selector, dict) and len(kinds) == 1:
            key = _str(selector.get("key"))
            if not key:
                causes.append(required(f"{path}.{ref}.key"))
            else:
                causes += _each(f"{path}.{ref}.key", key, config_key(key))
    if var.get("value"):
        causes.append(invalid(path, "", "may not be specified when `value` is not empty"))
    return causes


def _volume_mounts(mounts: list[Obj], volumes: set[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    mount_points: set[str] = set()
    for i, mount in enumerate(mounts):
        mpath = f"{path}[{i}]"
        name, mount_path = _str(mount.get("name")), _str(mount.get("mountPath"))
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


def _probe(probe: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        causes.append(required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        causes.append(forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        causes += _nonnegative(f"{path}.{key}", probe.get(key))
    for key in ("httpGet", "tcpSocket"):
        action = probe.get(key)
        if isinstance(action, dict):
            causes += _port_num_or_name(action.get("port"), f"{path}.{key}.port")
    return causes


def _port_num_or_name(port: Any, path: str) -> list[Cause]:
    if isinstance(port, str):
        return _each(path, port, port_name(port))
    if _is_int(port):
        return _each(path, port, port_number(port))
    return [required(path)] if port is None else []


def _is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _resource_name(name: str, path: str) -> list[Cause]:
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            return [invalid(path, name, "must be a standard resource for containers")]
        return []
    causes = _each(path, name, label_key_errors(name))
    if not _is_native(name) and name.startswith("requests."):
        causes.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return causes


def _quantities(values: Any, path: str) -> tuple[dict[str, Quantity], list[Cause]]:
    parsed: dict[str, Quantity] = {}
    causes: list[Cause] = []
    for name, raw in _dict(values).items():
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


def _container(ctr: Obj, path: str, volumes: set[str], *, init: bool) -> list[Cause]:
    image = _str(ctr.get("image"))
    causes: list[Cause] = []
    if not image:
        causes.append(required(f"{path}.image"))
    elif image != image.strip():
        causes.append(invalid(f"{path}.image", image, "must not have leading or trailing whitespace"))
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
        if probe_key != "readinessProbe" and _is_int(threshold) and threshold != 1:
            causes.append(invalid(f"{path}.{probe_key}.successThreshold", threshold, "must be 1"))
    causes += _container_ports(_dicts(ctr.get("ports")), f"{path}.ports")
    causes += _env(_dicts(ctr.get("env")), f"{path}.env")
    causes += _volume_mounts(_dicts(ctr.get("volumeMounts")), volumes, f"{path}.volumeMounts")
    causes += _one_of(ctr.get("terminationMessagePolicy"), TERMINATION_MESSAGE_POLICIES,
                      f"{path}.terminationMessagePolicy")
    causes += _one_of(ctr.get("imagePullPolicy"), PULL_POLICIES, f"{path}.imagePullPolicy")
    causes += _resources(_dict(ctr.get("resources")), f"{path}.resources")
    return causes


def _containers(spec: Obj, path: str, volumes: set[str]) -> list[Cause]:
    containers = _dicts(spec.get("containers"))
    causes: list[Cause] = []
    if not containers:
        causes.append(required(f"{path}.containers"))
    seen: set[str] = set()
    groups = (("containers", containers, False), ("initContainers", _dicts(spec.get("initContainers")), True))
    for key, group, init in groups:
        for i, ctr in enumerate(group):
            cpath = f"{path}.{key}[{i}]"
            name = _str(ctr.get("name"))
            if not name:
                causes.append(required(f"{cpath}.name"))
            else:
                causes += _each(f"{cpath}.name", name, dns1123_label(name))
                if name in seen:
                    causes.append(duplicate(f"{cpath}.name", name))
                seen.add(name)
            causes += _container(ctr, cpath, volumes, init=init)
    causes += _host_port_conflicts(containers, f"{path}.containers")
    return causes


def _host_port_conflicts(containers: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    used: set[str] = set()
    for ci, ctr in enumerate(containers):
        for pi, port in enumerate(_dicts(ctr.get("ports"))):
            if not port.get("hostPort"):
                continue
            key = f"{_str(port.get('hostIP'))}/{_str(port.get('protocol'))}/{port['hostPort']}"
            if key in used:
                causes.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            used.add(key)
    return causes


def _tolerations(tolerations: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, tol in enumerate(tolerations):
        tpath = f"{path}[{i}]"
        key, operator, value = _str(tol.get("key")), tol.get("operator") or "", _str(tol.get("value"))
        effect = tol.get("effect") or ""
        if key:
            causes += _each(f"{tpath}.key", key, label_key_errors(key))
        if not key and operator != "Exists":
            causes.append(invalid(f"{tpath}.operator", operator,
                                  "operator must be Exists when `key` is empty, which means "
                                  '"match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(invalid(f"{tpath}.effect", effect,
                                  "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("Equal", ""):
            msgs = label_value_errors(value)
            if msgs:
                causes.append(invalid(f"{tpath}.operator", value, ";".join(msgs)))
        elif operator == "Exists":
            if value:
                causes.append(invalid(f"{tpath}.operator", GoLiteral(_go_toleration(tol)),
                                      "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(not_supported(f"{tpath}.operator", operator, ("Equal", "Exists")))
        if effect and effect not in TAINT_EFFECTS:
            causes.append(not_supported(f"{tpath}.effect", effect, TAINT_EFFECTS))
    return causes


def _go_toleration(tol: Obj) -> str:
    seconds = tol.get("tolerationSeconds")
    shown = "(*int64)(nil)" if seconds is None else f"(*int64)({seconds})"
    return (f"core.Toleration{{Key:{go_quote(_str(tol.get('key')))}, "
            f"Operator:{go_quote(_str(tol.get('operator')))}, Value:{go_quote(_str(tol.get('value')))}, "
            f"Effect:{go_quote(_str(tol.get('effect')))}, TolerationSeconds:{shown}}}")


def validate_pod_spec(spec: Obj, path: str = "spec") -> list[Cause]:
    """ValidatePodSpec: the checks shared by Pods and every pod template."""
    volumes, causes = _volumes(_dicts(spec.get("volumes")), f"{path}.volumes")
    causes += _containers(spec, path, volumes)
    causes += _one_of(spec.get("restartPolicy"), RESTART_POLICIES, f"{path}.restartPolicy")
    causes += _one_of(spec.get("dnsPolicy"), DNS_POLICIES, f"{path}.dnsPolicy")
    causes += _labels(f"{path}.nodeSelector", spec.get("nodeSelector"))
    for key in ("serviceAccountName", "priorityClassName"):
        if spec.get(key):
            causes += _each(f"{path}.{key}", _str(spec[key]), dns1123_subdomain(_str(spec[key])))
    for key in ("hostname", "subdomain"):
        if spec.get(key):
            causes += _each(f"{path}.{key}", _str(spec[key]), dns1123_label(_str(spec[key])))
    deadline = spec.get("activeDeadlineSeconds")
    if _is_int(deadline) and not 1 <= deadline <= 4294967295:
        causes.append(invalid(f"{path}.activeDeadlineSeconds", deadline,
                              "must be between 1 and 4294967295, inclusive"))
    causes += _tolerations(_dicts(spec.get("tolerations")), f"{path}.tolerations")
    return causes


def validate_pod_template(template: Obj, path: str) -> list[Cause]:
    """ValidatePodTemplateSpec (note Kubernetes reports template labels at `<path>.labels`)."""
    metadata = _dict(template.get("metadata"))
    causes = _labels(f"{path}.labels", metadata.get("labels"))
    spec = _dict(template.get("spec"))
    causes += validate_pod_spec(spec, f"{path}.spec")
    if spec.get("ephemeralContainers"):
        causes.append(forbidden(f"{path}.spec.ephemeralContainers",
                                "ephemeral containers not allowed in pod template"))
    return causes


def _validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = validate_pod_spec(spec)
    if old is None:
        if spec.get("ephemeralContainers"):
            causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        return causes
    return causes + _pod_update(spec, _dict(old.get("spec")))


# ---------------------------------------------------------------------------
# pod updates

POD_UPDATABLE_FIELDS = (
    "`spec.containers[*].image`", "`spec.initContainers[*].image`", "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def _container_updates(new: list[Obj], old: list[Obj], path: str) -> tuple[list[Cause], bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    causes: list[Cause] = []
    for i, ctr in enumerate(new):
        image = _str(ctr.get("image"))
        if not image:
            causes.append(required(f"{path}[{i}].image"))
        elif image.strip() != image:
            causes.append(invalid(f"{path}[{i}].image", image, "must not have leading or trailing whitespace"))
    return causes, False


def _active_deadline_update(new: Any, old: Any) -> list[Cause]:
    path = "spec.activeDeadlineSeconds"
    if new is not None:
        if not _is_int(new) or not 0 <= new <= 2147483647:
            return [invalid(path, new, "must be between 0 and 2147483647, inclusive")]
        if _is_int(old) and old < new:
            return [invalid(path, new, "must be less than or equal to previous value")]
    elif old is not None:
        return [invalid(path, None, "must not update from a positive integer to nil value")]
    return []


def _only_added_tolerations(new: list[Obj], old: list[Obj]) -> list[Cause]:
    for existing in old:
        base = {k: v for k, v in existing.items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == base for t in new):
            return [forbidden("spec.tolerations",
                              "existing toleration can not be modified except its tolerationSeconds")]
    return []


def _pod_update(new: Obj, old: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("containers", "initContainers"):
        errs, stop = _container_updates(_dicts(new.get(key)), _dicts(old.get(key)), f"spec.{key}")
        causes += errs
        if stop:
            return causes
    errs = _active_deadline_update(new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds"))
    if errs:
        return causes + errs
    causes += _only_added_tolerations(_dicts(new.get("tolerations")), _dicts(old.get("tolerations")))
    munged = _munge_pod_spec(new, old)
    if _semantic(munged) != _semantic(old):
        message = ("pod updates may not change fields other than " + ",".join(POD_UPDATABLE_FIELDS) + "\n"
                   + _spec_diff(old, munged))
        causes.append(forbidden("spec", message))
    return causes


def _munge_pod_spec(new: Obj, old: Obj) -> Obj:
    """The new spec with every field a pod update may change copied back from the old one."""
    munged = copy.deepcopy(new)
    for key in ("containers", "initContainers"):
        for ctr, old_ctr in zip(_dicts(munged.get(key)), _dicts(old.get(key)), strict=False):
            if "image" in old_ctr:
                ctr["image"] = old_ctr["image"]
            else:
                ctr.pop("image", None)
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        if key in old:
            munged[key] = copy.deepcopy(old[key])
        else:
            munged.pop(key, None)
    old_grace = old.get("terminationGracePeriodSeconds")
    if _is_int(old_grace) and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _spec_diff(old: Any, new: Any, path: str = "") -> str:
    """A short `-`/`+` listing of what changed (Kubernetes prints a cmp.Diff of the Go structs)."""
    lines = ["  core.PodSpec{"] if not path else []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            lines += _spec_diff(old.get(key), new.get(key), f"{path}.{key}" if path else key).splitlines()
    elif (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
          and _semantic(old) != _semantic(new)):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            lines += _spec_diff(a, b, f"{path}[{i}]").splitlines()
    elif _semantic(old) != _semantic(new):
        if old is not None:
            lines.append(f"- \t{path}: {json.dumps(old, sort_keys=True)},")
        if new is not None:
            lines.append(f"+ \t{path}: {json.dumps(new, sort_keys=True)},")
    if not path:
        lines.append("  }")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# apps/v1


def _selector_required(spec: Obj, path: str, kind_word: str) -> list[Cause]:
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return [required(f"{path}.selector")]
    causes = _label_selector(f"{path}.selector", selector)
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(invalid(f"{path}.selector", go_label_selector(selector),
                              f"empty selector is invalid for {kind_word}"))
    return causes


def _replica_template(spec: Obj, path: str, owner: str) -> list[Cause]:
    """ValidatePodTemplateSpecForReplicaSet (also used by Deployments)."""
    causes: list[Cause] = []
    if _as_selector(spec.get("selector")) is None:
        return [invalid(f"{path}.selector", go_label_selector(spec.get("selector")), "invalid label selector")]
    causes += _selector_matches_template(spec, path, skip_empty=True)
    template = _dict(spec.get("template"))
    causes += validate_pod_template(template, f"{path}.template")
    causes += _template_restart_always(template, f"{path}.template")
    if _dict(template.get("spec")).get("activeDeadlineSeconds") is not None:
        causes.append(forbidden(f"{path}.template.spec.activeDeadlineSeconds",
                                f"activeDeadlineSeconds in {owner} is not Supported"))
    return causes


def _template_restart_always(template: Obj, path: str) -> list[Cause]:
    policy = _dict(template.get("spec")).get("restartPolicy")
    if policy != "Always":
        return [not_supported(f"{path}.spec.restartPolicy", _str(policy), ("Always",))]
    return []


def _int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        if not re.fullmatch(_PERCENT_FMT, value):
            return [invalid(path, go_int_or_string(value), regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'", _PERCENT_FMT,
                "1%", "93%"))]
        return []
    return _nonnegative(path, value)


def _int_or_percent_value(value: Any) -> int:
    if isinstance(value, str):
        return int(value[:-1]) if re.fullmatch(_PERCENT_FMT, value) else 0
    return value if _is_int(value) else 0


def _not_over_100(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str) and re.fullmatch(_PERCENT_FMT, value) and int(value[:-1]) > 100:
        return [invalid(path, go_int_or_string(value), "must not be greater than 100%")]
    return []


def _deployment_strategy(strategy: Obj, path: str) -> list[Cause]:
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
        rpath = f"{path}.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        causes = _int_or_percent(unavailable, f"{rpath}.maxUnavailable")
        causes += _int_or_percent(surge, f"{rpath}.maxSurge")
        if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
            causes.append(invalid(f"{rpath}.maxUnavailable", go_int_or_string(unavailable),
                                  "may not be 0 when `maxSurge` is 0"))
        return causes + _not_over_100(unavailable, f"{rpath}.maxUnavailable")
    rolling_text = "(*apps.RollingUpdateDeployment)(nil)" if rolling is None else "(*apps.RollingUpdateDeployment)"
    shown = GoLiteral(f"apps.DeploymentStrategy{{Type:{go_quote(_str(kind))}, RollingUpdate:{rolling_text}}}")
    return [not_supported(path, shown, ("Recreate", "RollingUpdate"))]


def _validate_deployment(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _nonnegative("spec.replicas", spec.get("replicas"))
    causes += _selector_required(spec, "spec", "deployment")
    causes += _replica_template(spec, "spec", "ReplicaSet")
    causes += _deployment_strategy(_dict(spec.get("strategy")), "spec.strategy")
    causes += _nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if _is_int(deadline):
        causes += _nonnegative("spec.progressDeadlineSeconds", deadline)
        min_ready = spec.get("minReadySeconds") if _is_int(spec.get("minReadySeconds")) else 0
        if deadline <= min_ready:
            causes.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return causes + _selector_update(spec, old)


def _selector_update(spec: Obj, old: Obj | None) -> list[Cause]:
    """apps/v1 made selectors immutable (the strategies check it for that version)."""
    if old is None:
        return []
    new_selector, old_selector = spec.get("selector"), _dict(old.get("spec")).get("selector")
    return _immutable("spec.selector", new_selector, old_selector, go_label_selector(new_selector))


def _validate_replicaset(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _nonnegative("spec.replicas", spec.get("replicas"))
    causes += _nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _selector_required(spec, "spec", "deployment")  # sic: Kubernetes says "deployment" here
    causes += _replica_template(spec, "spec", "ReplicaSet")
    return causes + _selector_update(spec, old)


def _validate_daemonset(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    selector = spec.get("selector")
    causes = _label_selector("spec.selector", selector) if isinstance(selector, dict) else []
    causes += _selector_matches_template(spec, "spec", skip_empty=False)
    if isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(invalid("spec.selector", go_label_selector(selector), "empty selector is invalid for daemonset"))
    template = _dict(spec.get("template"))
    causes += validate_pod_template(template, "spec.template")
    causes += _template_restart_always(template, "spec.template")
    if _dict(template.get("spec")).get("activeDeadlineSeconds") is not None:
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in DaemonSet is not Supported"))
    causes += _nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _nonnegative("spec.templateGeneration", spec.get("templateGeneration"))
    causes += _daemonset_strategy(_dict(spec.get("updateStrategy")), "spec.updateStrategy")
    causes += _nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    return causes + _selector_update(spec, old)


def _daemonset_strategy(strategy: Obj, path: str) -> list[Cause]:
    kind = strategy.get("type")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        shown = GoLiteral(f"apps.DaemonSetUpdateStrategy{{Type:{go_quote(_str(kind))}, "
                          "RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}")
        return [not_supported(path, shown, ("RollingUpdate", "OnDelete"))]
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, dict):
        return [required(f"{path}.rollingUpdate")]
    rpath = f"{path}.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    causes = _int_or_percent(unavailable, f"{rpath}.maxUnavailable") + _int_or_percent(surge, f"{rpath}.maxSurge")
    causes += _not_over_100(unavailable, f"{rpath}.maxUnavailable") + _not_over_100(surge, f"{rpath}.maxSurge")
    has_unavailable, has_surge = _int_or_percent_value(unavailable) != 0, _int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        causes.append(invalid(f"{rpath}.maxSurge", go_int_or_string(surge),
                              "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        causes.append(required(f"{rpath}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return causes


STATEFULSET_UPDATABLE = ("replicas", "ordinals", "template", "updateStrategy",
                         "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _validate_statefulset(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _one_of_invalid(spec.get("podManagementPolicy"), ("OrderedReady", "Parallel"),
                             "spec.podManagementPolicy")
    causes += _statefulset_strategy(_dict(spec.get("updateStrategy")))
    retention = _dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        if key in retention and retention[key] not in ("Retain", "Delete"):
            causes.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", retention[key],
                                        ("Retain", "Delete")))
    causes += _nonnegative("spec.replicas", spec.get("replicas"))
    causes += _nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    causes += _selector_required(spec, "spec", "statefulset")
    template = _dict(spec.get("template"))
    if _as_selector(spec.get("selector")) is None:
        causes.append(invalid("spec.selector", go_label_selector(spec.get("selector")), ""))
    else:
        # Kubernetes checks only the template's labels and annotations here, not its pod spec.
        causes += _selector_matches_template(spec, "spec", skip_empty=True)
        causes += _labels("spec.template.labels", _dict(template.get("metadata")).get("labels"))
    causes += _template_restart_always(template, "spec.template")
    if _dict(template.get("spec")).get("activeDeadlineSeconds") is not None:
        causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                "activeDeadlineSeconds in StatefulSet is not Supported"))
    if old is not None:
        frozen_new = {k: v for k, v in spec.items() if k not in STATEFULSET_UPDATABLE}
        frozen_old = {k: v for k, v in _dict(old.get("spec")).items() if k not in STATEFULSET_UPDATABLE}
        if _semantic(frozen_new) != _semantic(frozen_old):
            causes.append(forbidden("spec", "updates to statefulset spec for fields other than 'replicas', "
                                            "'ordinals', 'template', 'updateStrategy', "
                                            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                                            "are forbidden"))
    return causes


def _one_of_invalid(value: Any, allowed: tuple[str, str], path: str) -> list[Cause]:
    if value in (None, ""):
        return [required(path)]
    if value not in allowed:
        return [invalid(path, value, f"must be '{allowed[0]}' or '{allowed[1]}'")]
    return []


def _statefulset_strategy(strategy: Obj) -> list[Cause]:
    path = "spec.updateStrategy"
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind in (None, ""):
        return [required(path)]
    if kind == "OnDelete":
        if rolling is not None:
            return [invalid(f"{path}.rollingUpdate", rolling, "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if kind != "RollingUpdate":
        return [invalid(path, GoLiteral(f"apps.StatefulSetUpdateStrategy{{Type:{go_quote(_str(kind))}, "
                                        "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}"),
                        "must be 'RollingUpdate' or 'OnDelete'")]
    rolling = _dict(rolling)
    causes = _nonnegative(f"{path}.rollingUpdate.partition", rolling.get("partition"))
    unavailable = rolling.get("maxUnavailable")
    if unavailable is not None:
        upath = f"{path}.rollingUpdate.maxUnavailable"
        causes += _int_or_percent(unavailable, upath)
        if _int_or_percent_value(unavailable) == 0:
            causes.append(invalid(upath, go_int_or_string(unavailable), "cannot be 0"))
        causes += _not_over_100(unavailable, upath)
    return causes


# ---------------------------------------------------------------------------
# batch/v1


def _job_spec(spec: Obj, path: str) -> list[Cause]:
    """validateJobSpec: everything but the selector."""
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        causes += _nonnegative(f"{path}.{key}", spec.get(key))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        causes.append(not_supported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed")))
    if mode == "Indexed" and spec.get("completions") is None:
        causes.append(required(f"{path}.completions", "when completion mode is Indexed"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        allowed = ("Failed",) if spec.get("podFailurePolicy") is not None else ("Failed", "TerminatingOrFailed")
        if replacement not in allowed:
            causes.append(not_supported(f"{path}.podReplacementPolicy", replacement, allowed))
    template = _dict(spec.get("template"))
    causes += validate_pod_template(template, f"{path}.template")
    policy = _dict(template.get("spec")).get("restartPolicy")
    rpath = f"{path}.template.spec.restartPolicy"
    if policy in (None, "", "Always"):
        causes.append(required(rpath, 'valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        causes.append(not_supported(rpath, policy, ("OnFailure", "Never")))
    elif spec.get("podFailurePolicy") is not None and policy != "Never":
        causes.append(invalid(rpath, policy, 'only "Never" is supported when podFailurePolicy is specified'))
    return causes


def _generated_selector(obj: Obj) -> list[Cause]:
    """validateGeneratedSelector, when the selector was generated (the uid is known by then)."""
    spec = _dict(obj.get("spec"))
    metadata = _dict(obj.get("metadata"))
    uid, name = _str(metadata.get("uid")), _str(metadata.get("name"))
    if spec.get("manualSelector") is True or not isinstance(spec.get("selector"), dict) or not uid:
        return []
    template_meta = _dict(_dict(spec.get("template")).get("metadata"))
    labels = _dict(template_meta.get("labels"))
    causes: list[Cause] = []
    expected = {"controller-uid": uid, "job-name": name, "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name}
    for key, value in expected.items():
        lpath = f"spec.template.metadata.labels[{key}]"
        if key not in labels:
            causes.append(required(lpath))
        elif labels[key] != value:
            causes.append(invalid(lpath, GoLiteral(go_string_map(labels)), f"must be '{value}'"))
    selector = _as_selector(spec["selector"])
    if selector is not None and not selector.matches(expected):
        causes.append(invalid("spec.selector", go_label_selector(spec["selector"]), "`selector` not auto-generated"))
    return causes


def _validate_job(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes = _generated_selector(obj) + _job_spec(spec, "spec")
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        causes.append(required("spec.selector"))
    else:
        causes += _label_selector("spec.selector", selector)
    causes += _selector_matches_template(spec, "spec", skip_empty=False)
    if old is None:
        return causes
    old_spec = _dict(old.get("spec"))
    for key in ("completions", "selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        shown = go_label_selector(spec.get(key)) if key == "selector" else None
        causes += _immutable(f"spec.{key}", spec.get(key), old_spec.get(key), shown)
    causes += _job_template_update(spec, old_spec)
    return causes


def _job_template_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    new_template, old_template = _dict(spec.get("template")), copy.deepcopy(_dict(old_spec.get("template")))
    # A suspended Job that never started may change its scheduling directives.
    if spec.get("suspend") is True:
        new_spec, old_pod = _dict(new_template.get("spec")), old_template.setdefault("spec", {})
        for key in ("nodeSelector", "tolerations", "schedulingGates", "affinity"):
            if key in new_spec:
                old_pod[key] = new_spec[key]
            else:
                old_pod.pop(key, None)
        new_meta, old_meta = _dict(new_template.get("metadata")), old_template.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            if key in new_meta:
                old_meta[key] = new_meta[key]
            else:
                old_meta.pop(key, None)
    return _immutable("spec.template", new_template, old_template, GoLiteral("core.PodTemplateSpec{...}"))


_CRON_FIELDS = (("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
                ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                  "dec")),
                ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_GO_DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+|[-+]?0")


def cron_error(schedule: str) -> str | None:
    """robfig/cron's ParseStandard error for `schedule`, or None when it parses."""
    spec = schedule
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = spec[spec.find(" "):].strip() if " " in spec else ""
    if not spec:
        return "empty spec string"
    if spec.startswith("@"):
        if spec in _CRON_DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            duration = spec[len("@every "):]
            if not _GO_DURATION.fullmatch(duration):
                return f'failed to parse duration {spec}: time: invalid duration "{duration}"'
            return None
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, (_, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for expr in [e for e in text.split(",") if e]:
            err = _cron_range(expr, low, high, names)
            if err:
                return err
    return None


def _cron_int(expr: str, names: tuple[str, ...] | None, low: int) -> tuple[int, str | None]:
    if names and expr.lower() in names:
        return names.index(expr.lower()) + low, None
    if not re.fullmatch(r"[+-]?\d+", expr):
        return 0, f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'
    value = int(expr)
    if value < 0:
        return 0, f"negative number ({value}) not allowed: {expr}"
    return value, None


def _cron_range(expr: str, low: int, high: int, names: tuple[str, ...] | None) -> str | None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if low_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start, err = _cron_int(low_high[0], names, low)
        if err:
            return err
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end, err = _cron_int(low_high[1], names, low)
            if err:
                return err
        else:
            return f"too many hyphens: {expr}"
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step, err = _cron_int(range_and_step[1], None, 0)
        if err:
            return err
        if len(low_high) == 1:
            end = high
    else:
        return f"too many slashes: {expr}"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {expr}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    if step == 0:
        return f"step of range should be a positive number: {expr}"
    return None


def _validate_cronjob(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes: list[Cause] = []
    schedule = _str(spec.get("schedule"))
    if not schedule:
        causes.append(required("spec.schedule"))
    else:
        err = cron_error(schedule)
        if err:
            causes.append(invalid("spec.schedule", schedule, err))
        tz_allowed = old is not None and "TZ" in _str(_dict(old.get("spec")).get("schedule"))
        if tz_allowed and "TZ" in schedule and spec.get("timeZone") is not None:
            causes.append(invalid("spec.schedule", schedule,
                                  "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
        elif not tz_allowed and "TZ" in schedule:
            causes.append(invalid("spec.schedule", schedule,
                                  "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    causes += _nonnegative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    time_zone = spec.get("timeZone")
    if time_zone == "":
        causes.append(invalid("spec.timeZone", "", "timeZone must be nil or non-empty string"))
    causes += _one_of(spec.get("concurrencyPolicy"), ("Allow", "Forbid", "Replace"), "spec.concurrencyPolicy")
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    causes += _job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        causes.append(invalid("spec.jobTemplate.spec.selector", go_label_selector(job_spec["selector"]),
                              "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        causes.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes += _nonnegative(f"spec.{key}", spec.get(key))
    name = _str(_dict(obj.get("metadata")).get("name"))
    if old is None and len(name) > 52:
        causes.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return causes


# ---------------------------------------------------------------------------
# core/v1: Service, ConfigMap, Secret, Namespace, Node, Event, Endpoints

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _go_service_port(protocol: str, port: Any) -> GoLiteral:
    return GoLiteral(f'core.ServicePort{{Name:"", Protocol:{go_quote(protocol)}, AppProtocol:(*string)(nil), '
                     f'Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}')


def _cluster_ip(spec: Obj) -> str:
    ips = _list(spec.get("clusterIPs"))
    return _str(spec.get("clusterIP")) or (_str(ips[0]) if ips else "")


def _validate_service(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    service_type = spec.get("type")
    ports = _dicts(spec.get("ports"))
    headless = service_type == "ClusterIP" and _cluster_ip(spec) == "None"
    causes: list[Cause] = []
    if not ports and not headless and service_type != "ExternalName":
        causes.append(required("spec.ports"))
    if service_type == "ExternalName":
        cname = _str(spec.get("externalName")).removesuffix(".")
        if cname:
            causes += _each("spec.externalName", cname, dns1123_subdomain(cname))
        else:
            causes.append(required("spec.externalName"))
    causes += _service_ports(ports)
    causes += _labels("spec.selector", spec.get("selector"))
    causes += _one_of(spec.get("sessionAffinity"), ("ClientIP", "None"), "spec.sessionAffinity")
    causes += _one_of(service_type, SERVICE_TYPES, "spec.type")
    cluster_ip = _cluster_ip(spec)
    if cluster_ip and cluster_ip != "None" and not _is_ip(cluster_ip) and service_type != "ExternalName":
        causes.append(invalid("spec.clusterIPs[0]", cluster_ip, IP_EXAMPLE))
    seen: set[tuple[str, Any]] = set()
    for i, port in enumerate(ports):
        if service_type == "ClusterIP" and port.get("nodePort"):
            causes.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
        key = (_str(port.get("protocol")), port.get("port"))
        if key in seen:
            causes.append(duplicate(f"spec.ports[{i}]", _go_service_port(*key)))
        seen.add(key)
    if old is not None:
        causes += _service_update(spec, _dict(old.get("spec")))
    return causes


def _service_ports(ports: list[Obj]) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        ppath = f"spec.ports[{i}]"
        name = _str(port.get("name"))
        if len(ports) > 1 and not name:
            causes.append(required(f"{ppath}.name"))
        elif name:
            causes += _each(f"{ppath}.name", name, dns1123_label(name))
            if name in names:
                causes.append(duplicate(f"{ppath}.name", name))
            names.add(name)
        causes += _each(f"{ppath}.port", port.get("port"), port_number(port.get("port")))
        causes += _one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
        target = port.get("targetPort")
        if target is not None:
            causes += _port_num_or_name(target, f"{ppath}.targetPort")
        if port.get("nodePort"):
            causes += _each(f"{ppath}.nodePort", port["nodePort"], port_number(port["nodePort"]))
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


MAX_DATA_BYTES = 1024 * 1024


def _validate_configmap(obj: Obj, old: Obj | None) -> list[Cause]:
    data, binary = _dict(obj.get("data")), _dict(obj.get("binaryData"))
    causes: list[Cause] = []
    total = 0
    for key, value in data.items():
        causes += _each(f"data[{key}]", key, config_key(key))
        if key in binary:
            causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(_str(value).encode())
    for key, value in binary.items():
        causes += _each(f"binaryData[{key}]", key, config_key(key))
        if key in data:
            causes.append(invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
        total += _decoded_len(value)
    if total > MAX_DATA_BYTES:
        causes.append(too_long("", MAX_DATA_BYTES))
    if old is not None and old.get("immutable") is True:
        causes += _immutable_data(obj, old, ("data", "binaryData"))
    return causes


def _decoded_len(value: Any) -> int:
    try:
        return len(base64.b64decode(_str(value), validate=True))
    except ValueError:
        return len(_str(value)) * 3 // 4


def _immutable_data(obj: Obj, old: Obj, keys: tuple[str, ...]) -> list[Cause]:
    detail = "field is immutable when `immutable` is set"
    causes = [] if obj.get("immutable") is True else [forbidden("immutable", detail)]
    for key in keys:
        if _dict(obj.get(key)) != _dict(old.get(key)):
            causes.append(forbidden(key, detail))
    return causes


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _secret_data(obj: Obj) -> dict[str, bytes]:
    """data (base64) with stringData merged over it, as the v1 conversion does before validation."""
    out: dict[str, bytes] = {}
    for key, value in _dict(obj.get("data")).items():
        try:
            out[key] = base64.b64decode(_str(value))
        except ValueError:
            out[key] = _str(value).encode()
    for key, value in _dict(obj.get("stringData")).items():
        out[key] = _str(value).encode()
    return out


def _validate_secret(obj: Obj, old: Obj | None) -> list[Cause]:
    data = _secret_data(obj)
    causes: list[Cause] = []
    for key in data:
        causes += _each(f"data[{key}]", key, config_key(key))
    if sum(len(v) for v in data.values()) > MAX_DATA_BYTES:
        causes.append(too_long("data", MAX_DATA_BYTES))
    secret_type = _str(obj.get("type"))
    if secret_type == "kubernetes.io/service-account-token":
        annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif secret_type == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes += [required("data[username]"), required("data[password]")]
    for key in _SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in data or (key == "ssh-privatekey" and not data[key]):
            causes.append(required(f"data[{key}]"))
        elif key.startswith(".docker"):
            try:
                json.loads(data[key])
            except ValueError as e:
                causes.append(invalid(f"data[{key}]", "<secret contents redacted>", str(e)))
    if old is not None:
        causes += _immutable("type", secret_type, _str(old.get("type")) or "Opaque")
        if old.get("immutable") is True:
            detail = "field is immutable when `immutable` is set"
            if obj.get("immutable") is not True:
                causes.append(forbidden("immutable", detail))
            if data != _secret_data(old):
                causes.append(forbidden("data", detail))
    return causes


STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def _validate_namespace(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for finalizer in _list(_dict(obj.get("spec")).get("finalizers")):
        name = _str(finalizer)
        causes += _each("spec.finalizers", name, label_key_errors(name))
        if "/" not in name and name not in STANDARD_FINALIZERS:
            causes.append(invalid("spec.finalizers", name,
                                  "name is neither a standard finalizer name nor is it fully qualified"))
    return causes


def _validate_node(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes: list[Cause] = []
    for i, cidr in enumerate(_list(spec.get("podCIDRs"))):
        try:
            ipaddress.ip_network(_str(cidr), strict=False)
            valid = "/" in _str(cidr)
        except ValueError:
            valid = False
        if not valid:
            causes.append(invalid(f"spec.podCIDRs[{i}]", _str(cidr),
                                  "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    causes += _taints(_dicts(spec.get("taints")), "spec.taints")
    if old is not None:
        old_spec = _dict(old.get("spec"))
        if old_spec.get("podCIDRs") and _list(spec.get("podCIDRs")) != _list(old_spec.get("podCIDRs")):
            causes.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
        if old_spec.get("providerID") and spec.get("providerID") != old_spec.get("providerID"):
            causes.append(forbidden("spec.providerID",
                                    'node updates may not change providerID except from "" to valid'))
    return causes


def _taints(taints: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints):
        tpath = f"{path}[{i}]"
        key, value, effect = _str(taint.get("key")), _str(taint.get("value")), _str(taint.get("effect"))
        causes += _each(f"{tpath}.key", key, label_key_errors(key))
        msgs = label_value_errors(value)
        if msgs:
            causes.append(invalid(f"{tpath}.value", value, ";".join(msgs)))
        causes += _one_of(effect, TAINT_EFFECTS, f"{tpath}.effect")
        if (key, effect) in seen:
            shown = GoLiteral(f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, "
                              f"Effect:{go_quote(effect)}, TimeAdded:<nil>}}")
            cause = duplicate(tpath, shown)
            cause["message"] += ": taints must be unique by key and effect pair"
            causes.append(cause)
        seen.add((key, effect))
    return causes


def _core_event_view(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event seen through the core field names its validation reports."""
    return {
        "metadata": obj.get("metadata"), "involvedObject": obj.get("regarding"), "message": obj.get("note"),
        "reason": obj.get("reason"), "type": obj.get("type"), "action": obj.get("action"),
        "eventTime": obj.get("eventTime"), "series": obj.get("series"),
        "reportingComponent": obj.get("reportingController"), "reportingInstance": obj.get("reportingInstance"),
        "source": obj.get("deprecatedSource"), "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"), "count": obj.get("deprecatedCount"),
    }


def _legacy_event(event: Obj, controller_field: str) -> list[Cause]:
    namespace = _str(_dict(event.get("metadata")).get("namespace"))
    involved_ns = _str(_dict(event.get("involvedObject")).get("namespace"))
    causes: list[Cause] = []
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (involved_ns and namespace != involved_ns):
            causes.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        controller = _str(event.get("reportingComponent"))
        if not controller:
            causes.append(required(controller_field))
        causes += _each(controller_field, controller, label_key_errors(controller))
        for key, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            value = _str(event.get(key))
            if not value:
                causes.append(required(key))
            if len(value) > limit:
                causes.append(invalid(key, "", f"can have at most {limit} characters"))
        if len(_str(event.get("message"))) > 1024:
            causes.append(invalid("message", "", "can have at most 1024 characters"))
    if namespace:
        causes += _each("namespace", namespace, dns1123_subdomain(namespace))
    return causes


def _validate_core_event(obj: Obj, old: Obj | None) -> list[Cause]:
    return _legacy_event(obj, "reportingComponent")


def _validate_events_event(obj: Obj, old: Obj | None) -> list[Cause]:
    event = _core_event_view(obj)
    causes = _legacy_event(event, "reportingController")
    series = event.get("series")
    if isinstance(series, dict):
        count = series.get("count")
        if _is_int(count) and count < 2:
            causes.append(invalid("series.count", "", "should be at least 2"))
        if not series.get("lastObservedTime"):
            causes.append(required("series.lastObservedTime"))
    if not event.get("eventTime"):
        causes.append(required("eventTime"))
    if event.get("type") not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {_str(event.get('type'))}"))
    for key in ("firstTimestamp", "lastTimestamp", "count"):
        if event.get(key):
            causes.append(invalid(key, "", "needs to be unset"))
    source = _dict(event.get("source"))
    if source.get("component") or source.get("host"):
        causes.append(invalid("source", "", "needs to be unset"))
    return causes


def _validate_endpoints(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(_dicts(obj.get("subsets"))):
        spath = f"subsets[{i}]"
        for key in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(_dicts(subset.get(key))):
                ip = _str(address.get("ip"))
                if not _is_ip(ip):
                    causes.append(invalid(f"{spath}.{key}[{j}].ip", ip, IP_EXAMPLE))
        ports = _dicts(subset.get("ports"))
        for j, port in enumerate(ports):
            ppath = f"{spath}.ports[{j}]"
            name = _str(port.get("name"))
            if len(ports) > 1 and not name:
                causes.append(required(f"{ppath}.name"))
            elif name:
                causes += _each(f"{ppath}.name", name, dns1123_label(name))
            causes += _each(f"{ppath}.port", port.get("port"), port_number(port.get("port")))
            causes += _one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
    return causes


# ---------------------------------------------------------------------------
# coordination.k8s.io/v1 and discovery.k8s.io/v1


def _validate_lease(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if _is_int(duration) and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    causes += _nonnegative("spec.leaseTransitions", spec.get("leaseTransitions"))
    if spec.get("preferredHolder") and not spec.get("strategy"):
        causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return causes


ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


def _address_errors(address_type: str, address: str) -> list[str]:
    if address_type == "FQDN":
        labels = address.split(".")
        if len(labels) < 2:
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


def _validate_endpointslice(obj: Obj, old: Obj | None) -> list[Cause]:
    address_type = obj.get("addressType")
    causes = _one_of(address_type, ADDRESS_TYPES, "addressType")
    endpoints = _dicts(obj.get("endpoints"))
    if len(endpoints) > 1000:
        causes.append(too_many("endpoints", len(endpoints), 1000))
    for i, endpoint in enumerate(endpoints):
        apath = f"endpoints[{i}].addresses"
        addresses = _list(endpoint.get("addresses"))
        if not addresses:
            causes.append(required(apath, "must contain at least 1 address"))
        elif len(addresses) > 100:
            causes.append(too_many(apath, len(addresses), 100))
        elif address_type in ADDRESS_TYPES:
            for j, address in enumerate(addresses):
                causes += _each(f"{apath}[{j}]", _str(address), _address_errors(address_type, _str(address)))
        if endpoint.get("hostname"):
            causes += _each(f"endpoints[{i}].hostname", _str(endpoint["hostname"]),
                            dns1123_label(_str(endpoint["hostname"])))
    ports = _dicts(obj.get("ports"))
    if len(ports) > 20000:
        causes.append(too_many("ports", len(ports), 20000))
    names: set[str] = set()
    for i, port in enumerate(ports):
        ppath = f"ports[{i}]"
        name = _str(port.get("name"))
        if name:
            causes += _each(f"{ppath}.name", name, dns1123_label(name))
        if name in names:
            causes.append(duplicate(f"{ppath}.name", name))
        names.add(name)
        causes += _one_of(port.get("protocol"), PROTOCOLS, f"{ppath}.protocol")
        if port.get("port") is not None:
            causes += _each(f"{ppath}.port", port["port"], port_number(port["port"]))
    if old is not None:
        causes += _immutable("addressType", address_type, old.get("addressType"))
    return causes


def _validate_nothing(obj: Obj, old: Obj | None) -> list[Cause]:
    return []


# ---------------------------------------------------------------------------
# dispatch

VALIDATORS: dict[KindKey, Callable[[Obj, Obj | None], list[Cause]]] = {
    ("", "v1", "Pod"): _validate_pod,
    ("", "v1", "Service"): _validate_service,
    ("", "v1", "ConfigMap"): _validate_configmap,
    ("", "v1", "Secret"): _validate_secret,
    ("", "v1", "Namespace"): _validate_namespace,
    ("", "v1", "Node"): _validate_node,
    ("", "v1", "Event"): _validate_core_event,
    ("", "v1", "Endpoints"): _validate_endpoints,
    ("", "v1", "ServiceAccount"): _validate_nothing,
    ("apps", "v1", "Deployment"): _validate_deployment,
    ("apps", "v1", "ReplicaSet"): _validate_replicaset,
    ("apps", "v1", "DaemonSet"): _validate_daemonset,
    ("apps", "v1", "StatefulSet"): _validate_statefulset,
    ("batch", "v1", "Job"): _validate_job,
    ("batch", "v1", "CronJob"): _validate_cronjob,
    ("coordination.k8s.io", "v1", "Lease"): _validate_lease,
    ("events.k8s.io", "v1", "Event"): _validate_events_event,
    ("discovery.k8s.io", "v1", "EndpointSlice"): _validate_endpointslice,
}


def validate(kind_key: KindKey, obj: dict, old: dict | None) -> list[dict]:
    """Semantic validation of `obj` (create when `old` is None, else update) as StatusCauses."""
    validator = VALIDATORS.get(kind_key)
    return validator(obj, old) if validator is not None else []
