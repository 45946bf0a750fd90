"""Opening and closing: S01-S09 of SCENARIOS.md."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from synack.api.socket import SHUT_WR, Socket
from synack.scenarios.craft import decode, segment_bytes
from synack.scenarios.registry import Options, scenario
from synack.scenarios.world import World
from synack.tcp.state import State
from synack.wire.tcp import ACK, SYN

PORT = 80


def serve(world: World, host: str = "B", port: int = PORT, backlog: int = 16) -> Socket:
    """A listening socket on ``host``."""
    srv = world.socket(host)
    srv.bind((world.address(host), port))
    srv.listen(backlog)
    return srv


def connected_pair(world: World, port: int = PORT) -> tuple[Socket, Socket, Socket]:
    """(client on A, server's accepted socket on B, listener on B)."""
    srv = serve(world, port=port)
    cli = world.socket("A")
    cli.connect((world.address("B"), port))
    conn, _ = srv.accept()
    return cli, conn, srv


@scenario("S01", "handshake", "three-way handshake: SYN, SYN-ACK, ACK")
def handshake(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    connected_pair(world)
    world.run(1)
    return world


@scenario("S02", "close-client-first", "client closes first, server sends more, then closes")
def close_client_first(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"GET / HTTP/1.0\r\n\r\n")
    conn.recv(100)
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
    cli.recv(100)
    world.run(1)
    cli.shutdown(SHUT_WR)  # FIN_WAIT_1, then FIN_WAIT_2 on the ACK
    assert conn.recv(100) == b""  # the server sees end of stream: CLOSE_WAIT
    world.run(0.5)
    conn.sendall(b"bye")  # still allowed in CLOSE_WAIT
    assert cli.recv(100) == b"bye"  # and received in FIN_WAIT_2
    world.run(0.5)
    conn.close()  # LAST_ACK
    assert cli.recv(100) == b""
    cli.close()
    world.run()  # TIME_WAIT expires
    return world


@scenario("S03", "close-server-first", "server closes first and waits in TIME_WAIT")
def close_server_first(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"request")
    conn.recv(100)
    conn.sendall(b"response")
    conn.shutdown(SHUT_WR)
    assert cli.recv(100) == b"response"
    assert cli.recv(100) == b""
    world.run(0.5)
    cli.close()
    conn.close()
    world.run()
    return world


@scenario("S04", "fin-ack-together", "the peer's ACK and FIN travel in one segment")
def fin_ack_together(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    world.run(1)
    cli.close()
    assert conn.recv(100) == b""  # the FIN arrived; its ACK is delayed...
    conn.close()  # ...so it leaves with our FIN
    world.run()
    return world


@scenario("S05", "simultaneous-close", "both close at once: CLOSING on both sides")
def simultaneous_close(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    world.run(1)
    cli.close()
    conn.close()
    world.run()
    return world


@scenario("S06", "simultaneous-open", "both send SYN at once: four segments")
def simultaneous_open(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    a, b = world.socket("A"), world.socket("B")
    a.bind((world.address("A"), 5000))
    b.bind((world.address("B"), 6000))
    a.setblocking(False)
    b.setblocking(False)
    a.connect_ex((world.address("B"), 6000))
    b.connect_ex((world.address("A"), 5000))
    world.run(1)
    a.setblocking(True)
    b.setblocking(True)
    a.sendall(b"hello from A")
    assert b.recv(100) == b"hello from A"
    world.run(1)
    return world


def pump(world: World, sender: Socket, receiver: Socket, data: bytes, chunk: int = 65536) -> bytes:
    """Move ``data`` from sender to receiver, both applications active, in virtual time."""
    sender.setblocking(False)
    receiver.setblocking(False)
    view = memoryview(data)
    got = bytearray()
    while len(got) < len(data):
        if view:
            with contextlib.suppress(BlockingIOError):
                view = view[sender.send(view[:chunk]) :]
        try:
            piece = receiver.recv(1 << 20)
            if not piece:
                break
            got += piece
        except BlockingIOError:
            world.net.run_until(_ready(receiver, sender if view else None), timeout_us=5_000_000)
    sender.setblocking(True)
    receiver.setblocking(True)
    return bytes(got)


def _ready(receiver: Socket, sender: Socket | None) -> Callable[[], bool]:
    """Data to read, or (when there is more to send) room to write."""
    return lambda: receiver.pending() > 0 or (sender is not None and _writable(sender))


def _writable(sock: Socket) -> bool:
    conn = sock.connection
    return conn is not None and conn.send_space() > 0


@scenario("S07", "half-close", "client shuts down writing; server still sends 1 MB")
def half_close(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"send me a megabyte")
    cli.shutdown(SHUT_WR)
    assert conn.recv(100) == b"send me a megabyte"
    assert conn.recv(100) == b""
    payload = bytes(range(256)) * 4096
    got = pump(world, conn, cli, payload)
    if got != payload:
        raise AssertionError(f"half-close lost data: {len(got)} of {len(payload)} bytes")
    conn.close()
    assert cli.recv(100) == b""
    cli.close()
    world.run()
    return world


@scenario("S08", "lost-last-ack", "the last ACK is lost; TIME_WAIT re-ACKs the FIN")
def lost_last_ack(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    world.run(1)
    server = world.stack("B")

    def last_ack(src: str, dst: str, packet: bytes) -> bool:
        seg = decode(packet)
        in_last_ack = any(c.state is State.LAST_ACK for c in server.connections.values())
        return src == "A" and seg is not None and seg.flags == ACK and in_last_ack

    world.net.drop(last_ack, count=1)
    cli.close()
    assert conn.recv(10) == b""
    world.run(0.1)
    conn.close()
    world.run()
    return world


@scenario("S09", "old-duplicate-syn", "an old SYN is refused by RST; the real one gets through")
def old_duplicate_syn(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    serve(world)
    # Part 1: a SYN from an earlier incarnation arrives at B on its own.
    old = segment_bytes(world.address("A"), 40000, world.address("B"), PORT, 1_000_000, 0, SYN)
    world.net.inject(world.now + 1000, "A", world.hosts["B"], old)
    world.run(1)
    # Part 2 (RFC 9293 figure 9): A's SYN is delayed (lost, then retransmitted) while an
    # old duplicate SYN from the same port reaches B first.
    cli = world.socket("A")
    cli.setblocking(False)
    world.net.drop_nth(world.hosts["A"], world.hosts["B"], 1)
    cli.connect_ex((world.address("B"), PORT))
    conn = cli.connection
    assert conn is not None
    port, iss = conn.key[1], conn.iss
    stale = segment_bytes(world.address("A"), port, world.address("B"), PORT, iss - 1000, 0, SYN)
    world.net.inject(world.now + 1000, "A", world.hosts["B"], stale)
    cli.setblocking(True)
    world.net.run_until(lambda: conn.state is State.ESTABLISHED, timeout_us=10_000_000)
    world.run(1)
    return world


@scenario("DEMO", "life", "a whole connection: handshake, request, reply, close, TIME_WAIT")
def life(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"GET / HTTP/1.0\r\n\r\n")
    conn.recv(100)
    world.run(0.1)  # the server takes its time: the request's ACK goes out alone
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
    cli.recv(100)
    world.run(0.1)
    cli.close()
    assert conn.recv(100) == b""
    world.run(0.1)
    conn.close()
    world.run()
    return world
