"""Listener defences: S16 (a SYN flood, with and without cookies), S17 (SYN cookies),
S20 (idle attackers)."""

from __future__ import annotations

from synack.api.socket import IPPROTO_TCP, TCP_DEFER_ACCEPT, TCP_IDLE_TIMEOUT
from synack.scenarios.craft import segment_bytes
from synack.scenarios.lifecycle import PORT, connected_pair
from synack.scenarios.registry import Options, scenario
from synack.scenarios.world import World
from synack.stack import pack_address
from synack.tcp.config import LINUX
from synack.wire.tcp import ACK, SYN, TcpOptions


@scenario("S17", "syn-cookies", "cookies always: no state per SYN; valid ACKs connect, forged fail")
def syn_cookies(opts: Options) -> World:
    world = World(opts.seed, opts.link(), config_b=LINUX.with_changes(syncookies=2))
    cli, conn, _ = connected_pair(world)  # a real client, answered with a cookie
    cli.sendall(b"through a cookie")
    assert conn.recv(100) == b"through a cookie"
    conn.sendall(b"and back")
    assert cli.recv(100) == b"and back"
    b = world.hosts["B"]
    a_addr, b_addr = world.address("A"), world.address("B")

    def inject(packet: bytes) -> None:
        world.net.inject(world.now + 1, "A", b, packet)
        world.run(0.05)

    def cookie_for(port: int) -> int:
        synack = [r.segment for r in world.trace.segments if r.segment.dst_port == port]
        return synack[-1].seq

    # A SYN whose third ACK comes back at once: valid, even though A's stack (which never
    # sent that SYN) also answers the SYN,ACK with a RST that the listener ignores.
    inject(segment_bytes(a_addr, 7100, b_addr, PORT, 500, 0, SYN, options=TcpOptions(mss=1400)))
    inject(segment_bytes(a_addr, 7100, b_addr, PORT, 501, cookie_for(7100) + 1, ACK))
    # The same, but the ACK arrives three minutes late: the cookie has expired.
    inject(segment_bytes(a_addr, 7101, b_addr, PORT, 900, 0, SYN, options=TcpOptions(mss=1400)))
    world.run(180)
    inject(segment_bytes(a_addr, 7101, b_addr, PORT, 901, cookie_for(7101) + 1, ACK))
    # An ACK nobody answered with a cookie: forged.
    inject(segment_bytes(a_addr, 7102, b_addr, PORT, 12345, 0xDEADBEEF, ACK))
    world.run(1)
    return world


def _flood(world: World, count: int, every_us: int) -> None:
    """Spoofed SYNs from addresses that never answer (198.19.x.y: no host owns them)."""
    b = world.hosts["B"]
    for i in range(count):
        src = f"198.19.{(i >> 8) & 0xFF}.{i & 0xFF}"
        syn = segment_bytes(src, 1024 + i % 60000, world.address("B"), PORT, i * 7919, 0, SYN)
        world.net.inject(world.now + 1 + i * every_us, "A", b, syn)


def _flooded_connect(opts: Options, syncookies: int, syn_cache: bool = True) -> World:
    # 128 half-open places either way: the plain queue's, or a SYN cache of 4 x 32 (the
    # default 512 x 30 would hold this whole flood, and no cookie would be needed).
    config = LINUX.with_changes(
        syncookies=syncookies,
        max_syn_backlog=128,
        syn_cache=syn_cache,
        syncache_buckets=4,
        syncache_bucket_limit=32,
    )
    world = World(opts.seed, opts.link(), config_b=config)
    srv = world.socket("B")
    srv.bind((world.address("B"), PORT))
    srv.listen(128)
    _flood(world, 500, 1000)  # 1,000 SYNs per second for half a second
    world.run(0.3)  # the half-open queue is full by now
    cli = world.socket("A")
    cli.settimeout(200)
    try:
        cli.connect((world.address("B"), PORT))
        srv.accept()
    except TimeoutError:
        pass  # without defences the legitimate client may never get in
    world.run(1)
    b = world.stack("B")
    listener = b.listeners[(pack_address(world.address("B")), PORT)]
    assert listener.half_open_count() <= listener.half_open_limit() == 128
    if syncookies:
        # The queue overflowed and cookies answered the rest of the flood statelessly.
        assert b.counters["TcpExtSyncookiesSent"] > 0
        assert b.counters["TcpExtTCPReqQFullDoCookies"] > 0
    return world


