"""The host: demultiplexing, ports, bind rules, RSTs for strays, ISNs and the deadline heap."""

from __future__ import annotations

import errno

import pytest

from synack.scenarios.craft import segment_bytes
from synack.stack import STANDARD_COUNTERS, Stack
from synack.tcp.config import LINUX
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.wire import ACK, RST, SYN, TcpOptions, flag_letters, parse_ip, parse_tcp

LOCAL = "198.18.0.2"
LOCAL2 = "198.18.0.4"
PEER = "198.18.0.1"
PEER2 = "198.18.0.3"
SECOND = 1_000_000
MS = 1_000

# (local port, remote address, remote port, flags, seq, ack, payload length)
Sent = tuple[int, str, int, str, int, int, int]


def sent(stack: Stack) -> list[Sent]:
    out = []
    for packet in stack.transmit():
        src, dst, _, payload = parse_ip(packet)
        seg = parse_tcp(payload, src, dst)
        out.append(
            (
                seg.src_port,
                ".".join(map(str, dst)),
                seg.dst_port,
                flag_letters(seg.flags),
                seg.seq,
                seg.ack,
                len(seg.payload),
            )
        )
    return out


def packet(
    flags: int,
    seq: int,
    ack: int = 0,
    payload: bytes = b"",
    src: str = PEER,
    sport: int = 41000,
    dst: str = LOCAL,
    dport: int = 80,
) -> bytes:
    return segment_bytes(src, sport, dst, dport, seq, ack, flags, 65535, payload)


def new_stack(**config: int) -> Stack:
    stack = Stack([LOCAL], LINUX.with_changes(**config), strict=True)
    stack.isn_hook = lambda key: 1000
    return stack


def handshake(stack: Stack, src: str = PEER, sport: int = 41000, dport: int = 80) -> None:
    """The peer's half of a passive open; our SYN,ACK is consumed."""
    stack.receive(packet(SYN, 5000, src=src, sport=sport, dport=dport), stack.now)
    assert [s[3] for s in sent(stack)] == ["S."]
    stack.receive(packet(ACK, 5001, 1001, src=src, sport=sport, dport=dport), stack.now)
    assert sent(stack) == []


def syn_seq(stack: Stack) -> int:
    (out,) = sent(stack)
    assert out[3] == "S"
    return out[4]


# -- demultiplexing ------------------------------------------------------------------


def test_segments_reach_the_connection_of_their_4_tuple() -> None:
    stack = new_stack()
    listener = stack.listen(stack.bind(None, 80))
    peers = [(PEER, 41000), (PEER, 41001), (PEER2, 41000)]
    for src, sport in peers:
        handshake(stack, src, sport)
    conns: dict[tuple[str, int], Connection] = {}
    while (conn := listener.accept()) is not None:
        conns[(".".join(map(str, conn.key[2])), conn.key[3])] = conn
    assert set(conns) == set(peers)
    for i, (src, sport) in enumerate(peers):
        stack.receive(packet(ACK, 5001, 1001, f"to {i}".encode(), src, sport), stack.now)
    acks = sent(stack)
    assert acks == [(80, src, sport, ".", 1001, 5005, 0) for src, sport in peers]
    for i, peer in enumerate(peers):
        assert conns[peer].recv(100) == f"to {i}".encode()


def test_listener_bound_to_one_address_ignores_the_other() -> None:
    stack = Stack([LOCAL, LOCAL2], strict=True)
    stack.isn_hook = lambda key: 1000
    stack.listen(stack.bind(LOCAL, 80))
    stack.receive(packet(SYN, 5000, dst=LOCAL2), 0)
    (out,) = sent(stack)
    assert out[3:] == ("R.", 0, 5001, 0)
    stack.receive(packet(SYN, 5000, dst=LOCAL), 0)
    assert [s[3] for s in sent(stack)] == ["S."]


