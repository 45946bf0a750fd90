"""Timers: SYN and SYN,ACK retries, data retransmission, Karn, fast retransmit, keepalive,
TCP_USER_TIMEOUT."""

from __future__ import annotations

import errno

import pytest

from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import TcpOptions

from .harness import (
    ISS,
    LPORT,
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

# -- SYN and SYN,ACK -----------------------------------------------------------------------


def test_syn_retransmitted_with_backoff_then_etimedout() -> None:
    h = Harness()
    conn = h.connect()
    assert h.tx() == [("S", ISS, 0, 0)]
    syn = ("S", ISS, 0, 0)
    assert h.run_until(127 * SECOND - 1) == [(s * SECOND, syn) for s in (1, 3, 7, 15, 31, 63)]
    assert conn.state is State.SYN_SENT
    assert h.run_until(127 * SECOND) == []  # gives up without a RST
    assert conn.state is State.CLOSED
    with pytest.raises(TimeoutError) as info:
        conn.recv(1)
    assert info.value.errno == errno.ETIMEDOUT
    assert h.stack.next_deadline() is None
    counters = h.stack.snapshot_counters()
    assert counters["TcpRetransSegs"] == 6
    assert counters["TcpOutSegs"] == 1  # retransmissions are not counted again
    assert counters["TcpAttemptFails"] == 1
    assert counters["TcpExtTCPAbortOnTimeout"] == 1


def test_retransmitted_syn_keeps_its_options() -> None:
    h = Harness()
    h.connect()
    (first,) = h.out()
    h.stack.advance(1 * SECOND)
    (again,) = h.out()
    assert again.brief == first.brief
    assert again.options is not None and first.options is not None
    assert again.options.mss == first.options.mss == 1460
    assert again.options.wscale == first.options.wscale
    assert again.options.timestamp is not None


def test_syn_retries_is_configurable() -> None:
    h = Harness(LINUX.with_changes(syn_retries=2))
    conn = h.connect()
    h.out()
    assert [t for t, _ in h.run_until(60 * SECOND)] == [1 * SECOND, 3 * SECOND]
    assert conn.state is State.CLOSED
    assert isinstance(conn.error, TimeoutError)


def test_syn_ack_retransmitted_synack_retries_times() -> None:
    h = Harness()
    listener = h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460))
    synack = ("S.", ISS, PEER_ISS + 1, 0)
    assert h.tx() == [synack]
    assert h.run_until(63 * SECOND - 1) == [(s * SECOND, synack) for s in (1, 3, 7, 15, 31)]
    assert h.state() is State.SYN_RCVD
    assert h.run_until(100 * SECOND) == []  # the half-open connection is dropped quietly
    assert h.conn() is None
    assert listener.state is State.LISTEN
    assert h.stack.snapshot_counters()["TcpRetransSegs"] == 5
    # the peer's late ACK now matches nothing but the listener: RST
    h.inject(".", PEER_ISS + 1, ISS + 1)
    assert h.tx() == [("R", ISS + 1, 0, 0)]
    assert listener.accept() is None


def test_retransmitted_syn_ack_keeps_the_negotiated_options() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460, wscale=5))
    h.out()
    h.stack.advance(1 * SECOND)
    (out,) = h.out()
    assert out.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert out.options is not None
    assert (out.options.mss, out.options.wscale, out.options.timestamp) == (1460, 2, None)


def test_synack_retries_is_configurable() -> None:
    h = Harness(LINUX.with_changes(synack_retries=1))
    h.listen()
    h.inject("S", PEER_ISS)
    h.out()
    assert [t for t, _ in h.run_until(60 * SECOND)] == [1 * SECOND]
    assert h.conn() is None


# -- data retransmission ------------------------------------------------------------------


