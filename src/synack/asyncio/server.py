"""Listening: ``create_server`` and ``start_server`` with an ``asyncio.AbstractServer``."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from synack.api.driver import Driver
from synack.asyncio.client import parse_host, pick_driver
from synack.asyncio.transport import LoopWaker, SynackTransport, core, os_error, socket_address
from synack.tcp.listener import Listener
from synack.tcp.state import State

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


class ListeningSocket:
    """What ``server.sockets`` lists: enough of a socket to ask where it listens."""

    def __init__(self, listener: Listener, family: int) -> None:
        self._listener = listener
        self.family = family
        self.type = socket.SOCK_STREAM

    def getsockname(self) -> tuple[Any, ...]:
        address = self._listener.address
        if not address and self.family == socket.AF_INET6:
            return ("::", self._listener.port, 0, 0)
        return socket_address(address, self._listener.port)

    def fileno(self) -> int:
        return -1

    def __repr__(self) -> str:
        name = self.getsockname()
        return f"<synack listening socket {name[0]}:{name[1]}>"


class SynackServer(asyncio.AbstractServer):
    """Listeners on a synack stack that hand each accepted connection to a new protocol.

    As in asyncio, ``close()`` stops listening and leaves accepted connections alone;
    ``wait_closed()`` returns once it is closed and every one of them has been lost.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        driver: Driver,
        listeners: list[Listener],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        family: int,
    ) -> None:
        self._loop = loop
        self._driver = driver
        self._listeners: list[Listener] | None = listeners
        self._family = family
        self._protocol_factory = protocol_factory
        self._serving = False
        self._active = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._serving_forever: asyncio.Future[None] | None = None
        self._accept_wake = LoopWaker(loop, self._accept_ready)

    def __repr__(self) -> str:
        return f"<SynackServer sockets={self.sockets!r}>"

    @property
    def sockets(self) -> tuple[ListeningSocket, ...]:
        if self._listeners is None:
            return ()
        return tuple(ListeningSocket(lst, self._family) for lst in self._listeners)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start_serving()
        await asyncio.sleep(0)

    def _start_serving(self) -> None:
        if self._serving or self._listeners is None:
            return
        self._serving = True
        with core(self._driver):
            for listener in self._listeners:
                listener.wake = self._accept_wake
        self._loop.call_soon(self._accept_ready)

    def _accept_ready(self) -> None:
        if not self._serving or self._listeners is None:
            return
        while True:
            with core(self._driver):
                accepted = [
                    conn for listener in self._listeners for conn in iter(listener.accept, None)
                ]
            if not accepted:
                return
            for conn in accepted:
                SynackTransport(self._loop, self._driver, conn, self._protocol_factory(), self)

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._listeners is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        """Stop listening: connections still in the accept queue are reset, as on Linux."""
        listeners, self._listeners = self._listeners, None
        if listeners is None:
            return
        self._serving = False
        with core(self._driver):
            for listener in listeners:
                listener.wake = None
                if listener.state is State.LISTEN:
                    listener.close()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        self._wake_waiters()

    async def wait_closed(self) -> None:
        if self._listeners is None and self._active == 0:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    def _attach(self) -> None:
        self._active += 1

    def _detach(self) -> None:
        self._active -= 1
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        if self._listeners is not None or self._active > 0:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


async def create_server(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    driver: Driver | None = None,
    family: int = 0,
    backlog: int = 100,
    reuse_address: bool | None = None,
    start_serving: bool = True,
    defer_accept: int = 0,
    max_per_peer: int | None = None,
) -> SynackServer:
    """Like ``loop.create_server``, over synack. ``host=None`` listens on every address.

    synack's own: ``defer_accept`` is TCP_DEFER_ACCEPT in seconds (a connection is handed
    over when its first data comes), ``max_per_peer`` caps connections per remote address.
    """
    drv, loop = pick_driver(driver)
    hosts: list[str | None] = (
        [None] if host is None or host == "" else [host] if isinstance(host, str) else list(host)
    )
    listeners: list[Listener] = []
    with core(drv) as stack:
        try:
            for name in hosts:
                address = parse_host(name, family) if name else None
                try:
                    binding = stack.bind(address, port or 0, bool(reuse_address))
                    listener = stack.listen(binding, backlog, max_per_peer)
                    listener.set_defer_accept(defer_accept)
                    listeners.append(listener)
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    raise os_error(
                        errno.EADDRINUSE,
                        f"error while attempting to bind on address {(name or '*', port)!r}",
                    ) from None
        except BaseException:
            for listener in listeners:
                listener.close()
            raise
    if family == 0:
        first = hosts[0]
        family = socket.AF_INET6 if first and ":" in first else socket.AF_INET
    server = SynackServer(loop, drv, listeners, protocol_factory, family)
    if start_serving:
        server._start_serving()
        await asyncio.sleep(0)
    return server


async def start_server(
    client_connected_cb: ClientConnected,
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    driver: Driver | None = None,
    backlog: int = 100,
    limit: int = 2**16,
    reuse_address: bool | None = None,
    family: int = 0,
    start_serving: bool = True,
    defer_accept: int = 0,
    max_per_peer: int | None = None,
) -> SynackServer:
    """Like ``asyncio.start_server``, over synack: the callback gets the standard streams
    (``defer_accept`` and ``max_per_peer`` as for `create_server`)."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_server(
        factory,
        host,
        port,
        driver=driver,
        family=family,
        backlog=backlog,
        reuse_address=reuse_address,
        start_serving=start_serving,
        defer_accept=defer_accept,
        max_per_peer=max_per_peer,
    )