def test_wildcard_listener_answers_on_every_address() -> None:
    stack = Stack([LOCAL, LOCAL2], strict=True)
    stack.listen(stack.bind(None, 80))
    for dst in (LOCAL, LOCAL2):
        stack.receive(packet(SYN, 5000, dst=dst), 0)
        assert [s[3] for s in sent(stack)] == ["S."]
    assert {e.key[0] for e in stack.syn_entries()} == {
        bytes(map(int, a.split("."))) for a in (LOCAL, LOCAL2)
    }


def test_packet_for_another_host_is_dropped_without_reply() -> None:
    stack = new_stack()
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN, 5000, dst="198.18.0.99"), 0)
    assert sent(stack) == []
    assert not stack.connections
    assert stack.counters["IpInAddrErrors"] == 1


# -- RSTs for strays -----------------------------------------------------------------------


def test_stray_segments_get_rst_never_a_rst_to_a_rst() -> None:
    stack = new_stack()
    stack.receive(packet(SYN, 5000, dport=81), 0)
    stack.receive(packet(ACK, 5000, 9999, dport=81), 0)
    stack.receive(packet(RST, 5000, dport=81), 0)
    stack.receive(packet(RST | ACK, 5000, 9999, dport=81), 0)
    assert sent(stack) == [
        (81, PEER, 41000, "R.", 0, 5001, 0),
        (81, PEER, 41000, "R", 9999, 0, 0),
    ]
    counters = stack.snapshot_counters()
    assert counters["TcpOutRsts"] == 2
    assert counters["TcpOutSegs"] == 2
    assert counters["TcpInSegs"] == 4


def test_listener_port_does_not_answer_for_a_neighbouring_port() -> None:
    stack = new_stack()
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN, 5000, dport=8080), 0)
    assert [s[3] for s in sent(stack)] == ["R."]


# -- ephemeral ports -----------------------------------------------------------------------


def test_ephemeral_ports_are_distinct_and_in_range_until_exhausted() -> None:
    stack = Stack([LOCAL], LINUX.with_changes(ephemeral_low=40000, ephemeral_high=40009))
    ports = [stack.connect(PEER, 80).key[1] for _ in range(10)]
    assert sorted(ports) == list(range(40000, 40010))
    with pytest.raises(OSError) as info:
        stack.connect(PEER, 80)
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_ephemeral_port_may_repeat_towards_another_destination() -> None:
    stack = Stack([LOCAL], LINUX.with_changes(ephemeral_low=40000, ephemeral_high=40000))
    a = stack.connect(PEER, 80)
    b = stack.connect(PEER, 81)
    c = stack.connect(PEER2, 80)
    assert a.key[1] == b.key[1] == c.key[1] == 40000
    assert len({a.key, b.key, c.key}) == 3


def test_ephemeral_ports_avoid_listeners_and_bindings() -> None:
    stack = Stack([LOCAL], LINUX.with_changes(ephemeral_low=40000, ephemeral_high=40002))
    stack.listen(stack.bind(None, 40000))
    stack.bind(None, 40001)
    assert stack.connect(PEER, 80).key[1] == 40002
    with pytest.raises(OSError) as info:
        stack.connect(PEER, 80)
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_bind_port_zero_picks_a_free_ephemeral_port() -> None:
    stack = Stack([LOCAL], LINUX.with_changes(ephemeral_low=40000, ephemeral_high=40004))
    ports = {stack.bind(None, 0).port for _ in range(5)}
    assert ports == set(range(40000, 40005))
    with pytest.raises(OSError) as info:
        stack.bind(None, 0)
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_ephemeral_choice_is_deterministic_for_a_seed() -> None:
    def ports(seed: int) -> list[int]:
        stack = Stack([LOCAL], seed=seed)
        return [stack.connect(PEER, 80).key[1] for _ in range(5)]

    assert ports(3) == ports(3)
    assert all(32768 <= p <= 60999 for p in ports(3))


# -- bind rules ------------------------------------------------------------------------------


