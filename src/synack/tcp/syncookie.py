"""SYN cookies as Linux encodes them (net/ipv4/syncookies.c, net/ipv6/syncookies.c).

A listener under a SYN flood answers a SYN without keeping any state: everything it needs
later is folded into the ISS of its SYN,ACK, and checked again when the ACK returns
(RFC 4987 section 3.6). The layout of the 32-bit cookie is Linux's::

    ISS = H(k0; saddr, daddr, sport, dport, 0) + client ISN + (count << 24)
          + ((H(k1; saddr, daddr, sport, dport, count) + mss_index) & 0xFFFFFF)

``count`` is the time in minutes (only its low 8 bits survive in the cookie) and
``mss_index`` picks one of four MSS values. The addresses and ports are those of the
*incoming* segment: saddr/sport is the peer that sent the SYN, daddr/dport is us.

Linux keys the hash with SipHash (``siphash_4u32`` for IPv4, ``siphash`` over a struct for
IPv6). The standard library has no SipHash, so this uses keyed BLAKE2s truncated to 32
bits: the numbers differ from a kernel's, the structure and the checks are the same.

When the SYN offered timestamps, the low 6 bits of the SYN,ACK's TSval carry the options
the SYN asked for (window scale, SACK-permitted, ECN), since no state remembers them; the
peer echoes them back in the TSecr of its ACK (`encode_ts_options`, `decode_ts_options`).

Everything here is a pure function of its arguments: the caller passes the secrets and
the current time, so simulations replay bit for bit.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

__all__ = [
    "COOKIE_PERIOD_US",
    "MAX_SYNCOOKIE_AGE",
    "MSS_TABLE_V4",
    "MSS_TABLE_V6",
    "CookieSecrets",
    "check_cookie",
    "decode_ts_options",
    "encode_ts_options",
    "make_cookie",
]

_MASK32 = 0xFFFFFFFF
_COOKIE_BITS = 24  # low bits: second hash + MSS index; high 8 bits: the minute counter
_COOKIE_MASK = (1 << _COOKIE_BITS) - 1
_COUNT_MASK = _MASK32 >> _COOKIE_BITS  # what survives of the counter in the cookie

#: The cookie clock ticks once a minute (Linux: TCP_SYNCOOKIE_PERIOD = 60 * HZ).
COOKIE_PERIOD_US = 60_000_000

#: A cookie is accepted while the counter has advanced by less than this many ticks
#: (Linux: ``diff >= MAX_SYNCOOKIE_AGE`` rejects). So it lives between 60 and 120 seconds,
#: depending on where in the minute it was made.
MAX_SYNCOOKIE_AGE = 2

#: MSS values a cookie can carry, sorted (Linux's msstab, from Alcock and Nelson's 2011
#: survey of announced MSS values: 1460 is the most common, 1300-1349 the next).
MSS_TABLE_V4 = (536, 1300, 1440, 1460)
#: IPv6: the MTUs 1280, 1480, 1500 and 9000 less 60 bytes of headers (Linux's msstab v6).
MSS_TABLE_V6 = (1220, 1420, 1440, 8940)

# Timestamp option bits in the low 6 bits of TSval (Linux: TSBITS, TS_OPT_*).
_TS_BITS = 6
_TS_WSCALE_MASK = 0xF  # 0xF means "the SYN had no window-scale option"
_TS_SACK = 1 << 4
_TS_ECN = 1 << 5
_MAX_WSCALE = 14  # RFC 7323 section 2.3

_PORTS_COUNT = struct.Struct("!HHI")


@dataclass(frozen=True, slots=True)
class CookieSecrets:
    """The two hash keys: k0 hides the time-free part, k1 the per-minute part.

    Two independent keys (as in Linux) keep the minute counter from being recoverable
    from one hash alone. Each key is 16 to 32 bytes (BLAKE2s takes at most 32).
    """

    k0: bytes = field(repr=False)
    k1: bytes = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("k0", "k1"):
            if not 16 <= len(getattr(self, name)) <= 32:
                raise ValueError(f"{name} must be 16 to 32 bytes")

    @classmethod
    def from_key(cls, key: bytes) -> CookieSecrets:
        """Derive both keys from one secret (for example the stack's ISN key).

        The personalisation strings separate the derived keys from each other and from
        any other use of ``key``, so one secret can seed ISNs and cookies safely.
        """
        if len(key) < 16:
            raise ValueError("key must be at least 16 bytes")
        return cls(
            hashlib.blake2s(key, person=b"sckie-k0").digest(),
            hashlib.blake2s(key, person=b"sckie-k1").digest(),
        )


def _hash(key: bytes, saddr: bytes, daddr: bytes, sport: int, dport: int, count: int) -> int:
    """32-bit keyed hash of the 4-tuple and counter (Linux: SipHash; here BLAKE2s)."""
    data = saddr + daddr + _PORTS_COUNT.pack(sport, dport, count)
    return int.from_bytes(hashlib.blake2s(data, key=key, digest_size=4).digest(), "big")


def _count(now_us: int) -> int:
    """Minutes on the caller's clock, as the u32 that Linux's tcp_cookie_time() returns."""
    return (now_us // COOKIE_PERIOD_US) & _MASK32


def _table(saddr: bytes, daddr: bytes, v6: bool) -> tuple[int, int, int, int]:
    size = 16 if v6 else 4
    if len(saddr) != size or len(daddr) != size:
        raise ValueError(f"{'IPv6' if v6 else 'IPv4'} addresses must be {size} packed bytes")
    return MSS_TABLE_V6 if v6 else MSS_TABLE_V4


def make_cookie(
    secrets: CookieSecrets,
    saddr: bytes,
    daddr: bytes,
    sport: int,
    dport: int,
    client_isn: int,
    client_mss: int,
    now_us: int,
    v6: bool,
) -> tuple[int, int]:
    """The ISS for a SYN,ACK answering a SYN statelessly, and the MSS it commits us to.

    The MSS is the largest table entry not above ``client_mss`` (the first entry when
    ``client_mss`` is below them all), because only its index fits in the cookie. Pass
    the MSS the SYN announced (or the default when it had none), clamped by any local
    limit, as Linux passes ``mss_clamp``.
    """
    table = _table(saddr, daddr, v6)
    index = len(table) - 1
    while index and client_mss < table[index]:
        index -= 1
    count = _count(now_us)
    iss = (
        _hash(secrets.k0, saddr, daddr, sport, dport, 0)
        + client_isn
        + (count << _COOKIE_BITS)
        + ((_hash(secrets.k1, saddr, daddr, sport, dport, count) + index) & _COOKIE_MASK)
    ) & _MASK32
    return iss, table[index]


def check_cookie(
    secrets: CookieSecrets,
    saddr: bytes,
    daddr: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    now_us: int,
    v6: bool,
) -> int | None:
    """The MSS encoded in the ACK of a cookie handshake, or None if it is no valid cookie.

    ``seq`` and ``ack`` are the ACK segment's fields: the cookie is ``ack - 1`` and the
    client's ISN ``seq - 1`` (so an ACK that already carries data still works, provided
    its sequence number is the first after the SYN). A forged ACK passes with probability
    about 2**-29: 2 in 256 minute values, then 4 in 2**24 index values.
    """
    table = _table(saddr, daddr, v6)
    cookie = (ack - 1) & _MASK32
    client_isn = (seq - 1) & _MASK32
    count = _count(now_us)
    rest = (cookie - _hash(secrets.k0, saddr, daddr, sport, dport, 0) - client_isn) & _MASK32
    # Only the counter's low 8 bits are in the cookie: the age is their difference, mod 256.
    age = (count - (rest >> _COOKIE_BITS)) & _COUNT_MASK
    if age >= MAX_SYNCOOKIE_AGE:
        return None
    sent_count = (count - age) & _MASK32  # the full counter the SYN,ACK was made with
    index = (rest - _hash(secrets.k1, saddr, daddr, sport, dport, sent_count)) & _COOKIE_MASK
    return table[index] if index < len(table) else None


def encode_ts_options(ts_now: int, wscale: int | None, sack_ok: bool, ecn: bool) -> int:
    """The TSval for a cookie SYN,ACK: ``ts_now`` with its low 6 bits holding the options.

    ``ts_now`` is the TSval the SYN,ACK would otherwise carry (the connection's timestamp
    clock, offset included) and ``wscale`` the shift the *peer's* SYN announced (None if
    it sent no window-scale option; values above 14 count as 14, RFC 7323 section 2.3).

    The result never exceeds ``ts_now`` (mod 2**32): later TSvals come from the same
    clock and must not appear to go backwards (RFC 7323 section 5.4 / PAWS). If the
    option bits are larger than the clock's low bits, Linux steps back one 64-tick
    block rather than forward.
    """
    if wscale is None:
        options = _TS_WSCALE_MASK
    elif wscale < 0:
        raise ValueError("wscale must not be negative")
    else:
        options = min(wscale, _MAX_WSCALE)
    if sack_ok:
        options |= _TS_SACK
    if ecn:
        options |= _TS_ECN
    ts_now &= _MASK32
    ts = (ts_now >> _TS_BITS << _TS_BITS) | options
    if ts > ts_now:
        ts -= 1 << _TS_BITS
    return ts & _MASK32


def decode_ts_options(
    tsecr: int, *, sack_enabled: bool = True, window_scaling: bool = True
) -> tuple[int | None, bool, bool] | None:
    """(wscale or None, SACK-permitted, ECN) from the TSecr of a cookie ACK, or None.

    Use it only when the ACK carries a timestamp option; without one Linux rebuilds the
    connection with no window scaling, SACK or timestamps at all. Subtract any timestamp
    offset first if `encode_ts_options` was given a clock without it.

    As in Linux's cookie_timestamp_decode(), the bits are rejected (None) when they claim
    an option this host has turned off (``sack_enabled``, ``window_scaling``): we never
    put such bits in a SYN,ACK, so the ACK is forged or stale. Every other pattern is
    valid: 4 bits hold window scales 0..14 and 0xF for "none". ECN is only what the peer
    asked for; the caller still ANDs it with its own ECN setting.
    """
    options = tsecr & ((1 << _TS_BITS) - 1)
    sack_ok = bool(options & _TS_SACK)
    ecn = bool(options & _TS_ECN)
    if sack_ok and not sack_enabled:
        return None
    wscale = options & _TS_WSCALE_MASK
    if wscale == _TS_WSCALE_MASK:
        return None, sack_ok, ecn
    if not window_scaling:
        return None
    return wscale, sack_ok, ecn
