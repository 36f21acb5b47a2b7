"""The kubelet's HTTPS server: container logs and exec (what the API server's pods/log and
pods/exec proxy to) and /healthz, as pkg/kubelet/server serves them.

Callers authenticate with a client certificate signed by the cluster CA (the API server
presents its kubelet-client certificate). The serving certificate is self-signed, as a
kubelet's is by default; kube-apiserver does not verify it unless told a kubelet CA.
"""

from __future__ import annotations

import datetime as dt
import inspect
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from kubeling.api.meta import parse_time
from kubeling.kubelet import execstream
from kubeling.kubelet import remotecommand as rc
from kubeling.kubelet.runtime.base import Runtime

Obj = dict[str, Any]
# The pod as this kubelet knows it (spec and its latest status), or None: sync or async.
PodLookup = Callable[[str, str], "Obj | None | Awaitable[Obj | None]"]
Authenticator = Callable[[web.Request], bool]

DEFAULT_PORT = 10250


class LogError(Exception):
    """A log request the kubelet refuses: HTTP status and plain-text message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ---- options ----------------------------------------------------------------------------------


@dataclass
class LogOptions:
    """v1.PodLogOptions as the kubelet decodes it from the query."""

    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: dt.datetime | None = None
    limit_bytes: int | None = None

    def since(self, now: float) -> float | None:
        if self.since_seconds is not None:
            return now - self.since_seconds
        if self.since_time is not None:
            return self.since_time.timestamp()
        return None


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False", ""}


def _bool(query, key: str) -> bool:
    value = query.get(key, "")
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(key)


def _int(query, key: str) -> int | None:
    value = query.get(key)
    return None if value is None or value == "" else int(value)


def parse_log_options(query) -> LogOptions:
    """Decode and validate; LogError with the kubelet's answers (400 undecodable, 422 invalid)."""
    q = dict(query)
    tail = q.pop("tail", None)  # the old name for tailLines; "all" means no limit
    if tail is not None and tail != "all":
        q["tailLines"] = tail
    try:
        opts = LogOptions(follow=_bool(q, "follow"), previous=_bool(q, "previous"),
                          timestamps=_bool(q, "timestamps"), tail_lines=_int(q, "tailLines"),
                          since_seconds=_int(q, "sinceSeconds"), limit_bytes=_int(q, "limitBytes"))
        if q.get("sinceTime"):
            opts.since_time = parse_time(q["sinceTime"])
    except ValueError:
        raise LogError(400, '{"message": "Unable to decode query."}') from None
    if ((opts.tail_lines is not None and opts.tail_lines < 0)
            or (opts.limit_bytes is not None and opts.limit_bytes < 1)
            or (opts.since_seconds is not None and opts.since_seconds < 1)
            or (opts.since_seconds is not None and opts.since_time is not None)):
        raise LogError(422, '{"message": "Invalid request."}')
    return opts


# ---- which container --------------------------------------------------------------------------


