"""The RFC 6298 retransmission-timeout estimator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synack.tcp.rto import RtoEstimator

MS = 1_000
SECOND = 1_000_000
G = RtoEstimator.GRANULARITY


def linux_like() -> RtoEstimator:
    return RtoEstimator(initial=1 * SECOND, minimum=200 * MS, maximum=120 * SECOND)


def test_initial_rto_before_any_sample() -> None:
    est = linux_like()
    assert est.srtt is None
    assert est.rto == 1 * SECOND


def test_first_sample_sets_srtt_and_half_rttvar() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=1, maximum=120 * SECOND)
    est.sample(300 * MS)
    assert est.srtt == 300 * MS
    assert est.rttvar == 150 * MS
    assert est.rto == 300 * MS + 4 * 150 * MS


def test_later_samples_smooth_with_one_eighth_and_one_quarter() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=1, maximum=120 * SECOND)
    est.sample(400 * MS)  # srtt 400, rttvar 200
    est.sample(200 * MS)
    # RTTVAR = 3/4 * 200 + 1/4 * |400 - 200| = 200; SRTT = 7/8 * 400 + 1/8 * 200 = 375
    assert est.rttvar == 200 * MS
    assert est.srtt == 375 * MS
    assert est.rto == 375 * MS + 800 * MS


def test_rttvar_uses_the_old_srtt() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=1, maximum=120 * SECOND)
    est.sample(100 * MS)  # srtt 100, rttvar 50
    est.sample(900 * MS)
    # RTTVAR first, from the old SRTT: 3/4 * 50 + 1/4 * 800 = 237.5
    assert est.rttvar == 237_500
    assert est.srtt == 200 * MS


def test_granularity_floor_when_variance_is_tiny() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=1, maximum=120 * SECOND)
    for _ in range(60):
        est.sample(10 * MS)
    assert est.srtt == 10 * MS
    assert 4 * est.rttvar < G
    assert est.rto == 10 * MS + G  # max(G, 4 RTTVAR)


def test_rto_clamped_to_minimum() -> None:
    est = linux_like()
    est.sample(10 * MS)  # 10 + 4 * 5 = 30 ms, below the 200 ms floor
    assert est.rto == 200 * MS


def test_rto_clamped_to_maximum() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=200 * MS, maximum=60 * SECOND)
    est.sample(50 * SECOND)  # 50 + 4 * 25 = 150 s
    assert est.rto == 60 * SECOND


def test_backoff_doubles_and_caps_at_maximum() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=200 * MS, maximum=10 * SECOND)
    seen = [est.rto]
    for _ in range(6):
        est.back_off()
        seen.append(est.rto)
    assert seen == [s * SECOND for s in (1, 2, 4, 8, 10, 10, 10)]
    assert est.backoff <= 4  # no unbounded shift once capped


def test_initial_rto_backs_off_1_2_4_8() -> None:
    est = linux_like()
    timeouts = []
    for _ in range(4):
        timeouts.append(est.rto)
        est.back_off()
    assert timeouts == [1 * SECOND, 2 * SECOND, 4 * SECOND, 8 * SECOND]


def test_new_sample_resets_backoff() -> None:
    est = linux_like()
    est.sample(100 * MS)
    base = est.rto
    est.back_off()
    est.back_off()
    assert est.rto == 4 * base
    est.sample(100 * MS)
    assert est.backoff == 0
    assert est.rto == 250 * MS  # SRTT 100 ms + 4 * RTTVAR 37.5 ms, not backed off


def test_reset_backoff_keeps_the_estimate() -> None:
    est = linux_like()
    est.sample(300 * MS)
    base = est.rto
    est.back_off()
    est.reset_backoff()
    assert est.rto == base


@given(st.lists(st.integers(min_value=1, max_value=30 * SECOND), min_size=1, max_size=30))
def test_matches_rfc6298_reference(samples: list[int]) -> None:
    est = linux_like()
    srtt: float | None = None
    rttvar = 0.0
    for r in samples:
        est.sample(r)
        if srtt is None:
            srtt, rttvar = r, r / 2
        else:
            rttvar = 0.75 * rttvar + 0.25 * abs(srtt - r)
            srtt = 0.875 * srtt + 0.125 * r
    assert srtt is not None
    expected = min(max(srtt + max(G, 4 * rttvar), 200 * MS), 120 * SECOND)
    # integer arithmetic may round down by a few microseconds per sample
    assert expected - 10 * len(samples) <= est.rto <= expected + 1
    assert est.rto_min <= est.rto <= est.rto_max


def test_handshake_without_sample_after_syn_timeout_falls_back_to_3s() -> None:
    est = linux_like()
    est.back_off()  # the SYN timed out once: 2 s
    est.handshake_done()
    assert est.rto == 3 * SECOND  # RFC 6298 (5.7)
    assert est.backoff == 0


def test_handshake_with_a_sample_keeps_it() -> None:
    est = linux_like()
    est.sample(100 * MS)
    est.handshake_done()
    assert est.rto == 300 * MS


def test_handshake_without_timeout_keeps_the_initial_rto() -> None:
    est = linux_like()
    est.handshake_done()
    assert est.rto == 1 * SECOND


def test_handshake_fallback_respects_rto_max() -> None:
    est = RtoEstimator(initial=1 * SECOND, minimum=200 * MS, maximum=2 * SECOND)
    est.back_off()
    est.handshake_done()
    assert est.rto == 2 * SECOND
