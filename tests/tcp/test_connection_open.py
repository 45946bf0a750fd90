"""Segment arrival in CLOSED, LISTEN, SYN-SENT and SYN-RECEIVED (RFC 9293 3.10.7.1-3.10.7.4)."""

from __future__ import annotations

import errno

import pytest

from synack.tcp.config import LINUX
from synack.tcp.state import State
from synack.wire import MSS, NOP, SACK_PERMITTED, TIMESTAMP, WSCALE, TcpOptions
from synack.wire.tcp import encode_options

from .harness import (
    ISS,
    LPORT,
    PEER_ISS,
    PPORT,
    Harness,
    established_active,
    established_passive,
)

ACK_CHALLENGE = (".", ISS + 1, PEER_ISS + 1, 0)
FULL_SYN_OPTIONS = TcpOptions(mss=1400, wscale=7, sack_permitted=True, timestamp=(12345, 0))


# -- CLOSED: nothing listens on the port ---------------------------------------------


@pytest.mark.parametrize(
    ("flags", "payload", "expected_ack"),
    [
        ("S", b"", PEER_ISS + 1),
        ("P", b"0123456789", PEER_ISS + 10),
        ("F", b"", PEER_ISS + 1),
        ("SF", b"abc", PEER_ISS + 5),
        ("", b"", PEER_ISS),
    ],
)
def test_closed_no_ack_gets_rst_ack_for_seq_plus_len(
    flags: str, payload: bytes, expected_ack: int
) -> None:
    h = Harness()
    h.inject(flags, PEER_ISS, payload=payload)
    (out,) = h.out()
    assert out.brief == ("R.", 0, expected_ack, 0)
    assert (out.sport, out.dport) == (LPORT, PPORT)
    assert out.window == 0
    assert h.stack.snapshot_counters()["TcpOutRsts"] == 1


@pytest.mark.parametrize("flags", [".", "P.", "F.", "S."])
def test_closed_ack_gets_rst_with_seq_of_the_ack(flags: str) -> None:
    h = Harness()
    h.inject(flags, PEER_ISS, 777_777, payload=b"data" if "P" in flags else b"")
    assert h.tx() == [("R", 777_777, 0, 0)]


@pytest.mark.parametrize("flags", ["R", "R."])
def test_closed_rst_is_dropped_silently(flags: str) -> None:
    h = Harness()
    h.inject(flags, PEER_ISS, 777_777)
    assert h.tx() == []
    assert h.stack.snapshot_counters()["TcpOutRsts"] == 0


def test_closed_after_abort_answers_with_rst() -> None:
    h = Harness()
    conn = established_active(h)
    conn.abort()
    h.out()
    h.inject("P.", PEER_ISS + 1, ISS + 1, payload=b"late")
    assert h.tx() == [("R", ISS + 1, 0, 0)]


# -- LISTEN -----------------------------------------------------------------------------


def test_listen_ignores_rst() -> None:
    h = Harness()
    listener = h.listen()
    h.inject("R", PEER_ISS)
    h.inject("R.", PEER_ISS, 4242)
    assert h.tx() == []
    assert listener.state is State.LISTEN
    assert h.conn() is None


@pytest.mark.parametrize("flags", [".", "S.", "P.", "F."])
def test_listen_answers_an_ack_with_rst(flags: str) -> None:
    h = Harness()
    listener = h.listen()
    h.inject(flags, PEER_ISS, 4242, payload=b"xy" if "P" in flags else b"")
    assert h.tx() == [("R", 4242, 0, 0)]
    assert h.conn() is None
    assert listener.accept() is None


@pytest.mark.parametrize("flags", ["", "F", "P", "U"])
def test_listen_drops_segments_without_syn_ack_or_rst(flags: str) -> None:
    h = Harness()
    h.listen()
    h.inject(flags, PEER_ISS, payload=b"hello")
    assert h.tx() == []
    assert h.conn() is None


def test_listen_syn_gets_syn_ack_with_options() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=FULL_SYN_OPTIONS)
    (out,) = h.out()
    assert out.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert out.window == 65535  # never scaled in a SYN
    opts = out.options
    assert opts is not None
    assert opts.mss == 1460  # MTU 1500 - 40
    assert opts.wscale == 2  # 131072-byte buffer >> 2 fits in 16 bits
    assert opts.timestamp is not None and opts.timestamp[1] == 12345  # TS echo
    assert opts.sack_permitted  # the peer offered SACK, and Linux takes it
    assert opts.layout == (MSS, SACK_PERMITTED, TIMESTAMP, NOP, WSCALE)  # Linux order
    assert h.state() is State.SYN_RCVD
    counters = h.stack.snapshot_counters()
    assert counters["TcpPassiveOpens"] == 1
    assert counters["TcpActiveOpens"] == 0


