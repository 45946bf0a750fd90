"""ICMP at the host: echo replies, errors that end or mark connections, path MTU."""

from __future__ import annotations

import errno
from collections.abc import Callable
from ipaddress import ip_address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoReply, IPv6

from synack.scenarios.craft import decode, segment_bytes
from synack.scenarios.lifecycle import PORT, connected_pair, serve
from synack.scenarios.world import World
from synack.stack import Stack, pack_address
from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.tcp.events import SegmentDropped, TraceEvent
from synack.tcp.state import State
from synack.wire import (
    ACK,
    PROTO_ICMP,
    PROTO_ICMPV6,
    SYN,
    IcmpMessage,
    TcpOptions,
    TcpSegment,
    build_icmp,
    build_ip,
    build_tcp,
    echo_rest,
    parse_icmp,
    parse_ip,
    parse_tcp,
)

from .test_bad_input import check_connection

LOCAL = "198.18.0.2"
PEER = "198.18.0.1"
ROUTER = "198.18.0.9"
LOCAL6 = "2001:db8::2"
PEER6 = "2001:db8::1"
ROUTER6 = "2001:db8::9"
MS = 1_000


def icmp_packet(
    src: str, dst: str, kind: int, code: int = 0, rest: bytes = bytes(4), body: bytes = b""
) -> bytes:
    """A complete IP packet carrying one ICMP (or ICMPv6, for IPv6 addresses) message."""
    s, d = pack_address(src), pack_address(dst)
    protocol = PROTO_ICMPV6 if len(s) == 16 else PROTO_ICMP
    return build_ip(s, d, protocol, build_icmp(IcmpMessage(kind, code, rest, body), s, d))


def mtu_rest(mtu: int, v6: bool) -> bytes:
    """The 4 bytes after the checksum of "fragmentation needed" or "packet too big"."""
    return mtu.to_bytes(4, "big") if v6 else bytes(2) + mtu.to_bytes(2, "big")


def new_stack(*addresses: str) -> Stack:
    stack = Stack(addresses or [LOCAL, LOCAL6], LINUX, strict=True)
    stack.isn_hook = lambda key: 1000
    return stack


def drops(stack: Stack) -> list[str]:
    reasons: list[str] = []

    def tracer(event: TraceEvent) -> None:
        if isinstance(event, SegmentDropped):
            reasons.append(event.reason)

    stack.tracer = tracer
    return reasons


# -- echo ----------------------------------------------------------------------------


@pytest.mark.parametrize("local", [LOCAL, "198.18.0.4"])
def test_echo_request_gets_a_reply_from_the_address_pinged(local: str) -> None:
    stack = new_stack(LOCAL, "198.18.0.4")
    stack.receive(icmp_packet(PEER, local, 8, 0, echo_rest(0x4242, 7), b"ping data" * 10), 0)
    (reply,) = stack.transmit()
    assert reply == icmp_packet(local, PEER, 0, 0, echo_rest(0x4242, 7), b"ping data" * 10)
    parsed = IP(reply)  # and scapy agrees it is a well-formed echo reply
    assert (parsed.src, parsed.dst, parsed[ICMP].type, parsed[ICMP].id) == (local, PEER, 0, 0x4242)
    assert parsed[ICMP].seq == 7 and bytes(parsed[ICMP].payload) == b"ping data" * 10
    del parsed[ICMP].chksum  # scapy recomputes the checksum: the same as ours
    assert bytes(parsed) == reply
    counters = stack.snapshot_counters()
    assert counters["IcmpInMsgs"] == counters["IcmpInEchos"] == 1
    assert counters["IcmpOutMsgs"] == counters["IcmpOutEchoReps"] == 1
    assert stack.counters["IpInUnknownProtos"] == 0


