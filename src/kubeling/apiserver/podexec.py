"""pods/NAME/exec: check the request as kube-apiserver does (pod.ExecLocation), then proxy the
client's websocket to the kubelet's /exec endpoint over HTTPS with the API server's
kubelet-client certificate, frame for frame.

kubectl 1.30+ opens a websocket (GET, v5.channel.k8s.io) and falls back to SPDY (POST) when
the upgrade is refused; kubeling serves only the websocket protocols, and answers SPDY with
a Status saying so. Errors found before the upgrade (pod, container, node) are plain Status
answers, which kubectl prints as `Error from server (...)` after its SPDY retry gets the
same. Errors after it (the kubelet refusing) come, as from kube-apiserver's stream
translator, as an InternalError Status on the error channel:
`error: Internal error occurred: unable to upgrade connection: container not found ("c")`.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver import podlogs
from kubeling.apiserver import request as req
from kubeling.apiserver.storage import ResourceStore
from kubeling.httpbody import read_at_most
from kubeling.kubelet import remotecommand as rc

_STREAMS = ("stdin", "stdout", "stderr", "tty")


def _query_bool(query, key: str) -> bool:
    """A query bool as Kubernetes converts one: absent, "0" or "false" are false, all else true."""
    if key not in query:
        return False
    return query[key] not in ("0",) and query[key].lower() != "false"


def exec_options(query) -> rc.ExecOptions:
    """The query as PodExecOptions (the container is resolved separately)."""
    opts = rc.ExecOptions(command=query.getall("command", []),
                          **{key: _query_bool(query, key) for key in _STREAMS})
    if opts.tty:
        opts.stderr = False  # a terminal has one output
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise errors.bad_request(rc.NEEDS_A_STREAM)
    return opts


async def kubelet_url(store: ResourceStore, target: req.Target, query) -> str:
    """The kubelet's wss:// URL for this exec, or the Status kube-apiserver answers instead."""
    pod = await store.get(target.rt, target.namespace, target.name)
    container = podlogs._container(pod, query.get("container", ""))
    opts = exec_options(query)
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {target.name} does not have a host assigned")
    host, port = podlogs.kubelet_endpoint(await store.get(podlogs.NODES, None, node_name))
    md = pod["metadata"]
    return (f"wss://{podlogs._join(host, port)}/exec/{md['namespace']}/{md['name']}/{container}?"
            + urlencode(opts.kubelet_query()))


async def handle(request: web.Request, store: ResourceStore, target: req.Target) -> web.StreamResponse:
    """GET (websocket) or POST (SPDY, refused) /api/v1/namespaces/NS/pods/NAME/exec."""
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed()
    url = await kubelet_url(store, target, request.query)
    client = request.app.get(podlogs.KUBELET_CLIENT_KEY)
    if client is None:
        raise errors.internal("the API server has no kubelet client configured")
    ws = web.WebSocketResponse(protocols=rc.PROTOCOLS)
    refusal = rc.upgrade_refusal(request, ws)
    if refusal is not None:
        raise errors.bad_request(refusal)
    await ws.prepare(request)
    ch = rc.Channels(ws, ws.ws_protocol or rc.V4)
    try:
        await _proxy(ch, client.session(), url)
    except (ConnectionError, RuntimeError):
        pass  # the client went away
    finally:
        await ws.close()
    return ws


async def _proxy(ch: rc.Channels, session: aiohttp.ClientSession, url: str) -> None:
    try:
        kubelet = await session.ws_connect(url, protocols=(ch.protocol,))
    except aiohttp.WSServerHandshakeError:
        await ch.finish(rc.internal_error(f"unable to upgrade connection: {await _kubelet_refusal(session, url)}"))
        return
    except (aiohttp.ClientError, OSError) as e:
        await ch.finish(rc.internal_error(f"error dialing backend: {e}"))
        return
    await rc.splice(ch, rc.Channels(kubelet, ch.protocol))


async def _kubelet_refusal(session: aiohttp.ClientSession, url: str) -> str:
    """Why the kubelet refused the upgrade. aiohttp drops a failed handshake's body, so ask
    again without upgrading: the kubelet checks everything before it upgrades, runs nothing
    on a plain request, and answers with the same text."""
    try:
        async with session.get(url) as resp:
            return (await read_at_most(resp.content, podlogs.MAX_ERROR_BODY)).decode(errors="replace").strip()
    except (aiohttp.ClientError, OSError) as e:
        return str(e)
