"""The network: routing, determinism, scripted faults, crashes and the run loop."""

from __future__ import annotations

import pytest

from synack.sim import LinkConfig, Network, PacketEvent

from .fakes import BusyStack, EchoStack, SinkStack, TimerStack, addr, ip4, ip6

A, B, C = "198.18.0.1", "198.18.0.2", "198.18.0.3"


def two_hosts(
    config: LinkConfig | None = None, seed: int = 0, record: bool = True
) -> tuple[Network, SinkStack, SinkStack]:
    net = Network(seed, record=record)
    sa, sb = SinkStack(), SinkStack()
    a = net.add_host("a", [A], sa)
    b = net.add_host("b", [B], sb)
    net.connect(a, b, config)
    return net, sa, sb


def send_now(net: Network, stack: SinkStack, host: str, *packets: bytes) -> None:
    for packet in packets:
        stack.send(packet)
    net.kick(net.host(host))


def numbered(i: int) -> bytes:
    return ip4(A, B, i.to_bytes(4, "big"))


def fates(net: Network) -> list[str]:
    return [e.fate for e in net.events]


# -- hosts and routing ----------------------------------------------------------------


def test_echo_round_trip_uses_both_links_and_the_processing_deadline() -> None:
    net = Network()
    client, server = SinkStack(), EchoStack(processing_us=250)
    a = net.add_host("a", [A], client)
    b = net.add_host("b", [B], server)
    net.connect(a, b, LinkConfig(delay_us=1000), LinkConfig(delay_us=3000))
    send_now(net, client, "a", ip4(A, B, b"ping"))
    net.run()
    assert client.received == [(4250, ip4(B, A, b"re:ping"))]
    assert net.now == 4250


def test_packets_are_routed_by_ipv4_destination() -> None:
    net = Network(record=True)
    sa, sb, sc = SinkStack(), SinkStack(), SinkStack()
    a = net.add_host("a", [A], sa)
    b = net.add_host("b", [B], sb)
    c = net.add_host("c", [C, "198.18.1.3"], sc)
    net.connect(a, b)
    net.connect(a, c, LinkConfig(delay_us=2000))
    send_now(net, sa, "a", ip4(A, C, b"1"), ip4(A, B, b"2"), ip4(A, "198.18.1.3", b"3"))
    net.run()
    assert sb.payloads == [b"2"]
    assert sc.payloads == [b"1", b"3"]
    assert [t for t, _ in sc.received] == [2000, 2000]


def test_packets_are_routed_by_ipv6_destination() -> None:
    net = Network(record=True)
    sa, sb, sc = SinkStack(), SinkStack(), SinkStack()
    a = net.add_host("a", ["2001:db8::1", A], sa)
    b = net.add_host("b", [addr("2001:db8::2")], sb)
    c = net.add_host("c", ["2001:db8::3"], sc)
    net.connect(a, b)
    net.connect(a, c)
    send_now(net, sa, "a", ip6("2001:db8::1", "2001:db8::3", b"six"))
    net.run()
    assert sb.received == []
    assert [p[40:] for _, p in sc.received] == [b"six"]
    assert [(e.src, e.dst, e.fate) for e in net.events] == [("a", "c", "delivered")]


def test_unroutable_packets_are_recorded_not_raised() -> None:
    net = Network(record=True)
    sa, sb, sc = SinkStack(), SinkStack(), SinkStack()
    a = net.add_host("a", [A], sa)
    b = net.add_host("b", [B], sb)
    net.add_host("c", [C], sc)  # exists, but no link from a
    net.connect(a, b)
    send_now(
        net,
        sa,
        "a",
        ip4(A, "198.18.9.9"),  # nobody owns it
        ip4(A, C),  # owner known, not connected
        b"",  # not even a version nibble
        b"\x50" + bytes(40),  # version 5
        ip4(A, B)[:12],  # truncated header
    )
    net.run()
    assert sb.received == [] and sc.received == []
    assert [(e.fate, e.src, e.dst, e.arrive_us) for e in net.events] == [
        ("no-route", "a", None, None),
        ("no-route", "a", "c", None),
        ("no-route", "a", None, None),
        ("no-route", "a", None, None),
        ("no-route", "a", None, None),
    ]
    assert net.fate_counts()["no-route"] == 5


