"""FIN processing in every state, close(), shutdown(), abort and TIME-WAIT."""

from __future__ import annotations

import pytest

from synack.tcp.config import LINUX, RFC, TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import TcpOptions

from .harness import (
    MS,
    RCV_NXT,
    SECOND,
    SND_NXT,
    Harness,
    established,
)

# -- ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED --------------------------------------


def test_fin_in_established_moves_to_close_wait() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"hello")
    h.out()
    assert conn.recv(100) == b"hello"
    h.inject("F.", RCV_NXT + 5, SND_NXT, at=h.now + 1 * SECOND)
    assert conn.state is State.CLOSE_WAIT
    # Linux delays this ACK (delack_min) so that an application closing at once can
    # send its FIN with it
    assert h.tx() == []
    t0 = h.now
    assert h.run_until(t0 + 1 * SECOND) == [(t0 + 40 * MS, (".", SND_NXT, RCV_NXT + 6, 0))]
    assert conn.at_eof
    assert conn.recv(100) == b""


def test_fin_on_a_connection_that_carried_no_data_is_acked_after_one_tick() -> None:
    # Linux's delayed-ACK timeout is zero until the first data arrives: the ACK leaves
    # at the next timer tick, not 40 ms later.
    h, conn = established()
    h.inject("F.", RCV_NXT, SND_NXT)
    assert conn.state is State.CLOSE_WAIT
    assert h.tx() == []
    t0 = h.now
    assert h.run_until(t0 + 1 * SECOND) == [(t0 + 1 * MS, (".", SND_NXT, RCV_NXT + 1, 0))]
    assert conn.at_eof
    assert conn.recv(100) == b""
    assert h.stack.snapshot_counters()["TcpCurrEstab"] == 1  # CLOSE_WAIT counts
    # we may still send
    conn.send(b"reply")
    assert h.tx() == [("P.", SND_NXT, RCV_NXT + 1, 5)]


def test_fin_with_data_delivers_data_then_eof() -> None:
    h, conn = established()
    h.inject("FP.", RCV_NXT, SND_NXT, payload=b"last words")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 11, 0)]
    assert conn.state is State.CLOSE_WAIT
    assert conn.recv(100) == b"last words"
    assert conn.recv(100) == b""


def test_retransmitted_fin_in_close_wait_is_acked_again() -> None:
    h, conn = established()
    h.inject("F.", RCV_NXT, SND_NXT)
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT, at=h.now + 200 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 1, 0)]
    assert conn.state is State.CLOSE_WAIT


def test_fin_beyond_a_hole_waits_for_the_hole() -> None:
    h, conn = established()
    h.inject("FP.", RCV_NXT + 5, SND_NXT, payload=b"world")
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 0)]  # duplicate ACK: the hole
    assert conn.state is State.ESTABLISHED
    assert not conn.at_eof
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"hello")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 11, 0)]  # data and FIN
    assert conn.state is State.CLOSE_WAIT
    assert conn.recv(100) == b"helloworld"


def test_close_right_after_fin_acks_it_with_our_fin() -> None:
    h, _conn = established()
    h.inject("F.", RCV_NXT, SND_NXT)
    h.inject("F.", RCV_NXT, SND_NXT, at=h.now + 10 * MS)  # retransmitted: ACK at once
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 1, 0)]
    assert h.advance(h.now + 1 * SECOND) == []  # no second, delayed ACK


def test_three_segment_close() -> None:
    h, conn = established()
    h.inject("F.", RCV_NXT, SND_NXT)
    conn.close()
    assert h.tx() == [("F.", SND_NXT, RCV_NXT + 1, 0)]
    assert conn.state is State.LAST_ACK
    assert h.run_until(h.now + 100 * MS) == []  # the delayed ACK rode on the FIN


