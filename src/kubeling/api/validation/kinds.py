"""Per-kind semantic validation, worded as Kubernetes words it: the dispatch table.

Mirrors pkg/apis/{core,apps,batch,coordination,discovery}/validation for the checks
users hit most, one module per area.  `validate` returns metav1.StatusCause dicts; the
caller turns a non-empty list into a 422 with `errors.invalid`.  Objects are expected
to have been defaulted first (`api.defaults.apply_defaults`), as Kubernetes validates
after defaulting.  ObjectMeta (including each kind's name rule) is checked by `meta`.
"""

from __future__ import annotations

from kubeling.api.validation.batch import validate_cronjob, validate_job
from kubeling.api.validation.cluster import validate_namespace, validate_node
from kubeling.api.validation.common import KindKey, Validator, validate_nothing
from kubeling.api.validation.config import validate_configmap, validate_secret
from kubeling.api.validation.events import validate_core_event, validate_events_event
from kubeling.api.validation.leases import validate_lease
from kubeling.api.validation.pods import validate_pod
from kubeling.api.validation.scheduling import validate_priorityclass
from kubeling.api.validation.services import validate_endpoints, validate_endpointslice, validate_service
from kubeling.api.validation.workloads import (
    validate_daemonset,
    validate_deployment,
    validate_replicaset,
    validate_statefulset,
)

VALIDATORS: dict[KindKey, Validator] = {
    ("", "v1", "Pod"): validate_pod,
    ("", "v1", "Service"): validate_service,
    ("", "v1", "ConfigMap"): validate_configmap,
    ("", "v1", "Secret"): validate_secret,
    ("", "v1", "Namespace"): validate_namespace,
    ("", "v1", "Node"): validate_node,
    ("", "v1", "Event"): validate_core_event,
    ("", "v1", "Endpoints"): validate_endpoints,
    ("", "v1", "ServiceAccount"): validate_nothing,
    ("apps", "v1", "Deployment"): validate_deployment,
    ("apps", "v1", "ReplicaSet"): validate_replicaset,
    ("apps", "v1", "DaemonSet"): validate_daemonset,
    ("apps", "v1", "StatefulSet"): validate_statefulset,
    ("batch", "v1", "Job"): validate_job,
    ("batch", "v1", "CronJob"): validate_cronjob,
    ("coordination.k8s.io", "v1", "Lease"): validate_lease,
    ("events.k8s.io", "v1", "Event"): validate_events_event,
    ("scheduling.k8s.io", "v1", "PriorityClass"): validate_priorityclass,
    ("discovery.k8s.io", "v1", "EndpointSlice"): validate_endpointslice,
}


def validate(kind_key: KindKey, obj: dict, old: dict | None) -> list[dict]:
    """Semantic validation of `obj` (create when `old` is None, else update) as StatusCauses."""
    validator = VALIDATORS.get(kind_key)
    return validator(obj, old) if validator is not None else []
