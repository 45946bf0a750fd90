"""CUBIC (RFC 9438): the window after a loss follows the cubic curve, Reno-friendly on
short paths, fast convergence, timeouts, HyStart++ and idle periods."""

from __future__ import annotations

import itertools

import pytest

from synack.tcp.cubic import BETA, C, Cubic

MSS = 1000
SECOND = 1_000_000
MS = 1_000


def in_avoidance(window: int, now: int = 0) -> Cubic:
    """A CUBIC sender that met a loss at ``window`` segments and has just recovered."""
    cc = Cubic(MSS, 10)
    cc.cwnd = window * MSS
    cc.enter_recovery(window * MSS, now)
    cc.exit_recovery()
    return cc


def rounds(cc: Cubic, start: int, rtt: int, count: int) -> list[float]:
    """ACK a whole window every ``rtt`` (one ACK per two segments): cwnd in segments after
    each round."""
    now, seen = start, []
    for _ in range(count):
        window = cc.cwnd
        for _ in range(max(window // (2 * MSS), 1)):
            cc.on_ack(2 * MSS, window, now, None, rtt)
        seen.append(cc.cwnd / MSS)
        now += rtt
    return seen


def test_a_loss_keeps_seventy_percent_and_remembers_the_window_as_w_max() -> None:
    cc = Cubic(MSS, 10)
    cc.cwnd = 1000 * MSS
    cc.enter_recovery(1000 * MSS, 0)
    assert cc.ssthresh == int(1000 * MSS * BETA)
    assert cc.cwnd == cc.ssthresh + 3 * MSS  # NewReno's inflation by the three duplicates
    assert cc.w_max == 1000
    cc.exit_recovery()
    assert cc.cwnd == 700 * MSS


def test_an_ecn_echo_cuts_like_a_loss_but_without_inflation() -> None:
    cc = Cubic(MSS, 10)
    cc.cwnd = 1000 * MSS
    cc.on_ecn_echo(1000 * MSS, 0)
    assert cc.ssthresh == cc.cwnd == int(1000 * MSS * BETA)
    assert cc.w_max == 1000


def test_the_window_follows_the_cubic_curve_concave_then_convex() -> None:
    cc = in_avoidance(1000)
    rtt = 100 * MS
    windows = rounds(cc, 0, rtt, 180)
    k = (1000 * (1 - BETA) / C) ** (1 / 3)
    assert cc.k == pytest.approx(k)  # about 9.1 s to climb back to W_max
    # Each round's window is the curve one RTT ahead, at most.
    for n, window in enumerate(windows):
        t = (n + 1) * rtt / SECOND
        assert window <= cc.w_cubic(t) + 1
    # Back near W_max after K seconds, and flat around it.
    at_k = windows[round(k * SECOND / rtt)]
    assert at_k == pytest.approx(1000, abs=5)
    growth = [b - a for a, b in itertools.pairwise(windows)]
    early, plateau, late = growth[5], growth[round(k * SECOND / rtt)], growth[170]
    assert early > plateau < late  # concave (slowing) up to K, convex (speeding) after
    assert plateau < 0.5
    assert windows[-1] > 1100  # probing beyond the old W_max


def test_growth_in_avoidance_comes_per_ack_in_small_steps() -> None:
    cc = in_avoidance(1000)
    before = cc.cwnd
    cc.on_ack(2 * MSS, 700 * MSS, 5 * SECOND, None, 100 * MS)
    assert 0 < cc.cwnd - before < MSS


def test_on_a_short_path_the_window_grows_like_reno() -> None:
    """The Reno-friendly region: at 1 ms the cubic curve hardly moves, Reno's does."""
    cc = in_avoidance(20)
    rtt = 1 * MS
    windows = rounds(cc, 0, rtt, 40)
    t = 40 * rtt / SECOND
    assert cc.w_cubic(t) < 15  # the cubic curve has barely left 14 segments
    # Reno's estimate: 0.53 segments per RTT up to W_max, then one per RTT.
    assert windows[-1] >= 20 + 40 - 12 - 2
    assert windows[-1] < 20 + 40


def test_fast_convergence_releases_bandwidth_when_the_window_fell_short() -> None:
    cc = in_avoidance(1000)
    cc.cwnd = 800 * MSS  # the next loss comes before the window is back at W_max
    cc.enter_recovery(800 * MSS, SECOND)
    assert cc.w_max == pytest.approx(800 * (1 + BETA) / 2)  # 680, not 800
    assert cc.ssthresh == int(800 * MSS * BETA)


def test_a_loss_beyond_w_max_just_moves_w_max_up() -> None:
    cc = in_avoidance(1000)
    cc.cwnd = 1200 * MSS
    cc.enter_recovery(1200 * MSS, SECOND)
    assert cc.w_max == 1200


def test_in_recovery_the_inflated_window_is_not_taken_for_the_path() -> None:
    cc = in_avoidance(100)  # cwnd 70 segments
    cc.enter_recovery(70 * MSS, SECOND)
    for _ in range(500):
        cc.inflate()  # duplicate ACKs: cwnd is now far above what the path holds
    cc.on_timeout(600 * MSS, 2 * SECOND)
    assert cc.ssthresh == int(int(70 * MSS * BETA) * BETA)


def test_after_a_loss_that_let_much_data_out_the_smaller_cwnd_counts() -> None:
    cc = in_avoidance(100)
    cc.enter_recovery(900 * MSS, SECOND)  # flight far above cwnd (70 segments)
    assert cc.ssthresh == int(70 * MSS * BETA)


def test_a_timeout_restarts_from_one_segment_and_a_flat_epoch() -> None:
    cc = in_avoidance(1000)
    cc.on_timeout(700 * MSS, 2 * SECOND)
    assert cc.cwnd == MSS
    assert cc.ssthresh == int(700 * MSS * BETA)
    rounds(cc, 2 * SECOND, 100 * MS, 10)  # slow start back to ssthresh, then avoidance
    assert cc.cwnd >= cc.ssthresh
    # RFC 9438 4.8: K = 0 and W_max is the window where this avoidance stage began.
    assert cc.k == 0
    assert cc.w_max == pytest.approx(cc.ssthresh / MSS, rel=0.01)


def test_slow_start_grows_by_what_each_ack_acknowledges_up_to_ssthresh() -> None:
    cc = Cubic(MSS, 10)
    cc.stop_hystart()
    cc.ssthresh = 15 * MSS
    cc.on_ack(2 * MSS, 8 * MSS, 0, None, None)
    assert cc.cwnd == 12 * MSS  # Linux: one segment per segment ACKed
    cc.on_ack(10 * MSS, 0, 0, None, None)
    assert cc.cwnd >= 15 * MSS  # up to ssthresh, the rest in avoidance
    assert cc.cwnd < 16 * MSS


def test_hystart_leaves_slow_start_before_any_loss_when_the_rtt_climbs() -> None:
    cc = Cubic(MSS, 10)
    now, rtt = 0, 20 * MS
    while cc.wants_rtt_samples and now < 60 * SECOND:
        window = cc.cwnd
        for _ in range(window // (2 * MSS)):
            cc.on_ack(2 * MSS, window, now, rtt, rtt)
            now += 3 * MS  # ACKs spread out: no ACK train, only the delay can tell
            if not cc.wants_rtt_samples:
                break
        if cc.cwnd > 100 * MSS:
            rtt = 30 * MS  # a queue has formed
    # Slow start is over without a loss: ssthresh is the window it ended at.
    assert cc.ssthresh <= cc.cwnd < cc.ssthresh + MSS
    # The rise is seen within a round; CSS then grows a quarter as fast for five rounds.
    assert 100 * MSS < cc.cwnd < 250 * MSS * 1.25**5
    assert cc.wants_rtt_samples is False  # nothing left to use them


def test_idle_time_earns_no_growth() -> None:
    """Linux moves the epoch on by the idle time (CA_EVENT_TX_START)."""
    busy, idle = in_avoidance(500), in_avoidance(500)
    rounds(busy, 0, 100 * MS, 20)
    rounds(idle, 0, 100 * MS, 20)
    idle.on_send_after_idle(10 * SECOND, 300 * MS, 12 * SECOND, validate=False)
    before = idle.cwnd
    rounds(busy, 2 * SECOND, 100 * MS, 1)
    rounds(idle, 12 * SECOND, 100 * MS, 1)
    assert idle.cwnd - before == pytest.approx(busy.cwnd - before, abs=MSS)
    assert idle.cwnd < 500 * MSS  # ten idle seconds did not jump it past W_max


def test_idle_restart_halves_the_window_per_rto_down_to_the_initial_window() -> None:
    cc = in_avoidance(100)
    cc.cwnd = 100 * MSS
    rto = 300 * MS
    cc.on_send_after_idle(int(3.5 * rto), rto, 10 * SECOND, validate=True)
    assert cc.cwnd == 12_500  # 100 -> 50 -> 25 -> 12.5 segments
    assert cc.ssthresh == 75 * MSS  # three quarters of the old window is remembered
    cc.on_send_after_idle(100 * rto, rto, 40 * SECOND, validate=True)
    assert cc.cwnd == 10 * MSS  # never below the initial window