def test_icmpv6_echo_request_gets_a_reply() -> None:
    stack = new_stack()
    stack.receive(icmp_packet(PEER6, LOCAL6, 128, 0, echo_rest(1, 65535), b"\x00\xff" * 33), 0)
    (reply,) = stack.transmit()
    assert reply == icmp_packet(LOCAL6, PEER6, 129, 0, echo_rest(1, 65535), b"\x00\xff" * 33)
    parsed = IPv6(reply)
    echo = parsed[ICMPv6EchoReply]
    assert (parsed.src, parsed.dst, echo.id, echo.seq, echo.data) == (
        LOCAL6,
        PEER6,
        1,
        65535,
        b"\x00\xff" * 33,
    )
    # scapy recomputes the checksum over the pseudo-header: the same as ours.
    del echo.cksum
    assert bytes(parsed) == reply
    counters = stack.counters
    assert counters["Icmp6InMsgs"] == counters["Icmp6InEchos"] == 1
    assert counters["Icmp6OutMsgs"] == counters["Icmp6OutEchoReplies"] == 1


def test_bad_checksum_and_truncated_messages_are_counted_and_not_answered() -> None:
    stack = new_stack()
    reasons = drops(stack)
    good = bytearray(icmp_packet(PEER, LOCAL, 8, 0, echo_rest(1, 1), b"abc"))
    good[-1] ^= 0x40
    stack.receive(bytes(good), 0)
    s, d = pack_address(PEER), pack_address(LOCAL)
    stack.receive(build_ip(s, d, PROTO_ICMP, b"\x08\x00\xf7\xff"), 0)  # 4 of 8 header bytes
    bad6 = bytearray(icmp_packet(PEER6, LOCAL6, 128, 0, echo_rest(1, 1), b"abc"))
    bad6[-1] ^= 1
    stack.receive(bytes(bad6), 0)
    assert stack.transmit() == []
    c = stack.counters
    assert (c["IcmpInMsgs"], c["IcmpInErrors"], c["IcmpInCsumErrors"]) == (2, 2, 1)
    assert (c["Icmp6InMsgs"], c["Icmp6InErrors"], c["Icmp6InCsumErrors"]) == (1, 1, 1)
    assert c["IcmpInEchos"] == c["IcmpOutMsgs"] == 0
    assert reasons == ["icmp: bad-checksum", "icmp: truncated", "icmp: bad-checksum"]


@pytest.mark.parametrize(("src", "dst"), [("0.0.0.0", LOCAL), ("224.0.0.1", LOCAL), ("::", LOCAL6)])
def test_echo_requests_from_no_single_host_get_no_reply(src: str, dst: str) -> None:
    stack = new_stack()
    kind = 128 if ":" in dst else 8
    stack.receive(icmp_packet(src, dst, kind, 0, echo_rest(1, 1), b"x"), 0)
    assert stack.transmit() == []
    assert stack.counters["Icmp6InEchos" if kind == 128 else "IcmpInEchos"] == 1


def test_link_chatter_of_a_fresh_ipv6_interface_is_counted_quietly() -> None:
    """What a Linux kernel sends when a TUN device comes up: router solicitations to
    ff02::2 and MLDv2 reports to ff02::16, from a link-local address."""
    stack = new_stack()
    reasons = drops(stack)
    stack.receive(icmp_packet("fe80::1", "ff02::2", 133, 0, bytes(4)), 0)
    stack.receive(icmp_packet("fe80::1", "ff02::16", 143, 0, bytes(4), bytes(20)), 0)
    stack.receive(icmp_packet(PEER6, LOCAL6, 135, 0, bytes(4), pack_address(LOCAL6)), 0)
    assert stack.transmit() == [] and reasons == []
    c = stack.counters
    assert c["Icmp6InMsgs"] == 3 and c["Icmp6InErrors"] == 0
    assert c["Icmp6InRouterSolicits"] == c["Icmp6InMLDv2Reports"] == 1
    assert c["Icmp6InNeighborSolicits"] == 1
    assert c["IpInAddrErrors"] == 0


