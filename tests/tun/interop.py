"""Scenarios run INSIDE a test's network namespace: synack on a TUN device vs the kernel.

``python interop.py SCENARIO FAMILY`` opens a TUN device (synack 198.18.0.2 and
2001:db8::2, the kernel 198.18.0.1 and 2001:db8::1), runs one scenario with the kernel's
own sockets as the peer, and prints one JSON line of findings. The test process checks
them; this script only reports. Every socket has a timeout and the whole run is bounded.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import socket as kernel
import sys
import threading
from collections.abc import Callable
from typing import Any

import synack.socket as synack_socket
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.tun import TunDriver, open_tun

SYNACK = {4: "198.18.0.2", 6: "2001:db8::2"}
KERNEL = {4: "198.18.0.1", 6: "2001:db8::1"}
FAMILY = {4: kernel.AF_INET, 6: kernel.AF_INET6}
TIMEOUT = 20.0
PAYLOAD_BYTES = 1 << 20
PORT = 7007

Result = dict[str, Any]


def payload() -> bytes:
    return os.urandom(PAYLOAD_BYTES)


class Background:
    """Run ``work`` on a thread; ``join()`` re-raises what it raised, or its result."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = work()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> Any:
        self.thread.join(TIMEOUT * 2)
        if self.thread.is_alive():
            raise TimeoutError("background work did not finish")
        if self.error is not None:
            raise self.error
        return self.result


def read_to_eof(recv: Callable[[int], bytes]) -> bytes:
    chunks: list[bytes] = []
    for _ in range(1_000_000):  # bounded; each recv also has a timeout
        chunk = recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    raise RuntimeError("too many reads")


def echo_to_synack(v: int, driver: TunDriver) -> Result:
    """The kernel connects to a synack listener, sends 1 MB, closes first; synack echoes."""
    server = synack_socket.create_server((SYNACK[v], PORT), family=FAMILY[v])
    server.settimeout(TIMEOUT)

    def echo() -> Result:
        conn, peer = server.accept()
        conn.settimeout(TIMEOUT)
        total = 0
        for _ in range(1_000_000):
            chunk = conn.recv(65536)
            if not chunk:
                break  # the kernel closed its side first
            conn.sendall(chunk)
            total += len(chunk)
        conn.close()
        return {"synack_peer": list(peer), "synack_echoed": total}

    echoer = Background(echo)
    data = payload()
    with kernel.socket(FAMILY[v], kernel.SOCK_STREAM) as client:
        client.settimeout(TIMEOUT)
        client.connect((SYNACK[v], PORT))

        def send_all_then_close() -> None:
            client.sendall(data)
            client.shutdown(kernel.SHUT_WR)

        sender = Background(send_all_then_close)
        echoed = read_to_eof(client.recv)
        sender.join()
        kernel_name = list(client.getsockname()[:2])
    found: Result = echoer.join()
    server.close()
    found.update(
        sent_sha256=hashlib.sha256(data).hexdigest(),
        echoed_sha256=hashlib.sha256(echoed).hexdigest(),
        echoed_bytes=len(echoed),
        kernel_name=kernel_name,
    )
    return found


def connect_out(v: int, driver: TunDriver) -> Result:
    """synack connects to a kernel listener, sends 1 MB, reads a reply, closes first."""
    data = payload()
    with kernel.socket(FAMILY[v], kernel.SOCK_STREAM) as listener:
        listener.setsockopt(kernel.SOL_SOCKET, kernel.SO_REUSEADDR, 1)
        listener.bind((KERNEL[v], PORT))
        listener.listen()
        listener.settimeout(TIMEOUT)

        def serve() -> Result:
            conn, peer = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                received = bytearray()
                while len(received) < PAYLOAD_BYTES:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                conn.sendall(hashlib.sha256(received).hexdigest().encode())
                after = conn.recv(1)  # b"" once synack closes
            return {
                "kernel_got_sha256": hashlib.sha256(received).hexdigest(),
                "kernel_peer": list(peer[:2]),
                "kernel_saw_eof": after == b"",
            }

        server = Background(serve)
        sock = synack_socket.create_connection((KERNEL[v], PORT), timeout=TIMEOUT)
        name = list(sock.getsockname())
        sock.sendall(data)
        reply = sock.recv(64)
        conn = sock.connection
        sock.close()
        found: Result = server.join()
    assert conn is not None
    found.update(
        sent_sha256=hashlib.sha256(data).hexdigest(),
        reply=reply.decode(),
        synack_name=name,
        synack_final_state=settled_state(driver, conn, State.TIME_WAIT),
    )
    return found


def kernel_closes_idle(v: int, driver: TunDriver) -> Result:
    """The kernel closes an idle connection first: synack reads end-of-stream, then closes."""
    server = synack_socket.create_server((SYNACK[v], PORT), family=FAMILY[v])
    server.settimeout(TIMEOUT)
    with kernel.socket(FAMILY[v], kernel.SOCK_STREAM) as client:
        client.settimeout(TIMEOUT)
        client.connect((SYNACK[v], PORT))
        conn, _ = server.accept()
        conn.settimeout(TIMEOUT)
        client.sendall(b"last words")
        client.close()
        first = conn.recv(100)
        eof = conn.recv(100)
        state_after_eof = conn.state.name
        connection = conn.connection
        conn.close()
        state_after_close = conn.state.name
    server.close()
    assert connection is not None
    return {
        "first": first.decode(),
        "eof": eof == b"",
        "state_after_eof": state_after_eof,
        "state_after_close": state_after_close,
        "final_state": settled_state(driver, connection, State.CLOSED),
    }


def refused(v: int, driver: TunDriver) -> Result:
    """A connection to a synack port with no listener is refused, in the kernel."""
    with kernel.socket(FAMILY[v], kernel.SOCK_STREAM) as client:
        client.settimeout(TIMEOUT)
        try:
            client.connect((SYNACK[v], PORT + 1))
        except OSError as exc:
            return {"error": type(exc).__name__, "errno": exc.errno}
    return {"error": None}


def settled_state(driver: TunDriver, conn: Connection, expected: State) -> str:
    """The connection's state once it reaches ``expected`` (or after a bounded wait)."""
    with driver.guard():
        driver.wait(lambda: conn.state is expected, int(TIMEOUT * 1_000_000))
        return conn.state.name


SCENARIOS: dict[str, Callable[[int, TunDriver], Result]] = {
    "echo": echo_to_synack,
    "connect-out": connect_out,
    "kernel-closes": kernel_closes_idle,
    "refused": refused,
}


def main(argv: list[str]) -> int:
    name, version = argv[0], int(argv[1])
    faulthandler.dump_traceback_later(TIMEOUT * 3, exit=True)  # never outlive the test
    with open_tun(
        "synack0",
        f"{SYNACK[4]}/24",
        f"{KERNEL[4]}/24",
        addr6=f"{SYNACK[6]}/64",
        host_addr6=f"{KERNEL[6]}/64",
    ) as driver:
        found = SCENARIOS[name](version, driver)
        found["device_drops"] = driver.device.drops  # type: ignore[attr-defined]
        found["internal_errors"] = driver.stack.counters["SynackInternalErrors"]
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
