"""RestClient against a real kubeling server (CRUD, patches, errors, paging, watch, token auth),
and against tiny aiohttp stubs for what a healthy server will not do on demand (an HTTP 410
for a watch, a proxy's HTML error page, a 3 MiB event line, noticing an abandoned stream)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
from aiohttp import web

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.client.kubeconfig import Connection, load_kubeconfig
from kubeling.client.rest import MIN_WATCH_TIMEOUT, RestClient
from tests.integration.helpers import cm

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
NAMESPACES = registry.lookup("", "v1", "namespaces")
_ns = itertools.count()


@pytest.fixture
async def client(server) -> AsyncIterator[RestClient]:
    c = RestClient.from_kubeconfig(str(server.kubeconfig))
    yield c
    await c.close()


@pytest.fixture
async def ns(client) -> str:
    name = f"rest-{next(_ns)}"
    await client.create(NAMESPACES, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


async def test_crud_round_trip(client, ns):
    created = await client.create(CONFIGMAPS, ns, cm("a", {"x": "1"}))
    assert created["metadata"]["namespace"] == ns and created["metadata"]["uid"]
    got = await client.get(CONFIGMAPS, ns, "a")
    assert got["data"] == {"x": "1"}
    got["data"]["x"] = "2"
    updated = await client.update(CONFIGMAPS, got)
    assert updated["data"] == {"x": "2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    listed = await client.list(CONFIGMAPS, ns)
    assert listed["kind"] == "ConfigMapList" and [o["metadata"]["name"] for o in listed["items"]] == ["a"]
    await client.delete(CONFIGMAPS, ns, "a")
    with pytest.raises(ApiError) as e:
        await client.get(CONFIGMAPS, ns, "a")
    assert (e.value.code, e.value.reason, e.value.message) == (404, "NotFound", 'configmaps "a" not found')
    assert e.value.details["name"] == "a"


@pytest.mark.parametrize("patch_type, patch, expected", [
    ("merge", {"data": {"x": None, "y": "2"}}, {"y": "2"}),
    ("strategic", {"data": {"y": "3"}}, {"x": "1", "y": "3"}),
    ("json", [{"op": "replace", "path": "/data/x", "value": "9"}], {"x": "9"}),
])
async def test_patch_types(client, ns, patch_type, patch, expected):
    await client.create(CONFIGMAPS, ns, cm("p", {"x": "1"}))
    patched = await client.patch(CONFIGMAPS, ns, "p", patch, patch_type=patch_type)
    assert patched["data"] == expected
    assert (await client.get(CONFIGMAPS, ns, "p"))["data"] == expected


async def test_errors_carry_the_servers_status(client, ns):
    first = await client.create(CONFIGMAPS, ns, cm("e"))
    await client.patch(CONFIGMAPS, ns, "e", {"data": {"k": "moved on"}})
    stale = {**first, "data": {"k": "stale"}}
    cases: list[tuple[Callable, int, str, str]] = [
        (lambda: client.create(CONFIGMAPS, ns, cm("e")), 409, "AlreadyExists", 'configmaps "e" already exists'),
        (lambda: client.update(CONFIGMAPS, stale), 409, "Conflict", "Operation cannot be fulfilled"),
        (lambda: client.create(CONFIGMAPS, ns, cm("Bad_Name")), 422, "Invalid", 'ConfigMap "Bad_Name" is invalid'),
        (lambda: client.delete(CONFIGMAPS, ns, "missing"), 404, "NotFound", 'configmaps "missing" not found'),
        (lambda: client.delete(CONFIGMAPS, ns, "e", preconditions={"uid": "not-the-uid"}), 409, "Conflict",
         "precondition"),
    ]
    for call, code, reason, message in cases:
        with pytest.raises(ApiError) as e:
            await call()
        assert (e.value.code, e.value.reason) == (code, reason), e.value.status()
        assert message.lower() in e.value.message.lower()


async def test_dry_run_changes_nothing(client, ns):
    await client.create(CONFIGMAPS, ns, cm("d"), dry_run=True)
    with pytest.raises(ApiError, match="not found"):
        await client.get(CONFIGMAPS, ns, "d")
    await client.create(CONFIGMAPS, ns, cm("d"))
    await client.delete(CONFIGMAPS, ns, "d", dry_run=True, propagation_policy="Background",
                        grace_period_seconds=0)
    assert (await client.get(CONFIGMAPS, ns, "d"))["metadata"]["name"] == "d"


async def test_list_pagination_and_selectors(client, ns):
    for i in range(5):
        await client.create(CONFIGMAPS, ns, cm(f"c{i}", labels={"parity": "even" if i % 2 == 0 else "odd"}))
    names, token, pages = [], "", 0
    while True:
        page = await client.list(CONFIGMAPS, ns, limit=2, continue_token=token)
        names += [o["metadata"]["name"] for o in page["items"]]
        pages += 1
        token = page["metadata"].get("continue", "")
        if not token:
            break
    assert (names, pages) == ([f"c{i}" for i in range(5)], 3)
    odd = await client.list(CONFIGMAPS, ns, label_selector="parity=odd")
    assert [o["metadata"]["name"] for o in odd["items"]] == ["c1", "c3"]
    by_name = await client.list(CONFIGMAPS, ns, field_selector="metadata.name=c4")
    assert [o["metadata"]["name"] for o in by_name["items"]] == ["c4"]


async def next_events(stream: AsyncIterator, n: int, timeout: float = 10.0) -> list[tuple[str, str]]:
    """The next n events other than bookmarks, as (type, name)."""
    out = []
    while len(out) < n:
        ev = await asyncio.wait_for(anext(stream), timeout)
        if ev.type != "BOOKMARK":
            out.append((ev.type, ev.object["metadata"]["name"]))
    return out


async def test_watch_streams_events_and_resumes(client, ns):
    rv = (await client.list(CONFIGMAPS, ns))["metadata"]["resourceVersion"]
    stream = client.watch(CONFIGMAPS, ns, resource_version=rv, allow_bookmarks=False)
    try:
        await client.create(CONFIGMAPS, ns, cm("w", {"v": "1"}))
        first = await asyncio.wait_for(anext(stream), 10)
        assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "w")
        await client.patch(CONFIGMAPS, ns, "w", {"data": {"v": "2"}})
        await client.delete(CONFIGMAPS, ns, "w")
        assert await next_events(stream, 2) == [("MODIFIED", "w"), ("DELETED", "w")]
    finally:
        await stream.aclose()
    # Resuming from the first event's version replays exactly what came after it.
    resumed = client.watch(CONFIGMAPS, ns, resource_version=first.object["metadata"]["resourceVersion"])
    try:
        assert await next_events(resumed, 2) == [("MODIFIED", "w"), ("DELETED", "w")]
    finally:
        await resumed.aclose()


async def test_watch_with_selector_and_early_close_leaves_client_usable(client, ns):
    for i in range(3):
        rv = (await client.list(CONFIGMAPS, ns))["metadata"]["resourceVersion"]
        stream = client.watch(CONFIGMAPS, ns, label_selector="pick=yes", resource_version=rv)
        await client.create(CONFIGMAPS, ns, cm(f"n{i}"))
        await client.create(CONFIGMAPS, ns, cm(f"y{i}", labels={"pick": "yes"}))
        assert (await next_events(stream, 1)) == [("ADDED", f"y{i}")]
        await stream.aclose()
    assert len((await client.list(CONFIGMAPS, ns))["items"]) == 6


async def test_bearer_token_auth(server, ns):
    conn = load_kubeconfig(server.kubeconfig)
    conn.client_cert_data = conn.client_key_data = None
    conn.token_file = str(server.data_dir / "pki" / "admin.token")
    async with RestClient(conn) as c:
        assert (await c.get(NAMESPACES, None, ns))["metadata"]["name"] == ns
    conn.token_file, conn.token = None, "wrong"
    async with RestClient(conn) as c:
        with pytest.raises(ApiError) as e:
            await c.get(NAMESPACES, None, ns)
    assert (e.value.code, e.value.reason) == (401, "Unauthorized")


async def test_unreachable_server_is_service_unavailable(server):
    conn = load_kubeconfig(server.kubeconfig)
    conn.server = "https://127.0.0.1:1"  # nothing listens on port 1
    async with RestClient(conn) as c:
        with pytest.raises(ApiError) as e:
            await c.list(NAMESPACES)
        assert (e.value.code, e.value.reason) == (503, "ServiceUnavailable")
        with pytest.raises(ApiError) as e:
            await anext(c.watch(NAMESPACES))
        assert (e.value.code, e.value.reason) == (503, "ServiceUnavailable")


# ---- stubs --------------------------------------------------------------------------------------


@pytest.fixture
async def stub() -> AsyncIterator[Callable]:
    """`await stub(handler)` serves handler for every path over plain HTTP and returns a client."""
    runners, clients = [], []

    async def start(handler) -> RestClient:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        runners.append(runner)
        clients.append(RestClient(Connection(server=f"http://127.0.0.1:{port}")))
        return clients[-1]

    yield start
    for c in clients:
        await c.close()
    for r in runners:
        await r.cleanup()


async def test_watch_http_410_becomes_an_error_event_and_params_are_sent(stub):
    seen = {}

    async def gone(request: web.Request) -> web.Response:
        seen.update(request.query)
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired",
                  "message": "too old resource version: 5 (100)"}
        return web.json_response(status, status=410)

    client = await stub(gone)
    events = [ev async for ev in client.watch(CONFIGMAPS, "ns1", resource_version="5", label_selector="a=b")]
    assert [(e.type, e.object["code"], e.object["reason"]) for e in events] == [("ERROR", 410, "Expired")]
    assert events[0].object["message"] == "too old resource version: 5 (100)"
    assert seen["watch"] == "true" and seen["allowWatchBookmarks"] == "true"
    assert (seen["resourceVersion"], seen["labelSelector"]) == ("5", "a=b")
    assert MIN_WATCH_TIMEOUT <= int(seen["timeoutSeconds"]) < 2 * MIN_WATCH_TIMEOUT


async def test_large_event_lines_and_split_chunks(stub):
    big = "x" * (3 * 1024 * 1024 + 17)
    lines = [orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "big"}, "data": {"v": big}}}),
             orjson.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})]
    payload = b"\n".join(lines) + b"\n"

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(0, len(payload), 65521):  # chunk edges fall inside lines
            await resp.write(payload[i:i + 65521])
        await resp.write_eof()
        return resp

    client = await stub(stream)
    events = [ev async for ev in client.watch(CONFIGMAPS, timeout_seconds=30)]
    assert [e.type for e in events] == ["ADDED", "BOOKMARK"]
    assert events[0].object["data"]["v"] == big


async def test_closing_a_watch_early_closes_the_connection(stub):
    closed = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "one"}}}) + b"\n")
        try:
            await asyncio.Event().wait()  # until the client goes away
        finally:
            closed.set()
        return resp

    client = await stub(endless)
    stream = client.watch(CONFIGMAPS)
    assert (await anext(stream)).object["metadata"]["name"] == "one"
    await stream.aclose()
    await asyncio.wait_for(closed.wait(), 5)


@pytest.mark.parametrize("status, body, ctype, method, reason, message", [
    (503, b"", "text/plain", "GET", "ServiceUnavailable", "the server is currently unable to handle the request"),
    (502, b"<html>Bad Gateway</html>", "text/html", "GET", "InternalError",
     "an error on the server ('<html>Bad Gateway</html>') has prevented the request from succeeding"),
    (409, b"conflict", "text/plain", "POST", "AlreadyExists", "the server reported a conflict"),
    (404, b"404 page not found", "text/plain", "GET", "NotFound", "the server could not find the requested resource"),
    (418, b"", "text/plain", "GET", "Unknown",
     "the server responded with the status code 418 but did not return more information"),
])
async def test_non_status_answers_are_synthesized(stub, status, body, ctype, method, reason, message):
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=ctype, headers={"Retry-After": "3"})

    client = await stub(answer)
    with pytest.raises(ApiError) as e:
        await client.request(method, "/api/v1/namespaces", body={} if method == "POST" else None)
    assert (e.value.code, e.value.reason, e.value.message) == (status, reason, message)
    assert e.value.details["retryAfterSeconds"] == 3


async def test_delete_sends_delete_options(stub):
    bodies = []

    async def record(request: web.Request) -> web.Response:
        bodies.append((request.method, request.path, request.content_type, await request.json()))
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})

    client = await stub(record)
    out = await client.delete(CONFIGMAPS, "ns1", "x", propagation_policy="Foreground", grace_period_seconds=0,
                              preconditions={"uid": "u1", "resourceVersion": "7"}, dry_run=True)
    assert out["status"] == "Success"
    assert bodies == [("DELETE", "/api/v1/namespaces/ns1/configmaps/x", "application/json", {
        "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground", "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u1", "resourceVersion": "7"}, "dryRun": ["All"]})]
