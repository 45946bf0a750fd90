"""Synchronized states: acceptability, RST, SYN and ACK checks (RFC 9293 3.10.7.4, RFC 5961)."""

from __future__ import annotations

import errno

import pytest

from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import TcpOptions

from .harness import MS, PEER_ISS, RCV_NXT, SECOND, SND_NXT, Harness, established_active

ACK_NOW = (".", SND_NXT, RCV_NXT, 0)  # <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>


def small_window(rmem: int = 1000) -> tuple[Harness, Connection]:
    """ESTABLISHED with a ``rmem``-byte receive window (no window scaling)."""
    h = Harness(LINUX.with_changes(rmem=rmem))
    conn = established_active(h)
    return h, conn


# -- the four-case acceptability table ----------------------------------------------


@pytest.mark.parametrize(
    ("seq", "acceptable"),
    [
        (RCV_NXT, True),
        (RCV_NXT + 999, True),  # last sequence number in the window
        (RCV_NXT + 1000, False),  # RCV.NXT + RCV.WND: just outside
        (RCV_NXT - 1, False),
        (RCV_NXT + 100_000, False),
    ],
)
def test_zero_length_segment_open_window(seq: int, acceptable: bool) -> None:
    h, conn = small_window()
    conn.send(b"q" * 100)
    assert h.tx() == [("P.", SND_NXT, RCV_NXT, 100)]
    h.inject(".", seq, SND_NXT + 100)  # acknowledges our 100 bytes if accepted
    if acceptable:
        assert h.tx() == []
        assert conn.snd_una == SND_NXT + 100
        assert h.advance(h.now + 10 * SECOND) == []  # nothing left to retransmit
    else:
        assert h.tx() == [(".", SND_NXT + 100, RCV_NXT, 0)]
        assert conn.snd_una == SND_NXT
        assert ("P.", SND_NXT, RCV_NXT, 100) in h.advance(h.now + 10 * SECOND)


def fill_window(h: Harness, conn: Connection, size: int = 1000) -> int:
    """The peer fills our receive buffer; returns the new RCV.NXT."""
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"f" * size)
    (out,) = h.out()
    assert out.brief == (".", SND_NXT, RCV_NXT + size, 0)
    assert out.window == 0
    return RCV_NXT + size


@pytest.mark.parametrize(("offset", "acceptable"), [(0, True), (1, False), (-1, False)])
def test_zero_length_segment_zero_window(offset: int, acceptable: bool) -> None:
    h, conn = small_window()
    nxt = fill_window(h, conn)
    conn.send(b"q" * 10)
    assert h.tx() == [("P.", SND_NXT, nxt, 10)]
    h.inject(".", nxt + offset, SND_NXT + 10, window=0)
    if acceptable:
        assert h.tx() == []
        assert conn.snd_una == SND_NXT + 10
    else:
        (out,) = h.out()
        assert out.brief == (".", SND_NXT + 10, nxt, 0)
        assert out.window == 0
        assert conn.snd_una == SND_NXT


def test_data_never_acceptable_in_zero_window_but_its_ack_is() -> None:
    h, conn = small_window()
    nxt = fill_window(h, conn)
    conn.send(b"q" * 10)
    h.out()
    h.inject("P.", nxt, SND_NXT + 10, payload=b"overflow")
    (out,) = h.out()
    assert out.brief == (".", SND_NXT + 10, nxt, 0)  # the data is not acknowledged
    assert out.window == 0
    assert conn.snd_una == SND_NXT + 10  # ...but its ACK field was processed
    assert conn.recv(5000) == b"f" * 1000  # and the text was dropped


@pytest.mark.parametrize(
    ("seq", "length", "delivered", "new_nxt"),
    [
        (RCV_NXT, 100, 100, RCV_NXT + 100),  # entirely inside
        (RCV_NXT - 50, 100, 50, RCV_NXT + 50),  # starts before, ends inside: trimmed
        (RCV_NXT, 1500, 1000, RCV_NXT + 1000),  # starts inside, ends beyond: trimmed
        (RCV_NXT - 50, 1100, 1000, RCV_NXT + 1000),  # straddles the whole window: its middle
    ],
)
def test_data_segment_with_a_byte_in_the_window_is_accepted(
    seq: int, length: int, delivered: int, new_nxt: int
) -> None:
    h, conn = small_window()
    payload = bytes(range(256)) * 6
    payload = payload[:length]
    h.inject("P.", seq, SND_NXT, payload=payload)
    assert h.tx() == [(".", SND_NXT, new_nxt, 0)]
    start = RCV_NXT - seq
    assert conn.recv(5000) == payload[start : start + delivered]


@pytest.mark.parametrize("seq", [RCV_NXT + 1000, RCV_NXT + 5000, RCV_NXT - 100, RCV_NXT - 200])
def test_data_segment_wholly_outside_the_window_gets_an_ack(seq: int) -> None:
    h, conn = small_window()
    h.inject("P.", seq, SND_NXT, payload=b"z" * 100)
    assert h.tx() == [ACK_NOW]
    assert conn.recv(5000) == b""
    assert conn.readable_bytes() == 0


