"""The internet checksum (RFC 1071) and the TCP/UDP pseudo-header sums.

Python is slow per operation, so there is no loop over 16-bit words: the data becomes one
big integer and is reduced modulo 0xFFFF. Because 2**16 == 1 (mod 0xFFFF), a big-endian
integer is congruent to the sum of its 16-bit words, which is exactly what the end-around
carry of one's-complement addition computes. Measured (CPython 3.11, 2 cores) against an
``array('H')`` sum: 1460 bytes 4.1 us vs 15-18 us, 40 bytes 0.53 us vs 1.1 us.
"""

from __future__ import annotations

Buffer = bytes | bytearray | memoryview

# Masks of the low 16k bits, by k: fold_ffff splits big integers with them.
_LOW_BITS: dict[int, int] = {}
_LOW_6144 = (1 << 6144) - 1
_LOW_3072 = (1 << 3072) - 1
_LOW_1536 = (1 << 1536) - 1


def fold_ffff(x: int) -> int:
    """``x % 0xFFFF`` for x >= 0, cheaper for integers of whole segments.

    Long division by 0xFFFF costs a hardware division per 30-bit digit. Since 2**16 is 1
    modulo 0xFFFF, the high and low halves of x (split at a multiple of 16 bits) can be
    added instead, at the cost of a shift and a mask; three halvings bring a 1500-byte
    segment down to 200 bytes, and only those are divided (measured: 1.1 us instead of
    1.9 us for 1500 bytes).
    """
    n = x.bit_length()
    if n <= 1536:
        return x % 0xFFFF
    while n > 12288:  # beyond one Ethernet frame: halve until it is that small
        k = ((n + 31) >> 5) << 4  # half the bits, rounded up to a multiple of 16
        mask = _LOW_BITS.get(k)
        if mask is None:
            mask = _LOW_BITS[k] = (1 << k) - 1
        x = (x >> k) + (x & mask)
        n = x.bit_length()
    if n > 6144:
        x = (x >> 6144) + (x & _LOW_6144)
    x = (x >> 3072) + (x & _LOW_3072)  # now below 2**3073 ...
    x = (x >> 1536) + (x & _LOW_1536)  # ... and below 2**1538
    return x % 0xFFFF


def ones_sum(data: Buffer, start: int = 0) -> int:
    """16-bit one's-complement sum of ``data`` (odd length padded with a zero) plus ``start``.

    The result is folded but not inverted, so partial sums can be chained through ``start``.
    Like end-around-carry addition, a non-zero total folds to 0xFFFF rather than 0.
    """
    x = int.from_bytes(data, "big")
    if len(data) & 1:
        x <<= 8
    x += start
    return x % 0xFFFF or (0xFFFF if x else 0)


def checksum(data: Buffer, start: int = 0) -> int:
    """The internet checksum: the inverted one's-complement sum, ready for a header field."""
    return ~ones_sum(data, start) & 0xFFFF


def pseudo_sum(src: bytes, dst: bytes, protocol: int, length: int) -> int:
    """One's-complement sum of the IPv4 or IPv6 pseudo-header, chosen by address length.

    Both pseudo-headers sum to the same value: the addresses, the protocol and the
    upper-layer length (16 bits in IPv4, 32 bits in IPv6, congruent modulo 0xFFFF).
    """
    if len(src) != len(dst) or len(src) not in (4, 16):
        raise ValueError(f"addresses must both be 4 or 16 bytes, not {len(src)} and {len(dst)}")
    x = int.from_bytes(src, "big") + int.from_bytes(dst, "big") + protocol + length
    return x % 0xFFFF or (0xFFFF if x else 0)