def test_listen_syn_without_options_gets_only_mss() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS)
    (out,) = h.out()
    assert out.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert out.options is not None
    assert out.options.mss == 1460
    assert out.options.wscale is None
    assert out.options.timestamp is None


def test_listen_syn_with_timestamps_disabled_by_config() -> None:
    h = Harness(LINUX.with_changes(timestamps=False, window_scaling=False))
    h.listen()
    h.inject("S", PEER_ISS, options=FULL_SYN_OPTIONS)
    (out,) = h.out()
    assert out.options is not None
    assert (out.options.mss, out.options.wscale, out.options.timestamp) == (1460, None, None)


# -- SYN-SENT -----------------------------------------------------------------------------


def test_connect_sends_syn_with_options() -> None:
    h = Harness()
    conn = h.connect()
    (out,) = h.out()
    assert out.brief == ("S", ISS, 0, 0)
    assert out.window == 65535
    assert out.options is not None
    assert out.options.mss == 1460
    assert out.options.wscale == 2
    assert out.options.timestamp is not None and out.options.timestamp[1] == 0
    # Linux's SYN: <mss,sackOK,TS,nop,wscale>.
    assert out.options.layout == (MSS, SACK_PERMITTED, TIMESTAMP, NOP, WSCALE)
    assert conn.state is State.SYN_SENT
    assert h.stack.snapshot_counters()["TcpActiveOpens"] == 1


@pytest.mark.parametrize("bad_ack", [ISS, ISS - 1, ISS + 2, ISS + 100_000])
def test_syn_sent_unacceptable_ack_gets_rst(bad_ack: int) -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("S.", PEER_ISS, bad_ack)
    assert h.tx() == [("R", bad_ack, 0, 0)]
    assert conn.state is State.SYN_SENT
    # the real SYN,ACK still completes the handshake
    h.inject("S.", PEER_ISS, ISS + 1)
    assert h.tx() == [(".", ISS + 1, PEER_ISS + 1, 0)]
    assert conn.state is State.ESTABLISHED


def test_syn_sent_unacceptable_ack_on_rst_is_dropped() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("R.", PEER_ISS, ISS + 7)
    assert h.tx() == []
    assert conn.state is State.SYN_SENT


def test_syn_sent_rst_with_acceptable_ack_refuses() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("R.", 0, ISS + 1)
    assert h.tx() == []
    assert conn.state is State.CLOSED
    assert h.conn() is None
    with pytest.raises(ConnectionRefusedError) as info:
        conn.recv(100)
    assert info.value.errno == errno.ECONNREFUSED
    counters = h.stack.snapshot_counters()
    assert counters["TcpAttemptFails"] == 1
    assert counters["TcpEstabResets"] == 0
    assert h.stack.next_deadline() is None  # the SYN is not retransmitted


def test_syn_sent_rst_without_ack_is_ignored() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("R", PEER_ISS)
    assert h.tx() == []
    assert conn.state is State.SYN_SENT
    assert conn.error is None


def test_syn_sent_ack_without_syn_is_dropped() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject(".", PEER_ISS, ISS + 1)
    assert h.tx() == []
    assert conn.state is State.SYN_SENT


def test_syn_sent_syn_ack_establishes_and_acks() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("S.", PEER_ISS, ISS + 1, window=1000, options=TcpOptions(mss=1000, wscale=3))
    (out,) = h.out()
    assert out.brief == (".", ISS + 1, PEER_ISS + 1, 0)
    assert out.window == 131072 >> 2  # scaled now that both sides offered wscale
    assert out.options is None  # the peer did not offer timestamps
    assert conn.state is State.ESTABLISHED
    assert h.stack.snapshot_counters()["TcpCurrEstab"] == 1
    # The window in a SYN is never scaled (RFC 7323): 1000 bytes; the peer's MSS is 1000.
    conn.nodelay = True
    assert conn.send(b"x" * 10_000) == 10_000
    assert h.tx() == [(".", ISS + 1, PEER_ISS + 1, 1000)]
    # Later windows are scaled: 1000 << 3 = 8000 bytes beyond the ACK.
    h.inject(".", PEER_ISS + 1, ISS + 1001, window=1000)
    sent = h.tx()
    assert [s[3] for s in sent] == [1000] * 8
    assert sent[0][1] == ISS + 1001


def test_syn_sent_syn_ack_with_timestamps_echoes_them() -> None:
    h = Harness()
    h.connect()
    h.out()
    h.inject("S.", PEER_ISS, ISS + 1, options=TcpOptions(mss=1460, timestamp=(777, 1)))
    (out,) = h.out()
    assert out.brief == (".", ISS + 1, PEER_ISS + 1, 0)
    assert out.options is not None and out.options.timestamp is not None
    assert out.options.timestamp[1] == 777


