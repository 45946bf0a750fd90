"""Loss recovery with SACK (RFC 6675, PRR of RFC 6937) and limited transmit (RFC 3042).

The peer announces MSS 500 and SACK-permitted; we send ten segments and the peer's ACKs
say which arrived. Offsets in the tests count bytes from the first byte we sent.
"""

from __future__ import annotations

import random

import pytest

from synack.tcp import connection
from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.wire import TcpOptions

from .harness import (
    MS,
    MSS_500,
    RCV_NXT,
    SECOND,
    SND_NXT,
    Brief,
    Harness,
    decode_all,
    established_active,
)

SACK_500 = TcpOptions(mss=500, sack_permitted=True)


def sending_ten(peer_options: TcpOptions = SACK_500) -> tuple[Harness, Connection]:
    h = Harness()
    conn = established_active(h, peer_options)
    conn.nodelay = True
    conn.send(b"x" * 5000)
    assert [s[1] for s in h.tx()] == [SND_NXT + 500 * i for i in range(10)]
    h.now += 50 * MS
    return h, conn


def ack(h: Harness, upto: int, *blocks: tuple[int, int], window: int = 65535) -> list[Brief]:
    """The peer ACKs ``upto`` (an offset) with SACK blocks (offsets); what we send back."""
    sack = tuple((SND_NXT + a, SND_NXT + b) for a, b in blocks)
    h.inject(".", RCV_NXT, SND_NXT + upto, window=window, options=TcpOptions(sack_blocks=sack))
    return h.tx()


def data(offset: int, size: int = 500, flags: str = ".") -> Brief:
    return (flags, SND_NXT + offset, RCV_NXT, size)


def test_sack_is_negotiated_only_when_both_syns_carry_it() -> None:
    h = Harness()
    assert established_active(h, SACK_500).sack_negotiated
    h = Harness()
    assert not established_active(h, MSS_500).sack_negotiated
    h = Harness(LINUX.with_changes(sack=False))
    assert not established_active(h, SACK_500).sack_negotiated


def test_three_sacked_segments_start_recovery_and_resend_the_first_hole() -> None:
    h, conn = sending_ten()
    assert ack(h, 0, (500, 1000)) == []
    assert ack(h, 0, (500, 1500)) == []
    assert ack(h, 0, (500, 2000)) == [data(0)]
    assert conn.in_recovery
    counters = h.stack.snapshot_counters()
    assert counters["TcpExtTCPSackRecovery"] == 1
    assert counters["TcpRetransSegs"] == 1


def test_several_holes_are_resent_in_one_round_trip() -> None:
    # Segments 0, 2 and 4 lost: the ACKs of 1, 3, 5..9 name all three holes, and each
    # is resent as the pipe drains, before any of the repairs is acknowledged.
    h, conn = sending_ten()
    sent = ack(h, 0, (500, 1000))
    sent += ack(h, 0, (1500, 2000), (500, 1000))
    sent += ack(h, 0, (2500, 3000), (1500, 2000), (500, 1000))
    for end in range(3500, 5001, 500):
        sent += ack(h, 0, (2500, end), (1500, 2000), (500, 1000))
    assert sent == [data(0), data(1000), data(2000)]
    assert conn.snd_una == SND_NXT  # nothing acknowledged cumulatively yet
    # The three repairs arrive: one cumulative ACK ends the recovery.
    assert ack(h, 5000) == []
    assert not conn.in_recovery
    assert conn.cc.cwnd == conn.cc.ssthresh


def test_without_sack_newreno_repairs_one_hole_per_round_trip() -> None:
    h, _conn = sending_ten(MSS_500)
    sent: list[Brief] = []
    for _ in range(7):  # segments 1, 3, 5..9 arrive: seven duplicate ACKs
        sent += ack(h, 0)
    assert sent == [data(0)]  # only the first hole: the others are unknown
    assert ack(h, 1000) == [data(1000)]  # partial ACK: the next hole, one RTT later
    assert ack(h, 2000) == [data(2000)]