def test_data_retransmitted_with_backoff_then_dropped_after_retries2() -> None:
    h, conn = established(LINUX.with_changes(retries2=3))
    t0 = h.now
    conn.send(b"r" * 100)
    data = ("P.", SND_NXT, RCV_NXT, 100)
    assert h.tx() == [data]
    assert h.run_until(t0 + 4500 * MS - 1) == [
        (t0 + 300 * MS, data),
        (t0 + 900 * MS, data),
        (t0 + 2100 * MS, data),
    ]
    assert conn.state is State.ESTABLISHED
    assert h.run_until(t0 + 4500 * MS) == []  # no RST: the peer is unreachable anyway
    assert conn.state is State.CLOSED
    with pytest.raises(TimeoutError) as info:
        conn.recv(1)
    assert info.value.errno == errno.ETIMEDOUT
    counters = h.stack.snapshot_counters()
    assert counters["TcpRetransSegs"] == 3
    assert counters["TcpEstabResets"] == 1
    assert counters["TcpExtTCPAbortOnTimeout"] == 1


def test_default_retries2_backs_off_to_rto_max() -> None:
    h, conn = established()
    t0 = h.now
    conn.send(b"r" * 100)
    h.out()
    times = [t for t, _ in h.run_until(t0 + 3600 * SECOND)]
    assert conn.state is State.CLOSED
    # 15 retransmissions, then the give-up timer
    gaps = [b - a for a, b in zip([t0, *times], times, strict=False)]
    assert len(times) == 15
    assert gaps[:9] == [300 * MS << k for k in range(9)]  # 0.3 s doubling up to 76.8 s
    assert gaps[9:] == [120 * SECOND] * 6  # capped at rto_max


def test_ack_during_backoff_stops_retransmission() -> None:
    h, conn = established()
    t0 = h.now
    conn.send(b"r" * 100)
    h.out()
    h.advance(t0 + 300 * MS)
    h.inject(".", RCV_NXT, SND_NXT + 100, at=t0 + 400 * MS)
    assert h.advance(t0 + 60 * SECOND) == []
    assert conn.state is State.ESTABLISHED


def test_timeout_goes_back_to_snd_una_and_resends_in_order() -> None:
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    t0 = h.now
    conn.send(b"g" * 1500)
    assert [s[1] for s in h.tx()] == [SND_NXT, SND_NXT + 500, SND_NXT + 1000]
    # cwnd falls to one segment: the first goes again, the rest follow as ACKs arrive
    assert h.advance(t0 + 300 * MS) == [(".", SND_NXT, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 500, at=t0 + 400 * MS)
    assert h.tx() == [(".", SND_NXT + 500, RCV_NXT, 500), ("P.", SND_NXT + 1000, RCV_NXT, 500)]


def test_rto_follows_the_measured_rtt() -> None:
    h = Harness()
    conn = established_active(h, rtt=1 * SECOND)  # SRTT 1 s, RTTVAR 0.5 s: RTO 3 s
    t0 = h.now
    conn.send(b"x")
    h.out()
    assert h.run_until(t0 + 3 * SECOND) == [(t0 + 3 * SECOND, ("P.", SND_NXT, RCV_NXT, 1))]


def test_karn_no_rtt_sample_from_a_retransmitted_segment() -> None:
    h, conn = established()  # RTO 300 ms
    t0 = h.now
    conn.send(b"k" * 100)
    h.out()
    assert h.advance(t0 + 300 * MS) == [("P.", SND_NXT, RCV_NXT, 100)]  # RTO backs off to 600
    # this ACK may be for either copy: it must not be timed (310 ms would give RTO 486 ms)
    h.inject(".", RCV_NXT, SND_NXT + 100, at=t0 + 310 * MS)
    t1 = t0 + 400 * MS
    h.advance(t1)
    conn.send(b"n" * 10)
    assert h.tx() == [("P.", SND_NXT + 100, RCV_NXT, 10)]
    sent = h.run_until(t1 + 2 * SECOND)
    # RFC 6298 section 5 (and Linux): the backed-off RTO stays until a valid sample
    assert sent[0] == (t1 + 600 * MS, ("P.", SND_NXT + 100, RCV_NXT, 10))


def test_fresh_sample_after_karn_collapses_the_backoff() -> None:
    h, conn = established()
    t0 = h.now
    conn.send(b"k" * 100)
    h.out()
    h.advance(t0 + 300 * MS)
    h.inject(".", RCV_NXT, SND_NXT + 100, at=t0 + 310 * MS)
    t1 = t0 + 400 * MS
    h.advance(t1)
    conn.send(b"n" * 10)
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 110, at=t1 + 100 * MS)  # a clean 100 ms sample
    t2 = t1 + 200 * MS
    h.advance(t2)
    conn.send(b"m")
    h.out()
    # SRTT 100 ms, RTTVAR 37.5 ms: 250 ms, no longer backed off
    assert h.run_until(t2 + 1 * SECOND)[0] == (t2 + 250 * MS, ("P.", SND_NXT + 110, RCV_NXT, 1))


