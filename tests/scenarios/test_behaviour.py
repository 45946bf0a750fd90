"""Scenarios whose exchange is too long to list: their user-visible facts instead."""

from __future__ import annotations

from synack.scenarios.catalog import Options, find
from synack.tcp.config import SECOND
from synack.tcp.state import State
from synack.wire.tcp import ACK, FIN, RST, SYN


def test_half_close_delivers_a_megabyte_in_fin_wait_2() -> None:
    world = find("half-close").run(Options())  # raises if a byte is lost
    trace = world.trace
    entered = {(s.host, s.new): s.time_us for s in trace.states}
    fw2, tw = entered[("A", State.FIN_WAIT_2)], entered[("A", State.TIME_WAIT)]
    data = [r for r in trace.segments if r.src == "B" and r.segment.payload]
    assert sum(len(r.segment.payload) for r in data) == 1 << 20
    # Every byte was sent after A's FIN and reached A while it sat in FIN_WAIT_2.
    a_fin = next(r for r in trace.segments if r.src == "A" and r.segment.flags & FIN)
    assert all(r.sent_us >= a_fin.sent_us for r in data)
    assert all(r.arrive_us is not None and fw2 <= r.arrive_us <= tw for r in data)
    assert max(len(r.segment.payload) for r in data) <= 1448


