"""SYN cookies (Linux's encoding): what a listener under a SYN flood relies on.

A genuine ACK must bring back the MSS its SYN asked for, for as long as Linux keeps a
cookie valid; anything else (another 4-tuple, a stale minute, other secrets, a guessed
number) must be refused.
"""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.tcp.syncookie import (
    COOKIE_PERIOD_US,
    MAX_SYNCOOKIE_AGE,
    MSS_TABLE_V4,
    MSS_TABLE_V6,
    CookieSecrets,
    check_cookie,
    decode_ts_options,
    encode_ts_options,
    make_cookie,
)

MOD = 2**32
MINUTE = COOKIE_PERIOD_US
SECRETS = CookieSecrets.from_key(b"synack syncookie test key 32 by")
OTHER = CookieSecrets.from_key(b"another key, another listener...")

V4 = (ipaddress.ip_address("198.18.0.2").packed, ipaddress.ip_address("198.18.0.1").packed)
V6 = (ipaddress.ip_address("2001:db8::2").packed, ipaddress.ip_address("2001:db8::1").packed)
CLIENT_PORT, SERVER_PORT = 40000, 80
T0 = 1_000 * MINUTE + 17_000_000  # an arbitrary clock reading, 17 s into a minute


def addrs(v6: bool) -> tuple[bytes, bytes]:
    return V6 if v6 else V4


def handshake(
    isn: int = 1000,
    mss: int = 1460,
    made: int = T0,
    checked: int | None = None,
    v6: bool = False,
) -> tuple[int, int | None]:
    """Cookie for a SYN, then the check of the ACK a real client would send back."""
    saddr, daddr = addrs(v6)
    iss, chosen = make_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, isn, mss, made, v6)
    got = check_cookie(
        SECRETS,
        saddr,
        daddr,
        CLIENT_PORT,
        SERVER_PORT,
        (isn + 1) % MOD,
        (iss + 1) % MOD,
        made if checked is None else checked,
        v6,
    )
    return chosen, got


# ---------------------------------------------------------------- MSS round trip


@pytest.mark.parametrize(
    ("v6", "mss"), [(False, m) for m in MSS_TABLE_V4] + [(True, m) for m in MSS_TABLE_V6]
)
def test_every_table_mss_round_trips(v6: bool, mss: int) -> None:
    assert handshake(mss=mss, v6=v6) == (mss, mss)


@pytest.mark.parametrize(
    ("v6", "client_mss", "expected"),
    [
        (False, 0, 536),
        (False, 88, 536),  # below every entry: the smallest one, as Linux does
        (False, 535, 536),
        (False, 537, 536),
        (False, 1299, 536),
        (False, 1301, 1300),
        (False, 1439, 1300),
        (False, 1452, 1440),  # PPPoE
        (False, 1459, 1440),
        (False, 1461, 1460),
        (False, 8960, 1460),
        (False, 65535, 1460),
        (True, 0, 1220),
        (True, 1219, 1220),
        (True, 1221, 1220),
        (True, 1419, 1220),
        (True, 1421, 1420),
        (True, 1439, 1420),
        (True, 1441, 1440),
        (True, 8939, 1440),
        (True, 8941, 8940),
        (True, 65535, 8940),
    ],
)
def test_mss_between_entries_rounds_down(v6: bool, client_mss: int, expected: int) -> None:
    assert handshake(mss=client_mss, v6=v6) == (expected, expected)


u32 = st.integers(0, MOD - 1)
ports = st.integers(0, 65535)
keys = st.binary(min_size=16, max_size=32)


