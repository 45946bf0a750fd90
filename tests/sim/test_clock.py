"""Virtual time: monotonic, and jumped over instead of waited for."""

from __future__ import annotations

import time

import pytest

from synack.sim import Network, VirtualClock

from .fakes import SinkStack, TimerStack, ip4

TWO_HOURS_US = 2 * 3600 * 1_000_000


def test_clock_starts_at_zero_and_moves_forward() -> None:
    clock = VirtualClock()
    assert clock.now == 0
    clock.advance_to(10)
    clock.advance_to(10)  # staying put is allowed
    clock.advance_to(TWO_HOURS_US)
    assert clock.now == TWO_HOURS_US


def test_clock_refuses_to_go_back() -> None:
    clock = VirtualClock(start=500)
    assert clock.now == 500
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(499)
    assert clock.now == 500


def test_clock_rejects_negative_start() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        VirtualClock(start=-1)


def test_two_hour_deadline_is_reached_in_one_step() -> None:
    net = Network()
    stack = TimerStack([TWO_HOURS_US])
    net.add_host("a", ["198.18.0.1"], stack)
    started = time.perf_counter()
    assert net.step() is True
    elapsed = time.perf_counter() - started
    assert net.now == TWO_HOURS_US
    assert stack.fired == [(TWO_HOURS_US, TWO_HOURS_US)]
    assert net.step() is False
    assert net.now == TWO_HOURS_US
    assert elapsed < 0.1


def test_keepalive_like_timer_runs_hours_of_virtual_time() -> None:
    # Idle for two hours, then nine more firings 75 s apart: ten events in all.
    net = Network()
    stack = TimerStack([TWO_HOURS_US], period=75_000_000, repeats=9)
    net.add_host("a", ["198.18.0.1"], stack)
    assert net.run() == 10
    assert [t for t, _ in stack.fired] == [TWO_HOURS_US + i * 75_000_000 for i in range(10)]
    assert net.now == TWO_HOURS_US + 9 * 75_000_000


def test_superseded_deadline_does_not_fire() -> None:
    net = Network()
    stack = TimerStack([100])
    host = net.add_host("a", ["198.18.0.1"], stack)
    stack.deadlines = [500]  # the stack moved its timer later ...
    net.kick(host)  # ... and the API layer told the network
    assert net.run() == 1
    assert stack.advance_calls == [500]
    assert stack.fired == [(500, 500)]


def test_cleared_deadline_does_not_fire() -> None:
    net = Network()
    stack = TimerStack([100])
    host = net.add_host("a", ["198.18.0.1"], stack)
    stack.deadlines = []
    net.kick(host)
    assert net.step() is False
    assert stack.advance_calls == []
    assert net.now == 0


def test_deadline_in_the_past_fires_now() -> None:
    net = Network()
    stack = TimerStack()
    host = net.add_host("a", ["198.18.0.1"], stack)
    net.run(until=1000)
    stack.deadlines = [10]
    net.kick(host)
    assert net.step() is True
    assert stack.fired == [(1000, 10)]


def test_timer_and_delivery_interleave_in_time_order() -> None:
    net = Network()
    sender = SinkStack()
    timer = TimerStack([1500, 500])
    a = net.add_host("a", ["198.18.0.1"], sender)
    b = net.add_host("b", ["198.18.0.2"], timer)
    net.connect(a, b)  # 1 ms each way
    sender.send(ip4("198.18.0.1", "198.18.0.2", b"x"))
    net.kick(a)
    net.run()
    assert timer.fired == [(500, 500), (1500, 1500)]
    assert [t for t, _ in timer.received] == [1000]
