"""Cluster-scoped core kinds: Namespace and Node (pkg/apis/core/validation)."""

from __future__ import annotations

import ipaddress

from kubeling.api.names import go_quote, is_qualified_name, is_valid_label_value
from kubeling.api.validation.causes import Cause, GoLiteral, duplicate, each_invalid, forbidden, invalid
from kubeling.api.validation.common import Obj, as_dict, as_list, as_str, dicts, one_of
from kubeling.api.validation.meta import NOT_STANDARD_FINALIZER, is_standard_or_qualified_finalizer
from kubeling.api.validation.pods import TAINT_EFFECTS

CIDR_EXAMPLE = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def validate_namespace(obj: Obj, old: Obj | None) -> list[Cause]:
    """spec.finalizers; Kubernetes reports them all at the list's path, without an index."""
    causes: list[Cause] = []
    for finalizer in as_list(as_dict(obj.get("spec")).get("finalizers")):
        name = as_str(finalizer)
        causes += each_invalid("spec.finalizers", name, is_qualified_name(name))
        if not is_standard_or_qualified_finalizer(name):
            causes.append(invalid("spec.finalizers", name, NOT_STANDARD_FINALIZER))
    return causes


def validate_node(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    for i, cidr in enumerate(as_list(spec.get("podCIDRs"))):
        if not _is_cidr(as_str(cidr)):
            causes.append(invalid(f"spec.podCIDRs[{i}]", as_str(cidr), CIDR_EXAMPLE))
    causes += _taints(dicts(spec.get("taints")), "spec.taints")
    if old is not None:
        causes += _node_update(spec, as_dict(old.get("spec")))
    return causes


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value  # ip_network takes a bare address as a /32, Go's ParseCIDR does not


def _node_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    """podCIDRs and providerID may be set once, from empty."""
    causes: list[Cause] = []
    if old_spec.get("podCIDRs") and as_list(spec.get("podCIDRs")) != as_list(old_spec.get("podCIDRs")):
        causes.append(forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid'))
    if old_spec.get("providerID") and spec.get("providerID") != old_spec.get("providerID"):
        causes.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    return causes


def _taints(taints: list[Obj], path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints):
        tpath = f"{path}[{i}]"
        key, value, effect = as_str(taint.get("key")), as_str(taint.get("value")), as_str(taint.get("effect"))
        causes += each_invalid(f"{tpath}.key", key, is_qualified_name(key))
        msgs = is_valid_label_value(value)
        if msgs:
            causes.append(invalid(f"{tpath}.value", value, ";".join(msgs)))
        causes += one_of(effect, TAINT_EFFECTS, f"{tpath}.effect")
        if (key, effect) in seen:
            shown = GoLiteral(f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, "
                              f"Effect:{go_quote(effect)}, TimeAdded:<nil>}}")
            cause = duplicate(tpath, shown)
            cause["message"] += ": taints must be unique by key and effect pair"
            causes.append(cause)
        seen.add((key, effect))
    return causes
