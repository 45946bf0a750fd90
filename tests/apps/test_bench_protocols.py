"""The protocol versions of the bench services, over synack on the simulated network."""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import synack.asyncio as sa
from synack.apps.bench_protocols import BENCH_PROTOCOLS, BenchDiscard, BenchEcho, BenchSource
from synack.asyncio import simloop
from synack.scenarios.world import World


def on_world(scenario: Callable[[World], Coroutine[Any, Any, Any]]) -> Any:
    world = World(record=False)
    return simloop.run(scenario(world), world.net)


async def serve_all(world: World) -> None:
    server_side = simloop.driver(world.hosts["B"])
    for port, factory in BENCH_PROTOCOLS:
        await sa.create_server(factory, "198.18.0.2", port, driver=server_side)


def test_the_three_ports() -> None:
    assert dict(BENCH_PROTOCOLS) == {9: BenchDiscard, 7: BenchEcho, 19: BenchSource}


@pytest.mark.parametrize("size", [0, 1, 3 * 1024 * 1024 + 5])
def test_discard_answers_with_the_count(size: int) -> None:
    async def scenario(world: World) -> bytes:
        await serve_all(world)
        reader, writer = await sa.open_connection(
            "198.18.0.2", 9, driver=simloop.driver(world.hosts["A"])
        )
        writer.write(bytes(size))
        writer.write_eof()
        return await reader.read()

    assert on_world(scenario) == struct.pack(">Q", size)


def test_echo_returns_every_byte_even_when_the_client_reads_late() -> None:
    payload = os.urandom(2 * 1024 * 1024 + 7)

    async def scenario(world: World) -> bytes:
        await serve_all(world)
        reader, writer = await sa.open_connection(
            "198.18.0.2", 7, driver=simloop.driver(world.hosts["A"])
        )
        writer.write(payload)  # all of it before reading: the echo must pause, not drop
        writer.write_eof()
        return await reader.read()

    assert hashlib.sha256(on_world(scenario)).digest() == hashlib.sha256(payload).digest()


@pytest.mark.parametrize("size", [0, 100, 5 * 1024 * 1024 + 3])
def test_source_sends_what_was_asked_in_a_split_request(size: int) -> None:
    async def scenario(world: World) -> int:
        await serve_all(world)
        reader, writer = await sa.open_connection(
            "198.18.0.2", 19, driver=simloop.driver(world.hosts["A"])
        )
        request = struct.pack(">Q", size)
        writer.write(request[:3])
        await writer.drain()
        writer.write(request[3:])
        got = await reader.read()
        writer.close()
        return len(got)

    assert on_world(scenario) == size
