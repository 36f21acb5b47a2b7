"""/openapi/v3 and /openapi/v2 documents, generated from the resource table and
Kubernetes' own definitions (`kubeling.api.schema`).

kubectl reads these to decide whether the server validates fields (a `fieldValidation`
parameter on PATCH operations makes it send `fieldValidation=Strict`), and `kubectl
explain` reads the schemas, finding kinds by `x-kubernetes-group-version-kind`.

Operations are described once in a neutral form (`_Op`) and rendered to either
OpenAPI 3.0 or Swagger 2.0. Documents are JSON bytes, cached, sorted by key so their
hash is stable.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from kubeling.api import schema
from kubeling.api.registry import (
    SUBRESOURCE_VERBS,
    ResourceType,
    group_versions,
    resources_in,
    schema_definition_name,
)
from kubeling.apiserver.discovery import subresource_kind

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
V3_PREFIX = "#/components/schemas/"
V2_PREFIX = "#/definitions/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
VERSION_INFO = "io.k8s.apimachinery.pkg.version.Info"

PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_OBJECT_TYPES = ("application/json", "application/yaml")
_WATCH_TYPES = ("application/json", "application/json;stream=watch", "application/yaml")
_LOG_TYPES = ("text/plain", "application/json")
_CONNECT_TYPES = ("*/*",)

# Query and path parameters: name -> (in, type, description). Descriptions are ours,
# short; the names and types are Kubernetes'.
_PARAMS: dict[str, tuple[str, str, str]] = {
    "name": ("path", "string", "name of the object"),
    "namespace": ("path", "string", "object name and auth scope, such as for teams and projects"),
    "pretty": ("query", "string", "If 'true', then the output is pretty printed."),
    "dryRun": ("query", "string", "When present, modifications are not persisted. Valid values: All."),
    "fieldManager": ("query", "string", "A name for the actor making the change, used to track field ownership."),
    "fieldValidation": ("query", "string",
                        "How the server treats unknown or duplicate fields: Ignore, Warn or Strict."),
    "force": ("query", "boolean",
              "Force an Apply request: re-acquire fields owned by other managers. Only for apply patches."),
    "gracePeriodSeconds": ("query", "integer", "Seconds before the object is deleted; zero deletes immediately."),
    "orphanDependents": ("query", "boolean", "Deprecated: use propagationPolicy."),
    "propagationPolicy": ("query", "string",
                          "Whether and how garbage collection is performed: Orphan, Background or Foreground."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "query", "boolean", "Delete a corrupt object that cannot be read from storage."),
    "allowWatchBookmarks": ("query", "boolean", "Ask for BOOKMARK watch events."),
    "continue": ("query", "string", "Continue token from a previous paged list."),
    "fieldSelector": ("query", "string", "Restrict the returned objects by their fields."),
    "labelSelector": ("query", "string", "Restrict the returned objects by their labels."),
    "limit": ("query", "integer", "Maximum number of objects to return in one page."),
    "resourceVersion": ("query", "string", "Resource version constraint for the read."),
    "resourceVersionMatch": ("query", "string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    "sendInitialEvents": ("query", "boolean", "Start a watch with synthetic ADDED events for the current state."),
    "timeoutSeconds": ("query", "integer", "Timeout for the list or watch call."),
    "watch": ("query", "boolean", "Watch for changes instead of listing."),
    "container": ("query", "string", "The container to use; defaults to the only container."),
    "follow": ("query", "boolean", "Follow the log stream."),
    "insecureSkipTLSVerifyBackend": ("query", "boolean", "Skip verifying the kubelet's serving certificate."),
    "limitBytes": ("query", "integer", "Maximum number of bytes of log to return."),
    "previous": ("query", "boolean", "Return the logs of the previous, terminated container."),
    "sinceSeconds": ("query", "integer", "Only logs newer than this many seconds."),
    "sinceTime": ("query", "string", "Only logs after this RFC 3339 time."),
    "stream": ("query", "string", "Which stream to return: All, Stdout or Stderr."),
    "tailLines": ("query", "integer", "Number of lines from the end of the log to show."),
    "timestamps": ("query", "boolean", "Prefix every line with an RFC 3339 timestamp."),
    "command": ("query", "string", "The command to run; repeat for each argument."),
    "stderr": ("query", "boolean", "Redirect the standard error stream."),
    "stdin": ("query", "boolean", "Redirect the standard input stream."),
    "stdout": ("query", "boolean", "Redirect the standard output stream."),
    "tty": ("query", "boolean", "Allocate a terminal."),
    "path": ("query", "string", "Path to forward to the proxied object."),
}
_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = (*_WRITE_PARAMS, "force")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
                  "orphanDependents", "propagationPolicy")
_SUB_PARAMS = {
    "log": ("container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "previous",
            "sinceSeconds", "sinceTime", "stream", "tailLines", "timestamps"),
    "exec": ("command", "container", "stderr", "stdin", "stdout", "tty"),
    "proxy": ("path",),
}
_STRING = "<string>"  # response marker: a plain string body rather than a definition


@dataclass
class _Op:
    """One operation, independent of the OpenAPI dialect it is rendered to."""

    method: str
    op_id: str
    description: str
    tag: str
    params: tuple[str, ...] = ()
    body: str | None = None  # definition name of the request body
    patch: bool = False  # body is a patch in one of PATCH_CONTENT_TYPES
    responses: dict[str, str] = field(default_factory=dict)  # code -> definition name or _STRING
    produces: tuple[str, ...] = _OBJECT_TYPES
    action: str | None = None
    gvk: tuple[str, str, str] | None = None


@dataclass
class _Path:
    params: tuple[str, ...]
    ops: list[_Op] = field(default_factory=list)


# ------------------------------------------------------------------ names


def _camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in text.replace("-", ".").split(".") if p)


def _group_id(group: str, version: str) -> str:
    """`AppsV1`, `CoreV1`, `CoordinationV1`: the prefix of Kubernetes' operation ids."""
    name = group.removesuffix(".k8s.io") if group else "core"
    return _camel(name) + _camel(version)