def test_unacceptable_segment_with_rst_gets_no_ack() -> None:
    h, conn = small_window()
    h.inject("R", RCV_NXT + 5000)
    h.inject("R.", RCV_NXT - 1, SND_NXT)
    assert h.tx() == []
    assert conn.state is State.ESTABLISHED


def test_duplicate_data_is_acked_and_counted() -> None:
    h, conn = small_window()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"a" * 100)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 100, 0)]
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"a" * 100)  # our ACK was lost
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 100, 0)]
    assert conn.recv(5000) == b"a" * 100  # delivered once
    assert h.stack.snapshot_counters()["TcpExtDelayedACKLost"] == 1


# -- RST (RFC 5961 section 3) -------------------------------------------------------


@pytest.mark.parametrize("flags", ["R", "R."])
def test_rst_exactly_at_rcv_nxt_resets(flags: str) -> None:
    h, conn = small_window()
    h.inject(flags, RCV_NXT, SND_NXT)
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert h.conn() is None
    with pytest.raises(ConnectionResetError) as info:
        conn.recv(10)
    assert info.value.errno == errno.ECONNRESET
    with pytest.raises(BrokenPipeError):
        conn.send(b"x")
    counters = h.stack.snapshot_counters()
    assert counters["TcpEstabResets"] == 1
    assert counters["TcpCurrEstab"] == 0
    assert h.stack.next_deadline() is None


@pytest.mark.parametrize("offset", [1, 500, 999])
def test_rst_in_window_but_not_exact_gets_challenge_ack(offset: int) -> None:
    h, conn = small_window()
    h.inject("R", RCV_NXT + offset)
    assert h.tx() == [ACK_NOW]
    assert conn.state is State.ESTABLISHED
    assert conn.error is None
    assert h.stack.snapshot_counters()["TcpExtTCPChallengeACK"] == 1
    # the real peer answers the challenge with an exact RST
    h.inject("R", RCV_NXT)
    assert conn.state is State.CLOSED


def test_rst_after_data_must_match_the_new_rcv_nxt() -> None:
    h, conn = small_window()
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"d" * 10)
    h.out()
    h.inject("R", RCV_NXT)  # the old RCV.NXT: in window? no, below it
    assert h.tx() == []
    assert conn.state is State.ESTABLISHED
    h.inject("R", RCV_NXT + 10)
    assert conn.state is State.CLOSED


# -- SYN in a synchronized state (RFC 5961 section 4) -----------------------------------


@pytest.mark.parametrize("seq", [RCV_NXT, RCV_NXT + 10, PEER_ISS, RCV_NXT + 50_000])
@pytest.mark.parametrize("flags", ["S", "S."])
def test_syn_in_established_gets_challenge_ack(seq: int, flags: str) -> None:
    h, conn = small_window()
    h.inject(flags, seq, SND_NXT)
    assert h.tx() == [ACK_NOW]
    assert conn.state is State.ESTABLISHED
    assert conn.error is None
    # RFC 5961 4.2: "irrespective of the sequence number", so always counted as one
    assert h.stack.snapshot_counters()["TcpExtTCPSYNChallenge"] == 1


# -- FreeBSD's insecure_rst, insecure_syn and drop_synfin switches ------------------------


def insecure(**switches: bool) -> tuple[Harness, Connection]:
    h = Harness(LINUX.with_changes(rmem=1000, **switches))
    return h, established_active(h)


@pytest.mark.parametrize("offset", [1, 999])
def test_insecure_rst_resets_on_any_rst_in_the_window(offset: int) -> None:
    h, conn = insecure(insecure_rst=True)
    h.inject("R", RCV_NXT + offset)
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert isinstance(conn.error, ConnectionResetError)


def test_insecure_rst_still_ignores_a_rst_outside_the_window() -> None:
    h, conn = insecure(insecure_rst=True)
    h.inject("R", RCV_NXT + 1000)
    assert h.tx() == []
    assert conn.state is State.ESTABLISHED


@pytest.mark.parametrize("seq", [RCV_NXT, RCV_NXT + 999])
def test_insecure_syn_resets_on_a_syn_in_the_window(seq: int) -> None:
    h, conn = insecure(insecure_syn=True)
    h.inject("S", seq)
    assert h.tx() == [("R.", SND_NXT, RCV_NXT, 0)]
    assert conn.state is State.CLOSED
    assert conn.error is not None and conn.error.errno == errno.ECONNRESET


@pytest.mark.parametrize("seq", [RCV_NXT - 1, RCV_NXT + 1000])
def test_insecure_syn_still_challenges_a_syn_outside_the_window(seq: int) -> None:
    h, conn = insecure(insecure_syn=True)
    h.inject("S", seq)
    assert h.tx() == [ACK_NOW]
    assert conn.state is State.ESTABLISHED


