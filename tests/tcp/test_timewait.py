"""TIME-WAIT as compact entries: the table, its expiry, max_tw_buckets, rfc1337, tw_reuse."""

from __future__ import annotations

import errno
import gc
import weakref

import pytest

from synack.api.socket import SO_REUSEADDR, SOL_SOCKET
from synack.scenarios.world import World
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.events import TIME_WAIT, StateChange, TimerFired, TimerSet
from synack.tcp.state import State
from synack.tcp.timewait import TimeWaitEntry, pack_key, unpack_key
from synack.wire import TcpOptions

from .harness import MS, PEER_ISS, RCV_NXT, SECOND, SND_NXT, Harness, established_active

TS = TcpOptions(mss=1460, timestamp=(7000, 0), wscale=7)


def time_wait(config: TcpConfig = LINUX, options: TcpOptions | None = None) -> tuple[Harness, int]:
    """Our side closes first and reaches TIME-WAIT; the connection object is let go."""
    h = Harness(config)
    conn = established_active(h, options)
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT + 1)
    assert [o.flags for o in h.out()] == ["."]
    return h, h.now


def test_the_stack_keeps_a_compact_entry_and_lets_the_connection_go() -> None:
    h = Harness()
    conn = established_active(h, TS)
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT + 1, options=TcpOptions(timestamp=(7100, 0)))
    h.out()
    assert conn.state is State.TIME_WAIT
    assert not h.stack.connections
    (entry,) = h.stack.time_wait
    assert entry.key == conn.key
    assert (entry.snd_nxt, entry.rcv_nxt, entry.ts_ok, entry.ts_recent) == (
        SND_NXT + 1,
        RCV_NXT + 1,
        True,
        7100,
    )
    assert not hasattr(entry, "__dict__")
    ref = weakref.ref(conn)
    del conn
    h.advance(h.now + 1 * SECOND)  # timers the connection left behind run out
    gc.collect()
    assert ref() is None, "TIME-WAIT still holds the whole connection"
    assert len(h.stack.time_wait) == 1


def test_an_entry_answers_a_retransmitted_fin_with_the_same_ack_and_timestamps() -> None:
    h = Harness()
    conn = established_active(h, TS)
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT + 1, options=TcpOptions(timestamp=(7100, 0)))
    first = h.out()[0]
    h.inject("F.", RCV_NXT, SND_NXT + 1, options=TcpOptions(timestamp=(7300, 0)), at=h.now + MS)
    (again,) = h.out()
    assert again.brief == first.brief and again.window == first.window
    assert again.options is not None and again.options.timestamp is not None
    assert again.options.timestamp[1] == 7100  # TS.Recent as it was on entering TIME-WAIT


def test_key_packing_round_trips_both_families() -> None:
    v4 = (bytes([198, 18, 0, 2]), 80, bytes([198, 18, 0, 1]), 40000)
    v6 = (bytes(range(16)), 443, bytes(range(16, 32)), 65535)
    assert unpack_key(pack_key(v4)) == v4
    assert unpack_key(pack_key(v6)) == v6


def test_entries_expire_in_order_and_a_restarted_one_waits_its_full_time() -> None:
    h = Harness(LINUX)
    h.stack.isn_hook = None  # distinct ISNs per port are fine here
    listener = h.listen()
    conns: list[Connection] = []
    for port in (41000, 41001, 41002):
        h.inject("S", PEER_ISS, sport=port, options=TcpOptions(mss=1460), at=h.now + 10 * MS)
        (synack,) = h.out()
        h.inject(".", PEER_ISS + 1, synack.seq + 1, sport=port)
        conn = listener.accept()
        assert conn is not None
        conns.append(conn)
    for port, conn in zip((41000, 41001, 41002), conns, strict=True):
        conn.close()
        h.inject("F.", PEER_ISS + 1, conn.snd_max, sport=port, at=h.now + 10 * MS)
    h.out()
    entered = h.now
    assert len(h.stack.time_wait) == 3
    # The first one's FIN comes again after 30 s: its wait starts over.
    h.inject("F.", PEER_ISS + 1, conns[0].snd_max, sport=41000, at=entered + 30 * SECOND)
    assert [o.flags for o in h.out()] == ["."]
    h.advance(entered + 60 * SECOND)
    assert [c.state for c in conns] == [State.TIME_WAIT, State.CLOSED, State.CLOSED]
    assert h.stack.next_deadline() == entered + 90 * SECOND
    h.advance(entered + 90 * SECOND)
    assert conns[0].state is State.CLOSED and not h.stack.time_wait
    assert h.stack.snapshot_counters()["TcpExtTW"] == 3
    assert h.stack.next_deadline() is None


