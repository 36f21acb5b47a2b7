"""The `Client` interface over HTTPS: any Kubernetes-compatible API server. Calls go through a
small keep-alive HTTP/1.1 pool (client/http1.py, a quarter of aiohttp's CPU per call); watch
streams through one aiohttp session.

Every failure is an `ApiError`: the server's own metav1.Status when it sent one, a Status
synthesized from the HTTP code as client-go does (NewGenericServerResponse) when it did not
(a proxy's 502 page, an empty 503), and 503 ServiceUnavailable when the server could not be
reached at all, so that callers retry every transient failure the same way.
"""

from __future__ import annotations

import asyncio
import os
import random
from contextlib import aclosing
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from kubeling.api.errors import ApiError
from kubeling.api.registry import ResourceType
from kubeling.client import http1
from kubeling.client.base import PATCH_CONTENT_TYPES, Obj, WatchEvent, resource_path
from kubeling.client.kubeconfig import Connection, load_kubeconfig

# client-go's reflector asks for a random watch timeout in [5, 10) minutes, so that streams
# are renewed and their ends spread out over time rather than all expiring together.
MIN_WATCH_TIMEOUT = 300
# Beyond the server-side timeout, how long a silent watch connection is trusted.
WATCH_READ_GRACE = 30.0

# Messages of client-go's NewGenericServerResponse, for answers that carry no Status.
_GENERIC = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Gone", "the server responded with the status code 410 but did not return more information"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, "
                     "but may still be processing the request"),
}


def random_watch_timeout(rng: random.Random | None = None) -> int:
    return int(MIN_WATCH_TIMEOUT * ((rng or random).random() + 1.0))


def generic_error(code: int, method: str, body: bytes, retry_after: int = 0) -> ApiError:
    """The ApiError for a non-Status error answer (client-go's NewGenericServerResponse)."""
    text = body.decode(errors="replace").strip()
    reason, message = _GENERIC.get(code, ("", ""))
    if code == 409 and method == "POST":
        reason = "AlreadyExists"
    elif code in (403, 406, 415):
        reason = {403: "Forbidden", 406: "NotAcceptable", 415: "UnsupportedMediaType"}[code]
        message = text
    elif not reason and code >= 500:
        reason, message = "InternalError", f"an error on the server ({text!r}) has prevented the request from succeeding"
    elif not reason:
        reason, message = "Unknown", f"the server responded with the status code {code} but did not return more information"
    details: dict[str, Any] = {"causes": [{"reason": "UnexpectedServerResponse", "message": text}]} if text else {}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    return ApiError(code, reason, message, details=details or None)


def error_from_response(code: int, method: str, body: bytes, retry_after: int = 0) -> ApiError:
    """The server's Status as an ApiError, or a synthesized one when the body is not a Status."""
    try:
        status = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return ApiError(status.get("code") or code, status.get("reason", ""), status.get("message", ""),
                        details=status.get("details"))
    return generic_error(code, method, body, retry_after)


def _unreachable(method: str, url: str, exc: BaseException) -> ApiError:
    why = str(exc) or type(exc).__name__
    return ApiError(503, "ServiceUnavailable", f'{method} "{url}": {why}')


def _retry_after(resp: aiohttp.ClientResponse) -> int:
    value = resp.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else 0


