"""Ports, resets and the rarer arrows of the state diagram: S18, S19, S21-S25."""

from __future__ import annotations

import errno

from synack.api.socket import SO_REUSEADDR, SOL_SOCKET
from synack.scenarios.craft import segment_bytes
from synack.scenarios.lifecycle import PORT, connected_pair, serve
from synack.scenarios.registry import Options, scenario
from synack.scenarios.world import World
from synack.tcp.state import State
from synack.wire.tcp import RST, SYN


@scenario("S18", "reuseaddr", "restart on a port held by TIME_WAIT: EADDRINUSE, then SO_REUSEADDR")
def reuseaddr(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, srv = connected_pair(world)
    conn.close()  # the server closes first, so the server keeps TIME_WAIT
    assert cli.recv(10) == b""
    cli.close()
    srv.close()
    world.run(1)
    again = world.socket("B")
    try:
        again.bind((world.address("B"), PORT))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    else:
        raise AssertionError("bind() succeeded while TIME_WAIT held the port")
    again.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    again.bind((world.address("B"), PORT))
    again.listen(8)
    cli2 = world.socket("A")
    cli2.connect((world.address("B"), PORT))
    again.accept()
    world.run(1)
    return world


@scenario("S19", "client-port-reuse", "connect, close, connect again: a new local port")
def client_port_reuse(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    srv = serve(world)
    ports = []
    for _ in range(2):
        cli = world.socket("A")
        cli.connect((world.address("B"), PORT))
        ports.append(cli.getsockname()[1])
        conn, _ = srv.accept()
        cli.close()  # the client closes first and keeps TIME_WAIT
        assert conn.recv(10) == b""
        conn.close()
        world.run(1)
    assert ports[0] != ports[1], "the second connection reused a 4-tuple in TIME_WAIT"
    return world


@scenario("S21", "blind-rst", "in-window RST gets a challenge ACK; exact RST resets (RFC 5961)")
def blind_rst(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    world.run(1)
    a = cli.connection
    assert a is not None
    lport, rport = a.key[1], a.key[3]
    b_addr, a_addr = world.address("B"), world.address("A")
    inject = world.net.inject
    # A blind RST: in the window, but not at RCV.NXT.
    inject(
        world.now + 1,
        "B",
        world.hosts["A"],
        segment_bytes(b_addr, rport, a_addr, lport, a.rcv_nxt + 1000, 0, RST),
    )
    world.run(0.5)
    assert a.state is State.ESTABLISHED
    # A SYN in ESTABLISHED: challenge ACK as well.
    inject(
        world.now + 1,
        "B",
        world.hosts["A"],
        segment_bytes(b_addr, rport, a_addr, lport, a.rcv_nxt + 5, 0, SYN),
    )
    world.run(0.5)
    assert a.state is State.ESTABLISHED
    # The exact RST resets.
    inject(
        world.now + 1,
        "B",
        world.hosts["A"],
        segment_bytes(b_addr, rport, a_addr, lport, a.rcv_nxt, 0, RST),
    )
    world.run(0.5)
    return world


@scenario("S22", "syn-rcvd-rst", "a half-open connection reset by its peer: back to LISTEN")
def syn_rcvd_rst(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    serve(world)
    # A SYN that A never sent: B answers SYN,ACK, A's stack answers RST.
    syn = segment_bytes(world.address("A"), 41000, world.address("B"), PORT, 5000, 0, SYN)
    world.net.inject(world.now + 1000, "A", world.hosts["B"], syn)
    world.run(1)
    cli = world.socket("A")
    cli.connect((world.address("B"), PORT))  # the listener is unharmed
    world.run(1)
    return world


@scenario("S23", "close-in-syn-rcvd", "close() in SYN_RCVD sends FIN: SYN_RCVD -> FIN_WAIT_1")
def close_in_syn_rcvd(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    b = world.stack("B")
    world.stacks["B"].now = world.now
    passive = b.open_passive_connection(world.address("B"), PORT, world.address("A"), 7000)
    cli = world.socket("A")
    cli.bind((world.address("A"), 7000))
    cli.setblocking(False)
    cli.connect_ex((world.address("B"), PORT))
    world.net.run_until(lambda: passive.state is State.SYN_RCVD)
    passive.close()
    world.net.kick(world.hosts["B"])
    world.run(0.5)
    cli.setblocking(True)
    assert cli.recv(10) == b""
    cli.close()
    world.run()
    return world


@scenario("S24", "close-in-syn-sent", "close() in SYN_SENT: CLOSED; the late SYN,ACK meets RST")
def close_in_syn_sent(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    serve(world)
    cli = world.socket("A")
    cli.setblocking(False)
    cli.connect_ex((world.address("B"), PORT))
    world.run(0.005)
    cli.close()
    world.run(1)
    return world


@scenario("S25", "listen-send", "RFC 9293: SEND on a LISTEN connection opens actively")
def listen_send(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    srv = serve(world)
    a = world.stack("A")
    a.now = world.now
    conn = a.open_passive_connection(world.address("A"), 7001, world.address("B"), PORT)
    conn.send(b"hello")  # LISTEN -> SYN_SENT
    world.net.kick(world.hosts["A"])
    peer, _ = srv.accept()
    assert peer.recv(10) == b"hello"
    world.run(1)
    return world


@scenario("X01", "sim-open-reset", "SYN_RCVD reached by simultaneous open, then reset: CLOSED")
def sim_open_reset(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    world.net.partition(world.hosts["A"], world.hosts["B"])
    cli = world.socket("A")
    cli.bind((world.address("A"), 5001))
    cli.setblocking(False)
    cli.connect_ex((world.address("B"), 6001))
    conn = cli.connection
    assert conn is not None
    b, a = world.address("B"), world.address("A")
    world.net.inject(
        world.now + 1000, "B", world.hosts["A"], segment_bytes(b, 6001, a, 5001, 900, 0, SYN)
    )
    world.run(0.01)
    assert conn.state is State.SYN_RCVD
    world.net.inject(
        world.now + 1000, "B", world.hosts["A"], segment_bytes(b, 6001, a, 5001, 901, 0, RST)
    )
    world.run(0.01)
    return world


@scenario("X02", "time-wait-reopen", "RFC 6191: a new SYN with a higher sequence reopens TIME_WAIT")
def time_wait_reopen(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    srv = serve(world)
    cli = world.socket("A")
    cli.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    cli.bind((world.address("A"), 7002))
    cli.connect((world.address("B"), PORT))
    conn, _ = srv.accept()
    conn.close()  # the server closes first: TIME_WAIT on B
    assert cli.recv(10) == b""
    cli.close()
    world.run(5)
    again = world.socket("A")
    again.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    again.bind((world.address("A"), 7002))  # same 4-tuple, while B still holds TIME_WAIT
    again.connect((world.address("B"), PORT))
    srv.accept()
    world.run(1)
    return world
