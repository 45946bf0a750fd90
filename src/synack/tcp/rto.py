"""Retransmission timeout estimator of RFC 6298."""

from __future__ import annotations


class RtoEstimator:
    """SRTT/RTTVAR smoothing with clamped, exponentially backed-off RTO (microseconds)."""

    __slots__ = ("_base", "backoff", "rto_max", "rto_min", "rttvar", "srtt")

    #: Clock granularity G of RFC 6298 section 2 (we measure in microseconds).
    GRANULARITY = 1_000

    def __init__(self, initial: int, minimum: int, maximum: int) -> None:
        self.rto_min = minimum
        self.rto_max = maximum
        self.srtt: int | None = None
        self.rttvar = 0
        self._base = initial
        self.backoff = 0

    @property
    def rto(self) -> int:
        """Current timeout including backoff, clamped to the maximum."""
        rto = self._base << self.backoff  # min() written out: read on every ACK of data
        return rto if rto < self.rto_max else self.rto_max

    def sample(self, rtt: int) -> None:
        """Fold in one measurement (never from a retransmitted segment: Karn)."""
        rtt = max(rtt, 1)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt // 2
        else:
            self.rttvar = (3 * self.rttvar + abs(self.srtt - rtt)) // 4
            self.srtt = (7 * self.srtt + rtt) // 8
        base = self.srtt + max(self.GRANULARITY, 4 * self.rttvar)
        self._base = min(max(base, self.rto_min), self.rto_max)
        self.backoff = 0

    def back_off(self) -> None:
        """Double the timeout after an expiry (RFC 6298 5.5)."""
        if (self._base << self.backoff) < self.rto_max:
            self.backoff += 1

    def reset_backoff(self) -> None:
        self.backoff = 0

    #: RFC 6298 (5.7), Linux TCP_TIMEOUT_FALLBACK: the RTO data starts with when the
    #: handshake gave no RTT sample because the SYN (or SYN,ACK) timed out.
    FALLBACK = 3_000_000

    def handshake_done(self) -> None:
        """The handshake completed: end its backoff; RFC 6298 (5.7) if it gave no sample."""
        if self.srtt is None and self.backoff:
            self._base = min(max(self._base, self.FALLBACK), self.rto_max)
        self.backoff = 0
