"""Congestion window: slow start, congestion avoidance and NewReno recovery (RFC 5681/6582).

Every algorithm answers the same small `CongestionControl` interface, so the connection
never knows which one it drives; CUBIC (RFC 9438) lives beside NewReno in `synack.tcp.cubic`.
The core has no clock: the connection passes its own time (``now``, microseconds) and
its RTT estimates in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from synack.tcp.config import TcpConfig

#: The names TcpConfig.congestion_control accepts (the sysctl calls NewReno "reno").
ALGORITHMS = ("cubic", "newreno")


class CongestionControl(Protocol):
    """What the connection asks of a congestion control; cwnd and ssthresh are in bytes."""

    cwnd: int
    ssthresh: int
    mss: int

    @property
    def wants_rtt_samples(self) -> bool:
        """Whether on_ack uses a per-ACK RTT sample (the connection skips it otherwise)."""
        ...

    def on_ack(
        self, acked: int, flight: int, now: int, rtt_us: int | None, srtt_us: int | None
    ) -> None:
        """New data was acknowledged outside recovery; ``flight`` is what is still out."""
        ...

    def enter_recovery(self, flight: int, now: int) -> None: ...

    def inflate(self) -> None: ...

    def partial_ack(self, acked: int) -> None: ...

    def exit_recovery(self) -> None: ...

    def on_timeout(self, flight: int, now: int) -> None: ...

    def on_ecn_echo(self, flight: int, now: int) -> None:
        """The peer echoed a CE mark (RFC 3168 6.1.2): reduce as for a loss, once per
        window, with nothing to retransmit."""
        ...

    def on_send_after_idle(self, idle_us: int, rto_us: int, now: int, validate: bool) -> None:
        """Data leaves with nothing in flight, ``idle_us`` after the previous data did;
        ``validate``: shrink a window unused for longer than the RTO (RFC 7661's concern)."""
        ...


def restarted_cwnd(cwnd: int, restart: int, idle_us: int, rto_us: int) -> int:
    """Linux's tcp_cwnd_restart (RFC 2861 in spirit): a window unused for longer than the
    RTO no longer says what the path holds, so halve it per RTO of idleness, never below
    the restart window (the initial window, or cwnd if smaller)."""
    restart = min(restart, cwnd)
    idle_us -= rto_us
    while idle_us > 0 and cwnd > restart:
        cwnd >>= 1
        idle_us -= rto_us
    return max(cwnd, restart)


class NewReno:
    """cwnd and ssthresh in bytes."""

    __slots__ = ("cwnd", "initial_segments", "mss", "ssthresh")

    def __init__(self, mss: int, initial_segments: int) -> None:
        self.mss = mss
        self.initial_segments = max(1, initial_segments)
        self.cwnd = self.initial_segments * mss
        self.ssthresh = 1 << 30

    #: NewReno needs no RTT: the connection may skip computing per-ACK samples.
    wants_rtt_samples = False

    def on_ack(
        self, acked: int, flight: int, now: int, rtt_us: int | None, srtt_us: int | None
    ) -> None:
        """New data was acknowledged outside recovery."""
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, self.mss)
        else:
            self.cwnd += max(1, self.mss * self.mss // self.cwnd)

    def enter_recovery(self, flight: int, now: int) -> None:
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

    def on_ecn_echo(self, flight: int, now: int) -> None:
        """Halve as fast recovery would, without the inflation: nothing was lost."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh

    def on_timeout(self, flight: int, now: int) -> None:
        """RTO expiry: back to one segment and slow start."""
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss

    def on_send_after_idle(self, idle_us: int, rto_us: int, now: int, validate: bool) -> None:
        if validate and idle_us > rto_us:
            # Linux's tcp_current_ssthresh: remember three quarters of the old window.
            self.ssthresh = max(self.ssthresh, (self.cwnd >> 1) + (self.cwnd >> 2))
            self.cwnd = restarted_cwnd(self.cwnd, self.initial_segments * self.mss, idle_us, rto_us)


def new_congestion_control(config: TcpConfig, mss: int) -> CongestionControl:
    """The algorithm ``config.congestion_control`` names, with the initial window."""
    if config.congestion_control == "newreno":
        return NewReno(mss, config.initial_cwnd)
    from synack.tcp.cubic import Cubic  # here, not at the top: cubic.py builds on this module

    return Cubic(mss, config.initial_cwnd)
