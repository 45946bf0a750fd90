"""Two (or more) synack hosts on a simulated network, with sockets and a recorder.

Scenarios, tests, the demo and the benchmarks all build their experiments from this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

from synack.api.driver import SimDriver
from synack.api.socket import AF_INET, AF_INET6, Socket
from synack.sim.host import Host
from synack.sim.link import LinkConfig
from synack.sim.network import Network
from synack.stack import Stack
from synack.tcp.config import LINUX, SECOND, TcpConfig
from synack.trace.recorder import Recorder, Trace

#: Addresses from the benchmarking range RFC 2544 reserves (also used on real TUN tests).
ADDRESSES = {
    "A": ("198.18.0.1", "2001:db8::1"),
    "B": ("198.18.0.2", "2001:db8::2"),
    "C": ("198.18.0.3", "2001:db8::3"),
}


class World:
    """Hosts A and B (and optionally C) joined by links, each running a synack Stack."""

    #: The most recently built world, so a scenario that stops half way can still be drawn.
    last: World | None = None

    #: Called with every new World once its hosts, links and recorder exist, before any
    #: packet is sent. Scenarios build their own worlds, so tools that must see a run
    #: from its start (the CLI's ``--pcap``) attach here; add them with `World.watch`,
    #: which removes them again.
    on_create: ClassVar[list[Callable[[World], None]]] = []

    @classmethod
    @contextmanager
    def watch(cls, hook: Callable[[World], None]) -> Iterator[None]:
        """Call ``hook(world)`` for every World built inside the ``with`` block."""
        cls.on_create.append(hook)
        try:
            yield
        finally:
            cls.on_create.remove(hook)

    def __init__(
        self,
        seed: int = 0,
        link: LinkConfig | None = None,
        config: TcpConfig = LINUX,
        config_b: TcpConfig | None = None,
        hosts: tuple[str, ...] = ("A", "B"),
        record: bool = True,
        strict: bool = True,
    ) -> None:
        self.seed = seed
        self.net = Network(seed)
        self.link = link or LinkConfig(delay_us=10_000)
        self.stacks: dict[str, Stack] = {}
        self.hosts: dict[str, Host] = {}
        for index, name in enumerate(hosts):
            cfg = config_b if (config_b is not None and name == "B") else config
            stack = Stack(ADDRESSES[name], cfg, seed=seed * 1000 + index, name=name, strict=strict)
            self.stacks[name] = stack
            self.hosts[name] = self.net.add_host(name, ADDRESSES[name], stack)
        first = self.hosts[hosts[0]]
        for name in hosts[1:]:
            self.net.connect(first, self.hosts[name], self.link)
        self.recorder = Recorder(self.net, self.stacks) if record else None
        World.last = self
        for hook in tuple(World.on_create):
            hook(self)

    @property
    def trace(self) -> Trace:
        if self.recorder is None:
            raise RuntimeError("this world was built with record=False")
        return self.recorder.trace

    def address(self, host: str, v6: bool = False) -> str:
        return ADDRESSES[host][1 if v6 else 0]

    def socket(self, host: str, v6: bool = False) -> Socket:
        driver = SimDriver(self.net, self.hosts[host])
        return Socket(driver, AF_INET6 if v6 else AF_INET)

    def stack(self, host: str) -> Stack:
        return self.stacks[host]

    @property
    def now(self) -> int:
        return self.net.now

    def run(self, seconds: float | None = None) -> None:
        """Run the network for ``seconds`` of virtual time, or until it is idle."""
        if seconds is None:
            self.net.run()
        else:
            self.net.run(until=self.net.now + int(seconds * SECOND))

    def crash(self, host: str) -> None:
        """The host loses power: it forgets every connection and answers nothing."""
        self.net.crash(self.hosts[host])

    def reboot(self, host: str) -> None:
        """The host comes back with a fresh stack that knows no connection."""
        old = self.stacks[host]
        stack = Stack(
            old.addresses, old.config, seed=self.seed + 7919, name=host, strict=old.strict
        )
        stack.tracer = old.tracer
        self.stacks[host] = stack
        self.net.restart(self.hosts[host], stack)
