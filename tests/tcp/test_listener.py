"""The listener: SYN-cache entries instead of connection objects, backlog semantics,
SYN cookies against forged ACKs, TCP_DEFER_ACCEPT and the per-peer cap."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synack.api.socket import Socket
from synack.scenarios.world import World
from synack.socket import IPPROTO_TCP, TCP_DEFER_ACCEPT
from synack.stack import pack_address
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.events import StateChange
from synack.tcp.listener import defer_accept_retransmissions, defer_accept_seconds
from synack.tcp.state import State
from synack.trace.inspect import ss
from synack.wire import TcpOptions

from .harness import ISS, LPORT, MS, PEER, PEER_ISS, PPORT, SECOND, Harness, Out

FULL = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(12345, 0))
NO_CACHE = LINUX.with_changes(syn_cache=False)


def half_open(h: Harness) -> int:
    return len(h.stack.syn_entries())


# -- a SYN costs an entry, not a connection -------------------------------------------


def test_a_syn_makes_an_entry_and_no_connection() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=FULL)
    assert h.tx() == [("S.", ISS, PEER_ISS + 1, 0)]
    assert not h.stack.connections
    assert half_open(h) == 1
    assert h.state() is State.SYN_RCVD
    assert h.stack.counters["TcpPassiveOpens"] == 1


def _synack(config: TcpConfig, options: TcpOptions | None, retransmit: bool) -> list[Out]:
    h = Harness(config)
    h.listen()
    h.inject("S", PEER_ISS, options=options, at=5 * MS)
    first = h.out()
    if not retransmit:
        return first
    h.inject("S", PEER_ISS, options=options, at=300 * MS)  # a repeated SYN
    again = h.out()
    timed = h.advance(1005 * MS)  # the first timeout
    assert len(timed) == 1
    return again


option_sets = st.builds(
    TcpOptions,
    mss=st.none() | st.integers(0, 65535),
    wscale=st.none() | st.integers(0, 255),
    sack_permitted=st.booleans(),
    timestamp=st.none() | st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    options=st.none() | option_sets,
    sack=st.booleans(),
    timestamps=st.booleans(),
    scaling=st.booleans(),
    layout=st.sampled_from(["linux", "freebsd"]),
    retransmit=st.booleans(),
)
def test_the_cache_sends_the_syn_ack_a_child_connection_would(
    options: TcpOptions | None,
    sack: bool,
    timestamps: bool,
    scaling: bool,
    layout: str,
    retransmit: bool,
) -> None:
    config = LINUX.with_changes(
        sack=sack, timestamps=timestamps, window_scaling=scaling, syn_option_layout=layout
    )
    cached = _synack(config, options, retransmit)
    full = _synack(config.with_changes(syn_cache=False), options, retransmit)
    assert cached == full


def test_every_syn_option_combination_in_a_flood_crashes_nothing() -> None:
    """Exhaustively: every subset of the SYN options, with odd values, many times over,
    against a small cache; then third ACKs that echo each SYN,ACK complete handshakes."""
    config = LINUX.with_changes(syncookies=0, syncache_buckets=4, syncache_bucket_limit=16)
    h = Harness(config)
    h.listen(backlog=4096)
    values = {
        "mss": [None, 0, 1, 536, 65535],
        "wscale": [None, 0, 14, 15, 255],
        "sack_permitted": [False, True],
        "timestamp": [None, (0, 0), (2**32 - 1, 2**32 - 1)],
    }
    port = 1024
    for combo in itertools.product(*values.values()):
        opts = TcpOptions(**dict(zip(values, combo, strict=True)))
        for flags in ("S", "SF", "SP", "SU"):
            h.inject(flags, PEER_ISS, options=opts, sport=port, window=port % 65536)
            port += 1
    assert h.stack.counters.get("SynackInternalErrors", 0) == 0
    assert half_open(h) == 64
    assert h.stack.counters["SynackSyncacheEvictions"] > 0
    established = 0
    for out in h.out():
        if out.flags == "S.":
            h.inject(".", out.ack, out.seq + 1, sport=out.dport)
            established += 1
    listener = h.stack.listeners[(b"", LPORT)]
    assert len(listener.accept_queue) == min(established, 64) > 0
    assert h.stack.counters.get("SynackInternalErrors", 0) == 0


def test_a_repeated_syn_gets_the_syn_ack_again_and_no_second_entry() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=FULL)
    h.out()
    h.inject("S", PEER_ISS, options=FULL, at=200 * MS)
    assert h.tx() == [("S.", ISS, PEER_ISS + 1, 0)]
    assert half_open(h) == 1
    assert h.stack.counters["TcpRetransSegs"] == 1


def test_syn_acks_are_retransmitted_from_the_cache_then_given_up() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=FULL)
    h.out()
    sent = h.run_until(100 * SECOND)
    assert [t // SECOND for t, _ in sent if _[0] == "S."] == [1, 3, 7, 15, 31]
    assert half_open(h) == 0 and not h.stack.connections
    counters = h.stack.counters
    assert counters["TcpRetransSegs"] == 5
    assert counters["TcpExtTCPAbortOnTimeout"] == 1
    assert counters["TcpAttemptFails"] == 1
    assert h.stack.next_deadline() is None


def test_the_third_ack_after_a_retransmission_keeps_the_backoff() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS, options=TcpOptions(mss=1460))
    h.out()
    h.advance(1 * SECOND)  # one SYN,ACK retransmitted: no RTT sample (Karn)
    h.inject(".", PEER_ISS + 1, ISS + 1, at=1100 * MS)
    (conn,) = h.stack.connections.values()
    assert conn.state is State.ESTABLISHED
    assert conn.rto.srtt is None and conn.rto.rto == 3 * SECOND  # RFC 6298 (5.7)


def test_a_third_ack_with_data_and_fin_creates_the_connection_with_both() -> None:
    h = Harness()
    listener = h.listen()
    h.inject("S", PEER_ISS, options=FULL)
    h.out()
    h.inject("F.", PEER_ISS + 1, ISS + 1, payload=b"hello", at=40 * MS)
    assert h.tx() == [(".", ISS + 1, PEER_ISS + 7, 0)]
    conn = listener.accept()
    assert conn is not None and conn.state is State.CLOSE_WAIT
    assert conn.recv(100) == b"hello"
    assert conn.ws_ok and conn.snd_wscale == 7 and conn.ts_ok
    assert conn.snd_mss == 1460 - 12
    assert half_open(h) == 0


def test_a_rst_at_the_right_sequence_ends_the_entry_and_traces_it() -> None:
    h = Harness()
    h.listen()
    events: list[object] = []
    h.stack.tracer = events.append
    h.inject("S", PEER_ISS)
    h.out()
    h.inject("R", PEER_ISS + 1, at=10 * MS)
    assert h.tx() == [] and half_open(h) == 0 and not h.stack.connections
    states = [(e.old, e.new) for e in events if isinstance(e, StateChange) and e.key[3]]
    assert states == [
        (State.LISTEN, State.SYN_RCVD),
        (State.SYN_RCVD, State.LISTEN),
    ]


def test_a_wrong_ack_for_an_entry_is_reset_and_the_handshake_can_still_end() -> None:
    h = Harness()
    listener = h.listen()
    h.inject("S", PEER_ISS)
    h.out()
    h.inject(".", PEER_ISS + 1, ISS + 99, at=10 * MS)
    assert h.tx() == [("R", ISS + 99, 0, 0)]
    h.inject(".", PEER_ISS + 1, ISS + 1, at=20 * MS)
    assert listener.accept() is not None


def test_bad_segments_make_at_most_max_syn_backlog_half_open_connections() -> None:
    """Only a segment an entry cannot answer makes it a full connection; a spoofer who
    sends one after each SYN gets max_syn_backlog of them, and the rest stay entries."""
    h = Harness(LINUX.with_changes(max_syn_backlog=2))
    listener = h.listen()
    for i in range(5):
        h.inject("S", PEER_ISS, sport=PPORT + i)
    h.out()
    for i in range(5):
        h.inject(".", PEER_ISS + 1, ISS + 99, sport=PPORT + i, at=10 * MS)
    assert [o.flags for o in h.out()] == ["R", "R"]  # the first two, as connections
    assert len(listener.half_open) == 2 and half_open(h) == 3
    assert h.stack.counters["SynackHalfOpenFullDrops"] == 3
    h.inject(".", PEER_ISS + 1, ISS + 1, sport=PPORT + 4, at=20 * MS)  # a real third ACK
    assert listener.accept() is not None


# -- backlog semantics -------------------------------------------------------------------


@pytest.mark.parametrize("abort", [0, 1])
def test_a_full_accept_queue_drops_the_third_ack_or_resets(abort: int) -> None:
    h = Harness(LINUX.with_changes(abort_on_overflow=abort))
    listener = h.listen(backlog=1)
    for port in (PPORT, PPORT + 1):
        h.inject("S", PEER_ISS, sport=port)
    h.out()
    for port in (PPORT, PPORT + 1):
        h.inject(".", PEER_ISS + 1, ISS + 1, sport=port, at=10 * MS)
    counters = h.stack.counters
    assert len(listener.accept_queue) == 1
    assert counters["TcpExtListenOverflows"] == 1 and counters["TcpExtListenDrops"] == 1
    if abort:
        assert h.tx() == [("R", ISS + 1, 0, 0)]
        assert half_open(h) == 0
    else:
        assert h.tx() == []
        assert half_open(h) == 1  # kept: its SYN,ACK timer makes the peer ACK again
        listener.accept()
        h.advance(1 * SECOND)
        h.inject(".", PEER_ISS + 1, ISS + 1, sport=PPORT + 1, at=1100 * MS)
        assert listener.accept() is not None


def test_a_full_cache_gives_up_its_oldest_entry() -> None:
    one_bucket = dict(syncache_buckets=1, syncache_bucket_limit=3)
    h = Harness(LINUX.with_changes(syncookies=0, **one_bucket))
    h.listen()
    for i in range(5):
        h.inject("S", PEER_ISS, sport=PPORT + i, at=i * MS)
    assert half_open(h) == 3
    assert sorted(e.key[3] for e in h.stack.syn_entries()) == [PPORT + 2, PPORT + 3, PPORT + 4]
    assert h.stack.counters["SynackSyncacheEvictions"] == 2


def test_the_cache_holds_more_than_max_syn_backlog_whatever_the_backlog() -> None:
    """Entries are small, so the cache is sized by its buckets (512 x 30), not by
    max_syn_backlog or listen(): every SYN of a burst keeps its entry, none a cookie."""
    h = Harness(LINUX.with_changes(max_syn_backlog=8))
    listener = h.listen(backlog=1)
    for i in range(1000):
        h.inject("S", PEER_ISS, sport=PPORT + i, at=i)
    assert half_open(h) == 1000 and listener.half_open_limit() == 512 * 30
    assert h.stack.counters["TcpExtSyncookiesSent"] == 0
    assert h.stack.counters.get("SynackSyncacheEvictions", 0) == 0
    assert len(h.stack.connections) == 0  # entries, not connection objects


def test_without_the_cache_a_full_syn_queue_drops_new_syns() -> None:
    h = Harness(NO_CACHE.with_changes(max_syn_backlog=3, syncookies=0))
    listener = h.listen()
    for i in range(5):
        h.inject("S", PEER_ISS, sport=PPORT + i, at=i * MS)
    assert len(listener.half_open) == 3 and len(h.stack.connections) == 3
    assert h.stack.counters["TcpExtTCPReqQFullDrop"] == 2
    assert h.stack.counters["TcpExtListenDrops"] == 2


def test_somaxconn_caps_the_backlog() -> None:
    h = Harness(LINUX.with_changes(somaxconn=16))
    assert h.listen(backlog=1000).backlog == 16


# -- SYN cookies against forged ACKs -----------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 65535), st.integers(0, 2**32 - 1)), max_size=40))
def test_acks_with_random_cookies_create_nothing_and_are_counted(
    acks: list[tuple[int, int]],
) -> None:
    h = Harness(LINUX.with_changes(syncookies=2))
    h.listen()
    rng = random.Random(len(acks))
    for port, ack in acks:
        h.inject(".", rng.getrandbits(32), ack, sport=port)
    assert not h.stack.connections and half_open(h) == 0
    assert h.stack.counters["TcpExtSyncookiesFailed"] == len(acks)
    assert [o.flags for o in h.out()] == ["R"] * len(acks)


def test_random_acks_next_to_live_entries_touch_none_of_them() -> None:
    h = Harness(LINUX.with_changes(syncookies=1, syncache_buckets=1, syncache_bucket_limit=4))
    listener = h.listen()
    for i in range(6):  # four entries, then two cookies
        h.inject("S", PEER_ISS, sport=PPORT + i)
    assert half_open(h) == 4 and h.stack.counters["TcpExtSyncookiesSent"] == 2
    h.out()
    rng = random.Random(4)
    for _ in range(2000):
        h.inject(".", rng.getrandbits(32), rng.getrandbits(32), sport=rng.randrange(1024, 30000))
    assert not h.stack.connections and half_open(h) == 4 and not listener.accept_queue
    assert h.stack.counters["TcpExtSyncookiesFailed"] == 2000


# -- TCP_DEFER_ACCEPT ---------------------------------------------------------------------


def test_defer_accept_seconds_round_up_to_whole_timeouts() -> None:
    assert [defer_accept_retransmissions(s, 1, 120) for s in (0, 1, 2, 3, 5, 7, 8)] == [
        0,
        1,
        2,
        2,
        3,
        3,
        4,
    ]
    assert defer_accept_seconds(3, 1, 120) == 7


def _deferred_world() -> tuple[World, Socket, Socket]:
    world = World(seed=3)
    srv = world.socket("B")
    srv.setsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT, 5)
    srv.bind((world.address("B"), 80))
    srv.listen()
    assert srv.getsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT) == 7  # 1 + 2 + 4 s of timeouts
    cli = world.socket("A")
    cli.connect((world.address("B"), 80))  # returns once the SYN,ACK is in
    return world, srv, cli


def test_defer_accept_wakes_accept_only_when_data_comes() -> None:
    world, srv, cli = _deferred_world()
    world.run(2)
    listener = srv._listener
    assert listener is not None
    assert not listener.accept_queue
    b = world.stack("B")
    assert b.counters["TcpExtTCPDeferAcceptDrop"] == 1
    assert len(b.syn_entries()) == 1 and not b.connections
    cli.sendall(b"GET /")
    conn, _ = srv.accept()
    assert conn.recv(100) == b"GET /"


def test_defer_accept_ends_with_a_connection_when_no_data_ever_comes() -> None:
    """Linux: no SYN,ACK while deferring, then one at the end of the period; the ACK it
    draws completes the handshake, and accept() returns a connection without data."""
    world, srv, _cli = _deferred_world()
    start = world.now
    b = world.stack("B")
    world.run(6.5)
    assert b.counters["TcpRetransSegs"] == 0 and len(b.syn_entries()) == 1
    world.run(1)  # the third timeout, at 7 s: its SYN,ACK draws an ACK that is taken
    assert b.counters["TcpRetransSegs"] == 1
    conn, _ = srv.accept()
    assert conn.state is State.ESTABLISHED and conn.pending() == 0
    assert not b.syn_entries() and world.now - start < 9 * SECOND


# -- per-peer cap -------------------------------------------------------------------------


def test_connections_beyond_the_per_peer_cap_are_dropped_until_one_closes() -> None:
    world = World(seed=4)
    srv = world.socket("B")
    srv.bind((world.address("B"), 80))
    srv.listen(16, max_per_peer=2)
    b = world.stack("B")
    clients = []
    for _ in range(2):
        cli = world.socket("A")
        cli.connect((world.address("B"), 80))
        clients.append(cli)
    third = world.socket("A")
    third.setblocking(False)
    third.connect_ex((world.address("B"), 80))
    world.run(0.5)
    assert b.counters["SynackPerPeerDrops"] == 1
    accepted = [srv.accept()[0] for _ in range(2)]
    assert not srv._listener.accept_queue
    clients[0].close()
    world.run(0.1)
    accepted[0].close()  # the client closed first: B's child ends in CLOSED, not TIME-WAIT
    world.run(0.1)  # its slot is free again
    assert b.counters["SynackPerPeerDrops"] == 1
    world.run(1)  # the third client's SYN goes again at 1 s and is taken
    conn, _ = srv.accept()
    assert conn is not None and world.now < 2 * SECOND
    assert srv._listener.per_peer == {pack_address(world.address("A")): 2}


def test_a_syn_reopening_a_time_wait_pair_counts_against_the_per_peer_cap() -> None:
    import socket as std

    world = World(seed=5)
    srv = world.socket("B")
    srv.bind((world.address("B"), 80))
    srv.listen(16, max_per_peer=1)
    b = world.stack("B")
    peer = pack_address(world.address("A"))

    def connect_from(port: int) -> Socket:
        cli = world.socket("A")
        cli.setsockopt(std.SOL_SOCKET, std.SO_REUSEADDR, 1)
        cli.bind((world.address("A"), port))
        cli.setblocking(False)
        cli.connect_ex((world.address("B"), 80))
        return cli

    first = connect_from(40000)
    world.run(0.1)
    conn, _ = srv.accept()
    conn.close()  # the server closes first: B holds the pair in TIME-WAIT
    world.run(0.1)
    first.close()
    world.run(0.1)
    assert len(b.time_wait) == 1 and srv._listener.per_peer == {}
    other = connect_from(40001)  # the peer's one allowed connection
    world.run(0.1)
    held, _ = srv.accept()
    again = connect_from(40000)  # a new SYN on the pair in TIME-WAIT (RFC 6191)
    world.run(0.1)
    assert b.counters["SynackPerPeerDrops"] == 1 and len(b.time_wait) == 1
    held.close()
    other.close()
    world.run(1.5)  # the SYN goes again at 1 s, now within the cap, and reopens the pair
    reopened, _ = srv.accept()
    assert reopened is not None and len(b.time_wait) == 1  # 40001's close left its own
    assert srv._listener.per_peer == {peer: 1}
    assert again.getsockname()[1] == 40000


# -- inspection -------------------------------------------------------------------------


def test_ss_lists_half_open_entries_in_syn_recv() -> None:
    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS)
    h.out()
    h.advance(250 * MS)
    table = ss(h.stack, timers=True)
    line = next(row for row in table.splitlines() if row.startswith("SYN-RECV"))
    assert f"{PEER}:{PPORT}" in line and "timer:(on,750ms,0)" in line


def test_closing_the_listener_forgets_its_half_open_entries() -> None:
    h = Harness()
    listener = h.listen()
    h.inject("S", PEER_ISS)
    h.out()
    listener.close()
    assert h.tx() == []  # Linux sends nothing for a request socket
    assert h.stack.next_deadline() is None
    h.inject(".", PEER_ISS + 1, ISS + 1)  # the third ACK now meets no connection
    assert h.tx() == [("R", ISS + 1, 0, 0)]


def test_an_icmp_error_for_an_entry_is_checked_against_its_iss() -> None:
    from synack.wire.icmp import IcmpMessage, build_icmp
    from synack.wire.ip import PROTO_ICMP, build_ip

    h = Harness()
    h.listen()
    h.inject("S", PEER_ISS)
    (synack_out,) = h.stack.transmit()
    router = pack_address("198.18.0.9")
    local = pack_address("198.18.0.2")
    bad = bytearray(synack_out)
    bad[24:28] = (ISS + 5).to_bytes(4, "big")  # the quoted sequence number, made wrong
    for quoted, dropped in ((bytes(bad), False), (synack_out, True)):
        msg = IcmpMessage(3, 1, bytes(4), quoted[:28])
        h.stack.receive(build_ip(router, local, PROTO_ICMP, build_icmp(msg, router, local)), 0)
        assert (half_open(h) == 0) is dropped
    assert h.stack.counters["TcpExtOutOfWindowIcmps"] == 1
    assert h.stack.counters["TcpExtListenDrops"] == 1
