"""The declarative table of resource types kubeling serves.

Everything generic (HTTP routes, discovery, storage keys, tables, field selectors)
reads this table instead of branching on kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Subresources served under .../NAME/<sub>: "status", "scale", "binding", "log", ...
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Extra field selectors Kubernetes supports for this kind, beyond
    # metadata.name / metadata.namespace: field label -> dotted path in the object.
    field_selectors: dict[str, str] = field(default_factory=dict)
    # Kinds whose strategy sets metadata.generation (1 on create, +1 on each spec change).
    has_generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def schema_name(self) -> str:
        """Name of the object's definition in the Kubernetes OpenAPI data."""
        return schema_definition_name(self.group, self.version, self.kind)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def storage_prefix(self, namespace: str | None = None) -> str:
        """Key prefix in the store: /registry/<group>/<plural>/[<namespace>/]"""
        base = f"/registry/{self.group or 'core'}/{self.plural}/"
        if self.namespaced and namespace:
            return f"{base}{namespace}/"
        return base

    def storage_key(self, namespace: str | None, name: str) -> str:
        return self.storage_prefix(namespace if self.namespaced else None) + name


_GROUP_PACKAGES = {
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "coordination.k8s.io": "coordination",
    "events.k8s.io": "events",
    "discovery.k8s.io": "discovery",
    "autoscaling": "autoscaling",
    "policy": "policy",
    "scheduling.k8s.io": "scheduling",
}


def schema_definition_name(group: str, version: str, kind: str) -> str:
    return f"io.k8s.api.{_GROUP_PACKAGES[group]}.{version}.{kind}"


_POD_FIELDS = {
    "spec.nodeName": "spec.nodeName",
    "spec.restartPolicy": "spec.restartPolicy",
    "spec.schedulerName": "spec.schedulerName",
    "spec.serviceAccountName": "spec.serviceAccountName",
    "spec.hostNetwork": "spec.hostNetwork",
    "status.phase": "status.phase",
    "status.podIP": "status.podIP",
    "status.nominatedNodeName": "status.nominatedNodeName",
}

_EVENT_FIELDS = {
    "involvedObject.kind": "involvedObject.kind",
    "involvedObject.namespace": "involvedObject.namespace",
    "involvedObject.name": "involvedObject.name",
    "involvedObject.uid": "involvedObject.uid",
    "involvedObject.apiVersion": "involvedObject.apiVersion",
    "involvedObject.resourceVersion": "involvedObject.resourceVersion",
    "involvedObject.fieldPath": "involvedObject.fieldPath",
    "reason": "reason",
    "reportingComponent": "reportingComponent",
    "source": "source.component",
    "type": "type",
}

RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), (), ("status", "finalize"),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                 field_selectors={"status.phase": "status.phase"}),
    ResourceType("", "v1", "Pod", "pods", True, ("po",), ("all",),
                 ("status", "binding", "log", "exec", "eviction"), field_selectors=_POD_FIELDS),
    ResourceType("", "v1", "Node", "nodes", False, ("no",), (), ("status", "proxy"),
                 field_selectors={"spec.unschedulable": "spec.unschedulable"}),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, ("cm",), ()),
    ResourceType("", "v1", "Secret", "secrets", True, (), (), field_selectors={"type": "type"}),
    ResourceType("", "v1", "Service", "services", True, ("svc",), ("all",), ("status", "proxy"),
                 field_selectors={"spec.clusterIP": "spec.clusterIP", "spec.type": "spec.type"}),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ()),
    ResourceType("", "v1", "Endpoints", "endpoints", True, ("ep",), ()),
    ResourceType("", "v1", "Event", "events", True, ("ev",), (), field_selectors=_EVENT_FIELDS),
    # apps/v1
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",), ("status", "scale"), has_generation=True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",), ("status", "scale"),
                 field_selectors={"status.replicas": "status.replicas"}, has_generation=True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("all",), ("status",), has_generation=True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",), ("status", "scale"), has_generation=True),
    # batch/v1
    ResourceType("batch", "v1", "Job", "jobs", True, (), ("all",), ("status",),
                 field_selectors={"status.successful": "status.succeeded"}, has_generation=True),
    ResourceType("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("all",), ("status",), has_generation=True),
    # coordination.k8s.io/v1
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True, (), ()),
    # events.k8s.io/v1
    ResourceType("events.k8s.io", "v1", "Event", "events", True, (), (),
                 field_selectors={"regarding.kind": "regarding.kind", "regarding.name": "regarding.name",
                                  "regarding.namespace": "regarding.namespace", "reason": "reason",
                                  "type": "type"}),
    # scheduling.k8s.io/v1
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",), ()),
    # discovery.k8s.io/v1
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, (), (),
                 field_selectors={"addressType": "addressType"}),
)

# Which subresources accept which verbs (discovery lists these).
SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "log": ("get",),
    "exec": ("create", "get"),
    "proxy": ("create", "delete", "get", "patch", "update"),
    "finalize": ("update",),
}

# The kind returned by each subresource (when it is not the parent kind).
SUBRESOURCE_KINDS: dict[str, tuple[str, str, str]] = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "log": ("", "v1", "Pod"),
    "exec": ("", "v1", "PodExecOptions"),
    "proxy": ("", "v1", "NodeProxyOptions"),  # services/proxy: ServiceProxyOptions (see discovery)
}


def _index() -> dict[tuple[str, str, str], ResourceType]:
    return {(r.group, r.version, r.plural): r for r in RESOURCES}


_BY_PLURAL = _index()
_BY_KIND = {(r.group, r.version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    return _BY_PLURAL.get((group, version, plural))


def lookup_kind(group: str, version: str, kind: str) -> ResourceType | None:
    return _BY_KIND.get((group, version, kind))


def group_versions() -> dict[str, list[str]]:
    """Served groups (core is "") and their versions, in registry order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out


def resources_in(group: str, version: str) -> list[ResourceType]:
    return [r for r in RESOURCES if r.group == group and r.version == version]
