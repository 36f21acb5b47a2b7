"""ObjectMeta validation, worded as k8s.io/apimachinery/pkg/api/validation words it.

Also the name and key syntaxes of k8s.io/apimachinery/pkg/util/validation
(`dns1123_subdomain`, `dns1123_label`, `is_qualified_name`, ...): each returns the
list of Kubernetes' error strings, empty when the value is fine.

Causes are metav1.StatusCause dicts whose message is field.Error.ErrorBody(), e.g.
`Invalid value: "Web": a lowercase RFC 1123 subdomain must ...`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import Any

from kubeling.api import errors

NameFn = Callable[[str, bool], list[str]]

# ---------------------------------------------------------------- syntax helpers

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                      "and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                          "'-' or '.', and must start and end with an alphanumeric character")
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                      "start with an alphabetic character, and end with an alphanumeric character")
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character")

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
IS_NEGATIVE_MSG = "must be greater than or equal to 0"
FIELD_IMMUTABLE_MSG = "field is immutable"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, including its `', ' + ' or '` double space."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(max_len_error(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")  # a subdomain, so only the dots are wrong
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(max_len_error(DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """`[prefix/]name`: label keys, annotation keys, finalizers."""
    parts = value.split("/")
    errs: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in dns1123_subdomain(prefix)]
    else:
        return ["a qualified name " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX))
    if not _QNAME_RE.fullmatch(name):
        errs.append("name part " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(max_len_error(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_valid_path_segment_name(value: str) -> list[str]:
    """path.IsValidPathSegmentName: the rule for RBAC object names."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


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


# ---------------------------------------------------------------- field errors


def go_quote(s: str) -> str:
    """Go's %q (strconv.Quote) for the strings Kubernetes puts in messages."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_value(value: Any) -> str:
    """How field.Error.ErrorBody prints a bad value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    return repr(value)


def invalid(field: str, value: Any, detail: str) -> dict[str, str]:
    return errors.field_cause(field, f"Invalid value: {go_value(value)}: {detail}", "FieldValueInvalid")


def required(field: str, detail: str = "") -> dict[str, str]:
    return errors.field_cause(field, _with_detail("Required value", detail), "FieldValueRequired")


def forbidden(field: str, detail: str) -> dict[str, str]:
    return errors.field_cause(field, _with_detail("Forbidden", detail), "FieldValueForbidden")


def too_long(field: str, max_bytes: int) -> dict[str, str]:
    return errors.field_cause(field, f"Too long: must have at most {max_bytes} bytes", "FieldValueTooLong")


def _with_detail(kind: str, detail: str) -> str:
    return f"{kind}: {detail}" if detail else kind


# ---------------------------------------------------------------- ObjectMeta

_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})


def validate_object_meta(meta: dict, namespaced: bool, name_fn: NameFn | str,
                         path: str = "metadata") -> list[dict]:
    """ValidateObjectMeta: name, generateName, namespace, labels, annotations, owners,
    finalizers, managedFields. `name_fn` is a ValidateNameFunc or a kind (see name_validator)."""
    if isinstance(name_fn, str):
        name_fn = name_validator(name_fn)
    causes: list[dict] = []
    generate_name = meta.get("generateName") or ""
    if generate_name:
        causes += [invalid(f"{path}.generateName", generate_name, m) for m in name_fn(generate_name, True)]
    name = meta.get("name") or ""
    if not name:
        causes.append(required(f"{path}.name", "name or generateName is required"))
    else:
        causes += [invalid(f"{path}.name", name, m) for m in name_fn(name, False)]
    causes += _validate_namespace(meta.get("namespace") or "", namespaced, path)
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        causes.append(invalid(f"{path}.generation", generation, IS_NEGATIVE_MSG))
    causes += validate_labels(meta.get("labels") or {}, f"{path}.labels")
    causes += validate_annotations(meta.get("annotations") or {}, f"{path}.annotations")
    causes += validate_owner_references(meta.get("ownerReferences") or [], f"{path}.ownerReferences")
    causes += validate_finalizers(meta.get("finalizers") or [], f"{path}.finalizers")
    causes += validate_managed_fields(meta.get("managedFields") or [], f"{path}.managedFields")
    return causes