def _tag(group: str, version: str) -> str:
    name = _group_id(group, "")
    return f"{name[:1].lower()}{name[1:]}_{version}"


def _gv_prefix(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _gv_key(group: str, version: str) -> str:
    """Key of a group-version in the /openapi/v3 index: `api/v1`, `apis/apps/v1`."""
    return _gv_prefix(group, version).lstrip("/")


def _def_name(group: str, version: str, kind: str) -> str:
    return schema_definition_name(group, version, kind)


# ------------------------------------------------------------- operations


def _resource_ops(r: ResourceType) -> dict[str, list[_Op]]:
    """Operations of one resource, keyed by the role of the path they live on
    (collection, item, watch_list, watch_item, all_list, all_watch, sub/<name>)."""
    gid = _group_id(r.group, r.version)
    ns = "Namespaced" if r.namespaced else ""
    tag = _tag(r.group, r.version)
    obj, lst = r.schema_name, _def_name(r.group, r.version, r.list_kind)
    gvk = (r.group, r.version, r.kind)
    status = META + "Status"
    verbs = set(r.verbs)

    def op(method: str, verb: str, desc: str, action: str, suffix: str = "", **kw: Any) -> _Op:
        return _Op(method, f"{verb}{gid}{ns}{r.kind}{suffix}", desc, tag, action=action, gvk=gvk, **kw)

    collection: list[_Op] = []
    item: list[_Op] = []
    if "list" in verbs:
        collection.append(op("get", "list", f"list or watch objects of kind {r.kind}", "list",
                             params=_LIST_PARAMS, responses={"200": lst},
                             produces=(*_OBJECT_TYPES, "application/json;stream=watch")))
    if "create" in verbs:
        collection.append(op("post", "create", f"create a {r.kind}", "post", params=_WRITE_PARAMS,
                             body=obj, responses={"200": obj, "201": obj, "202": obj}))
    if "deletecollection" in verbs:
        collection.append(_Op("delete", f"delete{gid}Collection{ns}{r.kind}", f"delete collection of {r.kind}",
                              tag, params=(*_DELETE_PARAMS, *_LIST_PARAMS), body=META + "DeleteOptions",
                              responses={"200": status}, action="deletecollection", gvk=gvk))
    if "get" in verbs:
        item.append(op("get", "read", f"read the specified {r.kind}", "get", responses={"200": obj}))
    if "update" in verbs:
        item.append(op("put", "replace", f"replace the specified {r.kind}", "put", params=_WRITE_PARAMS,
                       body=obj, responses={"200": obj, "201": obj}))
    if "patch" in verbs:
        item.append(op("patch", "patch", f"partially update the specified {r.kind}", "patch",
                       params=_PATCH_PARAMS, patch=True, responses={"200": obj, "201": obj}))
    if "delete" in verbs:
        item.append(op("delete", "delete", f"delete a {r.kind}", "delete", params=_DELETE_PARAMS,
                       body=META + "DeleteOptions", responses={"200": status, "202": status}))

    out: dict[str, list[_Op]] = {"collection": collection, "item": item}
    if "watch" in verbs:
        out["watch_list"] = [op("get", "watch", f"watch changes to a list of {r.kind}", "watchlist",
                               suffix="List", responses={"200": META + "WatchEvent"}, produces=_WATCH_TYPES)]
        out["watch_item"] = [op("get", "watch", f"watch changes to an object of kind {r.kind}", "watch",
                                responses={"200": META + "WatchEvent"}, produces=_WATCH_TYPES)]
    if r.namespaced and "list" in verbs:
        out["all_list"] = [_Op("get", f"list{gid}{r.kind}ForAllNamespaces",
                              f"list or watch objects of kind {r.kind}", tag, responses={"200": lst},
                              produces=(*_OBJECT_TYPES, "application/json;stream=watch"),
                              action="list", gvk=gvk)]
        if "watch" in verbs:
            out["all_watch"] = [_Op("get", f"watch{gid}{r.kind}ListForAllNamespaces",
                                   f"watch changes to a list of {r.kind}", tag,
                                   responses={"200": META + "WatchEvent"}, produces=_WATCH_TYPES,
                                   action="watchlist", gvk=gvk)]
    for sub in r.subresources:
        out[f"sub/{sub}"] = _subresource_ops(r, sub, gid, ns, tag)
    return out


def _subresource_ops(r: ResourceType, sub: str, gid: str, ns: str, tag: str) -> list[_Op]:
    sgvk = subresource_kind(r, sub)
    stem = f"{gid}{ns}{r.kind}{_camel(sub)}"
    obj = _def_name(*sgvk)
    if obj not in schema.definitions():
        obj = _STRING
    verbs = SUBRESOURCE_VERBS[sub]
    if sub in ("exec", "proxy"):
        # Streaming/connect endpoints: no object schema, a string body (as Kubernetes).
        methods = [("get", "Get"), ("post", "Post")] if sub == "exec" else [
            (m, m.title()) for m in ("get", "post", "put", "patch", "delete")]
        return [_Op(m, f"connect{gid}{label}{ns}{r.kind}{_camel(sub)}", f"connect {m.upper()} requests to "
                    f"{sub} of {r.kind}", tag, params=_SUB_PARAMS[sub], responses={"200": _STRING},
                    produces=_CONNECT_TYPES, action="connect", gvk=sgvk)
                for m, label in methods]
    if sub == "log":
        return [_Op("get", f"read{stem}", f"read log of the specified {r.kind}", tag,
                    params=_SUB_PARAMS["log"], responses={"200": _STRING}, produces=_LOG_TYPES,
                    action="get", gvk=sgvk)]
    ops: list[_Op] = []
    if "get" in verbs:
        ops.append(_Op("get", f"read{stem}", f"read {sub} of the specified {r.kind}", tag,
                       responses={"200": obj}, action="get", gvk=sgvk))
    if "update" in verbs:
        ops.append(_Op("put", f"replace{stem}", f"replace {sub} of the specified {r.kind}", tag,
                       params=_WRITE_PARAMS, body=obj, responses={"200": obj, "201": obj},
                       action="put", gvk=sgvk))
    if "patch" in verbs:
        ops.append(_Op("patch", f"patch{stem}", f"partially update {sub} of the specified {r.kind}", tag,
                       params=_PATCH_PARAMS, patch=True, responses={"200": obj, "201": obj},
                       action="patch", gvk=sgvk))
    if "create" in verbs:
        ops.append(_Op("post", f"create{stem}", f"create {sub} of a {r.kind}", tag, params=_WRITE_PARAMS,
                       body=obj, responses={"200": obj, "201": obj, "202": obj}, action="post", gvk=sgvk))
    return ops


def _gv_paths(group: str, version: str) -> dict[str, _Path]:
    prefix = _gv_prefix(group, version)
    tag = _tag(group, version)
    paths: dict[str, _Path] = {
        f"{prefix}/": _Path((), [_Op("get", f"get{_group_id(group, version)}APIResources",
                                     "get available resources", tag,
                                     responses={"200": META + "APIResourceList"})]),
    }
    for r in resources_in(group, version):
        ops = _resource_ops(r)
        ns_part, ns_params = ("/namespaces/{namespace}", ("namespace",)) if r.namespaced else ("", ())
        base = f"{prefix}{ns_part}/{r.plural}"
        _add(paths, base, ns_params, ops["collection"])
        _add(paths, base + "/{name}", ("name", *ns_params), ops["item"])
        _add(paths, f"{prefix}/watch{ns_part}/{r.plural}", ns_params, ops.get("watch_list", []), _LIST_PARAMS)
        _add(paths, f"{prefix}/watch{ns_part}/{r.plural}/{{name}}", ("name", *ns_params),
             ops.get("watch_item", []), _LIST_PARAMS)
        _add(paths, f"{prefix}/{r.plural}", (), ops.get("all_list", []), _LIST_PARAMS)
        _add(paths, f"{prefix}/watch/{r.plural}", (), ops.get("all_watch", []), _LIST_PARAMS)
        for sub in r.subresources:
            _add(paths, f"{base}/{{name}}/{sub}", ("name", *ns_params), ops[f"sub/{sub}"])
    return paths


def _add(paths: dict[str, _Path], path: str, params: tuple[str, ...], ops: list[_Op],
         query: tuple[str, ...] = ()) -> None:
    if ops:
        # `query` parameters shared by every operation on the path (watch paths) sit on the path.
        paths[path] = _Path((*params, "pretty", *query), list(ops))


def _static_paths(key: str) -> dict[str, _Path] | None:
    """Documents Kubernetes also lists besides group-versions: api, apis, apis/G, version."""
    if key == "api":
        return {"/api/": _Path((), [_Op("get", "getCoreAPIVersions", "get available API versions", "core",
                                        responses={"200": META + "APIVersions"})])}
    if key == "apis":
        return {"/apis/": _Path((), [_Op("get", "getAPIVersions", "get available API versions", "apis",
                                         responses={"200": META + "APIGroupList"})])}
    if key == "version":
        return {"/version/": _Path((), [_Op("get", "getCodeVersion", "get the version information for this "
                                            "server", "version", responses={"200": VERSION_INFO},
                                            produces=("application/json",))])}
    if key.startswith("apis/") and key.count("/") == 1:
        group = key[len("apis/"):]
        if group in group_versions() and group:
            name = _group_id(group, "")
            return {f"/apis/{group}/": _Path((), [_Op("get", f"get{name}APIGroup",
                                                      "get information of a group", name[:1].lower() + name[1:],
                                                      responses={"200": META + "APIGroup"})])}
    return None


def _paths_for(key: str) -> dict[str, _Path] | None:
    static = _static_paths(key)
    if static is not None:
        return static
    for group, versions in group_versions().items():
        for version in versions:
            if _gv_key(group, version) == key:
                return _gv_paths(group, version)
    return None


def document_keys() -> list[str]:
    """Every key of the /openapi/v3 index, in a stable order."""
    keys = ["api", "apis", "version"]
    for group, versions in group_versions().items():
        if group:
            keys.append(f"apis/{group}")
        keys.extend(_gv_key(group, v) for v in versions)
    return sorted(keys)


# ---------------------------------------------------------------- schemas


def _referenced(paths: dict[str, _Path]) -> set[str]:
    names: set[str] = set()
    for p in paths.values():
        for o in p.ops:
            names.update(n for n in (o.body, *o.responses.values()) if n and n != _STRING)
            if o.patch:
                names.add(META + "Patch")
    return names


def _refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        name = schema.ref_name(node)
        if name:
            yield name
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


def reachable(roots: Iterable[str]) -> set[str]:
    """The definitions `roots` name, and all those their schemas reach through $ref."""
    defs = schema.definitions()
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(n for n in _refs_in(defs[name]) if n not in seen and n in defs)
    return seen


def _convert(node: Any, prefix: str, wrap_refs: bool) -> Any:
    """JSON-schema-style node -> OpenAPI: single types, our $ref prefix, allOf-wrapped refs (v3)."""
    if isinstance(node, list):
        return [_convert(v, prefix, wrap_refs) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            value = next((t for t in value if t != "null"), "object")
        elif key == "$ref":
            value = prefix + value[len(schema.REF_PREFIX):]
        elif key in ("properties", "patternProperties"):
            value = {k: _convert(v, prefix, wrap_refs) for k, v in value.items()}
        elif isinstance(value, (dict, list)) and not key.startswith("x-kubernetes-"):
            value = _convert(value, prefix, wrap_refs)
        out[key] = value
    if wrap_refs and "$ref" in out and len(out) > 1:
        # OpenAPI 3.0 ignores siblings of $ref; Kubernetes wraps the ref in allOf.
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _definition(name: str, prefix: str, v3: bool) -> dict[str, Any]:
    raw = schema.definitions()[name]
    if name == INT_OR_STRING:
        return ({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]} if v3
                else {"format": "int-or-string", "type": "string"})
    if name == QUANTITY:
        return {"oneOf": [{"type": "string"}, {"type": "number"}]} if v3 else {"type": "string"}
    out = _convert(raw, prefix, v3)
    if "x-kubernetes-group-version-kind" in raw:
        # apiVersion/kind enums come from the JSON-schema export, not from Kubernetes' spec.
        for prop in ("apiVersion", "kind"):
            out.get("properties", {}).get(prop, {}).pop("enum", None)
    return out


def _schemas(names: Iterable[str], prefix: str, v3: bool) -> dict[str, Any]:
    return {n: _definition(n, prefix, v3) for n in sorted(reachable(names))}


# ------------------------------------------------------------- rendering


def _param(name: str, v3: bool) -> dict[str, Any]:
    where, typ, desc = _PARAMS[name]
    out: dict[str, Any] = {"name": name, "in": where, "description": desc}
    if where == "path":
        out["required"] = True
    typed = {"type": typ, "uniqueItems": True}
    if v3:
        out["schema"] = typed
    else:
        out.update(typed)
    return out


def _schema_ref(name: str, prefix: str) -> dict[str, Any]:
    return {"type": "string"} if name == _STRING else {"$ref": prefix + name}


def _gvk_ext(gvk: tuple[str, str, str]) -> dict[str, str]:
    return {"group": gvk[0], "kind": gvk[2], "version": gvk[1]}


_STATUS_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


def _render_op(o: _Op, v3: bool) -> dict[str, Any]:
    prefix = V3_PREFIX if v3 else V2_PREFIX
    out: dict[str, Any] = {"description": o.description, "operationId": o.op_id, "tags": [o.tag]}
    params = [_param(p, v3) for p in o.params]
    body_name = META + "Patch" if o.patch else o.body
    if v3:
        if body_name:
            types = PATCH_CONTENT_TYPES if o.patch else ("*/*",)
            out["requestBody"] = {"content": {t: {"schema": _schema_ref(body_name, prefix)} for t in types},
                                  "required": o.method != "delete"}
        out["responses"] = {
            code: {"description": _STATUS_TEXT[code],
                   "content": {t: {"schema": _schema_ref(name, prefix)} for t in o.produces}}
            for code, name in o.responses.items()
        }
    else:
        if body_name:
            params.insert(0, {"name": "body", "in": "body", "required": o.method != "delete",
                              "schema": _schema_ref(body_name, prefix)})
        out["consumes"] = list(PATCH_CONTENT_TYPES) if o.patch else ["*/*"]
        out["produces"] = list(o.produces)
        out["schemes"] = ["https"]
        out["responses"] = {code: {"description": _STATUS_TEXT[code], "schema": _schema_ref(name, prefix)}
                            for code, name in o.responses.items()}
    if params:
        out["parameters"] = params
    if o.action:
        out["x-kubernetes-action"] = o.action
    if o.gvk:
        out["x-kubernetes-group-version-kind"] = _gvk_ext(o.gvk)
    return out


def _render_paths(paths: dict[str, _Path], v3: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, p in sorted(paths.items()):
        item: dict[str, Any] = {o.method: _render_op(o, v3) for o in p.ops}
        if p.params:
            item["parameters"] = [_param(n, v3) for n in p.params]
        out[path] = item
    return out


_INFO = {"title": "Kubernetes", "version": schema.SCHEMA_RELEASE.removesuffix("-local")}
_BEARER = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                           "description": "Bearer Token authentication"}}