def test_icmp_in_ipv6_and_icmpv6_in_ipv4_are_unknown_protocols() -> None:
    stack = new_stack()
    s, d = pack_address(PEER), pack_address(LOCAL)
    stack.receive(build_ip(s, d, PROTO_ICMPV6, build_icmp(IcmpMessage(128, 0), s, d)), 0)
    s6, d6 = pack_address(PEER6), pack_address(LOCAL6)
    stack.receive(build_ip(s6, d6, PROTO_ICMP, build_icmp(IcmpMessage(8, 0), s, d)), 0)
    assert stack.transmit() == []
    assert stack.counters["IpInUnknownProtos"] == 2


# -- errors on a connecting socket (simulated network) -------------------------------


def fail_syn_with(world: World, make_icmp: Callable[[bytes], bytes], v6: bool = False) -> None:
    """Drop A's first SYN to B; 5 ms later a router sends A the ICMP made from it."""
    taken = False

    def match(src: str, dst: str, packet: bytes) -> bool:
        nonlocal taken
        seg = decode(packet)
        if taken or src != "A" or seg is None or seg.flags != SYN:
            return False
        taken = True
        world.net.inject(world.now + 5 * MS, "R", world.hosts["A"], make_icmp(packet))
        return True

    world.net.drop(match, 1)


def unreachable(code: int, v6: bool = False, shift_seq: int = 0) -> Callable[[bytes], bytes]:
    """An ICMP destination unreachable quoting the packet (its seq moved by shift_seq)."""

    def make(packet: bytes) -> bytes:
        quoted = bytearray(packet[: (60 if v6 else 40)])
        off = 40 if v6 else 20
        seq = int.from_bytes(quoted[off + 4 : off + 8], "big")
        quoted[off + 4 : off + 8] = ((seq + shift_seq) & 0xFFFFFFFF).to_bytes(4, "big")
        if v6:
            return icmp_packet(ROUTER6, PEER6, 1, code, bytes(4), bytes(quoted))
        return icmp_packet(ROUTER, PEER, 3, code, bytes(4), bytes(quoted))

    return make


def test_port_unreachable_refuses_a_connect() -> None:
    world = World(seed=1)
    fail_syn_with(world, unreachable(3))
    with pytest.raises(ConnectionRefusedError) as info:
        world.socket("A").connect(("198.18.0.2", PORT))
    assert info.value.errno == errno.ECONNREFUSED
    assert world.now == 5 * MS  # at the ICMP, not at a SYN timeout
    counters = world.stack("A").snapshot_counters()
    assert counters["IcmpInDestUnreachs"] == 1
    assert counters["TcpAttemptFails"] == 1


@pytest.mark.parametrize(
    ("v6", "code", "expected"),
    [
        (False, 0, errno.ENETUNREACH),
        (False, 1, errno.EHOSTUNREACH),
        (False, 2, errno.ENOPROTOOPT),
        (False, 13, errno.EHOSTUNREACH),
        (True, 4, errno.ECONNREFUSED),
        (True, 1, errno.EACCES),
        (True, 3, errno.EHOSTUNREACH),
    ],
)
def test_unreachable_codes_give_linux_errnos(v6: bool, code: int, expected: int) -> None:
    world = World(seed=2)
    fail_syn_with(world, unreachable(code, v6), v6)
    sock = world.socket("A", v6=v6)
    assert sock.connect_ex((world.address("B", v6), PORT)) == expected


def test_out_of_window_unreachable_is_ignored() -> None:
    """RFC 5927: a quoted sequence number outside [SND.UNA, SND.NXT] is a forgery."""
    world = World(seed=3)
    srv = serve(world)
    make = unreachable(3, shift_seq=100_000)
    sent_icmp = False

    def match(src: str, dst: str, packet: bytes) -> bool:
        nonlocal sent_icmp
        seg = decode(packet)
        if not sent_icmp and src == "A" and seg is not None and seg.flags == SYN:
            sent_icmp = True
            world.net.inject(world.now + 5 * MS, "R", world.hosts["A"], make(packet))
        return False  # the SYN goes through

    world.net.drop(match, 1)
    cli = world.socket("A")
    cli.connect(("198.18.0.2", PORT))
    conn, _ = srv.accept()
    cli.sendall(b"still fine")
    assert conn.recv(100) == b"still fine"
    assert sent_icmp
    assert world.stack("A").counters["TcpExtOutOfWindowIcmps"] == 1


