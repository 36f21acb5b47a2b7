"""HTTP handlers for resource URLs: one generic set of verbs for every registered type,
plus the subresources that are more than a view of the object (scale, binding, finalize)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from kubeling.api import errors, meta, selectors, tables
from kubeling.api.registry import ResourceType
from kubeling.apiserver import listing, podexec, podlogs
from kubeling.apiserver import request as req
from kubeling.apiserver.storage import ResourceStore, WriteOptions, WriteResult

JSON_HEADERS = {"Content-Type": "application/json"}


def json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = dict(JSON_HEADERS)
    resp = web.Response(body=orjson.dumps(obj), status=status, headers=headers)
    for w in warnings or []:
        resp.headers.add("Warning", '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return resp


LARGE_BODY = 1 << 20
CHUNK = 256 << 10


async def send_large(request: web.Request, body: bytes) -> web.StreamResponse:
    """Send a big body in chunks, waiting for each to drain. Written in one piece, a
    20 MB LIST leaves the connection's TLS buffers that large for as long as it lives."""
    if len(body) <= LARGE_BODY:
        return web.Response(body=body, headers=JSON_HEADERS)
    resp = web.StreamResponse(headers=JSON_HEADERS)
    resp.content_length = len(body)
    await resp.prepare(request)
    view = memoryview(body)
    for start in range(0, len(body), CHUNK):
        await resp.write(view[start:start + CHUNK])
    await resp.write_eof()
    return resp


def _write_options(request: web.Request) -> WriteOptions:
    return WriteOptions(dry_run=req.dry_run(request), field_validation=req.field_validation(request),
                        field_manager=request.query.get("fieldManager", ""))


def _written(result: WriteResult, status: int) -> web.Response:
    return json_response(result.object, status, result.warnings)


async def handle(request: web.Request, store: ResourceStore, target: req.Target) -> web.StreamResponse:
    method = request.method
    if target.name is None:
        return await _collection(request, store, target, method)
    if target.subresource in ("", "status"):
        return await _item(request, store, target, method)
    handler = _SUBRESOURCES.get(target.subresource)
    if handler is None:
        raise errors.method_not_allowed()
    return await handler(request, store, target)


async def _collection(request: web.Request, store: ResourceStore, t: req.Target, method: str) -> web.StreamResponse:
    rt = t.rt
    if method == "GET":
        req.check_acceptable(request)
        opts = listing.ListOptions.from_request(request)
        if req.query_bool(request, "watch"):
            return await listing.serve_watch(request, store, rt, t.namespace, opts)
        items, rv, cont, remaining = await listing.list_objects(store, rt, t.namespace, opts)
        body = listing.list_body(rt, items, rv, cont, remaining, req.wants_table(request),
                                 request.query.get("includeObject", "Metadata"))
        return await send_large(request, body)
    if method == "POST":
        if t.namespace is None and rt.namespaced:
            raise errors.method_not_allowed()
        obj = await req.read_object(request)
        _check_kind(rt, obj)
        result = await store.create(rt, t.namespace, obj, _write_options(request))
        return _written(result, 201)
    if method == "DELETE":
        return await _delete_collection(request, store, t)
    raise errors.method_not_allowed()


async def _item(request: web.Request, store: ResourceStore, t: req.Target, method: str) -> web.StreamResponse:
    rt, name = t.rt, t.name
    assert name is not None
    if t.subresource == "status" and not rt.has_status:
        raise errors.method_not_allowed()
    if method == "GET":
        req.check_acceptable(request)
        obj = await store.get(rt, t.namespace, name)
        if req.wants_table(request):
            return json_response(tables.table(rt, [obj], resource_version=obj["metadata"]["resourceVersion"],
                                              include_object=request.query.get("includeObject", "Metadata")))
        return json_response(obj)
    if method == "PUT":
        obj = await req.read_object(request)
        result = await store.update(rt, t.namespace, name, obj, _write_options(request), t.subresource)
        return _written(result, 200)
    if method == "PATCH":
        ctype = req.media_type(request)
        if ctype == "application/apply-patch+yaml":
            return await _server_side_apply(request, store, t)
        if ctype not in req.PATCH_TYPES:
            raise errors.unsupported_media_type(ctype)
        body = await req.read_body(request)
        result = await store.patch(rt, t.namespace, name, ctype, body, _write_options(request), t.subresource)
        return _written(result, 200)
    if method == "DELETE" and t.subresource == "":
        return await _delete(request, store, t)
    raise errors.method_not_allowed()


