"""The benchmark protocol that the side-by-side benchmark's client measures every stack with.

- port 9: read until EOF, answer with the byte count as an 8-byte big-endian integer, close;
- port 7: echo until EOF, close;
- port 19: read an 8-byte big-endian N, send N bytes, close.

The handlers move data in large chunks and do no per-byte Python work, so that a benchmark
measures the stack underneath rather than the service.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

from synack.apps.echo import PEER_GONE, close_quietly, echo_in_chunks

READ_SIZE = 256 * 1024
SOURCE_BLOCK = bytes(READ_SIZE)
COUNT = struct.Struct(">Q")

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def bench_discard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Count the bytes up to EOF and report the count."""
    try:
        total = 0
        while data := await reader.read(READ_SIZE):
            total += len(data)
        writer.write(COUNT.pack(total))
        await writer.drain()
    except PEER_GONE:
        writer.transport.abort()
    finally:
        await close_quietly(writer)


async def bench_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until EOF in large chunks."""
    await echo_in_chunks(reader, writer, READ_SIZE)


async def bench_source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send as many bytes as the 8-byte request asks for; a short request gets nothing."""
    try:
        (remaining,) = COUNT.unpack(await reader.readexactly(COUNT.size))
        while remaining >= READ_SIZE:
            writer.write(SOURCE_BLOCK)
            await writer.drain()
            remaining -= READ_SIZE
        if remaining:
            writer.write(SOURCE_BLOCK[:remaining])
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    except PEER_GONE:
        writer.transport.abort()
    finally:
        await close_quietly(writer)


BENCH_SERVICES: list[tuple[int, StreamHandler]] = [
    (9, bench_discard),
    (7, bench_echo),
    (19, bench_source),
]
