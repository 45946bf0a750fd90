"""Run a stream handler against a client over an AF_UNIX socketpair: no network at all."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
T = TypeVar("T")

# A bound on every test's event loop, so that a hang fails the test instead of the suite.
TEST_BOUND_SECONDS = 60.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(TEST_BOUND_SECONDS):
            return await coro

    return asyncio.run(bounded())


async def connect(
    handler: Handler,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Task[None]]:
    """The client's end of a fresh connection, and the task serving the other end."""
    client_sock, server_sock = socket.socketpair()
    server_reader, server_writer = await asyncio.open_connection(sock=server_sock)
    served = asyncio.ensure_future(handler(server_reader, server_writer))
    reader, writer = await asyncio.open_connection(sock=client_sock)
    return reader, writer, served


async def read_all(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while chunk := await reader.read(256 * 1024):
        chunks.append(chunk)
    return b"".join(chunks)


async def send_and_close(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send ``data`` then EOF, concurrently with whatever reads the answer."""
    writer.write(data)
    await writer.drain()
    writer.write_eof()
