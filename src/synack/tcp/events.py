"""Typed trace records the engine emits when a tracer is attached.

They are plain data so that the tools in ``synack.trace`` (ladder diagrams, pcaps, JSON
lines, plots) can consume them without reaching into the engine. With no tracer attached
the engine pays one ``is not None`` check per event site.

Timers, congestion state and windows change in many places; rather than trace each
assignment, the stack compares a connection with what it last traced for it after every
piece of processing (``Connection.trace_changes``) and emits `TimerSet`, `TimerStopped`
and `Metrics` for what moved. `TimerFired` comes from the timer itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synack.tcp.state import State
from synack.wire.tcp import TcpSegment

#: (local address, local port, remote address, remote port); addresses packed.
ConnKey = tuple[bytes, int, bytes, int]

#: Timer names, shared by `TimerSet`, `TimerStopped` and `TimerFired`.
RETRANSMISSION = "retransmission"
DELAYED_ACK = "delayed-ack"
PERSIST = "persist"
KEEPALIVE = "keepalive"
TIME_WAIT = "time-wait"
FIN_WAIT_2 = "fin-wait-2"
TIMER_NAMES = (RETRANSMISSION, DELAYED_ACK, PERSIST, KEEPALIVE, TIME_WAIT, FIN_WAIT_2)


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
    #: The offered window in bytes: the header's field shifted by the connection's scale.
    window: int


@dataclass(slots=True, frozen=True)
class SegmentReceived:
    time_us: int
    key: ConnKey
    segment: TcpSegment
    #: The offered window in bytes, scaled as the receiving connection reads it.
    window: int


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


@dataclass(slots=True, frozen=True)
class TimerSet:
    """A timer armed, or re-armed to a new deadline."""

    time_us: int
    key: ConnKey
    timer: str
    deadline_us: int


@dataclass(slots=True, frozen=True)
class TimerStopped:
    """A timer cancelled before it fired (its work was done, or the connection ended)."""

    time_us: int
    key: ConnKey
    timer: str


@dataclass(slots=True, frozen=True)
class Metrics:
    """Congestion and window state, emitted whenever any of it changed.

    Bytes throughout; ``srtt_us`` and ``rttvar_us`` are None before the first RTT sample.
    ``inflight`` is SND.NXT - SND.UNA, the amount the sender counts against its windows.
    """

    time_us: int
    key: ConnKey
    cwnd: int
    ssthresh: int
    rto_us: int
    srtt_us: int | None
    rttvar_us: int | None
    snd_una: int
    snd_nxt: int
    snd_wnd: int
    rcv_wnd: int
    inflight: int


@dataclass(slots=True, frozen=True)
class RttSample:
    """One round-trip measurement and the estimator's state after folding it in."""

    time_us: int
    key: ConnKey
    sample_us: int
    srtt_us: int
    rttvar_us: int
    rto_us: int


TraceEvent = (
    StateChange
    | SegmentSent
    | SegmentReceived
    | SegmentDropped
    | TimerFired
    | TimerSet
    | TimerStopped
    | Metrics
    | RttSample
)
Tracer = Callable[[TraceEvent], None]