def test_host_and_link_validation() -> None:
    net = Network()
    a = net.add_host("a", [A], SinkStack())
    b = net.add_host("b", [B], SinkStack())
    with pytest.raises(ValueError, match="already exists"):
        net.add_host("a", [C], SinkStack())
    with pytest.raises(ValueError, match="belongs to 'a'"):
        net.add_host("c", [A], SinkStack())
    with pytest.raises(ValueError, match="4 bytes"):
        net.add_host("d", [b"\x01\x02\x03"], SinkStack())
    with pytest.raises(ValueError, match="at least one address"):
        net.add_host("e", [], SinkStack())
    with pytest.raises(ValueError, match="itself"):
        net.connect(a, a)
    net.connect(a, b)
    with pytest.raises(ValueError, match="already connected"):
        net.connect(b, a)
    stranger = Network().add_host("x", [C], SinkStack())
    with pytest.raises(ValueError, match="not a host of this network"):
        net.connect(a, stranger)
    assert sorted(net.hosts) == ["a", "b"]
    assert net.link(a, b).name == "a->b"


# -- determinism --------------------------------------------------------------------------

IMPAIRED = LinkConfig(
    delay_us=2000,
    jitter_us=700,
    loss=0.1,
    duplicate=0.05,
    reorder=0.1,
    reorder_delay_us=3000,
    corrupt=0.05,
    bandwidth_bps=10_000_000,
    queue_packets=20,
)


Trace = list[tuple[int, int | None, str, str | None, bytes, str]]


def impaired_run(seed: int) -> tuple[Trace, list[tuple[int, bytes]]]:
    net = Network(seed, record=True)
    client, server = SinkStack(), EchoStack(processing_us=100)
    a = net.add_host("client", [A], client)
    b = net.add_host("server", [B], server)
    net.connect(a, b, IMPAIRED)
    for i in range(600):

        def fire(i: int = i) -> None:
            client.send(ip4(A, B, i.to_bytes(4, "big") + bytes(i % 1200)))
            net.kick(a)

        net.call_at(i * 150, fire)
    net.run()
    trace = [(e.sent_us, e.arrive_us, e.src, e.dst, e.packet, e.fate) for e in net.events]
    return trace, client.received


def test_same_seed_gives_an_identical_run() -> None:
    first, got_first = impaired_run(42)
    second, got_second = impaired_run(42)
    assert first == second
    assert got_first == got_second
    # The run really exercised every impairment, so the comparison means something.
    # (Corrupted source addresses also make some echo replies unroutable.)
    assert {f for *_, f in first} >= {
        "delivered",
        "lost",
        "duplicate",
        "corrupted",
        "queue-full",
    }
    assert any(a is not None and b is not None and a - b > 5000 for b, a, *_ in first)


def test_different_seeds_give_different_runs() -> None:
    first, _ = impaired_run(1)
    second, _ = impaired_run(2)
    assert first != second
    assert len(first) > 1000 and len(second) > 1000


def test_links_draw_from_their_own_generators() -> None:
    # Traffic on one link must not change the random choices made on another.
    def run(extra_traffic: bool) -> list[int]:
        net = Network(seed=9)
        sa, sb, sc = SinkStack(), SinkStack(), SinkStack()
        a = net.add_host("a", [A], sa)
        b = net.add_host("b", [B], sb)
        c = net.add_host("c", [C], sc)
        net.connect(a, b, LinkConfig(loss=0.5))
        net.connect(a, c, LinkConfig(loss=0.5))
        for i in range(200):
            sa.send(numbered(i))
            if extra_traffic:
                sa.send(ip4(A, C))
        net.kick(a)
        net.run()
        return [int.from_bytes(p, "big") for p in sb.payloads]

    assert run(False) == run(True)


# -- observers ------------------------------------------------------------------------------


