"""The typed trace records one stack emits: timers set, stopped and fired, metrics, RTT
samples and scaled windows, checked against what the connection itself holds."""

from __future__ import annotations

import itertools

from synack.tcp.config import LINUX
from synack.tcp.events import (
    DELAYED_ACK,
    RETRANSMISSION,
    TIME_WAIT,
    Metrics,
    RttSample,
    SegmentReceived,
    SegmentSent,
    StateChange,
    TimerFired,
    TimerSet,
    TimerStopped,
    TraceEvent,
)
from synack.tcp.state import State
from synack.wire import TcpOptions

from .harness import MS, RCV_NXT, SECOND, SND_NXT, Harness, established_active


def _traced(h: Harness) -> list[TraceEvent]:
    events: list[TraceEvent] = []
    h.stack.tracer = events.append
    return events


def _timers(events: list[TraceEvent]) -> list[tuple[str, str, int | None]]:
    """(action, timer, deadline) for every timer event, in order."""
    out: list[tuple[str, str, int | None]] = []
    for e in events:
        if isinstance(e, TimerSet):
            out.append(("set", e.timer, e.deadline_us))
        elif isinstance(e, TimerStopped):
            out.append(("stop", e.timer, None))
        elif isinstance(e, TimerFired):
            out.append(("fire", e.timer, None))
    return out


def test_syn_timer_is_set_stopped_by_the_syn_ack_and_rtt_sampled() -> None:
    h = Harness()
    events = _traced(h)
    conn = established_active(h, rtt=100 * MS)
    assert _timers(events) == [
        ("set", RETRANSMISSION, LINUX.rto_initial_us),
        ("stop", RETRANSMISSION, None),
    ]
    (sample,) = [e for e in events if isinstance(e, RttSample)]
    assert sample.time_us == 100 * MS and sample.sample_us == 100 * MS
    assert (sample.srtt_us, sample.rttvar_us, sample.rto_us) == (
        conn.rto.srtt,
        conn.rto.rttvar,
        conn.rto.rto,
    )
    last = [e for e in events if isinstance(e, Metrics)][-1]
    assert (last.cwnd, last.rto_us, last.srtt_us, last.snd_una, last.snd_nxt) == (
        conn.cc.cwnd,
        conn.rto.rto,
        100 * MS,
        SND_NXT,
        SND_NXT,
    )
    assert (last.snd_wnd, last.rcv_wnd, last.inflight) == (65535, conn.rcv_wnd, 0)


def test_syn_backoff_fires_and_rearms_with_doubling_deadlines() -> None:
    h = Harness()
    events = _traced(h)
    h.connect()
    h.run_until(3 * SECOND)
    assert _timers(events) == [
        ("set", RETRANSMISSION, 1 * SECOND),
        ("fire", RETRANSMISSION, None),
        ("set", RETRANSMISSION, 3 * SECOND),
        ("fire", RETRANSMISSION, None),
        ("set", RETRANSMISSION, 7 * SECOND),
    ]
    rtos = [e.rto_us for e in events if isinstance(e, Metrics)]
    assert rtos == [1 * SECOND, 2 * SECOND, 4 * SECOND]  # one line per change, no repeats


def test_metrics_are_emitted_only_when_something_moved() -> None:
    h = Harness()
    events = _traced(h)
    established_active(h)
    h.inject(".", RCV_NXT, SND_NXT, at=h.now + MS)  # a duplicate of what we know: no change
    metrics = [e for e in events if isinstance(e, Metrics)]
    assert all(a != b for a, b in itertools.pairwise(metrics))
    assert metrics[-1].time_us < h.now


def test_delayed_ack_timer_is_set_then_fires() -> None:
    h = Harness(LINUX.with_changes(quickacks=0))
    conn = established_active(h)
    events = _traced(h)
    h.inject("P.", RCV_NXT, SND_NXT, b"x" * 100, at=h.now + MS)
    (armed,) = [e for e in events if isinstance(e, TimerSet)]
    assert armed.timer == DELAYED_ACK and armed.deadline_us == conn.delack_at
    h.advance(armed.deadline_us)
    assert _timers(events)[-1] == ("fire", DELAYED_ACK, None)
    assert not [e for e in events if isinstance(e, TimerStopped)]  # fired, not stopped
    received = [e for e in events if isinstance(e, Metrics)][-1]
    assert received.rcv_wnd == conn.rcv_wnd


def test_windows_in_segment_records_are_scaled_to_bytes() -> None:
    h = Harness()
    events = _traced(h)
    conn = established_active(h, peer_options=TcpOptions(mss=1460, wscale=3), window=1000)
    h.inject(".", RCV_NXT, SND_NXT, window=1000, at=h.now + MS)
    syn_ack, ack = [e for e in events if isinstance(e, SegmentReceived)]
    assert syn_ack.window == 1000  # never scaled on a SYN
    assert ack.window == 8000 == conn.snd_wnd
    syn, our_ack = [e for e in events if isinstance(e, SegmentSent)]
    assert syn.window == syn.segment.window
    assert our_ack.window == our_ack.segment.window << conn.rcv_wscale
    assert conn.rcv_wscale > 0


def test_time_wait_timer_is_set_on_entry_and_fires_into_closed() -> None:
    h = Harness()
    conn = established_active(h)
    events = _traced(h)
    conn.shutdown_write()
    h.inject(".", RCV_NXT, SND_NXT + 1, at=h.now + MS)
    h.inject("F.", RCV_NXT, SND_NXT + 1, at=h.now + MS)
    entered = h.now
    timers = _timers(events)
    assert ("set", TIME_WAIT, entered + LINUX.timewait_len_us) in timers
    h.advance(entered + LINUX.timewait_len_us)
    assert _timers(events)[-1] == ("fire", TIME_WAIT, None)
    closing = [e for e in events if isinstance(e, StateChange)][-1]
    assert (closing.old, closing.new, closing.time_us) == (
        State.TIME_WAIT,
        State.CLOSED,
        entered + LINUX.timewait_len_us,
    )


def test_abort_stops_running_timers() -> None:
    h = Harness()
    conn = established_active(h)
    events = _traced(h)
    conn.send(b"data")
    conn.abort()
    assert _timers(events) == [
        ("set", RETRANSMISSION, h.now + conn.rto.rto),
        ("stop", RETRANSMISSION, None),
    ]


def test_without_a_tracer_no_trace_state_is_kept() -> None:
    h = Harness()
    conn = established_active(h)
    conn.send(b"data")
    h.advance(h.now + 5 * SECOND)
    assert conn.trace_marks is None