def _dry_run(params: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    if dry_run:
        params["dryRun"] = "All"
    return params


class RestClient:
    """`Client` over HTTP(S). The session (and its keep-alive pool) is made on first use, inside
    the running event loop; `close()` releases it."""

    def __init__(self, connection: Connection, *, user_agent: str = "kubeling", max_connections: int = 64,
                 request_timeout: float | None = 60.0):
        self.connection = connection
        self.user_agent = user_agent
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: http1.Pool | None = None
        self._ssl: Any = None  # the SSLContext, made once (loading certificates is slow)
        self._fixed_headers = f"User-Agent: {user_agent}\r\nAccept: application/json\r\n"

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike | None = None, context: str | None = None, **kw: Any) -> RestClient:
        return cls(load_kubeconfig(path, context), **kw)

    @property
    def namespace(self) -> str:
        """The kubeconfig context's namespace."""
        return self.connection.namespace

    # ---- transport ----------------------------------------------------------------------------

    def _session_now(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        # A session belongs to one loop; a client reused under a new loop (tests) gets a new one.
        if self._session is None or self._session.closed or self._loop is not loop:
            self._loop = loop
            connector = aiohttp.TCPConnector(ssl=self._ssl_context() or False, limit=self.max_connections)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.request_timeout),
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            )
        return self._session

    def _ssl_context(self) -> Any:
        if self._ssl is None and self.connection.uses_tls:
            self._ssl = self.connection.ssl_context()
        return self._ssl

    def _pool_now(self) -> http1.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool.loop is not loop:  # a pool belongs to one loop, as a session
            self._pool = http1.Pool(self.connection.server, ssl_context=self._ssl_context(),
                                    server_hostname=self.connection.tls_server_name, limit=self.max_connections,
                                    read_timeout=self.request_timeout)
        return self._pool

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        token = self.connection.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _request_kw(self, params: dict[str, Any] | None, body: Any,
                    content_type: str | None) -> dict[str, Any]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            content_type = content_type or "application/json"
        kw: dict[str, Any] = {"params": {k: _param(v) for k, v in (params or {}).items()},
                              "data": data, "headers": self._headers(content_type)}
        if self.connection.tls_server_name:
            kw["server_hostname"] = self.connection.tls_server_name
        return kw

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                      content_type: str | None = None) -> Obj:
        """One API call: `body` (a dict, list or bytes) sent as JSON, the decoded answer returned."""
        pool = self._pool_now()
        query = urlencode({k: _param(v) for k, v in params.items()}, quote_via=quote) if params else ""
        data = None
        headers = self._fixed_headers
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            content_type = content_type or "application/json"
        if content_type:
            headers += f"Content-Type: {content_type}\r\n"
        token = self.connection.bearer_token()
        if token:
            headers += f"Authorization: Bearer {token}\r\n"
        try:
            resp = await pool.request(method, pool.target(path, query), headers, data)
        except http1.HttpError as e:
            raise _unreachable(method, self.connection.server + path, e) from e
        if resp.status >= 300:
            retry_after = resp.headers.get("retry-after", "")
            raise error_from_response(resp.status, method, resp.body, int(retry_after) if retry_after.isdigit() else 0)
        return orjson.loads(resp.body) if resp.body else {}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- the Client protocol ------------------------------------------------------------------

    async def get(self, rt: ResourceType, namespace: str | None, name: str, *, subresource: str = "") -> Obj:
        return await self.request("GET", resource_path(rt, namespace, name, subresource))

    async def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> Obj:
        params = _selectors(label_selector, field_selector, resource_version)
        if limit:
            params["limit"] = limit
        if continue_token:
            params["continue"] = continue_token
        return await self.request("GET", resource_path(rt, namespace), params=params)

    async def create(self, rt: ResourceType, namespace: str | None, obj: Obj, *, subresource: str = "",
                     name: str = "", dry_run: bool = False) -> Obj:
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        path = resource_path(rt, namespace, name, subresource) if subresource else resource_path(rt, namespace)
        return await self.request("POST", path, params=_dry_run({}, dry_run), body=obj)

    async def update(self, rt: ResourceType, obj: Obj, *, subresource: str = "", dry_run: bool = False) -> Obj:
        md = obj.get("metadata") or {}
        path = resource_path(rt, md.get("namespace"), md.get("name", ""), subresource)
        return await self.request("PUT", path, params=_dry_run({}, dry_run), body=obj)

    async def patch(self, rt: ResourceType, namespace: str | None, name: str, patch: Any, *,
                    patch_type: str = "merge", subresource: str = "", dry_run: bool = False) -> Obj:
        # A full media type passes through (e.g. apply-patch+yaml with its own params).
        content_type = PATCH_CONTENT_TYPES.get(patch_type, patch_type)
        return await self.request("PATCH", resource_path(rt, namespace, name, subresource),
                                  params=_dry_run({}, dry_run), body=patch, content_type=content_type)

    async def delete(self, rt: ResourceType, namespace: str | None, name: str, *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Obj | None = None, dry_run: bool = False) -> Obj:
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = preconditions
        if dry_run:
            options["dryRun"] = ["All"]
        return await self.request("DELETE", resource_path(rt, namespace, name), body=options)

    async def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "", timeout_seconds: int = 0,
                    allow_bookmarks: bool = True) -> AsyncIterator[WatchEvent]:
        """One watch stream (see `Client.watch`). A 410 answered as an HTTP status arrives as an
        ERROR event, like a 410 sent inside the stream. Connection failures before the stream is
        open raise ApiError 503; a stream cut later simply ends (the caller resumes from the last
        resourceVersion it saw). Closing the generator early closes the HTTP response."""
        timeout = timeout_seconds or random_watch_timeout()
        params = _selectors(label_selector, field_selector, resource_version)
        params.update(watch="true", timeoutSeconds=timeout)
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        url = self.connection.server + resource_path(rt, namespace)
        kw = self._request_kw(params, None, None)
        kw["timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout + WATCH_READ_GRACE)
        try:
            resp = await self._session_now().get(url, **kw)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unreachable("GET", url, e) from e
        try:
            if resp.status >= 300:
                err = error_from_response(resp.status, "GET", await resp.read(), _retry_after(resp))
                if err.code != 410:
                    raise err
                yield WatchEvent(type="ERROR", object=err.status())
                return
            async with aclosing(_lines(resp)) as lines:
                async for line in lines:
                    yield WatchEvent(orjson.loads(line))
        finally:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()  # an abandoned stream: drop the connection, never reuse it


async def _lines(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """Newline-delimited lines of any size (aiohttp's readline caps a line near 128 KiB).
    A connection cut mid-stream ends the lines rather than raising."""
    buf = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            buf += chunk
            if b"\n" not in chunk:
                continue
            lines = buf.split(b"\n")
            buf = bytearray(lines.pop())
            for line in lines:
                if line.strip():
                    yield bytes(line)
    except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError):
        return
    if buf.strip():
        yield bytes(buf)


def _selectors(label_selector: str, field_selector: str, resource_version: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    if resource_version:
        params["resourceVersion"] = resource_version
    return params


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
