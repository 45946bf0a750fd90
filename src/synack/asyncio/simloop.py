"""An asyncio event loop whose clock is the simulated network's virtual clock.

Where a real loop would sleep in ``select()`` until its next timer, this one runs the
network up to that timer instead, stopping early as soon as a wake scheduled a callback.
``asyncio.sleep(30)`` therefore takes 30 virtual seconds and no real time, and one seed
gives the same run every time. A program that waits for something that can never
happen (no callback, no timer, network idle) gets ``StalledError`` instead of hanging.

Time stands still while callbacks are ready, as the network only runs when the loop
would wait: a program that polls with ``asyncio.sleep(0)`` never lets it move (sleep
for a moment instead). Threads and real file descriptors are not part of the
simulation: they are polled, never waited for.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from synack.api.driver import SimDriver, StalledError
from synack.sim.host import Host
from synack.sim.network import Network

_T = TypeVar("_T")
SECOND = 1_000_000


class SimSelector(selectors.BaseSelector):
    """A selector whose waiting runs the network; real file descriptors are only polled."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.loop: SimEventLoop | None = None
        self._real = selectors.DefaultSelector()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        assert loop is not None, "SimSelector used outside a SimEventLoop"
        network = self.network

        def callback_ready() -> bool:
            return bool(loop._ready)  # type: ignore[attr-defined]

        if timeout is None:
            if not network.run_until(callback_ready):
                events = self._real.select(0)
                if events:
                    return events
                raise StalledError(
                    f"the asyncio program can never go on: no callback, no timer, and the "
                    f"simulated network is idle at t={network.now} us"
                )
        elif timeout > 0:
            # Rounded up to 1 us at least, so a timer a hair ahead still moves the clock.
            deadline = network.now + max(1, round(timeout * SECOND))
            if not network.run_until(callback_ready, deadline - network.now):
                network.run(until=deadline)  # idle early: the wait still lasts its time
        else:
            network.run(until=network.now)  # what is due now, without moving the clock
        return self._real.select(0)


class SimEventLoop(asyncio.SelectorEventLoop):
    """An event loop on a simulated network's clock; see the module docstring."""

    def __init__(self, network: Network) -> None:
        selector = SimSelector(network)
        super().__init__(selector)
        selector.loop = self
        self.network = network
        self._drivers: dict[str, SimAsyncDriver] = {}

    def time(self) -> float:
        return self.network.now / SECOND

    def driver(self, host: Host | str) -> SimAsyncDriver:
        """The driver of one simulated host for this loop (one per host, made on demand)."""
        name = host if isinstance(host, str) else host.name
        drv = self._drivers.get(name)
        if drv is None:
            drv = self._drivers[name] = SimAsyncDriver(self.network, name, self)
        return drv


class SimAsyncDriver(SimDriver):
    """A simulated host driven from an asyncio loop (``synack.api.driver.AsyncDriver``)."""

    def __init__(self, network: Network, host: Host | str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(network, network.host(host) if isinstance(host, str) else host)
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop


def driver(host: Host | str) -> SimAsyncDriver:
    """The driver of a simulated host for the running ``SimEventLoop``."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, SimEventLoop):
        raise RuntimeError("synack.asyncio.simloop.driver() needs a running SimEventLoop")
    return loop.driver(host)


def run(main: Coroutine[Any, Any, _T], network: Network, *, debug: bool | None = None) -> _T:
    """Like ``asyncio.run``, on a new ``SimEventLoop`` over ``network``.

    Tasks still pending when ``main`` ends are cancelled and given one chance to finish;
    the network itself keeps its state (and its clock) for whoever looks at it next.
    """
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    loop = SimEventLoop(network)
    if debug is not None:
        loop.set_debug(debug)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _cancel_all_tasks(loop: SimEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    try:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    except StalledError:
        return  # a task that waits on again after its cancellation is left behind
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during synack.asyncio.simloop.run()",
                    "exception": task.exception(),
                    "task": task,
                }
            )