def test_syn_sent_bare_syn_is_simultaneous_open() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460))
    (out,) = h.out()
    assert out.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert out.options is not None and out.options.mss == 1460
    assert conn.state is State.SYN_RCVD
    # the peer ACKs our SYN: both sides are synchronized
    h.inject(".", PEER_ISS + 1, ISS + 1)
    assert h.tx() == []
    assert conn.state is State.ESTABLISHED


def test_simultaneous_open_rst_refuses() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("S", PEER_ISS)
    h.out()
    h.inject("R", PEER_ISS + 1)
    assert conn.state is State.CLOSED
    assert isinstance(conn.error, ConnectionRefusedError)


# -- SYN-RECEIVED (passive) ------------------------------------------------------------


def syn_rcvd() -> Harness:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460))
    assert h.tx() == [("S.", ISS, PEER_ISS + 1, 0)]
    return h


def test_syn_rcvd_ack_of_syn_establishes() -> None:
    h = syn_rcvd()
    listener = h.stack.listeners[(b"", LPORT)]
    assert listener.accept() is None
    h.inject(".", PEER_ISS + 1, ISS + 1)
    assert h.tx() == []
    conn = listener.accept()
    assert conn is not None and conn.state is State.ESTABLISHED
    counters = h.stack.snapshot_counters()
    assert counters["TcpCurrEstab"] == 1
    assert counters["TcpPassiveOpens"] == 1


def test_syn_rcvd_ack_with_data_establishes_and_delivers() -> None:
    h = syn_rcvd()
    h.inject("P.", PEER_ISS + 1, ISS + 1, payload=b"GET /")
    assert h.tx() == [(".", ISS + 1, PEER_ISS + 6, 0)]
    conn = h.stack.listeners[(b"", LPORT)].accept()
    assert conn is not None
    assert conn.recv(100) == b"GET /"


@pytest.mark.parametrize("bad_ack", [ISS, ISS + 2, ISS - 5])
def test_syn_rcvd_bad_ack_gets_rst(bad_ack: int) -> None:
    h = syn_rcvd()
    h.inject(".", PEER_ISS + 1, bad_ack)
    assert h.tx() == [("R", bad_ack, 0, 0)]
    assert h.state() is State.SYN_RCVD
    h.inject(".", PEER_ISS + 1, ISS + 1)
    assert h.state() is State.ESTABLISHED


def test_syn_rcvd_segment_without_ack_is_dropped() -> None:
    h = syn_rcvd()
    h.inject("P", PEER_ISS + 1, payload=b"early")
    assert h.tx() == []
    assert h.state() is State.SYN_RCVD


def test_syn_rcvd_rst_returns_to_listen() -> None:
    h = syn_rcvd()
    listener = h.stack.listeners[(b"", LPORT)]
    h.inject("R", PEER_ISS + 1)
    assert h.tx() == []
    assert h.conn() is None
    assert listener.state is State.LISTEN
    assert listener.accept() is None
    assert h.stack.snapshot_counters()["TcpAttemptFails"] == 1
    assert h.stack.next_deadline() is None  # no SYN,ACK retransmission left behind
    # the listener still takes a new SYN on the same 4-tuple
    h.inject("S", PEER_ISS + 1000)
    assert h.tx() == [("S.", ISS, PEER_ISS + 1001, 0)]


def test_syn_rcvd_rst_outside_window_is_dropped() -> None:
    h = syn_rcvd()
    h.inject("R", PEER_ISS + 1 + 200_000)
    assert h.tx() == []
    assert h.state() is State.SYN_RCVD


def test_syn_rcvd_retransmitted_syn_gets_syn_ack_again() -> None:
    h = syn_rcvd()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460), at=500_000)
    (out,) = h.out()
    assert out.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert out.options is not None and out.options.mss == 1460
    assert h.state() is State.SYN_RCVD
    assert h.stack.snapshot_counters()["TcpRetransSegs"] == 1


# -- FreeBSD's SYN option layout and receive-buffer rounding ----------------------------

FREEBSD = LINUX.with_changes(
    sack=True, syn_option_layout="freebsd", rmem=65536, wscale=6, rcvbuf_round_to_mss=True
)
TS = "0101080a"  # NOP, NOP, then the TIMESTAMP kind and length: values vary, not the layout