def test_bind_twice_is_eaddrinuse() -> None:
    stack = new_stack()
    stack.bind(None, 5000)
    with pytest.raises(OSError) as info:
        stack.bind(None, 5000)
    assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError):
        stack.bind(LOCAL, 5000)  # the wildcard overlaps every address


def test_bind_with_reuseaddr_on_both_sockets_succeeds() -> None:
    stack = new_stack()
    stack.bind(None, 5000, reuseaddr=True)
    stack.bind(None, 5000, reuseaddr=True)
    with pytest.raises(OSError):
        stack.bind(None, 5000)  # not when the newcomer lacks it


def test_listener_holds_its_port_even_against_reuseaddr() -> None:
    stack = new_stack()
    stack.listen(stack.bind(None, 80, reuseaddr=True))
    for reuse in (False, True):
        with pytest.raises(OSError) as info:
            stack.bind(None, 80, reuseaddr=reuse)
        assert info.value.errno == errno.EADDRINUSE


def test_second_listen_on_a_port_is_eaddrinuse() -> None:
    stack = new_stack()
    first = stack.bind(None, 80, reuseaddr=True)
    second = stack.bind(None, 80, reuseaddr=True)
    stack.listen(first)
    with pytest.raises(OSError) as info:
        stack.listen(second)
    assert info.value.errno == errno.EADDRINUSE


def test_port_is_free_again_after_the_listener_closes() -> None:
    stack = new_stack()
    listener = stack.listen(stack.bind(None, 80))
    listener.close()
    stack.bind(None, 80)
    stack.receive(packet(SYN, 5000), 0)
    assert [s[3] for s in sent(stack)] == ["R."]


def time_wait_on_port(stack: Stack, port: int) -> Connection:
    conn = stack.connect(PEER, 80, binding=stack.bind(None, port))
    sent(stack)
    stack.receive(packet(SYN | ACK, 5000, 1001, sport=80, dport=port), 0)
    conn.close()
    stack.receive(packet(ACK | 0x01, 5001, 1002, sport=80, dport=port), 0)  # FIN,ACK
    sent(stack)
    assert conn.state is State.TIME_WAIT
    return conn


def test_time_wait_holds_the_port_unless_reuseaddr() -> None:
    stack = new_stack()
    conn = time_wait_on_port(stack, 5000)
    with pytest.raises(OSError) as info:
        stack.bind(None, 5000)
    assert info.value.errno == errno.EADDRINUSE
    binding = stack.bind(None, 5000, reuseaddr=True)
    stack.unbind(binding)
    stack.advance(60 * SECOND)  # TIME_WAIT ends
    assert conn.state is State.CLOSED
    stack.bind(None, 5000)


def test_established_connection_holds_the_port() -> None:
    stack = new_stack()
    stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    with pytest.raises(OSError) as info:
        stack.bind(None, 5000)
    assert info.value.errno == errno.EADDRINUSE


def test_connect_on_a_taken_4_tuple_is_eaddrinuse() -> None:
    stack = new_stack()
    stack.connect(PEER, 80, binding=stack.bind(None, 5000, reuseaddr=True))
    binding = stack.bind(None, 5000, reuseaddr=True)
    with pytest.raises(OSError) as info:
        stack.connect(PEER, 80, binding=binding)
    assert info.value.errno == errno.EADDRINUSE
    stack.connect(PEER, 81, binding=binding)  # another destination is a new 4-tuple


def test_bind_to_a_foreign_address_is_eaddrnotavail() -> None:
    stack = new_stack()
    with pytest.raises(OSError) as info:
        stack.bind("198.18.0.99", 80)
    assert info.value.errno == errno.EADDRNOTAVAIL


@pytest.mark.parametrize("port", [-1, 65536])
def test_bind_port_out_of_range(port: int) -> None:
    with pytest.raises(OverflowError):
        new_stack().bind(None, port)


def test_connect_to_another_family_is_unreachable() -> None:
    with pytest.raises(OSError) as info:
        new_stack().connect("2001:db8::1", 80)
    assert info.value.errno == errno.ENETUNREACH


