"""IPv4 header (RFC 791) encode and decode.

Fragments are refused ("unsupported"): synack sends with DF set and never reassembles, as
a TCP that does path-MTU discovery rarely sees fragments. ``frag_offset`` is the raw
13-bit field, in units of 8 bytes, so that tests can still build fragments.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import (
    BAD_CHECKSUM,
    BAD_HEADER_LENGTH,
    BAD_TOTAL_LENGTH,
    BAD_VERSION,
    TRUNCATED,
    UNSUPPORTED,
    MalformedPacket,
)

Buffer = bytes | bytearray | memoryview

FLAG_DF = 0x4000
FLAG_MF = 0x2000
_FRAG_MASK = 0x3FFF  # MF and the offset: either one makes a fragment

# version/IHL, TOS, total length, ident, flags/offset, TTL, protocol, checksum, src, dst
_HEADER = struct.Struct("!BBHHHBBH4s4s")
# The per-packet fast path reads only what it needs.
_FAST = struct.Struct("!B1xH2xH1xB2x4s4s")


@dataclass(slots=True)
class IPv4Header:
    """The fields of an IPv4 header that are not derived (length, IHL and checksum are)."""

    src: bytes
    dst: bytes
    protocol: int
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    dont_fragment: bool = True
    more_fragments: bool = False
    frag_offset: int = 0
    options: bytes = b""


def _split_ipv4(packet: bytes | memoryview) -> tuple[bytes, bytes, int, memoryview]:
    """Validate and return (src, dst, protocol, payload) without building a header object."""
    mv = memoryview(packet)
    n = len(mv)
    if n >= 20:
        vi, total, frag, proto, src, dst = _FAST.unpack_from(mv)
        # 0x45..0x4F is version 4 with an IHL of at least 5 words.
        if 0x45 <= vi <= 0x4F:
            hl = (vi & 0x0F) << 2
            if (
                hl <= total <= n
                and not frag & _FRAG_MASK
                and not int.from_bytes(packet[:hl], "big") % 0xFFFF
            ):
                return src, dst, proto, mv[hl:total]
    raise _diagnose(mv)


def _diagnose(mv: memoryview) -> MalformedPacket:
    """Name what is wrong with a packet the fast path refused, in the order Linux checks."""
    n = len(mv)
    if n < 20:
        return MalformedPacket(TRUNCATED, f"IPv4 header needs 20 bytes, have {n}")
    vi, _tos, total, _ident, frag = _HEADER.unpack_from(mv)[:5]
    if vi >> 4 != 4:
        return MalformedPacket(BAD_VERSION, f"version {vi >> 4} in an IPv4 header")
    hl = (vi & 0x0F) << 2
    if hl < 20:
        return MalformedPacket(BAD_HEADER_LENGTH, f"IHL {hl >> 2} < 5")
    if hl > n:
        return MalformedPacket(TRUNCATED, f"IPv4 header length {hl} > packet length {n}")
    if int.from_bytes(mv[:hl], "big") % 0xFFFF:
        return MalformedPacket(BAD_CHECKSUM, "IPv4 header checksum")
    if total > n:
        return MalformedPacket(TRUNCATED, f"IPv4 total length {total} > packet length {n}")
    if total < hl:
        return MalformedPacket(BAD_TOTAL_LENGTH, f"IPv4 total length {total} < IHL*4 {hl}")
    if frag & _FRAG_MASK:
        return MalformedPacket(UNSUPPORTED, "IPv4 fragment")
    raise AssertionError("_diagnose called on a valid IPv4 packet")  # pragma: no cover


def parse_ipv4(packet: bytes | memoryview) -> tuple[IPv4Header, memoryview]:
    """Decode an IPv4 packet; the payload is trimmed to the total length (link padding)."""
    src, dst, proto, payload = _split_ipv4(packet)
    vi, tos, _total, ident, frag, ttl = _HEADER.unpack_from(packet)[:6]
    hl = (vi & 0x0F) << 2
    header = IPv4Header(
        src,
        dst,
        proto,
        ttl,
        tos,
        ident,
        bool(frag & FLAG_DF),
        False,
        0,
        bytes(packet[20:hl]),
    )
    return header, payload


def build_ipv4(header: IPv4Header, payload: Buffer) -> bytes:
    """Encode header and payload, computing the IHL, total length and header checksum."""
    options = header.options
    src = header.src
    dst = header.dst
    if len(src) != 4 or len(dst) != 4:
        raise ValueError("IPv4 addresses must be 4 bytes")
    if len(options) & 3 or len(options) > 40:
        raise ValueError("IPv4 options must be a multiple of 4 bytes, at most 40")
    if not 0 <= header.frag_offset <= 0x1FFF:
        raise ValueError(f"frag_offset {header.frag_offset} does not fit 13 bits")
    hl = 20 + len(options)
    total = hl + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"IPv4 packet of {total} bytes is too long")
    frag = header.frag_offset
    if header.dont_fragment:
        frag |= FLAG_DF
    if header.more_fragments:
        frag |= FLAG_MF
    vi = 0x40 | (hl >> 2)
    ttl = header.ttl
    proto = header.protocol
    ident = header.ident
    tos = header.tos
    # The header checksum straight from the field values (see checksum.py for why this works).
    x = (
        (vi << 8 | tos)
        + total
        + ident
        + frag
        + (ttl << 8 | proto)
        + int.from_bytes(src, "big")
        + int.from_bytes(dst, "big")
        + int.from_bytes(options, "big")
    )
    csum = ~(x % 0xFFFF or 0xFFFF) & 0xFFFF
    try:
        head = _HEADER.pack(vi, tos, total, ident, frag, ttl, proto, csum, src, dst)
    except struct.error as exc:
        raise ValueError(f"IPv4 header field out of range: {exc}") from None
    return b"".join((head, options, payload))