def test_new_data_follows_the_holes_when_the_pipe_allows() -> None:
    h, conn = sending_ten()
    conn.send(b"y" * 2000)
    assert h.tx() == []  # cwnd (ten segments) is full
    sent = []
    for end in range(1000, 5001, 500):
        sent += ack(h, 0, (500, end))
    # Two segments of limited transmit, segment 0 resent, then new data as the SACKs
    # drain the pipe.
    assert sent[:3] == [data(5000), data(5500), data(0)]
    assert len(sent) > 3
    assert all(s[1] >= SND_NXT + 6000 for s in sent[3:])


def test_after_a_timeout_only_the_holes_are_resent() -> None:
    h, conn = sending_ten()
    ack(h, 0, (500, 1000))
    ack(h, 0, (1500, 2000), (500, 1000))
    ack(h, 0, (2500, 3500), (1500, 2000), (500, 1000))  # recovery: 0 resent
    # That repair is lost too, and nothing more comes back: the timer fires.
    assert h.advance(h.now + 500 * MS) == [data(0)]
    assert h.stack.snapshot_counters()["TcpExtTCPTimeouts"] == 1
    # The peer now has 0..1000: as it asks for each next hole, slow start resends the
    # holes (1000..1500, 2000..2500, then the unSACKed tail), never what it holds.
    sent = ack(h, 1000, (2500, 3500), (1500, 2000))
    sent += ack(h, 2000, (2500, 3500))
    sent += ack(h, 3500)
    sent += ack(h, 5000)
    assert sorted(s[1] - SND_NXT for s in sent) == [1000, 2000, 3500, 4000, 4500]
    assert h.stack.snapshot_counters()["TcpExtTCPTimeouts"] == 1
    assert not conn.rto_recovery and not conn.sack_repair


def test_a_second_timeout_forgets_the_sack_information() -> None:
    # The receiver may have reneged: after two timeouts in a row every byte goes again.
    h, conn = sending_ten()
    ack(h, 0, (500, 1000))
    ack(h, 0, (1500, 2000), (500, 1000))
    ack(h, 0, (2500, 5000), (1500, 2000), (500, 1000))
    assert h.advance(h.now + 2 * SECOND) == [data(0), data(0)]  # two timeouts
    assert conn.scoreboard is not None and len(conn.scoreboard) == 0
    assert ack(h, 500) == [data(500), data(1000)]  # 500..1000 again: it was "SACKed"


def test_reneging_forgets_the_scoreboard() -> None:
    h, conn = sending_ten()
    ack(h, 0, (1000, 2000))
    ack(h, 1000)  # acknowledges up to a byte it claimed to hold
    assert h.stack.snapshot_counters()["TcpExtTCPSACKReneging"] == 1
    assert conn.scoreboard is None


def test_lying_sack_blocks_never_free_data_nor_skip_it() -> None:
    h, conn = sending_ten()
    # Blocks beyond what was sent, reversed, overlapping.
    lies = ((4000, 9000), (3000, 2000), (600, 900), (700, 800))
    for _ in range(4):
        ack(h, 0, *lies)
    assert len(conn.snd_buf) == 5000  # only a cumulative ACK frees bytes
    assert conn.scoreboard is not None
    assert conn.scoreboard.ranges == [(SND_NXT + 600, SND_NXT + 900)]  # the one truthful block
    counters = h.stack.snapshot_counters()
    assert counters["TcpExtTCPSACKDiscard"] == 4 * 3
    # The block claiming everything above the first segment: recovery resends 0; the peer
    # then acknowledges only 500, and all the "SACKed" rest is sent again in the end.
    h2, conn2 = sending_ten()
    sent = ack(h2, 0, (500, 5000))
    assert sent == [data(0)]
    assert ack(h2, 500) == []
    assert conn2.scoreboard is not None and len(conn2.scoreboard) == 0  # nothing believed
    assert h2.advance(h2.now + 500 * MS) == [data(500)]  # the timeout resends the next
    sent = ack(h2, 1000)  # ... and slow start goes on through the "SACKed" bytes
    sent += ack(h2, 2000)
    offsets = [s[1] - SND_NXT for s in sent]
    assert offsets == list(range(1000, 1000 + 500 * len(offsets), 500))
    assert len(offsets) >= 4


