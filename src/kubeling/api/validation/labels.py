"""Labels and label selectors (k8s.io/apimachinery/pkg/apis/meta/v1/validation)."""

from __future__ import annotations

from typing import Any

from kubeling.api.errors import ApiError
from kubeling.api.names import is_qualified_name, is_valid_label_value
from kubeling.api.selectors import LabelSelector
from kubeling.api.validation.causes import (
    Cause,
    GoLiteral,
    each_invalid,
    forbidden,
    go_string_map,
    invalid,
    required,
)
from kubeling.api.validation.common import Obj, as_dict, as_list, as_str, dicts


def validate_labels(labels: Any, path: str = "metadata.labels") -> list[Cause]:
    """ValidateLabels: every error reported at the map's own path."""
    causes: list[Cause] = []
    for key, value in as_dict(labels).items():
        causes += each_invalid(path, key, is_qualified_name(key))
        causes += each_invalid(path, as_str(value), is_valid_label_value(as_str(value)))
    return causes


def validate_label_selector(path: str, selector: Obj) -> list[Cause]:
    causes = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(dicts(selector.get("matchExpressions"))):
        epath = f"{path}.matchExpressions[{i}]"
        operator, values = expr.get("operator"), as_list(expr.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(required(f"{epath}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                causes.append(forbidden(f"{epath}.values",
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            causes.append(invalid(f"{epath}.operator", as_str(operator), "not a valid selector operator"))
        key = as_str(expr.get("key"))
        causes += each_invalid(f"{epath}.key", key, is_qualified_name(key))
        for j, value in enumerate(values):
            causes += each_invalid(f"{epath}.values[{j}]", as_str(value), is_valid_label_value(as_str(value)))
    return causes


def as_selector(selector: Any) -> LabelSelector | None:
    """LabelSelectorAsSelector; None when it cannot be converted (an error in Kubernetes)."""
    try:
        return LabelSelector.from_dict(selector if isinstance(selector, dict) else None)
    except (ApiError, ValueError):
        return None


def selector_matches_template(spec: Obj, path: str, *, skip_empty: bool) -> list[Cause]:
    selector = as_selector(spec.get("selector"))
    labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
    if selector is None or (skip_empty and selector.empty) or selector.matches(as_dict(labels)):
        return []
    shown = GoLiteral(go_string_map(labels if isinstance(labels, dict) else None))
    return [invalid(f"{path}.template.metadata.labels", shown, "`selector` does not match template `labels`")]
