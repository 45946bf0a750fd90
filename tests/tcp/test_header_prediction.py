"""The fast path for common segments changes nothing a peer could see."""

from __future__ import annotations

import contextlib
import hashlib
import socket
from collections.abc import Callable

import pytest

from synack.scenarios.catalog import SCENARIOS, Options
from synack.scenarios.lifecycle import connected_pair, pump
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.connection import Connection

Wire = list[tuple[int, int | None, str, str, bytes]]


def _wire(world: World) -> Wire:
    """Every segment as sent, with its fate: what an observer of the network sees."""
    out = []
    for rec in world.trace.segments:
        seg = rec.segment
        digest = hashlib.sha1(repr((seg.seq, seg.ack, seg.flags, seg.window, seg.options)).encode())
        out.append((rec.sent_us, rec.arrive_us, rec.src, rec.fate, digest.digest() + seg.payload))
    return out


def _lossy_transfer(seed: int) -> World:
    link = LinkConfig(delay_us=5000, jitter_us=2000, loss=0.03, duplicate=0.01, reorder=0.02)
    world = World(seed, link)
    cli, conn, _ = connected_pair(world)
    data = bytes(range(256)) * 400
    assert pump(world, cli, conn, data) == data
    assert pump(world, conn, cli, data[::-1]) == data[::-1]
    return world


def _slow_reader() -> World:
    """A lossless transfer whose reader lags: the window closes, then reopens a little at
    a time, so nearly every ACK changes it (the fast path takes those window updates)."""
    world = World(7, LinkConfig(delay_us=2000))
    cli, conn, _ = connected_pair(world)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    data = bytes(range(256)) * 2000  # more than the receive buffer holds
    cli.setblocking(False)
    conn.setblocking(False)
    view = memoryview(data)
    got = bytearray()
    while len(got) < len(data):
        if view:
            with contextlib.suppress(BlockingIOError):
                view = view[cli.send(view[:65536]) :]
        world.net.run(until=world.now + 50_000)
        with contextlib.suppress(BlockingIOError):
            got += conn.recv(3000)
    assert got == data
    return world


def _both_ways(run: Callable[[], World], monkeypatch: pytest.MonkeyPatch) -> tuple[Wire, Wire]:
    fast = _wire(run())
    monkeypatch.setattr(Connection, "header_prediction", False)
    slow = _wire(run())
    monkeypatch.setattr(Connection, "header_prediction", True)
    return fast, slow


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lossy_transfer_is_identical_on_both_paths(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = _both_ways(lambda: _lossy_transfer(seed), monkeypatch)
    assert len(fast) > 200
    assert fast == slow


def test_window_updates_are_identical_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both_ways(_slow_reader, monkeypatch)
    windows = [rec.segment.window for rec in _slow_reader().trace.segments if rec.src == "B"]
    assert 0 in windows  # the window did close
    assert len(set(windows)) > 20  # and changed often
    assert fast == slow


def test_every_scenario_is_identical_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    for sc in SCENARIOS.values():
        if sc.name == "seq-wrap":
            continue  # runs without a trace
        fast, slow = _both_ways(lambda sc=sc: sc.run(Options()), monkeypatch)
        assert fast == slow, sc.name
