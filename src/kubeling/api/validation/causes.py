"""field.Error constructors (k8s.io/apimachinery/pkg/util/validation/field) as StatusCauses.

A cause's message is field.Error.ErrorBody(), e.g. `Invalid value: "Web": a lowercase
RFC 1123 subdomain must ...`; the bad value is printed the way Go prints it, which is
what the go_* helpers reproduce.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kubeling.api.errors import field_cause
from kubeling.api.names import go_quote

Cause = dict[str, str]

IMMUTABLE = "field is immutable"
NEGATIVE = "must be greater than or equal to 0"

# ---------------------------------------------------------------- Go value formatting


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


# ---------------------------------------------------------------- causes


def required(path: str, detail: str = "") -> Cause:
    return field_cause(path, _with_detail("Required value", detail), "FieldValueRequired")


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return field_cause(path, _with_detail(f"Invalid value: {go_value(value)}", detail), "FieldValueInvalid")


def each_invalid(path: str, value: Any, messages: Iterable[str]) -> list[Cause]:
    """One Invalid cause per message of a syntax check (see kubeling.api.names)."""
    return [invalid(path, value, m) for m in messages]


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
