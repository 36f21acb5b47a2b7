"""Events, core/v1 and events.k8s.io/v1 (pkg/apis/core/validation/events.go).

Kubernetes validates both through the core type, so an events.k8s.io Event is first
seen through the core field names, which are also the ones its errors report.
"""

from __future__ import annotations

from kubeling.api.names import dns1123_subdomain, is_qualified_name
from kubeling.api.validation.causes import Cause, each_invalid, invalid, required
from kubeling.api.validation.common import Obj, as_dict, as_str, is_int

# Limits on the fields of an Event that has an eventTime (the new-style API).
NAME_FIELD_LIMITS = (("reportingInstance", 128), ("action", 128), ("reason", 128))
NOTE_LENGTH_LIMIT = 1024


def validate_core_event(obj: Obj, old: Obj | None) -> list[Cause]:
    return _legacy_event(obj, "reportingComponent")


def validate_events_event(obj: Obj, old: Obj | None) -> list[Cause]:
    event = _core_event_view(obj)
    causes = _legacy_event(event, "reportingController")
    series = event.get("series")
    if isinstance(series, dict):
        count = series.get("count")
        if is_int(count) and count < 2:
            causes.append(invalid("series.count", "", "should be at least 2"))
        if not series.get("lastObservedTime"):
            causes.append(required("series.lastObservedTime"))
    if not event.get("eventTime"):
        causes.append(required("eventTime"))
    if event.get("type") not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {as_str(event.get('type'))}"))
    for key in ("firstTimestamp", "lastTimestamp", "count"):
        if event.get(key):
            causes.append(invalid(key, "", "needs to be unset"))
    source = as_dict(event.get("source"))
    if source.get("component") or source.get("host"):
        causes.append(invalid("source", "", "needs to be unset"))
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
    namespace = as_str(as_dict(event.get("metadata")).get("namespace"))
    involved_ns = as_str(as_dict(event.get("involvedObject")).get("namespace"))
    causes: list[Cause] = []
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (involved_ns and namespace != involved_ns):
            causes.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        causes += _new_style_fields(event, controller_field)
    if namespace:
        causes += each_invalid("namespace", namespace, dns1123_subdomain(namespace))
    return causes


def _new_style_fields(event: Obj, controller_field: str) -> list[Cause]:
    controller = as_str(event.get("reportingComponent"))
    causes = [] if controller else [required(controller_field)]
    causes += each_invalid(controller_field, controller, is_qualified_name(controller))
    for key, limit in NAME_FIELD_LIMITS:
        value = as_str(event.get(key))
        if not value:
            causes.append(required(key))
        if len(value) > limit:
            causes.append(invalid(key, "", f"can have at most {limit} characters"))
    if len(as_str(event.get("message"))) > NOTE_LENGTH_LIMIT:
        causes.append(invalid("message", "", f"can have at most {NOTE_LENGTH_LIMIT} characters"))
    return causes
