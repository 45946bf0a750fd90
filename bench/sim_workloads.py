"""Workloads for the simulated-network benchmark (run by bench/run.py).

Each workload builds its own lossless `World` with ``record=False`` (no trace), does its
setup outside the measured section, and times only the work it reports with
``time.process_time()``: the CPU time of this process, so both stacks, the simulator and
the benchmark's own application code (sockets, hashing) are counted, and the virtual
time the network jumps over is not.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synack.api.socket import Socket
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.connection import Connection
from synack.tcp.state import State
from synack.trace.jsonl import JsonlTrace

PORT = 5001
MB = 10**6

#: The link for every workload: 1 ms one way, no loss, no bandwidth limit, MTU 1500.
LINK = LinkConfig(delay_us=1000, mtu=1500)


@dataclass(slots=True)
class Result:
    """One timed run: what was done and the CPU seconds it took."""

    cpu_s: float
    units: float  # MB for the bulk transfer, cycles for connect/close
    virtual_s: float  # simulated seconds the run covered
    segments: int  # TCP segments sent by both stacks
    retransmissions: int = 0  # of those, retransmitted (0 expected on a lossless link)
    time_wait: int = 0  # connections left in TIME_WAIT (cycles: on A)
    trace_lines: int = 0  # lines written to the trace file, when one was written

    @property
    def rate(self) -> float:
        return self.units / self.cpu_s if self.cpu_s > 0 else float("inf")


def _segments(world: World) -> int:
    return sum(stack.counters["TcpOutSegs"] for stack in world.stacks.values())


def _retransmissions(world: World) -> int:
    return sum(stack.counters["TcpRetransSegs"] for stack in world.stacks.values())


def _hash(data: bytes | memoryview) -> bytes:
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------------------- bulk


def make_payload(size: int, seed: int = 1) -> bytes:
    """Deterministic incompressible bytes (a pattern could hide reordering bugs)."""
    return random.Random(seed).randbytes(size)


def bulk_transfer(
    payload: bytes, seed: int = 0, link: LinkConfig = LINK, trace: Path | None = None
) -> Result:
    """Move ``payload`` from A to B over one connection and check it arrived intact.

    With ``trace``, both stacks write every event to that JSON-lines file, and the
    measured CPU time includes writing it (to show what tracing costs).

    Both applications are non-blocking and event driven, like an epoll loop: between
    application turns the network runs (in virtual time) until the receiver has a
    quarter of its buffer to read or the sender has half of its buffer free (or the
    stream is nearly done). The receiver reads everything available in one call and
    hashes it incrementally; nothing is accumulated, so the cost stays linear.
    """
    world = World(seed, link, record=False)
    tracer = None
    if trace is not None:
        tracer = JsonlTrace(trace)
        tracer.attach_world(world)
    srv = world.socket("B")
    srv.bind((world.address("B"), PORT))
    srv.listen(1)
    sender = world.socket("A")
    sender.connect((world.address("B"), PORT))
    receiver, _ = srv.accept()
    expected = _hash(payload)
    segments_before = _segments(world)
    virtual_before = world.now

    start = time.process_time()
    digest, received = pump(world, sender, receiver, payload)
    if tracer is not None:
        tracer.flush()
    cpu = time.process_time() - start

    if received != len(payload) or digest != expected:
        raise AssertionError(
            f"bulk transfer corrupted the stream: {received} of {len(payload)} bytes, "
            f"digest {'matches' if digest == expected else 'differs'}"
        )
    result = Result(
        cpu,
        len(payload) / MB,
        (world.now - virtual_before) / 1e6,
        _segments(world) - segments_before,
        _retransmissions(world),
    )
    sender.close()
    receiver.close()
    if tracer is not None:
        tracer.close()
        result.trace_lines = tracer.lines
    return result


def pump(
    world: World, sender: Socket, receiver: Socket, payload: bytes, deadline: int | None = None
) -> tuple[bytes, int]:
    """Move ``payload`` event by event (non-blocking): (digest of what arrived, its length).

    Without ``deadline`` a stall of 10 virtual seconds is an error; with one, the transfer
    stops at that virtual time and the caller reports it as capped.
    """
    sender.setblocking(False)
    receiver.setblocking(False)
    sconn, rconn = sender.connection, receiver.connection
    assert sconn is not None and rconn is not None
    total = len(payload)
    view = memoryview(payload)
    hasher = hashlib.sha256()  # OpenSSL's, with SHA extensions: ~0.6 ms per MB
    sent = received = 0
    read_mark = max(rconn.rcv_capacity // 4, 1)
    write_mark = max(sconn.snd_capacity // 2, 1)
    run_until = world.net.run_until

    def ready() -> bool:
        # Readable: enough to read (or everything still to come, or the end/an error).
        want = total - received
        if len(rconn.rcv_buf) >= (read_mark if want > read_mark else want):
            return True
        if rconn.at_eof or rconn.error is not None:
            return True
        # Writable: half the send buffer free while there is data left to send.
        return sent < total and sconn.send_space() >= write_mark

    while received < total:
        if sent < total and sconn.send_space():
            sent += sender.send(view[sent:])
        try:
            piece = receiver.recv(1 << 22)
        except BlockingIOError:
            wait = 10_000_000 if deadline is None else deadline - world.now
            if wait <= 0 or not run_until(ready, timeout_us=wait):
                if deadline is not None and world.now >= deadline:
                    break  # capped: the caller reports it
                raise RuntimeError(f"transfer stalled at {received} of {total} bytes") from None
            continue
        if not piece:
            break  # early end of stream: reported by the caller
        hasher.update(piece)
        received += len(piece)
    return hasher.digest(), received


# ---------------------------------------------------------------------------- cycles


def connect_close_cycles(cycles: int, seed: int = 0, link: LinkConfig = LINK) -> Result:
    """Sequential connections A -> B, each opened, accepted and closed, client first.

    One cycle: the client connects (blocking) to a listener on B; B accepts; the client
    closes; the server reads the end of stream and closes. The cycle ends when the
    server's connection is CLOSED (LAST_ACK answered), so every segment of the
    three-way handshake and of the close is counted (6 segments per cycle today: the
    server's ACK of the client's FIN rides on its own FIN).

    Client first, as a real HTTP/1.0-style client does: TIME_WAIT then sits on A (60 s
    of virtual time, longer than the run), so A's connection table grows by one
    TIME_WAIT entry per cycle and each connect picks a fresh ephemeral port past them.
    This measures the cost of a stack that carries its TIME_WAIT population, which is
    the fair case for sequential connections from one client.
    """
    world = World(seed, link, record=False)
    srv = world.socket("B")
    srv.bind((world.address("B"), PORT))
    srv.listen(128)
    address = (world.address("B"), PORT)
    run_until = world.net.run_until
    segments_before = _segments(world)
    virtual_before = world.now

    start = time.process_time()
    for _ in range(cycles):
        cli = world.socket("A")
        cli.connect(address)
        conn, _ = srv.accept()
        cli.close()
        if conn.recv(1) != b"":
            raise AssertionError("server expected end of stream")
        server_conn = conn.connection
        assert server_conn is not None
        conn.close()
        if not run_until(_closed(server_conn), timeout_us=10_000_000):
            raise RuntimeError(f"server connection stuck in {server_conn.state}")
    cpu = time.process_time() - start

    virtual = (world.now - virtual_before) / 1e6
    segments = _segments(world) - segments_before
    leftover = len(world.stack("B").connections)
    if leftover:
        raise AssertionError(f"after {cycles} cycles, {leftover} connections left on B")
    time_wait = len(world.stack("A").time_wait)  # informational
    srv.close()
    return Result(cpu, cycles, virtual, segments, _retransmissions(world), time_wait)


def _closed(conn: Connection) -> Callable[[], bool]:
    return lambda: conn.state is State.CLOSED
