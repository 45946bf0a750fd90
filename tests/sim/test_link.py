"""Link impairments: delay, jitter, loss, duplication, reordering, corruption, bandwidth."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from synack.sim import Link, LinkConfig, Network, PacketEvent

from .fakes import SinkStack, ip4

A, B = "198.18.0.1", "198.18.0.2"


def pair(
    config: LinkConfig | None = None, seed: int = 0
) -> tuple[Network, SinkStack, SinkStack, Link, list[PacketEvent]]:
    """Two sink hosts a -> b joined by `config`; returns the a->b link and an event log."""
    net = Network(seed)
    sa, sb = SinkStack(), SinkStack()
    a = net.add_host("a", [A], sa)
    b = net.add_host("b", [B], sb)
    forward, _ = net.connect(a, b, config)
    events: list[PacketEvent] = []
    net.observe(events.append)
    return net, sa, sb, forward, events


def send_at(net: Network, stack: SinkStack, host_name: str, t: int, packet: bytes) -> None:
    host = net.host(host_name)

    def fire() -> None:
        stack.send(packet)
        net.kick(host)

    net.call_at(t, fire)


def burst(net: Network, stack: SinkStack, n: int, size: int = 0, gap_us: int = 0) -> None:
    """Queue n packets from a to b, numbered in the payload, `gap_us` apart."""
    for i in range(n):
        payload = i.to_bytes(4, "big") + bytes(max(0, size - 24))
        send_at(net, stack, "a", i * gap_us, ip4(A, B, payload))


def numbers(stack: SinkStack) -> list[int]:
    return [int.from_bytes(p[:4], "big") for p in stack.payloads]


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("delay_us", -1, "delay_us must be a non-negative int"),
        ("delay_us", 1.5, "delay_us must be a non-negative int"),
        ("jitter_us", -10, "jitter_us must be a non-negative int"),
        ("reorder_delay_us", -1, "reorder_delay_us must be a non-negative int"),
        ("queue_packets", -1, "queue_packets must be a non-negative int"),
        ("loss", -0.01, r"loss is a probability and must be in \[0, 1\]"),
        ("loss", 1.01, r"loss is a probability and must be in \[0, 1\]"),
        ("loss", math.nan, r"loss is a probability"),
        ("duplicate", 2, r"duplicate is a probability"),
        ("reorder", -1.0, r"reorder is a probability"),
        ("corrupt", 1.5, r"corrupt is a probability"),
        ("bandwidth_bps", 0, "bandwidth_bps must be a positive int or None"),
        ("bandwidth_bps", -8000, "bandwidth_bps must be a positive int or None"),
        ("mtu", 0, "mtu must be a positive int"),
        ("ce_threshold_packets", -1, "ce_threshold_packets must be a non-negative int"),
    ],
)
def test_invalid_config_raises_value_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinkConfig(**{field: value})  # type: ignore[arg-type]


def test_boundary_configs_are_valid() -> None:
    config = LinkConfig(delay_us=0, loss=1.0, duplicate=0, corrupt=1, queue_packets=0)
    assert config.loss == 1.0
    assert LinkConfig(delay_us=700).effective_reorder_delay_us == 700
    assert LinkConfig(delay_us=700, reorder_delay_us=30).effective_reorder_delay_us == 30


def test_config_is_frozen() -> None:
    config = LinkConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.loss = 0.5  # type: ignore[misc]


# -- timing ---------------------------------------------------------------------------


def test_packet_arrives_after_the_link_delay() -> None:
    net, sa, sb, _, events = pair(LinkConfig(delay_us=5000))
    send_at(net, sa, "a", 250, ip4(A, B, b"hi"))
    net.run()
    assert sb.received == [(5250, ip4(A, B, b"hi"))]
    assert [(e.sent_us, e.arrive_us, e.src, e.dst, e.fate) for e in events] == [
        (250, 5250, "a", "b", "delivered")
    ]


def test_back_direction_has_its_own_config() -> None:
    net = Network()
    sa, sb = SinkStack(), SinkStack()
    a = net.add_host("a", [A], sa)
    b = net.add_host("b", [B], sb)
    net.connect(a, b, LinkConfig(delay_us=1000), LinkConfig(delay_us=7000))
    sa.send(ip4(A, B))
    sb.send(ip4(B, A))
    net.kick(a)
    net.kick(b)
    net.run()
    assert [t for t, _ in sb.received] == [1000]
    assert [t for t, _ in sa.received] == [7000]


def test_jitter_stays_in_bounds_varies_and_keeps_order() -> None:
    net, sa, sb, _, _ = pair(LinkConfig(delay_us=1000, jitter_us=500))
    burst(net, sa, 400, gap_us=50)
    net.run()
    assert numbers(sb) == list(range(400))  # jitter alone does not reorder
    delays = [t - n * 50 for (t, _), n in zip(sb.received, numbers(sb), strict=True)]
    assert all(1000 <= d <= 1500 for d in delays)
    assert len(set(delays)) > 50


# -- loss, duplication, corruption ------------------------------------------------------


def test_loss_rate_is_near_the_configured_value() -> None:
    n, loss = 10_000, 0.2
    net, sa, sb, link, _ = pair(LinkConfig(loss=loss), seed=7)
    burst(net, sa, n, gap_us=10)
    net.run()
    lost = n - len(sb.received)
    # sigma = sqrt(n p (1-p)) = 40 packets; allow about 4 sigma.
    assert abs(lost - n * loss) < 160
    assert link.counts["lost"] == lost
    assert link.counts["delivered"] == len(sb.received)


@pytest.mark.parametrize(("loss", "expected"), [(0.0, 50), (1.0, 0)])
def test_loss_extremes(loss: float, expected: int) -> None:
    net, sa, sb, _, events = pair(LinkConfig(loss=loss))
    burst(net, sa, 50)
    net.run()
    assert len(sb.received) == expected
    assert all(e.arrive_us is None for e in events if e.fate == "lost")


def test_corruption_flips_exactly_one_bit() -> None:
    net, sa, sb, link, events = pair(LinkConfig(corrupt=1.0))
    burst(net, sa, 200, size=100, gap_us=10)
    sent = [ip4(A, B, i.to_bytes(4, "big") + bytes(76)) for i in range(200)]
    net.run()
    assert len(sb.received) == 200
    flipped_bits = []
    for original, (_, got) in zip(sent, sb.received, strict=True):
        diff = int.from_bytes(original, "big") ^ int.from_bytes(got, "big")
        assert diff.bit_count() == 1
        flipped_bits.append(diff.bit_length())
    assert len(set(flipped_bits)) > 50  # the bit is random, not always the same one
    assert [e.fate for e in events] == ["corrupted"] * 200
    assert [e.packet for e in events] == [p for _, p in sb.received]  # as delivered
    assert link.counts["corrupted"] == 200


def test_duplicate_delivers_an_extra_copy() -> None:
    net, sa, sb, _, events = pair(LinkConfig(duplicate=1.0, delay_us=300))
    burst(net, sa, 3, gap_us=1000)
    net.run()
    assert numbers(sb) == [0, 0, 1, 1, 2, 2]
    assert [t for t, _ in sb.received] == [300, 300, 1300, 1300, 2300, 2300]
    assert [e.fate for e in events] == ["delivered", "duplicate"] * 3
    assert events[0].arrive_us == events[1].arrive_us == 300


def test_duplicate_of_a_corrupted_packet_is_the_intact_original() -> None:
    net, sa, sb, _, events = pair(LinkConfig(duplicate=1.0, corrupt=1.0))
    sent = ip4(A, B, b"payload")
    send_at(net, sa, "a", 0, sent)
    net.run()
    (_, first), (_, second) = sb.received
    assert first != sent and second == sent
    assert [(e.fate, e.packet) for e in events] == [("corrupted", first), ("duplicate", sent)]


def test_partial_duplication_and_loss_are_reported_per_packet() -> None:
    net, sa, sb, link, events = pair(LinkConfig(duplicate=0.3, loss=0.1), seed=3)
    burst(net, sa, 1000, gap_us=10)
    net.run()
    counts = link.counts
    assert 200 < counts["duplicate"] < 400
    assert counts["delivered"] + counts["lost"] == 1000
    assert len(sb.received) == counts["delivered"] + counts["duplicate"]
    assert len(events) == 1000 + counts["duplicate"]


# -- reordering -------------------------------------------------------------------------


def test_reordering_lets_later_packets_overtake() -> None:
    net, sa, sb, link, events = pair(
        LinkConfig(delay_us=1000, reorder=0.25, reorder_delay_us=5000), seed=1
    )
    burst(net, sa, 200, gap_us=100)
    net.run()
    got = numbers(sb)
    assert sorted(got) == list(range(200))  # nothing lost ...
    assert got != list(range(200))  # ... but the order changed
    inversions = sum(1 for x, y in itertools.pairwise(got) if x > y)
    assert inversions > 10
    held = [e for e in events if e.arrive_us == e.sent_us + 6000]
    assert 20 < len(held) < 90
    assert all(e.arrive_us in (e.sent_us + 1000, e.sent_us + 6000) for e in events)
    assert link.counts["delivered"] == 200


def test_no_reordering_by_default() -> None:
    net, sa, sb, _, _ = pair(LinkConfig(delay_us=1000))
    burst(net, sa, 200, gap_us=100)
    net.run()
    assert numbers(sb) == list(range(200))


def test_reorder_delay_defaults_to_the_link_delay() -> None:
    net, sa, sb, _, _ = pair(LinkConfig(delay_us=1000, reorder=1.0))
    burst(net, sa, 3, gap_us=10)
    net.run()
    assert [t for t, _ in sb.received] == [2000, 2010, 2020]


# -- bandwidth, queue, mtu ----------------------------------------------------------------


def test_bandwidth_spaces_packets_back_to_back() -> None:
    # 1000 bytes at 8 Mbit/s take exactly 1000 us to serialize.
    net, sa, sb, _, _ = pair(LinkConfig(delay_us=500, bandwidth_bps=8_000_000))
    burst(net, sa, 10, size=1000)
    net.run()
    assert numbers(sb) == list(range(10))
    assert [t for t, _ in sb.received] == [500 + 1000 * (i + 1) for i in range(10)]


def test_serialization_time_rounds_up() -> None:
    # 20 bytes at 3 bit/s: 160e6 / 3 = 53_333_333.3 us, rounded up.
    net, sa, sb, _, _ = pair(LinkConfig(delay_us=0, bandwidth_bps=3))
    send_at(net, sa, "a", 0, ip4(A, B))
    net.run()
    assert [t for t, _ in sb.received] == [53_333_334]


def test_idle_link_sends_at_once_and_sizes_differ() -> None:
    net, sa, sb, _, _ = pair(LinkConfig(delay_us=100, bandwidth_bps=8_000_000))
    send_at(net, sa, "a", 0, ip4(A, B, bytes(480)))  # 500 bytes: 500 us
    send_at(net, sa, "a", 0, ip4(A, B, bytes(80)))  # 100 bytes: waits, then 100 us
    send_at(net, sa, "a", 10_000, ip4(A, B, bytes(980)))  # link idle again: 1000 us
    net.run()
    assert [t for t, _ in sb.received] == [600, 700, 11_100]


def test_full_queue_drops_the_tail() -> None:
    config = LinkConfig(delay_us=0, bandwidth_bps=8_000_000, queue_packets=3)
    net, sa, sb, link, events = pair(config)
    burst(net, sa, 10, size=1000)  # one goes on the wire, three wait, six are dropped
    send_at(net, sa, "a", 4000, ip4(A, B, (99).to_bytes(4, "big") + bytes(976)))
    net.run()
    assert numbers(sb) == [0, 1, 2, 3, 99]
    assert [e.fate for e in events[:10]] == ["delivered"] * 4 + ["queue-full"] * 6
    assert link.counts["queue-full"] == 6
    assert [t for t, _ in sb.received][-1] == 5000


def test_zero_queue_only_accepts_packets_when_the_link_is_idle() -> None:
    config = LinkConfig(delay_us=0, bandwidth_bps=8_000_000, queue_packets=0)
    net, sa, sb, _, _ = pair(config)
    burst(net, sa, 3, size=1000)
    net.run()
    assert numbers(sb) == [0]


def test_lost_packets_still_use_the_bandwidth() -> None:
    config = LinkConfig(delay_us=0, bandwidth_bps=8_000_000, loss=0.5)
    net, sa, sb, link, _ = pair(config, seed=5)
    burst(net, sa, 40, size=1000)
    net.run()
    assert 0 < link.counts["lost"] < 40
    # Each survivor leaves when every packet before it, lost or not, has been sent.
    assert [t for t, _ in sb.received] == [1000 * (n + 1) for n in numbers(sb)]


def test_packets_over_the_mtu_are_dropped() -> None:
    net, sa, sb, link, events = pair(LinkConfig(mtu=1500))
    send_at(net, sa, "a", 0, ip4(A, B, bytes(1480)))  # exactly 1500: fits
    send_at(net, sa, "a", 0, ip4(A, B, bytes(1481)))  # 1501: too big
    net.run()
    assert [len(p) for _, p in sb.received] == [1500]
    assert [(e.fate, e.arrive_us) for e in events] == [("delivered", 1000), ("too-big", None)]
    assert link.counts["too-big"] == 1


def test_a_queue_over_its_ce_threshold_marks_ect_packets_and_leaves_others_alone() -> None:
    from synack.wire.ip import ECN_CE, ECN_ECT0, ECN_NOT_ECT, ip_ecn, with_ecn

    config = LinkConfig(delay_us=0, bandwidth_bps=8_000_000, ce_threshold_packets=2)
    net, sa, sb, link, _ = pair(config)
    for i in range(6):  # one on the wire, then 1, 2, 3, 4, 5 waiting (counting itself)
        packet = ip4(A, B, i.to_bytes(4, "big") + bytes(976))
        send_at(net, sa, "a", 0, with_ecn(packet, ECN_ECT0) if i % 2 else packet)
    net.run()
    marks = [ip_ecn(p) for _, p in sb.received]
    assert marks == [ECN_NOT_ECT, ECN_ECT0, ECN_NOT_ECT, ECN_CE, ECN_NOT_ECT, ECN_CE]
    assert link.ce_marked == 2
    assert numbers(sb) == list(range(6))  # nothing dropped