def test_observers_see_what_is_recorded() -> None:
    net, sa, _ = two_hosts(LinkConfig(loss=0.5), seed=4)
    seen: list[PacketEvent] = []
    net.observe(seen.append)
    send_now(net, sa, "a", *(numbered(i) for i in range(100)))
    net.run()
    assert seen == net.events
    assert {e.fate for e in seen} == {"delivered", "lost"}


def test_events_are_not_kept_without_record() -> None:
    net, sa, sb = two_hosts(record=False)
    send_now(net, sa, "a", numbered(1))
    net.run()
    assert net.events == []
    assert len(sb.received) == 1
    seen: list[PacketEvent] = []
    net.observe(seen.append)  # observers work without record, also on existing links
    send_now(net, sa, "a", numbered(2))
    net.run()
    assert [e.packet for e in seen] == [numbered(2)]
    assert net.events == []


# -- scripted faults ------------------------------------------------------------------------


def test_drop_nth_drops_exactly_the_nth_packet() -> None:
    net, sa, sb = two_hosts()
    a, b = net.host("a"), net.host("b")
    send_now(net, sa, "a", numbered(100), numbered(101))  # before the rule: not counted
    net.drop_nth(a, b, 3)
    send_now(net, sb, "b", ip4(B, A))  # other direction: not counted
    send_now(net, sa, "a", *(numbered(i) for i in range(1, 7)))
    net.run()
    got = [int.from_bytes(p, "big") for p in sb.payloads]
    assert got == [100, 101, 1, 2, 4, 5, 6]
    assert fates(net).count("dropped") == 1
    dropped = next(e for e in net.events if e.fate == "dropped")
    assert (dropped.packet, dropped.arrive_us, dropped.src, dropped.dst) == (
        numbered(3),
        None,
        "a",
        "b",
    )


def test_drop_nth_with_count_drops_a_run_of_packets() -> None:
    net, sa, sb = two_hosts()
    net.drop_nth(net.host("a"), net.host("b"), 2, count=3)
    send_now(net, sa, "a", *(numbered(i) for i in range(1, 8)))
    net.run()
    assert [int.from_bytes(p, "big") for p in sb.payloads] == [1, 5, 6, 7]


def test_drop_by_matcher_uses_up_its_count() -> None:
    net, sa, sb = two_hosts()
    calls: list[tuple[str, str]] = []

    def match(src: str, dst: str, packet: bytes) -> bool:
        calls.append((src, dst))
        return packet[20:].startswith(b"x")

    net.drop(match, count=2)
    send_now(net, sa, "a", *(ip4(A, B, p) for p in (b"x1", b"y1", b"x2", b"x3", b"y2")))
    net.run()
    assert sb.payloads == [b"y1", b"x3", b"y2"]
    assert calls == [("a", "b")] * 3  # the rule retires after its second drop


def test_drop_rejects_bad_arguments() -> None:
    net, _, _ = two_hosts()
    with pytest.raises(ValueError, match="count"):
        net.drop(lambda s, d, p: True, count=0)
    with pytest.raises(ValueError, match="1-based"):
        net.drop_nth(net.host("a"), net.host("b"), 0)


def test_inject_delivers_at_the_given_time() -> None:
    net, _, sb = two_hosts(LinkConfig(loss=1.0))  # links play no part
    crafted = ip4("203.0.113.7", B, b"evil")
    net.inject(12_345, "attacker", net.host("b"), crafted)
    net.inject(500, net.host("a"), net.host("b"), ip4(A, B, b"early"))
    net.run()
    assert sb.received == [(500, ip4(A, B, b"early")), (12_345, crafted)]
    last = net.events[-1]
    assert (last.sent_us, last.arrive_us, last.src, last.dst, last.fate, last.injected) == (
        12_345,
        12_345,
        "attacker",
        "b",
        "delivered",
        True,
    )
    assert net.fate_counts()["delivered"] == 2
    with pytest.raises(ValueError, match="past"):
        net.inject(100, "attacker", net.host("b"), crafted)


def test_injected_packet_gets_answered() -> None:
    net = Network()
    client, server = SinkStack(), EchoStack()
    a = net.add_host("a", [A], client)
    b = net.add_host("b", [B], server)
    net.connect(a, b, LinkConfig(delay_us=400))
    net.inject(1000, a, b, ip4(A, B, b"q"))
    net.run()
    assert client.received == [(1400, ip4(B, A, b"re:q"))]


