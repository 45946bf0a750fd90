"""Collects what happened in a simulation: segments with their fate, and state changes.

The network reports each packet's fate (delivered, lost, dropped...) and the stacks report
what each packet was (a retransmission?) and every state change; the recorder joins the
two into records that ladder diagrams and tests read.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from synack.sim.events import PacketEvent
from synack.sim.network import Network
from synack.stack import Stack
from synack.tcp.events import SegmentSent, StateChange, TimerFired, TraceEvent, Tracer
from synack.tcp.state import State
from synack.wire.errors import MalformedPacket
from synack.wire.ip import PROTO_TCP, parse_ip
from synack.wire.tcp import SYN, TcpSegment, flag_names, parse_tcp


@dataclass(slots=True)
class SegmentRecord:
    """One TCP segment that left a host (or was injected), and what became of it."""

    sent_us: int
    arrive_us: int | None
    src: str
    dst: str | None
    segment: TcpSegment
    fate: str
    retransmission: bool = False
    injected: bool = False

    @property
    def flags(self) -> str:
        return flag_names(self.segment.flags)

    @property
    def length(self) -> int:
        return len(self.segment.payload)


@dataclass(slots=True, frozen=True)
class StateRecord:
    time_us: int
    host: str
    local_port: int
    remote_port: int
    old: State
    new: State
    reason: str


@dataclass(slots=True, frozen=True)
class TimerRecord:
    time_us: int
    host: str
    timer: str


@dataclass
class Trace:
    """Everything recorded, in time order."""

    segments: list[SegmentRecord] = field(default_factory=list)
    states: list[StateRecord] = field(default_factory=list)
    timers: list[TimerRecord] = field(default_factory=list)
    _isn_cache: tuple[int, dict[tuple[str, int, int], int]] | None = field(
        default=None, repr=False, compare=False
    )

    def state_path(self, host: str, port: int | None = None) -> list[State]:
        """The states one host went through (on one local port, if given), from the first."""
        path: list[State] = []
        for rec in self.states:
            if rec.host != host or (port is not None and rec.local_port != port):
                continue
            if not path:
                path.append(rec.old)
            path.append(rec.new)
        return path

    def isn(
        self, host: str, local_port: int | None = None, remote_port: int | None = None
    ) -> int | None:
        """The ISN of the first SYN a host sent (on the given ports, if given)."""
        for rec in self.segments:
            seg = rec.segment
            if rec.src != host or not seg.flags & SYN:
                continue
            if local_port is not None and seg.src_port != local_port:
                continue
            if remote_port is not None and seg.dst_port != remote_port:
                continue
            return seg.seq
        return None

    def _connection_isns(self) -> dict[tuple[str, int, int], int]:
        """First SYN's sequence number per (host, local port, remote port), built once per
        length of the segment list so that ladders of thousands of segments stay linear."""
        cached = self._isn_cache
        if cached is not None and cached[0] == len(self.segments):
            return cached[1]
        isns: dict[tuple[str, int, int], int] = {}
        for rec in self.segments:
            seg = rec.segment
            if seg.flags & SYN:
                isns.setdefault((rec.src, seg.src_port, seg.dst_port), seg.seq)
        self._isn_cache = (len(self.segments), isns)
        return isns

    def relative(self, rec: SegmentRecord) -> tuple[int, int]:
        """(seq, ack) of a segment relative to the ISNs of its own connection."""
        seg = rec.segment
        isns = self._connection_isns()
        own = isns.get((rec.src, seg.src_port, seg.dst_port))
        peer = isns.get((rec.dst, seg.dst_port, seg.src_port)) if rec.dst else None
        rel_seq = (seg.seq - own) & 0xFFFFFFFF if own is not None else seg.seq
        rel_ack = (seg.ack - peer) & 0xFFFFFFFF if peer is not None and seg.ack else seg.ack
        return rel_seq, rel_ack

    def exchange(self, delivered_only: bool = False) -> list[tuple[str, str, int, int, int]]:
        """Segments as (direction, flags, relative seq, relative ack, length) tuples.

        Relative numbers count from the ISNs of each segment's own connection, as
        packetdrill and Wireshark do.
        """
        out = []
        for rec in self.segments:
            if delivered_only and rec.arrive_us is None:
                continue
            rel_seq, rel_ack = self.relative(rec)
            out.append((f"{rec.src}>{rec.dst or '?'}", rec.flags, rel_seq, rel_ack, rec.length))
        return out


class Recorder:
    """Attach to a network and its stacks; read ``trace`` afterwards."""

    def __init__(self, network: Network, stacks: dict[str, Stack]) -> None:
        self.trace = Trace()
        self._pending: dict[str, deque[bool]] = {name: deque() for name in stacks}
        network.observe(self._on_packet)
        for name, stack in stacks.items():
            stack.tracer = self._tracer_for(name)

    def _tracer_for(self, host: str) -> Tracer:
        pending = self._pending[host]
        trace = self.trace

        def tracer(event: TraceEvent) -> None:
            if isinstance(event, SegmentSent):
                pending.append(event.retransmission)
            elif isinstance(event, StateChange):
                trace.states.append(
                    StateRecord(
                        event.time_us,
                        host,
                        event.key[1],
                        event.key[3],
                        event.old,
                        event.new,
                        event.reason,
                    )
                )
            elif isinstance(event, TimerFired):
                trace.timers.append(TimerRecord(event.time_us, host, event.timer))

        return tracer

    def _on_packet(self, event: PacketEvent) -> None:
        retransmission = False
        pending = self._pending.get(event.src)
        if not event.injected and event.fate != "duplicate" and pending:
            retransmission = pending.popleft()
        try:
            src, dst, protocol, payload = parse_ip(event.packet)
            if protocol != PROTO_TCP:
                return
            segment = parse_tcp(payload, src, dst, verify_checksum=False)
        except MalformedPacket:
            return
        self.trace.segments.append(
            SegmentRecord(
                event.sent_us,
                event.arrive_us,
                event.src,
                event.dst,
                segment,
                event.fate,
                retransmission,
                event.injected,
            )
        )
