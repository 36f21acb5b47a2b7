"""GET pods/NAME/log: validate the options as kube-apiserver does, find the pod's kubelet
from its Node, and stream the kubelet's answer back (pkg/registry/core/pod/rest/log.go,
pod.LogLocation, generic rest.LocationStreamer and its response checker).

The API server authenticates to kubelets with its own kubelet-client certificate, signed by
the cluster CA (kubeadm's apiserver-kubelet-client). It does not verify kubelets' serving
certificates, which are self-signed: kube-apiserver's default without --kubelet-certificate-authority.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from kubeling.api import errors, registry
from kubeling.apiserver import request as req
from kubeling.apiserver.certs import Pki, issue_client_cert
from kubeling.apiserver.storage import ResourceStore
from kubeling.httpbody import read_at_most

NODES = registry.lookup("", "v1", "nodes")
KUBELET_CLIENT_CN = "kube-apiserver-kubelet-client"
KUBELET_CLIENT_ORG = "system:masters"
DEFAULT_KUBELET_PORT = 10250
# kubeadm's --kubelet-preferred-address-types: node names need not resolve.
PREFERRED_ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")
MAX_ERROR_BODY = 50000  # the response checker's maxReadLength
_INT_OPTIONS = ("tailLines", "sinceSeconds", "limitBytes")
_BOOL_OPTIONS = ("follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend")


class KubeletClient:
    """One HTTPS session to every kubelet, opened on first use."""

    def __init__(self, ssl_context: ssl.SSLContext):
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No overall timeout: a follow streams for as long as the container runs.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl_context),
                                                  timeout=aiohttp.ClientTimeout(total=None, connect=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


KUBELET_CLIENT_KEY = web.AppKey("kubelet_client", KubeletClient)


def kubelet_client_context(pki: Pki) -> ssl.SSLContext:
    """TLS as a kubelet client: our CA-signed client certificate (made once, kept in the PKI dir)."""
    cert, key = pki.dir / "apiserver-kubelet-client.crt", pki.dir / "apiserver-kubelet-client.key"
    if not (cert.exists() and key.exists()):
        cert_pem, key_pem = issue_client_cert(pki, KUBELET_CLIENT_CN, KUBELET_CLIENT_ORG)
        _write_private(key, key_pem)
        cert.write_bytes(cert_pem)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def configure(app: web.Application, pki: Pki) -> None:
    """Give the API server its kubelet client. Call before the app starts."""
    client = KubeletClient(kubelet_client_context(pki))
    app[KUBELET_CLIENT_KEY] = client

    async def close(_app: web.Application) -> None:
        await client.close()

    app.on_cleanup.append(close)


# ---- options ----------------------------------------------------------------------------------


def _options(request: web.Request, name: str) -> dict[str, str]:
    """The query as PodLogOptions: decoded (400 when not), then validated (422)."""
    q = request.query
    out: dict[str, str] = {}
    for key in _INT_OPTIONS:
        if key in q:
            try:
                int(q[key])
            except ValueError:
                raise errors.bad_request(f'strconv.ParseInt: parsing "{q[key]}": invalid syntax') from None
            out[key] = q[key]
    for key in _BOOL_OPTIONS:
        if q.get(key, "") not in ("", "false", "False", "0", "f", "F", "FALSE"):
            out[key] = "true"
    if q.get("sinceTime"):
        out["sinceTime"] = q["sinceTime"]
    causes = []
    if int(out.get("tailLines", 0)) < 0:
        causes.append(errors.field_cause("tailLines", f"Invalid value: {out['tailLines']}: must be greater than "
                                                      "or equal to 0"))
    if "limitBytes" in out and int(out["limitBytes"]) < 1:
        causes.append(errors.field_cause("limitBytes", f"Invalid value: {out['limitBytes']}: must be greater than 0"))
    if "sinceSeconds" in out and "sinceTime" in out:
        causes.append(errors.field_cause("", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be "
                                             "specified", "FieldValueForbidden"))
    if "sinceSeconds" in out and int(out["sinceSeconds"]) < 1:
        causes.append(errors.field_cause("sinceSeconds", f"Invalid value: {out['sinceSeconds']}: must be greater "
                                                         "than 0"))
    if causes:
        raise errors.invalid("PodLogOptions", name, causes)
    return out


def _container(pod: dict, requested: str) -> str:
    """The container to read (pod.validateContainer): the only one, or the one named."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    every = [c["name"] for key in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(key) or []]
    if not requested:
        containers = spec.get("containers") or []
        if len(containers) == 1:
            return containers[0]["name"]
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        raise errors.bad_request(f"a container name must be specified for pod {name}, "
                                 f"choose one of: [{' '.join(every)}]")
    if requested not in every:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def kubelet_endpoint(node: dict) -> tuple[str, int]:
    """(address, port) of a node's kubelet, from status.addresses and daemonEndpoints."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    for kind in PREFERRED_ADDRESS_TYPES:
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
                return a["address"], int(port or DEFAULT_KUBELET_PORT)
    known = " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses)
    raise errors.internal(f"no preferred addresses found; known addresses: [{known}]")


# ---- the handler --------------------------------------------------------------------------------


async def handle(request: web.Request, store: ResourceStore, target: req.Target) -> web.StreamResponse:
    """GET /api/v1/namespaces/NS/pods/NAME/log."""
    if request.method != "GET":
        raise errors.method_not_allowed()
    pod = await store.get(target.rt, target.namespace, target.name)
    opts = _options(request, target.name)
    container = _container(pod, request.query.get("container", ""))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        # No kubelet to ask yet: kube-apiserver answers an empty log.
        return web.Response(body=b"", content_type="text/plain")
    host, port = kubelet_endpoint(await store.get(NODES, None, node_name))
    opts.pop("insecureSkipTLSVerifyBackend", None)  # we never verify kubelets anyway
    md = pod["metadata"]
    url = f"https://{_join(host, port)}/containerLogs/{md['namespace']}/{md['name']}/{container}"
    if opts:
        url += "?" + urlencode(sorted(opts.items()))
    return await _proxy(request, url, target.name, follow="follow" in opts)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _proxy(request: web.Request, url: str, name: str, follow: bool) -> web.StreamResponse:
    client = request.app.get(KUBELET_CLIENT_KEY)
    if client is None:
        raise errors.internal("the API server has no kubelet client configured")
    try:
        upstream = await client.session().get(url)
    except (aiohttp.ClientError, OSError) as e:
        raise errors.ApiError(500, "", f'Get "{url}": {e}') from None
    try:
        if not 200 <= upstream.status <= 206:
            body = (await read_at_most(upstream.content, MAX_ERROR_BODY)).decode(errors="replace")
            raise _from_kubelet(upstream.status, body, name)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            # A follow sends each piece as it comes; otherwise read in bigger blocks.
            reader = upstream.content.iter_any() if follow else upstream.content.iter_chunked(64 << 10)
            async for chunk in reader:
                await resp.write(chunk)
        except (aiohttp.ClientError, ConnectionResetError):
            pass  # either end went away: the log ends here
        await resp.write_eof()
        return resp
    finally:
        upstream.release()


def _from_kubelet(code: int, body: str, name: str) -> errors.ApiError:
    """A kubelet's error answer as the API server's Status (GenericHttpResponseChecker)."""
    if code == 500:
        return errors.internal(body)
    if code == 400:
        return errors.bad_request(body)
    reason, message = {
        404: ("NotFound", "the server could not find the requested resource"),
        401: ("Unauthorized", "the server has asked for the client to provide credentials"),
        403: ("Forbidden", body),
        405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
        422: ("Invalid", "the server rejected our request due to an error in our request"),
        409: ("Conflict", "the server reported a conflict"),
    }.get(code, ("", f"the server responded with the status code {code} but did not return more information"))
    return errors.ApiError(code, reason, f"{message} ( pods/log {name})",
                           details={"name": name, "kind": "pods/log"})
