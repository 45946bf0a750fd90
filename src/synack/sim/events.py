"""What the simulated network reports about each packet it carries.

Kept apart from `network.py` so that `link.py` can build events without importing the
network (imports point one way: clock, events <- link <- network).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DELIVERED: Final = "delivered"
LOST: Final = "lost"
DROPPED: Final = "dropped"
CORRUPTED: Final = "corrupted"
DUPLICATE: Final = "duplicate"
TOO_BIG: Final = "too-big"
QUEUE_FULL: Final = "queue-full"
NO_ROUTE: Final = "no-route"

FATES: Final = (DELIVERED, LOST, DROPPED, CORRUPTED, DUPLICATE, TOO_BIG, QUEUE_FULL, NO_ROUTE)
"""Every fate a packet can meet, in a fixed order (for reports and counters)."""

# Kinds of entries in the network's event heap. Entries are plain tuples
# (time_us, seq, kind, target, payload) so the hot path allocates nothing else.
KIND_DELIVER: Final = 0
KIND_TIMER: Final = 1
KIND_CALL: Final = 2
KIND_INJECT: Final = 3


@dataclass(slots=True)
class PacketEvent:
    """One packet's fate, reported once, when the network decides it at send time.

    `packet` is the bytes as delivered (with the flipped bit if corrupted), or as sent
    when the packet never arrives. `arrive_us` is the scheduled arrival, None if the
    packet is not delivered.
    """

    sent_us: int
    arrive_us: int | None
    src: str
    dst: str | None
    packet: bytes
    fate: str
    injected: bool = False