async def _delete_options(request: web.Request) -> dict[str, Any]:
    body = await req.read_body(request)
    options: dict[str, Any] = {}
    if body.strip():
        options = req.decode_object(body, req.media_type(request) if req.media_type(request) != "" else req.JSON)
    q = request.query
    if "gracePeriodSeconds" in q:
        options["gracePeriodSeconds"] = req.query_int(request, "gracePeriodSeconds")
    if "propagationPolicy" in q:
        options["propagationPolicy"] = q["propagationPolicy"]
    if "orphanDependents" in q:
        options["orphanDependents"] = req.query_bool(request, "orphanDependents")
    return options


async def _delete(request: web.Request, store: ResourceStore, t: req.Target) -> web.Response:
    options = await _delete_options(request)
    dry = req.dry_run(request, options)
    assert t.name is not None
    obj, removed = await store.delete(t.rt, t.namespace, t.name, options, dry)
    if not removed:
        # Only marked for deletion (finalizers, grace period): the object, with 200 as Kubernetes answers
        # (it keeps 202 for the deprecated orphanDependents=false, not to break old clients).
        return json_response(obj, 202 if options.get("orphanDependents") is False else 200)
    if t.rt.group == "" and t.rt.kind == "Pod":
        return json_response(obj)  # the pod registry returns the deleted pod
    md = obj["metadata"]
    details = {"name": md["name"], "kind": t.rt.plural, "uid": md.get("uid")}
    if t.rt.group:
        details["group"] = t.rt.group
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "details": details})


async def _delete_collection(request: web.Request, store: ResourceStore, t: req.Target) -> web.Response:
    options = await _delete_options(request)
    dry = req.dry_run(request, options)
    opts = listing.ListOptions.from_request(request)
    opts.limit, opts.continue_token = 0, ""
    items, rv, _, _ = await listing.list_objects(store, t.rt, t.namespace, opts)
    deleted = []
    for obj in items:
        try:
            obj, _ = await store.delete(t.rt, meta.namespace_of(obj) or None, meta.name_of(obj), options, dry)
            deleted.append(obj)
        except errors.ApiError as e:
            if e.code != 404:
                raise
    return json_response({"kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
                          "metadata": {"resourceVersion": rv}, "items": deleted})


def _check_kind(rt: ResourceType, obj: dict[str, Any]) -> None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if kind and kind != rt.kind or api_version and api_version != rt.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
            if api_version and api_version != rt.api_version else
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")


# ---- server-side apply (a simple form: no managedFields, no conflict detection) ---------------


async def _server_side_apply(request: web.Request, store: ResourceStore, t: req.Target) -> web.Response:
    body = await req.read_body(request)
    obj = req.decode_object(body, req.YAML)
    _check_kind(t.rt, obj)
    opts = _write_options(request)
    assert t.name is not None
    try:
        await store.get(t.rt, t.namespace, t.name)
    except errors.ApiError as e:
        if e.code != 404:
            raise
        obj.setdefault("metadata", {}).setdefault("name", t.name)
        return _written(await store.create(t.rt, t.namespace, obj, opts), 201)
    merge = orjson.dumps(obj)
    result = await store.patch(t.rt, t.namespace, t.name, "application/merge-patch+json", merge, opts, t.subresource)
    return _written(result, 200)


# ---- subresources ----------------------------------------------------------------------------


def _scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    md = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector")
    status: dict[str, Any] = {"replicas": int((obj.get("status") or {}).get("replicas") or 0)}
    if selector is not None:
        status["selector"] = str(selectors.LabelSelector.from_dict(selector))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in md},
            "spec": {"replicas": int((obj.get("spec") or {}).get("replicas") or 0)}, "status": status}


