"""Character generator (RFC 864, port 19): an endless stream of rotating ASCII lines.

RFC 864's "popular pattern": the 95 printing characters form a ring that starts at ``!``
and ends with the space; line N holds ring characters N .. N+71 (mod 95) and a CRLF.
After 95 lines the pattern repeats, so whole cycles are prebuilt once and written as
they are.
"""

from __future__ import annotations

import asyncio
import contextlib

from synack.apps.echo import PEER_GONE, close_quietly

RING = bytes(range(0x21, 0x7F)) + b" "
LINE_LENGTH = 72


def chargen_line(number: int) -> bytes:
    """Line ``number`` of the pattern, CRLF included."""
    start = number % len(RING)
    doubled = RING + RING
    return doubled[start : start + LINE_LENGTH] + b"\r\n"


CYCLE = b"".join(chargen_line(n) for n in range(len(RING)))
# About 64 KiB per write and still a whole number of cycles, so each write continues
# the pattern exactly where the previous one stopped.
BLOCK = CYCLE * (64 * 1024 // len(CYCLE))


async def _drop_input(reader: asyncio.StreamReader) -> None:
    """Throw away what the peer sends (RFC 864) so its data never piles up."""
    with contextlib.suppress(*PEER_GONE):
        while await reader.read(64 * 1024):
            pass


async def chargen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send the pattern until the peer closes.

    The peer's FIN ends the stream as well as an RST does: a client that has closed its
    side is done listening in practice, and waiting for the RST that the next write would
    provoke only keeps a dead connection busy.
    """
    listener = asyncio.ensure_future(_drop_input(reader))
    try:
        while not listener.done():
            writer.write(BLOCK)
            await writer.drain()
            # drain() does not yield while the transport keeps up; let the input side run.
            await asyncio.sleep(0)
    except PEER_GONE:
        writer.transport.abort()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await close_quietly(writer)
