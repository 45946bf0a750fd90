"""Unchanged asyncio stream code works over synack: data, half-close, flow control, resets."""

from __future__ import annotations

import asyncio
import errno
import hashlib

import pytest

from synack.asyncio import (
    SynackTransport,
    create_connection,
    create_server,
    open_connection,
    start_server,
)
from synack.asyncio.simloop import driver, run
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State

SERVER = "198.18.0.2"
PORT = 7


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "big")).digest() * 64
    return (block * (size // len(block) + 1))[:size]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def echo_round_trip(payload: bytes, host: str = SERVER) -> bytes:
    """Send ``payload`` to an echo server on B and return what comes back."""
    server = await start_server(echo, host, PORT, driver=driver("B"))
    reader, writer = await open_connection(host, PORT, driver=driver("A"))

    async def send() -> None:
        writer.write(payload)
        await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    received = await reader.read(-1)
    await sender
    writer.close()
    await writer.wait_closed()
    async with server:
        pass
    return received


def test_one_megabyte_echo_arrives_intact(world: World) -> None:
    payload = pattern(1 << 20)
    received = run(echo_round_trip(payload), world.net)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_lossy_link_still_delivers_every_byte() -> None:
    world = World(seed=3, link=LinkConfig(delay_us=5_000, loss=0.05), record=False)
    payload = pattern(300_000, seed=3)
    received = run(echo_round_trip(payload), world.net)
    assert received == payload
    lost = world.net.fate_counts()["lost"]
    assert lost > 0, "the link lost nothing: the test proves nothing"


def test_ipv6_echo_and_addresses(world: World) -> None:
    async def main() -> tuple[object, object, bytes]:
        server = await start_server(echo, "2001:db8::2", PORT, driver=driver("B"))
        reader, writer = await open_connection("2001:db8::2", PORT, driver=driver("A"))
        writer.write(b"over six")
        writer.write_eof()
        data = await reader.read(-1)
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("sockname")
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return peer, sock, data

    peer, sock, data = run(main(), world.net)
    assert data == b"over six"
    assert peer == ("2001:db8::2", PORT, 0, 0)
    assert isinstance(sock, tuple) and sock[0] == "2001:db8::1"


def test_names_lines_and_exact_reads(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        rest = await reader.readexactly(5)
        writer.write(line.upper() + rest[::-1])
        writer.writelines([b"|", repr(writer.get_extra_info("peername")).encode()])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> tuple[bytes, tuple[str, int]]:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        writer.write(b"hello\n12345")
        reply = await reader.read(-1)
        sockname = writer.get_extra_info("sockname")
        assert writer.get_extra_info("peername") == (SERVER, PORT)
        assert writer.get_extra_info("socket") is None
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return reply, sockname

    reply, sockname = run(main(), world.net)
    assert reply == b"HELLO\n54321|" + repr(sockname).encode()
    assert sockname[0] == "198.18.0.1"


def test_client_half_close_server_answers_after_eof(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read(-1)  # up to the client's FIN
        assert reader.at_eof()
        writer.write(b"got %d bytes" % len(request))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> bytes:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        assert writer.can_write_eof()
        writer.write(b"x" * 5000)
        writer.write_eof()
        with pytest.raises(RuntimeError):
            writer.write(b"too late")
        answer = await reader.read(-1)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return answer

    assert run(main(), world.net) == b"got 5000 bytes"


def test_server_half_close_client_keeps_sending(world: World) -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"banner")
        writer.write_eof()
        received.append(await reader.read(-1))
        writer.close()
        await writer.wait_closed()

    async def main() -> bytes:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        banner = await reader.read(-1)
        assert reader.at_eof()
        for i in range(10):
            writer.write(b"after eof %d;" % i)
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        async with server:
            await asyncio.sleep(1)
        return banner

    assert run(main(), world.net) == b"banner"
    assert received == [b"".join(b"after eof %d;" % i for i in range(10))]


def test_pause_reading_closes_the_window_and_the_sender_stalls(world: World) -> None:
    payload = pattern(2_000_000, seed=7)
    seen: dict[str, object] = {}
    sender_done = asyncio.Event()  # only ever touched on the loop that runs main()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        assert isinstance(transport, SynackTransport)
        transport.pause_reading()
        assert not transport.is_reading()
        conn = writer.get_extra_info("connection")
        assert isinstance(conn, Connection)
        await asyncio.sleep(5)
        held = conn.readable_bytes()
        await asyncio.sleep(10)
        seen["held"] = held
        seen["held_later"] = conn.readable_bytes()
        seen["window"] = conn.rcv_wnd
        seen["capacity"] = conn.rcv_capacity
        seen["sender_done_while_paused"] = sender_done.is_set()
        transport.resume_reading()
        seen["data"] = await reader.read(-1)
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        writer.write(payload)
        await writer.drain()
        sender_done.set()
        writer.write_eof()
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main(), world.net)
    held = seen["held"]
    assert isinstance(held, int) and held > 0
    assert seen["held_later"] == held, "bytes kept arriving while reading was paused"
    assert seen["window"] == 0
    assert held <= seen["capacity"]  # type: ignore[operator]
    assert seen["sender_done_while_paused"] is False
    assert seen["data"] == payload


def test_abort_gives_the_peer_connection_reset(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(4)
        writer.transport.abort()
        assert writer.transport.is_closing()
        await writer.wait_closed()  # the aborting side sees a plain close

    async def main() -> None:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        writer.write(b"ping")
        with pytest.raises(ConnectionResetError):
            await reader.read(100)
        with pytest.raises(ConnectionResetError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main(), world.net)
    assert world.stack("B").counters["TcpOutRsts"] >= 1


def test_close_sends_everything_written_before_it(world: World) -> None:
    payload = pattern(500_000, seed=11)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        writer.close()  # no drain: the transport still owes most of it
        await writer.wait_closed()

    async def main() -> bytes:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        data = await reader.read(-1)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return data

    assert run(main(), world.net) == payload


class Recorder(asyncio.Protocol):
    """A protocol-level client that records flow-control calls."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.data = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.events.append("eof")
        return False  # asyncio's contract: the transport then closes itself

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)


def test_write_buffer_limits_pause_and_resume_the_protocol(world: World) -> None:
    async def main() -> tuple[Recorder, int, bytes]:
        server = await start_server(echo, SERVER, PORT, driver=driver("B"))
        transport, protocol = await create_connection(Recorder, SERVER, PORT, driver=driver("A"))
        transport.set_write_buffer_limits(high=1000)
        assert transport.get_write_buffer_limits() == (250, 1000)
        payload = pattern(400_000, seed=5)
        transport.write(payload)
        buffered = transport.get_write_buffer_size()
        transport.write_eof()
        exc = await protocol.lost
        assert exc is None and transport.is_closing()
        server.close()
        await server.wait_closed()
        assert bytes(protocol.data) == payload
        return protocol, buffered, payload

    protocol, buffered, _ = run(main(), world.net)
    assert buffered > 1000
    assert protocol.events == ["made", "pause", "resume", "eof", "lost"]


def test_write_after_peer_reset_loses_the_connection(world: World) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    async def main() -> Exception | None:
        server = await start_server(handler, SERVER, PORT, driver=driver("B"))
        transport, protocol = await create_connection(Recorder, SERVER, PORT, driver=driver("A"))
        await asyncio.sleep(1)  # the RST has arrived by now
        transport.write(b"into the void")
        exc = await protocol.lost
        server.close()
        await server.wait_closed()
        return exc

    assert isinstance(run(main(), world.net), ConnectionResetError)


def test_connection_state_after_graceful_close(world: World) -> None:
    async def main() -> Connection:
        server = await start_server(echo, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        conn = writer.get_extra_info("connection")
        assert isinstance(conn, Connection)
        writer.write(b"bye")
        writer.write_eof()
        assert await reader.read(-1) == b"bye"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)
        return conn

    conn = run(main(), world.net)
    assert conn.state is State.TIME_WAIT


class Exploding(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        raise ValueError("bad request")


def test_a_failing_protocol_resets_its_connection_and_is_reported(world: World) -> None:
    reported: list[BaseException | None] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
        server = await create_server(Exploding, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        writer.write(b"boom")
        with pytest.raises(ConnectionResetError):
            await reader.read(10)
        server.close()
        await server.wait_closed()

    run(main(), world.net)
    assert len(reported) == 1 and isinstance(reported[0], ValueError)


def test_partitioned_peer_times_out_the_reader(world: World) -> None:
    async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pass

    async def main() -> float:
        server = await start_server(idle, SERVER, PORT, driver=driver("B"))
        reader, writer = await open_connection(SERVER, PORT, driver=driver("A"))
        world.net.partition(world.hosts["A"], world.hosts["B"])
        writer.write(b"into the partition")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError) as info:
            await reader.read(10)
        assert info.value.errno == errno.ETIMEDOUT
        writer.close()
        server.close()
        return loop.time() - start

    # linux profile: 15 retransmissions (tcp_retries2) take a quarter of an hour.
    assert 600 < run(main(), world.net) < 1200