def test_partition_loses_everything_until_healed() -> None:
    net, sa, sb = two_hosts(LinkConfig(delay_us=1000))
    a, b = net.host("a"), net.host("b")
    send_now(net, sa, "a", numbered(1))  # in flight before the partition: still arrives
    net.partition(a, b)
    send_now(net, sa, "a", numbered(2))
    send_now(net, sb, "b", ip4(B, A, b"back"))
    net.run(until=5000)
    assert sa.received == []
    net.heal(a, b)
    send_now(net, sa, "a", numbered(3))
    send_now(net, sb, "b", ip4(B, A, b"again"))
    net.run()
    assert [int.from_bytes(p, "big") for p in sb.payloads] == [1, 3]
    assert sb.received[-1][0] == 6000
    assert sa.payloads == [b"again"]
    assert fates(net) == ["delivered", "lost", "lost", "delivered", "delivered"]


def test_partition_needs_a_link() -> None:
    net = Network()
    a = net.add_host("a", [A], SinkStack())
    b = net.add_host("b", [B], SinkStack())
    with pytest.raises(ValueError, match="not connected"):
        net.partition(a, b)


def test_crashed_host_swallows_and_stays_silent_until_restarted() -> None:
    net = Network(record=True)
    client = SinkStack()
    old = EchoStack()
    a = net.add_host("a", [A], client)
    b = net.add_host("b", [B], old)
    net.connect(a, b, LinkConfig(delay_us=1000))
    send_now(net, client, "a", ip4(A, B, b"1"))
    net.run()
    assert client.payloads == [b"re:1"]

    net.crash(b)
    assert b.crashed
    send_now(net, client, "a", ip4(A, B, b"2"))  # arrives at the dead host
    old.send(ip4(B, A, b"ghost"))
    net.kick(b)  # a crashed host sends nothing
    net.run()
    assert [p for _, p in old.received] == [ip4(A, B, b"1")]
    assert client.payloads == [b"re:1"]

    send_now(net, client, "a", ip4(A, B, b"3"))  # in flight across the restart
    new = EchoStack()
    net.restart(b, new)
    assert not b.crashed
    net.run()
    assert [p[20:] for _, p in new.received] == [b"3"]
    assert client.payloads == [b"re:1", b"re:3"]
    assert b.stack is new


def test_run_until_delivers_as_run_does() -> None:
    """run_until takes arrivals its own short way: replies, clock and crashes as run()."""
    net = Network(record=True)
    client = SinkStack()
    echo = EchoStack()
    a = net.add_host("a", [A], client)
    b = net.add_host("b", [B], echo)
    net.connect(a, b, LinkConfig(delay_us=1000))
    send_now(net, client, "a", ip4(A, B, b"1"))
    assert net.run_until(lambda: bool(client.payloads)) is True
    assert client.payloads == [b"re:1"]
    assert net.now == 2000  # there and back
    net.crash(b)
    send_now(net, client, "a", ip4(A, B, b"2"))  # swallowed by the dead host
    assert net.run_until(lambda: False) is False
    assert [p for _, p in echo.received] == [ip4(A, B, b"1")]
    assert client.payloads == [b"re:1"]
    assert net.now == 3000  # the clock still went to the swallowed arrival


def test_crashed_host_timers_do_not_fire() -> None:
    net = Network()
    stack = TimerStack([3000, 9000])
    host = net.add_host("b", [B], stack)
    net.call_at(1000, lambda: net.crash(host))
    net.run(until=20_000)
    assert stack.advance_calls == []
    net.restart(host, stack)  # the same object back: its deadlines are armed again
    net.run()
    assert stack.fired == [(20_000, 3000), (20_000, 9000)]


def test_restart_arms_the_new_stack_deadline() -> None:
    net = Network()
    b = net.add_host("b", [B], SinkStack())
    fresh = TimerStack([7000])
    net.restart(b, fresh)  # restarting a running host crashes it first
    net.run()
    assert fresh.fired == [(7000, 7000)]


