"""PAWS (RFC 7323 section 5) and the TS.Recent update rule (section 4.3)."""

from __future__ import annotations

import pytest

from synack.tcp.connection import Connection
from synack.wire import TcpOptions

from .harness import MS, RCV_NXT, SECOND, SND_NXT, Harness, established_active

PEER_TS = 1_000_000


def stamped(tsval: int) -> TcpOptions:
    return TcpOptions(timestamp=(tsval, 0))


def connected() -> tuple[Harness, Connection]:
    h = Harness()
    conn = established_active(h, TcpOptions(mss=1460, timestamp=(PEER_TS, 0)))
    assert conn.ts_ok and conn.ts_recent == PEER_TS
    return h, conn


def test_a_segment_stamped_before_ts_recent_is_dropped_and_acked() -> None:
    h, conn = connected()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"old", options=stamped(PEER_TS - 100))
    out = h.out()
    assert [o.brief for o in out] == [(".", SND_NXT, RCV_NXT, 0)]  # an ACK, data not taken
    assert out[0].options is not None and out[0].options.timestamp is not None
    assert out[0].options.timestamp[1] == PEER_TS  # TS.Recent stays
    assert conn.readable_bytes() == 0
    assert conn.rcv_nxt == RCV_NXT
    assert h.stack.snapshot_counters().get("TcpExtPAWSEstabRejected", 0) == 1


def test_the_same_segment_with_a_current_stamp_is_taken() -> None:
    h, conn = connected()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"new", options=stamped(PEER_TS + 5))
    assert conn.recv(10) == b"new"
    assert conn.ts_recent == PEER_TS + 5
    assert h.stack.snapshot_counters().get("TcpExtPAWSEstabRejected", 0) == 0


def test_a_stamp_one_tick_old_is_still_taken_as_linux_does() -> None:
    h, conn = connected()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"ok", options=stamped(PEER_TS - 1))
    assert conn.recv(10) == b"ok"
    assert conn.ts_recent == PEER_TS  # never moves back


def test_an_old_ack_on_the_fast_path_does_not_move_ts_recent_back() -> None:
    h, conn = connected()
    conn.send(b"x" * 100)
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 100, options=stamped(PEER_TS - 50))
    assert conn.snd_una == SND_NXT  # dropped: the ACK is not believed
    assert conn.ts_recent == PEER_TS
    h.inject(".", RCV_NXT, SND_NXT + 100, options=stamped(PEER_TS + 50))
    assert conn.snd_una == SND_NXT + 100
    assert conn.ts_recent == PEER_TS + 50


def test_a_reset_is_not_subject_to_paws() -> None:
    h, conn = connected()
    h.inject("R.", RCV_NXT, SND_NXT, options=stamped(PEER_TS - 100))
    assert conn.closed
    assert isinstance(conn.error, ConnectionResetError)


def test_after_24_days_of_silence_ts_recent_is_stale_and_the_segment_is_taken() -> None:
    h, conn = connected()
    h.now += 25 * 24 * 3600 * SECOND
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"hi", options=stamped(7))
    assert conn.recv(10) == b"hi"
    assert conn.ts_recent == 7
    assert h.stack.snapshot_counters().get("TcpExtPAWSEstabRejected", 0) == 0


@pytest.mark.parametrize("jump", [2, 12345, (1 << 31) - 1])
def test_timestamps_jumping_backwards_never_crash_nor_corrupt(jump: int) -> None:
    # Before each genuine segment, an impostor at the same sequence number with a stamp
    # ``jump`` ticks before TS.Recent: it must be dropped, counted, and leave no trace.
    h, conn = connected()
    taken = b""
    stamp = PEER_TS + 10
    for i in range(20):
        seq = RCV_NXT + len(taken)
        impostor = (conn.ts_recent - jump) & 0xFFFFFFFF
        h.inject("P.", seq, SND_NXT, payload=b"?" * 10, options=stamped(impostor))
        payload = bytes([65 + i]) * 10
        h.inject("P.", seq, SND_NXT, payload=payload, options=stamped(stamp), at=h.now + MS)
        h.out()
        taken += payload
        stamp += 10
    assert conn.recv(1000) == taken
    assert h.stack.snapshot_counters().get("TcpExtPAWSEstabRejected", 0) == 20
    assert not conn.closed