@pytest.mark.parametrize(
    ("peer_options", "wire"),
    [
        # <mss 1460,sackOK,eol,eol>, as the FreeBSD tcp-testsuite's scripts expect
        (TcpOptions(mss=1460, sack_permitted=True), "020405b4 04020000"),
        (TcpOptions(mss=1460, wscale=3), "020405b4 01030306"),
        (TcpOptions(mss=1460, timestamp=(7, 0)), "020405b4 0101080a"),
        (TcpOptions(mss=1460, sack_permitted=True, timestamp=(7, 0)), "020405b4 0402080a"),
        (TcpOptions(mss=1460, wscale=3, timestamp=(7, 0)), "020405b4 01030306 0101080a"),
        (
            TcpOptions(mss=1460, wscale=3, sack_permitted=True, timestamp=(7, 0)),
            "020405b4 01030306 0402080a",  # the full set: today's FreeBSD layout
        ),
        (TcpOptions(mss=1460), "020405b4"),
    ],
)
def test_freebsd_syn_ack_lays_out_any_subset_of_options_as_freebsd_does(
    peer_options: TcpOptions, wire: str
) -> None:
    h = Harness(FREEBSD)
    h.listen()
    h.inject("S", PEER_ISS, options=peer_options)
    (out,) = h.out()
    assert out.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert out.options is not None
    sent = encode_options(out.options).hex()
    expected = wire.replace(" ", "")
    if out.options.timestamp is not None:
        sent = sent[:-16]  # TS val and TS ecr
    assert sent == expected


def test_freebsd_syn_with_every_option_keeps_todays_layout() -> None:
    h = Harness(FREEBSD)
    h.connect()
    (out,) = h.out()
    assert out.options is not None
    assert out.options.layout == (MSS, NOP, WSCALE, SACK_PERMITTED, TIMESTAMP)


def test_freebsd_syn_ack_retransmission_keeps_the_layout() -> None:
    h = Harness(FREEBSD)
    h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460, sack_permitted=True))
    (first,) = h.out()
    h.now = h.stack.next_deadline() or 0
    h.stack.advance(h.now)
    (again,) = h.out()
    assert again.brief == first.brief == ("S.", ISS, PEER_ISS + 1, 0)
    assert again.options is not None and first.options is not None
    assert (
        encode_options(again.options)
        == encode_options(first.options)
        == bytes.fromhex("020405b404020000")
    )


@pytest.mark.parametrize(
    ("peer_options", "capacity"),
    [
        (TcpOptions(mss=1460), 65700),  # 45 segments of 1460
        (TcpOptions(mss=1000), 66000),
        (TcpOptions(mss=1460, timestamp=(7, 0)), 65700),  # FreeBSD's MSS leaves TS in
    ],
)
def test_freebsd_rounds_the_receive_buffer_to_whole_segments_on_an_active_open(
    peer_options: TcpOptions, capacity: int
) -> None:
    h = Harness(FREEBSD)
    conn = established_active(h, peer_options)
    assert conn.rcv_capacity == capacity


def test_freebsd_rounds_the_receive_buffer_once_a_passive_open_is_established() -> None:
    h = Harness(FREEBSD)
    _listener, conn = established_passive(h)
    assert conn.rcv_capacity == 65700


def test_linux_keeps_the_receive_buffer_as_configured() -> None:
    h = Harness()
    conn = established_active(h)
    assert conn.rcv_capacity == LINUX.rmem


# -- SYN-RECEIVED: the window a RST must fit (RFC 5961 section 3.2) ---------------------


@pytest.mark.parametrize(("offset", "answer"), [(65535, []), (65534, [ACK_CHALLENGE])])
def test_syn_rcvd_rst_fits_the_window_our_syn_ack_offered_not_the_buffer(
    offset: int, answer: list[tuple[str, int, int, int]]
) -> None:
    h = Harness()  # a 131072-byte buffer, but a SYN,ACK window of 65535 (no scaling)
    h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460))
    assert h.tx() == [("S.", ISS, PEER_ISS + 1, 0)]
    h.inject("R.", PEER_ISS + 1 + offset, ISS + 1)
    assert h.tx() == answer
    assert h.state() is State.SYN_RCVD


# -- SYN-SENT: a SYN with text (simultaneous open, RFC 9293 3.10.7.3) ------------------


def test_text_on_a_syn_in_syn_sent_is_delivered_once_established() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("S", PEER_ISS, payload=b"abc", options=TcpOptions(mss=1460))
    assert h.tx() == [("S.", ISS, PEER_ISS + 1, 0)]  # acknowledges the SYN only
    assert h.state() is State.SYN_RCVD
    assert conn.recv(100) == b""
    h.inject(".", PEER_ISS + 4, ISS + 1)
    assert conn.state is State.ESTABLISHED
    assert h.tx() == [(".", ISS + 1, PEER_ISS + 4, 0)]  # now the text is acknowledged
    assert conn.recv(100) == b"abc"


def test_a_fin_on_a_syn_in_syn_sent_closes_the_peer_side_once_established() -> None:
    h = Harness()
    conn = h.connect()
    h.out()
    h.inject("SF", PEER_ISS, options=TcpOptions(mss=1460))
    assert h.tx() == [("S.", ISS, PEER_ISS + 1, 0)]
    h.inject(".", PEER_ISS + 2, ISS + 1)
    assert conn.state is State.CLOSE_WAIT