def _dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


@functools.cache
def openapi_v3_path_document(key: str) -> bytes | None:
    """The OpenAPI 3.0 document for an index key (`api/v1`, `apis/apps/v1`, `api`, `version`...)."""
    paths = _paths_for(key)
    if paths is None:
        return None
    doc = {
        "openapi": "3.0.0",
        "info": _INFO,
        "paths": _render_paths(paths, v3=True),
        "components": {"schemas": _schemas(_referenced(paths), V3_PREFIX, v3=True),
                       "securitySchemes": _BEARER},
    }
    return _dumps(doc)


def openapi_v3_document(group: str, version: str) -> bytes | None:
    """The OpenAPI 3.0 document of one served group-version, or None."""
    return openapi_v3_path_document(_gv_key(group, version))


def document_hash(data: bytes) -> str:
    """Kubernetes' ETag and `hash=` value: uppercase hex SHA-512 of the document."""
    return hashlib.sha512(data).hexdigest().upper()


@functools.cache
def openapi_v3_index() -> dict[str, Any]:
    """`/openapi/v3`: every document with its content-addressed URL. Treat as read-only."""
    paths: dict[str, Any] = {}
    for key in document_keys():
        data = openapi_v3_path_document(key)
        if data is not None:
            query = urlencode({"hash": document_hash(data)})
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?{query}"}
    return {"paths": paths}