def test_soft_error_replaces_etimedout_when_the_connection_gives_up() -> None:
    """Linux: an ICMP error on an established connection is remembered (sk_err_soft) and
    reported if retransmission later gives up, instead of ETIMEDOUT."""
    world = World(seed=4, config=LINUX.with_changes(retries2=3))
    cli, _conn, _srv = connected_pair(world)
    world.net.partition(world.hosts["A"], world.hosts["B"])
    cli.sendall(b"lost in the partition")
    (tcb,) = world.stack("A").connections.values()
    quote = segment_bytes(PEER, tcb.key[1], LOCAL, PORT, tcb.snd_una, tcb.rcv_nxt, ACK)
    world.net.inject(world.now + MS, "R", world.hosts["A"], unreachable(1)(quote))
    world.run(2)
    assert tcb.state is State.ESTABLISHED  # soft: the connection keeps trying
    world.run()
    with pytest.raises(OSError) as info:
        cli.recv(10)
    assert info.value.errno == errno.EHOSTUNREACH


def test_without_icmp_the_same_give_up_is_etimedout() -> None:
    world = World(seed=4, config=LINUX.with_changes(retries2=3))
    cli, _conn, _srv = connected_pair(world)
    world.net.partition(world.hosts["A"], world.hosts["B"])
    cli.sendall(b"lost in the partition")
    world.run()
    with pytest.raises(TimeoutError):
        cli.recv(10)


# -- path MTU --------------------------------------------------------------------------


@pytest.mark.parametrize(("v6", "mtu"), [(False, 1200), (True, 1280)])
def test_packet_too_big_shrinks_segments_and_the_transfer_completes(v6: bool, mtu: int) -> None:
    """A router on the path with a smaller MTU drops A's big segments and says so."""
    world = World(seed=5)
    srv = serve(world, port=PORT) if not v6 else None
    if v6:
        srv = world.socket("B", v6=True)
        srv.bind((world.address("B", True), PORT))
        srv.listen(8)
    assert srv is not None
    router = ROUTER6 if v6 else ROUTER
    peer = PEER6 if v6 else PEER
    sizes_after: list[int] = []  # of A's packets sent once the first ICMP has arrived
    told = 0
    first_icmp_at: int | None = None

    def router_rule(src: str, dst: str, packet: bytes) -> bool:
        nonlocal told, first_icmp_at
        if src != "A":
            return False
        if first_icmp_at is not None and world.now >= first_icmp_at:
            sizes_after.append(len(packet))
        if len(packet) <= mtu:
            return False
        told += 1
        kind = 2 if v6 else 3
        code = 0 if v6 else 4
        icmp = icmp_packet(router, peer, kind, code, mtu_rest(mtu, v6), packet[: mtu - 68])
        world.net.inject(world.now + 2 * MS, "R", world.hosts["A"], icmp)
        if first_icmp_at is None:
            first_icmp_at = world.now + 2 * MS
        return True

    world.net.drop(router_rule, 10**9)
    cli = world.socket("A", v6=v6)
    cli.connect((world.address("B", v6), PORT))
    conn, _ = srv.accept()
    data = bytes(range(256)) * 800
    cli.sendall(data)
    cli.shutdown(1)
    got = bytearray()
    while chunk := conn.recv(65536):
        got += chunk
    assert bytes(got) == data
    assert told >= 1 and sizes_after and max(sizes_after) <= mtu
    counters = world.stack("A").counters
    assert counters["Icmp6InPktTooBigs" if v6 else "IcmpInDestUnreachs"] == told
    assert counters["TcpExtTCPTimeouts"] == 0  # resent at once, not after an RTO
    assert counters["TcpExtTCPFastRetrans"] == 0


