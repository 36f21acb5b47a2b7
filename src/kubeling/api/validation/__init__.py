"""Validation of API objects: Kubernetes' schema first, then its semantic rules.

- check_schema(): unknown fields and wrong types, against Kubernetes' OpenAPI definitions,
  handled per the request's fieldValidation (Strict: 400, Warn: warnings, Ignore).
  Unknown fields are dropped from the object either way, as Kubernetes' decoder does.
- validate(): ObjectMeta rules and the per-kind rules; raises a 422 Invalid.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors
from kubeling.api.registry import ResourceType
from kubeling.api.validation import kinds, schema
from kubeling.api.validation import meta as meta_validation


def check_schema(rt: ResourceType, obj: dict[str, Any], field_validation: str) -> list[str]:
    """Returns the warnings to send back; raises 400 BadRequest for type errors or, under
    Strict, for unknown fields."""
    if not isinstance(obj, dict):
        raise errors.bad_request("the body of the request must be a JSON or YAML object")
    causes, unknown = schema.validate_schema(obj, rt.schema_name)
    if causes:
        raise schema.decode_error(rt, causes)
    if not unknown:
        return []
    if field_validation == "Strict":
        raise schema.strict_decoding_error(rt, unknown)
    schema.prune(obj, unknown)
    return schema.unknown_field_warnings(unknown) if field_validation == "Warn" else []


def validate(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    md = obj.get("metadata") or {}
    causes = meta_validation.validate_object_meta(md, rt.namespaced, rt.kind)
    if old is not None:
        causes += meta_validation.validate_object_meta_update(md, old.get("metadata") or {})
    causes += kinds.validate((rt.group, rt.version, rt.kind), obj, old)
    if causes:
        raise errors.invalid(rt.kind, md.get("name") or md.get("generateName") or "", causes, rt.group)
