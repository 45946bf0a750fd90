"""The idle timeout (TCP_IDLE_TIMEOUT): a connection without data either way is closed."""

from __future__ import annotations

from synack.tcp.config import LINUX
from synack.tcp.state import State

from .harness import MS, RCV_NXT, SECOND, SND_NXT, established


def test_a_silent_connection_is_closed_with_a_fin_after_the_timeout() -> None:
    h, conn = established()
    start = h.now
    conn.set_idle_timeout(10)
    sent = h.run_until(start + 10 * SECOND)
    assert sent == [(start + 10 * SECOND, ("F.", SND_NXT, RCV_NXT, 0))]
    assert conn.state is State.FIN_WAIT_1
    assert h.stack.snapshot_counters()["SynackIdleTimeouts"] == 1


def test_data_either_way_puts_the_close_off() -> None:
    h, conn = established()
    start = h.now
    conn.set_idle_timeout(10)
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"hi", at=start + 8 * SECOND)
    conn.recv(10)
    h.run_until(start + 15 * SECOND)
    conn.send(b"yo")
    h.inject(".", RCV_NXT + 2, SND_NXT + 2, at=h.now + 100 * MS)
    sent = h.run_until(start + 29 * SECOND)
    assert all("F" not in flags for _, (flags, *_rest) in sent)
    assert conn.state is State.ESTABLISHED
    # Silence from 15 s on: closed at the first check that finds nothing moved.
    assert h.run_until(start + 40 * SECOND)[-1][1][0] == "F."
    assert conn.state is State.FIN_WAIT_1


def test_a_bare_ack_or_keepalive_is_not_activity() -> None:
    h, conn = established()
    start = h.now
    conn.set_idle_timeout(10)
    h.inject(".", RCV_NXT, SND_NXT, at=start + 5 * SECOND)
    assert [b for _, b in h.run_until(start + 10 * SECOND)] == [("F.", SND_NXT, RCV_NXT, 0)]


def test_the_peer_that_never_sends_its_fin_is_reaped_from_fin_wait_2() -> None:
    config = LINUX.with_changes(fin_timeout=30)
    h, conn = established(config)
    start = h.now
    conn.set_idle_timeout(10)
    h.run_until(start + 10 * SECOND)
    h.inject(".", RCV_NXT, SND_NXT + 1, at=start + 10 * SECOND + 50 * MS)  # ACK of our FIN
    assert conn.state is State.FIN_WAIT_2
    h.run_until(start + 41 * SECOND)
    assert conn.state is State.CLOSED
    assert h.conn() is None


def test_zero_turns_it_off() -> None:
    h, conn = established()
    conn.set_idle_timeout(10)
    conn.set_idle_timeout(0)
    assert h.run_until(h.now + 3600 * SECOND) == []
    assert conn.state is State.ESTABLISHED