def test_passive_close_last_ack_then_closed() -> None:
    h, conn = established()
    h.inject("F.", RCV_NXT, SND_NXT)
    h.advance(h.now + 40 * MS)
    conn.close()
    assert h.tx() == [("F.", SND_NXT, RCV_NXT + 1, 0)]
    assert conn.state is State.LAST_ACK
    h.inject(".", RCV_NXT + 1, SND_NXT + 1)
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert h.conn() is None
    assert h.stack.next_deadline() is None
    counters = h.stack.snapshot_counters()
    assert counters["TcpEstabResets"] == 0
    assert counters["TcpCurrEstab"] == 0


def test_last_ack_retransmits_its_fin() -> None:
    h, conn = established()
    h.inject("F.", RCV_NXT, SND_NXT)
    conn.close()
    assert h.tx() == [("F.", SND_NXT, RCV_NXT + 1, 0)]
    t0 = h.now
    fin = ("F.", SND_NXT, RCV_NXT + 1, 0)
    assert h.run_until(t0 + 1 * SECOND) == [(t0 + 300 * MS, fin), (t0 + 900 * MS, fin)]


# -- FIN_WAIT_1 -------------------------------------------------------------------------


def test_close_sends_fin_and_enters_fin_wait_1() -> None:
    h, conn = established()
    conn.close()
    assert h.tx() == [("F.", SND_NXT, RCV_NXT, 0)]
    assert conn.state is State.FIN_WAIT_1
    with pytest.raises(BrokenPipeError):
        conn.send(b"x")


def test_fin_after_queued_data_rides_on_the_last_segment() -> None:
    h, conn = established()
    conn.send(b"bye")
    h.out()
    conn.send(b"more")  # held by Nagle: "bye" is unacknowledged
    assert h.tx() == []
    conn.shutdown_write()
    assert h.tx() == [("FP.", SND_NXT + 3, RCV_NXT, 4)]
    assert conn.state is State.FIN_WAIT_1


def test_fin_wait_1_fin_without_ack_of_ours_goes_closing() -> None:
    h, conn = established()
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT)  # simultaneous close: our FIN not yet ACKed
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    assert conn.state is State.CLOSING
    h.inject(".", RCV_NXT + 1, SND_NXT + 1)
    assert h.tx() == []
    assert conn.state is State.TIME_WAIT


def test_repeat_fin_acks_a_fin_with_our_unacknowledged_fin_again() -> None:
    h, conn = established(LINUX.with_changes(repeat_fin=True))
    conn.shutdown_write()
    assert h.tx() == [("F.", SND_NXT, RCV_NXT, 0)]
    h.inject("F.", RCV_NXT, SND_NXT)  # simultaneous close
    assert h.tx() == [("F.", SND_NXT, RCV_NXT + 1, 0)]  # as FreeBSD's tcp_output sends it
    assert conn.state is State.CLOSING
    h.inject("S", RCV_NXT + 1)  # a challenge ACK is a bare ACK, not our FIN again
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    h.inject(".", RCV_NXT + 1, SND_NXT + 1)
    assert h.tx() == []
    assert conn.state is State.TIME_WAIT


def test_ack_fin_at_once_acks_a_fin_in_established_without_delay() -> None:
    h, conn = established(LINUX.with_changes(ack_fin_at_once=True))
    h.inject("F.", RCV_NXT, SND_NXT)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 1, 0)]
    assert conn.state is State.CLOSE_WAIT


def test_fin_wait_1_fin_that_acks_our_fin_goes_time_wait() -> None:
    h, conn = established()
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT + 1)
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    assert conn.state is State.TIME_WAIT


def test_fin_wait_1_ack_of_fin_goes_fin_wait_2_then_fin_time_wait() -> None:
    h, conn = established()
    conn.close()
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 1)
    assert h.tx() == []
    assert conn.state is State.FIN_WAIT_2
    h.inject("F.", RCV_NXT, SND_NXT + 1)
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    assert conn.state is State.TIME_WAIT


