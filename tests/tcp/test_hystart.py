"""HyStart++ (RFC 9406) and the ACK-train test: when slow start should end."""

from __future__ import annotations

from synack.tcp.hystart import CSS_GROWTH_DIVISOR, CSS_ROUNDS, HyStartPlusPlus

MSS = 1000
MS = 1_000


def one_round(
    hs: HyStartPlusPlus, now: int, rtt: int, acks: int = 10, spacing: int = 5 * MS
) -> tuple[int, bool]:
    """``acks`` ACKs of two segments each, a round of ``2 * acks`` segments: (time after
    it, whether slow start should end)."""
    ended = False
    for _ in range(acks):
        ended = hs.on_ack(2 * MSS, 2 * acks * MSS, now, rtt, 2 * acks) or ended
        now += spacing
    return now, ended


def test_a_steady_rtt_keeps_slow_start_going() -> None:
    hs = HyStartPlusPlus()
    now = 0
    for _ in range(20):
        now, ended = one_round(hs, now, 20 * MS)
        assert not ended
    assert not hs.in_css
    assert hs.growth_divisor == 1


def test_an_rtt_rise_over_the_threshold_starts_css_then_ends_slow_start() -> None:
    hs = HyStartPlusPlus()
    now, _ = one_round(hs, 0, 20 * MS)
    now, _ = one_round(hs, now, 23 * MS)  # +3 ms: below the 4 ms floor of the threshold
    assert not hs.in_css
    now, _ = one_round(hs, now, 28 * MS)  # +5 ms over the round before
    assert hs.in_css
    assert hs.growth_divisor == CSS_GROWTH_DIVISOR
    ends = []
    for _ in range(CSS_ROUNDS):
        now, ended = one_round(hs, now, 28 * MS)
        ends.append(ended)
    assert ends == [False] * (CSS_ROUNDS - 1) + [True]


def test_an_rtt_that_falls_back_resumes_slow_start() -> None:
    hs = HyStartPlusPlus()
    now, _ = one_round(hs, 0, 20 * MS)
    now, _ = one_round(hs, now, 30 * MS)
    assert hs.in_css
    now, ended = one_round(hs, now, 22 * MS)  # below the RTT where CSS began: a false alarm
    assert not hs.in_css
    assert not ended


def test_the_threshold_scales_with_the_rtt_between_4_and_16_ms() -> None:
    hs = HyStartPlusPlus()
    now, _ = one_round(hs, 0, 100 * MS)
    now, _ = one_round(hs, now, 110 * MS)  # +10 ms < 100/8 = 12.5 ms
    assert not hs.in_css
    now, _ = one_round(hs, now, 124 * MS)  # +14 ms over 110
    assert hs.in_css


def test_fewer_than_eight_samples_in_a_round_decide_nothing() -> None:
    hs = HyStartPlusPlus()
    now, _ = one_round(hs, 0, 20 * MS, acks=4)
    now, _ = one_round(hs, now, 60 * MS, acks=4)
    assert not hs.in_css


def test_a_long_train_of_acks_means_the_path_is_full() -> None:
    hs = HyStartPlusPlus()
    now, _ = one_round(hs, 0, 20 * MS, acks=10)  # learns the minimum RTT: 20 ms
    now += 20 * MS
    ended_at = None
    for n in range(400):  # ACKs 100 us apart, as a bottleneck spaces them
        if hs.on_ack(2 * MSS, 400 * MSS, now, 20 * MS, 200):
            ended_at = n
            break
        now += 100
    # The train lasted more than half the minimum RTT (10 ms, 100 ACKs).
    assert ended_at == 101


def test_gaps_in_the_train_or_a_small_window_keep_slow_start() -> None:
    hs = HyStartPlusPlus()
    now, _ = one_round(hs, 0, 20 * MS, acks=10)
    for n in range(400):
        gap = 3 * MS if n % 50 == 0 else 100  # a gap every 50 ACKs: 5 ms trains
        now += gap
        assert not hs.on_ack(2 * MSS, 400 * MSS, now, 20 * MS, 200)
    small = HyStartPlusPlus()
    now, _ = one_round(small, 0, 20 * MS, acks=10)
    for _ in range(400):
        now += 100
        assert not small.on_ack(2 * MSS, 30 * MSS, now, 20 * MS, 15)  # below 16 segments


def test_without_rtt_samples_only_the_ack_train_can_end_slow_start() -> None:
    hs = HyStartPlusPlus()
    now = 0
    for _ in range(200):
        assert not hs.on_ack(2 * MSS, 100 * MSS, now, None, 100)
        now += 100  # a long train, but no minimum RTT to compare it with
    assert not hs.in_css
