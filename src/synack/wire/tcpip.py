"""A TCP segment inside an IP packet, encoded and decoded in one pass.

The stack's per-segment path. Almost every segment of a connection is IPv4 without IP
options, with a TCP header that is bare or carries only the NOP,NOP,TIMESTAMP block.
For those, one struct call covers both headers, and both checksums come from the field
values plus one big-integer sum over the packet (see checksum.py and "Little-endian
checksums" in tcp.py for why that works). Every other packet goes the general way
(`ip`, `tcp`), which also names what is wrong: the bytes, results and errors are the same
either way, only the cost differs.
"""

from __future__ import annotations

import struct

from .checksum import fold_ffff
from .ip import PROTO_TCP, build_ip
from .ipv4 import FLAG_DF
from .tcp import TcpOptions, TcpSegment, build_tcp

# IPv4 header (no options) then the TCP header.
_V4_TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")
# The same for decoding, with TTL and protocol read as one 16-bit word (as the checksum sums it).
_V4_TCP_IN = struct.Struct("!BBHHHHH4s4sHHIIBBHHH")
# The same followed by the NOP,NOP,TIMESTAMP block (its first word is _TS_WORD).
_V4_TCP_TS = struct.Struct("!BBHHHBBH4s4sHHIIBBHHHIII")
_V4_TCP_TS_IN = struct.Struct("!BBHHHHH4s4sHHIIBBHHHIII")
_TS_WORD = 0x0101080A
_TS_LAYOUT = (1, 1, 8)  # NOP, NOP, TIMESTAMP
# What the fixed IPv4 fields add to the header checksum: version/IHL 0x45, DF, TTL 64 and
# protocol TCP; ident and TOS are 0.
_V4_FIXED = 0x4500 + FLAG_DF + (64 << 8 | PROTO_TCP)
_NOT_FRAGMENT = 0x3FFF  # MF and the fragment offset must be clear
# fold_ffff's masks, for its three halvings written out where a segment is at most 1536
# bytes (an Ethernet frame): x % 0xFFFF of a 12288-bit x without the call.
_LOW_6144 = (1 << 6144) - 1
_LOW_3072 = (1 << 3072) - 1
_LOW_1536 = (1 << 1536) - 1


def build_tcp_packet(segment: TcpSegment, src: bytes, dst: bytes) -> bytes:
    """``build_ip(src, dst, PROTO_TCP, build_tcp(segment, src, dst))``, in one pass when it
    can be (IPv4, no option or the timestamp alone in the default layout)."""
    options = segment.options
    if options is None:
        ts = None
    elif (
        options.timestamp is not None
        and not options.layout
        and options.mss is None
        and options.wscale is None
        and not options.sack_permitted
        and not options.sack_blocks
        and not options.unknown
    ):
        ts = options.timestamp
    else:
        return build_ip(src, dst, PROTO_TCP, build_tcp(segment, src, dst))
    if len(src) != 4 or len(dst) != 4:
        return build_ip(src, dst, PROTO_TCP, build_tcp(segment, src, dst))
    payload = segment.payload
    if ts is not None:
        return build_tcp_ts_packet(
            src,
            dst,
            segment.src_port,
            segment.dst_port,
            segment.seq,
            segment.ack,
            segment.flags,
            segment.window,
            segment.urgent,
            ts,
            payload,
        )
    addresses = int.from_bytes(src + dst, "big")
    sport = segment.src_port
    dport = segment.dst_port
    seq = segment.seq
    ack = segment.ack
    flags = segment.flags
    window = segment.window
    urgent = segment.urgent
    tcp_len = 20 + len(payload)
    total = 20 + tcp_len
    x = fold_ffff(int.from_bytes(payload, "little")) << 8 if payload else 0
    x += sport + dport + seq + ack + window + urgent + addresses + PROTO_TCP + tcp_len
    x += 0x5000 | flags
    csum = ~(x % 0xFFFF or 0xFFFF) & 0xFFFF
    ip = _V4_FIXED + total + addresses
    try:
        head = _V4_TCP.pack(
            0x45, 0, total, 0, FLAG_DF, 64, PROTO_TCP, ~(ip % 0xFFFF or 0xFFFF) & 0xFFFF, src, dst,
            sport, dport, seq, ack, 0x50, flags, window, csum, urgent,
        )  # fmt: skip
    except struct.error:
        # A field out of range (or a packet too long): the general path says which.
        return build_ip(src, dst, PROTO_TCP, build_tcp(segment, src, dst))
    return head + payload if payload else head


