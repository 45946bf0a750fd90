"""IPv6 header (RFC 8200) encode and decode, skipping the extension headers TCP may meet.

The decoder walks hop-by-hop, routing and destination-options headers so that callers see
the upper-layer protocol directly; routing headers are skipped as if Segments Left were 0
(an end host). A fragment header is refused ("unsupported"), as synack never reassembles.
The encoder writes no extension headers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import (
    BAD_HEADER_LENGTH,
    BAD_OPTION,
    BAD_VERSION,
    TRUNCATED,
    UNSUPPORTED,
    MalformedPacket,
)

Buffer = bytes | bytearray | memoryview

NH_HOP_BY_HOP = 0
NH_ROUTING = 43
NH_FRAGMENT = 44
NH_DEST_OPTIONS = 60
_SKIPPED = frozenset({NH_HOP_BY_HOP, NH_ROUTING, NH_DEST_OPTIONS})
_SPECIAL = _SKIPPED | {NH_FRAGMENT}

# version/traffic class/flow label, payload length, next header, hop limit, src, dst
_HEADER = struct.Struct("!IHBB16s16s")


@dataclass(slots=True)
class IPv6Header:
    """The fixed IPv6 header; after decoding, ``next_header`` is the upper-layer protocol."""

    src: bytes
    dst: bytes
    next_header: int
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0


def _unpack(packet: bytes | memoryview) -> tuple[memoryview, int, int, int, int, bytes, bytes]:
    """Check the fixed header and return (view, first word, end, next header, hop, src, dst)."""
    mv = memoryview(packet)
    n = len(mv)
    if n < 40:
        raise MalformedPacket(TRUNCATED, f"IPv6 header needs 40 bytes, have {n}")
    vtf, plen, nh, hlim, src, dst = _HEADER.unpack_from(mv)
    if vtf >> 28 != 6:
        raise MalformedPacket(BAD_VERSION, f"version {vtf >> 28} in an IPv6 header")
    end = 40 + plen
    if end > n:
        raise MalformedPacket(TRUNCATED, f"IPv6 payload length {plen} > {n - 40} bytes present")
    return mv, vtf, end, nh, hlim, src, dst


def _skip_extensions(mv: memoryview, nh: int, end: int) -> tuple[int, int]:
    """Walk extension headers from offset 40; return (upper-layer protocol, its offset)."""
    off = 40
    while nh in _SPECIAL:
        if nh == NH_FRAGMENT:
            raise MalformedPacket(UNSUPPORTED, "IPv6 fragment header")
        if nh == NH_HOP_BY_HOP and off != 40:
            # RFC 8200 4.1: only directly after the IPv6 header; Linux drops it elsewhere.
            raise MalformedPacket(BAD_OPTION, "IPv6 hop-by-hop header not first")
        if off + 2 > end:
            raise MalformedPacket(BAD_HEADER_LENGTH, f"IPv6 extension header {nh} past payload")
        hlen = (mv[off + 1] + 1) << 3
        if off + hlen > end:
            raise MalformedPacket(
                BAD_HEADER_LENGTH, f"IPv6 extension header {nh} of {hlen} bytes past payload"
            )
        nh = mv[off]
        off += hlen
    return nh, off


def _split_ipv6(packet: bytes | memoryview) -> tuple[bytes, bytes, int, memoryview]:
    """Validate and return (src, dst, upper protocol, payload) without a header object."""
    mv, _vtf, end, nh, _hlim, src, dst = _unpack(packet)
    if nh in _SPECIAL:
        nh, off = _skip_extensions(mv, nh, end)
        return src, dst, nh, mv[off:end]
    return src, dst, nh, mv[40:end]


def parse_ipv6(packet: bytes | memoryview) -> tuple[IPv6Header, memoryview]:
    """Decode an IPv6 packet; trailing bytes beyond the payload length are ignored."""
    mv, vtf, end, nh, hlim, src, dst = _unpack(packet)
    off = 40
    if nh in _SPECIAL:
        nh, off = _skip_extensions(mv, nh, end)
    header = IPv6Header(src, dst, nh, hlim, (vtf >> 20) & 0xFF, vtf & 0xFFFFF)
    return header, mv[off:end]


def build_ipv6(header: IPv6Header, payload: Buffer) -> bytes:
    """Encode the fixed header (no extension headers) followed by the payload."""
    src = header.src
    dst = header.dst
    if len(src) != 16 or len(dst) != 16:
        raise ValueError("IPv6 addresses must be 16 bytes")
    tc = header.traffic_class
    flow = header.flow_label
    if not 0 <= tc <= 0xFF or not 0 <= flow <= 0xFFFFF:
        raise ValueError(f"traffic class {tc} or flow label {flow} out of range")
    plen = len(payload)
    if plen > 0xFFFF:
        raise ValueError(f"IPv6 payload of {plen} bytes needs a jumbogram")
    try:
        head = _HEADER.pack(
            0x60000000 | tc << 20 | flow, plen, header.next_header, header.hop_limit, src, dst
        )
    except struct.error as exc:
        raise ValueError(f"IPv6 header field out of range: {exc}") from None
    return head + payload