@settings(max_examples=200)
@given(
    k0=keys,
    k1=keys,
    v6=st.booleans(),
    saddr=st.binary(min_size=16, max_size=16),
    daddr=st.binary(min_size=16, max_size=16),
    sport=ports,
    dport=ports,
    isn=u32,
    mss=st.integers(0, 65535),
    now=st.integers(0, 2**50),
    later=st.integers(0, MINUTE - 1),
)
def test_any_handshake_round_trips_within_the_minute_after(
    k0: bytes,
    k1: bytes,
    v6: bool,
    saddr: bytes,
    daddr: bytes,
    sport: int,
    dport: int,
    isn: int,
    mss: int,
    now: int,
    later: int,
) -> None:
    secrets = CookieSecrets(k0, k1)
    size = 16 if v6 else 4
    saddr, daddr = saddr[:size], daddr[:size]
    iss, chosen = make_cookie(secrets, saddr, daddr, sport, dport, isn, mss, now, v6)
    table = MSS_TABLE_V6 if v6 else MSS_TABLE_V4
    assert chosen == max([m for m in table if m <= mss], default=table[0])
    assert 0 <= iss < MOD
    # Less than a minute later the counter has moved by at most one tick: always valid.
    seq, ack = (isn + 1) % MOD, (iss + 1) % MOD
    assert check_cookie(secrets, saddr, daddr, sport, dport, seq, ack, now + later, v6) == chosen
    # Two ticks later it is stale, whatever the hash values.
    stale = now + 2 * MINUTE
    assert check_cookie(secrets, saddr, daddr, sport, dport, seq, ack, stale, v6) is None


# ---------------------------------------------------------------- age


def test_linux_accepts_counter_ages_0_and_1_only() -> None:
    assert MAX_SYNCOOKIE_AGE == 2
    start = 1_000 * MINUTE
    for ticks, valid in [(0, True), (1, True), (2, False), (3, False), (4, False), (255, False)]:
        assert handshake(made=start, checked=start + ticks * MINUTE)[1] == (
            1460 if valid else None
        ), ticks


@pytest.mark.parametrize(
    ("made_in_minute", "elapsed", "valid"),
    [
        # Made at the start of a minute: valid for almost two minutes.
        (0, 0, True),
        (0, 59_999_999, True),
        (0, 60_000_000, True),
        (0, 119_999_999, True),
        (0, 120_000_000, False),
        (0, 180_000_000, False),
        # Made at the end of a minute: valid for just over one minute.
        (59_999_999, 1, True),
        (59_999_999, 60_000_000, True),
        (59_999_999, 60_000_001, False),
        (59_999_999, 120_000_000, False),
    ],
)
def test_lifetime_depends_on_where_in_the_minute(
    made_in_minute: int, elapsed: int, valid: bool
) -> None:
    made = 1_000 * MINUTE + made_in_minute
    assert handshake(made=made, checked=made + elapsed)[1] == (1460 if valid else None)


@pytest.mark.parametrize(
    "minute",
    [254, 255, 256, 511, 2**24 - 1, 2**32 - 2, 2**32 - 1, 2**32],
    ids=lambda m: f"minute{m}",
)
def test_counter_wraps(minute: int) -> None:
    # Only 8 bits of the counter are in the cookie and the counter itself is a u32.
    made = minute * MINUTE + 30_000_000
    assert handshake(made=made)[1] == 1460
    assert handshake(made=made, checked=made + MINUTE)[1] == 1460
    assert handshake(made=made, checked=made + 2 * MINUTE)[1] is None
    assert handshake(made=made, checked=made + 3 * MINUTE)[1] is None


def test_replay_after_256_minutes_fails() -> None:
    # The 8-bit age reads 0 again, but the full counter in the second hash differs.
    for minute in (1, 1000, 2**32 - 1):
        made = minute * MINUTE
        for later in (256, 512, 2**8 * 3 + 1):
            assert handshake(made=made, checked=made + later * MINUTE)[1] is None


def test_cookie_from_the_future_fails() -> None:
    # A clock that went back (or a guessed counter) reads as age 255.
    assert handshake(made=T0, checked=T0 - MINUTE)[1] is None


# ---------------------------------------------------------------- sequence numbers


@pytest.mark.parametrize("isn", [0, 1, 2**31, MOD - 2, MOD - 1])
@pytest.mark.parametrize("v6", [False, True])
def test_client_isn_near_the_wrap(isn: int, v6: bool) -> None:
    table = MSS_TABLE_V6 if v6 else MSS_TABLE_V4
    assert handshake(isn=isn, mss=table[2], v6=v6) == (table[2], table[2])


def test_iss_depends_on_the_client_isn_and_minute() -> None:
    saddr, daddr = V4
    a = make_cookie(SECRETS, saddr, daddr, 1, 2, 5, 1460, T0, False)[0]
    b = make_cookie(SECRETS, saddr, daddr, 1, 2, 6, 1460, T0, False)[0]
    c = make_cookie(SECRETS, saddr, daddr, 1, 2, 5, 1460, T0 + MINUTE, False)[0]
    assert (b - a) % MOD == 1  # the client ISN is added in, as Linux does
    assert len({a, b, c}) == 3