def test_expiry_and_restart_are_traced_as_the_connection_traced_them() -> None:
    h = Harness()
    events: list[object] = []
    h.stack.tracer = events.append
    _conn = established_active(h)
    _conn.close()
    h.inject("F.", RCV_NXT, SND_NXT + 1)
    entered = h.now
    h.inject("F.", RCV_NXT, SND_NXT + 1, at=entered + 10 * SECOND)
    h.advance(entered + 70 * SECOND)
    timers = [e for e in events if isinstance(e, TimerSet | TimerFired) and e.timer == TIME_WAIT]
    assert [(type(e).__name__, e.time_us) for e in timers] == [
        ("TimerSet", entered),
        ("TimerSet", entered + 10 * SECOND),
        ("TimerFired", entered + 70 * SECOND),
    ]
    last = [e for e in events if isinstance(e, StateChange)][-1]
    assert (last.old, last.new, last.reason) == (State.TIME_WAIT, State.CLOSED, "timeout")


def test_beyond_max_tw_buckets_a_closing_connection_skips_time_wait() -> None:
    h, _ = time_wait(LINUX.with_changes(max_tw_buckets=0))
    assert not h.stack.time_wait and not h.stack.connections
    counters = h.stack.snapshot_counters()
    assert counters["TcpExtTCPTimeWaitOverflow"] == 1
    assert counters["TcpExtTW"] == 0
    # The 4-tuple is free at once: a stray segment meets no one and is reset.
    h.inject(".", RCV_NXT + 1, SND_NXT + 1)
    assert [o.flags for o in h.out()] == ["R"]


def test_max_tw_buckets_counts_entries() -> None:
    h = Harness(LINUX.with_changes(max_tw_buckets=1))
    h.stack.isn_hook = None
    listener = h.listen()
    states = []
    for port in (41000, 41001):
        h.inject("S", PEER_ISS, sport=port, options=TcpOptions(mss=1460), at=h.now + 10 * MS)
        (synack,) = h.out()
        h.inject(".", PEER_ISS + 1, synack.seq + 1, sport=port)
        conn = listener.accept()
        assert conn is not None
        conn.close()
        h.inject("F.", PEER_ISS + 1, conn.snd_max, sport=port, at=h.now + 10 * MS)
        assert [o.flags for o in h.out()][-1] == "."  # the FIN is ACKed either way
        states.append(conn.state)
    assert states == [State.TIME_WAIT, State.CLOSED]
    assert len(h.stack.time_wait) == 1
    assert h.stack.snapshot_counters()["TcpExtTCPTimeWaitOverflow"] == 1


@pytest.mark.parametrize("rfc1337", [0, 1])
def test_an_exact_rst_ends_time_wait_unless_rfc1337(rfc1337: int) -> None:
    h, t0 = time_wait(LINUX.with_changes(rfc1337=rfc1337))
    h.inject("R", RCV_NXT + 1, at=t0 + SECOND)
    assert h.tx() == []
    assert len(h.stack.time_wait) == rfc1337
    # A RST anywhere else never ends it.
    h2, t1 = time_wait(LINUX.with_changes(rfc1337=rfc1337))
    for seq in (RCV_NXT, RCV_NXT + 2, RCV_NXT + 1000, RCV_NXT + 2**31):
        h2.inject("R", seq, at=t1 + SECOND)
    assert len(h2.stack.time_wait) == 1 and h2.tx() == []


# -- PAWS (RFC 7323 section 5) holds in TIME-WAIT -----------------------------------------


def _stamped(tsval: int) -> TcpOptions:
    return TcpOptions(timestamp=(tsval, 0))


def test_an_old_duplicate_in_time_wait_is_acked_and_dropped_by_paws() -> None:
    h = Harness()
    conn = established_active(h, TS)
    conn.close()
    h.out()
    h.inject("F.", RCV_NXT, SND_NXT + 1, options=_stamped(7100))
    h.out()
    h.inject(".", RCV_NXT + 1, SND_NXT + 1, options=_stamped(7200), at=h.now + MS)
    assert h.tx() == []  # a bare ACK with a fresh timestamp draws nothing
    h.inject(".", RCV_NXT + 1, SND_NXT + 1, options=_stamped(6000), at=h.now + MS)
    (ack,) = h.out()  # stamped before TS.Recent: an old duplicate, answered with an ACK
    assert ack.brief == (".", SND_NXT + 1, RCV_NXT + 1, 0)
    assert h.stack.snapshot_counters()["TcpExtPAWSEstabRejected"] == 1
    assert len(h.stack.time_wait) == 1


def _server_time_wait() -> Harness:
    """The listener's child closed first and sits in TIME-WAIT with TS.Recent 7100."""
    h = Harness()
    listener = h.listen()
    h.inject("S", PEER_ISS, options=TS)
    h.out()
    h.inject(".", PEER_ISS + 1, h.iss + 1, options=_stamped(7050), at=h.now + 100 * MS)
    conn = listener.accept()
    assert conn is not None
    conn.close()
    h.out()
    h.inject("F.", PEER_ISS + 1, h.iss + 2, options=_stamped(7100), at=h.now + 100 * MS)
    h.out()
    assert len(h.stack.time_wait) == 1
    return h


