"""Opening connections fails the way asyncio's own ``open_connection`` fails."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from synack.api.driver import set_default_driver
from synack.asyncio import open_connection, start_server
from synack.asyncio.simloop import SimEventLoop, driver, run
from synack.scenarios.world import World

SERVER = "198.18.0.2"


def test_closed_port_is_refused(world: World) -> None:
    async def main() -> None:
        await open_connection(SERVER, 9, driver=driver("A"))

    with pytest.raises(ConnectionRefusedError) as info:
        run(main(), world.net)
    assert info.value.errno == errno.ECONNREFUSED


def test_silent_host_times_out_after_the_syn_retries(world: World) -> None:
    world.crash("B")

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError) as info:
            await open_connection(SERVER, 80, driver=driver("A"))
        assert info.value.errno == errno.ETIMEDOUT
        return loop.time() - start

    # linux profile: SYN at 0, retries at 1, 3, 7, 15, 31 and 63 s, given up at 127 s.
    assert run(main(), world.net) == pytest.approx(127, abs=1)


def test_wait_for_gives_up_the_attempt_in_virtual_time(world: World) -> None:
    world.crash("B")

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(open_connection(SERVER, 80, driver=driver("A")), 2.5)
        return loop.time() - start

    assert run(main(), world.net) == pytest.approx(2.5)
    assert world.stack("A").connections == {}, "the abandoned attempt is still there"


def test_names_are_not_resolved(world: World) -> None:
    async def main() -> None:
        await open_connection("server.example", 80, driver=driver("A"))

    with pytest.raises(socket.gaierror):
        run(main(), world.net)


def test_family_must_match_the_address(world: World) -> None:
    async def main() -> None:
        await open_connection(SERVER, 80, driver=driver("A"), family=socket.AF_INET6)

    with pytest.raises(socket.gaierror):
        run(main(), world.net)


def test_local_address_in_use(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> tuple[object, object]:
        server = await start_server(handler, SERVER, 80, driver=driver("B"))
        first = await open_connection(SERVER, 80, driver=driver("A"), local_addr=(None, 40000))
        with pytest.raises(OSError) as info:
            await open_connection(SERVER, 80, driver=driver("A"), local_addr=("198.18.0.1", 40000))
        assert info.value.errno == errno.EADDRINUSE
        first[1].close()
        await first[1].wait_closed()
        server.close()
        await server.wait_closed()
        return first[1].get_extra_info("sockname"), info.value

    sockname, _ = run(main(), world.net)
    assert sockname == ("198.18.0.1", 40000)


def test_default_driver_is_used_when_none_is_given(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi from B")
        writer.close()

    async def main() -> bytes:
        server = await start_server(handler, SERVER, 80, driver=driver("B"))
        set_default_driver(driver("A"))
        try:
            reader, writer = await open_connection(SERVER, 80)
        finally:
            set_default_driver(None)
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return data

    assert run(main(), world.net) == b"hi from B"


def test_without_any_driver_the_error_says_what_to_do(world: World) -> None:
    async def main() -> None:
        await open_connection(SERVER, 80)

    with pytest.raises(RuntimeError, match="driver"):
        run(main(), world.net)


def test_a_driver_whose_loop_is_not_running_is_refused(world: World) -> None:
    other = SimEventLoop(world.net)

    async def main() -> None:
        await open_connection(SERVER, 80, driver=other.driver("A"))

    try:
        with pytest.raises(RuntimeError, match="not running"):
            run(main(), world.net)
    finally:
        other.close()
