"""The kubelet's two ways of running an exec session once the client's websocket is up.

- A runtime that streams (CRI: `exec_url`, the runtime's own stream server, as kubelet's
  GetExec redirects to): connect to that URL and splice the client's session with it. Over
  SPDY/3.1 first, as Kubernetes does (`spdy`): one stream per channel, so the client's v5 close
  of stdin becomes FLAG_FIN on the stdin stream and the command reads end of file. A stream
  server that refuses the SPDY upgrade gets a WebSocket (v4.channel.k8s.io, as containerd 1.6
  also speaks), which has no way to pass on the end of stdin.
- A runtime that does not (the fake): collect stdin until the client closes it (or, on a
  terminal, until ^D, which a pty turns into end of file), run `exec_sync` once, and send its
  output and exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import orjson

from kubeling.kubelet import remotecommand as rc
from kubeling.kubelet import spdy
from kubeling.kubelet.runtime.base import Runtime

MAX_STDIN = 16 << 20  # what a runtime without streaming buffers of a client's stdin
EOT = b"\x04"  # ^D: a raw terminal sends it as a byte; a pty's line discipline makes it end of file


async def _collect_stdin(ch: rc.Channels, tty: bool) -> bytes | None:
    """Stdin until the client closes it (v5 close signal) or, on a terminal, types ^D; None if
    the client went away first."""
    chunks: list[bytes] = []
    size = 0
    while (item := await ch.receive()) is not None:
        channel, data = item
        if channel == rc.STDIN:
            if tty and EOT in data:
                chunks.append(data[:data.index(EOT)])
                return b"".join(chunks)
            size += len(data)
            if size > MAX_STDIN:
                raise ValueError(f"stdin larger than {MAX_STDIN} bytes")
            chunks.append(data)
        elif channel == rc.CLOSE and data[:1] == bytes((rc.STDIN,)):
            return b"".join(chunks)
    return None


async def run_exec_sync(ch: rc.Channels, runtime: Runtime, container_id: str,
                        opts: rc.ExecOptions) -> dict[str, Any] | None:
    """The session on a runtime without streaming; the Status to end it with, or None when
    the client is gone."""
    kwargs: dict[str, Any] = {}
    if opts.stdin:
        try:
            stdin = await _collect_stdin(ch, opts.tty)
        except ValueError as e:
            return rc.internal_error(f"error executing command in container: {e}")
        if stdin is None:
            return None
        kwargs["stdin"] = stdin
    try:
        result = await runtime.exec_sync(container_id, opts.command, 0, **kwargs)
    except Exception as e:  # the runtime's refusal (container stopped, ...) is the client's answer
        return rc.internal_error(f"error executing command in container: {e}")
    if opts.stdout and result.stdout:
        await ch.send(rc.STDOUT, result.stdout)
    if result.stderr:
        if opts.stderr:
            await ch.send(rc.STDERR, result.stderr)
        elif opts.tty and opts.stdout:
            await ch.send(rc.STDOUT, result.stderr)  # a terminal has one output
    return rc.success() if result.exit_code == 0 else rc.exit_status(result.exit_code, opts.command)


STREAM_PROTOCOLS = (rc.V4,)  # offered to a runtime's SPDY stream server: v4 has exit codes in its Status
STREAM_TYPE = "streamType"  # the SPDY header naming a stream's channel (v1.StreamType)
STREAM_TYPES = {rc.ERROR: "error", rc.STDIN: "stdin", rc.STDOUT: "stdout", rc.STDERR: "stderr",
                rc.RESIZE: "resize"}


async def bridge(ch: rc.Channels, url: str, session: aiohttp.ClientSession,
                 opts: rc.ExecOptions | None = None) -> dict[str, Any] | None:
    """Splice the client's session with the runtime's stream server at `url`; the Status to end
    it with, or None when the client is gone or the runtime reported the end itself. With the
    session's `opts` SPDY is tried first; without them, or when the server refuses the SPDY
    upgrade, WebSocket."""
    if opts is not None:
        try:
            conn = await spdy.connect(url, STREAM_PROTOCOLS)
        except spdy.UpgradeError:
            conn = None  # a stream server without SPDY
        except (OSError, TimeoutError) as e:
            return rc.internal_error(f"error dialing backend: {e}")
        except spdy.SpdyError as e:
            return rc.internal_error(f"unable to upgrade connection: {e}")
        if conn is not None:
            return await spdy_session(ch, conn, opts)
    return await _websocket_bridge(ch, url, session)


async def _websocket_bridge(ch: rc.Channels, url: str, session: aiohttp.ClientSession) -> dict[str, Any] | None:
    """The runtime's stream server over WebSocket: frames pass both ways unchanged, and the
    runtime sends the Status itself."""
    try:
        upstream = await session.ws_connect(url, protocols=rc.PROTOCOLS)
    except aiohttp.WSServerHandshakeError as e:
        return rc.internal_error(f"unable to upgrade connection: {e.status} {e.message}")
    except (aiohttp.ClientError, OSError) as e:
        return rc.internal_error(f"error dialing backend: {e}")
    await rc.splice(ch, rc.Channels(upstream, upstream.protocol or rc.V4))
    return None


# ---- over SPDY ------------------------------------------------------------------------------------


async def open_exec_streams(conn: spdy.Connection, opts: rc.ExecOptions) -> dict[int, spdy.Stream]:
    """The streams of a v4 session, in client-go's order (error, stdin, stdout, stderr; resize on
    a terminal, which has no stderr): the server waits for exactly these before it runs the command."""
    wanted = [rc.ERROR]
    wanted += [rc.STDIN] if opts.stdin else []
    wanted += [rc.STDOUT] if opts.stdout else []
    wanted += [rc.STDERR] if opts.stderr and not opts.tty else []
    wanted += [rc.RESIZE] if opts.tty else []
    return {channel: await conn.open_stream({STREAM_TYPE: STREAM_TYPES[channel]}) for channel in wanted}


async def _client_to_streams(ch: rc.Channels, streams: dict[int, spdy.Stream]) -> None:
    """The client's stdin and resize messages onto their streams, its close of stdin as FIN; returns
    when the client is gone. Writes after the runtime closed are dropped: the session is ending."""
    while (item := await ch.receive()) is not None:
        channel, data = item
        with contextlib.suppress(ConnectionError, spdy.SpdyError):
            if channel == rc.CLOSE and data[:1] == bytes((rc.STDIN,)) and rc.STDIN in streams:
                await streams[rc.STDIN].close()
            elif channel in (rc.STDIN, rc.RESIZE) and channel in streams and data:
                await streams[channel].write(data)


async def _stream_to_client(stream: spdy.Stream, ch: rc.Channels, channel: int) -> None:
    while data := await stream.read():
        await ch.send(channel, data)


def _final_status(raw: bytes, conn: spdy.Connection) -> dict[str, Any]:
    """What the error stream said: v4 writes a Status, and nothing at all means success (as
    client-go reads it) unless the connection broke."""
    if not raw.strip():
        if conn.error is not None:
            return rc.internal_error(f"error reading from error stream: {conn.error}")
        return rc.success()
    try:
        status = orjson.loads(raw)
    except orjson.JSONDecodeError:
        status = None
    if isinstance(status, dict):
        return status
    return rc.internal_error(f"error executing command in container: {raw.decode(errors='replace')}")


async def spdy_session(ch: rc.Channels, conn: spdy.Connection, opts: rc.ExecOptions) -> dict[str, Any] | None:
    """Run the session over an upgraded SPDY connection; the Status, or None if the client left."""
    try:
        try:
            streams = await open_exec_streams(conn, opts)
        except (spdy.SpdyError, ConnectionError) as e:
            return rc.internal_error(f"error creating exec streams: {e}")
        status_read = asyncio.ensure_future(streams[rc.ERROR].read_all())
        outputs = [_stream_to_client(streams[c], ch, c) for c in (rc.STDOUT, rc.STDERR) if c in streams]
        runtime_done = asyncio.ensure_future(asyncio.gather(status_read, *outputs))
        client_gone = asyncio.ensure_future(_client_to_streams(ch, streams))
        try:
            await asyncio.wait({runtime_done, client_gone}, return_when=asyncio.FIRST_COMPLETED)
            if not runtime_done.done() or runtime_done.exception() is not None:
                return None  # the client left (or could not be written to): nobody to tell
            return _final_status(status_read.result(), conn)
        finally:
            for task in (runtime_done, client_gone):
                task.cancel()
            await asyncio.gather(runtime_done, client_gone, return_exceptions=True)
    finally:
        await conn.close()