def test_drop_synfin_drops_a_syn_fin_unanswered() -> None:
    h, conn = insecure(drop_synfin=True)
    h.inject("SF", RCV_NXT, SND_NXT)
    assert h.tx() == []
    assert conn.state is State.ESTABLISHED
    h2 = Harness(LINUX.with_changes(drop_synfin=True))
    syn_sent = h2.connect()
    h2.out()
    h2.inject("SF", PEER_ISS, options=TcpOptions(mss=1460))
    assert h2.tx() == []
    assert syn_sent.state is State.SYN_SENT


def test_without_drop_synfin_a_syn_fin_is_answered() -> None:
    h, conn = insecure()
    h.inject("SF", RCV_NXT, SND_NXT)
    assert h.tx() == [ACK_NOW]
    assert conn.state is State.ESTABLISHED


# -- the ACK field ----------------------------------------------------------------------


def test_segment_without_ack_bit_is_dropped() -> None:
    h, conn = small_window()
    h.inject("P", RCV_NXT, payload=b"no ack bit")
    assert h.tx() == []
    assert conn.readable_bytes() == 0


def test_ack_of_unsent_data_gets_an_ack_and_the_segment_is_dropped() -> None:
    h, conn = small_window()
    h.inject("P.", RCV_NXT, SND_NXT + 1, payload=b"hello")
    assert h.tx() == [ACK_NOW]
    assert conn.readable_bytes() == 0


def test_too_old_ack_gets_challenge_ack_and_is_dropped() -> None:
    h, conn = small_window()  # MAX.SND.WND is the peer's 65535
    h.inject("P.", RCV_NXT, SND_NXT - 65536, payload=b"hello")
    assert h.tx() == [ACK_NOW]
    assert conn.readable_bytes() == 0
    assert h.stack.snapshot_counters()["TcpExtTCPChallengeACK"] == 1


def test_old_ack_within_max_snd_wnd_is_accepted() -> None:
    h, conn = small_window()
    h.inject("P.", RCV_NXT, SND_NXT - 65535, payload=b"hello")
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 5, 0)]
    assert conn.recv(10) == b"hello"


# -- window updates (SND.WL1 / SND.WL2) ---------------------------------------------------

PEER_MSS_500 = TcpOptions(mss=500)


def test_newer_segment_updates_the_send_window() -> None:
    h = Harness()
    conn = established_active(h, PEER_MSS_500)
    conn.nodelay = True
    h.inject(".", RCV_NXT, SND_NXT, window=2000)
    assert h.tx() == []
    conn.send(b"w" * 10_000)
    assert [s[3] for s in h.tx()] == [500] * 4


def test_older_segment_does_not_update_the_send_window() -> None:
    h = Harness()
    conn = established_active(h, PEER_MSS_500)
    conn.nodelay = True
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"1" * 100, window=2000)
    h.inject("P.", RCV_NXT + 100, SND_NXT, payload=b"2" * 100, window=3000)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 100, 0), (".", SND_NXT, RCV_NXT + 200, 0)]
    # a stale copy of the first segment (SEG.SEQ < SND.WL1) with a tiny window
    h.inject("P.", RCV_NXT, SND_NXT, payload=b"1" * 100, window=500)
    assert h.tx() == [(".", SND_NXT, RCV_NXT + 200, 0)]
    conn.send(b"w" * 10_000)
    assert [s[3] for s in h.tx()] == [500] * 6  # still the 3000-byte window


def test_same_seq_older_ack_does_not_update_the_send_window() -> None:
    h = Harness()
    conn = established_active(h, PEER_MSS_500)
    conn.nodelay = True
    conn.send(b"a" * 1000)
    assert [s[3] for s in h.tx()] == [500, 500]
    h.inject(".", RCV_NXT, SND_NXT + 1000, window=1500)
    # reordered: an older ACK (SEG.ACK < SND.WL2) with the same SEG.SEQ and a large window
    h.inject(".", RCV_NXT, SND_NXT + 500, window=5000)
    assert h.tx() == []
    conn.send(b"b" * 10_000)
    assert [s[3] for s in h.tx()] == [500] * 3


def test_pure_window_update_with_same_seq_and_ack_reopens_the_window() -> None:
    h = Harness()
    conn = established_active(h, PEER_MSS_500)
    conn.nodelay = True
    conn.send(b"a" * 500)
    h.out()
    h.inject(".", RCV_NXT, SND_NXT + 500, window=0)
    conn.send(b"b" * 2000)
    assert h.tx() == []
    h.inject(".", RCV_NXT, SND_NXT + 500, window=1000, at=h.now + 10 * MS)
    assert h.tx() == [(".", SND_NXT + 500, RCV_NXT, 500), ("P.", SND_NXT + 1000, RCV_NXT, 500)]