# -- the run loop ---------------------------------------------------------------------------


def test_step_returns_false_when_idle() -> None:
    net, _, _ = two_hosts()
    assert net.step() is False
    assert net.now == 0


def test_call_at_runs_ties_in_insertion_order() -> None:
    net = Network()
    order: list[str] = []
    net.call_at(200, lambda: order.append("late"))
    net.call_at(100, lambda: order.append("first"))
    net.call_at(100, lambda: order.append("second"))
    net.call_at(100, lambda: order.append("third"))
    net.run()
    assert order == ["first", "second", "third", "late"]
    with pytest.raises(ValueError, match="past"):
        net.call_at(199, lambda: None)


def test_kick_is_what_sends_queued_packets() -> None:
    net, sa, sb = two_hosts()
    sa.send(numbered(1))
    assert net.step() is False  # the network does not poll stacks by itself
    net.kick(net.host("a"))
    net.run()
    assert len(sb.received) == 1


def test_run_until_time_stops_before_later_events_and_sets_the_clock() -> None:
    net, sa, sb = two_hosts(LinkConfig(delay_us=1000))
    send_now(net, sa, "a", numbered(1))
    net.call_at(3000, lambda: send_now(net, sa, "a", numbered(2)))
    assert net.run(until=1000) == 1  # an arrival exactly at `until` is processed
    assert net.now == 1000
    assert net.run(until=2500) == 0
    assert net.now == 2500
    assert len(sb.received) == 1
    assert net.run(until=50_000) == 2
    assert net.now == 50_000  # the clock ends at `until` even though idle since 4000
    assert [t for t, _ in sb.received] == [1000, 4000]
    with pytest.raises(ValueError, match="past"):
        net.run(until=10)


def test_run_until_predicate() -> None:
    net, sa, sb = two_hosts(LinkConfig(delay_us=1000))
    steps: list[int] = []
    assert net.run_until(lambda: True) is True  # already true: no step
    assert net.now == 0
    for i in range(5):

        def fire(i: int = i) -> None:
            send_now(net, sa, "a", numbered(i))

        net.call_at(i * 100, fire)
    net.call_at(10, lambda: steps.append(net.now))
    assert net.run_until(lambda: len(sb.received) >= 2) is True
    assert net.now == 1100  # stops right at the event that made it true
    assert len(sb.received) == 2
    assert steps == [10]


def test_run_until_timeout_leaves_the_clock_at_the_timeout() -> None:
    net, sa, sb = two_hosts(LinkConfig(delay_us=5000))
    net.run(until=1000)
    send_now(net, sa, "a", numbered(1))
    assert net.run_until(lambda: bool(sb.received), timeout_us=3000) is False
    assert net.now == 4000
    assert sb.received == []
    assert net.run_until(lambda: bool(sb.received), timeout_us=2000) is True  # inclusive
    assert net.now == 6000
    with pytest.raises(ValueError, match="timeout_us"):
        net.run_until(lambda: False, timeout_us=-1)


def test_run_until_returns_false_when_the_network_goes_idle() -> None:
    net, sa, sb = two_hosts(LinkConfig(delay_us=1000))
    send_now(net, sa, "a", numbered(1))
    assert net.run_until(lambda: len(sb.received) == 2, timeout_us=10**9) is False
    assert net.now == 1000  # the last event, not the far-away timeout
    assert net.run_until(lambda: False) is False


def test_max_events_guards_against_livelock() -> None:
    net = Network()
    net.add_host("busy", [A], BusyStack())
    with pytest.raises(RuntimeError, match="still busy after 100 events"):
        net.run(max_events=100)
    with pytest.raises(RuntimeError, match="livelock"):
        net.run_until(lambda: False, max_events=50)
    assert net.now == 0  # all of it happened at one instant


def test_max_events_allows_exactly_that_many() -> None:
    net = Network()
    net.add_host("t", [A], TimerStack([1, 2, 3]))
    assert net.run(max_events=3) == 3
    net2 = Network()
    net2.add_host("t", [A], TimerStack([1, 2, 3]))
    with pytest.raises(RuntimeError):
        net2.run(max_events=2)