def test_a_syn_stamped_before_ts_recent_cannot_reopen_time_wait() -> None:
    h = _server_time_wait()
    syn = TcpOptions(mss=1460, timestamp=(6000, 0))
    h.inject("S", PEER_ISS + 100_000, options=syn, at=h.now + SECOND)  # higher seq, old TS
    assert [o.flags for o in h.out()] == ["."]
    assert len(h.stack.time_wait) == 1 and not h.stack.connections
    syn = TcpOptions(mss=1460, timestamp=(9000, 0))
    h.inject("S", PEER_ISS + 100_000, options=syn, at=h.now + SECOND)  # a newer one may
    assert [o.flags for o in h.out()] == ["S."]
    assert not h.stack.time_wait and len(h.stack.connections) == 1


# -- tw_reuse on the simulated network ---------------------------------------------------


def _client_closes_first(world: World, port: int | None) -> int:
    """A connection from A (closing first, so A keeps TIME-WAIT); returns A's port."""
    srv = world.socket("B")
    srv.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  # B listens again on the same port
    srv.bind((world.address("B"), 80))
    srv.listen(8)
    cli = world.socket("A")
    if port is not None:
        cli.bind((world.address("A"), port))
    cli.connect((world.address("B"), 80))
    conn, _ = srv.accept()
    local_port = cli.getsockname()[1]
    cli.close()
    assert conn.recv(10) == b""
    conn.close()
    srv.close()
    world.run(0.5)
    return local_port


def _reconnect(world: World, port: int | None) -> int:
    srv = world.socket("B")
    srv.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    srv.bind((world.address("B"), 80))
    srv.listen(8)
    cli = world.socket("A")
    if port is not None:
        cli.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  # bind() past the TIME-WAIT entry
        cli.bind((world.address("A"), port))
    cli.connect((world.address("B"), 80))
    srv.accept()
    return cli.getsockname()[1]


@pytest.mark.parametrize(("tw_reuse", "reused"), [(0, False), (1, True), (2, False)])
def test_connect_from_a_bound_port_reuses_time_wait_only_with_tw_reuse(
    tw_reuse: int, reused: bool
) -> None:
    world = World(seed=3, config=LINUX.with_changes(tw_reuse=tw_reuse))
    port = _client_closes_first(world, 50000)
    a = world.stack("A")
    assert len(a.time_wait) == 1
    world.run(1.5)  # tw_reuse waits until the entry is over a second old
    if reused:
        assert _reconnect(world, port) == port
        assert not a.time_wait
        assert a.snapshot_counters()["TcpExtTWRecycled"] == 1
    else:
        with pytest.raises(OSError) as info:
            _reconnect(world, port)
        assert info.value.errno == errno.EADDRNOTAVAIL
        assert len(a.time_wait) == 1


def test_tw_reuse_waits_a_second_and_needs_timestamps() -> None:
    world = World(seed=3, config=LINUX.with_changes(tw_reuse=1))
    port = _client_closes_first(world, 50000)
    with pytest.raises(OSError) as info:
        _reconnect(world, port)  # 0.5 s after TIME-WAIT began: too soon
    assert info.value.errno == errno.EADDRNOTAVAIL
    world = World(seed=3, config=LINUX.with_changes(tw_reuse=1, timestamps=False))
    port = _client_closes_first(world, 50000)
    world.run(1.5)
    with pytest.raises(OSError) as info:
        _reconnect(world, port)  # no timestamps: the peer could not tell old from new
    assert info.value.errno == errno.EADDRNOTAVAIL


@pytest.mark.parametrize("tw_reuse", [0, 1])
def test_an_exhausted_ephemeral_range_falls_back_on_tw_reuse(tw_reuse: int) -> None:
    one_port = LINUX.with_changes(tw_reuse=tw_reuse, ephemeral_low=40000, ephemeral_high=40000)
    world = World(seed=5, config=one_port)
    assert _client_closes_first(world, None) == 40000
    world.run(1.5)
    if tw_reuse:
        assert _reconnect(world, None) == 40000
    else:
        with pytest.raises(OSError) as info:
            _reconnect(world, None)
        assert info.value.errno == errno.EADDRNOTAVAIL


def test_a_reused_4_tuple_starts_above_the_old_sequence_space() -> None:
    world = World(seed=3, config=LINUX.with_changes(tw_reuse=1))
    port = _client_closes_first(world, 50000)
    (entry,) = world.stack("A").time_wait
    assert isinstance(entry, TimeWaitEntry)
    old_snd_nxt = entry.snd_nxt
    world.run(1.5)
    _reconnect(world, port)
    (conn,) = world.stack("A").connections.values()
    assert (conn.iss - old_snd_nxt) & 0xFFFFFFFF == 65535 + 2
    assert conn.state is State.ESTABLISHED
