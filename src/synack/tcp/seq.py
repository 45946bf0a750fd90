"""Sequence-number arithmetic modulo 2**32 (RFC 9293 section 3.4).

Comparisons are only meaningful for numbers less than 2**31 apart, which TCP guarantees
by keeping windows below 2**30.
"""

from __future__ import annotations

MOD = 1 << 32
MASK = MOD - 1
HALF = 1 << 31


def add(a: int, n: int) -> int:
    """a + n wrapped to 32 bits; n may be negative."""
    return (a + n) & MASK


def diff(a: int, b: int) -> int:
    """Signed distance a - b in (-2**31, 2**31]."""
    d = (a - b) & MASK
    return d - MOD if d > HALF else d


def lt(a: int, b: int) -> bool:
    return 0 < ((b - a) & MASK) < HALF


def le(a: int, b: int) -> bool:
    return ((b - a) & MASK) < HALF


def gt(a: int, b: int) -> bool:
    return 0 < ((a - b) & MASK) < HALF


def ge(a: int, b: int) -> bool:
    return ((a - b) & MASK) < HALF


def between(low: int, x: int, high: int) -> bool:
    """low <= x < high in sequence space (an empty range when low == high)."""
    return ((x - low) & MASK) < ((high - low) & MASK)


def max_seq(a: int, b: int) -> int:
    return a if ge(a, b) else b


#: Linux's TCP_PAWS_WINDOW: a TSval this much older than TS.Recent still passes PAWS
#: (timestamps are 32-bit serial numbers too, compared as sequence numbers are).
PAWS_WINDOW = 1