def test_handshake_with_retransmitted_syn_starts_data_with_3s_rto() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.advance(1 * SECOND)  # the SYN goes again: no RTT sample from the handshake
    h.inject("S.", PEER_ISS, ISS + 1, options=TcpOptions(mss=1460), at=1100 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 0)]
    conn.send(b"x")
    h.out()
    # RFC 6298 (5.7), Linux TCP_TIMEOUT_FALLBACK: 3 s
    assert h.run_until(10 * SECOND)[0] == (1100 * MS + 3 * SECOND, ("P.", SND_NXT, RCV_NXT, 1))


# -- fast retransmit ---------------------------------------------------------------------


def six_in_flight() -> tuple[Harness, Connection]:
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    conn.send(b"f" * 3000)
    assert len(h.tx()) == 6
    h.inject(".", RCV_NXT, SND_NXT + 500, at=h.now + 100 * MS)  # the 1st arrived, the 2nd not
    assert h.tx() == []
    return h, conn


def test_fast_retransmit_on_the_third_duplicate_ack() -> None:
    h, _conn = six_in_flight()
    h.inject(".", RCV_NXT, SND_NXT + 500)
    assert h.tx() == []
    h.inject(".", RCV_NXT, SND_NXT + 500)
    assert h.tx() == []
    h.inject(".", RCV_NXT, SND_NXT + 500)
    assert h.tx() == [(".", SND_NXT + 500, RCV_NXT, 500)]
    counters = h.stack.snapshot_counters()
    assert counters["TcpExtTCPFastRetrans"] == 1
    assert counters["TcpRetransSegs"] == 1
    # the repair arrives: everything is acknowledged, nothing else is resent
    h.inject(".", RCV_NXT, SND_NXT + 3000, at=h.now + 100 * MS)
    assert h.tx() == []
    assert h.advance(h.now + 60 * SECOND) == []


def test_acks_that_update_the_window_are_not_duplicates() -> None:
    h, _conn = six_in_flight()
    for window in (60000, 61000, 62000):
        h.inject(".", RCV_NXT, SND_NXT + 500, window=window)
    assert h.tx() == []


def test_acks_carrying_data_are_not_duplicates() -> None:
    h, _conn = six_in_flight()
    for i in range(3):
        h.inject("P.", RCV_NXT + i, SND_NXT + 500, payload=b"d")
    assert all(s[3] == 0 for s in h.tx())  # only our ACKs of the peer's data


def test_fast_retransmit_again_after_a_completed_recovery() -> None:
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    conn.send(b"f" * 5000)
    assert len(h.tx()) == 10  # the initial window
    for _ in range(4):  # the 1st arrived, the 2nd was lost; three duplicates
        h.inject(".", RCV_NXT, SND_NXT + 500, at=h.now + 10 * MS)
    assert h.tx() == [(".", SND_NXT + 500, RCV_NXT, 500)]
    h.inject(".", RCV_NXT, SND_NXT + 5000, at=h.now + 100 * MS)  # recovery complete
    assert h.tx() == []
    conn.send(b"g" * 2000)  # cwnd = ssthresh = 4500 / 2: four segments
    assert [s[1] for s in h.tx()] == [SND_NXT + 5000 + 500 * i for i in range(4)]
    # the first of them is lost: SEG.ACK = recover, which RFC 6582 lets start a new recovery
    for _ in range(3):
        h.inject(".", RCV_NXT, SND_NXT + 5000, at=h.now + 10 * MS)
    assert h.tx() == [(".", SND_NXT + 5000, RCV_NXT, 500)]
    assert h.stack.snapshot_counters()["TcpExtTCPFastRetrans"] == 2


