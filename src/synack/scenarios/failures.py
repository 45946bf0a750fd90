"""When things go wrong: S10-S15 of SCENARIOS.md."""

from __future__ import annotations

import struct

from synack.api.socket import (
    IPPROTO_TCP,
    SHUT_WR,
    SO_KEEPALIVE,
    SO_LINGER,
    SOL_SOCKET,
    TCP_KEEPIDLE,
    TCP_USER_TIMEOUT,
)
from synack.scenarios.lifecycle import PORT, connected_pair, serve
from synack.scenarios.registry import Options, scenario
from synack.scenarios.world import World


def _expect(exc_type: type[BaseException], fn: object) -> BaseException:
    """Run ``fn`` and return the exception of ``exc_type`` it must raise."""
    assert callable(fn)
    try:
        fn()
    except exc_type as exc:
        return exc
    raise AssertionError(f"expected {exc_type.__name__}")


@scenario("S10", "lost-syn", "every SYN is lost: backoff 1,2,4..s, then ETIMEDOUT")
def lost_syn(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    serve(world)
    world.net.partition(world.hosts["A"], world.hosts["B"])
    cli = world.socket("A")
    _expect(TimeoutError, lambda: cli.connect((world.address("B"), PORT)))
    return world


@scenario("S11", "refused", "SYN to a closed port: RST,ACK and ECONNREFUSED")
def refused(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli = world.socket("A")
    _expect(ConnectionRefusedError, lambda: cli.connect((world.address("B"), 81)))
    world.run()
    return world


@scenario("S12", "abort", "SO_LINGER {1, 0}: close() sends RST, the peer sees ECONNRESET")
def abort(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"hello")
    assert conn.recv(100) == b"hello"
    cli.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()
    _expect(ConnectionResetError, lambda: conn.recv(100))
    world.run()
    return world


@scenario("S13", "keepalive-dead-peer", "keepalive probes a vanished peer and gives up")
def keepalive_dead_peer(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    cli.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    world.run(1)
    world.crash("B")  # vanishes without a word
    _expect(TimeoutError, lambda: cli.recv(100))
    return world


@scenario("S13", "keepalive-live-peer", "keepalive probes a live peer: the connection stays")
def keepalive_live_peer(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    cli.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    cli.setsockopt(IPPROTO_TCP, TCP_KEEPIDLE, 600)
    world.run(3 * 3600)
    return world


@scenario("S13", "keepalive-rebooted-peer", "keepalive probe answered by RST: reset")
def keepalive_rebooted_peer(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    cli.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    world.run(1)
    world.crash("B")
    world.reboot("B")
    _expect(ConnectionResetError, lambda: cli.recv(100))
    return world


@scenario("S14", "half-open-peer-crash", "the peer forgets us; our next send meets RST")
def half_open_peer_crash(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    world.run(1)
    world.crash("B")
    world.reboot("B")
    world.run(3600)  # without traffic nothing notices: A stays ESTABLISHED
    cli.sendall(b"anyone there?")
    _expect(ConnectionResetError, lambda: cli.recv(100))
    return world


@scenario("S15", "fin-wait-2-timeout", "an orphaned FIN_WAIT_2 is reaped after fin_timeout")
def fin_wait_2_timeout(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    world.run(1)
    cli.close()  # the peer never closes: A waits in FIN_WAIT_2, orphaned
    world.run(120)
    return world


@scenario("S15", "fin-wait-2-shutdown", "after shutdown(SHUT_WR) only, FIN_WAIT_2 stays")
def fin_wait_2_shutdown(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    world.run(1)
    cli.shutdown(SHUT_WR)
    world.run(600)
    return world


def _send_into_the_void(opts: Options, user_timeout_ms: int | None) -> World:
    """The peer vanishes; we send: retransmission, then ETIMEDOUT (by which limit?)."""
    world = World(opts.seed, opts.link())
    cli, _conn, _ = connected_pair(world)
    if user_timeout_ms is not None:
        cli.setsockopt(IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_ms)
    world.run(1)
    world.crash("B")
    cli.sendall(b"into the void")
    _expect(TimeoutError, lambda: cli.recv(100))
    return world


@scenario("X03", "user-timeout", "TCP_USER_TIMEOUT: unacknowledged data for 5 s ends it")
def user_timeout(opts: Options) -> World:
    return _send_into_the_void(opts, user_timeout_ms=5000)


@scenario("X04", "data-timeout", "a silent peer: data retransmitted retries2 times, then ETIMEDOUT")
def data_timeout(opts: Options) -> World:
    return _send_into_the_void(opts, user_timeout_ms=None)
