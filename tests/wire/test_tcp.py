"""TCP headers: flags, field codecs, checksums, malformed input, and scapy cross-checks."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw

from synack.wire import (
    ACK,
    BAD_CHECKSUM,
    BAD_DATA_OFFSET,
    CWR,
    ECE,
    FIN,
    NOP,
    PSH,
    RST,
    SYN,
    TIMESTAMP,
    TRUNCATED,
    URG,
    MalformedPacket,
    TcpOptions,
    TcpSegment,
    build_tcp,
    decode_options,
    encode_options,
    flag_letters,
    flag_names,
    parse_tcp,
)

from .strategies import CROSS, FUZZ, LIGHT, MUTATE, addr_pair, ntop, tcp_segments, to_scapy_options

SRC4 = bytes([198, 18, 0, 1])
DST4 = bytes([198, 18, 0, 2])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")


def reason(exc: pytest.ExceptionInfo[MalformedPacket]) -> str:
    return exc.value.reason


# -- flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "names", "letters"),
    [
        (0, "", ""),
        (SYN, "SYN", "S"),
        (SYN | ACK, "SYN,ACK", "S."),
        (ACK, "ACK", "."),
        (FIN | ACK, "FIN,ACK", "F."),
        (FIN | PSH | ACK, "FIN,PSH,ACK", "FP."),
        (PSH | ACK, "PSH,ACK", "P."),
        (RST, "RST", "R"),
        (RST | ACK, "RST,ACK", "R."),
        (SYN | ECE | CWR, "SYN,ECE,CWR", "SEW"),
        (URG | ACK, "ACK,URG", "U."),
        (0xFF, "SYN,FIN,RST,PSH,ACK,URG,ECE,CWR", "SFRPUEW."),
    ],
)
def test_flag_names_and_letters(flags: int, names: str, letters: str) -> None:
    assert flag_names(flags) == names
    assert flag_letters(flags) == letters


def test_flag_values_are_the_rfc_bits() -> None:
    assert (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR) == (1, 2, 4, 8, 16, 32, 64, 128)


@pytest.mark.parametrize(
    ("flags", "payload", "seg_len"),
    [(ACK, b"", 0), (ACK, b"abc", 3), (SYN, b"", 1), (FIN | ACK, b"xy", 3), (SYN | FIN, b"z", 3)],
)
def test_seg_len_counts_syn_and_fin(flags: int, payload: bytes, seg_len: int) -> None:
    assert TcpSegment(1, 2, 0, 0, flags, 0, payload=payload).seg_len == seg_len


# -- known encodings ---------------------------------------------------------------------


def test_known_syn_bytes() -> None:
    # A Linux SYN, as tcpdump -X shows it, checksum included.
    segment = TcpSegment(
        src_port=40000,
        dst_port=80,
        seq=0x01020304,
        ack=0,
        flags=SYN,
        window=64240,
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(100, 0)),
    )
    wire = build_tcp(segment, SRC4, DST4)
    options = "020405b4 0402 080a 00000064 00000000 01 030307"
    header = "9c40 0050 01020304 00000000 a0 02 faf0" + wire[16:18].hex() + "0000"
    assert wire == bytes.fromhex(header + options)
    # The checksum is the one scapy computes for the same bytes and addresses.
    packet = IP(src=ntop(SRC4), dst=ntop(DST4)) / TCP(wire)
    del packet[TCP].chksum
    assert TCP(bytes(packet)[20:]).chksum == int.from_bytes(wire[16:18], "big")
    assert parse_tcp(wire, SRC4, DST4) == replace(segment, options=decode_options(wire[20:]))


def test_no_options_means_a_20_byte_header_and_none() -> None:
    segment = TcpSegment(1, 2, 3, 4, ACK, 5, payload=b"data")
    wire = build_tcp(segment, SRC4, DST4)
    assert len(wire) == 24
    assert wire[12] == 5 << 4
    assert parse_tcp(wire, SRC4, DST4) == segment


def test_timestamp_fast_path_matches_the_general_decoder() -> None:
    segment = TcpSegment(1, 2, 3, 4, ACK, 5, options=TcpOptions(timestamp=(7, 8)))
    wire = build_tcp(segment, SRC6, DST6)
    assert wire[20:24] == bytes([NOP, NOP, TIMESTAMP, 10])
    parsed = parse_tcp(wire, SRC6, DST6)
    assert parsed.options == decode_options(wire[20:32])
    assert parsed.options == TcpOptions(timestamp=(7, 8), layout=(NOP, NOP, TIMESTAMP))


def test_ns_and_reserved_bits_are_ignored() -> None:
    wire = bytearray(build_tcp(TcpSegment(1, 2, 3, 4, ACK, 5), SRC4, DST4))
    wire[12] |= 0x0F  # reserved bits and NS (RFC 3540, historic)
    assert parse_tcp(bytes(wire), SRC4, DST4, verify_checksum=False).flags == ACK


def test_odd_payload_checksum() -> None:
    wire = build_tcp(TcpSegment(1, 2, 3, 4, ACK | PSH, 5, payload=b"abc"), SRC4, DST4)
    assert parse_tcp(wire, SRC4, DST4).payload == b"abc"


def test_parse_accepts_memoryview_and_returns_bytes_payload() -> None:
    wire = build_tcp(TcpSegment(1, 2, 3, 4, ACK, 5, payload=b"hello"), SRC4, DST4)
    parsed = parse_tcp(memoryview(b"xx" + wire)[2:], SRC4, DST4)
    assert type(parsed.payload) is bytes
    assert parsed.payload == b"hello"


@pytest.mark.parametrize(
    "segment",
    [
        TcpSegment(70000, 2, 3, 4, ACK, 5),
        TcpSegment(1, 2, 1 << 32, 4, ACK, 5),
        TcpSegment(1, 2, 3, -1, ACK, 5),
        TcpSegment(1, 2, 3, 4, 0x100, 5),
        TcpSegment(1, 2, 3, 4, ACK, 65536),
        TcpSegment(1, 2, 3, 4, ACK, 5, urgent=65536),
        TcpSegment(1, 2, 3, 4, ACK, 5, options=TcpOptions(mss=65536)),
    ],
)
def test_build_refuses_fields_that_do_not_fit(segment: TcpSegment) -> None:
    with pytest.raises(ValueError):
        build_tcp(segment, SRC4, DST4)


def test_build_refuses_mixed_address_families() -> None:
    with pytest.raises(ValueError, match="4 or 16 bytes"):
        build_tcp(TcpSegment(1, 2, 3, 4, ACK, 5), SRC4, DST6)


# -- malformed ---------------------------------------------------------------------------


def test_truncated_at_every_length() -> None:
    segment = TcpSegment(
        1, 2, 3, 4, ACK, 5, options=TcpOptions(timestamp=(1, 2), mss=1400), payload=b"abcde"
    )
    wire = build_tcp(segment, SRC4, DST4)
    for n in range(len(wire)):
        with pytest.raises(MalformedPacket) as info:
            parse_tcp(wire[:n], SRC4, DST4)
        # Too short for the fixed header; then for the header its data offset announces;
        # then (the TCP length being part of the pseudo-header) a checksum mismatch.
        expected = TRUNCATED if n < 20 else BAD_DATA_OFFSET if n < 36 else BAD_CHECKSUM
        assert reason(info) == expected, n


@pytest.mark.parametrize("offset", [0, 1, 4])
def test_data_offset_below_five(offset: int) -> None:
    wire = bytearray(build_tcp(TcpSegment(1, 2, 3, 4, ACK, 5, payload=bytes(40)), SRC4, DST4))
    wire[12] = offset << 4
    with pytest.raises(MalformedPacket) as info:
        parse_tcp(bytes(wire), SRC4, DST4, verify_checksum=False)
    assert reason(info) == BAD_DATA_OFFSET


def test_data_offset_beyond_the_segment() -> None:
    wire = bytearray(build_tcp(TcpSegment(1, 2, 3, 4, ACK, 5, payload=bytes(3)), SRC4, DST4))
    wire[12] = 6 << 4  # 24 bytes of header in a 23-byte segment
    with pytest.raises(MalformedPacket) as info:
        parse_tcp(bytes(wire), SRC4, DST4, verify_checksum=False)
    assert reason(info) == BAD_DATA_OFFSET


@MUTATE
@given(segment=tcp_segments, addrs=addr_pair, where=st.integers(0, 1 << 32))
def test_any_single_bit_flip_is_a_bad_checksum(
    segment: TcpSegment, addrs: tuple[bytes, bytes], where: int
) -> None:
    src, dst = addrs
    wire = bytearray(build_tcp(segment, src, dst))
    bit = where % (8 * len(wire))
    if bit // 8 == 12:  # the data offset: checked, and failing, before the checksum
        bit = 12 * 8 + 7  # the NS bit instead, which is covered but ignored
    wire[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(MalformedPacket) as info:
        parse_tcp(bytes(wire), src, dst)
    assert reason(info) == BAD_CHECKSUM
    # The unchanged bytes under other addresses fail too.
    other = dst[:-1] + bytes([dst[-1] ^ 1])
    with pytest.raises(MalformedPacket) as info:
        parse_tcp(build_tcp(segment, src, dst), src, other)
    assert reason(info) == BAD_CHECKSUM


def test_checksum_can_be_skipped() -> None:
    wire = bytearray(build_tcp(TcpSegment(1, 2, 3, 4, ACK, 5, payload=b"x"), SRC4, DST4))
    wire[16] ^= 0xFF
    assert parse_tcp(bytes(wire), SRC4, DST4, verify_checksum=False).payload == b"x"


@FUZZ
@given(st.binary(max_size=80), addr_pair)
def test_random_bytes_decode_or_raise_malformed(data: bytes, addrs: tuple[bytes, bytes]) -> None:
    for verify in (True, False):
        with contextlib.suppress(MalformedPacket):
            parse_tcp(data, addrs[0], addrs[1], verify_checksum=verify)


@MUTATE
@given(
    segment=tcp_segments,
    addrs=addr_pair,
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4),
    keep=st.integers(0, 1 << 16),
)
def test_mutated_segments_decode_or_raise_malformed(
    segment: TcpSegment, addrs: tuple[bytes, bytes], edits: list[tuple[int, int]], keep: int
) -> None:
    wire = bytearray(build_tcp(segment, *addrs))
    for pos, value in edits:
        wire[pos % len(wire)] = value
    del wire[keep % (len(wire) + 1) :]
    try:
        parsed = parse_tcp(bytes(wire), *addrs, verify_checksum=False)
    except MalformedPacket:
        return
    # Whatever decodes (odd options included) re-encodes to something that decodes the same.
    assert parse_tcp(build_tcp(parsed, *addrs), *addrs) == parsed


# -- round trips and scapy ---------------------------------------------------------------


def expected_after_decode(segment: TcpSegment) -> TcpSegment:
    """What decoding returns for an encoded segment: the layout is always filled in."""
    options = segment.options
    if options is None:
        return segment
    layout = decode_options(encode_options(options)).layout
    if not layout:
        return replace(segment, options=None)
    return replace(segment, options=replace(options, layout=layout))


@LIGHT
@given(segment=tcp_segments, addrs=addr_pair)
def test_round_trip(segment: TcpSegment, addrs: tuple[bytes, bytes]) -> None:
    wire = build_tcp(segment, *addrs)
    assert parse_tcp(wire, *addrs) == expected_after_decode(segment)


class OpaqueTCP(TCP):  # type: ignore[misc]
    """TCP whose payload scapy leaves as raw bytes: with every layer loaded (another test
    in the same worker may import scapy.all), a well-known port such as 135 would have the
    payload dissected and rebuilt, not necessarily byte for byte."""

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return Raw


def scapy_ip(src: bytes, dst: bytes) -> IP | IPv6:
    return IP(src=ntop(src), dst=ntop(dst)) if len(src) == 4 else IPv6(src=ntop(src), dst=ntop(dst))


@CROSS
@given(segment=tcp_segments, addrs=addr_pair)
def test_against_scapy(segment: TcpSegment, addrs: tuple[bytes, bytes]) -> None:
    """Our encoding decoded by scapy, and scapy's encoding decoded by us."""
    expected = expected_after_decode(segment)
    wire = build_tcp(segment, *addrs)
    tcp = (scapy_ip(*addrs) / OpaqueTCP(wire))[OpaqueTCP]
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack) == (
        segment.src_port,
        segment.dst_port,
        segment.seq,
        segment.ack,
    )
    assert (int(tcp.flags), tcp.window, tcp.urgptr) == (
        segment.flags,
        segment.window,
        segment.urgent,
    )
    assert tcp.dataofs * 4 == len(wire) - len(segment.payload)
    assert bytes(tcp.payload) == segment.payload
    scapy_options = to_scapy_options(expected.options) if expected.options else []
    assert tcp.options == scapy_options
    # scapy recomputes the checksum over its own pseudo-header and gets ours.
    del tcp.chksum
    assert bytes(tcp.underlayer)[-len(wire) :] == wire

    packet = scapy_ip(*addrs) / TCP(
        sport=segment.src_port,
        dport=segment.dst_port,
        seq=segment.seq,
        ack=segment.ack,
        flags=segment.flags,
        window=segment.window,
        urgptr=segment.urgent,
        options=scapy_options,
    )
    if segment.payload:
        packet = packet / segment.payload
    assert parse_tcp(bytes(packet[TCP]), *addrs) == expected
