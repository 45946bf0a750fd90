"""Data transfer: delivery, reassembly, flow control, zero-window probing, ACK policy."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import TcpOptions

from .harness import (
    MS,
    MSS_500,
    PEER_ISS,
    RCV_NXT,
    SECOND,
    SND_NXT,
    Harness,
    established,
    established_active,
)

# -- receiving -----------------------------------------------------------------------------


def test_in_order_data_is_delivered_and_acked() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"hello ")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 6, 0)]
    h.inject("P.", RCV_NXT + 6, SND_NXT, payload=b"world")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 11, 0)]
    assert conn.readable_bytes() == 11
    assert conn.recv(3) == b"hel"
    assert conn.recv(100) == b"lo world"
    assert conn.recv(100) == b""
    assert not conn.at_eof


def test_out_of_order_data_is_held_until_the_hole_fills() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT + 10, SND_NXT, payload=b"B" * 10)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 0)]  # duplicate ACK names the hole
    h.inject("P.", RCV_NXT + 30, SND_NXT, payload=b"D" * 10)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 0)]
    assert conn.readable_bytes() == 0
    assert conn.recv(100) == b""
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"A" * 10)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 20, 0)]  # up to the next hole
    assert conn.recv(100) == b"A" * 10 + b"B" * 10
    h.inject("P.", RCV_NXT + 20, SND_NXT, payload=b"C" * 10)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 40, 0)]
    assert conn.recv(100) == b"C" * 10 + b"D" * 10


def test_overlapping_out_of_order_segments_are_merged_once() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT + 5, SND_NXT, payload=b"56789")
    h.inject("P.", RCV_NXT + 3, SND_NXT, payload=b"3456789ab")
    h.out()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"0123")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 12, 0)]
    assert conn.recv(100) == b"0123456789ab"


def test_retransmitted_old_data_is_reacked_not_redelivered() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"once")
    h.out()
    assert conn.recv(100) == b"once"
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"once", at=h.now + 300 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 4, 0)]
    assert conn.recv(100) == b""


def test_delayed_ack_after_the_quickack_phase() -> None:
    h, _conn = established(LINUX.with_changes(quickacks=2))
    for i in range(2):
        h.inject("P.", RCV_NXT + i, SND_NXT, payload=b"q")
        assert h.tx() == [(".", SND_NXT, RCV_NXT + i + 1, 0)]
    h.inject("P.", RCV_NXT + 2, SND_NXT, payload=b"d")
    assert h.tx() == []
    t0 = h.now
    assert h.run_until(t0 + 1 * SECOND) == [(t0 + 40 * MS, (".", SND_NXT, RCV_NXT + 3, 0))]
    # two full-sized segments are ACKed at once
    h.inject("P.", RCV_NXT + 3, SND_NXT, payload=b"x" * 1460)
    assert h.tx() == []
    h.inject("P.", RCV_NXT + 1463, SND_NXT, payload=b"x" * 1460)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 2923, 0)]


def test_bsd_delayed_ack_acks_every_second_segment_whatever_its_size() -> None:
    h, _conn = established(LINUX.with_changes(quickacks=0, ack_every_other_segment=True))
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"a")
    assert h.tx() == []
    h.inject("P.", RCV_NXT + 1, SND_NXT, payload=b"bc")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 3, 0)]
    h.inject("P.", RCV_NXT + 3, SND_NXT, payload=b"d")
    assert h.tx() == []
    t0 = h.now
    assert h.run_until(t0 + 1 * SECOND) == [(t0 + 40 * MS, (".", SND_NXT, RCV_NXT + 4, 0))]


def test_a_shorter_copy_of_held_out_of_order_data_keeps_the_longer() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT + 5, SND_NXT, payload=b"56789")
    h.inject("P.", RCV_NXT + 5, SND_NXT, payload=b"56")
    h.out()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"01234")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 10, 0)]
    assert conn.recv(100) == b"0123456789"


def test_a_receive_batch_is_acknowledged_once_at_its_end() -> None:
    h, _conn = established(LINUX.with_changes(quickacks=0, rmem=1 << 20))
    h.stack.begin_batch()
    for i in range(10):
        h.inject("P.", RCV_NXT + i * 1460, SND_NXT, payload=b"x" * 1460)
    assert h.tx() == []  # every second segment would have been ACKed without the batch
    h.stack.end_batch()
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 14600, 0)]


def test_a_receive_batch_never_defers_duplicate_acks() -> None:
    h, _conn = established(LINUX.with_changes(quickacks=0, rmem=1 << 20))
    h.stack.begin_batch()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"x" * 1460)
    h.inject("P.", RCV_NXT + 1460, SND_NXT, payload=b"x" * 1460)
    for i in range(3, 6):  # segment 3 of the burst is missing: each later one is a dupack
        h.inject("P.", RCV_NXT + i * 1460, SND_NXT, payload=b"x" * 1460)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 2920, 0)] * 3
    h.stack.end_batch()
    assert h.tx() == []  # the ACK owed for the first two went out with the first dupack


def test_data_sent_in_a_batch_carries_the_owed_ack() -> None:
    h, conn = established(LINUX.with_changes(quickacks=0, rmem=1 << 20))
    h.stack.begin_batch()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"x" * 2920)
    conn.send(b"reply")
    h.stack.end_batch()
    assert h.tx() == [("P.", SND_NXT, RCV_NXT + 2920, 5)]


def test_receive_buffer_bounds_the_advertised_window() -> None:
    h, conn = established(LINUX.with_changes(rmem=4000))
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"a" * 1000)
    (out,) = h.out()
    assert (out.brief, out.window) == ((".", SND_NXT, RCV_NXT + 1000, 0), 3000)
    h.inject("P.", RCV_NXT + 1000, SND_NXT, payload=b"b" * 3000)
    (out,) = h.out()
    assert (out.brief, out.window) == ((".", SND_NXT, RCV_NXT + 4000, 0), 0)
    # beyond the buffer: not taken, the ACK repeats the zero window
    h.inject("P.", RCV_NXT + 4000, SND_NXT, payload=b"c" * 500)
    (out,) = h.out()
    assert (out.brief, out.window) == ((".", SND_NXT, RCV_NXT + 4000, 0), 0)
    assert conn.readable_bytes() == 4000
    # reading opens the window: a window update goes out
    assert conn.recv(4000) == b"a" * 1000 + b"b" * 3000
    (out,) = h.out()
    assert (out.brief, out.window) == ((".", SND_NXT, RCV_NXT + 4000, 0), 4000)


def test_syn_ack_window_reflects_the_receive_buffer() -> None:
    h = Harness(LINUX.with_changes(rmem=4000))
    h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460, wscale=7))
    (out,) = h.out()
    assert out.window == 4000
    assert out.options is not None and out.options.wscale == 0


# -- sending ---------------------------------------------------------------------------------


def test_sender_segments_at_the_peer_mss() -> None:
    h, conn = established(options=TcpOptions(mss=700))
    conn.nodelay = True
    conn.send(b"m" * 2000)
    assert h.tx() == [
        (".", SND_NXT, RCV_NXT, 700),
        (".", SND_NXT + 700, RCV_NXT, 700),
        ("P.", SND_NXT + 1400, RCV_NXT, 600),
    ]


def test_default_mss_is_536_without_an_mss_option() -> None:
    h, conn = established(options=TcpOptions())
    conn.send(b"m" * 1000)
    assert [s[3] for s in h.tx()] == [536]  # the 464-byte rest waits (Nagle)


def test_peer_window_is_honoured_and_slides() -> None:
    h, conn = established(options=TcpOptions(mss=1000))
    h.inject(".", RCV_NXT, SND_NXT, window=3000)
    conn.send(b"s" * 10_000)
    # sent back to back, as one TSO frame on Linux, so the last carries PSH
    assert h.tx() == [
        (".", SND_NXT, RCV_NXT, 1000),
        (".", SND_NXT + 1000, RCV_NXT, 1000),
        ("P.", SND_NXT + 2000, RCV_NXT, 1000),
    ]
    h.inject(".", RCV_NXT, SND_NXT + 1000, window=3000, at=h.now + 100 * MS)
    assert h.tx() == [(".", SND_NXT + 3000, RCV_NXT, 1000)]
    h.inject(".", RCV_NXT, SND_NXT + 4000, window=1000, at=h.now + 100 * MS)
    assert h.tx() == [(".", SND_NXT + 4000, RCV_NXT, 1000)]


def test_initial_congestion_window_is_ten_segments() -> None:
    h, conn = established(options=MSS_500)
    conn.send(b"c" * 20_000)
    sent = h.tx()
    assert len(sent) == 10
    assert sent[-1] == ("P.", SND_NXT + 4500, RCV_NXT, 500)  # the end of the burst


def test_nagle_holds_a_small_segment_while_data_is_unacked() -> None:
    h, conn = established()
    conn.send(b"a")
    assert h.tx() == [("P.", SND_NXT, RCV_NXT, 1)]
    conn.send(b"b")
    conn.send(b"c")
    assert h.tx() == []
    h.inject(".", RCV_NXT, SND_NXT + 1, at=h.now + 100 * MS)
    assert h.tx() == [("P.", SND_NXT + 1, RCV_NXT, 2)]


def test_nodelay_sends_small_segments_at_once() -> None:
    h, conn = established()
    conn.nodelay = True
    conn.send(b"a")
    conn.send(b"b")
    assert h.tx() == [("P.", SND_NXT, RCV_NXT, 1), ("P.", SND_NXT + 1, RCV_NXT, 1)]


def test_send_buffer_bound() -> None:
    h, conn = established(LINUX.with_changes(wmem=3000))
    assert conn.send(b"x" * 5000) == 3000
    assert conn.send(b"y") == 0
    assert conn.send_space() == 0
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 1460, at=h.now + 100 * MS)
    assert conn.send_space() == 1460


# -- zero window and persist -------------------------------------------------------------


def zero_window() -> tuple[Harness, Connection]:
    """500 bytes sent and ACKed with a zero window; 1000 more queued.

    Two 100 ms RTT samples (handshake, data): SRTT 100 ms, RTTVAR 37.5 ms, RTO 250 ms.
    """
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    conn.send(b"a" * 500)
    assert h.tx() == [("P.", SND_NXT, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 500, window=0, at=h.now + 100 * MS)
    conn.send(b"b" * 1000)
    assert h.tx() == []
    return h, conn


def test_zero_window_is_probed_with_backoff() -> None:
    h, conn = zero_window()
    t0 = h.now
    probe = (".", SND_NXT + 499, RCV_NXT, 0)  # SND.UNA - 1: forces an ACK
    assert h.run_until(t0 + 2200 * MS) == [
        (t0 + 250 * MS, probe),
        (t0 + 750 * MS, probe),
        (t0 + 1750 * MS, probe),
    ]
    assert conn.state is State.ESTABLISHED


def test_window_update_after_probe_releases_data() -> None:
    h, _conn = zero_window()
    t0 = h.now
    assert h.advance(t0 + 250 * MS) == [(".", SND_NXT + 499, RCV_NXT, 0)]
    h.inject(".", RCV_NXT, SND_NXT + 500, window=600, at=t0 + 350 * MS)
    assert h.tx() == [(".", SND_NXT + 500, RCV_NXT, 500)]  # 600 - 500: the rest waits (SWS)
    h.inject(".", RCV_NXT, SND_NXT + 1000, window=2000, at=t0 + 450 * MS)
    assert h.tx() == [("P.", SND_NXT + 1000, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 1500, window=2000, at=t0 + 550 * MS)
    assert h.advance(t0 + 5 * SECOND) == []  # no more probes


def test_answered_probes_keep_the_connection_open() -> None:
    h, conn = zero_window()
    t0 = h.now
    end = t0 + 30 * 60 * SECOND
    probes = []
    while True:
        deadline = h.stack.next_deadline()
        assert deadline is not None, "the probe timer must stay armed"
        if deadline > end:
            break
        sent = h.advance(deadline)
        if sent:
            assert sent == [(".", SND_NXT + 499, RCV_NXT, 0)]
            probes.append(h.now)
            h.inject(".", RCV_NXT, SND_NXT + 500, window=0)  # still full
    assert conn.state is State.ESTABLISHED
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert max(gaps) <= 120 * SECOND  # backoff capped at rto_max
    assert len(probes) >= 15


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=100),  # how much of the flight the peer ACKs
            st.integers(min_value=0, max_value=6000),  # the window it offers
            st.integers(min_value=0, max_value=1500),  # milliseconds until it does
        ),
        min_size=1,
        max_size=25,
    )
)
def test_new_data_never_goes_beyond_the_offered_window(
    steps: list[tuple[int, int, int]],
) -> None:
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    conn.send(b"z" * 100_000)
    acked, edge, highest = SND_NXT, SND_NXT + 65535, SND_NXT

    def check(sent: list[tuple[str, int, int, int]]) -> None:
        nonlocal highest
        for _flags, seq, _ack, length in sent:
            end = seq + length
            if end > highest:  # new data (retransmissions may repeat old bytes)
                assert end <= edge, f"sent up to {end} beyond the window edge {edge}"
                highest = end

    check(h.tx())
    for fraction, window, delay in steps:
        check(h.advance(h.now + delay * MS))
        ack = acked + (highest - acked) * fraction // 100
        acked, edge = ack, ack + window
        h.inject(".", RCV_NXT, ack, window=window)
        check(h.tx())
        if conn.state is not State.ESTABLISHED:
            break


# -- sequence numbers wrapping past 2**32 -------------------------------------------------


def test_transfer_across_the_sequence_wrap_in_both_directions() -> None:
    top = 2**32
    iss, peer_iss = top - 100, top - 50
    h = Harness(iss=iss)
    conn = h.connect()
    h.out()
    h.inject("S.", peer_iss, iss + 1, options=MSS_500)
    assert h.tx() == [(".", iss + 1, peer_iss + 1, 0)]
    conn.nodelay = True
    # we send 300 bytes: our sequence numbers wrap inside the second segment
    conn.send(b"o" * 300)
    assert h.tx() == [("P.", iss + 1, peer_iss + 1, 300)]
    h.inject(".", peer_iss + 1, (iss + 301) % top)
    assert conn.snd_una == (iss + 301) % top
    assert h.advance(h.now + 10 * SECOND) == []  # fully acknowledged across the wrap
    # the peer sends 100 bytes out of order around its wrap point (peer_iss + 1 + 49 = 2**32)
    nxt = peer_iss + 1
    h.inject("P.", (nxt + 60) % top, (iss + 301) % top, payload=b"B" * 40)
    assert h.tx() == [(".", (iss + 301) % top, nxt, 0)]
    h.inject("P.", nxt, (iss + 301) % top, payload=b"A" * 60)
    assert h.tx() == [(".", (iss + 301) % top, (nxt + 100) % top, 0)]
    assert conn.recv(1000) == b"A" * 60 + b"B" * 40
    # a RST exactly at the wrapped RCV.NXT is honoured
    h.inject("R", (nxt + 100) % top)
    assert conn.state is State.CLOSED


def test_window_shrunk_to_zero_with_data_in_flight_stays_open_while_answered() -> None:
    """RFC 1122 4.2.2.17: never close while the receiver answers the probes."""
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    conn.send(b"a" * 1000)
    assert len(h.tx()) == 2
    # the first segment is taken, the second dropped for want of room: window 0
    h.inject(".", RCV_NXT, SND_NXT + 500, window=0, at=h.now + 100 * MS)
    t0 = h.now
    while h.now < t0 + 3600 * SECOND and conn.state is State.ESTABLISHED:
        deadline = h.stack.next_deadline()
        assert deadline is not None
        sent = h.advance(deadline)
        assert all(s[1] + s[3] <= SND_NXT + 500 for s in sent)  # nothing new beyond SND.UNA
        if sent:
            h.inject(".", RCV_NXT, SND_NXT + 500, window=0)  # alive, still full
            h.out()
    assert conn.state is State.ESTABLISHED
    # the window opens: the held data goes at once
    h.inject(".", RCV_NXT, SND_NXT + 500, window=4000)
    assert h.tx() == [("P.", SND_NXT + 500, RCV_NXT, 500)]


def test_window_shrunk_to_zero_and_peer_gone_times_out() -> None:
    h, conn = established(LINUX.with_changes(retries2=3), options=MSS_500)
    conn.nodelay = True
    conn.send(b"a" * 1000)
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 500, window=0, at=h.now + 100 * MS)
    h.advance(h.now + 3600 * SECOND)  # nobody answers
    assert conn.state is State.CLOSED
    assert isinstance(conn.error, TimeoutError)


# -- SACK blocks (RFC 2018) and D-SACK (RFC 2883) ---------------------------------------

SACKING = LINUX.with_changes(sack=True, send_sack=True, timestamps=False)


def sacking(peer_sack: bool = True) -> tuple[Harness, Connection]:
    h = Harness(SACKING)
    return h, established_active(h, TcpOptions(mss=1460, sack_permitted=peer_sack))


def sack_of(h: Harness) -> list[tuple[int, int, tuple[tuple[int, int], ...]]]:
    """(seq, ack, SACK blocks relative to the peer's ISS) of each segment sent."""
    return [
        (
            o.seq,
            o.ack - PEER_ISS,
            tuple((a - PEER_ISS, b - PEER_ISS) for a, b in o.options.sack_blocks)
            if o.options
            else (),
        )
        for o in h.out()
    ]


def data(h: Harness, start: int, end: int) -> None:
    """Peer bytes start:end, numbered as packetdrill does (1 is the first byte)."""
    h.inject(".", PEER_ISS + start, SND_NXT, payload=b"x" * (end - start))


def test_sack_blocks_list_the_newest_out_of_order_data_first() -> None:
    h, conn = sacking()
    data(h, 1, 100)
    h.out()
    data(h, 200, 300)
    assert sack_of(h) == [(SND_NXT, 100, ((200, 300),))]
    data(h, 400, 500)
    assert sack_of(h) == [(SND_NXT, 100, ((400, 500), (200, 300)))]
    data(h, 300, 400)  # joins the two blocks
    assert sack_of(h) == [(SND_NXT, 100, ((200, 500),))]
    data(h, 100, 200)  # fills the hole: nothing out of order is left
    assert sack_of(h) == [(SND_NXT, 500, ())]
    assert conn.recv(1000) == b"x" * 499


def test_data_one_connection_holds_out_of_order_is_not_seen_by_another() -> None:
    # Connections share one empty out-of-order table until they need their own.
    h, conn = sacking()
    other_h, other = sacking()
    data(h, 200, 300)
    assert sack_of(h) == [(SND_NXT, 1, ((200, 300),))]
    assert not other.ooo and other.readable_bytes() == 0
    data(other_h, 1, 100)
    assert sack_of(other_h) == [(SND_NXT, 100, ())]  # in order: no blocks
    data(h, 1, 200)
    assert conn.recv(1000) == b"x" * 299 and other.recv(1000) == b"x" * 99


def test_at_most_four_sack_blocks_fit_without_timestamps() -> None:
    h, _conn = sacking()
    for start in (200, 400, 600, 800, 1000):
        data(h, start, start + 100)
        h.out()
    data(h, 1200, 1300)
    assert sack_of(h) == [(SND_NXT, 1, ((1200, 1300), (1000, 1100), (800, 900), (600, 700)))]


def test_duplicate_data_is_reported_first_once_as_a_d_sack() -> None:
    h, _conn = sacking()
    data(h, 1, 100)
    h.out()
    data(h, 200, 300)
    h.out()
    data(h, 50, 75)  # below RCV.NXT: a duplicate
    assert sack_of(h) == [(SND_NXT, 100, ((50, 75), (200, 300)))]
    data(h, 250, 400)  # half of it held already
    assert sack_of(h) == [(SND_NXT, 100, ((250, 300), (200, 400)))]
    data(h, 1, 500)  # old bytes, then new ones that fill the hole
    assert sack_of(h) == [(SND_NXT, 500, ((1, 100),))]


def test_in_order_data_overlapping_held_data_is_d_sacked_at_once() -> None:
    h, conn = sacking()
    data(h, 1, 100)
    h.out()
    data(h, 200, 300)
    data(h, 400, 500)
    h.out()
    data(h, 100, 275)  # 200:275 was held already
    assert sack_of(h) == [(SND_NXT, 300, ((200, 275), (400, 500)))]
    h.inject(".", PEER_ISS + 300, SND_NXT, payload=b"x" * 100)  # 300:400, the last hole
    assert sack_of(h) == [(SND_NXT, 500, ())]
    assert conn.recv(1000) == b"x" * 499


def test_a_fin_repeating_received_data_draws_no_d_sack() -> None:
    """Nothing can follow a FIN, so, like Linux, the receiver drops its SACK state
    there: the ACK of a FIN that repeats data already read carries no D-SACK."""
    h, conn = sacking()
    data(h, 1, 100)
    h.out()
    assert conn.recv(1000) == b"x" * 99
    h.inject("F.", PEER_ISS + 1, SND_NXT, payload=b"x" * 99)  # the data again, and a FIN
    deadline = h.stack.next_deadline()
    assert deadline is not None
    h.now = deadline
    h.stack.advance(deadline)  # the delayed ACK
    assert sack_of(h) == [(SND_NXT, 101, ())]
    assert conn.at_eof


def test_no_sack_blocks_when_the_peer_did_not_permit_them() -> None:
    h, _conn = sacking(peer_sack=False)
    data(h, 200, 300)
    assert sack_of(h) == [(SND_NXT, 1, ())]


def test_no_sack_blocks_unless_configured_to_send_them() -> None:
    h = Harness(SACKING.with_changes(send_sack=False))
    established_active(h, TcpOptions(mss=1460, sack_permitted=True))
    data(h, 200, 300)
    assert sack_of(h) == [(SND_NXT, 1, ())]


def test_peek_leaves_the_data_to_be_read() -> None:
    h, conn = established()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"hello")
    assert conn.peek(3) == b"hel"
    assert conn.peek(100) == b"hello"
    assert conn.recv(100) == b"hello"
    assert conn.peek(100) == b""


