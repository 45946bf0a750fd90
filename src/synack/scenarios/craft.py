"""Crafting and recognising raw segments, for scenarios that inject or drop by content."""

from __future__ import annotations

from synack.stack import pack_address
from synack.wire.errors import MalformedPacket
from synack.wire.ip import PROTO_TCP, build_ip, parse_ip
from synack.wire.tcp import TcpOptions, TcpSegment, build_tcp, parse_tcp


def segment_bytes(
    src: str,
    src_port: int,
    dst: str,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int = 65535,
    payload: bytes = b"",
    options: TcpOptions | None = None,
    urgent: int = 0,
) -> bytes:
    """A complete IP packet carrying one TCP segment with a correct checksum."""
    s, d = pack_address(src), pack_address(dst)
    seg = TcpSegment(
        src_port,
        dst_port,
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        flags,
        window,
        urgent,
        options,
        payload,
    )
    return build_ip(s, d, PROTO_TCP, build_tcp(seg, s, d))


def decode(packet: bytes) -> TcpSegment | None:
    """The TCP segment in an IP packet, or None if it holds none (or is malformed)."""
    try:
        src, dst, protocol, payload = parse_ip(packet)
        if protocol != PROTO_TCP:
            return None
        return parse_tcp(payload, src, dst, verify_checksum=False)
    except MalformedPacket:
        return None


def flip_bit(packet: bytes, index: int) -> bytes:
    """The packet with one bit of its last byte flipped (a payload byte for data)."""
    data = bytearray(packet)
    data[index] ^= 0x01
    return bytes(data)