def server_time_wait(stack: Stack) -> Connection:
    """A passive connection that the server closed first, now in TIME_WAIT."""
    listener = stack.listen(stack.bind(None, 80))
    handshake(stack)
    conn = listener.accept()
    assert conn is not None
    conn.close()
    assert sent(stack) == [(80, PEER, 41000, "F.", 1001, 5001, 0)]
    stack.receive(packet(ACK | 0x01, 5001, 1002), 0)  # FIN,ACK
    assert sent(stack) == [(80, PEER, 41000, ".", 1002, 5002, 0)]
    assert conn.state is State.TIME_WAIT
    return conn


def test_new_syn_with_higher_seq_reopens_a_time_wait_pair() -> None:
    stack = new_stack()
    old = server_time_wait(stack)
    stack.advance(1 * SECOND)
    stack.receive(packet(SYN, 90_000), stack.now)  # above the old RCV.NXT (RFC 6191)
    # the new ISS lies far above anything the old incarnation sent (old SND.NXT + 65537)
    assert sent(stack) == [(80, PEER, 41000, "S.", 1002 + 65537, 90_001, 0)]
    (new,) = stack.connections.values()
    assert new is not old and new.state is State.SYN_RCVD
    stack.receive(packet(ACK, 90_001, 1002 + 65538), stack.now)
    listener = stack.listeners[(b"", 80)]
    conn = listener.accept()
    assert conn is not None and conn.state is State.ESTABLISHED


def test_old_syn_in_time_wait_gets_an_ack() -> None:
    stack = new_stack()
    conn = server_time_wait(stack)
    stack.receive(packet(SYN, 4000), 0)  # below RCV.NXT: an old duplicate
    assert sent(stack) == [(80, PEER, 41000, ".", 1002, 5002, 0)]
    assert conn.state is State.TIME_WAIT


FIN = 0x01


def test_syn_fin_at_a_listener_is_discarded_as_linux_does() -> None:
    stack = new_stack()
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN | FIN, 5000), 0)
    assert sent(stack) == []
    assert not stack.connections


def test_syn_fin_at_a_listener_opens_like_a_syn_where_allowed() -> None:
    """FreeBSD with drop_synfin=0: the SYN is taken, its FIN forgotten."""
    stack = new_stack(listen_synfin=True)
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN | FIN, 5000), 0)
    assert sent(stack) == [(80, PEER, 41000, "S.", 1000, 5001, 0)]


def test_drop_synfin_overrides_a_listener_that_takes_syn_fin() -> None:
    stack = new_stack(listen_synfin=True, drop_synfin=True)
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN | FIN, 5000), 0)
    assert sent(stack) == []


def test_syn_fin_does_not_reopen_time_wait_when_the_listener_would_discard_it() -> None:
    stack = new_stack()
    old = server_time_wait(stack)
    stack.receive(packet(SYN | FIN, 90_000), stack.now)
    assert [s[3] for s in sent(stack)] != ["S."]
    assert old.state is State.TIME_WAIT
    assert not stack.connections  # TIME-WAIT lives on as a compact entry
    assert [entry.key for entry in stack.time_wait] == [old.key]


def test_syn_fin_reopens_time_wait_when_the_listener_takes_it() -> None:
    stack = new_stack(listen_synfin=True)
    server_time_wait(stack)
    stack.receive(packet(SYN | FIN, 90_000), stack.now)
    assert sent(stack) == [(80, PEER, 41000, "S.", 1002 + 65537, 90_001, 0)]


def test_syn_ack_at_a_listener_gets_a_rst_unless_configured_silent() -> None:
    stack = new_stack()
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN | ACK, 5000, 777), 0)
    assert sent(stack) == [(80, PEER, 41000, "R", 777, 0, 0)]
    quiet = new_stack(listen_rst_synack=False)
    quiet.listen(quiet.bind(None, 80))
    quiet.receive(packet(SYN | ACK, 5000, 777), 0)
    assert sent(quiet) == []


