"""Version-independent IP entry points: the per-packet path of the stack.

Callers above this layer deal in (src, dst, protocol, payload) and never branch on the IP
version themselves; the address length (4 or 16 bytes) carries the version.
"""

from __future__ import annotations

import struct

from .errors import BAD_VERSION, TRUNCATED, MalformedPacket
from .ipv4 import _HEADER, FLAG_DF, _split_ipv4
from .ipv6 import IPv6Header, _split_ipv6, build_ipv6

Buffer = bytes | bytearray | memoryview

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_ICMPV6 = 58


def parse_ip(packet: bytes | memoryview) -> tuple[bytes, bytes, int, memoryview]:
    """Decode an IPv4 or IPv6 packet into (src, dst, upper-layer protocol, payload)."""
    if not packet:
        raise MalformedPacket(TRUNCATED, "empty packet")
    version = packet[0] >> 4
    if version == 4:
        return _split_ipv4(packet)
    if version == 6:
        return _split_ipv6(packet)
    raise MalformedPacket(BAD_VERSION, f"IP version {version}")


def build_ip(src: bytes, dst: bytes, protocol: int, payload: Buffer, ttl: int = 64) -> bytes:
    """Encode an IP packet, IPv4 for 4-byte addresses and IPv6 for 16-byte ones.

    IPv4 goes out with DF set and ident 0, as Linux does for path-MTU-discovering TCP.
    """
    n = len(src)
    if n == 4 and len(dst) == 4:
        total = 20 + len(payload)
        if total > 0xFFFF:
            raise ValueError(f"IPv4 packet of {total} bytes is too long")
        # One from_bytes call for both addresses: src + dst is src * 2**32 + dst, and
        # 2**32 = 1 modulo 0xFFFF.
        x = 0x4500 + total + FLAG_DF + (ttl << 8 | protocol) + int.from_bytes(src + dst, "big")
        csum = ~(x % 0xFFFF or 0xFFFF) & 0xFFFF
        try:
            head = _HEADER.pack(0x45, 0, total, 0, FLAG_DF, ttl, protocol, csum, src, dst)
        except struct.error as exc:
            raise ValueError(f"IPv4 header field out of range: {exc}") from None
        return head + payload
    if n == 16 and len(dst) == 16:
        return build_ipv6(IPv6Header(src, dst, protocol, ttl), payload)
    raise ValueError(f"addresses must both be 4 or 16 bytes, not {n} and {len(dst)}")


# ECN codepoints (RFC 3168 section 5): the two low bits of IPv4's TOS and IPv6's traffic class.
ECN_NOT_ECT = 0
ECN_ECT1 = 1
ECN_ECT0 = 2
ECN_CE = 3


def ip_ecn(packet: Buffer) -> int:
    """The ECN codepoint of an IPv4 or IPv6 packet (0 for anything shorter than 2 bytes)."""
    if len(packet) < 2:
        return ECN_NOT_ECT
    if packet[0] >> 4 == 6:
        return (packet[1] >> 4) & 3
    return packet[1] & 3


def with_ecn(packet: Buffer, codepoint: int) -> bytes:
    """The packet with its ECN field set to ``codepoint`` (IPv4's header checksum adjusted)."""
    if not 0 <= codepoint <= 3:
        raise ValueError(f"ECN codepoint {codepoint} is not in 0..3")
    out = bytearray(packet)
    if len(out) < 20:
        raise ValueError("not an IP packet: shorter than 20 bytes")
    version = out[0] >> 4
    if version == 6:
        out[1] = (out[1] & 0xCF) | codepoint << 4
        return bytes(out)
    if version != 4:
        raise ValueError(f"IP version {version}")
    old = out[1]
    new = (old & 0xFC) | codepoint
    if new != old:
        # RFC 1624 incremental update: HC' = ~(~HC + ~m + m'), m the 16-bit word changed.
        word_old = out[0] << 8 | old
        word_new = out[0] << 8 | new
        csum = (~int.from_bytes(out[10:12], "big") & 0xFFFF) + (~word_old & 0xFFFF) + word_new
        while csum >> 16:
            csum = (csum & 0xFFFF) + (csum >> 16)
        out[1] = new
        out[10:12] = (~csum & 0xFFFF).to_bytes(2, "big")
    return bytes(out)
