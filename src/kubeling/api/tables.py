"""Server-side printing: `meta.k8s.io/v1` Table responses.

kubectl asks for `as=Table` and prints the cells verbatim, so the columns and cell
values here follow Kubernetes' own printers (pkg/printers/internalversion) as of
1.32. The API server always generates the wide form; kubectl hides priority-1
columns unless `-o wide`.

The printers see objects the way the real server does: decoded with defaults, so
the few defaults that change a cell (replicas, Service type, port protocol, Job
completions, CronJob suspend) are assumed here when a stored object lacks them.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable
from typing import Any

from kubeling.api import schema
from kubeling.api.registry import ResourceType

Obj = dict[str, Any]
Cells = list[Any]

INCLUDE_OBJECT_VALUES = ("Metadata", "Object", "None")

# ---------------------------------------------------------------------------
# Durations and timestamps (k8s.io/apimachinery/pkg/util/duration.HumanDuration)
# ---------------------------------------------------------------------------

_SECOND = 10**9
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as Go converts durations."""
    q = abs(a) // b
    return q if a >= 0 else -q


def human_duration(d: _dt.timedelta) -> str:
    """Kubernetes' HumanDuration: `59s`, `119s`, `2m5s`, `3h5m`, `2d3h`, `3y`..."""
    ns = (d.days * 86400 + d.seconds) * _SECOND + d.microseconds * 1000
    return _human_duration_ns(ns)


