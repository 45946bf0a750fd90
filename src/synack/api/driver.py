"""What a socket needs from whatever runs the stack: time, a nudge, and a way to wait.

On the simulated network "waiting" means running the network in virtual time until the
socket is ready, so a blocking ``recv`` in a test returns as soon as the data would have
arrived, however many virtual seconds that takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from synack.sim.host import Host
from synack.sim.network import Network
from synack.stack import Stack


class StalledError(RuntimeError):
    """A blocking call can never return: the simulated network has nothing left to do."""


class Driver(Protocol):
    """The part of a driver that sockets use."""

    @property
    def stack(self) -> Stack: ...

    def sync(self) -> None:
        """Bring the stack's clock up to date before a user call."""

    def kick(self) -> None:
        """After a user call: send what the stack queued and re-arm its timer."""

    def wait(self, ready: Callable[[], bool], timeout_us: int | None) -> bool:
        """Run until ``ready()`` holds (True) or the timeout passes (False).

        Called with ``guard()`` held; a threaded driver releases it while it waits.
        """

    def guard(self) -> AbstractContextManager[object]:
        """Hold the stack for one user call.

        The stack is not thread-safe: where it runs on another thread (a TUN device's
        event loop) this is that thread's lock; on the simulated network it is a no-op.
        """


class AsyncDriver(Driver, Protocol):
    """A driver whose stack runs on an asyncio event loop (what ``synack.asyncio`` needs).

    Connection and listener ``wake`` callbacks fire on the thread that runs the stack;
    code reacting to them schedules its work on ``loop``.
    """

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...


_default: Driver | None = None


def set_default_driver(driver: Driver | None) -> None:
    """The driver that ``synack.socket`` and ``synack.asyncio`` use when given none."""
    global _default
    _default = driver


def default_driver() -> Driver:
    if _default is None:
        raise RuntimeError(
            "no synack driver: pass driver=..., or call synack.api.driver.set_default_driver()"
            " (synack.tun.open_tun() and the simulated network's drivers provide one)"
        )
    return _default


class SimDriver:
    """Drives one host of a simulated network from user calls."""

    def __init__(self, network: Network, host: Host) -> None:
        if not isinstance(host.stack, Stack):
            raise TypeError(f"host {host.name!r} does not run a synack Stack")
        self.network = network
        self.host = host

    @property
    def stack(self) -> Stack:
        stack = self.host.stack
        assert isinstance(stack, Stack)
        return stack

    def guard(self) -> AbstractContextManager[object]:
        return nullcontext()

    def sync(self) -> None:
        self.stack.now = self.network.now

    def kick(self) -> None:
        self.network.kick(self.host)

    def wait(self, ready: Callable[[], bool], timeout_us: int | None) -> bool:
        if ready():
            return True
        start = self.network.now
        if self.network.run_until(ready, timeout_us):
            return True
        if timeout_us is not None:
            # The network went idle early: the caller still waits out its timeout.
            self.network.run(until=start + timeout_us)
            return ready()
        raise StalledError(
            f"a blocking call on {self.host.name} can never return: the simulated "
            "network went idle with the socket still not ready"
        )
