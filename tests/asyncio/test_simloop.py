"""The simulated loop: virtual time, stalls reported, determinism, and driver independence."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from synack.api.driver import Driver, StalledError
from synack.asyncio import open_connection, start_server
from synack.asyncio.simloop import SimEventLoop, driver, run
from synack.scenarios.world import World
from synack.sim.host import Host
from synack.sim.link import LinkConfig
from synack.sim.network import Network
from synack.stack import Stack


def test_sleep_takes_virtual_time_only(world: World) -> None:
    async def main() -> float:
        await asyncio.sleep(30)
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    assert run(main(), world.net) == pytest.approx(3630)
    assert world.net.now == 3630 * 1_000_000


def test_wait_for_times_out_a_read_in_virtual_time(world: World) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def main() -> float:
        server = await start_server(silent, "198.18.0.2", 7, driver=driver("B"))
        reader, writer = await open_connection("198.18.0.2", 7, driver=driver("A"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), timeout=30)
        waited = loop.time() - start
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return waited

    assert run(main(), world.net) == pytest.approx(30)


def test_waiting_for_what_can_never_come_raises_stalled(world: World) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        finally:
            writer.transport.abort()  # run() cancels what is left after the stall

    async def main() -> None:
        await start_server(silent, "198.18.0.2", 7, driver=driver("B"))
        reader, writer = await open_connection("198.18.0.2", 7, driver=driver("A"))
        try:
            await reader.read(1)  # nobody will ever write
        finally:
            writer.transport.abort()

    with pytest.raises(StalledError):
        run(main(), world.net)


def test_one_driver_per_host_and_the_protocol(world: World) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, SimEventLoop)
        a = driver("A")
        assert a is loop.driver(world.hosts["A"])
        assert a.loop is loop and a.stack is world.stack("A")
        assert driver("B") is not a

    run(main(), world.net)


def test_driver_outside_a_sim_loop_is_an_error() -> None:
    async def main() -> None:
        driver("A")

    with pytest.raises(RuntimeError, match="SimEventLoop"):
        asyncio.run(main())


def test_same_seed_same_run() -> None:
    def once() -> tuple[int, dict[str, int]]:
        world = World(seed=9, link=LinkConfig(delay_us=3_000, jitter_us=500, loss=0.03))

        async def main() -> None:
            await exchange(driver("A"), driver("B"), b"z" * 100_000)

        run(main(), world.net)
        return world.net.now, world.net.fate_counts()

    assert once() == once()


async def exchange(client: Driver, server_driver: Driver, payload: bytes) -> bytes:
    """One program for every driver: a request, an echo, a clean close on both sides."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(-1)
        writer.write(hashlib.sha256(data).digest())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        done.set_result(None)

    server = await start_server(handler, "198.18.0.2", 7, driver=server_driver)
    reader, writer = await open_connection("198.18.0.2", 7, driver=client)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    digest = await reader.read(-1)
    writer.close()
    await writer.wait_closed()
    await done
    server.close()
    await server.wait_closed()
    return digest


def test_same_program_on_two_drivers() -> None:
    payload = bytes(range(256)) * 800
    expected = hashlib.sha256(payload).digest()

    sim_world = World(seed=2, link=LinkConfig(delay_us=1_000), record=False)

    async def on_sim() -> bytes:
        return await exchange(driver("A"), driver("B"), payload)

    assert run(on_sim(), sim_world.net) == expected

    # The same coroutine on a standard event loop, the stack on another thread behind a lock.
    thread_world = World(seed=2, link=LinkConfig(delay_us=1_000), record=False)
    with NetworkThread(thread_world.net) as runner:

        async def on_thread() -> bytes:
            loop = asyncio.get_running_loop()
            client = ThreadedSimDriver(runner, thread_world.hosts["A"], loop)
            server = ThreadedSimDriver(runner, thread_world.hosts["B"], loop)
            return await asyncio.wait_for(exchange(client, server, payload), timeout=15)

        assert asyncio.run(on_thread()) == expected
    assert runner.events > 0, "the stack did not run on the network thread"


#: Real seconds a threaded network may live at most, whatever the test does.
THREAD_LIMIT_S = 20.0


class NetworkThread:
    """Runs a simulated network in real time on its own thread, as a TUN device's loop
    would run a stack: wakes then fire on that thread, not on the user's event loop."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-network", daemon=True)
        self.events = 0

    def __enter__(self) -> NetworkThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        start_real = time.monotonic()
        start_virtual = self.network.now
        while not self._stop.is_set() and time.monotonic() - start_real < THREAD_LIMIT_S:
            elapsed_us = int((time.monotonic() - start_real) * 1_000_000)
            with self.lock:
                until = max(self.network.now, start_virtual + elapsed_us)
                self.events += self.network.run(until=until)
            self._stop.wait(0.0005)


class ThreadedSimDriver:
    """An AsyncDriver whose stack lives on a NetworkThread and whose guard is a real lock."""

    def __init__(self, runner: NetworkThread, host: Host, loop: asyncio.AbstractEventLoop) -> None:
        self.runner = runner
        self.host = host
        self._loop = loop

    @property
    def stack(self) -> Stack:
        stack = self.host.stack
        assert isinstance(stack, Stack)
        return stack

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def guard(self) -> AbstractContextManager[object]:
        return self.runner.lock

    def sync(self) -> None:
        self.stack.now = self.runner.network.now

    def kick(self) -> None:
        self.runner.network.kick(self.host)

    def wait(self, ready: Callable[[], bool], timeout_us: int | None) -> bool:
        raise RuntimeError("blocking calls are not used with this driver")