def test_fin_wait_1_retransmits_its_fin() -> None:
    h, conn = established()
    conn.close()
    h.out()
    t0 = h.now
    fin = ("F.", SND_NXT, RCV_NXT, 0)
    assert h.run_until(t0 + 1 * SECOND) == [(t0 + 300 * MS, fin), (t0 + 900 * MS, fin)]


# -- TIME_WAIT ---------------------------------------------------------------------------


def time_wait(config: TcpConfig = LINUX) -> tuple[Harness, Connection, int]:
    h, conn = established(config)
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT + 1)
    h.out()
    assert conn.state is State.TIME_WAIT
    return h, conn, h.now


def test_time_wait_lasts_60_seconds_on_linux() -> None:
    h, conn, t0 = time_wait()
    assert h.advance(t0 + 60 * SECOND - 1) == []
    assert conn.state is State.TIME_WAIT
    assert h.advance(t0 + 60 * SECOND) == []  # ends silently
    assert conn.state is State.CLOSED
    assert h.conn() is None
    assert h.stack.snapshot_counters()["TcpExtTW"] == 1
    # afterwards the 4-tuple is unknown: a stray ACK is reset
    h.inject(".", RCV_NXT + 1, SND_NXT + 1)
    assert h.tx() == [("R", SND_NXT + 1, 0, 0)]


def test_time_wait_lasts_2_msl_in_the_rfc_profile() -> None:
    h, conn, t0 = time_wait(RFC)
    h.advance(t0 + 239 * SECOND)
    assert conn.state is State.TIME_WAIT
    h.advance(t0 + 240 * SECOND)
    assert conn.state is State.CLOSED


def test_time_wait_reacks_a_retransmitted_fin_and_restarts_the_timer() -> None:
    h, conn, t0 = time_wait()
    h.advance(t0 + 30 * SECOND)
    h.inject("F.", RCV_NXT, SND_NXT + 1)  # our last ACK was lost
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    assert conn.state is State.TIME_WAIT
    h.advance(t0 + 89 * SECOND)
    assert conn.state is State.TIME_WAIT
    h.advance(t0 + 90 * SECOND)
    assert conn.state is State.CLOSED


def test_time_wait_acks_an_unexpected_segment_without_restarting() -> None:
    h, conn, t0 = time_wait()
    h.inject("P.", RCV_NXT + 1, SND_NXT + 1, payload=b"late", at=t0 + 10 * SECOND)
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    h.advance(t0 + 60 * SECOND)
    assert conn.state is State.CLOSED


def test_time_wait_drops_an_in_window_segment_without_ack() -> None:
    # RFC 9293 3.10.7.4, fifth check, before the FIN processing of the eighth.
    h, conn, t0 = time_wait()
    h.inject("F", RCV_NXT + 1, 0, at=t0 + 10 * SECOND)
    h.inject("P", RCV_NXT + 1, 0, payload=b"late", at=t0 + 11 * SECOND)
    assert h.tx() == []
    h.advance(t0 + 60 * SECOND)
    assert conn.state is State.CLOSED


BSD_TIME_WAIT = LINUX.with_changes(timewait_acks_all=True)


@pytest.mark.parametrize(
    ("flags", "seq", "ack"),
    [
        (".", RCV_NXT + 2, SND_NXT + 1),  # in the window, but not at RCV.NXT
        (".", RCV_NXT + 1, SND_NXT),  # an old ACK
        (".", RCV_NXT + 200_000, SND_NXT + 1),  # outside the window
        ("F.", RCV_NXT + 5, SND_NXT + 1),
        ("S.", RCV_NXT + 1, SND_NXT + 1),
    ],
)
def test_bsd_time_wait_acks_everything_but_a_duplicate_ack(flags: str, seq: int, ack: int) -> None:
    h, conn, t0 = time_wait(BSD_TIME_WAIT)
    h.inject(flags, seq, ack, at=t0 + 10 * SECOND)
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    assert conn.state is State.TIME_WAIT


