"""ObjectMeta validation, worded as k8s.io/apimachinery/pkg/api/validation words it.

Also each kind's name rule (Kubernetes' ValidateNameFunc). The name and key syntaxes
themselves are in kubeling.api.names, the cause builders in `causes`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from kubeling.api.names import (
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    go_quote,
    is_qualified_name,
    is_valid_path_segment_name,
)
from kubeling.api.validation.causes import (
    IMMUTABLE,
    NEGATIVE,
    Cause,
    GoLiteral,
    each_invalid,
    forbidden,
    go_value,
    invalid,
    required,
    too_long,
)
from kubeling.api.validation.labels import validate_labels

NameFn = Callable[[str, bool], list[str]]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
NOT_STANDARD_FINALIZER = "name is neither a standard finalizer name nor is it fully qualified"


# ---------------------------------------------------------------- name validators


def _mask_trailing_dash(name: str) -> str:
    # Kubernetes' maskTrailingDash really drops two characters before adding "a".
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return dns1035_label(_mask_trailing_dash(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool) -> list[str]:
    return is_valid_path_segment_name(name)


# Kinds whose name is not a DNS-1123 subdomain (pkg/apis/*/validation).
_NAME_FNS: dict[str, NameFn] = {
    "Namespace": name_is_dns_label,
    "StatefulSet": name_is_dns_label,
    "Service": name_is_dns1035_label,
    "Role": name_is_path_segment,
    "ClusterRole": name_is_path_segment,
    "RoleBinding": name_is_path_segment,
    "ClusterRoleBinding": name_is_path_segment,
}


def name_validator(kind: str) -> NameFn:
    """The ValidateNameFunc Kubernetes uses for `kind` (DNS-1123 subdomain by default)."""
    return _NAME_FNS.get(kind, name_is_dns_subdomain)


# ---------------------------------------------------------------- ObjectMeta


def validate_object_meta(meta: dict, namespaced: bool, name_fn: NameFn | str,
                         path: str = "metadata") -> list[Cause]:
    """ValidateObjectMeta: name, generateName, namespace, labels, annotations, owners,
    finalizers, managedFields. `name_fn` is a ValidateNameFunc or a kind (see name_validator)."""
    if isinstance(name_fn, str):
        name_fn = name_validator(name_fn)
    causes: list[Cause] = []
    generate_name = meta.get("generateName") or ""
    if generate_name:
        causes += each_invalid(f"{path}.generateName", generate_name, name_fn(generate_name, True))
    name = meta.get("name") or ""
    if not name:
        causes.append(required(f"{path}.name", "name or generateName is required"))
    else:
        causes += each_invalid(f"{path}.name", name, name_fn(name, False))
    causes += _validate_namespace(meta.get("namespace") or "", namespaced, path)
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(invalid(f"{path}.generation", generation, NEGATIVE))
    causes += validate_labels(meta.get("labels") or {}, f"{path}.labels")
    causes += validate_annotations(meta.get("annotations") or {}, f"{path}.annotations")
    causes += validate_owner_references(meta.get("ownerReferences") or [], f"{path}.ownerReferences")
    causes += validate_finalizers(meta.get("finalizers") or [], f"{path}.finalizers")
    causes += validate_managed_fields(meta.get("managedFields") or [], f"{path}.managedFields")
    return causes


def _validate_namespace(namespace: str, namespaced: bool, path: str) -> list[Cause]:
    if not namespaced:
        return [forbidden(f"{path}.namespace", "not allowed on this type")] if namespace else []
    if not namespace:
        return [required(f"{path}.namespace")]
    return each_invalid(f"{path}.namespace", namespace, dns1123_label(namespace))


def validate_annotations(annotations: dict, path: str = "metadata.annotations") -> list[Cause]:
    causes: list[Cause] = []
    size = 0
    for key, value in annotations.items():
        # Annotation keys are qualified names, except that case does not matter.
        causes += each_invalid(path, key, is_qualified_name(key.lower()))
        size += len(key.encode()) + len((value or "").encode())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_owner_references(refs: list, path: str = "metadata.ownerReferences") -> list[Cause]:
    causes: list[Cause] = []
    first_controller = ""
    for ref in refs:
        causes += _validate_owner_reference(ref, path)
        if ref.get("controller") is True:
            current = f"{ref.get('kind') or ''}/{ref.get('name') or ''}"
            if first_controller:
                causes.append(invalid(path, GoLiteral(_go_owner_refs(refs)), (
                    "Only one reference can have Controller set to true. "
                    f'Found "true" in references for {first_controller} and {current}')))
            else:
                first_controller = current
    return causes


def _validate_owner_reference(ref: dict, path: str) -> list[Cause]:
    api_version, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
    group, version = _parse_group_version(api_version)
    causes = []
    if not version:
        causes.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
    if not kind:
        causes.append(invalid(f"{path}.kind", kind, "kind must not be empty"))
    if not ref.get("name"):
        causes.append(invalid(f"{path}.name", ref.get("name") or "", "name must not be empty"))
    if not ref.get("uid"):
        causes.append(invalid(f"{path}.uid", ref.get("uid") or "", "uid must not be empty"))
    if (group, version, kind) == ("", "v1", "Event"):
        causes.append(invalid(path, GoLiteral(_go_owner_ref(ref)), "/v1, Kind=Event is disallowed from being an owner"))
    return causes


def _go_owner_refs(refs: list) -> str:
    return "[]v1.OwnerReference{" + ", ".join(_go_owner_ref(r) for r in refs) + "}"


def _go_owner_ref(ref: dict) -> str:
    """%#v of a v1.OwnerReference; pointer fields get a placeholder address (Go prints a real one)."""
    def ptr(key: str) -> str:
        return "(*bool)(nil)" if ref.get(key) is None else "(*bool)(0xc000000000)"
    return (f"v1.OwnerReference{{APIVersion:{go_quote(ref.get('apiVersion') or '')}, "
            f"Kind:{go_quote(ref.get('kind') or '')}, Name:{go_quote(ref.get('name') or '')}, "
            f"UID:{go_quote(ref.get('uid') or '')}, Controller:{ptr('controller')}, "
            f"BlockOwnerDeletion:{ptr('blockOwnerDeletion')}}}")


