"""The kubelet's two ways of running an exec session once the client's websocket is up.

- A runtime that streams (CRI: `exec_url`, the runtime's own stream server, as kubelet's
  GetExec redirects to): connect to that URL as a websocket client and splice the two.
  containerd 1.6 speaks v4.channel.k8s.io there (no v5), so a client's stdin EOF cannot
  reach it: the v5 close signal has no v4 equivalent.
- A runtime that does not (the fake): collect stdin until the client closes it (or, on a
  terminal, until ^D, which a pty turns into end of file), run `exec_sync` once, and send its
  output and exit status.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from kubeling.kubelet import remotecommand as rc
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


async def bridge(ch: rc.Channels, url: str, session: aiohttp.ClientSession) -> dict[str, Any] | None:
    """Splice the client's session with the runtime's stream server at `url`. Returns a Status
    only when the runtime cannot be reached (it reports the command's end itself)."""
    try:
        upstream = await session.ws_connect(url, protocols=rc.PROTOCOLS)
    except aiohttp.WSServerHandshakeError as e:
        return rc.internal_error(f"unable to upgrade connection: {e.status} {e.message}")
    except (aiohttp.ClientError, OSError) as e:
        return rc.internal_error(f"error dialing backend: {e}")
    await rc.splice(ch, rc.Channels(upstream, upstream.protocol or rc.V4))
    return None
