from __future__ import annotations

import asyncio
import os
import struct

import pytest

from synack.apps.bench import BENCH_SERVICES, bench_discard, bench_echo, bench_source

from .streams import connect, read_all, run, send_and_close


def test_bench_services_are_the_three_benchmark_ports() -> None:
    assert dict(BENCH_SERVICES) == {9: bench_discard, 7: bench_echo, 19: bench_source}


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024 + 3])
def test_bench_discard_reports_the_byte_count(size: int) -> None:
    async def scenario() -> bytes:
        reader, writer, served = await connect(bench_discard)
        sending = asyncio.ensure_future(send_and_close(writer, bytes(size)))
        answer = await read_all(reader)
        await sending
        await served
        writer.close()
        return answer

    assert run(scenario()) == struct.pack(">Q", size)


def test_bench_echo_returns_every_byte() -> None:
    payload = os.urandom(4 * 1024 * 1024 + 17)

    async def scenario() -> bytes:
        reader, writer, served = await connect(bench_echo)
        sending = asyncio.ensure_future(send_and_close(writer, payload))
        echoed = await read_all(reader)
        await sending
        await served
        writer.close()
        return echoed

    assert run(scenario()) == payload


@pytest.mark.parametrize("size", [0, 1, 256 * 1024, 256 * 1024 + 1, 5 * 1024 * 1024 + 7])
def test_bench_source_sends_exactly_the_requested_bytes(size: int) -> None:
    async def scenario() -> bytes:
        reader, writer, served = await connect(bench_source)
        writer.write(struct.pack(">Q", size))
        received = await read_all(reader)
        await served
        writer.close()
        return received

    received = run(scenario())
    assert len(received) == size
    assert received.count(0) == size


def test_bench_source_request_split_across_writes_still_counts() -> None:
    async def scenario() -> int:
        reader, writer, served = await connect(bench_source)
        request = struct.pack(">Q", 70000)
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0)
        received = await read_all(reader)
        await served
        writer.close()
        return len(received)

    assert run(scenario()) == 70000


def test_bench_source_closes_on_a_short_request() -> None:
    async def scenario() -> bytes:
        reader, writer, served = await connect(bench_source)
        writer.write(b"\x00\x01\x02")
        writer.write_eof()
        received = await read_all(reader)
        await served
        writer.close()
        return received

    assert run(scenario()) == b""


def test_bench_source_survives_a_reader_that_leaves() -> None:
    async def scenario() -> None:
        reader, writer, served = await connect(bench_source)
        writer.write(struct.pack(">Q", 1 << 40))
        await reader.readexactly(1024 * 1024)
        writer.transport.abort()
        await served  # stops sending once the peer is gone, without an exception

    run(scenario())
