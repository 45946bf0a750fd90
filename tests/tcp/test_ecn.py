"""ECN (RFC 3168): negotiation in the SYNs, ECT(0) on new data, CE echoed, cwnd reduced."""

from __future__ import annotations

import pytest

from synack.scenarios.craft import segment_bytes
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import ACK, CWR, ECE, PSH, SYN, TcpOptions, parse_ip, parse_tcp
from synack.wire.ip import ECN_CE, ECN_ECT0, ECN_NOT_ECT, ip_ecn, with_ecn

from .harness import LOCAL, LPORT, MS, PEER, PEER_ISS, PPORT, RCV_NXT, SND_NXT, Harness

ECN_ON = LINUX.with_changes(ecn=1)
MSS = TcpOptions(mss=1000)
MSS_TS = TcpOptions(mss=1000, timestamp=(7000, 0))
STAMP = TcpOptions(timestamp=(7001, 0))  # on the peer's segments once timestamps are on


def send_from_peer(
    h: Harness,
    flags: int,
    seq: int,
    ack: int = 0,
    payload: bytes = b"",
    codepoint: int = ECN_NOT_ECT,
    options: TcpOptions | None = None,
    at: int | None = None,
) -> None:
    packet = segment_bytes(PEER, PPORT, LOCAL, LPORT, seq, ack, flags, 65535, payload, options)
    if codepoint:
        packet = with_ecn(packet, codepoint)
    if at is not None:
        h.now = at
    h.stack.receive(packet, h.now)


def sent(h: Harness) -> list[tuple[int, int, int, int]]:
    """(TCP flags, seq, payload length, IP ECN codepoint) of each packet sent."""
    out = []
    for packet in h.stack.transmit():
        src, dst, _, payload = parse_ip(packet)
        seg = parse_tcp(payload, src, dst)
        out.append((seg.flags, seg.seq, len(seg.payload), ip_ecn(packet)))
    return out


def advance(h: Harness, to: int) -> list[tuple[int, int, int, int]]:
    """`sent` for everything the timers send up to ``to``."""
    out = sent(h)
    while (deadline := h.stack.next_deadline()) is not None and deadline <= to:
        h.now = max(h.now, deadline)
        h.stack.advance(h.now)
        out += sent(h)
    h.now = to
    return out


def ecn_client(
    config: TcpConfig = ECN_ON, synack_flags: int = SYN | ACK | ECE, timestamps: bool = False
) -> tuple[Harness, Connection]:
    """An active open answered by ``synack_flags``: ESTABLISHED, nothing left to send.
    With ``timestamps`` the segments of the transfer take the stack's fast paths."""
    h = Harness(config)
    conn = h.connect()
    assert [s[0] for s in sent(h)] == ([SYN | ECE | CWR] if config.ecn == 1 else [SYN])
    options = MSS_TS if timestamps else MSS
    send_from_peer(h, synack_flags, PEER_ISS, SND_NXT, options=options, at=100 * MS)
    assert conn.ts_ok == timestamps
    assert conn.state is State.ESTABLISHED
    sent(h)
    return h, conn


# --- negotiation ----------------------------------------------------------------------


def test_linux_default_accepts_only_so_its_syn_asks_for_nothing() -> None:
    assert LINUX.ecn == 2
    _, conn = ecn_client(LINUX, SYN | ACK)
    assert not conn.ecn_ok


def test_an_ecn_setup_syn_ack_turns_ecn_on() -> None:
    assert ecn_client()[1].ecn_ok


def test_a_plain_syn_ack_leaves_ecn_off() -> None:
    assert not ecn_client(synack_flags=SYN | ACK)[1].ecn_ok


def test_a_syn_ack_with_ece_and_cwr_is_not_an_ecn_setup_syn_ack() -> None:
    # RFC 3168 6.1.1: a host that reflects every flag it saw must not turn ECN on.
    assert not ecn_client(synack_flags=SYN | ACK | ECE | CWR)[1].ecn_ok


