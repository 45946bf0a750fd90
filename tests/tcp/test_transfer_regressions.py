"""Engine bugs the integrity property (tests/scenarios/test_integrity.py) found, pinned.

Each test is the smallest exchange that showed the bug; the comment says what the
property test saw before the fix.
"""

from __future__ import annotations

import errno

import pytest

from synack.tcp.state import State

from .harness import MS, MSS_500, RCV_NXT, SECOND, SND_NXT, Harness, established, established_active


def test_fast_retransmit_resends_only_bytes_already_sent() -> None:
    # Before: the repair was a full MSS from SND.UNA, past SND.MAX into bytes never sent
    # (and beyond the offered window). The peer took them, its ACKs then acknowledged
    # "data not yet sent" and both sides exchanged ACKs until the retries ran out.
    h = Harness()
    conn = established_active(h, MSS_500, window=400)
    conn.nodelay = True
    for _ in range(4):
        conn.send(b"s" * 100)
    assert [s[1:] for s in h.tx()] == [(SND_NXT + 100 * i, RCV_NXT, 100) for i in range(4)]
    conn.send(b"u" * 2000)  # waits: the window is full
    assert h.tx() == []
    for _ in range(3):  # the first segment was lost
        h.inject(".", RCV_NXT, SND_NXT, window=400, at=h.now + 10 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 400)]  # the 400 bytes sent, no more
    assert conn.snd_max == SND_NXT + 400


def test_pure_ack_after_a_timeout_carries_the_highest_sequence_number_sent() -> None:
    # Before: SND.NXT, which a timeout moves back to SND.UNA. A peer that already holds
    # everything finds that sequence number below RCV.NXT and drops the ACK unread; when
    # both sides were retransmitting, neither ever saw the other's ACKs.
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    t0 = h.now
    conn.send(b"g" * 1500)
    assert len(h.tx()) == 3
    assert h.advance(t0 + 300 * MS) == [(".", SND_NXT, RCV_NXT, 500)]  # timeout: go back
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"data", at=t0 + 310 * MS)
    assert h.tx() == [(".", SND_NXT + 1500, RCV_NXT + 4, 0)]


def test_a_window_too_small_for_sws_avoidance_is_used_when_the_timer_fires() -> None:
    # Before: the peer's buffer shrank (SO_RCVBUF set after the handshake) so its window
    # stayed below half the largest it had offered; sender SWS avoidance waited for a
    # bigger one, and the persist timer, finding the window open, did nothing: a hang.
    h, conn = established(options=MSS_500)
    conn.send(b"a" * 500)
    assert h.tx() == [("P.", SND_NXT, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 500, window=300, at=h.now + 100 * MS)
    t0 = h.now
    conn.send(b"b" * 1000)
    assert h.tx() == []  # 300 bytes of 65535 offered before: SWS avoidance waits
    sent = h.run_until(t0 + 2 * SECOND)
    assert sent, "the override timeout must send what fits"
    when, first = sent[0]
    assert first == (".", SND_NXT + 500, RCV_NXT, 300)
    assert when - t0 <= conn.rto.rto_max


@pytest.mark.parametrize("state", ["CLOSING", "LAST_ACK"])
def test_reset_after_shutdown_write_is_reported(state: str) -> None:
    # Before: RFC 9293 closes CLOSING and LAST-ACK quietly on a RST, so a user who had
    # shut down writing (and still holds the socket) saw a clean end although its FIN,
    # and possibly data, were never acknowledged. (After close() it stays quiet.)
    h, conn = established()
    if state == "LAST_ACK":
        h.inject("F.", RCV_NXT, SND_NXT)
        conn.shutdown_write()
    else:
        conn.shutdown_write()
        h.inject("F.", RCV_NXT, SND_NXT)
    h.out()
    assert conn.state.name == state
    h.inject("R", RCV_NXT + 1)
    assert conn.state is State.CLOSED
    assert isinstance(conn.error, ConnectionResetError)
    assert conn.error.errno == errno.ECONNRESET


def test_timestamp_echo_gives_an_rtt_sample_after_a_retransmission() -> None:
    """Karn's rule forbids timing a retransmitted segment, but with timestamps the echo
    names the transmission it answers (RFC 7323 section 4), so the backed-off RTO comes
    back down as soon as the retransmission is acknowledged, instead of ratcheting up."""
    from synack.scenarios.craft import decode
    from synack.scenarios.lifecycle import connected_pair
    from synack.scenarios.world import World
    from synack.sim.link import LinkConfig

    world = World(seed=3, link=LinkConfig(delay_us=50_000))
    cli, conn, _ = connected_pair(world)
    world.run(1)
    world.net.drop(lambda src, dst, p: src == "A" and bool((s := decode(p)) and s.payload))
    cli.sendall(b"x" * 100)
    a = cli.connection
    assert a is not None and a.ts_ok
    world.net.run_until(lambda: a.rto.backoff > 0)  # the RTO fired: backed off
    assert conn.recv(200) == b"x" * 100  # the retransmission got through
    world.run(1)
    assert a.rto.backoff == 0
    assert a.rto.srtt is not None and 90_000 <= a.rto.srtt <= 110_000  # RTT 100 ms
