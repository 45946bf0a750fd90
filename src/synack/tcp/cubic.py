"""CUBIC congestion control (RFC 9438), Linux's default, with HyStart (`synack.tcp.hystart`).

Reno grows the window by one segment per round trip, so after a loss on a long fat path
it needs thousands of round trips to get back. CUBIC grows it as a function of the time
since the last loss instead: W_cubic(t) = C (t - K)^3 + W_max, concave up to the window
where the loss happened (W_max, reached after K seconds), flat around it, then convex as
it probes beyond. Growth no longer depends on the RTT, and on short paths, where Reno
would be faster, CUBIC tracks Reno's window (the Reno-friendly region) instead.

Windows of the cubic function are in segments (floats) and times in seconds, as in the
RFC; cwnd and ssthresh stay in bytes like NewReno's. Recovery (window inflation, partial
ACKs) is NewReno's: CUBIC changes how far the window drops and how it grows back.
"""

from __future__ import annotations

from synack.tcp.config import SECOND
from synack.tcp.congestion import NewReno
from synack.tcp.hystart import HyStartPlusPlus

#: Multiplicative decrease: the window keeps 70 % after a loss (RFC 9438 section 4.6).
BETA = 0.7
#: Aggressiveness of the cubic function, segments per second cubed (section 5).
C = 0.4
#: Reno-friendly additive increase per RTT giving Reno's average rate with BETA (4.3).
ALPHA = 3 * (1 - BETA) / (1 + BETA)


class Cubic(NewReno):
    """NewReno's recovery, CUBIC's decrease and growth, HyStart in the first slow start."""

    __slots__ = (
        "_carry",
        "_epoch_start",
        "_recovering",
        "_w_est",
        "hystart",
        "k",
        "w_max",
        "wants_rtt_samples",
    )

    def __init__(self, mss: int, initial_segments: int) -> None:
        super().__init__(mss, initial_segments)
        #: Window (segments) just before the last reduction; 0 when unknown (no loss yet,
        #: or after a timeout): then the next epoch starts flat at its own window, K = 0.
        self.w_max = 0.0
        #: Seconds from the start of the epoch until W_cubic reaches w_max again.
        self.k = 0.0
        self._epoch_start: int | None = None  # microseconds; None until the next CA ACK
        self._w_est = 0.0  # the Reno-friendly window estimate, segments
        self._carry = 0.0  # growth in bytes not yet a whole byte of cwnd
        self._recovering = False  # between enter_recovery and exit_recovery
        #: Made at the first ACK in slow start: an idle connection never pays for it.
        self.hystart: HyStartPlusPlus | None = None
        self.wants_rtt_samples = True  # until HyStart is over

    def on_ack(
        self, acked: int, flight: int, now: int, rtt_us: int | None, srtt_us: int | None
    ) -> None:
        if self.cwnd < self.ssthresh:
            divisor = 1
            hystart = self.hystart
            if hystart is None and self.wants_rtt_samples:
                hystart = self.hystart = HyStartPlusPlus()
            if hystart is not None:
                if hystart.on_ack(acked, flight, now, rtt_us, self.cwnd // self.mss):
                    self.ssthresh = self.cwnd  # the path is full: avoidance from here
                    self.stop_hystart()
                else:
                    divisor = hystart.growth_divisor
            if self.cwnd < self.ssthresh:
                # Linux's tcp_slow_start: one segment per segment acknowledged, up to
                # ssthresh; what is left of the ACK counts for congestion avoidance.
                grow = min(acked, self.ssthresh - self.cwnd)
                self.cwnd += grow // divisor
                acked -= grow
                if acked <= 0:
                    return
        self._avoid_congestion(acked, now, srtt_us)

    def _avoid_congestion(self, acked: int, now: int, srtt_us: int | None) -> None:
        mss = self.mss
        segments = self.cwnd / mss
        if self._epoch_start is None:
            self._epoch_start = now
            self._w_est = segments
            if self.w_max <= segments:
                self.w_max = segments
                self.k = 0.0
            else:
                self.k = ((self.w_max - segments) / C) ** (1 / 3)
        t = (now - self._epoch_start) / SECOND
        acked_segments = acked / mss
        alpha = 1.0 if self._w_est >= self.w_max else ALPHA
        self._w_est += alpha * acked_segments / segments
        # w_cubic() written out (twice): this runs for every ACK in congestion avoidance.
        k = self.k
        if C * (t - k) ** 3 + self.w_max < self._w_est:
            growth = self._w_est * mss - self.cwnd  # Reno-friendly region: Reno's window
        else:
            rtt = (srtt_us or 0) / SECOND
            w_next = C * (t + rtt - k) ** 3 + self.w_max
            target = min(max(w_next, segments), 1.5 * segments)
            growth = (target - segments) / segments * acked_segments * mss
        if growth > 0:
            self._carry += growth
            whole = int(self._carry)
            self._carry -= whole
            self.cwnd += whole

    def w_cubic(self, t: float) -> float:
        """The cubic window (segments) ``t`` seconds into the current epoch (Figure 1)."""
        return C * (t - self.k) ** 3 + self.w_max

    def _reduce(self, flight: int) -> None:
        """A congestion event: remember W_max (fast convergence), cut ssthresh by BETA.

        The window that met the loss is the smaller of cwnd and the flight: the flight
        when the sender was application-limited (RFC 9438 4.6), cwnd when more is out
        than cwnd allows, as after a recovery whose inflated window let much data out
        (Linux takes cwnd). In recovery, cwnd is inflated and ssthresh is the window.
        """
        window = min(self.ssthresh if self._recovering else self.cwnd, flight)
        segments = window / self.mss
        # Fast convergence: a flow whose window fell short of the previous W_max is
        # likely sharing the path with a newcomer, so it releases some more.
        self.w_max = segments * (1 + BETA) / 2 if segments < self.w_max else segments
        self.ssthresh = max(int(window * BETA), 2 * self.mss)
        self._epoch_start = None
        self._carry = 0.0
        self.stop_hystart()

    def enter_recovery(self, flight: int, now: int) -> None:
        self._reduce(flight)
        self._recovering = True
        self.cwnd = self.ssthresh + 3 * self.mss

    def on_ecn_echo(self, flight: int, now: int) -> None:
        self._reduce(flight)
        self.cwnd = self.ssthresh

    def exit_recovery(self) -> None:
        self._recovering = False
        super().exit_recovery()

    def on_timeout(self, flight: int, now: int) -> None:
        """RTO: slow start from one segment; the next epoch starts flat where it
        stands (RFC 9438 section 4.8: K = 0, W_max = the window then)."""
        self._reduce(flight)
        self._recovering = False
        self.w_max = 0.0
        self.cwnd = self.mss

    def on_send_after_idle(self, idle_us: int, rto_us: int, now: int, validate: bool) -> None:
        """Time spent idle earns no growth (Linux's CA_EVENT_TX_START moves the epoch on)."""
        if self._epoch_start is not None and idle_us > 0:
            self._epoch_start = min(self._epoch_start + idle_us, now)
        super().on_send_after_idle(idle_us, rto_us, now, validate)

    def stop_hystart(self) -> None:
        """Slow start ends by ssthresh or loss from now on."""
        self.hystart = None
        self.wants_rtt_samples = False