def _validate_namespace(namespace: str, namespaced: bool, path: str) -> list[dict]:
    if not namespaced:
        return [forbidden(f"{path}.namespace", "not allowed on this type")] if namespace else []
    if not namespace:
        return [required(f"{path}.namespace")]
    return [invalid(f"{path}.namespace", namespace, m) for m in dns1123_label(namespace)]


def validate_labels(labels: dict, path: str = "metadata.labels") -> list[dict]:
    causes: list[dict] = []
    for key, value in labels.items():
        causes += [invalid(path, key, m) for m in is_qualified_name(key)]
        causes += [invalid(path, value, m) for m in is_valid_label_value(value or "")]
    return causes


def validate_annotations(annotations: dict, path: str = "metadata.annotations") -> list[dict]:
    causes: list[dict] = []
    size = 0
    for key, value in annotations.items():
        # Annotation keys are qualified names, except that case does not matter.
        causes += [invalid(path, key, m) for m in is_qualified_name(key.lower())]
        size += len(key.encode()) + len((value or "").encode())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_owner_references(refs: list, path: str = "metadata.ownerReferences") -> list[dict]:
    causes: list[dict] = []
    first_controller = ""
    for ref in refs:
        causes += _validate_owner_reference(ref, path)
        if ref.get("controller") is True:
            current = f"{ref.get('kind') or ''}/{ref.get('name') or ''}"
            if first_controller:
                causes.append(errors.field_cause(path, (
                    f"Invalid value: {_go_owner_refs(refs)}: Only one reference can have Controller set to true. "
                    f'Found "true" in references for {first_controller} and {current}')))
            else:
                first_controller = current
    return causes


def _validate_owner_reference(ref: dict, path: str) -> list[dict]:
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
        causes.append(errors.field_cause(
            path, f"Invalid value: {_go_owner_ref(ref)}: /v1, Kind=Event is disallowed from being an owner"))
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


def validate_finalizers(finalizers: list, path: str = "metadata.finalizers") -> list[dict]:
    causes: list[dict] = []
    for f in finalizers:
        causes += [invalid(path, f, m) for m in is_qualified_name(f)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(invalid(path, list(finalizers), "finalizer orphan and foregroundDeletion cannot be both set"))
    # Built-in kinds also refuse short names that are not Kubernetes' own.
    for i, f in enumerate(finalizers):
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            causes.append(invalid(f"{path}[{i}]", f, "name is neither a standard finalizer name nor is it fully qualified"))
    return causes


def validate_managed_fields(entries: list, path: str = "metadata.managedFields") -> list[dict]:
    causes: list[dict] = []
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

_IMMUTABLE = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
_ZERO_TIME = "0001-01-01 00:00:00 +0000 UTC"


def validate_object_meta_update(new: dict, old: dict, path: str = "metadata", *,
                                require_resource_version: bool = False) -> list[dict]:
    """The update-only half of ValidateObjectMetaUpdate: immutable fields, generation,
    finalizers on an object being deleted. Labels, annotations, owners and managedFields
    are validate_object_meta's job (run it on the new object too).

    Kubernetes fills in resourceVersion before validating unconditional updates, so its
    `must be specified for an update` check is opt-in."""
    causes: list[dict] = []
    if old.get("deletionTimestamp"):
        causes += validate_no_new_finalizers(new.get("finalizers") or [], old.get("finalizers") or [],
                                             f"{path}.finalizers")
    if require_resource_version and not new.get("resourceVersion"):
        causes.append(invalid(f"{path}.resourceVersion", "", "must be specified for an update"))
    new_gen, old_gen = new.get("generation") or 0, old.get("generation") or 0
    if isinstance(new_gen, int) and isinstance(old_gen, int) and new_gen < old_gen:
        causes.append(invalid(f"{path}.generation", new_gen, "must not be decremented"))
    for field in _IMMUTABLE:
        shown_new = _go_meta_value(field, new.get(field))
        if shown_new != _go_meta_value(field, old.get(field)):
            causes.append(errors.field_cause(f"{path}.{field}", f"Invalid value: {shown_new}: {FIELD_IMMUTABLE_MSG}"))
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


def validate_no_new_finalizers(new: list, old: list, path: str = "metadata.finalizers") -> list[dict]:
    extra = sorted(set(new) - set(old))
    if not extra:
        return []
    return [forbidden(path, "no new finalizers can be added if the object is being deleted, "
                            f"found new finalizers {go_value(extra)}")]
