"""Reading a request: which resource it names, its body, and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from aiohttp import web

from kubeling.api import errors, registry
from kubeling.api.registry import ResourceType
from kubeling.httpbody import read_at_most

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit for a request body

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as Kubernetes reads it (go-yaml v2 into interface{}): a timestamp-like scalar stays a string."""


_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None  # None: all namespaces (or a cluster-scoped kind)
    name: str | None  # None: the collection
    subresource: str = ""


def parse_target(group: str, version: str, segments: list[str]) -> Target:
    """Resolve the path segments after /api/v1 or /apis/G/V."""
    namespace = None
    if len(segments) >= 3 and segments[0] == "namespaces":
        rt = registry.lookup(group, version, segments[2])
        if rt is not None and rt.namespaced:
            namespace, segments = segments[1], segments[2:]
    if not segments or len(segments) > 3:
        raise _not_found()
    rt = registry.lookup(group, version, segments[0])
    if rt is None:
        raise _not_found()
    name = segments[1] if len(segments) > 1 else None
    sub = segments[2] if len(segments) > 2 else ""
    if sub and sub not in rt.subresources:
        raise _not_found()
    if name == "":
        raise _not_found()
    return Target(rt, namespace, name, sub)


def _not_found() -> errors.ApiError:
    return errors.ApiError(404, "NotFound", "the server could not find the requested resource",
                           details={"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def media_type(request: web.Request) -> str:
    return (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.request_entity_too_large()
    body = await read_at_most(request.content, MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise errors.request_entity_too_large()
    return body


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request body as an object, whatever format it came in."""
    body = await read_body(request)
    ctype = media_type(request)
    return decode_object(body, ctype)


def decode_object(body: bytes, ctype: str) -> dict[str, Any]:
    if ctype in ("", JSON, "*/*"):
        obj = _json(body)
    elif ctype in (YAML, "application/x-yaml", "text/yaml"):
        obj = _yaml(body)
    elif ctype == PROTOBUF:
        from kubeling.api import protobuf

        obj = protobuf.decode(body)
    else:
        raise errors.unsupported_media_type(ctype)
    if not isinstance(obj, dict):
        raise errors.bad_request("the body of the request must be an object")
    return obj


def _json(body: bytes) -> Any:
    if not body.strip():
        raise errors.bad_request("the body of the request was empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise errors.bad_request(f"error decoding JSON: {e}") from None


def _yaml(body: bytes) -> Any:
    try:
        return _json_keys(yaml.load(body, Loader=_YamlLoader), {})
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error converting YAML to JSON: {e}".replace("\n", " ")) from None


def _json_keys(node: Any, done: dict[int, Any]) -> Any:
    """Mapping keys as JSON strings (`1: x` is {"1": "x"}), as sigs.k8s.io/yaml converts them.

    `done` memoizes shared nodes, so that YAML aliases are converted once, not once per use."""
    if isinstance(node, dict | list):
        if id(node) in done:
            return done[id(node)]
        if isinstance(node, list):
            out: Any = [_json_keys(v, done) for v in node]
        else:
            out = {_json_key(k): _json_keys(v, done) for k, v in node.items()}
        done[id(node)] = out
        return out
    return node


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def query_bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def query_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f'invalid value for {name}: "{raw}"') from None


def dry_run(request: web.Request, body_options: dict[str, Any] | None = None) -> bool:
    values = request.query.getall("dryRun", [])
    if body_options:
        values = values + list(body_options.get("dryRun") or [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'Invalid dry run value: "{v}": supported values are "All"')
    return bool(values)


def field_validation(request: web.Request) -> str:
    value = request.query.get("fieldValidation", "Warn") or "Warn"
    if value not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got "{value}"')
    return value


def wants_table(request: web.Request) -> bool:
    return "as=table" in request.headers.get("Accept", "").replace(" ", "").lower()


def check_acceptable(request: web.Request) -> None:
    """We answer JSON (and JSON Tables); refuse a client that accepts neither."""
    accept = request.headers.get("Accept", "")
    if not accept:
        return
    for part in accept.split(","):
        mt = part.split(";", 1)[0].strip().lower()
        if mt in (JSON, "*/*", "application/*", YAML) or mt == "":
            return
    raise errors.not_acceptable("only the following media types are accepted: application/json, application/yaml")
