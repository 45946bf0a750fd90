"""ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages, and the packet an error message quotes.

Both versions share one layout: type, code, checksum, four "rest of header" bytes (echo
identifier and sequence, a next-hop MTU, a pointer, or unused) and a body. They differ in
the checksum: ICMPv4 sums the message alone, ICMPv6 adds the IPv6 pseudo-header. The
address length (4 or 16 bytes) picks the version, as everywhere in ``synack.wire``.

An error message quotes the start of the packet that caused it: its IP header and at
least the first 8 bytes of the transport header, which for TCP hold both ports and the
sequence number, enough to find the connection (RFC 1122 4.2.3.9, RFC 5927).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .checksum import pseudo_sum
from .errors import (
    BAD_CHECKSUM,
    BAD_HEADER_LENGTH,
    BAD_VERSION,
    TRUNCATED,
    UNSUPPORTED,
    MalformedPacket,
)
from .ip import PROTO_ICMPV6
from .ipv6 import _SPECIAL as _V6_EXTENSIONS
from .ipv6 import _skip_extensions

Buffer = bytes | bytearray | memoryview

# ICMPv4 types (RFC 792) and destination-unreachable codes (RFC 792, RFC 1812).
ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_SOURCE_QUENCH = 4
ICMP_REDIRECT = 5
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PARAM_PROBLEM = 12
ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4
ICMP_PKT_FILTERED = 13

# ICMPv6 types and destination-unreachable codes (RFC 4443, RFC 4861, RFC 3810).
ICMPV6_DEST_UNREACH = 1
ICMPV6_PKT_TOO_BIG = 2
ICMPV6_TIME_EXCEEDED = 3
ICMPV6_PARAM_PROBLEM = 4
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
ICMPV6_NO_ROUTE = 0
ICMPV6_ADM_PROHIBITED = 1
ICMPV6_ADDR_UNREACH = 3
ICMPV6_PORT_UNREACH = 4

# type, code, checksum, rest of header
_HEADER = struct.Struct("!BBH4s")
_PORTS_SEQ = struct.Struct("!HHI")
# version/IHL, 7 bytes skipped, protocol, checksum, src, dst (the quoted IPv4 header)
_QUOTED_V4 = struct.Struct("!B5xH1xB2x4s4s")
_V4_FRAG_OFFSET = 0x1FFF


@dataclass(slots=True, frozen=True)
class IcmpMessage:
    """One ICMP message; ``rest`` is the 4 bytes after the checksum, whatever the type."""

    type: int
    code: int
    rest: bytes = bytes(4)
    body: bytes = b""

    @property
    def identifier(self) -> int:
        """Echo identifier (first half of ``rest``)."""
        return int.from_bytes(self.rest[:2], "big")

    @property
    def sequence(self) -> int:
        """Echo sequence number (second half of ``rest``)."""
        return int.from_bytes(self.rest[2:4], "big")

    @property
    def next_hop_mtu(self) -> int:
        """The MTU an ICMPv4 "fragmentation needed" reports (RFC 1191: bytes 6-7)."""
        return int.from_bytes(self.rest[2:4], "big")

    @property
    def mtu(self) -> int:
        """The MTU an ICMPv6 "packet too big" reports (32 bits)."""
        return int.from_bytes(self.rest, "big")


def echo_rest(identifier: int, sequence: int) -> bytes:
    """The ``rest`` field of an echo request or reply."""
    if not 0 <= identifier <= 0xFFFF or not 0 <= sequence <= 0xFFFF:
        raise ValueError(f"echo identifier {identifier} or sequence {sequence} out of range")
    return identifier.to_bytes(2, "big") + sequence.to_bytes(2, "big")


def _pseudo(src: bytes, dst: bytes, length: int) -> int:
    """0 for ICMPv4 (no pseudo-header), the IPv6 pseudo-header sum for ICMPv6."""
    n = len(src)
    if n == 4 and len(dst) == 4:
        return 0
    if n == 16 and len(dst) == 16:
        return pseudo_sum(src, dst, PROTO_ICMPV6, length)
    raise ValueError(f"addresses must both be 4 or 16 bytes, not {n} and {len(dst)}")


def parse_icmp(data: Buffer, src: bytes, dst: bytes, verify_checksum: bool = True) -> IcmpMessage:
    """Decode an ICMP message carried between src and dst (4 bytes: v4, 16 bytes: v6)."""
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    pseudo = _pseudo(src, dst, n)
    if n < 8:
        raise MalformedPacket(TRUNCATED, f"ICMP header needs 8 bytes, have {n}")
    if verify_checksum:
        x = int.from_bytes(data, "big")
        if n & 1:
            x <<= 8
        if (x + pseudo) % 0xFFFF:
            raise MalformedPacket(BAD_CHECKSUM, "ICMPv6 checksum" if pseudo else "ICMP checksum")
    kind, code, _csum, rest = _HEADER.unpack_from(data)
    return IcmpMessage(kind, code, rest, data[8:])


def build_icmp(message: IcmpMessage, src: bytes, dst: bytes) -> bytes:
    """Encode a message with its checksum (over the IPv6 pseudo-header for 16-byte addresses)."""
    rest = message.rest
    if len(rest) != 4:
        raise ValueError(f"ICMP rest of header must be 4 bytes, not {len(rest)}")
    body = message.body
    n = 8 + len(body)
    if n > 0xFFFF:
        raise ValueError(f"ICMP message of {n} bytes is too long")
    try:
        head = _HEADER.pack(message.type, message.code, 0, rest)
    except struct.error as exc:
        raise ValueError(f"ICMP header field out of range: {exc}") from None
    x = int.from_bytes(head + body, "big")
    if n & 1:
        x <<= 8
    x += _pseudo(src, dst, n)
    csum = ~(x % 0xFFFF or 0xFFFF) & 0xFFFF
    return head[:2] + csum.to_bytes(2, "big") + head[4:] + body


@dataclass(slots=True, frozen=True)
class QuotedPacket:
    """What an ICMP error quotes of the packet that caused it.

    ``src_port``, ``dst_port`` and ``seq`` are the first 8 bytes of the transport header
    read as TCP reads them; for another protocol they are whatever those bytes hold.
    """

    src: bytes
    dst: bytes
    protocol: int
    src_port: int
    dst_port: int
    seq: int


def parse_quoted(body: Buffer, v6: bool) -> QuotedPacket:
    """Decode the IP header and first 8 transport bytes an ICMP error message quotes.

    The quote may be cut anywhere after those 8 bytes, so lengths and the quoted IPv4
    header checksum are not checked (a router may have rewritten the TTL it quotes).
    """
    mv = memoryview(body)
    n = len(mv)
    if v6:
        if n < 40:
            raise MalformedPacket(TRUNCATED, f"quoted IPv6 header needs 40 bytes, have {n}")
        if mv[0] >> 4 != 6:
            raise MalformedPacket(BAD_VERSION, f"version {mv[0] >> 4} quoted in ICMPv6")
        src = bytes(mv[8:24])
        dst = bytes(mv[24:40])
        protocol = mv[6]
        off = 40
        if protocol in _V6_EXTENSIONS:
            protocol, off = _skip_extensions(mv, protocol, n)
    else:
        if n < 20:
            raise MalformedPacket(TRUNCATED, f"quoted IPv4 header needs 20 bytes, have {n}")
        vi, frag, protocol, src, dst = _QUOTED_V4.unpack_from(mv)
        if vi >> 4 != 4:
            raise MalformedPacket(BAD_VERSION, f"version {vi >> 4} quoted in ICMP")
        off = (vi & 0x0F) << 2
        if off < 20:
            raise MalformedPacket(BAD_HEADER_LENGTH, f"quoted IHL {off >> 2} < 5")
        if frag & _V4_FRAG_OFFSET:
            raise MalformedPacket(UNSUPPORTED, "quoted IPv4 fragment holds no transport header")
    if off + 8 > n:
        raise MalformedPacket(TRUNCATED, f"quote ends before 8 transport bytes ({n} bytes)")
    src_port, dst_port, seq = _PORTS_SEQ.unpack_from(mv, off)
    return QuotedPacket(src, dst, protocol, src_port, dst_port, seq)