def _human_duration_ns(ns: int) -> str:
    seconds = _trunc_div(ns, _SECOND)
    # A little clock skew (up to 2s in the future) still reads as "now".
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = ns // _MINUTE
    if minutes < 10:
        s = (ns // _SECOND) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // _HOUR
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_timestamp(value: str | None) -> _dt.datetime | None:
    """An RFC 3339 Time or MicroTime; None when missing or unparseable (Go's zero time)."""
    if not value or not isinstance(value, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def translate_timestamp_since(value: str | None, now: _dt.datetime) -> str:
    """Age of a timestamp, `<unknown>` when it is not set."""
    t = parse_timestamp(value)
    if t is None:
        return "<unknown>"
    return human_duration(_utc(now) - t)


# ---------------------------------------------------------------------------
# Small formatters shared by several printers
# ---------------------------------------------------------------------------


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted `k=v` pairs, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "", "DoesNotExist": "!"}


class _InvalidSelector(ValueError):
    pass


def _requirement(key: str, op: str, values: list[str]) -> str:
    if op == "=":
        return f"{key}={values[0]}"
    if op in ("In", "NotIn"):
        if not values:
            raise _InvalidSelector(f"{op} requires values")
        return f"{key} {_OPERATORS[op]} ({','.join(sorted(values))})"
    if op in ("Exists", "DoesNotExist"):
        if values:
            raise _InvalidSelector(f"{op} takes no values")
        return f"{_OPERATORS[op]}{key}"
    raise _InvalidSelector(f"{op!r} is not a valid label selector operator")


def label_selector_string(selector: dict[str, Any] | None) -> str:
    """metav1.LabelSelectorAsSelector(...).String(); raises _InvalidSelector."""
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        reqs.append((key, _requirement(key, "=", [value])))
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key") or ""
        reqs.append((key, _requirement(key, expr.get("operator") or "", list(expr.get("values") or []))))
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: dict[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: `<none>` when empty, `<error>` when invalid."""
    try:
        text = label_selector_string(selector)
    except _InvalidSelector:
        return "<error>"
    return text or "<none>"


def _layout_containers(containers: list[Obj] | None) -> tuple[str, str]:
    containers = containers or []
    names = ",".join(c.get("name") or "" for c in containers)
    images = ",".join(c.get("image") or "" for c in containers)
    return names, images


def _bool_ptr(value: Any) -> str:
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def _list_with_more(items: list[str], more: bool, count: int, limit: int) -> str:
    text = ",".join(items)
    if more:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------
# Column definitions: descriptions come from Kubernetes' OpenAPI data
# ---------------------------------------------------------------------------

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_CORE = "io.k8s.api.core.v1."
_APPS = "io.k8s.api.apps.v1."
_BATCH = "io.k8s.api.batch.v1."

_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."


def _doc(definition: str, field: str) -> str:
    """A field's description (its SwaggerDoc in Go), "" if the schema lacks it."""
    try:
        prop = schema.definition(definition)["properties"][field]
    except KeyError:
        return ""
    return prop.get("description") or ""


# (name, type, description, priority, format); a description given as a
# (definition, field) pair is looked up in the schema.
_Spec = tuple[str, str, "str | tuple[str, str]", int, str]


def _c(name: str, type_: str, doc: str | tuple[str, str], priority: int = 0, fmt: str = "") -> _Spec:
    return (name, type_, doc, priority, fmt)


_NAME = _c("Name", "string", (_META, "name"), 0, "name")
_AGE = _c("Age", "string", (_META, "creationTimestamp"))


def _wide_template(selector_doc: tuple[str, str] | None) -> list[_Spec]:
    cols = [_c("Containers", "string", _CONTAINERS_DOC, 1), _c("Images", "string", _IMAGES_DOC, 1)]
    if selector_doc:
        cols.append(_c("Selector", "string", selector_doc, 1))
    return cols


_COLUMNS: dict[str, list[_Spec]] = {
    "Pod": [
        _NAME,
        _c("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        _c("Status", "string", "The aggregate status of the containers in this pod."),
        _c("Restarts", "string", "The number of times the containers in this pod have been restarted "
           "and when the last container in this pod has restarted."),
        _AGE,
        _c("IP", "string", (_CORE + "PodStatus", "podIP"), 1),
        _c("Node", "string", (_CORE + "PodSpec", "nodeName"), 1),
        _c("Nominated Node", "string", (_CORE + "PodStatus", "nominatedNodeName"), 1),
        _c("Readiness Gates", "string", (_CORE + "PodSpec", "readinessGates"), 1),
    ],
    "Node": [
        _NAME,
        _c("Status", "string", "The status of the node"),
        _c("Roles", "string", "The roles of the node"),
        _AGE,
        _c("Version", "string", (_CORE + "NodeSystemInfo", "kubeletVersion")),
        _c("Internal-IP", "string", (_CORE + "NodeStatus", "addresses"), 1),
        _c("External-IP", "string", (_CORE + "NodeStatus", "addresses"), 1),
        _c("OS-Image", "string", (_CORE + "NodeSystemInfo", "osImage"), 1),
        _c("Kernel-Version", "string", (_CORE + "NodeSystemInfo", "kernelVersion"), 1),
        _c("Container-Runtime", "string", (_CORE + "NodeSystemInfo", "containerRuntimeVersion"), 1),
    ],
    "Namespace": [_NAME, _c("Status", "string", "The status of the namespace"), _AGE],
    "ConfigMap": [_NAME, _c("Data", "string", (_CORE + "ConfigMap", "data")), _AGE],
    "Secret": [
        _NAME,
        _c("Type", "string", (_CORE + "Secret", "type")),
        _c("Data", "string", (_CORE + "Secret", "data")),
        _AGE,
    ],
    "Service": [
        _NAME,
        _c("Type", "string", (_CORE + "ServiceSpec", "type")),
        _c("Cluster-IP", "string", (_CORE + "ServiceSpec", "clusterIP")),
        _c("External-IP", "string", (_CORE + "ServiceSpec", "externalIPs")),
        _c("Port(s)", "string", (_CORE + "ServiceSpec", "ports")),
        _AGE,
        _c("Selector", "string", (_CORE + "ServiceSpec", "selector"), 1),
    ],
    "ServiceAccount": [_NAME, _c("Secrets", "string", (_CORE + "ServiceAccount", "secrets")), _AGE],
    "Endpoints": [_NAME, _c("Endpoints", "string", (_CORE + "Endpoints", "subsets")), _AGE],
    "Event": [
        _c("Last Seen", "string", (_CORE + "Event", "lastTimestamp")),
        _c("Type", "string", (_CORE + "Event", "type")),
        _c("Reason", "string", (_CORE + "Event", "reason")),
        _c("Object", "string", (_CORE + "Event", "involvedObject")),
        _c("Subobject", "string", (_CORE + "ObjectReference", "fieldPath"), 1),
        _c("Source", "string", (_CORE + "Event", "source"), 1),
        _c("Message", "string", (_CORE + "Event", "message")),
        _c("First Seen", "string", (_CORE + "Event", "firstTimestamp"), 1),
        _c("Count", "string", (_CORE + "Event", "count"), 1),
        _c("Name", "string", (_META, "name"), 1, "name"),
    ],
    "Deployment": [
        _NAME,
        _c("Ready", "string", "Number of the pod with ready state"),
        _c("Up-to-date", "string", (_APPS + "DeploymentStatus", "updatedReplicas")),
        _c("Available", "string", (_APPS + "DeploymentStatus", "availableReplicas")),
        _AGE,
        *_wide_template((_APPS + "DeploymentSpec", "selector")),
    ],
    "ReplicaSet": [
        _NAME,
        _c("Desired", "integer", (_APPS + "ReplicaSetSpec", "replicas")),
        _c("Current", "integer", (_APPS + "ReplicaSetStatus", "replicas")),
        _c("Ready", "integer", (_APPS + "ReplicaSetStatus", "readyReplicas")),
        _AGE,
        *_wide_template((_APPS + "ReplicaSetSpec", "selector")),
    ],
    "DaemonSet": [
        _NAME,
        _c("Desired", "integer", (_APPS + "DaemonSetStatus", "desiredNumberScheduled")),
        _c("Current", "integer", (_APPS + "DaemonSetStatus", "currentNumberScheduled")),
        _c("Ready", "integer", (_APPS + "DaemonSetStatus", "numberReady")),
        _c("Up-to-date", "integer", (_APPS + "DaemonSetStatus", "updatedNumberScheduled")),
        _c("Available", "integer", (_APPS + "DaemonSetStatus", "numberAvailable")),
        _c("Node Selector", "string", (_CORE + "PodSpec", "nodeSelector")),
        _AGE,
        *_wide_template((_APPS + "DaemonSetSpec", "selector")),
    ],
    "StatefulSet": [
        _NAME,
        _c("Ready", "string", "Number of the pod with ready state"),
        _AGE,
        *_wide_template(None),
    ],
    "Job": [
        _NAME,
        _c("Status", "string", "Status of the job."),
        _c("Completions", "string", (_BATCH + "JobStatus", "succeeded")),
        _c("Duration", "string", "Time required to complete the job."),
        _AGE,
        *_wide_template((_BATCH + "JobSpec", "selector")),
    ],
    "CronJob": [
        _NAME,
        _c("Schedule", "string", (_BATCH + "CronJobSpec", "schedule")),
        _c("Timezone", "string", (_BATCH + "CronJobSpec", "timeZone")),
        _c("Suspend", "boolean", (_BATCH + "CronJobSpec", "suspend")),
        _c("Active", "integer", (_BATCH + "CronJobStatus", "active")),
        _c("Last Schedule", "string", (_BATCH + "CronJobStatus", "lastScheduleTime")),
        _AGE,
        *_wide_template((_BATCH + "JobSpec", "selector")),
    ],
    "Lease": [
        _NAME,
        _c("Holder", "string", ("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")),
        _AGE,
    ],
    "PriorityClass": [
        _NAME,
        _c("Value", "integer", ("io.k8s.api.scheduling.v1.PriorityClass", "value")),
        _c("Global-Default", "boolean", ("io.k8s.api.scheduling.v1.PriorityClass", "globalDefault")),
        _AGE,
        _c("PreemptionPolicy", "string", ("io.k8s.api.scheduling.v1.PriorityClass", "preemptionPolicy")),
    ],
    "EndpointSlice": [
        _NAME,
        _c("AddressType", "string", ("io.k8s.api.discovery.v1.EndpointSlice", "addressType")),
        _c("Ports", "string", ("io.k8s.api.discovery.v1.EndpointSlice", "ports")),
        _c("Endpoints", "string", ("io.k8s.api.discovery.v1.EndpointSlice", "endpoints")),
        _AGE,
    ],
}

# Kinds without a printer get the generic convertor's columns (rest.NewDefaultTableConvertor).
_DEFAULT_COLUMNS: list[_Spec] = [_NAME, _c("Created At", "date", (_META, "creationTimestamp"))]


@functools.cache
def _column_definitions(kind: str) -> tuple[tuple[str, str, str, int, str], ...]:
    specs = _COLUMNS.get(kind, _DEFAULT_COLUMNS)
    return tuple(
        (name, type_, _doc(*doc) if isinstance(doc, tuple) else doc, priority, fmt)
        for name, type_, doc, priority, fmt in specs
    )


def column_definitions(rt: ResourceType) -> list[dict[str, Any]]:
    """The Table's columnDefinitions for a resource type (wide columns included)."""
    return [
        {"name": name, "type": type_, "format": fmt, "description": desc, "priority": priority}
        for name, type_, desc, priority, fmt in _column_definitions(rt.kind)
    ]


# ---------------------------------------------------------------------------
# Pods
# ---------------------------------------------------------------------------

_POD_SUCCEEDED_CONDITIONS = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                              "message": "The pod has completed successfully."}]
_POD_FAILED_CONDITIONS = [{"type": "Completed", "status": "True", "reason": "Failed",
                           "message": "The pod failed."}]


def _pod_condition(pod: Obj, type_: str) -> Obj | None:
    for cond in _get(pod, "status", "conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _is_restartable_init(container: Obj | None) -> bool:
    # Sidecars: init containers with restartPolicy Always run for the pod's lifetime.
    return bool(container) and container.get("restartPolicy") == "Always"


class _Restarts:
    """Restart count and the newest last-termination time seen (None = Go's zero time)."""

    def __init__(self) -> None:
        self.count = 0
        self.last: _dt.datetime | None = None

    def add(self, status: Obj) -> None:
        self.count += _int(status.get("restartCount"))
        finished = parse_timestamp(_get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (self.last is None or self.last < finished):
            self.last = finished

    def text(self, now: _dt.datetime) -> str:
        if self.count != 0 and self.last is not None:
            return f"{self.count} ({human_duration(now - self.last)} ago)"
        return str(self.count)


def _terminated_reason(terminated: Obj, prefix: str) -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if _int(terminated.get("signal")) != 0:
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _pod_status_cells(pod: Obj, now: _dt.datetime) -> tuple[str, str, str]:
    """Ready, Status and Restarts exactly as printPod computes them."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(map(_is_restartable_init, init_specs.values()))
    ready = 0
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    restarts, sidecar_restarts = _Restarts(), _Restarts()
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts.add(cs)
        sidecar = _is_restartable_init(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts.add(cs)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            ready += bool(cs.get("ready"))
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break

    initialized = (_pod_condition(pod, "Initialized") or {}).get("status") == "True"
    if not initializing or initialized:
        restarts = sidecar_restarts
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts.add(cs)
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod with a still-running container is not "Completed".
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"

    if _get(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return f"{ready}/{total}", reason, restarts.text(now)


def _pod_ip(status: Obj) -> str:
    # v1 -> internal conversion: podIP wins, else podIPs[0].
    ip = status.get("podIP") or ""
    if not ip:
        ips = status.get("podIPs") or []
        ip = (ips[0].get("ip") or "") if ips else ""
    return ip


def _readiness_gates(pod: Obj) -> str:
    gates = _get(pod, "spec", "readinessGates") or []
    if not gates:
        return "<none>"
    true_count = 0
    for gate in gates:
        cond = _pod_condition(pod, gate.get("conditionType") or "")
        if cond is not None and cond.get("status") == "True":
            true_count += 1
    return f"{true_count}/{len(gates)}"


def _pod_cells(pod: Obj, now: _dt.datetime) -> Cells:
    ready, reason, restarts = _pod_status_cells(pod, now)
    status = pod.get("status") or {}
    return [
        _get(pod, "metadata", "name") or "",
        ready,
        reason,
        restarts,
        _age(pod, now),
        _pod_ip(status) or "<none>",
        _get(pod, "spec", "nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        _readiness_gates(pod),
    ]


def _pod_row_conditions(pod: Obj) -> list[Obj]:
    phase = _get(pod, "status", "phase")
    if phase == "Succeeded":
        return _POD_SUCCEEDED_CONDITIONS
    if phase == "Failed":
        return _POD_FAILED_CONDITIONS
    return []


# ---------------------------------------------------------------------------
# Other core/v1 kinds
# ---------------------------------------------------------------------------


def _name(obj: Obj) -> str:
    return _get(obj, "metadata", "name") or ""


def _age(obj: Obj, now: _dt.datetime) -> str:
    return translate_timestamp_since(_get(obj, "metadata", "creationTimestamp"), now)


def _node_roles(labels: dict[str, str]) -> str:
    roles = set()
    for key, value in labels.items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Obj, type_: str) -> str:
    for addr in _get(node, "status", "addresses") or []:
        if addr.get("type") == type_:
            return addr.get("address") or ""
    return "<none>"


def _node_cells(node: Obj, now: _dt.datetime) -> Cells:
    conditions = {c.get("type"): c for c in _get(node, "status", "conditions") or []}
    ready = conditions.get("Ready")
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if _get(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    info = _get(node, "status", "nodeInfo") or {}
    return [
        _name(node),
        ",".join(status),
        _node_roles(_get(node, "metadata", "labels") or {}),
        _age(node, now),
        info.get("kubeletVersion") or "",
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace_cells(ns: Obj, now: _dt.datetime) -> Cells:
    return [_name(ns), _get(ns, "status", "phase") or "", _age(ns, now)]


def _configmap_cells(cm: Obj, now: _dt.datetime) -> Cells:
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)]


def _secret_cells(secret: Obj, now: _dt.datetime) -> Cells:
    return [_name(secret), secret.get("type") or "", len(secret.get("data") or {}), _age(secret, now)]


def _serviceaccount_cells(sa: Obj, now: _dt.datetime) -> Cells:
    return [_name(sa), len(sa.get("secrets") or []), _age(sa, now)]


def _load_balancer_ips(svc: Obj) -> str:
    # The server prints the wide form, which is never clipped.
    found = set()
    for ingress in _get(svc, "status", "loadBalancer", "ingress") or []:
        if ingress.get("ip"):
            found.add(ingress["ip"])
        elif ingress.get("hostname"):
            found.add(ingress["hostname"])
    return ",".join(sorted(found))


def _service_external_ip(svc: Obj, svc_type: str) -> str:
    external = list(_get(svc, "spec", "externalIPs") or [])
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        lb = _load_balancer_ips(svc)
        if external:
            return ",".join((lb.split(",") if lb else []) + external)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return _get(svc, "spec", "externalName") or ""
    return "<unknown>"


def _service_ports(ports: list[Obj]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        if _int(port.get("nodePort")) > 0:
            pieces.append(f"{_int(port.get('port'))}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{_int(port.get('port'))}/{protocol}")
    return ",".join(pieces) or "<none>"


def _cluster_ip(spec: Obj) -> str:
    # v1 -> internal conversion: clusterIP wins, else clusterIPs[0].
    ip = spec.get("clusterIP") or ""
    if not ip:
        ips = spec.get("clusterIPs") or []
        ip = ips[0] if ips else ""
    return ip or "<none>"


def _service_cells(svc: Obj, now: _dt.datetime) -> Cells:
    spec = svc.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    return [
        _name(svc),
        svc_type,
        _cluster_ip(spec),
        _service_external_ip(svc, svc_type),
        _service_ports(spec.get("ports") or []),
        _age(svc, now),
        format_labels(spec.get("selector")),
    ]


def _format_endpoints(endpoints: Obj) -> str:
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        # Headless services may have addresses without ports.
        targets = [None] if not ports else [p.get("port") for p in ports]
        for port in targets:
            count += len(addresses)
            for addr in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = addr.get("ip") or ""
                shown.append(ip if port is None else _join_host_port(ip, _int(port)))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _endpoints_cells(ep: Obj, now: _dt.datetime) -> Cells:
    return [_name(ep), _format_endpoints(ep), _age(ep, now)]


def _event_source(event: Obj) -> str:
    component = _get(event, "source", "component") or event.get("reportingComponent") or ""
    instance = _get(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def _event_cells(event: Obj, now: _dt.datetime) -> Cells:
    """core/v1 Event cells; events.k8s.io/v1 objects are converted first."""
    first = event.get("firstTimestamp")
    if parse_timestamp(first) is not None:
        first_seen = translate_timestamp_since(first, now)
    else:
        first_seen = translate_timestamp_since(event.get("eventTime"), now)
    last = event.get("lastTimestamp")
    last_seen = translate_timestamp_since(last, now) if parse_timestamp(last) is not None else first_seen
    count = _int(event.get("count"))
    series = event.get("series")
    if series is not None:
        last_seen = translate_timestamp_since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    involved = event.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [
        last_seen,
        event.get("type") or "",
        event.get("reason") or "",
        target,
        involved.get("fieldPath") or "",
        _event_source(event),
        (event.get("message") or "").strip(),
        first_seen,
        count,
        _name(event),
    ]


def events_v1_to_core(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event in core/v1 shape (the fields the printer reads)."""
    return {
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason"),
        "message": event.get("note"),
        "source": event.get("deprecatedSource") or {},
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "type": event.get("type"),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }


# ---------------------------------------------------------------------------
# apps/v1, batch/v1, coordination, discovery
# ---------------------------------------------------------------------------


def _replicas(obj: Obj) -> int:
    # spec.replicas defaults to 1 for Deployments, ReplicaSets and StatefulSets.
    value = _get(obj, "spec", "replicas")
    return 1 if value is None else _int(value)


def _template_containers(obj: Obj, *path: str) -> tuple[str, str]:
    return _layout_containers(_get(obj, *path, "spec", "containers"))


def _deployment_cells(d: Obj, now: _dt.datetime) -> Cells:
    status = d.get("status") or {}
    try:
        selector = label_selector_string(_get(d, "spec", "selector"))
    except _InvalidSelector:
        selector = "<invalid>"
    names, images = _template_containers(d, "spec", "template")
    return [
        _name(d),
        f"{_int(status.get('readyReplicas'))}/{_replicas(d)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(d, now),
        names,
        images,
        selector,
    ]


def _replicaset_cells(rs: Obj, now: _dt.datetime) -> Cells:
    status = rs.get("status") or {}
    names, images = _template_containers(rs, "spec", "template")
    return [
        _name(rs),
        _replicas(rs),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(rs, now),
        names,
        images,
        format_label_selector(_get(rs, "spec", "selector")),
    ]


def _daemonset_cells(ds: Obj, now: _dt.datetime) -> Cells:
    status = ds.get("status") or {}
    names, images = _template_containers(ds, "spec", "template")
    return [
        _name(ds),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        format_labels(_get(ds, "spec", "template", "spec", "nodeSelector")),
        _age(ds, now),
        names,
        images,
        format_label_selector(_get(ds, "spec", "selector")),
    ]


def _statefulset_cells(sts: Obj, now: _dt.datetime) -> Cells:
    names, images = _template_containers(sts, "spec", "template")
    ready = _int(_get(sts, "status", "readyReplicas"))
    return [_name(sts), f"{ready}/{_replicas(sts)}", _age(sts, now), names, images]


def _job_condition(job: Obj, type_: str) -> bool:
    for cond in _get(job, "status", "conditions") or []:
        if cond.get("type") == type_:
            return cond.get("status") == "True"
    return False


def _job_status(job: Obj) -> str:
    if _job_condition(job, "Complete"):
        return "Complete"
    if _job_condition(job, "Failed"):
        return "Failed"
    if _get(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _job_condition(job, "Suspended"):
        return "Suspended"
    if _job_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_completions(job: Obj) -> str:
    spec, succeeded = job.get("spec") or {}, _int(_get(job, "status", "succeeded"))
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    if completions is None and parallelism is None:
        completions = 1  # Job defaulting sets both to 1 when neither is given
    if completions is not None:
        return f"{succeeded}/{_int(completions)}"
    parallelism = 1 if parallelism is None else _int(parallelism)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(job: Obj, now: _dt.datetime) -> str:
    start = parse_timestamp(_get(job, "status", "startTime"))
    if start is None:
        return ""
    end = parse_timestamp(_get(job, "status", "completionTime"))
    return human_duration((end or now) - start)


def _job_cells(job: Obj, now: _dt.datetime) -> Cells:
    names, images = _template_containers(job, "spec", "template")
    return [
        _name(job),
        _job_status(job),
        _job_completions(job),
        _job_duration(job, now),
        _age(job, now),
        names,
        images,
        format_label_selector(_get(job, "spec", "selector")),
    ]


def _cronjob_cells(cj: Obj, now: _dt.datetime) -> Cells:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    last = status.get("lastScheduleTime")
    names, images = _template_containers(cj, "spec", "jobTemplate", "spec", "template")
    suspend = spec.get("suspend")
    return [
        _name(cj),
        spec.get("schedule") or "",
        spec.get("timeZone") if spec.get("timeZone") is not None else "<none>",
        _bool_ptr(False if suspend is None else suspend),  # defaulted to false
        len(status.get("active") or []),
        translate_timestamp_since(last, now) if last is not None else "<none>",
        _age(cj, now),
        names,
        images,
        format_label_selector(_get(cj, "spec", "jobTemplate", "spec", "selector")),
    ]


def _priorityclass_cells(pc: Obj, now: _dt.datetime) -> Cells:
    return [_name(pc), int(pc.get("value") or 0), bool(pc.get("globalDefault")), _age(pc, now),
            pc.get("preemptionPolicy") or ""]


def _lease_cells(lease: Obj, now: _dt.datetime) -> Cells:
    return [_name(lease), _get(lease, "spec", "holderIdentity") or "", _age(lease, now)]


def _discovery_ports(ports: list[Obj]) -> str:
    shown: list[str] = []
    limit, more = 3, False
    for port in ports:
        if len(shown) < limit:
            if port.get("port") is not None:
                shown.append(str(_int(port["port"])))
            elif port.get("name") is not None:
                shown.append(port["name"])
            else:
                shown.append("*")
        elif len(shown) == limit:
            more = True
    return _list_with_more(shown, more, len(ports), limit)


def _discovery_endpoints(endpoints: list[Obj]) -> str:
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for endpoint in endpoints:
        for address in endpoint.get("addresses") or []:
            if len(shown) < limit:
                shown.append(address)
            elif len(shown) == limit:
                more = True
            count += 1
    return _list_with_more(shown, more, count, limit)


def _endpointslice_cells(es: Obj, now: _dt.datetime) -> Cells:
    return [
        _name(es),
        es.get("addressType") or "",
        _discovery_ports(es.get("ports") or []),
        _discovery_endpoints(es.get("endpoints") or []),
        _age(es, now),
    ]


def _default_cells(obj: Obj, now: _dt.datetime) -> Cells:
    # The generic convertor prints the RFC 3339 timestamp; kubectl formats "date" columns.
    created = parse_timestamp(_get(obj, "metadata", "creationTimestamp"))
    return [_name(obj), created.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if created else "0001-01-01T00:00:00Z"]


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

CellPrinter = Callable[[Obj, _dt.datetime], Cells]

_PRINTERS: dict[tuple[str, str], CellPrinter] = {
    ("", "Pod"): _pod_cells,
    ("", "Node"): _node_cells,
    ("", "Namespace"): _namespace_cells,
    ("", "ConfigMap"): _configmap_cells,
    ("", "Secret"): _secret_cells,
    ("", "Service"): _service_cells,
    ("", "ServiceAccount"): _serviceaccount_cells,
    ("", "Endpoints"): _endpoints_cells,
    ("", "Event"): _event_cells,
    ("events.k8s.io", "Event"): lambda obj, now: _event_cells(events_v1_to_core(obj), now),
    ("apps", "Deployment"): _deployment_cells,
    ("apps", "ReplicaSet"): _replicaset_cells,
    ("apps", "DaemonSet"): _daemonset_cells,
    ("apps", "StatefulSet"): _statefulset_cells,
    ("batch", "Job"): _job_cells,
    ("batch", "CronJob"): _cronjob_cells,
    ("coordination.k8s.io", "Lease"): _lease_cells,
    ("scheduling.k8s.io", "PriorityClass"): _priorityclass_cells,
    ("discovery.k8s.io", "EndpointSlice"): _endpointslice_cells,
}


def row_cells(rt: ResourceType, obj: Obj, now: _dt.datetime | None = None) -> Cells:
    """One object's cells, matching column_definitions(rt)."""
    printer = _PRINTERS.get((rt.group, rt.kind), _default_cells)
    return printer(obj, _utc(now))


def _utc(now: _dt.datetime | None) -> _dt.datetime:
    if now is None:
        return _dt.datetime.now(_dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=_dt.UTC)


def _row_object(rt: ResourceType, obj: Obj, include_object: str) -> Obj | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def _row(rt: ResourceType, obj: Obj, include_object: str, now: _dt.datetime) -> Obj:
    row: Obj = {"cells": row_cells(rt, obj, now)}
    if rt.group == "" and rt.kind == "Pod":
        conditions = _pod_row_conditions(obj)
        if conditions:
            row["conditions"] = [dict(c) for c in conditions]
    partial = _row_object(rt, obj, include_object)
    if partial is not None:
        row["object"] = partial
    return row


def table(
    rt: ResourceType,
    objects: list[dict],
    *,
    resource_version: str = "",
    continue_token: str = "",
    include_object: str = "Metadata",
    now: _dt.datetime | None = None,
    remaining_item_count: int | None = None,
    no_headers: bool = False,
) -> dict:
    """A `meta.k8s.io/v1` Table for `objects` (a list, or one object from a GET).

    include_object: "Metadata" (PartialObjectMetadata rows, the default), "Object"
    (the full object) or "None" (no object); "" means "Metadata".
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(f"includeObject: Unsupported value: {include_object!r}: supported values: "
                         + ", ".join(f'"{v}"' for v in INCLUDE_OBJECT_VALUES))
    now = _utc(now)
    metadata: Obj = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    if not no_headers:
        out["columnDefinitions"] = column_definitions(rt)
    out["rows"] = [_row(rt, obj, include_object, now) for obj in objects]
    return out