# -- keepalive ------------------------------------------------------------------------------


def test_keepalive_is_off_by_default() -> None:
    h, conn = established()
    assert h.advance(h.now + 3 * 3600 * SECOND) == []
    assert conn.state is State.ESTABLISHED
    assert h.stack.next_deadline() is None


def test_keepalive_probes_then_drops_after_count() -> None:
    h, conn = established()
    conn.set_keepalive(True)
    t0 = h.now  # the SYN,ACK was the last segment received
    probe = (".", SND_NXT - 1, RCV_NXT, 0)
    expected = [(t0 + 7200 * SECOND + k * 75 * SECOND, probe) for k in range(9)]
    assert h.run_until(t0 + 7875 * SECOND - 1) == expected
    assert conn.state is State.ESTABLISHED
    sent = h.run_until(t0 + 7875 * SECOND)
    assert conn.state is State.CLOSED
    assert sent == [(t0 + 7875 * SECOND, ("R.", SND_NXT, RCV_NXT, 0))]  # Linux resets
    with pytest.raises(TimeoutError) as info:
        conn.recv(1)
    assert info.value.errno == errno.ETIMEDOUT
    assert h.stack.snapshot_counters()["TcpExtTCPKeepAliveDrops"] == 1


def test_keepalive_answer_resets_the_probes() -> None:
    h, conn = established()
    conn.set_keepalive(True, idle_s=10, interval_s=5, count=3)
    t0 = h.now
    probe = (".", SND_NXT - 1, RCV_NXT, 0)
    assert h.run_until(t0 + 20 * SECOND) == [
        (t0 + 10 * SECOND, probe),
        (t0 + 15 * SECOND, probe),
        (t0 + 20 * SECOND, probe),
    ]
    h.inject(".", RCV_NXT, SND_NXT, at=t0 + 21 * SECOND)  # the peer is alive
    assert h.tx() == []
    t1 = h.now
    # idle counts again from the answer; a full count of probes before giving up
    assert h.run_until(t1 + 25 * SECOND - 1) == [
        (t1 + 10 * SECOND, probe),
        (t1 + 15 * SECOND, probe),
        (t1 + 20 * SECOND, probe),
    ]
    assert conn.state is State.ESTABLISHED
    h.run_until(t1 + 25 * SECOND)
    assert conn.state is State.CLOSED


def test_keepalive_idle_time_counts_from_the_last_segment_received() -> None:
    h, conn = established()
    conn.set_keepalive(True, idle_s=10, interval_s=5, count=3)
    t0 = h.now
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"x", at=t0 + 8 * SECOND)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 1, 0)]
    assert h.run_until(t0 + 18 * SECOND - 1) == []
    assert h.run_until(t0 + 18 * SECOND) == [(t0 + 18 * SECOND, (".", SND_NXT - 1, RCV_NXT + 1, 0))]


def test_keepalive_turned_off_stops_probing() -> None:
    h, conn = established()
    conn.set_keepalive(True, idle_s=10, interval_s=5, count=3)
    t0 = h.now
    h.advance(t0 + 10 * SECOND)
    conn.set_keepalive(False)
    assert h.advance(t0 + 3600 * SECOND) == []
    assert conn.state is State.ESTABLISHED


# -- TCP_USER_TIMEOUT ----------------------------------------------------------------------


