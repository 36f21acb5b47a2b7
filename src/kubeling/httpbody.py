"""Reading an HTTP body up to a limit, shared by the API server, its proxies and the kubelet."""

from __future__ import annotations

import aiohttp


async def read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body's first `limit` bytes, or all of it if shorter.

    StreamReader.read(n) returns what has arrived so far, not n bytes: a body that comes in
    several TCP segments must be read until the end of the stream or the limit."""
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := await stream.read(limit - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
