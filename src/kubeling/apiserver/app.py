"""The aiohttp application: authentication, error mapping, and the URL space
(health, version, discovery, OpenAPI, and the resource URLs)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from kubeling import KUBERNETES_VERSION
from kubeling.api import errors, registry
from kubeling.apiserver import discovery, openapi, resources
from kubeling.apiserver import request as req
from kubeling.apiserver.storage import ResourceStore

log = logging.getLogger("kubeling.apiserver")

UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
STORE_KEY = web.AppKey("store", ResourceStore)
TOKEN_KEY = web.AppKey("token", str)
READY_KEY = web.AppKey("ready", list)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def version_info() -> dict[str, str]:
    major, minor, _ = KUBERNETES_VERSION.lstrip("v").split(".")
    return {"major": major, "minor": minor, "gitVersion": KUBERNETES_VERSION,
            "gitCommit": "kubeling", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "python", "compiler": "cpython", "platform": "linux/amd64"}


@web.middleware
async def authenticate_and_map_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication, then the handler; every failure leaves as a metav1.Status, never as
    an HTML page or a dropped connection. (One middleware: each costs a call per request.)"""
    try:
        if not (request.path in UNAUTHENTICATED_PATHS or _client_cert_ok(request) or _token_ok(request)):
            raise errors.unauthorized()
        return await handler(request)
    except errors.ApiError as e:
        return resources.json_response(e.status(), e.code)
    except web.HTTPException as e:
        if e.status < 400:
            raise  # redirects
        if e.status == 413:
            err = errors.request_entity_too_large()
        elif e.status == 404:
            err = req._not_found()
        elif e.status == 405:
            err = errors.method_not_allowed()
        else:
            err = errors.ApiError(e.status, e.reason or "Unknown", e.text or e.reason or "")
        return resources.json_response(err.status(), err.code)
    except Exception as e:
        log.exception("internal error serving %s %s", request.method, request.path)
        err = errors.internal(str(e) or type(e).__name__)
        return resources.json_response(err.status(), err.code)


def _client_cert_ok(request: web.Request) -> bool:
    # The TLS layer has already verified any client certificate against the cluster CA.
    transport = request.transport
    return bool(transport and transport.get_extra_info("peercert"))


def _token_ok(request: web.Request) -> bool:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return False
    return hmac.compare_digest(auth[7:].strip().encode(), request.app[TOKEN_KEY].encode())


# ---- health, version ------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    if request.path == "/readyz" and not request.app[READY_KEY]:
        return web.Response(status=500, text="[-]watch-cache not ready\nreadyz check failed")
    return web.Response(text="ok")


async def version(request: web.Request) -> web.Response:
    return resources.json_response(version_info())


# ---- discovery ------------------------------------------------------------------------------------


def _discovery_response(request: web.Request, core: bool, legacy) -> web.Response:
    aggregated_version, content_type = discovery.negotiate_discovery(request.headers.get("Accept", ""))
    if aggregated_version is None:
        return resources.json_response(legacy())
    body = discovery.aggregated(core, aggregated_version)
    return web.Response(body=orjson.dumps(body), headers={"Content-Type": content_type, "Vary": "Accept"})


async def api_root(request: web.Request) -> web.Response:
    return _discovery_response(request, True, discovery.api_versions)


async def apis_root(request: web.Request) -> web.Response:
    return _discovery_response(request, False, discovery.api_group_list)


async def api_group(request: web.Request, group: str) -> web.Response:
    found = discovery.api_group(group)
    if found is None:
        raise req._not_found()
    return resources.json_response(found)


# ---- OpenAPI --------------------------------------------------------------------------------------


async def openapi_v3_index(request: web.Request) -> web.Response:
    return resources.json_response(openapi.openapi_v3_index())


async def openapi_v3_doc(request: web.Request, path: str) -> web.Response:
    data = openapi.openapi_v3_path_document(path)
    if data is None:
        raise req._not_found()
    etag = openapi.document_hash(data)
    wanted = request.query.get("hash")
    if wanted and wanted != etag:
        # An old hash: send the client to the current document, as kube-apiserver does.
        raise web.HTTPMovedPermanently(f"{request.path}?hash={etag}")
    headers = {"Content-Type": "application/json", "Etag": f'"{etag}"'}
    if wanted:
        headers["Cache-Control"] = "public, immutable"
    return web.Response(body=data, headers=headers)


async def openapi_v2(request: web.Request) -> web.Response:
    # kubectl 1.27/1.28 ask for the protobuf form first (explain, apply validation).
    if "protobuf" in request.headers.get("Accept", ""):
        return web.Response(body=openapi.openapi_v2_protobuf(),
                            headers={"Content-Type": openapi.OPENAPI_V2_PROTOBUF_CONTENT_TYPE})
    return web.Response(body=openapi.openapi_v2_json(), headers={"Content-Type": "application/json"})


# ---- resources ------------------------------------------------------------------------------------


async def api_resources(request: web.Request, group: str, version: str, tail: str) -> web.StreamResponse:
    """Everything under /api/v1 and /apis/GROUP/VERSION: discovery of the group-version, or a resource URL."""
    if version not in registry.group_versions().get(group, []):
        raise req._not_found()
    if tail in ("", "/"):
        if request.method != "GET":
            raise errors.method_not_allowed()
        return resources.json_response(discovery.api_resource_list(group, version))
    target = req.parse_target(group, version, tail.split("/"))
    return await resources.handle(request, request.app[STORE_KEY], target)


_GET_ONLY: dict[str, Handler] = {
    "/healthz": health, "/livez": health, "/readyz": health, "/version": version,
    "/api": api_root, "/api/": api_root, "/apis": apis_root, "/apis/": apis_root,
    "/openapi/v3": openapi_v3_index, "/openapi/v2": openapi_v2,
}


async def dispatch(request: web.Request) -> web.StreamResponse:
    """One route for the whole URL space, split by hand: cheaper than aiohttp's regex routes,
    which cost an eighth of a small request's time."""
    path = request.path
    handler = _GET_ONLY.get(path)
    if handler is not None:
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        return await handler(request)
    if path == "/api/v1" or path.startswith("/api/v1/"):
        return await api_resources(request, "", "v1", path[8:])
    if path.startswith("/apis/"):
        group, _, rest = path[6:].partition("/")
        if not group:
            raise req._not_found()
        if not rest:
            return await api_group(request, group)
        version, _, tail = rest.partition("/")
        if group and version:
            return await api_resources(request, group, version, tail)
    elif path.startswith("/openapi/v3/") and request.method == "GET":
        return await openapi_v3_doc(request, path[len("/openapi/v3/"):])
    raise req._not_found()


def build_app(store: ResourceStore, token: str) -> web.Application:
    app = web.Application(middlewares=[authenticate_and_map_errors], client_max_size=req.MAX_BODY + 1024)
    app[STORE_KEY] = store
    app[TOKEN_KEY] = token
    app[READY_KEY] = []
    app.router.add_route("*", "/{path:.*}", dispatch)
    return app
