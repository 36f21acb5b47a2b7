"""Defaulting, as Kubernetes' defaulters do it (pkg/apis/*/v1/defaults.go + zz_generated.defaults.go).

`apply_defaults` mutates an object in place and is idempotent: Kubernetes runs its
defaulters on every decode (request bodies and reads from storage), so running ours
again on a stored object must change nothing.

Some fields real clusters show are not set by defaulters but by the registry or
admission; the ones that need nothing but the object (Namespace finalizers, Service
IP family policy) are here too, so `kubectl get -o yaml` looks familiar.  Those that
need server state live elsewhere, e.g. `generate_job_selector` needs the uid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

KindKey = tuple[str, str, str]
Obj = dict[str, Any]

DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
DEFAULT_SCHEDULER_NAME = "default-scheduler"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
VOLUME_DEFAULT_MODE = 0o644  # 420: secret, configMap, downwardAPI and projected volumes
CLIENT_IP_AFFINITY_SECONDS = 10800  # 3 hours
SERVICE_ACCOUNT_TOKEN_EXPIRATION_SECONDS = 3600

JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _setdefault(obj: Obj, key: str, value: Any) -> Any:
    """Set `key` when absent or null (a Go nil pointer / zero value), return the value."""
    if obj.get(key) is None:
        obj[key] = copy.deepcopy(value)
    return obj[key]


def _set_if_empty(obj: Obj, key: str, value: Any) -> None:
    """Go defaulters test string fields against "" and ints against 0: treat those as unset too."""
    if obj.get(key) in (None, "", 0):
        obj[key] = value


def _child(obj: Obj, key: str) -> Obj | None:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def _items(obj: Obj | None, key: str) -> list[Obj]:
    if not obj:
        return []
    value = obj.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ---------------------------------------------------------------------------
# core/v1 pieces shared by Pods and pod templates


def image_pull_policy(image: str) -> str:
    """Always for `:latest` or an untagged image, IfNotPresent otherwise (digests included)."""
    if not image or "@" in image:  # unparsable or pinned by digest
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_http_get(action: Obj | None) -> None:
    if action is None:
        return
    _set_if_empty(action, "path", "/")
    _set_if_empty(action, "scheme", "HTTP")


def _default_probe(probe: Obj | None) -> None:
    if probe is None:
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        _set_if_empty(probe, key, value)
    _default_http_get(_child(probe, "httpGet"))
    grpc = _child(probe, "grpc")
    if grpc is not None:
        _setdefault(grpc, "service", "")


def _default_field_ref(holder: Obj | None) -> None:
    ref = _child(holder, "fieldRef") if holder else None
    if ref is not None:
        _set_if_empty(ref, "apiVersion", "v1")


def _default_container(ctr: Obj, host_network: bool) -> None:
    if not ctr.get("imagePullPolicy"):
        ctr["imagePullPolicy"] = image_pull_policy(str(ctr.get("image") or ""))
    _set_if_empty(ctr, "terminationMessagePath", TERMINATION_MESSAGE_PATH)
    _set_if_empty(ctr, "terminationMessagePolicy", "File")
    # ResourceRequirements is a struct (not a pointer) in Go, so it always serializes.
    _setdefault(ctr, "resources", {})
    for port in _items(ctr, "ports"):
        _set_if_empty(port, "protocol", "TCP")
        if host_network and not port.get("hostPort"):
            port["hostPort"] = port.get("containerPort")
    for env in _items(ctr, "env"):
        _default_field_ref(_child(env, "valueFrom"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(_child(ctr, key))
    lifecycle = _child(ctr, "lifecycle")
    for hook in ("postStart", "preStop"):
        handler = _child(lifecycle, hook) if lifecycle else None
        if handler:
            _default_http_get(_child(handler, "httpGet"))


def _default_downward_items(source: Obj | None) -> None:
    for item in _items(source, "items"):
        _default_field_ref(item)


def _default_pvc_spec(spec: Obj | None) -> None:
    if spec is not None:
        _set_if_empty(spec, "volumeMode", "Filesystem")


def _default_projected(vol: Obj) -> None:
    _setdefault(vol, "defaultMode", VOLUME_DEFAULT_MODE)
    for source in _items(vol, "sources"):
        _default_downward_items(_child(source, "downwardAPI"))
        token = _child(source, "serviceAccountToken")
        if token is not None:
            _set_if_empty(token, "expirationSeconds", SERVICE_ACCOUNT_TOKEN_EXPIRATION_SECONDS)


# Per volume source: the defaults its SetDefaults_* function fills in.
_VOLUME_SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "secret": {"defaultMode": VOLUME_DEFAULT_MODE},
    "configMap": {"defaultMode": VOLUME_DEFAULT_MODE},
    "downwardAPI": {"defaultMode": VOLUME_DEFAULT_MODE},
    "hostPath": {"type": ""},
    "iscsi": {"iscsiInterface": "default"},
    "rbd": {"pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"},
    "azureDisk": {"cachingMode": "ReadWrite", "fsType": "ext4", "readOnly": False, "kind": "Shared"},
    "scaleIO": {"storageMode": "ThinProvisioned", "fsType": "xfs"},
}

VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)


def _default_volume(vol: Obj) -> None:
    if not any(vol.get(source) is not None for source in VOLUME_SOURCES):
        vol["emptyDir"] = {}
    for source, defaults in _VOLUME_SOURCE_DEFAULTS.items():
        body = _child(vol, source)
        if body is not None:
            for key, value in defaults.items():
                _setdefault(body, key, value)
    _default_downward_items(_child(vol, "downwardAPI"))
    projected = _child(vol, "projected")
    if projected is not None:
        _default_projected(projected)
    ephemeral = _child(vol, "ephemeral")
    template = _child(ephemeral, "volumeClaimTemplate") if ephemeral else None
    if template is not None:
        _default_pvc_spec(_child(template, "spec"))


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and everything nested in it (applies to Pods and pod templates)."""
    _set_if_empty(spec, "dnsPolicy", "ClusterFirst")
    _set_if_empty(spec, "restartPolicy", "Always")
    _setdefault(spec, "securityContext", {})
    _setdefault(spec, "terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS)
    _set_if_empty(spec, "schedulerName", DEFAULT_SCHEDULER_NAME)
    host_network = bool(spec.get("hostNetwork"))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for ctr in _items(spec, key):
            _default_container(ctr, host_network and key != "ephemeralContainers")
    for vol in _items(spec, "volumes"):
        _default_volume(vol)


def default_pod_template(template: Obj | None) -> None:
    if template is None:
        return
    spec = template.get("spec")
    if isinstance(spec, dict):
        default_pod_spec(spec)


def _default_pod(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    # Only on Pods (SetDefaults_Pod), not templates: requests default to limits.
    for key in ("initContainers", "containers"):
        for ctr in _items(spec, key):
            resources = _child(ctr, "resources") or {}
            limits = _child(resources, "limits")
            if limits:
                requests = _setdefault(resources, "requests", {})
                for name, quantity in limits.items():
                    requests.setdefault(name, quantity)
    _setdefault(spec, "enableServiceLinks", True)
    default_pod_spec(spec)


# ---------------------------------------------------------------------------
# apps/v1


def _template_of(obj: Obj) -> Obj | None:
    spec = _child(obj, "spec")
    return _child(spec, "template") if spec else None


def _default_rolling_update(strategy: Obj, *, max_unavailable: Any, max_surge: Any) -> None:
    """Deployments and DaemonSets: RollingUpdate by default, with the kind's own limits."""
    _set_if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _setdefault(strategy, "rollingUpdate", {})
        _setdefault(rolling, "maxUnavailable", max_unavailable)
        _setdefault(rolling, "maxSurge", max_surge)


def _default_deployment(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    _setdefault(spec, "replicas", 1)
    _default_rolling_update(_setdefault(spec, "strategy", {}), max_unavailable="25%", max_surge="25%")
    _setdefault(spec, "revisionHistoryLimit", 10)
    _setdefault(spec, "progressDeadlineSeconds", 600)
    default_pod_template(_template_of(obj))


def _default_replicaset(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    _setdefault(spec, "replicas", 1)
    default_pod_template(_template_of(obj))


def _default_daemonset(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    _default_rolling_update(_setdefault(spec, "updateStrategy", {}), max_unavailable=1, max_surge=0)
    _setdefault(spec, "revisionHistoryLimit", 10)
    default_pod_template(_template_of(obj))


def _default_statefulset(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    _set_if_empty(spec, "podManagementPolicy", "OrderedReady")
    strategy = _setdefault(spec, "updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _setdefault(strategy, "rollingUpdate", {})
    rolling = _child(strategy, "rollingUpdate")
    if strategy["type"] == "RollingUpdate" and rolling is not None:
        _setdefault(rolling, "partition", 0)
    retention = _setdefault(spec, "persistentVolumeClaimRetentionPolicy", {})
    _set_if_empty(retention, "whenDeleted", "Retain")
    _set_if_empty(retention, "whenScaled", "Retain")
    _setdefault(spec, "replicas", 1)
    _setdefault(spec, "revisionHistoryLimit", 10)
    default_pod_template(_template_of(obj))
    for claim in _items(spec, "volumeClaimTemplates"):
        _default_pvc_spec(_setdefault(claim, "spec", {}))
        _set_if_empty(_setdefault(claim, "status", {}), "phase", "Pending")


# ---------------------------------------------------------------------------
# batch/v1


def _default_job(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _setdefault(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    template = _child(spec, "template")
    template_labels = (_child(template, "metadata") or {}).get("labels") if template else None
    metadata = _setdefault(obj, "metadata", {})
    if template_labels is not None and not metadata.get("labels"):
        metadata["labels"] = dict(template_labels)
    _setdefault(spec, "completionMode", "NonIndexed")
    _setdefault(spec, "suspend", False)
    failure_policy = _child(spec, "podFailurePolicy")
    for rule in _items(failure_policy, "rules"):
        for pattern in _items(rule, "onPodConditions"):
            _set_if_empty(pattern, "status", "True")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if failure_policy is not None else "TerminatingOrFailed"
    _setdefault(spec, "manualSelector", False)
    default_pod_template(template)


def generate_job_selector(job: Obj) -> None:
    """The Job strategy's generateSelector: runs at create once the uid is known.

    Unless `spec.manualSelector` is true, label the pod template with the job's name and
    uid and select on `batch.kubernetes.io/controller-uid`.  Labels the user already set
    are kept (validation then rejects a conflict).  A Job whose labels were defaulted from
    its template gets the generated labels as well, as it does in Kubernetes.
    """
    spec = _setdefault(job, "spec", {})
    if spec.get("manualSelector") is True:
        return
    metadata = job.get("metadata") or {}
    name, uid = str(metadata.get("name") or ""), str(metadata.get("uid") or "")
    template = _setdefault(spec, "template", {})
    labels = _setdefault(_setdefault(template, "metadata", {}), "labels", {})
    job_meta = _setdefault(job, "metadata", {})
    # Go's defaulter shares the template's label map with an unlabelled Job, so the
    # generated labels show up on the Job too.
    shared = not job_meta.get("labels") or job_meta.get("labels") == labels
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, name)
    for key in CONTROLLER_UID_LABELS:
        labels.setdefault(key, uid)
    if shared:
        job_meta["labels"] = dict(labels)
    selector = _setdefault(spec, "selector", {})
    _setdefault(selector, "matchLabels", {}).setdefault(CONTROLLER_UID_LABELS[1], uid)


def _default_cronjob(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    _set_if_empty(spec, "concurrencyPolicy", "Allow")
    _setdefault(spec, "suspend", False)
    _setdefault(spec, "successfulJobsHistoryLimit", 3)
    _setdefault(spec, "failedJobsHistoryLimit", 1)
    job_template = _child(spec, "jobTemplate")
    job_spec = _child(job_template, "spec") if job_template else None
    if job_spec is not None:
        default_pod_template(_child(job_spec, "template"))


# ---------------------------------------------------------------------------
# other core/v1 kinds


def _default_service(obj: Obj) -> None:
    spec = _setdefault(obj, "spec", {})
    _set_if_empty(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = _setdefault(_setdefault(spec, "sessionAffinityConfig", {}), "clientIP", {})
        _setdefault(client_ip, "timeoutSeconds", CLIENT_IP_AFFINITY_SECONDS)
    _set_if_empty(spec, "type", "ClusterIP")
    service_type = spec["type"]
    for port in _items(spec, "ports"):
        _set_if_empty(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if service_type in ("NodePort", "LoadBalancer"):
        _set_if_empty(spec, "externalTrafficPolicy", "Cluster")
    if service_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        _setdefault(spec, "internalTrafficPolicy", "Cluster")
        # The service registry's IP family defaulting (single-stack IPv4 cluster).
        headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
        _setdefault(spec, "ipFamilyPolicy", "RequireDualStack" if headless_selectorless else "SingleStack")
        _setdefault(spec, "ipFamilies", ["IPv4"])
    if service_type == "LoadBalancer":
        _setdefault(spec, "allocateLoadBalancerNodePorts", True)


def _default_namespace(obj: Obj) -> None:
    metadata = _setdefault(obj, "metadata", {})
    name = metadata.get("name")
    if name:
        _setdefault(metadata, "labels", {})["kubernetes.io/metadata.name"] = name
    # Set by the namespace strategy at create, shown by every real cluster.
    _setdefault(_setdefault(obj, "spec", {}), "finalizers", ["kubernetes"])
    _set_if_empty(_setdefault(obj, "status", {}), "phase", "Active")


def _default_secret(obj: Obj) -> None:
    _set_if_empty(obj, "type", "Opaque")


def _default_node(obj: Obj) -> None:
    # v1 <-> internal conversion keeps only podCIDRs: a lone podCIDR becomes the list, and
    # podCIDR is always read back as the list's first entry.
    spec = _child(obj, "spec")
    if spec is not None:
        cidrs = spec.get("podCIDRs")
        if not cidrs and isinstance(spec.get("podCIDR"), str) and spec["podCIDR"]:
            spec["podCIDRs"] = [spec["podCIDR"]]
        elif isinstance(cidrs, list) and cidrs and isinstance(cidrs[0], str):
            spec["podCIDR"] = cidrs[0]
    status = _child(obj, "status")
    if status is not None and status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = copy.deepcopy(status["capacity"])


def _default_endpoints(obj: Obj) -> None:
    for subset in _items(obj, "subsets"):
        for port in _items(subset, "ports"):
            _set_if_empty(port, "protocol", "TCP")


def _default_endpointslice(obj: Obj) -> None:
    for port in _items(obj, "ports"):
        _setdefault(port, "name", "")
        _setdefault(port, "protocol", "TCP")


def _default_priorityclass(pc: Obj) -> None:
    if pc.get("preemptionPolicy") is None:
        pc["preemptionPolicy"] = "PreemptLowerPriority"


def _no_defaults(obj: Obj) -> None:
    """Kinds whose groups register no defaulting functions."""


DEFAULTERS: dict[KindKey, Callable[[Obj], None]] = {
    ("", "v1", "Pod"): _default_pod,
    ("", "v1", "Service"): _default_service,
    ("", "v1", "Namespace"): _default_namespace,
    ("", "v1", "Secret"): _default_secret,
    ("", "v1", "Node"): _default_node,
    ("", "v1", "Endpoints"): _default_endpoints,
    ("", "v1", "ConfigMap"): _no_defaults,
    ("", "v1", "ServiceAccount"): _no_defaults,
    ("", "v1", "Event"): _no_defaults,
    ("apps", "v1", "Deployment"): _default_deployment,
    ("apps", "v1", "ReplicaSet"): _default_replicaset,
    ("apps", "v1", "DaemonSet"): _default_daemonset,
    ("apps", "v1", "StatefulSet"): _default_statefulset,
    ("batch", "v1", "Job"): _default_job,
    ("batch", "v1", "CronJob"): _default_cronjob,
    ("coordination.k8s.io", "v1", "Lease"): _no_defaults,
    ("scheduling.k8s.io", "v1", "PriorityClass"): _default_priorityclass,
    ("events.k8s.io", "v1", "Event"): _no_defaults,
    ("discovery.k8s.io", "v1", "EndpointSlice"): _default_endpointslice,
}


def apply_defaults(kind_key: KindKey, obj: Obj) -> None:
    """Fill in Kubernetes' defaults for `kind_key` = (group, version, kind), in place."""
    defaulter = DEFAULTERS.get(kind_key)
    if defaulter is not None and isinstance(obj, dict):
        defaulter(obj)
