"""Virtual time for the simulator: an int of microseconds that only moves forward."""

from __future__ import annotations


class VirtualClock:
    """A monotonic clock that jumps to the next event instead of waiting for it.

    Nothing in the simulator reads the wall clock, so a two-hour timeout costs one step.
    """

    __slots__ = ("_now",)

    def __init__(self, start: int = 0) -> None:
        if start < 0:
            raise ValueError(f"clock start must be >= 0 microseconds, got {start}")
        self._now = start

    @property
    def now(self) -> int:
        """Current virtual time in microseconds."""
        return self._now

    def advance_to(self, t: int) -> None:
        """Jump to `t`; going backwards would break causality, so it raises."""
        if t < self._now:
            raise ValueError(f"clock cannot go back from {self._now} us to {t} us")
        self._now = t

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now})"
