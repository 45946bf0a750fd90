"""Echo (RFC 862, port 7): every byte received goes straight back until the peer's EOF."""

from __future__ import annotations

import asyncio

CHUNK = 64 * 1024

# What a peer that vanishes mid-transfer raises; a service treats it as the end of the
# conversation, never as its own failure.
PEER_GONE: tuple[type[OSError], ...] = (ConnectionError, BrokenPipeError, TimeoutError)


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close ``writer`` without raising for a peer that is already gone.

    A graceful close waits until the peer has taken every queued byte; a handler being
    cancelled must not wait on a peer that may never read again, so it drops the queue.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        writer.transport.abort()
        return
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until EOF, then close."""
    await echo_in_chunks(reader, writer, CHUNK)


async def echo_in_chunks(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunk: int
) -> None:
    """Echo until EOF, reading at most ``chunk`` bytes at a time, then close."""
    try:
        while data := await reader.read(chunk):
            writer.write(data)
            await writer.drain()
    except PEER_GONE:
        writer.transport.abort()
    finally:
        await close_quietly(writer)
