"""Typed trace records the engine emits when a tracer is attached.

They are plain data so that the tools in ``synack.trace`` (ladder diagrams, pcaps, plots)
can consume them without reaching into the engine. With no tracer attached the engine pays
one ``is not None`` check per event site.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synack.tcp.state import State
from synack.wire.tcp import TcpSegment

#: (local address, local port, remote address, remote port); addresses packed.
ConnKey = tuple[bytes, int, bytes, int]


@dataclass(slots=True, frozen=True)
class StateChange:
    time_us: int
    key: ConnKey
    old: State
    new: State
    reason: str


@dataclass(slots=True, frozen=True)
class SegmentSent:
    time_us: int
    key: ConnKey
    segment: TcpSegment
    retransmission: bool


@dataclass(slots=True, frozen=True)
class SegmentReceived:
    time_us: int
    key: ConnKey
    segment: TcpSegment


@dataclass(slots=True, frozen=True)
class SegmentDropped:
    time_us: int
    key: ConnKey | None
    reason: str


@dataclass(slots=True, frozen=True)
class TimerFired:
    time_us: int
    key: ConnKey
    timer: str


TraceEvent = StateChange | SegmentSent | SegmentReceived | SegmentDropped | TimerFired
Tracer = Callable[[TraceEvent], None]
