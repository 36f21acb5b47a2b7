"""Reading a body that arrives in pieces, up to a limit."""

from __future__ import annotations

import asyncio
from unittest.mock import Mock

import aiohttp
from aiohttp.base_protocol import BaseProtocol

from kubeling.httpbody import read_at_most


def _stream() -> aiohttp.StreamReader:
    loop = asyncio.get_running_loop()
    protocol = BaseProtocol(loop)
    protocol.transport = Mock(asyncio.Transport)  # a connection the reader may pause and resume
    return aiohttp.StreamReader(protocol, 2**16, loop=loop)


async def _feed_slowly(stream: aiohttp.StreamReader, pieces: list[bytes]) -> None:
    for piece in pieces:
        await asyncio.sleep(0.01)
        stream.feed_data(piece)
    stream.feed_eof()


async def test_a_body_in_pieces_is_read_to_its_end():
    stream = _stream()
    feeder = asyncio.create_task(_feed_slowly(stream, [b"abc", b"def", b"ghi"]))
    assert await read_at_most(stream, 100) == b"abcdefghi"
    await feeder


async def test_reading_stops_at_the_limit():
    stream = _stream()
    feeder = asyncio.create_task(_feed_slowly(stream, [b"abc", b"def", b"ghi"]))
    assert await read_at_most(stream, 5) == b"abcde"
    await feeder


async def test_an_empty_body_is_empty():
    stream = _stream()
    stream.feed_eof()
    assert await read_at_most(stream, 10) == b""
