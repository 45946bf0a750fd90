"""The version-independent entry points, and the whole IP + TCP decode path under fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6

from synack.wire import (
    ACK,
    BAD_VERSION,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    TRUNCATED,
    IPv4Header,
    IPv6Header,
    MalformedPacket,
    TcpSegment,
    build_ip,
    build_ipv4,
    build_ipv6,
    build_tcp,
    parse_ip,
    parse_ipv4,
    parse_tcp,
)

from .strategies import (
    FUZZ,
    LIGHT,
    MUTATE,
    addr_pair,
    ipv4_headers,
    ipv6_headers,
    ntop,
    payloads,
    tcp_segments,
    u8,
)

SRC4 = bytes([198, 18, 0, 1])
DST4 = bytes([198, 18, 0, 2])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")


def test_protocol_numbers() -> None:
    assert (PROTO_ICMP, PROTO_TCP, PROTO_ICMPV6) == (1, 6, 58)


@LIGHT
@given(header=ipv4_headers, payload=payloads)
def test_parse_ip_agrees_with_parse_ipv4(header: IPv4Header, payload: bytes) -> None:
    wire = build_ipv4(header, payload)
    src, dst, protocol, rest = parse_ip(wire)
    assert (src, dst, protocol, rest) == (header.src, header.dst, header.protocol, payload)
    assert parse_ipv4(wire)[1] == rest


@LIGHT
@given(header=ipv6_headers, payload=payloads)
def test_parse_ip_agrees_with_parse_ipv6(header: IPv6Header, payload: bytes) -> None:
    wire = build_ipv6(header, payload)
    src, dst, protocol, rest = parse_ip(memoryview(wire))
    assert (src, dst, protocol, rest) == (header.src, header.dst, header.next_header, payload)


def test_parse_ip_skips_ipv6_extension_headers() -> None:
    hop_by_hop = bytes([PROTO_TCP, 0]) + bytes(6)
    wire = build_ipv6(IPv6Header(SRC6, DST6, 0), hop_by_hop + b"segment")
    assert parse_ip(wire) == (SRC6, DST6, PROTO_TCP, b"segment")


def test_empty_packet_is_truncated() -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_ip(b"")
    assert info.value.reason == TRUNCATED


@pytest.mark.parametrize("version", [v for v in range(16) if v not in (4, 6)])
def test_other_versions(version: int) -> None:
    wire = bytearray(build_ip(SRC4, DST4, PROTO_TCP, bytes(20)))
    wire[0] = version << 4 | 5
    with pytest.raises(MalformedPacket) as info:
        parse_ip(bytes(wire))
    assert info.value.reason == BAD_VERSION


@pytest.mark.parametrize("wire", [b"\x45", b"\x45" + bytes(18), b"\x60" + bytes(38)])
def test_short_packets_are_truncated(wire: bytes) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_ip(wire)
    assert info.value.reason == TRUNCATED


@LIGHT
@given(addrs=addr_pair, protocol=u8, payload=payloads, ttl=u8)
def test_build_ip_is_the_default_header(
    addrs: tuple[bytes, bytes], protocol: int, payload: bytes, ttl: int
) -> None:
    src, dst = addrs
    wire = build_ip(src, dst, protocol, payload, ttl=ttl)
    if len(src) == 4:
        assert wire == build_ipv4(IPv4Header(src, dst, protocol, ttl=ttl), payload)
    else:
        assert wire == build_ipv6(IPv6Header(src, dst, protocol, hop_limit=ttl), payload)
    if len(src) == 16 and protocol in (0, 43, 44, 60):
        return  # an extension header's number: the payload is no such header
    assert parse_ip(wire) == (src, dst, protocol, payload)


def test_build_ip_defaults_as_scapy_sees_them() -> None:
    ip = IP(build_ip(SRC4, DST4, PROTO_TCP, b"x"))
    assert (ip.ttl, ip.id, str(ip.flags), ip.proto, ip.len) == (64, 0, "DF", 6, 21)
    ip6 = IPv6(build_ip(SRC6, DST6, PROTO_ICMPV6, b"x", ttl=255))
    assert (ip6.hlim, ip6.nh, ip6.plen, ip6.tc, ip6.fl) == (255, 58, 1, 0, 0)


@pytest.mark.parametrize(
    ("src", "dst"), [(SRC4, DST6), (SRC6, DST4), (SRC4[:3], DST4[:3]), (b"", b"")]
)
def test_build_ip_refuses_mixed_or_odd_addresses(src: bytes, dst: bytes) -> None:
    with pytest.raises(ValueError):
        build_ip(src, dst, PROTO_TCP, b"")


def test_build_ip_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        build_ip(SRC4, DST4, PROTO_TCP, bytes(65516))
    with pytest.raises(ValueError):
        build_ip(SRC4, DST4, 256, b"")
    with pytest.raises(ValueError):
        build_ip(SRC6, DST6, PROTO_TCP, b"", ttl=256)


def test_scapy_packets_through_the_whole_decode_path() -> None:
    for ip in (IP(src=ntop(SRC4), dst=ntop(DST4)), IPv6(src=ntop(SRC6), dst=ntop(DST6))):
        wire = bytes(ip / TCP(sport=5, dport=6, seq=7, ack=8, flags="PA", window=9) / b"data")
        src, dst, protocol, payload = parse_ip(wire)
        assert protocol == PROTO_TCP
        segment = parse_tcp(payload, src, dst)
        assert segment == TcpSegment(5, 6, 7, 8, 0x18, 9, payload=b"data")


# -- the per-packet path of the stack must never raise anything but MalformedPacket ------


def decode(wire: bytes) -> None:
    src, dst, protocol, payload = parse_ip(wire)
    if protocol == PROTO_TCP:
        parse_tcp(payload, src, dst)
        parse_tcp(payload, src, dst, verify_checksum=False)


@FUZZ
@given(st.binary(max_size=100))
def test_random_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        decode(data)


@MUTATE
@given(
    segment=tcp_segments,
    addrs=addr_pair,
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6),
    keep=st.integers(0, 1 << 16),
)
def test_mutated_packets(
    segment: TcpSegment, addrs: tuple[bytes, bytes], edits: list[tuple[int, int]], keep: int
) -> None:
    wire = bytearray(build_ip(*addrs, PROTO_TCP, build_tcp(segment, *addrs)))
    decode(bytes(wire))  # valid before the edits
    for pos, value in edits:
        wire[pos % len(wire)] = value
    del wire[keep % (len(wire) + 1) :]
    with contextlib.suppress(MalformedPacket):
        decode(bytes(wire))


def test_segment_with_link_padding() -> None:
    segment = TcpSegment(1, 2, 3, 4, ACK, 5)
    wire = build_ip(SRC4, DST4, PROTO_TCP, build_tcp(segment, SRC4, DST4)) + bytes(6)
    src, dst, _, payload = parse_ip(wire)
    assert parse_tcp(payload, src, dst) == segment


def test_ecn_field_set_and_read_keeps_ipv4_valid_and_leaves_dscp_alone() -> None:
    from synack.wire.ip import ECN_CE, ECN_ECT0, ECN_NOT_ECT, ip_ecn, with_ecn

    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    header = IPv4Header(src, dst, PROTO_TCP, tos=0xB8)  # DSCP EF, Not-ECT
    packet = build_ipv4(header, b"payload")
    assert ip_ecn(packet) == ECN_NOT_ECT
    for codepoint in (ECN_ECT0, ECN_CE, ECN_NOT_ECT):
        marked = with_ecn(packet, codepoint)
        assert ip_ecn(marked) == codepoint
        parsed, payload = parse_ipv4(marked)  # the header checksum still holds
        assert parsed.tos == 0xB8 | codepoint and bytes(payload) == b"payload"
        assert with_ecn(marked, codepoint) == marked


def test_ecn_field_of_ipv6_is_the_low_bits_of_the_traffic_class() -> None:
    from synack.wire import parse_ipv6
    from synack.wire.ip import ECN_CE, ip_ecn, with_ecn

    src, dst = bytes(15) + b"\x01", bytes(15) + b"\x02"
    packet = build_ipv6(IPv6Header(src, dst, PROTO_TCP, traffic_class=0xB8), b"x")
    marked = with_ecn(packet, ECN_CE)
    assert ip_ecn(marked) == ECN_CE
    parsed, _ = parse_ipv6(marked)
    assert parsed.traffic_class == 0xB8 | ECN_CE


def test_with_ecn_refuses_what_it_cannot_mark() -> None:
    from synack.wire.ip import with_ecn

    with pytest.raises(ValueError, match="codepoint"):
        with_ecn(bytes(40), 4)
    with pytest.raises(ValueError, match="shorter"):
        with_ecn(b"\x45\x00", 2)
    with pytest.raises(ValueError, match="version"):
        with_ecn(bytes(40), 2)