@functools.cache
def openapi_v2_json() -> bytes:
    """`/openapi/v2` as Swagger 2.0 JSON: all served paths and the definitions they reach."""
    paths: dict[str, _Path] = {}
    for key in document_keys():
        paths.update(_paths_for(key) or {})
    doc = {
        "swagger": "2.0",
        "info": _INFO,
        "paths": _render_paths(paths, v3=False),
        "definitions": _schemas(_referenced(paths), V2_PREFIX, v3=False),
        "securityDefinitions": _BEARER,
        "security": [{"BearerToken": []}],
    }
    return _dumps(doc)


# ------------------------------------------------- /openapi/v2 as protobuf
#
# kubectl 1.27 and 1.28 load /openapi/v2 as protobuf before anything else (explain,
# apply) and fail when it is missing. The message is gnostic's openapi.v2.Document;
# the field numbers below are from its OpenAPIv2.proto. Only the fields our Swagger
# JSON uses are encoded. Vendor extensions, defaults and enums are `Any` messages
# holding YAML text; JSON is valid YAML, so they carry JSON.

OPENAPI_V2_PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative ints are sent as 64-bit two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb_bytes(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _pb_str(num: int, text: str) -> bytes:
    return _pb_bytes(num, text.encode()) if text else b""


def _pb_bool(num: int, flag: bool) -> bytes:
    return _varint(num << 3) + b"\x01" if flag else b""


def _pb_int(num: int, n: int) -> bytes:
    return _varint(num << 3) + _varint(n) if n else b""


def _pb_any(num: int, value: Any) -> bytes:
    return _pb_bytes(num, _pb_str(2, orjson.dumps(value).decode() + "\n"))


def _pb_named(num: int, name: str, value: bytes) -> bytes:
    return _pb_bytes(num, _pb_str(1, name) + _pb_bytes(2, value))


def _pb_extensions(num: int, node: dict[str, Any]) -> bytes:
    return b"".join(_pb_bytes(num, _pb_str(1, k) + _pb_any(2, v))
                    for k, v in node.items() if k.startswith("x-"))


def _pb_schema(s: dict[str, Any]) -> bytes:
    out = [_pb_str(1, s.get("$ref", "")), _pb_str(2, s.get("format", "")), _pb_str(3, s.get("title", "")),
           _pb_str(4, s.get("description", ""))]
    if "default" in s:
        out.append(_pb_any(5, s["default"]))
    for num, key in ((11, "maxLength"), (12, "minLength"), (14, "maxItems"), (15, "minItems"),
                     (17, "maxProperties"), (18, "minProperties")):
        out.append(_pb_int(num, int(s.get(key, 0))))
    out.append(_pb_str(13, s.get("pattern", "")))
    out.append(_pb_bool(16, bool(s.get("uniqueItems"))))
    out.extend(_pb_str(19, r) for r in s.get("required", ()))
    out.extend(_pb_any(20, e) for e in s.get("enum", ()))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out.append(_pb_bytes(21, _pb_bytes(1, _pb_schema(extra))))
    elif isinstance(extra, bool):
        out.append(_pb_bytes(21, _varint(2 << 3) + (b"\x01" if extra else b"\x00")))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        out.append(_pb_bytes(22, b"".join(_pb_str(1, t) for t in types)))
    if isinstance(s.get("items"), dict):
        out.append(_pb_bytes(23, _pb_bytes(1, _pb_schema(s["items"]))))
    out.extend(_pb_bytes(24, _pb_schema(sub)) for sub in s.get("allOf", ()))
    if "properties" in s:
        out.append(_pb_bytes(25, b"".join(_pb_named(1, k, _pb_schema(v)) for k, v in s["properties"].items())))
    out.append(_pb_bool(27, bool(s.get("readOnly"))))
    out.append(_pb_extensions(31, s))
    return b"".join(out)


def _pb_parameter(p: dict[str, Any]) -> bytes:
    if p["in"] == "body":
        body = (_pb_str(1, p.get("description", "")) + _pb_str(2, p["name"]) + _pb_str(3, "body")
                + _pb_bool(4, p.get("required", False)) + _pb_bytes(5, _pb_schema(p["schema"])))
        return _pb_bytes(1, _pb_bytes(1, body))
    # Query (3) and path (4) sub-schemas share their first fields; `type` and
    # `uniqueItems` sit one number further in the query one (after allow_empty_value).
    query = p["in"] == "query"
    sub = (_pb_bool(1, p.get("required", False)) + _pb_str(2, p["in"]) + _pb_str(3, p.get("description", ""))
           + _pb_str(4, p["name"]) + _pb_str(6 if query else 5, p.get("type", ""))
           + _pb_bool(20 if query else 19, bool(p.get("uniqueItems"))))
    return _pb_bytes(1, _pb_bytes(2, _pb_bytes(3 if query else 4, sub)))


def _pb_operation(o: dict[str, Any]) -> bytes:
    out = [b"".join(_pb_str(1, t) for t in o.get("tags", ())), _pb_str(3, o.get("description", "")),
           _pb_str(5, o.get("operationId", ""))]
    out.extend(_pb_str(6, t) for t in o.get("produces", ()))
    out.extend(_pb_str(7, t) for t in o.get("consumes", ()))
    out.extend(_pb_bytes(8, _pb_parameter(p)) for p in o.get("parameters", ()))
    codes = b"".join(
        _pb_named(1, code, _pb_bytes(1, _pb_str(1, r["description"]) + _pb_bytes(2, _pb_bytes(1, _pb_schema(
            r["schema"])))))
        for code, r in o.get("responses", {}).items())
    out.append(_pb_bytes(9, codes))
    out.extend(_pb_str(10, s) for s in o.get("schemes", ()))
    out.append(_pb_extensions(13, o))
    return b"".join(out)


_PATH_ITEM_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _pb_path_item(item: dict[str, Any]) -> bytes:
    out = [_pb_bytes(num, _pb_operation(item[m])) for m, num in _PATH_ITEM_FIELDS.items() if m in item]
    out.extend(_pb_bytes(9, _pb_parameter(p)) for p in item.get("parameters", ()))
    return b"".join(out)


def _pb_security_definition(d: dict[str, Any]) -> bytes:
    api_key = (_pb_str(1, d["type"]) + _pb_str(2, d["name"]) + _pb_str(3, d["in"])
               + _pb_str(4, d.get("description", "")))
    return _pb_bytes(2, api_key)


@functools.cache
def openapi_v2_protobuf() -> bytes:
    """`/openapi/v2` as kubectl asks for it (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf)."""
    doc = orjson.loads(openapi_v2_json())
    out = [_pb_str(1, doc["swagger"]),
           _pb_bytes(2, _pb_str(1, doc["info"]["title"]) + _pb_str(2, doc["info"]["version"])),
           _pb_bytes(8, b"".join(_pb_named(2, path, _pb_path_item(item)) for path, item in doc["paths"].items())),
           _pb_bytes(9, b"".join(_pb_named(1, n, _pb_schema(s)) for n, s in doc["definitions"].items()))]
    for requirement in doc["security"]:
        out.append(_pb_bytes(12, b"".join(
            _pb_named(1, name, b"".join(_pb_str(1, v) for v in values)) for name, values in requirement.items())))
    out.append(_pb_bytes(13, b"".join(_pb_named(1, n, _pb_security_definition(d))
                                      for n, d in doc["securityDefinitions"].items())))
    return b"".join(out)