# ---------------------------------------------------------------- forgery


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("field", ["saddr", "daddr", "sport", "dport", "swapped"])
def test_cookie_is_bound_to_its_4tuple(v6: bool, field: str) -> None:
    saddr, daddr = addrs(v6)
    iss, _ = make_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, 7, 1460, T0, v6)
    s, d, sp, dp = saddr, daddr, CLIENT_PORT, SERVER_PORT
    if field == "saddr":
        s = saddr[:-1] + bytes([saddr[-1] ^ 1])
    elif field == "daddr":
        d = bytes([daddr[0] ^ 0x80]) + daddr[1:]
    elif field == "sport":
        sp = CLIENT_PORT + 1
    elif field == "dport":
        dp = 443
    else:  # the same numbers seen from the other direction
        s, d, sp, dp = daddr, saddr, SERVER_PORT, CLIENT_PORT
    assert check_cookie(SECRETS, s, d, sp, dp, 8, iss + 1, T0, v6) is None
    assert check_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, 8, iss + 1, T0, v6)


@pytest.mark.parametrize("index", range(4))
def test_off_by_one_moves_the_mss_index_as_in_linux(index: int) -> None:
    """Linux adds the index to the low 24 bits, so ack +/- d reads as index +/- d.

    A near miss is therefore *accepted* with a neighbouring MSS when that index exists,
    and refused at the ends of the table. (Blind forgers cannot use this: they need a
    valid cookie to start from.) The client ISN works the other way round.
    """
    saddr, daddr = V4
    mss = MSS_TABLE_V4[index]
    iss, _ = make_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, 99, mss, T0, False)

    def check(seq: int, ack: int) -> int | None:
        return check_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, seq, ack, T0, False)

    for d in (-3, -2, -1, 1, 2, 3):
        moved = index + d
        expected = MSS_TABLE_V4[moved] if 0 <= moved < 4 else None
        assert check(100, iss + 1 + d) == expected, ("ack", d)
        moved = index - d
        expected = MSS_TABLE_V4[moved] if 0 <= moved < 4 else None
        assert check(100 + d, iss + 1) == expected, ("seq", d)
    # Far misses never pass.
    for d in (4, 5, 2**12, 2**23, 2**24, -(2**24), 2**31):
        assert check(100, iss + 1 + d) is None, d
        assert check(100 + d, iss + 1) is None, d


@given(isn=u32, mss=st.integers(0, 65535), now=st.integers(0, 2**45), v6=st.booleans())
def test_cookie_from_other_secrets_fails(isn: int, mss: int, now: int, v6: bool) -> None:
    saddr, daddr = addrs(v6)
    iss, _ = make_cookie(OTHER, saddr, daddr, CLIENT_PORT, SERVER_PORT, isn, mss, now, v6)
    seq, ack = (isn + 1) % MOD, (iss + 1) % MOD
    assert check_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, seq, ack, now, v6) is None


@given(seq=u32, ack=u32, now=st.integers(0, 2**45), v6=st.booleans())
def test_random_acks_fail(seq: int, ack: int, now: int, v6: bool) -> None:
    saddr, daddr = addrs(v6)
    assert check_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, seq, ack, now, v6) is None


def test_forgery_rate_is_negligible() -> None:
    """100,000 blind guesses; a guess passes with probability 2/256 * 4/2**24 = 2**-29.

    Expected acceptances: about 0.0002 for each half, so any acceptance means a bug.
    First half: the attacker picks its own ISN (knows ``seq``) and guesses the ack;
    second half: both numbers random, over random source ports.
    """
    rng = random.Random(20240601)
    saddr, daddr = V4
    accepted = 0
    for _ in range(50_000):
        ack = rng.getrandbits(32)
        if check_cookie(SECRETS, saddr, daddr, CLIENT_PORT, SERVER_PORT, 1, ack, T0, False):
            accepted += 1
    for _ in range(50_000):
        sport, seq, ack = rng.getrandbits(16), rng.getrandbits(32), rng.getrandbits(32)
        if check_cookie(SECRETS, saddr, daddr, sport, SERVER_PORT, seq, ack, T0, False):
            accepted += 1
    assert accepted == 0