@pytest.mark.parametrize(
    ("flags", "seq", "ack"),
    [
        (".", RCV_NXT + 1, SND_NXT + 1),  # the duplicate ACK
        ("F", RCV_NXT + 5, 0),  # no ACK bit: dropped
        ("P", RCV_NXT + 1, 0),
    ],
)
def test_bsd_time_wait_drops_a_duplicate_ack_or_a_segment_without_ack(
    flags: str, seq: int, ack: int
) -> None:
    h, conn, t0 = time_wait(BSD_TIME_WAIT)
    h.inject(flags, seq, ack, at=t0 + 10 * SECOND)
    assert h.tx() == []
    assert conn.state is State.TIME_WAIT


def test_bsd_time_wait_restarts_its_timer_on_a_retransmitted_fin() -> None:
    h, conn, t0 = time_wait(BSD_TIME_WAIT)
    h.inject("F.", RCV_NXT, SND_NXT + 1, at=t0 + 30 * SECOND)
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 1, 0)]
    h.advance(t0 + 89 * SECOND)
    assert conn.state is State.TIME_WAIT
    h.advance(t0 + 90 * SECOND)
    assert conn.state is State.CLOSED


def test_time_wait_never_retransmits() -> None:
    h, _conn, t0 = time_wait()
    assert h.advance(t0 + 60 * SECOND) == []


# -- FIN_WAIT_2 timeouts ----------------------------------------------------------------


def test_orphaned_fin_wait_2_ends_after_fin_timeout() -> None:
    h, conn = established()
    conn.close()
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 1, at=h.now + 100 * MS)
    t0 = h.now
    assert conn.state is State.FIN_WAIT_2
    assert h.advance(t0 + 60 * SECOND - 1) == []
    assert conn.state is State.FIN_WAIT_2
    assert h.advance(t0 + 60 * SECOND) == []  # silently, as Linux does
    assert conn.state is State.CLOSED
    assert h.conn() is None


def test_fin_timeout_is_configurable() -> None:
    h, conn = established(LINUX.with_changes(fin_timeout=5))
    conn.close()
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 1)
    h.advance(h.now + 5 * SECOND)
    assert conn.state is State.CLOSED


def test_shutdown_write_alone_keeps_fin_wait_2_open() -> None:
    h, conn = established()
    conn.shutdown_write()
    assert h.tx() == [("F.", SND_NXT, RCV_NXT, 0)]
    h.inject(".", RCV_NXT, SND_NXT + 1)
    assert conn.state is State.FIN_WAIT_2
    assert h.advance(h.now + 3600 * SECOND) == []
    assert conn.state is State.FIN_WAIT_2
    # the peer may still send, and we may still read
    h.inject("P.", RCV_NXT, SND_NXT + 1, payload=b"still here")
    assert h.tx() == [(".", SND_NXT + 1, RCV_NXT + 10, 0)]
    assert conn.recv(100) == b"still here"
    # close() after the fact orphans it and starts the FIN_WAIT_2 timer
    conn.close()
    t0 = h.now
    h.advance(t0 + 60 * SECOND)
    assert conn.state is State.CLOSED


def test_data_for_a_closed_socket_in_fin_wait_2_is_reset() -> None:
    h, conn = established()
    conn.close()
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 1)
    h.inject("P.", RCV_NXT, SND_NXT + 1, payload=b"nobody reads this")
    assert h.tx() == [("R.", SND_NXT + 1, RCV_NXT, 0)]
    assert conn.state is State.CLOSED
    assert h.stack.snapshot_counters()["TcpExtTCPAbortOnData"] == 1


# -- abort and close with unread data ------------------------------------------------------


