"""Opening connections: ``create_connection`` and ``open_connection`` over a synack driver."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from synack.api.driver import Driver, default_driver
from synack.asyncio.transport import LoopWaker, SynackTransport, core, os_error
from synack.tcp.connection import Connection
from synack.tcp.state import State

_P = TypeVar("_P", bound=asyncio.BaseProtocol)


class Wakeable(Protocol):
    """A core object with a ``wake`` slot: a connection or a listener."""

    wake: Callable[[], None] | None


def parse_host(host: str, family: int = 0) -> bytes:
    """Packed address for a literal IPv4/IPv6 host; synack resolves no names."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise socket.gaierror(
            socket.EAI_NONAME, f"synack takes IP address literals only, not {host!r}"
        ) from None
    wanted = {int(socket.AF_INET): 4, int(socket.AF_INET6): 6}.get(family)
    if family and wanted != address.version:
        raise socket.gaierror(socket.EAI_FAMILY, f"{host!r} is not of the requested family")
    return address.packed


def pick_driver(driver: Driver | None) -> tuple[Driver, asyncio.AbstractEventLoop]:
    """The driver to use, and the running loop that will call the protocols.

    That loop need not be the driver's (a TUN driver may run its stack on a thread of
    its own), but the driver's loop must be running, or nothing would ever move.
    """
    drv = driver if driver is not None else default_driver()
    loop = asyncio.get_running_loop()
    drv_loop = getattr(drv, "loop", None)
    if (
        isinstance(drv_loop, asyncio.AbstractEventLoop)
        and drv_loop is not loop
        and not drv_loop.is_running()
    ):
        raise RuntimeError(f"the driver's event loop is not running: nothing would move ({drv!r})")
    return drv, loop


async def wait_until(
    loop: asyncio.AbstractEventLoop, driver: Driver, obj: Wakeable, ready: Callable[[], bool]
) -> None:
    """Sleep on the loop until ``ready()`` holds, checking it on each wake of ``obj``.

    The check and the re-arming of the wake happen under one guard, so no wake is lost.
    """
    while True:
        future: asyncio.Future[None] = loop.create_future()

        def resolve(future: asyncio.Future[None] = future) -> None:
            if not future.done():
                future.set_result(None)

        with core(driver):
            if ready():
                obj.wake = None
                return
            obj.wake = LoopWaker(loop, resolve)
        await future


async def create_connection(
    protocol_factory: Callable[[], _P],
    host: str,
    port: int,
    *,
    driver: Driver | None = None,
    local_addr: tuple[str | None, int] | None = None,
    family: int = 0,
) -> tuple[SynackTransport, _P]:
    """Like ``loop.create_connection``, over synack: connected transport and protocol."""
    drv, loop = pick_driver(driver)
    remote = parse_host(host, family)
    with core(drv) as stack:
        binding = None
        if local_addr is not None:
            local_host, local_port = local_addr
            local = parse_host(local_host, family) if local_host else None
            try:
                binding = stack.bind(local, local_port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                raise os_error(
                    errno.EADDRINUSE,
                    f"error while attempting to bind on address {local_addr!r}",
                ) from None
        conn = stack.connect(remote, port, binding=binding)
    try:
        await wait_until(
            loop, drv, conn, lambda: conn.state not in (State.SYN_SENT, State.SYN_RCVD)
        )
    except BaseException:  # cancelled (wait_for's timeout): give the attempt up
        with core(drv):
            conn.wake = None
            conn.abort()
        raise
    _raise_failure(drv, conn)
    try:
        protocol = protocol_factory()
    except BaseException:
        with core(drv):
            conn.abort()
        raise
    transport = SynackTransport(loop, drv, conn, protocol)
    return transport, protocol


def _raise_failure(driver: Driver, conn: Connection) -> None:
    with core(driver):
        if conn.error is not None:
            error, conn.error = conn.error, None
            raise error
        if conn.state is State.CLOSED:
            raise os_error(errno.ECONNABORTED)


async def open_connection(
    host: str,
    port: int,
    *,
    driver: Driver | None = None,
    limit: int = 2**16,
    local_addr: tuple[str | None, int] | None = None,
    family: int = 0,
    **kwargs: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Like ``asyncio.open_connection``, over synack: the standard reader and writer."""
    if kwargs:
        raise TypeError(f"open_connection() got unsupported arguments: {sorted(kwargs)}")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(
        lambda: protocol, host, port, driver=driver, local_addr=local_addr, family=family
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