# ---------------------------------------------------------------- secrets and arguments


def test_secrets() -> None:
    assert CookieSecrets.from_key(b"k" * 16) == CookieSecrets.from_key(b"k" * 16)
    assert CookieSecrets.from_key(b"k" * 16) != CookieSecrets.from_key(b"j" * 16)
    derived = CookieSecrets.from_key(b"k" * 64)
    assert derived.k0 != derived.k1
    assert "k0" not in repr(derived)  # secrets stay out of logs and tracebacks
    with pytest.raises(ValueError):
        CookieSecrets.from_key(b"short")
    with pytest.raises(ValueError):
        CookieSecrets(b"k" * 15, b"k" * 16)
    with pytest.raises(ValueError):
        CookieSecrets(b"k" * 16, b"k" * 33)


def test_address_size_must_match_the_family() -> None:
    with pytest.raises(ValueError):
        make_cookie(SECRETS, V4[0], V4[1], 1, 2, 0, 1460, 0, True)
    with pytest.raises(ValueError):
        check_cookie(SECRETS, V6[0], V6[1], 1, 2, 1, 1, 0, False)


# ---------------------------------------------------------------- timestamp option bits

WSCALES: list[int | None] = [None, *range(15)]


@pytest.mark.parametrize("ts_now", [0, 5, 63, 64, 1000, 123_456_789, MOD - 64, MOD - 1])
def test_ts_options_round_trip(ts_now: int) -> None:
    for wscale in WSCALES:
        for sack in (False, True):
            for ecn in (False, True):
                tsval = encode_ts_options(ts_now, wscale, sack, ecn)
                options = (0xF if wscale is None else wscale) | sack << 4 | ecn << 5
                assert tsval & 0x3F == options
                # Never ahead of the clock, and at most one 64-tick block behind it.
                assert 0 <= (ts_now - tsval) % MOD < 64
                assert decode_ts_options(tsval) == (wscale, sack, ecn)


def test_ts_steps_back_a_block_only_when_needed() -> None:
    # Linux: keep the clock's high bits if the option bits fit under its low bits.
    assert encode_ts_options(1000, 7, False, False) == 960 | 7  # 1000 = 960 + 40 > 7
    assert encode_ts_options(1000, None, True, True) == 896 | 0x3F  # 63 > 40: back one
    assert encode_ts_options(960 | 0x3F, None, True, True) == 960 | 0x3F  # equal: kept
    assert encode_ts_options(5, None, False, False) == MOD - 64 + 0xF  # wraps below zero
    assert encode_ts_options(MOD + 70, 0, False, False) == 64  # the clock is taken mod 2**32


def test_ts_wscale_above_14_counts_as_14() -> None:
    assert decode_ts_options(encode_ts_options(5000, 15, False, False)) == (14, False, False)
    assert decode_ts_options(encode_ts_options(5000, 255, True, False)) == (14, True, False)
    with pytest.raises(ValueError):
        encode_ts_options(5000, -1, False, False)


@given(tsecr=u32)
def test_ts_decode_reads_only_the_low_6_bits(tsecr: int) -> None:
    low = tsecr & 0x3F
    assert decode_ts_options(tsecr) == decode_ts_options(low)
    wscale, sack, ecn = decode_ts_options(low) or (None, None, None)
    assert wscale == (None if low & 0xF == 0xF else low & 0xF)
    assert (sack, ecn) == (bool(low & 0x10), bool(low & 0x20))


def test_ts_decode_rejects_options_this_host_turned_off() -> None:
    # Like Linux's cookie_timestamp_decode(): we never sent these bits, so the ACK lies.
    sack_bits = encode_ts_options(5000, None, True, False)
    wscale_bits = encode_ts_options(5000, 7, False, False)
    plain = encode_ts_options(5000, None, False, True)
    assert decode_ts_options(sack_bits, sack_enabled=False) is None
    assert decode_ts_options(wscale_bits, window_scaling=False) is None
    assert decode_ts_options(sack_bits, window_scaling=False) == (None, True, False)
    assert decode_ts_options(wscale_bits, sack_enabled=False) == (7, False, False)
    both_off = decode_ts_options(plain, sack_enabled=False, window_scaling=False)
    assert both_off == (None, False, True)