@pytest.mark.parametrize("drops_fin", [False, True])
def test_text_on_a_crossing_syn_waits_for_established_and_its_fin_may_be_lost(
    drops_fin: bool,
) -> None:
    stack = new_stack(simultaneous_open_drops_fin=drops_fin)
    conn = stack.connect(PEER, 80)
    iss = syn_seq(stack)
    stack.receive(packet(SYN | FIN, 5000, payload=b"abc", sport=80, dport=conn.key[1]), 0)
    assert sent(stack) == [(conn.key[1], PEER, 80, "S.", iss, 5001, 0)]
    stack.receive(packet(ACK, 5004, iss + 1, sport=80, dport=conn.key[1]), 0)
    assert conn.recv(10) == b"abc"
    assert conn.state is (State.ESTABLISHED if drops_fin else State.CLOSE_WAIT)


@pytest.mark.parametrize("takes_ack", [False, True])
def test_a_repeated_fin_that_acks_ours_ends_closing_where_configured(takes_ack: bool) -> None:
    stack = new_stack(ack_of_old_segment=takes_ack)
    listener = stack.listen(stack.bind(None, 80))
    handshake(stack)
    conn = listener.accept()
    assert conn is not None
    conn.close()
    assert sent(stack) == [(80, PEER, 41000, "F.", 1001, 5001, 0)]
    stack.receive(packet(ACK | FIN, 5001, 1001), 0)  # crosses ours: CLOSING
    assert sent(stack) == [(80, PEER, 41000, ".", 1002, 5002, 0)]
    assert conn.state is State.CLOSING
    stack.receive(packet(ACK | FIN, 5001, 1002), 0)  # the same FIN again, now ACKing ours
    assert sent(stack) == [(80, PEER, 41000, ".", 1002, 5002, 0)]
    assert conn.state is (State.TIME_WAIT if takes_ack else State.CLOSING)


# -- initial sequence numbers ---------------------------------------------------------------


def test_isn_is_deterministic_for_a_seed() -> None:
    def first_syn(seed: int) -> tuple[int, int]:
        stack = Stack([LOCAL], seed=seed)
        conn = stack.connect(PEER, 80)
        return conn.key[1], syn_seq(stack)

    assert first_syn(11) == first_syn(11)
    assert first_syn(11)[1] != first_syn(12)[1]


def test_isn_differs_per_4_tuple() -> None:
    stack = Stack([LOCAL, LOCAL2], seed=5)
    isns = []
    for local, lport, remote, rport in [
        (LOCAL, 5000, PEER, 80),
        (LOCAL, 5001, PEER, 80),
        (LOCAL, 5000, PEER, 81),
        (LOCAL, 5000, PEER2, 80),
        (LOCAL2, 5000, PEER, 80),
    ]:
        stack.connect(remote, rport, binding=stack.bind(local, lport, reuseaddr=True))
        isns.append(syn_seq(stack))
    assert len(set(isns)) == len(isns)


def test_isn_advances_with_a_4_microsecond_clock() -> None:
    stack = Stack([LOCAL], seed=5)
    conn = stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    first = syn_seq(stack)
    conn.abort()
    stack.advance(4 * SECOND)
    stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    assert syn_seq(stack) == (first + 1_000_000) % 2**32


def test_isn_hook_overrides() -> None:
    stack = Stack([LOCAL], seed=5)
    stack.isn_hook = lambda key: 2**32 - 10 + key[1] - 5000
    stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    assert syn_seq(stack) == 2**32 - 10


def test_passive_open_uses_the_isn_too() -> None:
    stack = Stack([LOCAL], seed=5)
    stack.listen(stack.bind(None, 80))
    stack.receive(packet(SYN, 5000, sport=41000), 0)
    stack.receive(packet(SYN, 5000, sport=41001), 0)
    (a, b) = sent(stack)
    assert a[3] == b[3] == "S."
    assert a[4] != b[4]


