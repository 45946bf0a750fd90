"""The one-pass IP+TCP codec gives exactly what the general codecs give, bytes and errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synack.wire import (
    ACK,
    PSH,
    MalformedPacket,
    TcpOptions,
    TcpSegment,
    build_ip,
    build_tcp,
    parse_ip,
    parse_tcp,
)
from synack.wire.ip import PROTO_TCP
from synack.wire.tcpip import (
    build_tcp_packet,
    build_tcp_ts_packet,
    parse_tcp_fields,
    parse_tcp_packet,
)

from .strategies import FUZZ, LIGHT, addr_pair, ipv4_addr, payloads, tcp_segments, u16, u32

# The shapes the one-pass path takes: no option, or the timestamp alone.
common_segments = st.builds(
    TcpSegment,
    src_port=u16,
    dst_port=u16,
    seq=u32,
    ack=u32,
    flags=st.integers(0, 0xFF),
    window=u16,
    urgent=u16,
    options=st.one_of(st.none(), st.builds(TcpOptions, timestamp=st.tuples(u32, u32))),
    payload=payloads,
)


def general_build(seg: TcpSegment, src: bytes, dst: bytes) -> bytes:
    return build_ip(src, dst, PROTO_TCP, build_tcp(seg, src, dst))


def general_parse(packet: bytes) -> tuple[bytes, bytes, TcpSegment]:
    src, dst, protocol, payload = parse_ip(packet)
    assert protocol == PROTO_TCP
    return src, dst, parse_tcp(payload, src, dst)


@LIGHT
@given(st.one_of(common_segments, tcp_segments), addr_pair)
def test_build_gives_the_general_bytes(seg: TcpSegment, addresses: tuple[bytes, bytes]) -> None:
    src, dst = addresses
    assert build_tcp_packet(seg, src, dst) == general_build(seg, src, dst)


@LIGHT
@given(u16, u16, u32, u32, st.integers(0, 0xFF), u16, st.tuples(u32, u32), payloads, addr_pair)
def test_build_from_fields_gives_the_general_bytes(
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int,
    window: int,
    timestamp: tuple[int, int],
    payload: bytes,
    addresses: tuple[bytes, bytes],
) -> None:
    src, dst = addresses
    seg = TcpSegment(
        src_port, dst_port, seq, ack, flags, window, 0, TcpOptions(timestamp=timestamp), payload
    )
    fast = build_tcp_ts_packet(
        src, dst, src_port, dst_port, seq, ack, flags, window, 0, timestamp, payload
    )
    assert fast == general_build(seg, src, dst)


@LIGHT
@given(st.one_of(common_segments, tcp_segments), addr_pair)
def test_parse_reads_what_the_general_parser_reads(
    seg: TcpSegment, addresses: tuple[bytes, bytes]
) -> None:
    src, dst = addresses
    packet = general_build(seg, src, dst)
    fast = parse_tcp_packet(packet)
    if fast is not None:
        assert fast == general_parse(packet)


@LIGHT
@given(common_segments, ipv4_addr, ipv4_addr)
def test_common_segments_take_the_one_pass_path(seg: TcpSegment, src: bytes, dst: bytes) -> None:
    packet = general_build(seg, src, dst)
    assert parse_tcp_packet(packet) == general_parse(packet)


@FUZZ
@given(common_segments, ipv4_addr, ipv4_addr, st.data())
def test_a_damaged_packet_is_left_to_the_general_parser(
    seg: TcpSegment, src: bytes, dst: bytes, data: st.DataObject
) -> None:
    packet = bytearray(general_build(seg, src, dst))
    at = data.draw(st.integers(0, len(packet) - 1))
    packet[at] ^= data.draw(st.integers(1, 0xFF))
    damaged = bytes(packet)
    fast = parse_tcp_packet(damaged)
    if fast is None:
        return  # the stack then asks the general parser, which names the fault
    # Accepted: then the general parser accepts it too and reads the same.
    assert fast == general_parse(damaged)


def test_a_bad_checksum_is_not_accepted() -> None:
    seg = TcpSegment(1, 2, 3, 4, ACK | PSH, 5, 0, TcpOptions(timestamp=(6, 7)), b"data")
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    packet = bytearray(general_build(seg, src, dst))
    packet[-1] ^= 1
    assert parse_tcp_packet(bytes(packet)) is None
    with pytest.raises(MalformedPacket):
        general_parse(bytes(packet))


@pytest.mark.parametrize(
    "seg",
    [
        TcpSegment(1, 2, 1 << 32, 4, ACK, 5),  # seq does not fit
        TcpSegment(1, 2, 3, 4, ACK, 1 << 16),  # window does not fit
        TcpSegment(1, 2, 3, 4, ACK, 5, 0, TcpOptions(timestamp=(-1, 0))),
        TcpSegment(1, 2, 1 << 32, 4, ACK, 5, 0, TcpOptions(timestamp=(6, 7))),
        TcpSegment(1, 2, 3, 4, 0x100, 5, 0, TcpOptions(timestamp=(6, 7))),  # flags too
        TcpSegment(1, 2, 3, 4, ACK, 5, 0, TcpOptions(timestamp=(6, 7)), bytes(0xFFFF)),
        TcpSegment(1, 2, 3, 4, ACK, 5, 0, None, bytes(0xFFFF)),  # too long for IPv4
    ],
)
def test_build_refuses_what_the_general_path_refuses(seg: TcpSegment) -> None:
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    with pytest.raises(ValueError) as general:
        general_build(seg, src, dst)
    with pytest.raises(ValueError) as fast:
        build_tcp_packet(seg, src, dst)
    assert str(fast.value) == str(general.value)
    if seg.options is not None and seg.options.timestamp is not None:
        with pytest.raises(ValueError) as from_fields:
            build_tcp_ts_packet(
                src,
                dst,
                seg.src_port,
                seg.dst_port,
                seg.seq,
                seg.ack,
                seg.flags,
                seg.window,
                seg.urgent,
                seg.options.timestamp,
                seg.payload,
            )
        assert str(from_fields.value) == str(general.value)


@pytest.mark.parametrize("size", [0, 1, 139, 140, 141, 1447, 1448, 1484, 1485, 1536, 1537, 8948])
def test_segments_of_every_size_round_trip(size: int) -> None:
    """Checksums are folded differently below 192 bytes, up to one Ethernet frame and
    beyond (jumbo frames): every way gives the general codec's bytes and reading."""
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    src, dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    for timestamp in (None, (0xFFFFFFFF, 1)):
        seg = TcpSegment(
            0xFFFF,
            80,
            0xFFFFFFFF,
            1,
            ACK | PSH,
            0xFFFF,
            0,
            TcpOptions(timestamp=timestamp),
            payload,
        )
        if timestamp is None:
            seg.options = None
        packet = general_build(seg, src, dst)
        assert build_tcp_packet(seg, src, dst) == packet
        assert parse_tcp_packet(packet) == general_parse(packet)
        damaged = bytearray(packet)
        damaged[-1 if payload else 30] ^= 0x10
        assert parse_tcp_packet(bytes(damaged)) is None
        fields = parse_tcp_fields(packet)
        assert fields is not None
        assert fields[9] == timestamp and fields[10] == payload