@scenario("S16", "syn-flood", "spoofed SYNs fill the queue; with SYN cookies a client connects")
def syn_flood(opts: Options) -> World:
    return _flooded_connect(opts, syncookies=1)


@scenario(
    "S16",
    "syn-flood-undefended",
    "the same flood, no cookies and a plain SYN queue: the client waits",
)
def syn_flood_undefended(opts: Options) -> World:
    return _flooded_connect(opts, syncookies=0, syn_cache=False)


@scenario(
    "S20",
    "idle-attackers",
    "idle attackers: deferred accept, a per-peer cap and an idle timeout keep the server free",
)
def idle_attackers(opts: Options) -> World:
    """A (the attacker) opens connections and says nothing; C is a legitimate client.

    The server defends itself three ways: TCP_DEFER_ACCEPT keeps a silent handshake out of
    the accept queue (its bare ACK is dropped), a cap of four connections per remote address
    stops A from holding more, and an idle timeout closes accepted connections that go
    quiet; B's side of such a connection, orphaned in FIN_WAIT_2 because A never closes, is
    reaped after fin_timeout.
    """
    config = LINUX.with_changes(fin_timeout=20)
    # B in the middle: the simulated network links the first host to each of the others.
    world = World(opts.seed, opts.link(), config=config, hosts=("B", "A", "C"))
    srv = world.socket("B")
    srv.bind((world.address("B"), PORT))
    srv.setsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT, 10)
    srv.setsockopt(IPPROTO_TCP, TCP_IDLE_TIMEOUT, 30)
    srv.listen(128, max_per_peer=4)
    b = world.stack("B")

    # Silent handshakes: A's connect() succeeds, but B does not wake accept() for them
    # while the deferral lasts (10 s: B holds them as half-open entries).
    attacker = []
    for _ in range(4):
        sock = world.socket("A")
        sock.connect((world.address("B"), PORT))
        attacker.append(sock)
    srv.settimeout(1)
    try:
        srv.accept()
        raise AssertionError("a silent handshake was accepted while deferred")
    except TimeoutError:
        pass
    assert b.snapshot_counters()["TcpExtTCPDeferAcceptDrop"] >= 4  # A's bare ACKs
    # A fifth connection from A is over the cap: its SYNs are dropped.
    extra = world.socket("A")
    extra.settimeout(2)
    try:
        extra.connect((world.address("B"), PORT))
        raise AssertionError("a fifth connection from A got through the per-peer cap")
    except TimeoutError:
        pass
    assert b.snapshot_counters()["SynackPerPeerDrops"] > 0

    # A legitimate client is served all the while.
    srv.settimeout(None)
    legit = world.socket("C")
    legit.connect((world.address("B"), PORT))
    legit.sendall(b"GET /")
    conn, _ = srv.accept()
    assert conn.recv(100) == b"GET /"
    conn.sendall(b"200 OK")
    assert legit.recv(100) == b"200 OK"
    legit.close()
    conn.close()

    # After the deferral, the handshakes that stayed silent are accepted (as on Linux),
    # go idle and are closed by the idle timeout; B's FIN_WAIT_2 halves are reaped, since
    # A never sends its FIN.
    srv.settimeout(None)
    accepted = [srv.accept()[0] for _ in attacker]
    world.run(2 * 30 + config.fin_timeout + 5)
    assert all(sock.connection is None or sock.connection.closed for sock in accepted)
    leftover = [c for c in b.connections.values() if c.key[2] == pack_address(world.address("A"))]
    assert not leftover, leftover
    assert b.snapshot_counters()["SynackIdleTimeouts"] > 0
    return world