def test_user_timeout_drops_when_data_stays_unacked() -> None:
    h, conn = established()
    conn.user_timeout_us = 5 * SECOND
    t0 = h.now
    conn.send(b"u" * 10)
    h.out()
    data = ("P.", SND_NXT, RCV_NXT, 10)
    # retransmissions at 0.3, 0.9, 2.1, 4.5 s; the timer is clamped to the user timeout
    assert h.run_until(t0 + 5 * SECOND - 1) == [
        (t0 + 300 * MS, data),
        (t0 + 900 * MS, data),
        (t0 + 2100 * MS, data),
        (t0 + 4500 * MS, data),
    ]
    assert conn.state is State.ESTABLISHED
    assert h.run_until(t0 + 5 * SECOND) == []
    assert conn.state is State.CLOSED
    with pytest.raises(TimeoutError) as info:
        conn.recv(1)
    assert info.value.errno == errno.ETIMEDOUT


def test_user_timeout_counts_from_the_last_progress() -> None:
    h, conn = established(options=MSS_500)
    conn.nodelay = True
    conn.user_timeout_us = 2 * SECOND
    t0 = h.now
    conn.send(b"u" * 1000)
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 500, at=t0 + 1500 * MS)  # progress after 1.5 s
    h.run_until(t0 + 3 * SECOND)
    assert conn.state is State.ESTABLISHED
    h.run_until(t0 + 3500 * MS)
    assert conn.state is State.CLOSED


def test_without_user_timeout_the_connection_outlives_it() -> None:
    h, conn = established()
    t0 = h.now
    conn.send(b"u" * 10)
    h.out()
    h.run_until(t0 + 60 * SECOND)
    assert conn.state is State.ESTABLISHED


# -- counters --------------------------------------------------------------------------------


def test_segment_counters_for_a_short_exchange() -> None:
    h, conn = established()  # in: SYN,ACK; out: SYN, ACK
    conn.send(b"ping")
    h.out()
    h.inject("P.", RCV_NXT, SND_NXT + 4, payload=b"pong")
    h.out()
    conn.abort()
    h.out()
    c = h.stack.snapshot_counters()
    assert (c["TcpInSegs"], c["TcpOutSegs"], c["TcpOutRsts"]) == (2, 5, 1)
    assert (c["TcpActiveOpens"], c["TcpPassiveOpens"], c["TcpAttemptFails"]) == (1, 0, 0)
    assert (c["TcpEstabResets"], c["TcpCurrEstab"], c["TcpRetransSegs"]) == (1, 0, 0)
    assert (c["TcpInErrs"], c["TcpInCsumErrors"]) == (0, 0)


def test_bad_checksum_is_counted_and_dropped() -> None:
    h, conn = established()
    packet = bytearray(h.packet("P.", RCV_NXT, SND_NXT, payload=b"corrupt"))
    packet[-1] ^= 0x01
    before = h.stack.snapshot_counters()["TcpInSegs"]
    h.stack.receive(bytes(packet), h.now)
    assert h.tx() == []
    assert conn.readable_bytes() == 0
    c = h.stack.snapshot_counters()
    assert (c["TcpInErrs"], c["TcpInCsumErrors"]) == (1, 1)
    assert c["TcpInSegs"] == before + 1  # RFC 4022 / Linux: received in error still counts
    # the good copy is taken
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"corrupt")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 7, 0)]


def test_curr_estab_counts_established_and_close_wait() -> None:
    h = Harness()
    listener = h.listen()
    for i in range(3):
        h.inject("S", PEER_ISS, sport=41000 + i)
        h.inject(".", PEER_ISS + 1, ISS + 1, sport=41000 + i)
    h.out()
    assert h.stack.snapshot_counters()["TcpCurrEstab"] == 3
    assert h.stack.snapshot_counters()["TcpPassiveOpens"] == 3
    h.inject("F.", PEER_ISS + 1, ISS + 1, sport=41000)  # CLOSE_WAIT still counts
    h.inject("R", PEER_ISS + 1, sport=41001)
    assert h.stack.snapshot_counters()["TcpCurrEstab"] == 2
    assert h.stack.snapshot_counters()["TcpEstabResets"] == 1
    assert listener.port == LPORT
