"""Sequence-number arithmetic modulo 2**32, checked against plain Python integers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synack.tcp import seq as sq

MOD = 2**32
u32 = st.integers(min_value=0, max_value=MOD - 1)
# Distances that comparisons are defined for: strictly less than 2**31 apart.
near = st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1)


def ref_distance(a: int, b: int) -> int:
    """a - b as the signed distance on the circle, in (-2**31, 2**31]."""
    d = (a - b) % MOD
    return d - MOD if d > 2**31 else d


@given(u32, st.integers(min_value=-(2**40), max_value=2**40))
def test_add_wraps_like_modulo(a: int, n: int) -> None:
    assert sq.add(a, n) == (a + n) % MOD
    assert 0 <= sq.add(a, n) < MOD


@given(u32, near)
def test_diff_is_the_distance_added(a: int, n: int) -> None:
    b = (a + n) % MOD
    assert sq.diff(b, a) == n
    assert sq.diff(a, b) == -n


@given(u32, u32)
def test_diff_matches_reference(a: int, b: int) -> None:
    assert sq.diff(a, b) == ref_distance(a, b)
    assert sq.add(b, sq.diff(a, b)) == a


@given(u32, near)
def test_comparisons_follow_the_distance(a: int, n: int) -> None:
    b = (a + n) % MOD  # b is n ahead of a
    assert sq.lt(a, b) == (n > 0)
    assert sq.le(a, b) == (n >= 0)
    assert sq.gt(a, b) == (n < 0)
    assert sq.ge(a, b) == (n <= 0)
    assert sq.gt(b, a) == sq.lt(a, b)
    assert sq.max_seq(a, b) == (b if n >= 0 else a)


@given(
    u32, st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=-10, max_value=2**31)
)
def test_between_is_a_half_open_interval(low: int, size: int, offset: int) -> None:
    high = (low + size) % MOD
    x = (low + offset) % MOD
    assert sq.between(low, x, high) == (0 <= offset < size)


def test_wrap_around_examples() -> None:
    top = MOD - 1
    assert sq.add(top, 1) == 0
    assert sq.add(0, -1) == top
    assert sq.lt(top, 0) and sq.gt(0, top)
    assert sq.lt(MOD - 100, 100)
    assert sq.diff(5, MOD - 5) == 10
    assert sq.diff(MOD - 5, 5) == -10
    assert sq.between(MOD - 10, 3, 20)
    assert sq.between(MOD - 10, MOD - 10, 20)
    assert not sq.between(MOD - 10, 20, 20)
    assert not sq.between(MOD - 10, MOD - 11, 20)
    assert not sq.between(7, 7, 7)  # empty window
    assert sq.max_seq(MOD - 1, 2) == 2


def test_equal_numbers() -> None:
    assert sq.le(42, 42) and sq.ge(42, 42)
    assert not sq.lt(42, 42) and not sq.gt(42, 42)
    assert sq.diff(42, 42) == 0
