"""TunDriver with blocking sockets on ordinary threads.

Two drivers are wired back to back through a SOCK_SEQPACKET socketpair standing in for
the TUN device (one datagram is one IP packet), so these tests need no root and send
nothing onto any network. The real device is exercised in test_interop.py.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import socket as std
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from synack.api.driver import default_driver, set_default_driver
from synack.api.socket import Socket
from synack.stack import Stack
from synack.tcp.config import LINUX, MILLISECOND
from synack.tcp.state import State
from synack.tun.driver import TunDriver

TIMEOUT = 20.0


class PairDevice:
    """One end of a packet pipe, with the TunDevice methods the driver uses."""

    def __init__(self, sock: std.socket, name: str) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.name = name
        self.closed = False
        self.drops = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_ready(self, max_packets: int) -> list[bytes]:
        packets: list[bytes] = []
        try:
            for _ in range(max_packets):
                packets.append(self.sock.recv(65536))
        except BlockingIOError:
            pass
        return packets

    def write(self, packet: bytes) -> None:
        try:
            self.sock.send(packet)
        except BlockingIOError:
            self.drops += 1

    def close(self) -> None:
        self.closed = True
        self.sock.close()


#: TIME-WAIT cut to 50 ms so that a test sees a timer fire on an idle connection.
CONFIG = LINUX.with_changes(timewait_len_us=50 * MILLISECOND)


def make_driver(sock: std.socket, address: str, name: str) -> TunDriver:
    stack = Stack([address], CONFIG, seed=int.from_bytes(os.urandom(8), "big"), name=name)
    return TunDriver(stack, PairDevice(sock, name))


@pytest.fixture
def pair() -> Iterator[tuple[TunDriver, TunDriver]]:
    a_end, b_end = std.socketpair(std.AF_UNIX, std.SOCK_SEQPACKET)
    for end in (a_end, b_end):
        end.setsockopt(std.SOL_SOCKET, std.SO_SNDBUF, 1 << 21)
    a = make_driver(a_end, "198.18.0.1", "a")
    b = make_driver(b_end, "198.18.0.2", "b")
    a.start()
    b.start()
    yield a, b
    a.close()
    b.close()


def listening(driver: TunDriver, port: int = 80) -> Socket:
    srv = Socket(driver)
    srv.settimeout(TIMEOUT)
    srv.bind(("198.18.0.2", port))
    srv.listen()
    return srv


def test_megabyte_round_trip_between_threads(pair: tuple[TunDriver, TunDriver]) -> None:
    a, b = pair
    srv = listening(b)
    data = os.urandom(1 << 20)
    echoed: list[int] = []

    def echo() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            for _ in range(100_000):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                conn.sendall(chunk)
                echoed.append(len(chunk))

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    cli = Socket(a)
    cli.settimeout(TIMEOUT)
    cli.connect(("198.18.0.2", 80))

    def send_all_then_close() -> None:
        cli.sendall(data)
        cli.shutdown(std.SHUT_WR)

    sender = threading.Thread(target=send_all_then_close, daemon=True)
    sender.start()
    got = bytearray()
    for _ in range(100_000):
        chunk = cli.recv(65536)
        if not chunk:
            break
        got += chunk
    sender.join(TIMEOUT)
    thread.join(TIMEOUT)
    assert sum(echoed) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    cli.close()


def test_time_wait_ends_on_its_timer(pair: tuple[TunDriver, TunDriver]) -> None:
    a, b = pair
    srv = listening(b)
    cli = Socket(a)
    cli.settimeout(TIMEOUT)
    cli.connect(("198.18.0.2", 80))
    conn, _ = srv.accept()
    connection = cli.connection
    assert connection is not None
    cli.close()
    assert conn.recv(10) == b""
    conn.close()
    with a.guard():
        assert a.wait(lambda: connection.state is State.TIME_WAIT, int(TIMEOUT * 1e6))
        # Nothing more arrives: only the loop timer can end TIME-WAIT.
        assert a.wait(lambda: connection.state is State.CLOSED, int(TIMEOUT * 1e6))
        assert connection.key not in a.stack.connections


def test_recv_timeout_is_timed_out(pair: tuple[TunDriver, TunDriver]) -> None:
    a, b = pair
    srv = listening(b)
    cli = Socket(a)
    cli.settimeout(TIMEOUT)
    cli.connect(("198.18.0.2", 80))
    cli.settimeout(0.05)
    with pytest.raises(TimeoutError, match="timed out"):
        cli.recv(10)
    srv.close()


def test_closing_the_driver_wakes_a_blocked_call(pair: tuple[TunDriver, TunDriver]) -> None:
    _a, b = pair
    srv = listening(b)
    outcome: list[BaseException] = []

    def accept() -> None:
        try:
            srv.accept()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    b.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert isinstance(outcome[0], OSError) and outcome[0].errno == errno.ENETDOWN


def test_blocking_call_on_the_loop_thread_is_refused() -> None:
    a_end, b_end = std.socketpair(std.AF_UNIX, std.SOCK_SEQPACKET)
    driver = make_driver(a_end, "198.18.0.1", "a")

    async def main() -> None:
        driver.attach()
        assert driver.loop is asyncio.get_running_loop()
        srv = Socket(driver)
        srv.bind(("198.18.0.1", 80))
        srv.listen()
        with pytest.raises(RuntimeError, match=r"synack\.asyncio"):
            srv.accept()

    try:
        asyncio.run(main())
    finally:
        driver.close()
        b_end.close()


def test_close_clears_the_default_driver_it_set() -> None:
    a_end, b_end = std.socketpair(std.AF_UNIX, std.SOCK_SEQPACKET)
    driver = make_driver(a_end, "198.18.0.1", "a")
    driver.start()
    set_default_driver(driver)
    driver.close()
    b_end.close()
    with pytest.raises(RuntimeError, match="no synack driver"):
        default_driver()


def test_packet_hooks_see_both_directions(pair: tuple[TunDriver, TunDriver]) -> None:
    a, b = pair
    seen: list[tuple[str, int]] = []
    a.on_packet.append(lambda direction, packet: seen.append((direction, packet[33])))
    srv = listening(b)
    cli = Socket(a)
    cli.settimeout(TIMEOUT)
    cli.connect(("198.18.0.2", 80))
    srv.close()
    syn, syn_ack = 0x02, 0x12
    assert seen[:2] == [("out", syn), ("in", syn_ack)]  # TCP flags byte of each packet


def test_write_pcap_captures_both_directions(
    pair: tuple[TunDriver, TunDriver], tmp_path: Path
) -> None:
    from scapy.all import IP, TCP, rdpcap  # an independent decoder

    a, b = pair
    pcap = a.write_pcap(tmp_path / "a.pcap")
    srv = listening(b)
    cli = Socket(a)
    cli.settimeout(TIMEOUT)
    cli.connect(("198.18.0.2", 80))
    conn, _ = srv.accept()
    cli.sendall(b"captured")
    conn.settimeout(TIMEOUT)
    assert conn.recv(100) == b"captured"
    a.close()
    assert pcap.closed
    seen = [(p[IP].src, str(p[TCP].flags), bytes(p[TCP].payload)) for p in rdpcap(str(pcap.path))]
    assert seen[:2] == [("198.18.0.1", "S", b""), ("198.18.0.2", "SA", b"")]
    assert ("198.18.0.1", "PA", b"captured") in seen