# -- the deadline heap -------------------------------------------------------------------------


def test_fresh_stack_has_no_deadline() -> None:
    stack = new_stack()
    assert stack.next_deadline() is None
    stack.advance(10 * SECOND)
    assert stack.transmit() == []


def test_deadlines_fire_in_order() -> None:
    stack = new_stack()
    x = stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    stack.advance(500 * MS)
    y = stack.connect(PEER, 80, binding=stack.bind(None, 5001))
    sent(stack)
    assert stack.next_deadline() == 1 * SECOND  # x's SYN timer
    stack.advance(1200 * MS)
    assert [s[0] for s in sent(stack)] == [5000]
    assert stack.next_deadline() == 1500 * MS  # y's
    # both are due by 3.5 s: y's (1.5 s) fires before x's (1.2 + 2 = 3.2 s)
    stack.advance(3500 * MS)
    assert [s[0] for s in sent(stack)] == [5001, 5000]
    assert x.state is y.state is State.SYN_SENT


def test_nothing_fires_before_its_deadline() -> None:
    stack = new_stack()
    stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    sent(stack)
    stack.advance(1 * SECOND - 1)
    assert sent(stack) == []
    stack.advance(1 * SECOND)
    assert len(sent(stack)) == 1


def test_stale_entries_are_skipped() -> None:
    stack = new_stack()
    x = stack.connect(PEER, 80, binding=stack.bind(None, 5000))
    stack.advance(500 * MS)
    stack.connect(PEER, 80, binding=stack.bind(None, 5001))
    sent(stack)
    x.abort()  # its 1 s entry stays in the heap, stale
    assert stack.next_deadline() == 1500 * MS
    stack.advance(1500 * MS)
    assert [s[0] for s in sent(stack)] == [5001]


def test_heap_empties_when_every_connection_is_gone() -> None:
    stack = new_stack()
    conns = [stack.connect(PEER, 80, binding=stack.bind(None, 5000 + i)) for i in range(3)]
    for conn in conns:
        conn.abort()
    assert stack.next_deadline() is None
    stack.advance(200 * SECOND)
    assert sent(stack) == [(5000 + i, PEER, 80, "S", 1000, 0, 0) for i in range(3)]


def test_deadline_moves_earlier_when_a_connection_needs_it() -> None:
    stack = new_stack()
    stack.listen(stack.bind(None, 80))
    handshake(stack)  # at time 0: a 1 us RTT sample, RTO at its 200 ms floor
    (conn,) = stack.connections.values()
    conn.set_keepalive(True, idle_s=100, interval_s=10, count=1)
    # A later deadline never replaces an earlier heap entry: the SYN,ACK's old 1 s
    # entry may still wake the stack once (lazy invalidation), harmlessly.
    stack.advance(1 * SECOND)
    assert sent(stack) == []
    assert stack.next_deadline() == 100 * SECOND  # the keepalive
    conn.send(b"x")
    assert [s[3:] for s in sent(stack)] == [("P.", 1001, 5001, 1)]
    assert stack.next_deadline() == 1200 * MS  # the retransmission timer comes first
    stack.advance(1200 * MS)
    assert [s[3:] for s in sent(stack)] == [("P.", 1001, 5001, 1)]


# -- counters ------------------------------------------------------------------------------------


def test_standard_counters_are_present_and_zero_on_a_fresh_stack() -> None:
    snapshot = new_stack().snapshot_counters()
    assert set(STANDARD_COUNTERS) <= set(snapshot)
    assert all(snapshot[name] == 0 for name in STANDARD_COUNTERS)


def test_options_in_a_stray_syn_do_not_matter() -> None:
    stack = new_stack()
    opts = TcpOptions(mss=1460, wscale=7, timestamp=(1, 0))
    stack.receive(segment_bytes(PEER, 41000, LOCAL, 81, 5000, 0, SYN, 65535, b"", opts), 0)
    assert sent(stack) == [(81, PEER, 41000, "R.", 0, 5001, 0)]
