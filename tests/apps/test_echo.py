from __future__ import annotations

import asyncio
import os

from synack.apps.echo import echo

from .streams import connect, read_all, run, send_and_close


def test_echo_returns_every_byte_then_closes_at_eof() -> None:
    payload = b"hello\r\n" + os.urandom(3 * 1024 * 1024)

    async def scenario() -> bytes:
        reader, writer, served = await connect(echo)
        sending = asyncio.ensure_future(send_and_close(writer, payload))
        echoed = await read_all(reader)  # ends only when the server closes
        await sending
        await served
        writer.close()
        return echoed

    assert run(scenario()) == payload


def test_echo_of_nothing_is_nothing() -> None:
    async def scenario() -> bytes:
        reader, writer, served = await connect(echo)
        writer.write_eof()
        echoed = await read_all(reader)
        await served
        writer.close()
        return echoed

    assert run(scenario()) == b""


def test_echo_survives_a_peer_that_leaves_without_reading() -> None:
    async def scenario() -> None:
        _reader, writer, served = await connect(echo)
        writer.write(os.urandom(4 * 1024 * 1024))
        await asyncio.sleep(0.01)  # let the server start echoing into a full pipe
        writer.transport.abort()
        await served  # must finish, and without an exception

    run(scenario())


def test_a_cancelled_echo_stops_even_when_the_peer_never_reads() -> None:
    async def scenario() -> bool:
        _reader, writer, served = await connect(echo)
        writer.write(os.urandom(8 * 1024 * 1024))  # more than both socket buffers hold
        await asyncio.sleep(0.05)
        served.cancel()
        try:
            await served
        except asyncio.CancelledError:
            return True
        finally:
            writer.transport.abort()
        return False

    assert run(scenario())