def established(stack: Stack, v6: bool = False, mss: int = 1460) -> Connection:
    """A passive open from the peer with the given MSS; the SYN,ACK is consumed."""
    local, peer = (LOCAL6, PEER6) if v6 else (LOCAL, PEER)
    if (b"", 80) not in stack.listeners:
        stack.listen(stack.bind(None, 80))
    opts = TcpOptions(mss=mss)
    stack.receive(segment_bytes(peer, 41000, local, 80, 5000, 0, SYN, 65535, b"", opts), 0)
    stack.transmit()
    stack.receive(segment_bytes(peer, 41000, local, 80, 5001, 1001, ACK, 65535), 0)
    key = (pack_address(local), 80, pack_address(peer), 41000)
    return stack.connections[key]


def sent_sizes(stack: Stack) -> list[tuple[int, int]]:
    out = []
    for packet in stack.transmit():
        src, dst, _, payload = parse_ip(packet)
        seg = parse_tcp(payload, src, dst)
        out.append((seg.seq, len(seg.payload)))
    return out


def frag_needed(conn: Connection, mtu: int) -> bytes:
    """A router's "fragmentation needed" / "packet too big" quoting SND.UNA of ``conn``."""
    local, lport, peer, pport = conn.key
    v6 = len(local) == 16
    quote = build_ip(
        local, peer, 6, build_tcp(TcpSegment(lport, pport, conn.snd_una, 0, ACK, 0), local, peer)
    )
    router = ROUTER6 if v6 else ROUTER
    kind, code = (2, 0) if v6 else (3, 4)
    return icmp_packet(router, str(ip_address(local)), kind, code, mtu_rest(mtu, v6), quote)


def test_next_hop_mtu_is_floored_at_552_and_increases_are_ignored() -> None:
    stack = new_stack()
    conn = established(stack)
    conn.send(b"x" * 2920)
    assert sent_sizes(stack) == [(1001, 1460), (2461, 1460)]
    stack.receive(frag_needed(conn, 68), 0)
    # At once, the first unacknowledged bytes again at 552 - 40, and on within cwnd.
    assert sent_sizes(stack)[:2] == [(1001, 512), (1513, 512)]
    assert conn.snd_mss == 512 and conn.pmtu == 552
    stack.receive(frag_needed(conn, 1400), 0)
    assert sent_sizes(stack) == [] and conn.snd_mss == 512
    assert stack.counters["TcpRetransSegs"] >= 2
    assert stack.counters["IcmpInDestUnreachs"] == 2


def test_ipv6_packet_too_big_below_1280_is_ignored() -> None:
    stack = new_stack()
    conn = established(stack, v6=True, mss=1440)
    conn.send(b"x" * 3000)
    stack.transmit()
    reasons = drops(stack)
    stack.receive(frag_needed(conn, 1000), 0)
    assert stack.transmit() == [] and conn.snd_mss == 1440
    assert reasons == ["icmp: packet too big, MTU 1000 < 1280"]
    stack.receive(frag_needed(conn, 1280), 0)
    assert conn.snd_mss == 1280 - 60
    assert [size for _, size in sent_sizes(stack)][:2] == [1220, 1220]


def test_errors_about_nothing_we_sent_are_dropped_and_counted() -> None:
    stack = new_stack()
    conn = established(stack)
    reasons = drops(stack)
    # Quoting ICMP (an error about an echo request).
    echo = icmp_packet(LOCAL, PEER, 8, 0, echo_rest(1, 1), b"x" * 8)
    stack.receive(icmp_packet(ROUTER, LOCAL, 3, 1, bytes(4), echo), 0)
    # Quoting a connection that does not exist.
    other = segment_bytes(LOCAL, 9999, PEER, 41000, 1, 0, ACK)
    stack.receive(icmp_packet(ROUTER, LOCAL, 3, 3, bytes(4), other), 0)
    # A quote cut inside the TCP ports.
    stack.receive(icmp_packet(ROUTER, LOCAL, 11, 0, bytes(4), other[:24]), 0)
    assert stack.transmit() == []
    assert conn.state is State.ESTABLISHED and conn.soft_error == 0
    assert stack.counters["IcmpInErrors"] == 3
    assert reasons == [
        "icmp: quotes protocol 1",
        "icmp: no connection",
        "icmp: quote truncated",
    ]


