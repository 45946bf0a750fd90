"""Discard (RFC 863, port 9): read and drop everything until the peer's EOF."""

from __future__ import annotations

import asyncio

from synack.apps.echo import PEER_GONE, close_quietly

CHUNK = 256 * 1024


async def discard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read until EOF without answering, then close."""
    try:
        while await reader.read(CHUNK):
            pass
    except PEER_GONE:
        writer.transport.abort()
    finally:
        await close_quietly(writer)