def test_abort_sends_rst_ack_on_linux() -> None:
    h, conn = established()
    conn.abort()
    (out,) = h.out()
    assert out.brief == ("R.", SND_NXT, RCV_NXT, 0)
    assert out.window == 0
    assert conn.state is State.CLOSED
    assert h.conn() is None
    assert h.stack.next_deadline() is None
    counters = h.stack.snapshot_counters()
    assert counters["TcpOutRsts"] == 1
    assert counters["TcpEstabResets"] == 1


def test_abort_sends_bare_rst_in_rfc_profile() -> None:
    h, conn = established(RFC)
    conn.abort()
    assert h.tx() == [("R", SND_NXT, 0, 0)]


def test_abort_in_syn_sent_sends_nothing() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    conn.abort()
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert h.advance(10 * SECOND) == []  # no SYN retransmission


def test_abort_in_time_wait_sends_nothing() -> None:
    h, conn, _t0 = time_wait()
    conn.abort()
    assert h.tx() == []
    assert conn.state is State.CLOSED


def test_close_with_unread_data_sends_rst_and_skips_time_wait() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"unread")
    h.out()
    conn.close()
    assert h.tx() == [("R.", SND_NXT, RCV_NXT + 6, 0)]
    assert conn.state is State.CLOSED
    assert h.conn() is None
    assert h.stack.next_deadline() is None
    assert h.stack.snapshot_counters()["TcpExtTCPAbortOnClose"] == 1


def test_close_with_linger_zero_sends_rst() -> None:
    h, conn = established()
    conn.linger = 0
    conn.close()
    assert h.tx() == [("R.", SND_NXT, RCV_NXT, 0)]
    assert conn.state is State.CLOSED
    assert h.stack.snapshot_counters()["TcpExtTCPAbortOnLinger"] == 1


@pytest.mark.parametrize("state", ["CLOSE_WAIT", "FIN_WAIT_1", "FIN_WAIT_2"])
def test_exact_rst_in_other_synchronized_states_resets(state: str) -> None:
    h, conn = established()
    if state == "CLOSE_WAIT":
        h.inject("F.", RCV_NXT, SND_NXT)
        rcv_nxt, snd_nxt = RCV_NXT + 1, SND_NXT
    else:
        conn.shutdown_write()
        rcv_nxt, snd_nxt = RCV_NXT, SND_NXT + 1
        if state == "FIN_WAIT_2":
            h.inject(".", RCV_NXT, SND_NXT + 1)
    h.out()
    assert conn.state.name == state
    h.inject("R", rcv_nxt + 1)  # in window, not exact: challenge
    assert h.tx() == [(".", snd_nxt, rcv_nxt, 0)]
    h.inject("R", rcv_nxt)
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert isinstance(conn.error, ConnectionResetError)


@pytest.mark.parametrize("state", ["CLOSING", "LAST_ACK", "TIME_WAIT"])
def test_exact_rst_in_closing_states_closes_quietly(state: str) -> None:
    h, conn = established()
    if state == "LAST_ACK":
        h.inject("F.", RCV_NXT, SND_NXT)
        conn.close()
    elif state == "CLOSING":
        conn.close()
        h.inject("F.", RCV_NXT, SND_NXT)
    else:
        conn.close()
        h.inject("F.", RCV_NXT, SND_NXT + 1)
    h.out()
    assert conn.state.name == state
    h.inject("R", RCV_NXT + 1)
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert conn.error is None


def test_closing_a_listener_forgets_half_open_children_without_a_word() -> None:
    h = Harness()
    listener = h.listen()
    h.inject("S", 5000, options=TcpOptions(mss=1460))
    assert [o.flags for o in h.out()] == ["S."]
    listener.close()
    assert h.tx() == []  # Linux sends nothing for a request socket
    assert h.state() is State.CLOSED
    # the peer's ACK now meets no connection: a plain RST at its ACK number
    h.inject(".", 5001, h.iss + 1, at=h.now + 100 * MS)
    assert h.tx() == [("R", h.iss + 1, 0, 0)]
