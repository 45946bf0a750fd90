"""RFC 7323 section 3.2: a segment without a timestamp once timestamps are negotiated."""

from __future__ import annotations

from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import TcpOptions

from .harness import RCV_NXT, SND_NXT, Harness, established_active

PEER_TS = 7000


def connected(tolerate: bool) -> tuple[Harness, Connection]:
    h = Harness(LINUX.with_changes(tolerate_missing_ts=tolerate))
    conn = established_active(h, TcpOptions(mss=1460, timestamp=(PEER_TS, 0)))
    assert conn.ts_ok
    return h, conn


def test_linux_takes_data_without_a_timestamp() -> None:
    assert LINUX.tolerate_missing_ts
    h, conn = connected(tolerate=True)
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"bare")
    assert conn.recv(10) == b"bare"


def test_strict_drops_data_and_acks_without_a_timestamp_silently() -> None:
    h, conn = connected(tolerate=False)
    conn.send(b"x" * 100)
    h.out()
    h.inject("P.", RCV_NXT, SND_NXT + 100, payload=b"bare")
    assert h.tx() == []  # nothing answers a dropped segment
    assert conn.readable_bytes() == 0 and conn.snd_una == SND_NXT  # neither data nor ACK
    assert h.stack.snapshot_counters()["SynackMissingTimestampDrops"] == 1
    stamped = TcpOptions(timestamp=(PEER_TS + 1, 0))
    h.inject("P.", RCV_NXT, SND_NXT + 100, payload=b"ok", options=stamped)
    assert conn.recv(10) == b"ok" and conn.snd_una == SND_NXT + 100


def test_strict_still_takes_a_rst_without_a_timestamp() -> None:
    h, conn = connected(tolerate=False)
    h.inject("R", RCV_NXT)
    assert conn.state is State.CLOSED


def test_strict_changes_nothing_without_negotiated_timestamps() -> None:
    h = Harness(LINUX.with_changes(tolerate_missing_ts=False))
    conn = established_active(h, TcpOptions(mss=1460))
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"bare")
    assert conn.recv(10) == b"bare"


def test_strict_drops_in_order_data_without_a_timestamp_on_the_fast_path_too() -> None:
    # In-order data with nothing else going on is what header prediction takes.
    h, conn = connected(tolerate=False)
    stamped = TcpOptions(timestamp=(PEER_TS + 1, 0))
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"first", options=stamped)
    assert conn.recv(10) == b"first"
    h.out()
    h.inject("P.", RCV_NXT + 5, SND_NXT, payload=b"bare")
    assert conn.readable_bytes() == 0
    assert h.stack.snapshot_counters()["SynackMissingTimestampDrops"] == 1
