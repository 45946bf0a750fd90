"""synack's blocking sockets on a TUN device, against kernel sockets in the same namespace.

Each test runs one Python program inside the namespace that holds both ends: synack's
``synack.socket`` over ``open_tun`` and the kernel's own ``socket`` module.
"""

from __future__ import annotations

import textwrap

from netns import Namespace

from .tools import TUN, run_python

PRELUDE = f"""
import socket, struct, threading, time
import synack.socket as ss
from synack.tun import open_tun
driver = open_tun({TUN!r}, "198.18.0.2/24", "198.18.0.1/24")
"""


def run(ns: Namespace, body: str, timeout: float = 60.0) -> list[str]:
    return run_python(ns, PRELUDE + textwrap.dedent(body), timeout=timeout).split()


def test_so_linger_zero_resets_the_kernels_connection(netns: Namespace) -> None:
    out = run(
        netns,
        """
        srv = ss.create_server(("198.18.0.2", 5000))
        k = socket.create_connection(("198.18.0.2", 5000), timeout=10)
        conn, _ = srv.accept()
        conn.setsockopt(ss.SOL_SOCKET, ss.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        try:
            k.recv(10)
            print("no-reset")
        except ConnectionResetError:
            print("reset")
        print(conn.connection.state.name)
        """,
    )
    assert out == ["reset", "CLOSED"]


def test_close_by_synack_then_by_the_kernel(netns: Namespace) -> None:
    out = run(
        netns,
        """
        srv = ss.create_server(("198.18.0.2", 5000))
        k = socket.create_connection(("198.18.0.2", 5000), timeout=10)
        conn, _ = srv.accept()
        conn.sendall(b"bye")
        conn.close()  # synack closes first: it goes through FIN-WAIT to TIME-WAIT
        print(k.recv(10).decode(), repr(k.recv(10)))
        k.close()
        deadline = time.monotonic() + 10
        while conn.connection.state.name != "TIME_WAIT" and time.monotonic() < deadline:
            time.sleep(0.01)
        print(conn.connection.state.name)
        """,
    )
    assert out == ["bye", "b''", "TIME_WAIT"]


def test_close_by_the_kernel_then_by_synack(netns: Namespace) -> None:
    out = run(
        netns,
        """
        srv = ss.create_server(("198.18.0.2", 5000))
        k = socket.create_connection(("198.18.0.2", 5000), timeout=10)
        conn, _ = srv.accept()
        k.sendall(b"bye")
        k.close()
        conn.settimeout(10)
        print(conn.recv(10).decode(), repr(conn.recv(10)), conn.connection.state.name)
        conn.close()
        deadline = time.monotonic() + 10
        while conn.connection.state.name != "CLOSED" and time.monotonic() < deadline:
            time.sleep(0.01)
        print(conn.connection.state.name)
        """,
    )
    assert out == ["bye", "b''", "CLOSE_WAIT", "CLOSED"]


def test_half_close_each_way(netns: Namespace) -> None:
    out = run(
        netns,
        """
        srv = ss.create_server(("198.18.0.2", 5000))
        # synack stops sending first, then keeps receiving.
        k = socket.create_connection(("198.18.0.2", 5000), timeout=10)
        conn, _ = srv.accept()
        conn.settimeout(10)
        conn.sendall(b"question")
        conn.shutdown(ss.SHUT_WR)
        print(k.recv(100).decode(), repr(k.recv(100)))
        k.sendall(b"answer-after-our-fin")
        k.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := conn.recv(100):
            got += chunk
        print(got.decode())
        conn.close(); k.close()
        # the kernel stops sending first; synack still answers.
        k2 = socket.create_connection(("198.18.0.2", 5000), timeout=10)
        conn2, _ = srv.accept()
        conn2.settimeout(10)
        k2.sendall(b"upload")
        k2.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := conn2.recv(100):
            got += chunk
        conn2.sendall(got.upper())
        conn2.close()
        print(k2.recv(100).decode(), repr(k2.recv(100)))
        """,
    )
    assert out == ["question", "b''", "answer-after-our-fin", "UPLOAD", "b''"]


def test_synack_connects_out_to_a_kernel_listener(netns: Namespace) -> None:
    out = run(
        netns,
        """
        lst = socket.create_server(("198.18.0.1", 6000))
        c = ss.create_connection(("198.18.0.1", 6000), timeout=10)
        k, peer = lst.accept()
        c.sendall(b"ping")
        print(k.recv(10).decode(), peer[0])
        k.sendall(b"pong")
        print(c.recv(10).decode())
        """,
    )
    assert out == ["ping", "198.18.0.2", "pong"]


def test_keepalive_drops_a_connection_whose_kernel_peer_vanished(netns: Namespace) -> None:
    out = run(
        netns,
        f"""
        import subprocess
        lst = socket.create_server(("198.18.0.1", 6000))
        c = ss.create_connection(("198.18.0.1", 6000), timeout=10)
        k, _ = lst.accept()
        c.setsockopt(ss.SOL_SOCKET, ss.SO_KEEPALIVE, 1)
        c.setsockopt(ss.IPPROTO_TCP, ss.TCP_KEEPIDLE, 1)
        c.setsockopt(ss.IPPROTO_TCP, ss.TCP_KEEPINTVL, 1)
        c.setsockopt(ss.IPPROTO_TCP, ss.TCP_KEEPCNT, 2)
        # The kernel's end vanishes: its address goes, so whatever synack sends is dropped
        # unanswered (no RST, no ICMP), as if the peer had lost power.
        subprocess.run(["ip", "addr", "del", "198.18.0.1/24", "dev", {TUN!r}], check=True)
        c.settimeout(30)
        start = time.monotonic()
        try:
            c.recv(10)
            print("still-open")
        except TimeoutError as exc:
            print("timed-out", exc.errno == 110, round(time.monotonic() - start) <= 6)
        """,
    )
    assert out == ["timed-out", "True", "True"]


def test_icmp_host_unreachable_aborts_a_connect_at_once(netns: Namespace) -> None:
    # The kernel answers for an unreachable route only when it forwards (inside this
    # namespace, which has no other interface); a plain host drops such packets silently.
    netns.exec("sysctl", "-qw", "net.ipv4.ip_forward=1", check=True)
    netns.exec("ip", "route", "add", "unreachable", "198.18.5.0/24", check=True)
    out = run(
        netns,
        """
        start = time.monotonic()
        try:
            ss.create_connection(("198.18.5.5", 80), timeout=30)
            print("connected")
        except OSError as exc:
            # the kernel's ICMP host-unreachable, not a SYN timeout after 127 s
            print(type(exc).__name__, exc.errno, time.monotonic() - start < 5)
        """,
    )
    assert out == ["OSError", "113", "True"]