def test_a_retransmitted_syn_gives_up_asking_for_ecn() -> None:
    h = Harness(ECN_ON)
    h.connect()
    assert [s[0] for s in sent(h)] == [SYN | ECE | CWR]
    h.advance(1_100 * MS)  # the first retransmission
    h.advance(3_100 * MS)  # the second
    assert [s[0] for s in sent(h)] == []
    h2 = Harness(ECN_ON.with_changes(ecn_syn_retries=1))
    h2.connect()
    sent(h2)
    retries = [s[0] for s in h2.advance(3_100 * MS)]
    assert retries == ["SEW", "S"]  # FreeBSD's maxretries=1: one more ECN SYN, then plain


def test_a_listener_answers_an_ecn_setup_syn_and_the_connection_uses_ecn() -> None:
    for syn_cache in (True, False):
        h = Harness(LINUX.with_changes(syn_cache=syn_cache))
        listener = h.listen()
        send_from_peer(h, SYN | ECE | CWR, PEER_ISS, options=MSS)
        assert [s[0] for s in sent(h)] == [SYN | ACK | ECE]
        send_from_peer(h, ACK, RCV_NXT, SND_NXT)
        conn = listener.accept()
        assert conn is not None and conn.ecn_ok


def test_a_listener_with_ecn_off_answers_a_plain_syn_ack() -> None:
    h = Harness(LINUX.with_changes(ecn=0))
    listener = h.listen()
    send_from_peer(h, SYN | ECE | CWR, PEER_ISS, options=MSS)
    assert [s[0] for s in sent(h)] == [SYN | ACK]
    send_from_peer(h, ACK, RCV_NXT, SND_NXT)
    conn = listener.accept()
    assert conn is not None and not conn.ecn_ok


def test_simultaneous_open_agrees_when_the_peer_syn_asks() -> None:
    h = Harness(LINUX)
    conn = h.connect()
    sent(h)
    send_from_peer(h, SYN | ECE | CWR, PEER_ISS, options=MSS)
    assert [s[0] for s in sent(h)] == [SYN | ACK | ECE]
    assert conn.state is State.SYN_RCVD and conn.ecn_ok


# --- the IP header --------------------------------------------------------------------


def test_new_data_is_ect0_but_acks_and_retransmissions_are_not() -> None:
    h, conn = ecn_client()
    conn.send(b"x" * 500)
    assert sent(h) == [(ACK | PSH, SND_NXT, 500, ECN_ECT0)]
    resent = advance(h, h.now + 2 * 1_000 * MS)  # the RTO resends it
    assert [(f, n, e) for f, _, n, e in resent][:1] == [(ACK | PSH, 500, ECN_NOT_ECT)]
    send_from_peer(h, ACK | PSH, RCV_NXT, SND_NXT + 500, b"reply")
    acks = advance(h, h.now + 1 * 1_000 * MS)
    assert [(f, n, e) for f, _, n, e in acks] == [(ACK, 0, ECN_NOT_ECT)]


def test_without_ecn_data_is_not_ect() -> None:
    h, conn = ecn_client(synack_flags=SYN | ACK)
    conn.send(b"x" * 100)
    assert [s[3] for s in sent(h)] == [ECN_NOT_ECT]


# --- the receiver: CE marks echoed ------------------------------------------------------


