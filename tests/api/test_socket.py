"""The socket API behaves like the standard socket module, errors and all."""

from __future__ import annotations

import errno
import struct

import pytest

from synack.api.driver import StalledError
from synack.api.socket import (
    SHUT_WR,
    SO_LINGER,
    SO_REUSEADDR,
    SOL_SOCKET,
    Socket,
)
from synack.scenarios.lifecycle import PORT, connected_pair, serve
from synack.scenarios.world import World
from synack.tcp.state import State


@pytest.fixture
def world() -> World:
    return World(seed=1)


def test_echo_round_trip_and_names(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"ping")
    assert conn.recv(10) == b"ping"
    conn.sendall(b"pong")
    buf = bytearray(10)
    assert cli.recv_into(buf) == 4 and bytes(buf[:4]) == b"pong"
    assert cli.getpeername() == ("198.18.0.2", PORT)
    assert conn.getpeername() == cli.getsockname()
    assert conn.getsockname() == ("198.18.0.2", PORT)


def test_refused_raises_connection_refused_with_errno(world: World) -> None:
    cli = world.socket("A")
    with pytest.raises(ConnectionRefusedError) as info:
        cli.connect(("198.18.0.2", 9))
    assert info.value.errno == errno.ECONNREFUSED
    assert world.socket("A").connect_ex(("198.18.0.2", 9)) == errno.ECONNREFUSED


def test_connect_timeout_is_timeout_error_with_etimedout(world: World) -> None:
    world.net.partition(world.hosts["A"], world.hosts["B"])
    with pytest.raises(TimeoutError) as info:
        world.socket("A").connect(("198.18.0.2", PORT))
    assert info.value.errno == errno.ETIMEDOUT


def test_settimeout_raises_timed_out_like_socket_timeout(world: World) -> None:
    cli, _conn, _ = connected_pair(world)
    cli.settimeout(2.5)
    start = world.now
    with pytest.raises(TimeoutError, match="timed out"):
        cli.recv(10)
    assert world.now - start == 2_500_000  # virtual time, exactly


def test_nonblocking_calls_raise_blocking_io_error(world: World) -> None:
    cli, _conn, srv = connected_pair(world)
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        cli.recv(10)
    srv.setblocking(False)
    with pytest.raises(BlockingIOError):
        srv.accept()
    other = world.socket("A")
    other.setblocking(False)
    assert other.connect_ex(("198.18.0.2", PORT)) == errno.EINPROGRESS


