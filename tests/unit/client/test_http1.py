"""The small HTTP/1.1 pool against raw TCP servers that answer exactly as scripted: framing
(Content-Length, chunked, until close), keep-alive reuse, dropped idle connections, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from kubeling.client import http1

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], "asyncio.Future | None"]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in head[1:] if ln)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return head[0], headers, body


@pytest.fixture
async def serve() -> AsyncIterator[Callable]:
    """`await serve(handler)`: a server calling handler(reader, writer, connection number) per
    connection; returns (pool, list of request lines seen)."""
    servers, pools = [], []

    async def start(handler, **pool_kw) -> tuple[http1.Pool, list[str]]:
        seen: list[str] = []
        conns = 0

        async def on_conn(reader, writer):
            nonlocal conns
            conns += 1
            try:
                await handler(reader, writer, conns, seen)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pool = http1.Pool(f"http://127.0.0.1:{port}", ssl_context=None, **pool_kw)
        pools.append(pool)
        return pool, seen

    yield start
    for p in pools:
        await p.close()
    for s in servers:
        s.close()


def answer(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n" \
        .encode() + body


async def echo_forever(reader, writer, conn, seen):
    while True:
        line, headers, body = await read_request(reader)
        seen.append(f"{conn} {line}")
        writer.write(answer(b'{"got":"' + body + b'"}'))
        await writer.drain()


async def test_keep_alive_reuses_one_connection_and_sends_host_and_length(serve):
    pool, seen = await serve(echo_forever)
    for i in range(3):
        r = await pool.request("POST", pool.target("/api/v1/x", "a=b"), "Accept: application/json\r\n", b"%d" % i)
        assert (r.status, r.body) == (200, b'{"got":"%d"}' % i)
    assert seen == ["1 POST /api/v1/x?a=b HTTP/1.1"] * 3


async def test_concurrent_requests_use_separate_connections_up_to_the_limit(serve):
    gate = asyncio.Event()

    async def slow(reader, writer, conn, seen):
        while True:
            line, _, _ = await read_request(reader)
            seen.append(str(conn))
            await gate.wait()
            writer.write(answer(b"{}"))
            await writer.drain()

    pool, seen = await serve(slow, limit=2)
    calls = [asyncio.ensure_future(pool.request("GET", "/", "")) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert sorted(seen) == ["1", "2"]  # the third waits for a free connection
    gate.set()
    assert [r.status for r in await asyncio.gather(*calls)] == [200, 200, 200]
    assert sorted(seen) == ["1", "1", "2"] or sorted(seen) == ["1", "2", "2"]


@pytest.mark.parametrize("wire, body", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-T: 1\r\n\r\n", b"abcdefg"),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
])
async def test_framings(serve, wire, body):
    async def once(reader, writer, conn, seen):
        await read_request(reader)
        for i in range(0, len(wire), 5):  # split across reads
            writer.write(wire[i:i + 5])
            await writer.drain()
            await asyncio.sleep(0)
        await read_request(reader)  # the connection stays usable
        writer.write(answer(b"2"))
        await writer.drain()

    pool, _ = await serve(once)
    assert (await pool.request("GET", "/", "")).body == body
    assert (await pool.request("GET", "/", "")).body == b"2"


async def test_body_until_close_and_connection_close_are_not_reused(serve):
    async def until_close(reader, writer, conn, seen):
        await read_request(reader)
        seen.append(str(conn))
        if conn == 1:
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\nboom")
        else:
            writer.write(answer(b"x", extra="Connection: close\r\n"))
        await writer.drain()

    pool, seen = await serve(until_close)
    r = await pool.request("GET", "/", "")
    assert (r.status, r.body) == (500, b"boom")
    assert (await pool.request("GET", "/", "")).body == b"x"
    assert (await pool.request("GET", "/", "")).body == b"x"
    assert seen == ["1", "2", "3"]


async def test_connection_closed_while_idle_is_replaced(serve):
    async def one_answer_per_connection(reader, writer, conn, seen):
        line, _, _ = await read_request(reader)
        seen.append(f"{conn} {line.split()[0]}")
        writer.write(answer(b"{}"))  # keep-alive promised, then the server drops it as idle
        await writer.drain()

    pool, seen = await serve(one_answer_per_connection)
    await pool.request("GET", "/", "")
    await asyncio.sleep(0.1)
    assert (await pool.request("POST", "/", "", b"{}")).status == 200  # never sent on the dead one
    assert seen == ["1 GET", "2 POST"]


async def test_reused_connection_lost_before_answering_retries_get_but_not_post(serve):
    async def drop_second_request(reader, writer, conn, seen):
        line, _, _ = await read_request(reader)
        seen.append(f"{conn} {line.split()[0]}")
        writer.write(answer(b"{}"))
        await writer.drain()
        line, _, _ = await read_request(reader)
        seen.append(f"{conn} {line.split()[0]} dropped")  # closed as it arrived: did it apply?

    pool, seen = await serve(drop_second_request)
    await pool.request("GET", "/", "")
    assert (await pool.request("GET", "/", "")).status == 200
    with pytest.raises(http1.HttpError, match="connection closed before the answer"):
        await pool.request("POST", "/", "", b"{}")  # a POST may have been applied: never sent twice
    assert seen == ["1 GET", "1 GET dropped", "2 GET", "2 POST dropped"]


async def test_expired_idle_connections_are_not_reused(serve):
    pool, seen = await serve(echo_forever, idle_timeout=0.05)
    await pool.request("GET", "/", "")
    await asyncio.sleep(0.1)
    await pool.request("GET", "/", "")
    assert [s.split()[0] for s in seen] == ["1", "2"]


async def test_read_timeout_and_refused_connection_are_http_errors(serve):
    async def silent(reader, writer, conn, seen):
        await read_request(reader)
        await asyncio.sleep(5)

    pool, _ = await serve(silent, read_timeout=0.1)
    with pytest.raises(http1.HttpError, match="no answer within 0.1 s"):
        await pool.request("GET", "/", "")
    refused = http1.Pool("http://127.0.0.1:1", ssl_context=None)
    with pytest.raises(http1.HttpError, match="dial tcp 127.0.0.1:1"):
        await refused.request("GET", "/", "")


async def test_cancelled_request_closes_its_connection(serve):
    async def slow_first(reader, writer, conn, seen):
        while True:
            await read_request(reader)
            seen.append(str(conn))
            if conn == 1:
                await asyncio.sleep(5)
            writer.write(answer(b"{}"))
            await writer.drain()

    pool, seen = await serve(slow_first)
    call = asyncio.ensure_future(pool.request("GET", "/", ""))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (await pool.request("GET", "/", "")).status == 200
    assert seen == ["1", "2"]


async def test_malformed_answer_is_an_http_error(serve):
    async def garbage(reader, writer, conn, seen):
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    pool, _ = await serve(garbage)
    with pytest.raises(http1.HttpError, match="malformed"):
        await pool.request("GET", "/", "")


def test_target_quotes_the_path_and_keeps_the_server_prefix():
    async def make() -> http1.Pool:
        return http1.Pool("https://example.com:6443/prefix/", ssl_context=None)

    pool = asyncio.run(make())
    assert pool.target("/api/v1/namespaces/a b/pods", "x=1") == "/prefix/api/v1/namespaces/a%20b/pods?x=1"
    assert (pool.host, pool.port, pool.host_header) == ("example.com", 6443, "example.com:6443")
