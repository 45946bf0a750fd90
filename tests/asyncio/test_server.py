"""Servers behave as asyncio's: many clients, sockets, close, serve_forever, errors."""

from __future__ import annotations

import asyncio
import errno

import pytest

from synack.asyncio import create_connection, create_server, open_connection, start_server
from synack.asyncio.simloop import driver, run
from synack.scenarios.world import World
from synack.tcp.state import State

SERVER = "198.18.0.2"


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_fifty_concurrent_clients(world: World) -> None:
    async def client(n: int) -> bool:
        reader, writer = await open_connection(SERVER, 7, driver=driver("A"))
        message = b"client %02d " % n * 500
        writer.write(message)
        writer.write_eof()
        answer = await reader.read(-1)
        writer.close()
        await writer.wait_closed()
        return answer == message

    async def main() -> list[bool]:
        async with await start_server(echo, SERVER, 7, driver=driver("B")):
            return list(await asyncio.gather(*(client(n) for n in range(50))))

    assert run(main(), world.net) == [True] * 50
    assert world.stack("B").counters["TcpPassiveOpens"] == 50


def test_sockets_and_ephemeral_port(world: World) -> None:
    async def main() -> tuple[object, ...]:
        server = await start_server(echo, SERVER, 0, driver=driver("B"))
        name = server.sockets[0].getsockname()
        wild = await start_server(echo, None, 8080, driver=driver("B"))
        wild_name = wild.sockets[0].getsockname()
        serving = server.is_serving()
        server.close()
        wild.close()
        await server.wait_closed()
        await wild.wait_closed()
        return name, wild_name, serving, server.sockets, server.is_serving()

    name, wild_name, serving, after, serving_after = run(main(), world.net)
    assert isinstance(name, tuple) and name[0] == SERVER and name[1] > 0
    assert wild_name == ("0.0.0.0", 8080)
    assert serving is True and serving_after is False and after == ()


def test_port_in_use(world: World) -> None:
    async def main() -> None:
        server = await start_server(echo, SERVER, 7, driver=driver("B"))
        try:
            await start_server(echo, SERVER, 7, driver=driver("B"))
        finally:
            server.close()

    with pytest.raises(OSError) as info:
        run(main(), world.net)
    assert info.value.errno == errno.EADDRINUSE


def test_closed_server_refuses_and_keeps_accepted_connections(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            writer.write(data)
        writer.close()

    async def main() -> bytes:
        server = await start_server(handler, SERVER, 7, driver=driver("B"))
        reader, writer = await open_connection(SERVER, 7, driver=driver("A"))
        writer.write(b"abc")
        assert await reader.readexactly(3) == b"abc"  # accepted by now
        server.close()
        with pytest.raises(ConnectionRefusedError):
            await open_connection(SERVER, 7, driver=driver("A"))
        writer.write(b"def")  # the accepted connection lives on
        answer = await reader.readexactly(3)
        closing = asyncio.create_task(server.wait_closed())
        await asyncio.sleep(1)
        assert not closing.done(), "wait_closed returned with a connection still open"
        writer.close()
        await writer.wait_closed()
        await closing
        return answer

    assert run(main(), world.net) == b"def"


def test_closing_the_server_resets_connections_nobody_accepted(world: World) -> None:
    async def main() -> None:
        server = await start_server(echo, SERVER, 7, driver=driver("B"), start_serving=False)
        reader, _ = await open_connection(SERVER, 7, driver=driver("A"))
        server.close()
        with pytest.raises(ConnectionResetError):
            await reader.read(1)
        await server.wait_closed()

    run(main(), world.net)


def test_serve_forever_until_cancelled(world: World) -> None:
    async def main() -> bool:
        server = await start_server(echo, SERVER, 7, driver=driver("B"), start_serving=False)
        assert not server.is_serving()
        task = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        reader, writer = await open_connection(SERVER, 7, driver=driver("A"))
        writer.write(b"once")
        writer.write_eof()
        assert await reader.read(-1) == b"once"
        writer.close()
        await writer.wait_closed()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return server.is_serving()

    assert run(main(), world.net) is False
    assert world.stack("B").listeners == {}


def test_not_yet_serving_server_queues_connections(world: World) -> None:
    async def main() -> bytes:
        server = await start_server(echo, SERVER, 7, driver=driver("B"), start_serving=False)
        reader, writer = await open_connection(SERVER, 7, driver=driver("A"))
        writer.write(b"queued")
        writer.write_eof()
        await asyncio.sleep(5)
        await server.start_serving()
        data = await reader.read(-1)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return data

    assert run(main(), world.net) == b"queued"


class Greeter(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"hello\n")
        transport.close()


class Collector(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.done.set_result(exc)


def test_protocol_level_server_and_client(world: World) -> None:
    async def main() -> tuple[bytes, State]:
        server = await create_server(Greeter, SERVER, 25, driver=driver("B"))
        transport, protocol = await create_connection(Collector, SERVER, 25, driver=driver("A"))
        await protocol.done
        conn = transport.get_extra_info("connection")
        server.close()
        await server.wait_closed()
        return protocol.data, conn.state

    data, state = run(main(), world.net)
    assert data == b"hello\n"
    assert state in (State.TIME_WAIT, State.LAST_ACK, State.CLOSED)


def test_a_deferred_server_sees_a_client_only_once_it_sends(world: World) -> None:
    """TCP_DEFER_ACCEPT: a client that connects and says nothing for a second is not
    handed to the server; its first bytes are."""
    seen: list[tuple[int, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((world.now, await reader.read(100)))
        writer.close()

    async def main() -> None:
        server = await start_server(handler, SERVER, 7, driver=driver("B"), defer_accept=5)
        async with server:
            _reader, writer = await open_connection(SERVER, 7, driver=driver("A"))
            await asyncio.sleep(1)
            assert seen == []
            writer.write(b"hello")
            await asyncio.sleep(0.1)
            writer.close()

    run(main(), world.net)
    assert [data for _, data in seen] == [b"hello"]
    assert world.stack("B").counters["TcpExtTCPDeferAcceptDrop"] == 1