def build_tcp_ts_packet(
    src: bytes,
    dst: bytes,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    urgent: int,
    timestamp: tuple[int, int],
    payload: bytes,
) -> bytes:
    """`build_tcp_packet` of a segment whose only option is the timestamp, from its fields:
    the connection's data segments and ACKs are sent without a TcpSegment built for them.
    """
    if len(src) != 4 or len(dst) != 4:
        return _general(
            src, dst, src_port, dst_port, seq, ack, flags, window, urgent, timestamp, payload
        )
    addresses = int.from_bytes(src + dst, "big")
    tsval, tsecr = timestamp
    size = len(payload)
    tcp_len = 32 + size
    total = 20 + tcp_len
    if size > 1536:
        x = fold_ffff(int.from_bytes(payload, "little")) << 8
    elif size:
        x = int.from_bytes(payload, "little")  # fold_ffff(x), written out: once per segment
        x = (x >> 6144) + (x & _LOW_6144)
        x = (x >> 3072) + (x & _LOW_3072)
        x = ((x >> 1536) + (x & _LOW_1536)) % 0xFFFF << 8
    else:
        x = 0
    # The header's words: ports, seq, ack, offset and flags, window, urgent, the option
    # block (0x0101, 0x080A, TSval, TSecr), then the pseudo-header.
    x += (
        src_port + dst_port + seq + ack + (0x8000 | flags) + window + urgent
        + (0x0101 + 0x080A) + tsval + tsecr + addresses + PROTO_TCP + tcp_len
    )  # fmt: skip
    ip = _V4_FIXED + total + addresses
    try:
        head = _V4_TCP_TS.pack(
            0x45, 0, total, 0, FLAG_DF, 64, PROTO_TCP, ~(ip % 0xFFFF or 0xFFFF) & 0xFFFF, src, dst,
            src_port, dst_port, seq, ack, 0x80, flags, window, ~(x % 0xFFFF or 0xFFFF) & 0xFFFF,
            urgent, _TS_WORD, tsval, tsecr,
        )  # fmt: skip
    except struct.error:
        # A field out of range (or a packet too long): the general path says which.
        return _general(
            src, dst, src_port, dst_port, seq, ack, flags, window, urgent, timestamp, payload
        )
    return head + payload if payload else head


def _general(
    src: bytes,
    dst: bytes,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    urgent: int,
    timestamp: tuple[int, int],
    payload: bytes,
) -> bytes:
    options = TcpOptions(timestamp=timestamp)
    segment = TcpSegment(src_port, dst_port, seq, ack, flags, window, urgent, options, payload)
    return build_ip(src, dst, PROTO_TCP, build_tcp(segment, src, dst))


#: What `parse_tcp_fields` gives: src, dst, source port, destination port, seq, ack, flags,
#: window, urgent pointer, the timestamp (TSval, TSecr) or None, payload.
TcpFields = tuple[bytes, bytes, int, int, int, int, int, int, int, tuple[int, int] | None, bytes]


def parse_tcp_packet(packet: bytes) -> tuple[bytes, bytes, TcpSegment] | None:
    """(src, dst, segment) of a valid IPv4 packet without IP options that carries a valid
    TCP segment with a bare or timestamp-only header; None for any other packet, valid or
    not, which the caller then decodes the general way (`parse_ip`, `parse_tcp`)."""
    fields = parse_tcp_fields(packet)
    if fields is None:
        return None
    src, dst, sport, dport, seq, ack, flags, window, urgent, timestamp, payload = fields
    return src, dst, tcp_segment(sport, dport, seq, ack, flags, window, urgent, timestamp, payload)


def tcp_segment(
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    urgent: int,
    timestamp: tuple[int, int] | None,
    payload: bytes,
) -> TcpSegment:
    """The TcpSegment of fields from `parse_tcp_fields`, as `parse_tcp` decodes it."""
    options = (
        None if timestamp is None else TcpOptions(None, None, False, (), timestamp, (), _TS_LAYOUT)
    )
    return TcpSegment(src_port, dst_port, seq, ack, flags, window, urgent, options, payload)


def parse_tcp_fields(packet: bytes) -> TcpFields | None:
    """`parse_tcp_packet` without building objects: the stack's fast path for received
    segments reads the header fields straight from this tuple."""
    n = len(packet)
    if n < 40 or type(packet) is not bytes or packet[0] != 0x45:
        return None
    offset = packet[32]  # the TCP data offset, with the 4 reserved bits
    if offset == 0x80 and n >= 52:
        (
            _vi, tos, total, ident, frag, ttl_proto, ip_csum, src, dst,
            sport, dport, seq, ack, _offset, flags, window, _csum, urgent,
            word, tsval, tsecr,
        ) = _V4_TCP_TS_IN.unpack_from(packet)  # fmt: skip
        if word != _TS_WORD:
            return None
        timestamp: tuple[int, int] | None = (tsval, tsecr)
        payload = packet[52:]
    elif offset == 0x50:
        (
            _vi, tos, total, ident, frag, ttl_proto, ip_csum, src, dst,
            sport, dport, seq, ack, _offset, flags, window, _csum, urgent,
        ) = _V4_TCP_IN.unpack_from(packet)  # fmt: skip
        timestamp = None
        payload = packet[40:]
    else:
        return None
    if total != n or frag & _NOT_FRAGMENT or ttl_proto & 0xFF != PROTO_TCP:
        return None
    addresses = int.from_bytes(src + dst, "big")
    # The IPv4 header checksum from its fields: the sum of a valid header is 0 mod 0xFFFF.
    if (0x4500 + tos + total + ident + frag + ttl_proto + ip_csum + addresses) % 0xFFFF:
        return None
    # The TCP checksum over the whole packet read little-endian: a valid IPv4 header sums
    # to 0, so what is left is the segment's sum (scaled by 256, like the pseudo-header).
    pseudo = (addresses + PROTO_TCP + n - 20) << 8
    x = int.from_bytes(packet, "little")
    if n > 192:  # not an ACK: fold first
        if n > 1536:
            x = fold_ffff(x)
        else:  # fold_ffff(x), written out: once per segment
            x = (x >> 6144) + (x & _LOW_6144)
            x = (x >> 3072) + (x & _LOW_3072)
            x = (x >> 1536) + (x & _LOW_1536)
    if (x + pseudo) % 0xFFFF:
        return None
    return src, dst, sport, dport, seq, ack, flags, window, urgent, timestamp, payload
