"""Kubernetes' own OpenAPI definitions, as shipped by the kubernetes-validate package.

One loader shared by validation, strategic merge patch, defaults and /openapi, so
nothing about the shape of Kubernetes objects is typed in by hand.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson

SCHEMA_RELEASE = "v1.32.0-local"
REF_PREFIX = "#/$defs/"


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """All definitions by name, e.g. `io.k8s.api.apps.v1.Deployment`."""
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_RELEASE / "_definitions.json"
    return orjson.loads(path.read_bytes())["$defs"]


def definition(name: str) -> dict[str, Any]:
    return definitions()[name]


def ref_name(schema: dict[str, Any]) -> str | None:
    """The definition a schema node points at (`$ref`), if any."""
    ref = schema.get("$ref")
    return ref[len(REF_PREFIX):] if ref else None


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` to its definition; other nodes are returned as they are."""
    name = ref_name(schema)
    return definitions()[name] if name else schema


def property_schema(schema: dict[str, Any], field: str) -> dict[str, Any] | None:
    """The (resolved) schema of `field` inside an object schema, or None if unknown."""
    props = resolve(schema).get("properties") or {}
    sub = props.get(field)
    return resolve(sub) if sub is not None else None


def items_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    items = resolve(schema).get("items")
    return resolve(items) if items is not None else None


def additional_properties_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    extra = resolve(schema).get("additionalProperties")
    return resolve(extra) if isinstance(extra, dict) else None