@pytest.mark.parametrize("timestamps", [False, True], ids=["plain", "timestamps"])
def test_a_ce_mark_is_echoed_at_once_and_on_every_ack_until_cwr(timestamps: bool) -> None:
    h, conn = ecn_client(timestamps=timestamps)
    opts = STAMP if timestamps else None
    send_from_peer(h, ACK | PSH, RCV_NXT, SND_NXT, b"a" * 100, ECN_CE, opts)
    assert [(f, e) for f, _, _, e in sent(h)] == [(ACK | ECE, ECN_NOT_ECT)]  # no delay
    send_from_peer(h, ACK | PSH, RCV_NXT + 100, SND_NXT, b"b" * 100, ECN_ECT0, opts)
    assert [f for f, _, _, _ in advance(h, h.now + 500 * MS)] == [ACK | ECE]  # still echoed
    send_from_peer(h, ACK | PSH | CWR, RCV_NXT + 200, SND_NXT, b"c" * 100, ECN_ECT0, opts)
    assert [f for f, _, _, _ in advance(h, h.now + 500 * MS)] == [ACK]  # the CWR ended it
    assert not conn.ecn_echo
    assert h.stack.snapshot_counters()["SynackEcnCeReceived"] == 1


def test_ce_without_negotiated_ecn_is_ignored() -> None:
    h, conn = ecn_client(synack_flags=SYN | ACK)
    send_from_peer(h, ACK | PSH, RCV_NXT, SND_NXT, b"a" * 100, ECN_CE)
    assert [f for f, _, _, _ in advance(h, h.now + 500 * MS)] == [ACK]
    assert not conn.ecn_echo
    assert h.stack.snapshot_counters().get("SynackEcnCeReceived", 0) == 0


# --- the sender: ECE reduces cwnd once per window, then CWR ------------------------------


@pytest.mark.parametrize("timestamps", [False, True], ids=["plain", "timestamps"])
def test_an_echo_reduces_cwnd_once_per_window_without_a_retransmission(timestamps: bool) -> None:
    h, conn = ecn_client(timestamps=timestamps)
    opts = STAMP if timestamps else None
    mss = conn.snd_mss
    conn.send(b"x" * (10 * mss))
    assert len(sent(h)) == 10
    cwnd = conn.cc.cwnd
    send_from_peer(h, ACK | ECE, RCV_NXT, SND_NXT + 2 * mss, options=opts)
    assert conn.cc.cwnd < cwnd
    reduced = conn.cc.cwnd
    send_from_peer(h, ACK | ECE, RCV_NXT, SND_NXT + 4 * mss, options=opts)  # same window
    assert conn.cc.cwnd >= reduced
    counters = h.stack.snapshot_counters()
    assert counters["SynackEcnReductions"] == 1
    assert counters.get("TcpRetransSegs", 0) == 0
    conn.send(b"y" * mss)
    send_from_peer(h, ACK, RCV_NXT, SND_NXT + 10 * mss, options=opts)
    out = sent(h)
    assert out and out[0][0] & CWR  # the first new data after the reduction says so
    assert all(not f & CWR for f, _, _, _ in out[1:])
    assert all(e == ECN_ECT0 for _, _, n, e in out if n)


# --- a whole transfer on a link that marks instead of dropping ---------------------------


def test_an_ecn_transfer_backs_off_on_marks_without_a_single_retransmission() -> None:
    from synack.scenarios.lifecycle import connected_pair
    from synack.scenarios.world import World
    from synack.sim.link import LinkConfig

    link = LinkConfig(
        delay_us=5 * MS, bandwidth_bps=10_000_000, queue_packets=1000, ce_threshold_packets=8
    )
    world = World(seed=3, link=link, config=ECN_ON)
    cli, srv, _ = connected_pair(world)
    assert cli._conn is not None and cli._conn.ecn_ok
    # 128 kB fits the buffers, so sendall returns at once; slow start soon queues more
    # than the 8 packets the link lets wait unmarked.
    data = bytes(range(256)) * 512
    cli.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        got += srv.recv(65536)
    assert bytes(got) == data
    sender = world.stack("A").snapshot_counters()
    receiver = world.stack("B").snapshot_counters()
    assert receiver["SynackEcnCeReceived"] > 0
    assert sender["SynackEcnReductions"] > 0
    assert sender.get("TcpRetransSegs", 0) == 0
    assert world.net.link(world.hosts["A"], world.hosts["B"]).ce_marked > 0