def _parse_group_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion, with an unparsable value giving an empty version."""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", ""


def validate_finalizers(finalizers: list, path: str = "metadata.finalizers") -> list[Cause]:
    causes: list[Cause] = []
    for f in finalizers:
        causes += each_invalid(path, f, is_qualified_name(f))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(invalid(path, list(finalizers), "finalizer orphan and foregroundDeletion cannot be both set"))
    for i, f in enumerate(finalizers):
        if not is_standard_or_qualified_finalizer(f):
            causes.append(invalid(f"{path}[{i}]", f, NOT_STANDARD_FINALIZER))
    return causes


def is_standard_or_qualified_finalizer(name: str) -> bool:
    """Built-in kinds refuse short finalizer names that are not Kubernetes' own."""
    return "/" in name or name in STANDARD_FINALIZERS


def validate_managed_fields(entries: list, path: str = "metadata.managedFields") -> list[Cause]:
    causes: list[Cause] = []
    for i, entry in enumerate(entries):
        here = f"{path}[{i}]"
        operation = entry.get("operation") or ""
        if operation not in ("Apply", "Update"):
            causes.append(invalid(f"{here}.operation", operation, "must be `Apply` or `Update`"))
        fields_type = entry.get("fieldsType") or ""
        if fields_type and fields_type != "FieldsV1":
            causes.append(invalid(f"{here}.fieldsType", fields_type, "must be `FieldsV1`"))
        if len(entry.get("subresource") or "") > 256:
            causes.append(too_long(f"{here}.subresource", 256))
    return causes


# ---------------------------------------------------------------- updates

_IMMUTABLE_FIELDS = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_ZERO_TIME = "0001-01-01 00:00:00 +0000 UTC"


def validate_object_meta_update(new: dict, old: dict, path: str = "metadata", *,
                                require_resource_version: bool = False) -> list[Cause]:
    """The update-only half of ValidateObjectMetaUpdate: immutable fields, generation,
    finalizers on an object being deleted. Labels, annotations, owners and managedFields
    are validate_object_meta's job (run it on the new object too).

    Kubernetes fills in resourceVersion before validating unconditional updates, so its
    `must be specified for an update` check is opt-in."""
    causes: list[Cause] = []
    if old.get("deletionTimestamp"):
        causes += validate_no_new_finalizers(new.get("finalizers") or [], old.get("finalizers") or [],
                                             f"{path}.finalizers")
    if require_resource_version and not new.get("resourceVersion"):
        causes.append(invalid(f"{path}.resourceVersion", "", "must be specified for an update"))
    new_gen, old_gen = new.get("generation") or 0, old.get("generation") or 0
    if isinstance(new_gen, int) and isinstance(old_gen, int) and new_gen < old_gen:
        causes.append(invalid(f"{path}.generation", new_gen, "must not be decremented"))
    for field in _IMMUTABLE_FIELDS:
        shown_new = _go_meta_value(field, new.get(field))
        if shown_new != _go_meta_value(field, old.get(field)):
            causes.append(invalid(f"{path}.{field}", GoLiteral(shown_new), IMMUTABLE))
    return causes


def _go_meta_value(field: str, value: Any) -> str:
    """An ObjectMeta field as ErrorBody prints it; equal output means semantically equal."""
    if field == "creationTimestamp":
        return _go_time(value) or _ZERO_TIME  # a metav1.Time value: zero, never nil
    if field == "deletionTimestamp":
        return _go_time(value) or "null"  # a *metav1.Time
    if field == "deletionGracePeriodSeconds":
        return go_value(value)  # an *int64: nil prints null
    return go_value(value or "")


def _go_time(value: Any) -> str | None:
    """time.Time.String() of an RFC 3339 value, in UTC as a server in UTC prints it."""
    if not value:
        return None
    try:
        t = _dt.datetime.fromisoformat(str(value)).astimezone(_dt.UTC)
    except ValueError:
        return go_quote(str(value))
    return t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def validate_no_new_finalizers(new: list, old: list, path: str = "metadata.finalizers") -> list[Cause]:
    extra = sorted(set(new) - set(old))
    if not extra:
        return []
    return [forbidden(path, "no new finalizers can be added if the object is being deleted, "
                            f"found new finalizers {go_value(extra)}")]
