"""Congestion window: slow start, congestion avoidance and NewReno recovery (RFC 5681/6582).

Kept behind a tiny interface so that the data-path issue can add CUBIC beside it.
"""

from __future__ import annotations


class NewReno:
    """cwnd and ssthresh in bytes."""

    __slots__ = ("cwnd", "mss", "ssthresh")

    def __init__(self, mss: int, initial_segments: int) -> None:
        self.mss = mss
        self.cwnd = max(1, initial_segments) * mss
        self.ssthresh = 1 << 30

    def on_ack(self, acked: int) -> None:
        """New data was acknowledged outside recovery."""
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, self.mss)
        else:
            self.cwnd += max(1, self.mss * self.mss // self.cwnd)

    def enter_recovery(self, flight: int) -> None:
        """Third duplicate ACK: halve, then inflate by the three segments that left."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh + 3 * self.mss

    def inflate(self) -> None:
        """Another duplicate ACK during recovery: one more segment has left the network."""
        self.cwnd += self.mss

    def partial_ack(self, acked: int) -> None:
        """RFC 6582: deflate by the amount acknowledged, add back one segment."""
        self.cwnd = max(self.cwnd - acked + self.mss, self.mss)

    def exit_recovery(self) -> None:
        self.cwnd = self.ssthresh

    def on_timeout(self, flight: int) -> None:
        """RTO expiry: back to one segment and slow start."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss
