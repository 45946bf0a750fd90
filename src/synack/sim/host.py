"""A host on the simulated network: a name, its addresses and the stack that runs on it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from synack.sim.link import Link


class StackLike(Protocol):
    """The sans-I/O contract the simulator drives (see DESIGN.md, "The core contract").

    The simulator depends on nothing else, so it works with the real `synack.stack` as
    well as with the small fakes the tests use.
    """

    def receive(self, packet: bytes, now: int) -> None:
        """Process one IP packet; must never raise for bad bytes."""
        ...

    def transmit(self) -> list[bytes]:
        """Drain the IP packets to send now."""
        ...

    def next_deadline(self) -> int | None:
        """When `advance` must next be called, or None if no timer is pending."""
        ...

    def advance(self, now: int) -> None:
        """Fire the timers that are due at `now`."""
        ...


def _pack_address(address: bytes | str) -> bytes:
    if isinstance(address, str):
        return ipaddress.ip_address(address).packed
    if len(address) not in (4, 16):
        raise ValueError(
            f"address must be a packed IPv4 (4 bytes) or IPv6 (16 bytes) address, "
            f"got {len(address)} bytes: {address!r}"
        )
    return bytes(address)


class Host:
    """A node of the network. Links and timers are wired in by `Network`.

    Addresses are packed bytes (text such as "198.18.0.1" is accepted for convenience).
    The underscore attributes are the network's bookkeeping, kept here so the per-packet
    path needs no dictionary lookups by host.
    """

    __slots__ = ("_crashed", "_deadline", "_routes", "_timer_gen", "addresses", "name", "stack")

    def __init__(self, name: str, addresses: Iterable[bytes | str], stack: StackLike) -> None:
        if not name:
            raise ValueError("host name must be a non-empty string")
        self.name = name
        self.addresses: tuple[bytes, ...] = tuple(_pack_address(a) for a in addresses)
        if not self.addresses:
            raise ValueError(f"host {name!r} needs at least one address")
        if len(set(self.addresses)) != len(self.addresses):
            raise ValueError(f"host {name!r} lists an address twice")
        self.stack = stack
        self._crashed = False
        # Destination address -> outgoing link; filled by Network.connect.
        self._routes: dict[bytes, Link] = {}
        # The deadline currently armed in the network heap and its generation: a heap
        # entry whose generation differs from _timer_gen is stale and skipped.
        self._deadline: int | None = None
        self._timer_gen = 0

    @property
    def crashed(self) -> bool:
        """True between `Network.crash` and `Network.restart`."""
        return self._crashed

    def __repr__(self) -> str:
        addrs = ", ".join(str(ipaddress.ip_address(a)) for a in self.addresses)
        state = " crashed" if self._crashed else ""
        return f"<Host {self.name} [{addrs}]{state}>"