def test_dsack_is_counted_and_changes_nothing() -> None:
    h, conn = sending_ten()
    ack(h, 1000)
    assert ack(h, 1000, (0, 500)) == []  # "I got 0..500 twice"
    counters = h.stack.snapshot_counters()
    assert counters["TcpExtTCPDSACKRecv"] == 1
    assert conn.dupacks == 0 or not conn.in_recovery


def test_limited_transmit_sends_new_data_on_the_first_two_duplicate_acks() -> None:
    for options in (MSS_500, SACK_500):
        h, conn = sending_ten(options)
        conn.send(b"y" * 2000)
        assert h.tx() == []  # cwnd full
        blocks = ((500, 1000),) if options.sack_permitted else ()
        assert ack(h, 0, *blocks) == [data(5000)]
        blocks = ((500, 1500),) if options.sack_permitted else ()
        assert ack(h, 0, *blocks) == [data(5500)]
        assert not conn.in_recovery
        assert conn.cc.cwnd == 10 * 500  # limited transmit leaves cwnd alone


def test_prr_spreads_the_reduction_over_the_recovery() -> None:
    # Twenty segments in flight, the first lost: as the other nineteen are SACKed one by
    # one, PRR sends about one segment for every two delivered (ssthresh is half).
    h = Harness()
    conn = established_active(h, SACK_500)
    conn.nodelay = True
    conn.cc.cwnd = 20 * 500
    conn.send(b"x" * 10000)
    assert len(h.tx()) == 20
    conn.send(b"y" * 10000)
    h.now += 50 * MS
    sent: list[Brief] = []
    for end in range(1000, 10001, 500):
        sent += ack(h, 0, (500, end))
    assert sent[:3] == [data(10000), data(10500), data(0)]  # limited transmit, repair
    after = sent[3:]
    assert all(s[1] >= SND_NXT + 11000 for s in after)  # only new data: no burst of repairs
    # What went out in recovery follows what was delivered, scaled by ssthresh over the
    # window at the start (RFC 6937): about one segment for two with NewReno's halving.
    out = 500 * (1 + len(after))
    share = 19 * 500 * conn.cc.ssthresh // (20 * 500)
    assert share - 1000 <= out <= share + 500
    assert len(after) < 17  # far fewer than delivered: the window came down
    assert conn.cc.cwnd == conn.cc.ssthresh


def test_a_long_out_of_order_queue_reports_the_same_blocks_without_a_full_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The receiver's side: 200 segments held above 40 holes, arriving in random order.
    rng = random.Random(7)
    h = Harness()
    conn = established_active(h, TcpOptions(mss=1000, sack_permitted=True))
    conn.rcv_capacity = 1 << 20
    held = [n for n in range(1, 240) if n % 6]
    rng.shuffle(held)
    for n in held:
        h.inject("P.", RCV_NXT + 100 * n, SND_NXT, payload=b"d" * 100)
        walked = conn._sack_blocks()
        assert len(conn.ooo) <= connection.SACK_SCAN_LIMIT or walked == _scanned(conn, monkeypatch)
    assert len(conn.ooo) == len(held) > connection.SACK_SCAN_LIMIT
    h.out()


def _scanned(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[int, int], ...]:
    with monkeypatch.context() as patch:
        patch.setattr(connection, "SACK_SCAN_LIMIT", 1 << 30)
        return conn._sack_blocks()


def test_data_carrying_sack_blocks_still_fits_the_path() -> None:
    # We hold the peer's data out of order, so each of our segments carries SACK blocks:
    # they come out of the payload (RFC 6691), or a full segment would exceed the MTU.
    h = Harness()
    conn = established_active(h, TcpOptions(mss=1460, sack_permitted=True))
    for n in (1, 3, 5):
        h.inject("P.", RCV_NXT + 100 * n, SND_NXT, payload=b"o" * 100)
    h.out()
    conn.nodelay = True
    conn.send(b"x" * 5000)
    packets = h.stack.transmit()
    assert len(packets) >= 4
    assert all(len(packet) <= 1500 for packet in packets)
    segments = decode_all(packets)
    assert all(s.options is not None and len(s.options.sack_blocks) == 3 for s in segments)
    assert sum(len(s.payload) for s in segments) == 5000