@pytest.mark.parametrize(("code", "dropped"), [(1, True), (3, False)])
def test_half_open_child_is_dropped_only_for_unreachable_host(code: int, dropped: bool) -> None:
    """Linux tcp_req_err: a request socket goes quietly on net/host unreachable (the
    client's SYN may have come from an address that cannot be answered), not on others."""
    stack = new_stack()
    stack.listen(stack.bind(None, 80))
    stack.receive(segment_bytes(PEER, 41000, LOCAL, 80, 5000, 0, SYN), 0)
    (synack,) = stack.transmit()
    stack.receive(icmp_packet(ROUTER, LOCAL, 3, code, bytes(4), synack), 0)
    key = (pack_address(LOCAL), 80, pack_address(PEER), 41000)
    assert (key not in stack.connections) is dropped
    assert stack.counters["TcpExtListenDrops"] == (1 if dropped else 0)


# -- nothing a peer sends raises -------------------------------------------------------


def live_stack() -> tuple[Stack, list[Connection]]:
    """Connections in SYN_SENT, SYN_RCVD, ESTABLISHED (data in flight), FIN_WAIT_1."""
    stack = new_stack()
    conns = [established(stack), established(stack, v6=True)]
    conns[0].send(b"a" * 5000)
    conns[1].send(b"b" * 100)
    conns[1].close()
    stack.receive(segment_bytes(PEER, 41001, LOCAL, 80, 7000, 0, SYN), 0)
    key = (pack_address(LOCAL), 80, pack_address(PEER), 41001)
    entry = stack.syn_entry(key)  # a SYN-cache entry, made a connection object here
    assert entry is not None
    conns.append(stack.listeners[(b"", 80)].materialize(entry))
    conns.append(stack.connect(PEER6, 443))
    stack.transmit()
    return stack, conns


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, 3),
    kind=st.sampled_from([1, 2, 3, 4, 5, 11, 12, 128, 0, 8, 129, 255]) | st.integers(0, 255),
    code=st.integers(0, 20),
    rest=st.binary(min_size=4, max_size=4),
    cut=st.integers(0, 80),
    flips=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)), max_size=3),
    seq_shift=st.sampled_from([0, 1, 100, -1, 1 << 31]),
)
def test_random_icmp_never_raises(
    which: int,
    kind: int,
    code: int,
    rest: bytes,
    cut: int,
    flips: list[tuple[int, int]],
    seq_shift: int,
) -> None:
    stack, conns = live_stack()
    conn = conns[which]
    local, lport, _peer, pport = conn.key
    v6 = len(local) == 16
    lo, pe = (LOCAL6, PEER6) if v6 else (LOCAL, PEER)
    quote = bytearray(
        segment_bytes(lo, lport, pe, pport, (conn.snd_una + seq_shift) & 0xFFFFFFFF, 0, ACK)
    )
    for index, value in flips:
        if index < len(quote):
            quote[index] = value
    body = bytes(quote[:cut])
    outer = icmp_packet(ROUTER6 if v6 else ROUTER, lo, kind, code, rest, body)
    stack.receive(outer, 0)  # strict: any exception inside would surface here
    for packet in stack.transmit():
        src, dst, protocol, payload = parse_ip(packet)
        if protocol in (PROTO_ICMP, PROTO_ICMPV6):
            parse_icmp(payload, src, dst)
    stack.advance(10**9)
    for c in conns:
        check_connection(c)
    assert stack.counters["SynackInternalErrors"] == 0