def test_lost_syn_backs_off_then_times_out() -> None:
    world = find("lost-syn").run(Options())
    syns = [r for r in world.trace.segments if r.segment.flags & SYN]
    assert [r.sent_us // SECOND for r in syns] == [0, 1, 3, 7, 15, 31, 63]
    assert all(r.arrive_us is None for r in syns)
    assert world.trace.state_path("A") == [State.CLOSED, State.SYN_SENT, State.CLOSED]
    assert world.now == 127 * SECOND
    assert world.stack("A").counters["TcpAttemptFails"] == 1


def test_refused_counts_an_attempt_failure_and_a_reset() -> None:
    world = find("refused").run(Options())
    assert world.stack("A").counters["TcpAttemptFails"] == 1
    assert world.stack("B").counters["TcpOutRsts"] == 1


def test_abort_resets_peer_and_keeps_no_time_wait() -> None:
    world = find("abort").run(Options())
    assert world.stack("A").snapshot_counters()["TcpEstabResets"] == 1
    assert world.stack("B").snapshot_counters()["TcpEstabResets"] == 1
    assert not world.stack("A").connections


def test_keepalive_gives_up_on_a_dead_peer_after_7875_seconds() -> None:
    world = find("keepalive-dead-peer").run(Options())
    established = 20_000  # A is ESTABLISHED at 20 ms and hears from B last at 30 ms
    late = [r for r in world.trace.segments if r.src == "A" and r.sent_us > SECOND]
    probes, (rst,) = late[:-1], late[-1:]
    assert len(probes) == 9
    assert all(r.segment.flags == ACK and not r.segment.payload for r in probes)
    # Giving up sends a RST, as Linux's tcp_keepalive_timer does (tcp_send_active_reset).
    assert rst.segment.flags & RST and rst.sent_us == 7875 * SECOND + established
    expected = [7200 * SECOND + established + i * 75 * SECOND for i in range(9)]
    assert [r.sent_us for r in probes] == expected
    seq0 = world.trace.isn("A")
    assert seq0 is not None
    assert all((r.segment.seq - seq0) & 0xFFFFFFFF == 0 for r in probes)  # SND.NXT - 1
    closed = world.trace.states[-1]
    assert (closed.host, closed.new) == ("A", State.CLOSED)
    assert closed.time_us == 7875 * SECOND + established
    assert world.stack("A").counters["TcpExtTCPKeepAliveDrops"] == 1


def test_keepalive_keeps_a_live_peer() -> None:
    world = find("keepalive-live-peer").run(Options())
    conns = list(world.stack("A").connections.values())
    assert [c.state for c in conns] == [State.ESTABLISHED]
    probes = [r for r in world.trace.segments if r.src == "A" and r.sent_us > SECOND]
    answers = [r for r in world.trace.segments if r.src == "B" and r.sent_us > SECOND]
    assert len(probes) == 17  # one per 600 s of idle in 3 hours
    assert len(answers) == len(probes)


def test_lost_data_is_retransmitted_once() -> None:
    world = find("lost-data").run(Options())
    segs = world.trace.segments
    dropped = [r for r in segs if r.fate == "dropped"]
    assert len(dropped) == 1
    again = [r for r in segs if r.retransmission and r.segment.seq == dropped[0].segment.seq]
    assert len(again) == 1 and again[0].arrive_us is not None
    assert world.stack("A").counters["TcpRetransSegs"] == 1


def test_bad_checksum_is_counted_and_recovered() -> None:
    world = find("bad-checksum").run(Options())
    counters = world.stack("B").counters
    assert counters["TcpInCsumErrors"] == 1
    assert counters["TcpInErrs"] == 1
    assert world.stack("A").counters["TcpRetransSegs"] >= 1


def test_segments_respect_the_announced_mss() -> None:
    world = find("mss").run(Options())
    for rec in world.trace.segments:
        limit = 536 - 12 if rec.src == "A" else 1460 - 12  # timestamps take 12 bytes
        assert len(rec.segment.payload) <= limit
    assert any(len(r.segment.payload) == 536 - 12 for r in world.trace.segments)
    # The SYN that carried no MSS option: B assumes 536.
    no_mss = [e for e in world.stack("B").syn_entries() if e.key[3] == 42000]
    assert [e.mss for e in no_mss] == [536]  # still half-open: a SYN-cache entry


def test_sequence_numbers_wrap() -> None:
    world = find("seq-wrap").run(Options())  # raises if data were damaged
    conn = next(iter(world.stack("A").connections.values()))
    assert conn.iss == 2**32 - 1000
    assert conn.snd_una < 2**31  # it went round


def test_urgent_data_in_order_with_mark() -> None:
    world = find("urgent").run(Options())
    conn = next(c for c in world.stack("B").connections.values() if c.state is State.ESTABLISHED)
    assert conn.urgent_mark is not None
    assert (conn.urgent_mark - conn.irs - 1) & 0xFFFFFFFF == len(b"normal URGENT")


def test_push_data_reaches_the_reader_after_one_trip() -> None:
    world = find("push").run(Options())
    data = next(r for r in world.trace.segments if r.segment.payload)
    assert data.arrive_us is not None and data.arrive_us - data.sent_us == 10_000


def test_every_syn_carries_an_mss_option() -> None:
    world = find("handshake").run(Options())
    syns = [r.segment for r in world.trace.segments if r.segment.flags & SYN]
    assert len(syns) == 2
    assert all(s.options is not None and s.options.mss == 1460 for s in syns)


def test_ipv6_syn_without_mss_means_1220() -> None:
    from synack.scenarios.craft import decode, segment_bytes
    from synack.scenarios.world import World

    world = World(seed=5)
    srv = world.socket("B", v6=True)
    srv.bind(("2001:db8::2", 80))
    srv.listen()
    syn = segment_bytes("2001:db8::1", 43000, "2001:db8::2", 80, 99, 0, SYN)
    world.net.drop(lambda src, dst, p: src == "A" and bool((s := decode(p)) and s.flags & RST))
    world.net.inject(1, "A", world.hosts["B"], syn)
    world.run(0.1)
    assert not world.stack("B").connections  # half-open: a SYN-cache entry
    (entry,) = world.stack("B").syn_entries()
    assert entry.mss == 1220


def test_isn_key_is_injected_and_decides_the_isn() -> None:
    from synack.stack import Stack

    key = (bytes([198, 18, 0, 1]), 80, bytes([198, 18, 0, 2]), 5000)
    one = Stack(["198.18.0.1"], isn_key=bytes(32))
    two = Stack(["198.18.0.1"], isn_key=bytes(32), seed=99)
    three = Stack(["198.18.0.1"], isn_key=bytes(range(32)))
    assert one._isn(key) == two._isn(key) != three._isn(key)


def test_rfc_passive_open_returns_to_listen_and_listens_again() -> None:
    from synack.scenarios.craft import segment_bytes
    from synack.scenarios.world import World

    world = World(seed=6)
    world.net.partition(world.hosts["A"], world.hosts["B"])  # only injected packets arrive
    b = world.stack("B")
    conn = b.open_passive_connection("198.18.0.2", 80, "198.18.0.1", 7000)

    def inject(seq: int, flags: int) -> None:
        raw = segment_bytes("198.18.0.1", 7000, "198.18.0.2", 80, seq, 0, flags)
        world.net.inject(world.now + 1, "A", world.hosts["B"], raw)
        world.run(0.01)

    inject(100, SYN)
    assert conn.state is State.SYN_RCVD and conn.irs == 100
    inject(101, RST)  # RFC 9293: a passive open's SYN_RCVD goes back to LISTEN
    assert conn.state is State.LISTEN
    inject(9000, SYN)  # and it still listens: a new SYN opens again
    assert conn.state is State.SYN_RCVD and conn.irs == 9000
    assert b.connections[conn.key] is conn


def test_syn_cookies_keep_no_state_and_reject_stale_or_forged_acks() -> None:
    world = find("syn-cookies").run(Options())
    b = world.stack("B")
    counters = b.counters
    assert counters["TcpExtSyncookiesSent"] == 3  # the real client and two crafted SYNs
    assert counters["TcpExtSyncookiesRecv"] == 2  # the real client and the prompt ACK
    assert counters["TcpExtSyncookiesFailed"] == 2  # the stale ACK and the forged one
    # The listener never held a half-open connection: each child was born at its ACK.
    births = [s for s in world.trace.states if s.host == "B" and s.new is State.SYN_RCVD]
    assert all(s.reason == "syncookie" for s in births) and len(births) == 2
    real = next(c for c in b.connections.values() if c.key[3] not in (7100, 7101, 7102))
    assert real.state is State.ESTABLISHED
    assert real.snd_mss == 1460 - 12  # from the cookie's MSS table, less the timestamps
    assert real.ws_ok and real.snd_wscale == 2  # carried in the SYN,ACK's TSval
    crafted = next(c for c in b.connections.values() if c.key[3] == 7100)
    assert crafted.snd_mss == 1300  # 1400 announced: the largest table entry below it
    assert {c.key[3] for c in b.connections.values()} == {real.key[3], 7100}
    resets = [r for r in world.trace.segments if r.src == "B" and r.segment.flags & RST]
    assert [r.segment.dst_port for r in resets] == [7101, 7102]


def test_cookies_only_after_the_syn_queue_overflows() -> None:
    from synack.scenarios.craft import segment_bytes
    from synack.scenarios.lifecycle import serve
    from synack.scenarios.world import World
    from synack.tcp.config import LINUX

    two_entries = LINUX.with_changes(syncache_buckets=1, syncache_bucket_limit=2)
    world = World(seed=9, config_b=two_entries)
    serve(world)
    world.net.partition(world.hosts["A"], world.hosts["B"])  # the SYN,ACKs go nowhere
    b = world.stack("B")

    def syn(port: int) -> None:
        raw = segment_bytes("198.18.0.1", port, "198.18.0.2", 80, 1000 * port, 0, SYN)
        world.net.inject(world.now + 1, "A", world.hosts["B"], raw)
        world.run(0.01)

    syn(7001)
    syn(7002)
    assert b.counters["TcpExtSyncookiesSent"] == 0 and len(b.syn_entries()) == 2
    syn(7003)  # the queue is full: a cookie instead of a third half-open entry
    assert b.counters["TcpExtSyncookiesSent"] == 1 and len(b.syn_entries()) == 2
    cookie = next(
        r.segment.seq for r in world.trace.segments if r.src == "B" and r.segment.dst_port == 7003
    )
    ack = segment_bytes("198.18.0.1", 7003, "198.18.0.2", 80, 7003 * 1000 + 1, cookie + 1, ACK)
    world.net.inject(world.now + 1, "A", world.hosts["B"], ack)
    world.run(0.01)
    assert b.counters["TcpExtSyncookiesRecv"] == 1
    child = next(c for c in b.connections.values() if c.key[3] == 7003)
    assert child.state is State.ESTABLISHED and child.snd_mss == 536  # no MSS option: 536


def _connect_time_ms(name: str) -> float | None:
    world = find(name).run(Options())
    a = [s for s in world.trace.states if s.host == "A"]
    start = next(s.time_us for s in a if s.new is State.SYN_SENT)
    done = [s.time_us for s in a if s.new is State.ESTABLISHED]
    return (done[0] - start) / 1000 if done else None


def test_syn_flood_defended_by_cookies_and_not_without() -> None:
    assert _connect_time_ms("syn-flood") == 20.0  # one round trip, flood or not
    undefended = _connect_time_ms("syn-flood-undefended")
    # Only when the spoofed half-open entries give up (1+2+4+8+16+32 = 63 s of SYN,ACK
    # retransmissions) does a retransmitted SYN find room.
    assert undefended is not None and undefended > 63_000


def test_idle_attackers_are_deferred_capped_closed_and_reaped() -> None:
    world = find("idle-attackers").run(Options())  # the scenario asserts as it goes
    trace = world.trace
    # Every server-side connection to one of A's ports ended CLOSED: those that completed
    # the handshake went ESTABLISHED -> FIN_WAIT_1 (the idle timeout's FIN) -> FIN_WAIT_2
    # and were reaped there, since A never sent its own FIN.
    attacker_ports = {s.local_port for s in trace.states if s.host == "A"}
    paths = {}
    for rec in trace.states:
        if rec.host == "B" and rec.remote_port in attacker_ports:
            paths.setdefault(rec.remote_port, [rec.old]).append(rec.new)
    established = [p for p in paths.values() if State.ESTABLISHED in p]
    assert len(established) == 4  # the per-peer cap: a fifth never got in
    for path in established:
        assert path[-3:] == [State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSED]
    counters = world.stack("B").snapshot_counters()
    assert counters["SynackIdleTimeouts"] == 4
    assert counters["SynackPerPeerDrops"] >= 1
    assert counters["TcpExtTCPDeferAcceptDrop"] >= 4
