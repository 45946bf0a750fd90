from __future__ import annotations

import os

from synack.apps.discard import discard

from .streams import connect, read_all, run


def test_discard_answers_nothing_and_closes_at_eof() -> None:
    async def scenario() -> bytes:
        reader, writer, served = await connect(discard)
        writer.write(os.urandom(2 * 1024 * 1024))
        await writer.drain()
        writer.write_eof()
        answer = await read_all(reader)
        await served
        writer.close()
        return answer

    assert run(scenario()) == b""


def test_discard_survives_an_abrupt_close() -> None:
    async def scenario() -> None:
        _reader, writer, served = await connect(discard)
        writer.write(b"x" * 1000)
        writer.transport.abort()
        await served

    run(scenario())
