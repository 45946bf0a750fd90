"""HyStart++ (RFC 9406): leave slow start when the RTT starts to climb, before a loss.

Slow start doubles the window each round trip until a drop says the path is full; on a
path with a deep drop-tail queue that drop comes only after the window has overshot the
path plus the queue, and a whole burst is lost at once. HyStart++ watches the smallest
RTT of each round instead: when it rises by a clear threshold over the previous round's,
the queue is filling, so growth slows to a quarter (Conservative Slow Start, CSS) and,
unless the RTT falls back (a false alarm), congestion avoidance takes over a few rounds
later.

Without pacing, slow start sends each round as a burst at twice the bottleneck's rate: the
queue builds behind the burst and drains in the gap after it, so the first packets of
every round see an empty queue and the round's minimum RTT stays put until the window is
well past the path. Linux's HyStart has a second test that sees this case, which synack
adds: the ACK train. ACKs of one burst arrive back to back, spaced by the bottleneck;
when such a train lasts more than half the minimum RTT, the path is full (the next round
would double past it), and slow start ends at once.

Rounds are counted in bytes: a round ends once the data in flight when it began has been
acknowledged, which is the RFC's "SND.UNA reaches windowEnd" without sequence numbers.
"""

from __future__ import annotations

from synack.tcp.config import MILLISECOND

MIN_RTT_THRESH_US = 4 * MILLISECOND
MAX_RTT_THRESH_US = 16 * MILLISECOND
MIN_RTT_DIVISOR = 8
N_RTT_SAMPLE = 8
CSS_GROWTH_DIVISOR = 4
CSS_ROUNDS = 5
#: Linux's hystart_ack_delta_us: ACKs closer than this belong to one train.
ACK_TRAIN_SPACING_US = 2 * MILLISECOND
#: Linux's hystart_low_window: the ACK train is not trusted below 16 segments.
ACK_TRAIN_MIN_SEGMENTS = 16

_UNKNOWN = 1 << 62  # the RFC's "infinity" for an RTT not measured yet


class HyStartPlusPlus:
    """The delay-increase detector and CSS rounds of RFC 9406 section 4.2."""

    __slots__ = (
        "_delivered",
        "_last_train_ack",
        "_train_start",
        "_window_end",
        "css_baseline_min_rtt",
        "css_rounds",
        "current_round_min_rtt",
        "in_css",
        "last_round_min_rtt",
        "min_rtt",
        "rtt_sample_count",
    )

    def __init__(self) -> None:
        self._delivered = 0  # bytes acknowledged so far
        self._window_end: int | None = None  # _delivered at which the current round ends
        self._train_start = 0  # when the current train of ACKs began (microseconds)
        self._last_train_ack = -ACK_TRAIN_SPACING_US - 1  # its latest ACK
        self.min_rtt = _UNKNOWN  # smallest RTT sample so far
        self.last_round_min_rtt = _UNKNOWN
        self.current_round_min_rtt = _UNKNOWN
        self.css_baseline_min_rtt = _UNKNOWN
        self.rtt_sample_count = 0
        self.in_css = False
        self.css_rounds = 0

    @property
    def growth_divisor(self) -> int:
        """Slow start's increase is divided by this: 1, or 4 during CSS."""
        return CSS_GROWTH_DIVISOR if self.in_css else 1

    def on_ack(
        self, acked: int, flight: int, now: int, rtt_us: int | None, cwnd_segments: int
    ) -> bool:
        """Fold in one ACK of slow start; True when slow start should end here (the
        caller sets ssthresh to cwnd): CSS has run its rounds, or an ACK train said the
        path is full."""
        self._delivered += acked
        if self._window_end is None or self._delivered >= self._window_end:
            self._window_end = self._delivered + flight
            self.last_round_min_rtt = self.current_round_min_rtt
            self.current_round_min_rtt = _UNKNOWN
            self.rtt_sample_count = 0
            if self.in_css:
                self.css_rounds += 1
                if self.css_rounds >= CSS_ROUNDS:
                    return True
        if self._ack_train_full(now, cwnd_segments):
            return True
        if rtt_us is None:
            return False
        self.min_rtt = min(self.min_rtt, rtt_us)
        self.current_round_min_rtt = min(self.current_round_min_rtt, rtt_us)
        self.rtt_sample_count += 1
        if self.rtt_sample_count < N_RTT_SAMPLE:
            return False
        if self.in_css:
            if self.current_round_min_rtt < self.css_baseline_min_rtt:
                # The RTT fell back below where CSS began: the rise was noise, resume.
                self.css_baseline_min_rtt = _UNKNOWN
                self.in_css = False
                self.css_rounds = 0
        elif self.last_round_min_rtt != _UNKNOWN:
            threshold = min(
                max(self.last_round_min_rtt // MIN_RTT_DIVISOR, MIN_RTT_THRESH_US),
                MAX_RTT_THRESH_US,
            )
            if self.current_round_min_rtt >= self.last_round_min_rtt + threshold:
                self.css_baseline_min_rtt = self.current_round_min_rtt
                self.in_css = True
                self.css_rounds = 0
        return False

    def _ack_train_full(self, now: int, cwnd_segments: int) -> bool:
        """Linux's ACK-train test: ACKs, each within 2 ms of the one before, have kept
        coming for more than half the minimum RTT. Linux times the train from the start
        of the round; synack from the ACK after the last gap, because without pacing a
        round boundary falls anywhere inside a burst's train."""
        if now - self._last_train_ack > ACK_TRAIN_SPACING_US:
            self._train_start = now  # a gap: a new train begins
        self._last_train_ack = now
        return (
            not self.in_css
            and cwnd_segments >= ACK_TRAIN_MIN_SEGMENTS
            and self.min_rtt != _UNKNOWN
            and now - self._train_start > self.min_rtt // 2
        )