def _all_container_names(pod: Obj) -> list[str]:
    spec = pod.get("spec") or {}
    return [c.get("name") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def _runtime_id(container_id: str) -> str:
    """`containerd://abc` -> `abc` (kubecontainer.ParseContainerID)."""
    return container_id.split("://", 1)[1] if "://" in container_id else container_id


def _find_status(status: Obj, name: str) -> Obj | None:
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == name:
                return cs
    return None


def container_for_logs(pod: Obj, container: str, previous: bool) -> str:
    """The runtime id whose logs to serve, from the pod's status (validateContainerLogStatus):
    the running or last terminated attempt, or with `previous` the one before it."""
    pod_name = pod["metadata"]["name"]
    cs = _find_status(pod.get("status") or {}, container)
    if cs is None:
        raise LogError(400, f'container "{container}" in pod "{pod_name}" is not available')
    state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
    last_id = (last or {}).get("containerID", "")
    if previous:
        if not last_id:
            raise LogError(400, f'previous terminated container "{container}" in pod "{pod_name}" not found')
        return _runtime_id(last_id)
    if "running" in state:
        return _runtime_id(cs.get("containerID", ""))
    if "terminated" in state:
        cid = state["terminated"].get("containerID") or last_id
        if not cid:
            raise LogError(400, f'container "{container}" in pod "{pod_name}" is terminated')
        return _runtime_id(cid)
    if last is not None:
        if not last_id:
            raise LogError(400, f'container "{container}" in pod "{pod_name}" is terminated')
        return _runtime_id(last_id)
    if "waiting" in state:
        reason = state["waiting"].get("reason", "")
        detail = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise LogError(400, f'container "{container}" in pod "{pod_name}" is waiting to start: {detail}')
    raise LogError(400, f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet')


def running_container_id(pod: Obj, container: str) -> str:
    """The runtime id of `container` if it runs (kubelet findContainer); the kubelet's error
    otherwise, which kubectl shows as `unable to upgrade connection: container not found ("c")`."""
    cs = _find_status(pod.get("status") or {}, container)
    if cs is None or "running" not in (cs.get("state") or {}) or not cs.get("containerID"):
        raise LogError(500, f'container not found ("{container}")')
    return _runtime_id(cs["containerID"])


# ---- TLS ------------------------------------------------------------------------------------------


def serving_context(cert_pem: bytes, key_pem: bytes, client_ca_pem: bytes) -> ssl.SSLContext:
    """TLS for the kubelet: its certificate, and client certificates checked against the cluster
    CA (optional at the TLS layer, so an unauthenticated caller gets a 401, not a reset)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as d:  # ssl loads chains only from files
        cert, key = Path(d) / "tls.crt", Path(d) / "tls.key"
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cadata=client_ca_pem.decode())
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_cert_authenticated(request: web.Request) -> bool:
    """The TLS layer verified a client certificate against the CA (x509 authentication)."""
    transport = request.transport
    return bool(transport and transport.get_extra_info("peercert"))


# ---- the server -------------------------------------------------------------------------------------


class KubeletServer:
    """GET /containerLogs/{namespace}/{pod}/{container}, /exec/{namespace}/{pod}/{container}
    (websocket) and /healthz."""

    def __init__(self, runtime: Runtime, pod_lookup: PodLookup, *, port: int = DEFAULT_PORT,
                 ssl_context: ssl.SSLContext | None = None, authenticate: Authenticator | None = None,
                 host: str = "127.0.0.1", wall_clock: Callable[[], float] = time.time):
        self.runtime = runtime
        self.pod_lookup = pod_lookup
        self.port = port
        self.host = host
        self.ssl_context = ssl_context
        self.authenticate = authenticate or client_cert_authenticated
        self.wall_clock = wall_clock
        self.app = web.Application(middlewares=[self._auth])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        self.app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self._exec)
        self._runner: web.AppRunner | None = None
        self._stream_client: aiohttp.ClientSession | None = None  # to the runtime's stream server

    async def start(self) -> int:
        """Listen; returns the port (the real one when asked for port 0)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._stream_client is not None:
            await self._stream_client.close()
            self._stream_client = None

    @web.middleware
    async def _auth(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path != "/healthz" and not self.authenticate(request):
            return web.Response(status=401, text="Unauthorized")
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _lookup(self, namespace: str, name: str) -> Obj | None:
        found = self.pod_lookup(namespace, name)
        return await found if inspect.isawaitable(found) else found

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        ns, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            opts = parse_log_options(request.query)
            pod = await self._lookup(ns, name)
            if pod is None:
                raise LogError(404, f'pod "{name}" does not exist')
            if container not in _all_container_names(pod):
                raise LogError(404, f'container "{container}" not found in pod "{name}"')
            container_id = container_for_logs(pod, container, opts.previous)
        except LogError as e:
            return web.Response(status=e.status, text=e.message)
        return await self._stream(request, container_id, opts)

    async def _stream(self, request: web.Request, container_id: str, opts: LogOptions) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)  # headers now, even while a follow waits for a first line
        budget = opts.limit_bytes
        lines = self.runtime.logs(container_id, follow=opts.follow, tail_lines=opts.tail_lines,
                                  since=opts.since(self.wall_clock()), timestamps=opts.timestamps)
        try:
            async for chunk in lines:
                if budget is not None:
                    chunk = chunk[:budget]
                    budget -= len(chunk)
                await resp.write(chunk)
                if budget == 0:
                    break
        except (ConnectionResetError, KeyError, LookupError):
            pass  # the reader went away, or the container was removed mid-stream
        finally:
            closer = getattr(lines, "aclose", None)
            if closer is not None:
                await closer()
        await resp.write_eof()
        return resp

    # ---- exec ------------------------------------------------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        """An exec session (getExec): checked first, so a plain request learns what is wrong."""
        ns, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        if request.method not in ("GET", "POST"):
            return web.Response(status=405, text="Method Not Allowed")
        try:
            opts = rc.ExecOptions.from_kubelet_query(request.query)
            pod = await self._lookup(ns, name)
            if pod is None:
                raise LogError(404, "pod does not exist")
            container_id = running_container_id(pod, container)
        except rc.OptionsError as e:
            return web.Response(status=400, text=str(e))
        except LogError as e:
            return web.Response(status=e.status, text=e.message)
        ws = web.WebSocketResponse(protocols=rc.PROTOCOLS)
        refusal = rc.upgrade_refusal(request, ws)
        if refusal is not None:
            return web.Response(status=400, text=refusal)
        await ws.prepare(request)
        ch = rc.Channels(ws, ws.ws_protocol or rc.V4)
        try:
            await ch.send(rc.lowest_writable(opts))
            status = await self._run_exec(ch, container_id, opts)
            if status is not None:
                await ch.finish(status)
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-session
        finally:
            await ws.close()
        return ws

    async def _run_exec(self, ch: rc.Channels, container_id: str, opts: rc.ExecOptions) -> dict | None:
        try:
            url = await self.runtime.exec_url(container_id, opts.command, tty=opts.tty, stdin=opts.stdin,
                                              stdout=opts.stdout, stderr=opts.stderr)
        except Exception as e:  # the runtime refused (container gone, ...): the client's answer
            return rc.internal_error(f"error executing command in container: {e}")
        if url is None:
            return await execstream.run_exec_sync(ch, self.runtime, container_id, opts)
        if self._stream_client is None or self._stream_client.closed:
            self._stream_client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        return await execstream.bridge(ch, url, self._stream_client, opts)
