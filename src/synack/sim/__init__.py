"""Deterministic discrete-event network: virtual clock, impaired links, hosts running stacks."""

from synack.sim.clock import VirtualClock
from synack.sim.events import FATES, PacketEvent
from synack.sim.host import Host, StackLike
from synack.sim.link import Link, LinkConfig
from synack.sim.network import DropMatch, Network

__all__ = [
    "FATES",
    "DropMatch",
    "Host",
    "Link",
    "LinkConfig",
    "Network",
    "PacketEvent",
    "StackLike",
    "VirtualClock",
]