# -- PSH -------------------------------------------------------------------------------------


def test_linux_sets_psh_at_the_end_of_each_burst_and_on_what_ends_a_write() -> None:
    h, conn = established(options=MSS_500)
    h.inject(".", RCV_NXT, SND_NXT, window=1000)
    conn.send(b"p" * 2000)
    # two segments leave together (one TSO frame on Linux): the second carries PSH
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 500), ("P.", SND_NXT + 500, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 500, window=1000, at=h.now + 10 * MS)
    assert h.tx() == [(".", SND_NXT + 1000, RCV_NXT, 500)]  # alone, and not the end
    h.inject(".", RCV_NXT, SND_NXT + 1500, window=1000, at=h.now + 10 * MS)
    assert h.tx() == [("P.", SND_NXT + 1500, RCV_NXT, 500)]  # the end of what was written


def test_bsd_sets_psh_only_on_the_segment_that_empties_the_send_buffer() -> None:
    h, conn = established(LINUX.with_changes(psh_on_tso_frames=False), MSS_500)
    h.inject(".", RCV_NXT, SND_NXT, window=1000)
    conn.send(b"p" * 1500)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 500), (".", SND_NXT + 500, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 1000, window=1000, at=h.now + 10 * MS)
    assert h.tx() == [("P.", SND_NXT + 1000, RCV_NXT, 500)]


