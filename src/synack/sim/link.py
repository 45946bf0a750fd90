"""One direction of a wire between two hosts, with the impairments a real path has."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from heapq import heappush
from typing import TYPE_CHECKING, Any

from synack.sim.events import (
    CORRUPTED,
    DELIVERED,
    DUPLICATE,
    FATES,
    KIND_DELIVER,
    LOST,
    QUEUE_FULL,
    TOO_BIG,
    PacketEvent,
)
from synack.wire.ip import ECN_CE, ECN_ECT0, ECN_ECT1, ip_ecn, with_ecn

if TYPE_CHECKING:
    from synack.sim.host import Host


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """How one direction of a link behaves. Probabilities are per packet.

    - delay_us: one-way propagation delay.
    - jitter_us: extra delay drawn uniformly from [0, jitter_us]. Jitter alone keeps
      packets in order (a packet never arrives before one sent earlier on the same link),
      so reordering happens only when asked for with `reorder`.
    - loss: probability a packet is lost on the wire (after it used the bandwidth).
    - duplicate: probability an extra, uncorrupted copy arrives right after the packet.
    - reorder: probability a packet is held back `reorder_delay_us` more, so that later
      packets overtake it; reorder_delay_us = 0 means "the link's delay_us".
    - corrupt: probability one random bit of the packet is flipped.
    - bandwidth_bps: serialization rate; None means infinitely fast. With a rate,
      packets wait in a FIFO of at most `queue_packets` packets (not counting the one
      being serialized) and are tail-dropped when it is full.
    - mtu: larger packets are dropped ("too-big"), like an interface would refuse them.
    - ce_threshold_packets: with a rate, an ECN-capable packet (ECT) that finds at least
      this many packets waiting is marked CE instead of waiting silently (RFC 3168 section
      5, a queue's early congestion signal); None marks nothing. Not-ECT packets are only
      ever tail-dropped.
    """

    delay_us: int = 1000
    jitter_us: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay_us: int = 0
    corrupt: float = 0.0
    bandwidth_bps: int | None = None
    queue_packets: int = 1000
    mtu: int = 1500
    ce_threshold_packets: int | None = None

    def __post_init__(self) -> None:
        for name in ("delay_us", "jitter_us", "reorder_delay_us", "queue_packets"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"LinkConfig.{name} must be a non-negative int, got {value!r}")
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or math.isnan(value)
                or not 0.0 <= value <= 1.0
            ):
                raise ValueError(
                    f"LinkConfig.{name} is a probability and must be in [0, 1], got {value!r}"
                )
        bps = self.bandwidth_bps
        if bps is not None and (not isinstance(bps, int) or isinstance(bps, bool) or bps <= 0):
            raise ValueError(
                f"LinkConfig.bandwidth_bps must be a positive int or None, got {bps!r}"
            )
        if not isinstance(self.mtu, int) or isinstance(self.mtu, bool) or self.mtu <= 0:
            raise ValueError(f"LinkConfig.mtu must be a positive int, got {self.mtu!r}")
        ce = self.ce_threshold_packets
        if ce is not None and (not isinstance(ce, int) or isinstance(ce, bool) or ce < 0):
            raise ValueError(
                f"LinkConfig.ce_threshold_packets must be a non-negative int or None, got {ce!r}"
            )

    @property
    def effective_reorder_delay_us(self) -> int:
        """The hold-back applied to reordered packets (reorder_delay_us, else delay_us)."""
        return self.reorder_delay_us or self.delay_us


class Link:
    """One direction from `src` to `dst`, with its own random generator.

    Created by `Network.connect`, which hands over the shared event heap and sequence
    counter, so that `send` can schedule the arrival itself: the per-packet path then
    costs one heap entry and, only when someone listens, one PacketEvent.
    """

    __slots__ = (
        "_bps",
        "_busy_until",
        "_ce_threshold",
        "_corrupt",
        "_delay",
        "_duplicate",
        "_heap",
        "_ideal",
        "_jitter",
        "_last_arrival",
        "_loss",
        "_mtu",
        "_queue_limit",
        "_reorder",
        "_reorder_delay",
        "_report",
        "_rng",
        "_seq",
        "_waiting",
        "ce_marked",
        "config",
        "counts",
        "dst",
        "name",
        "partitioned",
        "src",
    )

    def __init__(
        self,
        src: Host,
        dst: Host,
        config: LinkConfig,
        rng: random.Random,
        heap: list[tuple[int, int, int, Any, Any]],
        seq: Iterator[int],
    ) -> None:
        self.src = src
        self.dst = dst
        self.name = f"{src.name}->{dst.name}"
        self.config = config
        self._rng = rng
        self._heap = heap
        self._seq = seq
        self._report: Callable[[PacketEvent], None] | None = None
        # Config fields copied into slots: attribute reads on the hot path stay cheap.
        self._delay = config.delay_us
        self._jitter = config.jitter_us
        self._loss = config.loss
        self._duplicate = config.duplicate
        self._reorder = config.reorder
        self._reorder_delay = config.effective_reorder_delay_us
        self._corrupt = config.corrupt
        self._bps = config.bandwidth_bps
        self._queue_limit = config.queue_packets
        self._mtu = config.mtu
        self._ce_threshold = config.ce_threshold_packets
        self.ce_marked = 0
        """Packets this link marked CE instead of queueing them unmarked."""
        #: No impairment but the delay (and the MTU): packets take the short way in send.
        self._ideal = not (
            config.jitter_us
            or config.loss
            or config.duplicate
            or config.reorder
            or config.corrupt
            or config.bandwidth_bps is not None
        )
        self._busy_until = 0  # when the transmitter finishes the last queued packet
        self._waiting: deque[int] = deque()  # start times of packets not yet on the wire
        self._last_arrival = 0  # latest in-order arrival, to keep jitter from reordering
        self.partitioned = False
        self.counts: dict[str, int] = dict.fromkeys(FATES, 0)
        """Packets per fate on this link (no-route never reaches a link)."""

    def send(self, packet: bytes, now: int) -> None:
        """Decide the packet's fate and schedule its arrival at `dst`."""
        if self.partitioned:
            self.discard(packet, now, LOST)
            return
        size = len(packet)
        if size > self._mtu:
            self.discard(packet, now, TOO_BIG)
            return
        if self._ideal:
            arrive = now + self._delay
            heappush(self._heap, (arrive, next(self._seq), KIND_DELIVER, self.dst, packet))
            self.counts[DELIVERED] += 1
            if self._report is not None:
                self._report(
                    PacketEvent(now, arrive, self.src.name, self.dst.name, packet, DELIVERED)
                )
            return
        leave = now
        bps = self._bps
        ce = False
        if bps is not None:
            waiting = self._waiting
            while waiting and waiting[0] <= now:
                waiting.popleft()
            start = self._busy_until if self._busy_until > now else now
            if start > now:
                if len(waiting) >= self._queue_limit:
                    self.discard(packet, now, QUEUE_FULL)
                    return
                waiting.append(start)
                threshold = self._ce_threshold
                ce = threshold is not None and len(waiting) > threshold
            leave = start + (size * 8_000_000 + bps - 1) // bps
            self._busy_until = leave
        rng = self._rng
        if self._loss and rng.random() < self._loss:
            self.discard(packet, now, LOST)
            return
        fate = DELIVERED
        delivered = packet
        if ce and ip_ecn(packet) in (ECN_ECT0, ECN_ECT1):
            delivered = with_ecn(packet, ECN_CE)
            self.ce_marked += 1
        if self._corrupt and size and rng.random() < self._corrupt:
            bit = rng.randrange(size * 8)
            flipped = bytearray(packet)
            flipped[bit >> 3] ^= 1 << (bit & 7)
            delivered = bytes(flipped)
            fate = CORRUPTED
        arrive = leave + self._delay
        if self._jitter:
            arrive += rng.randint(0, self._jitter)
            if arrive < self._last_arrival:
                arrive = self._last_arrival
            else:
                self._last_arrival = arrive
        if self._reorder and rng.random() < self._reorder:
            arrive += self._reorder_delay
        heappush(self._heap, (arrive, next(self._seq), KIND_DELIVER, self.dst, delivered))
        counts = self.counts
        counts[fate] += 1
        report = self._report
        if report is not None:
            report(PacketEvent(now, arrive, self.src.name, self.dst.name, delivered, fate))
        if self._duplicate and rng.random() < self._duplicate:
            heappush(self._heap, (arrive, next(self._seq), KIND_DELIVER, self.dst, packet))
            counts[DUPLICATE] += 1
            if report is not None:
                report(PacketEvent(now, arrive, self.src.name, self.dst.name, packet, DUPLICATE))

    def discard(self, packet: bytes, now: int, fate: str) -> None:
        """Count and report a packet that will not arrive."""
        self.counts[fate] += 1
        if self._report is not None:
            self._report(PacketEvent(now, None, self.src.name, self.dst.name, packet, fate))

    def __repr__(self) -> str:
        state = " partitioned" if self.partitioned else ""
        return f"<Link {self.name}{state} {self.config}>"