async def _scale(request: web.Request, store: ResourceStore, t: req.Target) -> web.Response:
    rt, name = t.rt, t.name
    assert name is not None
    if request.method == "GET":
        return json_response(_scale_of(rt, await store.get(rt, t.namespace, name)))
    if request.method not in ("PUT", "PATCH"):
        raise errors.method_not_allowed()
    opts = _write_options(request)
    if request.method == "PUT":
        scale = await req.read_object(request)
        wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")

        def new_scale(_cur: dict[str, Any]) -> dict[str, Any]:
            return scale
    else:
        ctype = req.media_type(request)
        if ctype not in req.PATCH_TYPES[:3]:
            raise errors.unsupported_media_type(ctype)
        body = await req.read_body(request)
        wanted_rv = None
        from kubeling.api import patch

        def new_scale(cur: dict[str, Any]) -> dict[str, Any]:
            return patch.apply_patch(ctype, _scale_of(rt, cur), body, "io.k8s.api.autoscaling.v1.Scale")

    def apply(cur: dict[str, Any]) -> dict[str, Any]:
        scale = new_scale(cur)
        if wanted_rv and wanted_rv != cur["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, name, rt.group)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", name, [errors.field_cause(
                "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")], "autoscaling")
        cur.setdefault("spec", {})["replicas"] = replicas
        return cur

    result = await store.mutate(rt, t.namespace, name, apply, opts)
    return json_response(_scale_of(rt, result.object))


def bind_pod(name: str, binding: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The change a Binding makes to its pod: spec.nodeName, set once, and PodScheduled=True."""
    node = (binding.get("target") or {}).get("name")
    if not node:
        raise errors.invalid("Binding", name, [errors.field_cause("target.name", "Required value", "FieldValueRequired")])

    uid = (binding.get("metadata") or {}).get("uid")

    def bind(pod: dict[str, Any]) -> dict[str, Any]:
        if uid and uid != pod["metadata"].get("uid"):  # a precondition: this very pod, not a namesake
            raise errors.conflict("pods/binding", name, "", f"Precondition failed: UID in precondition: {uid}, "
                                                            f"UID in object meta: {pod['metadata'].get('uid')}")
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods/binding", name, "", "pod is being deleted, cannot be assigned to a host")
        current = (pod.get("spec") or {}).get("nodeName")
        if current:
            raise errors.conflict("pods/binding", name, "", f"pod {name} is already assigned to node \"{current}\"")
        pod["spec"]["nodeName"] = node
        conditions = [c for c in (pod.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": meta.rfc3339()})
        pod["status"]["conditions"] = conditions
        return pod

    return bind


async def _binding(request: web.Request, store: ResourceStore, t: req.Target) -> web.Response:
    """POST pods/NAME/binding: the scheduler's decision."""
    if request.method != "POST":
        raise errors.method_not_allowed()
    assert t.name is not None
    bind = bind_pod(t.name, await req.read_object(request))
    await store.mutate(t.rt, t.namespace, t.name, bind, _write_options(request), subresource="binding")
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)


def finalize_namespace(body: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The change PUT namespaces/NAME/finalize makes: only spec.finalizers, from the body."""
    finalizers = list((body.get("spec") or {}).get("finalizers") or [])

    def apply(ns: dict[str, Any]) -> dict[str, Any]:
        ns.setdefault("spec", {})["finalizers"] = finalizers
        return ns

    return apply


async def _finalize(request: web.Request, store: ResourceStore, t: req.Target) -> web.Response:
    if request.method != "PUT":
        raise errors.method_not_allowed()
    assert t.name is not None
    apply = finalize_namespace(await req.read_object(request))
    result = await store.mutate(t.rt, None, t.name, apply, _write_options(request), subresource="finalize")
    return json_response(result.object)


_SUBRESOURCES = {"scale": _scale, "binding": _binding, "finalize": _finalize, "log": podlogs.handle,
                "exec": podexec.handle}