def test_a_short_segment_being_resent_is_not_held_by_nagle() -> None:
    h, conn = established()
    conn.send(b"m" * 1460)
    assert h.tx() == [("P.", SND_NXT, RCV_NXT, 1460)]
    # the path MTU drops: the segment goes again in two, the short tail too (Nagle is
    # about new data; Linux's tcp_simple_retransmit resends all that cwnd allows)
    conn.path_mtu_reduced(1200, h.now + 50 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 1160), ("P.", SND_NXT + 1160, RCV_NXT, 300)]


# -- TCP_MAXSEG and SO_RCVBUF before the SYN ------------------------------------------------


def test_a_user_mss_caps_the_mss_we_announce_and_send_with() -> None:
    h = Harness()
    conn = h.stack.connect(
        "198.18.0.1", 9, binding=h.stack.bind(None, 5000), setup=lambda c: c.set_user_mss(1100)
    )
    [syn] = h.out()
    assert syn.options is not None and syn.options.mss == 1100
    h.inject("S.", PEER_ISS, h.iss + 1, options=TcpOptions(mss=1460), sport=9, dport=5000)
    assert conn.snd_mss == 1100  # the lesser of both sides'
    conn.set_user_mss(0)
    assert conn.our_mss == 1460  # 0 lifts the limit


def test_a_receive_buffer_set_before_the_syn_picks_the_least_window_scale() -> None:
    h = Harness()
    conn = h.stack.connect(
        "198.18.0.1", 9, binding=h.stack.bind(None, 5000), setup=lambda c: c.set_rcvbuf(20_000)
    )
    [syn] = h.out()
    assert syn.options is not None and syn.options.wscale == 0
    assert syn.window == 20_000 and conn.rcv_capacity == 20_000
    h = Harness(LINUX.with_changes(rcvbuf_sets_wscale=False, wscale=6))
    h.stack.connect(
        "198.18.0.1", 9, binding=h.stack.bind(None, 5000), setup=lambda c: c.set_rcvbuf(20_000)
    )
    [syn] = h.out()
    assert syn.options is not None and syn.options.wscale == 6  # BSD: from sb_max