def test_send_after_shutdown_is_broken_pipe(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    cli.shutdown(SHUT_WR)
    with pytest.raises(BrokenPipeError) as info:
        cli.send(b"more")
    assert info.value.errno == errno.EPIPE
    assert conn.recv(10) == b""  # the peer sees end of stream


def test_reset_then_eof_then_broken_pipe(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    cli.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()
    with pytest.raises(ConnectionResetError) as info:
        conn.recv(10)
    assert info.value.errno == errno.ECONNRESET
    assert conn.recv(10) == b""  # the error is reported once, as on Linux
    with pytest.raises(BrokenPipeError):
        conn.send(b"x")


def test_close_with_unread_data_resets_the_peer(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"unread")
    world.run(0.1)
    conn.close()
    with pytest.raises(ConnectionResetError):
        cli.recv(10)
    assert world.stack("B").counters["TcpExtTCPAbortOnClose"] == 1


def test_bind_in_use_and_reuseaddr(world: World) -> None:
    serve(world, port=8080)
    other = world.socket("B")
    with pytest.raises(OSError) as info:
        other.bind(("198.18.0.2", 8080))
    assert info.value.errno == errno.EADDRINUSE
    # SO_REUSEADDR does not let two listeners share a port.
    third = world.socket("B")
    third.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    with pytest.raises(OSError):
        third.bind(("198.18.0.2", 8080))


def test_buffer_sizes_read_back_what_the_stack_uses(world: World) -> None:
    from synack.api.socket import SO_RCVBUF, SO_SNDBUF

    sock = world.socket("A")
    config = sock.driver.stack.config
    # never set: the stack's defaults, not 0
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == config.rmem
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == config.wmem
    sock.setsockopt(SOL_SOCKET, SO_RCVBUF, 10_000)
    assert sock.getsockopt(SOL_SOCKET, SO_RCVBUF) == 10_000
    sock.setsockopt(SOL_SOCKET, SO_SNDBUF, 1)
    assert sock.getsockopt(SOL_SOCKET, SO_SNDBUF) == 256  # the smallest buffer there is
    cli, _conn, _ = connected_pair(world)
    live = cli.connection
    assert live is not None
    live.rcv_capacity = 70_000  # as a stack rounding the buffer leaves it
    assert cli.getsockopt(SOL_SOCKET, SO_RCVBUF) == 70_000
    assert cli.getsockopt(SOL_SOCKET, SO_SNDBUF) == live.snd_capacity


def test_keepalive_settings_read_back_what_is_in_force(world: World) -> None:
    from synack.api.socket import IPPROTO_TCP, TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL

    sock = world.socket("A")
    config = sock.driver.stack.config
    assert sock.getsockopt(IPPROTO_TCP, TCP_KEEPIDLE) == config.keepalive_time
    assert sock.getsockopt(IPPROTO_TCP, TCP_KEEPINTVL) == config.keepalive_intvl
    assert sock.getsockopt(IPPROTO_TCP, TCP_KEEPCNT) == config.keepalive_probes
    sock.setsockopt(IPPROTO_TCP, TCP_KEEPCNT, 3)
    assert sock.getsockopt(IPPROTO_TCP, TCP_KEEPCNT) == 3
    cli, _conn, _ = connected_pair(world)
    cli.setsockopt(IPPROTO_TCP, TCP_KEEPIDLE, 30)
    assert cli.getsockopt(IPPROTO_TCP, TCP_KEEPIDLE) == 30
    assert cli.getsockopt(IPPROTO_TCP, TCP_KEEPINTVL) == config.keepalive_intvl


def test_unknown_option_and_closed_socket(world: World) -> None:
    sock = world.socket("A")
    with pytest.raises(OSError) as info:
        sock.setsockopt(SOL_SOCKET, 12345, 1)
    assert info.value.errno == errno.ENOPROTOOPT
    sock.close()
    with pytest.raises(OSError) as closed:
        sock.recv(1)
    assert closed.value.errno == errno.EBADF


def test_recv_on_unconnected_socket_is_enotconn(world: World) -> None:
    with pytest.raises(OSError) as info:
        world.socket("A").recv(1)
    assert info.value.errno == errno.ENOTCONN


def test_blocking_forever_is_reported_not_hung(world: World) -> None:
    _cli, conn, _ = connected_pair(world)
    with pytest.raises(StalledError):
        conn.recv(10)  # nobody will ever send: the simulation says so


def test_context_manager_closes(world: World) -> None:
    serve(world)
    with world.socket("A") as cli:
        cli.connect(("198.18.0.2", PORT))
        conn = cli.connection
    assert conn is not None and conn.state is State.FIN_WAIT_1


def test_ipv6_connection(world: World) -> None:
    srv = world.socket("B", v6=True)
    srv.bind(("2001:db8::2", 80))
    srv.listen()
    cli = world.socket("A", v6=True)
    cli.connect(("2001:db8::2", 80))
    conn, peer = srv.accept()
    assert peer == ("2001:db8::1", cli.getsockname()[1])
    cli.sendall(b"six")
    assert conn.recv(10) == b"six"
    assert isinstance(cli, Socket)
    a = cli.connection
    assert a is not None and a.snd_mss == 1440 - 12  # IPv6 headers are 20 bytes longer


def test_options_read_back_as_set(world: World) -> None:
    from synack.api.socket import IPPROTO_TCP, SO_ERROR, SO_KEEPALIVE, TCP_NODELAY

    cli, _conn, _ = connected_pair(world)
    assert cli.gettimeout() is None and cli.getblocking()
    cli.settimeout(1.5)
    assert cli.gettimeout() == 1.5 and cli.getblocking()
    cli.setblocking(False)
    assert cli.gettimeout() == 0.0 and not cli.getblocking()
    cli.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    cli.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
    assert cli.getsockopt(SOL_SOCKET, SO_KEEPALIVE) == 1
    assert cli.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 1
    assert cli.getsockopt(SOL_SOCKET, SO_ERROR) == 0
    conn = cli.connection
    assert conn is not None and conn.keepalive and conn.nodelay
    with pytest.raises(ValueError):
        cli.settimeout(-1)
    assert cli.fileno() >= 0
    cli.close()
    assert cli.fileno() == -1


# ---------------------------------------------------------------- misuse, as the std module


def test_send_on_closed_socket_is_ebadf(world: World) -> None:
    cli, _conn, _ = connected_pair(world)
    cli.close()
    with pytest.raises(OSError) as info:
        cli.send(b"x")
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError) as again:
        cli.sendall(b"x")
    assert again.value.errno == errno.EBADF


def test_connect_twice_is_eisconn(world: World) -> None:
    cli, _conn, _ = connected_pair(world)
    with pytest.raises(OSError) as info:
        cli.connect(("198.18.0.2", PORT))
    assert info.value.errno == errno.EISCONN
    cli.shutdown(SHUT_WR)  # still connected while closing, as on Linux
    assert cli.connect_ex(("198.18.0.2", PORT)) == errno.EISCONN


def test_bind_to_an_address_the_host_does_not_own_is_eaddrnotavail(world: World) -> None:
    sock = world.socket("A")
    with pytest.raises(OSError) as info:
        sock.bind(("198.18.0.2", 5000))  # B's address, not A's
    assert info.value.errno == errno.EADDRNOTAVAIL
    sock.bind(("198.18.0.1", 5000))  # the failed bind left the socket usable
    assert sock.getsockname() == ("198.18.0.1", 5000)


def test_unconnected_socket_calls_are_enotconn(world: World) -> None:
    sock = world.socket("A")
    for call in (lambda: sock.recv(1), lambda: sock.getpeername(), lambda: sock.shutdown(0)):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.ENOTCONN
    with pytest.raises(BrokenPipeError):  # what Linux says to send() here
        sock.send(b"x")


# ---------------------------------------------------------------- makefile


def test_makefile_reads_and_writes_lines(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    writer = cli.makefile("w", encoding="ascii", newline="\r\n")
    writer.write("GET / HTTP/1.0\nHost: b\n\n")
    writer.flush()
    reader = conn.makefile("rb")
    assert reader.readline() == b"GET / HTTP/1.0\r\n"
    assert reader.readline() == b"Host: b\r\n"
    assert reader.readline() == b"\r\n"
    writer.close()
    cli.shutdown(SHUT_WR)
    assert reader.read() == b""  # end of stream
    reader.close()


def test_makefile_keeps_the_connection_until_the_file_closes(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    stream = cli.makefile("rwb", buffering=0)
    cli.close()  # as with the std module: the file still holds the connection
    assert cli.fileno() >= 0
    assert stream.write(b"still here") == 10
    assert conn.recv(100) == b"still here"
    stream.close()
    assert cli.fileno() == -1
    assert conn.recv(100) == b""  # now the FIN went out
    with pytest.raises(ValueError):
        cli.makefile("x")
    with pytest.raises(OSError) as info:
        cli.makefile("r")
    assert info.value.errno == errno.EBADF


def test_makefile_read_timeout_is_timed_out(world: World) -> None:
    cli, _conn, _ = connected_pair(world)
    cli.settimeout(0.5)
    with pytest.raises(TimeoutError), cli.makefile("rb") as reader:
        reader.read(1)


# ---------------------------------------------------------------- the synack.socket module


def test_synack_socket_module_over_the_default_driver(world: World) -> None:
    from synack import socket as synack_socket
    from synack.api.driver import SimDriver, set_default_driver

    set_default_driver(SimDriver(world.net, world.hosts["B"]))
    try:
        srv = synack_socket.create_server(("198.18.0.2", 8000), backlog=4)
        assert isinstance(srv, synack_socket.SocketType)
        assert srv.getsockopt(SOL_SOCKET, SO_REUSEADDR) == 1
        assert srv.getsockname() == ("198.18.0.2", 8000)
    finally:
        set_default_driver(None)
    cli = synack_socket.create_connection(
        ("198.18.0.2", 8000), timeout=5, driver=SimDriver(world.net, world.hosts["A"])
    )
    assert cli.gettimeout() == 5
    conn, peer = srv.accept()
    assert peer == cli.getsockname()
    cli.sendall(b"hi")
    assert conn.recv(10) == b"hi"


def test_synack_socket_module_errors(world: World) -> None:
    from synack import socket as synack_socket
    from synack.api.driver import SimDriver

    driver = SimDriver(world.net, world.hosts["A"])
    with pytest.raises(synack_socket.gaierror):
        synack_socket.create_connection(("example.invalid", 80), driver=driver)
    with pytest.raises(ValueError):
        synack_socket.create_server(("198.18.0.1", 80), reuse_port=True, driver=driver)
    with pytest.raises(ConnectionRefusedError):
        synack_socket.create_connection(("198.18.0.2", 9), driver=driver)
    with pytest.raises(RuntimeError, match="no synack driver"):
        synack_socket.socket()


def test_tcp_linger2_bounds_how_long_an_orphan_waits_in_fin_wait_2(world: World) -> None:
    from synack.api.socket import IPPROTO_TCP, TCP_LINGER2

    cli, conn, _ = connected_pair(world)
    fin_timeout = cli.driver.stack.config.fin_timeout
    assert cli.getsockopt(IPPROTO_TCP, TCP_LINGER2) == fin_timeout  # not set: the sysctl
    cli.setsockopt(IPPROTO_TCP, TCP_LINGER2, 1)
    assert cli.getsockopt(IPPROTO_TCP, TCP_LINGER2) == 1
    live = cli.connection
    assert live is not None
    cli.close()
    world.run(0.5)
    assert live.state is State.FIN_WAIT_2  # the peer never closes its side
    world.run(1.0)
    assert live.state is State.CLOSED  # one second after FIN_WAIT_2, not fin_timeout
    other = world.socket("A")
    other.setsockopt(IPPROTO_TCP, TCP_LINGER2, -1)
    assert other.getsockopt(IPPROTO_TCP, TCP_LINGER2) == -1
    other.setsockopt(IPPROTO_TCP, TCP_LINGER2, 1000)
    assert other.getsockopt(IPPROTO_TCP, TCP_LINGER2) == 120  # Linux's ceiling
    assert conn.connection is not None and conn.connection.state is State.CLOSE_WAIT


def test_tcp_maxseg_caps_the_mss_and_reads_back_as_linux_does(world: World) -> None:
    from synack.api.socket import IPPROTO_TCP, TCP_MAXSEG

    srv = serve(world)
    assert srv.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 536  # nothing learnt yet
    srv.setsockopt(IPPROTO_TCP, TCP_MAXSEG, 1100)
    assert srv.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 1100
    for bad in (87, 32768):
        with pytest.raises(OSError) as info:
            srv.setsockopt(IPPROTO_TCP, TCP_MAXSEG, bad)
        assert info.value.errno == errno.EINVAL
    cli = world.socket("A")
    cli.connect(("198.18.0.2", PORT))
    conn, _ = srv.accept()
    # the child answered the SYN with the listener's limit: both sides send 1100-byte
    # segments (less the 12 bytes of the timestamp option)
    assert conn.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 1088
    assert cli.getsockopt(IPPROTO_TCP, TCP_MAXSEG) == 1088


def test_a_listeners_receive_buffer_shapes_the_syn_ack_of_its_children(world: World) -> None:
    from synack.api.socket import SO_RCVBUF

    srv = world.socket("B")
    srv.setsockopt(SOL_SOCKET, SO_RCVBUF, 20_000)
    srv.bind(("198.18.0.2", PORT))
    srv.listen()
    cli = world.socket("A")
    cli.connect(("198.18.0.2", PORT))
    conn, _ = srv.accept()
    live = conn.connection
    assert live is not None
    # inherited when the SYN arrived, so the window scale offered fits the buffer
    assert live.rcv_capacity == 20_000 and live.rcv_wscale == 0


def test_tcp_noopt_on_a_client_sends_a_syn_without_options(world: World) -> None:
    from synack.api.socket import IPPROTO_TCP, TCP_NOOPT

    srv = serve(world)
    cli = world.socket("A")
    cli.setsockopt(IPPROTO_TCP, TCP_NOOPT, 1)
    assert cli.getsockopt(IPPROTO_TCP, TCP_NOOPT) == 1
    cli.connect(("198.18.0.2", PORT))
    conn, _ = srv.accept()
    for sock in (cli, conn):
        tcb = sock._conn
        assert tcb is not None
        assert not (tcb.ts_ok or tcb.ws_ok or tcb.sack_negotiated)  # nothing was agreed
    assert conn._conn is not None and conn._conn.snd_mss == 536  # no MSS option came
    cli.sendall(b"still works")
    assert conn.recv(100) == b"still works"


def test_tcp_noopt_on_a_listener_sends_syn_acks_without_options() -> None:
    from synack.api.socket import IPPROTO_TCP, TCP_NOOPT
    from synack.tcp.config import LINUX

    for syn_cache in (True, False):
        world = World(seed=1, config=LINUX.with_changes(syn_cache=syn_cache))
        srv = world.socket("B")
        srv.setsockopt(IPPROTO_TCP, TCP_NOOPT, 1)
        srv.bind(("198.18.0.2", PORT))
        srv.listen(4)
        cli = world.socket("A")
        cli.connect(("198.18.0.2", PORT))
        conn, _ = srv.accept()
        assert cli._conn is not None and conn._conn is not None
        assert not (cli._conn.ts_ok or cli._conn.ws_ok or cli._conn.sack_negotiated)
        assert cli._conn.snd_mss == 536  # the SYN,ACK offered no MSS either
        assert not (conn._conn.ts_ok or conn._conn.ws_ok or conn._conn.sack_negotiated)
