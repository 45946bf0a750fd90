"""IPv4 headers: scapy cross-checks, round trips and every malformed case."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.config import conf
from scapy.layers.inet import IP, IPOption

from synack.wire import (
    BAD_CHECKSUM,
    BAD_HEADER_LENGTH,
    BAD_TOTAL_LENGTH,
    BAD_VERSION,
    TRUNCATED,
    UNSUPPORTED,
    IPv4Header,
    MalformedPacket,
    build_ipv4,
    checksum,
    parse_ipv4,
)

from .strategies import CROSS, FUZZ, LIGHT, MUTATE, ipv4_headers, ntop, payloads

SRC = bytes([198, 18, 0, 1])
DST = bytes([198, 18, 0, 2])


def reason_of(packet: bytes) -> str:
    with pytest.raises(MalformedPacket) as info:
        parse_ipv4(packet)
    return info.value.reason


def with_checksum(packet: bytearray) -> bytes:
    """Recompute the header checksum after a test has edited the header."""
    hl = (packet[0] & 0x0F) * 4
    packet[10:12] = b"\x00\x00"
    packet[10:12] = checksum(packet[:hl]).to_bytes(2, "big")
    return bytes(packet)


def test_known_bytes() -> None:
    wire = build_ipv4(IPv4Header(SRC, DST, 6, ttl=64, ident=0x1234), b"abcd")
    # version 4, IHL 5, length 24, ident 0x1234, DF, TTL 64, TCP, checksum, src, dst
    head = "4500 0018 1234 4000 40 06" + wire[10:12].hex() + "c6120001 c6120002"
    assert wire == bytes.fromhex(head + "61626364")
    assert checksum(wire[:20]) == 0
    scapy = IP(src=ntop(SRC), dst=ntop(DST), proto=6, ttl=64, id=0x1234, flags="DF") / b"abcd"
    assert bytes(scapy) == wire


class OpaqueIP(IP):  # type: ignore[misc]
    """IP whose payload scapy keeps as raw bytes: its own decoders (IGMP...) re-encode."""

    def guess_payload_class(self, payload: bytes) -> type:
        return conf.raw_layer  # type: ignore[no-any-return]


@CROSS
@given(header=ipv4_headers, payload=payloads, padding=st.binary(max_size=20))
def test_against_scapy(header: IPv4Header, payload: bytes, padding: bytes) -> None:
    """Our encoding decoded by scapy, and scapy's encoding decoded by us."""
    wire = build_ipv4(header, payload)
    ip = OpaqueIP(wire)
    assert (ip.version, ip.ihl, ip.len) == (4, 5 + len(header.options) // 4, len(wire))
    assert (ip.src, ip.dst, ip.proto, ip.ttl, ip.tos, ip.id) == (
        ntop(header.src),
        ntop(header.dst),
        header.protocol,
        header.ttl,
        header.tos,
        header.ident,
    )
    assert bool(ip.flags.DF) == header.dont_fragment
    assert not ip.flags.MF
    assert ip.frag == 0
    assert b"".join(bytes(option) for option in ip.options) == header.options
    assert bytes(ip.payload) == payload
    del ip.chksum  # scapy recomputes it and must agree
    assert bytes(ip) == wire

    packet = IP(
        src=ntop(header.src),
        dst=ntop(header.dst),
        proto=header.protocol,
        ttl=header.ttl,
        tos=header.tos,
        id=header.ident,
        flags="DF" if header.dont_fragment else 0,
        options=[IPOption(header.options)] if header.options else [],
    )
    wire = bytes(packet / payload) + padding  # trailing link-layer padding is ignored
    parsed, rest = parse_ipv4(wire)
    assert parsed == header
    assert bytes(rest) == payload


@LIGHT
@given(header=ipv4_headers, payload=payloads)
def test_round_trip(header: IPv4Header, payload: bytes) -> None:
    parsed, rest = parse_ipv4(build_ipv4(header, payload))
    assert parsed == header
    assert rest == payload
    parsed, rest = parse_ipv4(memoryview(build_ipv4(header, bytearray(payload))))
    assert parsed == header
    assert rest == payload


def test_payload_is_a_view_trimmed_to_total_length() -> None:
    wire = build_ipv4(IPv4Header(SRC, DST, 6), b"xyz") + b"\x00" * 6
    _, payload = parse_ipv4(wire)
    assert isinstance(payload, memoryview)
    assert payload == b"xyz"


# -- malformed ---------------------------------------------------------------------------


def test_truncated_at_every_length() -> None:
    wire = build_ipv4(IPv4Header(SRC, DST, 6, options=b"\x01\x01\x01\x00"), b"payload")
    for n in range(len(wire)):
        assert reason_of(wire[:n]) == TRUNCATED, n


@pytest.mark.parametrize("version", [0, 1, 5, 6, 15])
def test_bad_version(version: int) -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6), b""))
    wire[0] = version << 4 | 5
    assert reason_of(with_checksum(wire)) == BAD_VERSION


@pytest.mark.parametrize("ihl", [0, 1, 4])
def test_header_length_below_five_words(ihl: int) -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6), bytes(40)))
    wire[0] = 0x40 | ihl
    assert reason_of(bytes(wire)) == BAD_HEADER_LENGTH


def test_header_length_beyond_the_packet() -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6), b""))
    wire[0] = 0x46
    assert reason_of(bytes(wire)) == TRUNCATED


def test_total_length_below_header_length() -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6, options=bytes(4)), b"abc"))
    wire[2:4] = (20).to_bytes(2, "big")
    assert reason_of(with_checksum(wire)) == BAD_TOTAL_LENGTH


def test_total_length_beyond_the_packet() -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6), b"abc"))
    wire[2:4] = (24).to_bytes(2, "big")
    assert reason_of(with_checksum(wire)) == TRUNCATED


@pytest.mark.parametrize("byte", range(20))
def test_bad_header_checksum(byte: int) -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6, ttl=1, ident=7), b"abc"))
    if byte == 0:  # leave the version and IHL alone: flip a bit elsewhere in the word
        byte = 1
    wire[byte] ^= 0x01
    assert reason_of(bytes(wire)) == BAD_CHECKSUM


def test_payload_is_not_covered_by_the_header_checksum() -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6), b"abc"))
    wire[-1] ^= 0xFF
    assert parse_ipv4(bytes(wire))[1] == b"ab" + bytes([ord("c") ^ 0xFF])


@pytest.mark.parametrize(
    "header",
    [
        IPv4Header(SRC, DST, 6, more_fragments=True),
        IPv4Header(SRC, DST, 6, dont_fragment=False, frag_offset=1),
        IPv4Header(SRC, DST, 6, dont_fragment=False, more_fragments=True, frag_offset=0x1FFF),
    ],
)
def test_fragments_are_unsupported(header: IPv4Header) -> None:
    wire = build_ipv4(header, bytes(8))
    assert header.more_fragments == IP(wire).flags.MF
    assert IP(wire).frag == header.frag_offset
    assert reason_of(wire) == UNSUPPORTED


def test_reserved_flag_is_ignored() -> None:
    wire = bytearray(build_ipv4(IPv4Header(SRC, DST, 6), b""))
    wire[6] |= 0x80
    assert parse_ipv4(with_checksum(wire))[0] == IPv4Header(SRC, DST, 6)


@pytest.mark.parametrize(
    "header",
    [
        IPv4Header(SRC[:3], DST, 6),
        IPv4Header(SRC, DST + b"\x00", 6),
        IPv4Header(SRC, DST, 256),
        IPv4Header(SRC, DST, 6, ttl=-1),
        IPv4Header(SRC, DST, 6, tos=256),
        IPv4Header(SRC, DST, 6, ident=65536),
        IPv4Header(SRC, DST, 6, frag_offset=0x2000),
        IPv4Header(SRC, DST, 6, options=b"\x01"),
        IPv4Header(SRC, DST, 6, options=bytes(44)),
    ],
)
def test_build_refuses_fields_that_do_not_fit(header: IPv4Header) -> None:
    with pytest.raises(ValueError):
        build_ipv4(header, b"")


def test_build_refuses_oversized_payload() -> None:
    with pytest.raises(ValueError):
        build_ipv4(IPv4Header(SRC, DST, 6), bytes(65516))
    assert len(build_ipv4(IPv4Header(SRC, DST, 6), bytes(65515))) == 65535


@FUZZ
@given(st.binary(max_size=80))
def test_random_bytes_decode_or_raise_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        parse_ipv4(data)
    with contextlib.suppress(MalformedPacket):
        parse_ipv4(with_checksum(bytearray(b"\x45" + data[1:])) if len(data) >= 20 else data)


@MUTATE
@given(
    header=ipv4_headers,
    payload=payloads,
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4),
    keep=st.integers(0, 1 << 16),
    fix_checksum=st.booleans(),
)
def test_mutated_packets_decode_or_raise_malformed(
    header: IPv4Header,
    payload: bytes,
    edits: list[tuple[int, int]],
    keep: int,
    fix_checksum: bool,
) -> None:
    wire = bytearray(build_ipv4(header, payload))
    hl = 20 + len(header.options)
    for pos, value in edits:
        wire[pos % hl] = value  # the header is where the decoder looks
    del wire[keep % (len(wire) + 1) :]
    if fix_checksum and len(wire) >= 20 and 20 <= (wire[0] & 0x0F) * 4 <= len(wire):
        wire = bytearray(with_checksum(wire))
    try:
        parsed, rest = parse_ipv4(bytes(wire))
    except MalformedPacket:
        return
    assert 20 + len(parsed.options) + len(rest) <= len(wire)
    # Whatever decodes re-encodes to something that decodes the same.
    assert parse_ipv4(build_ipv4(parsed, rest)) == (parsed, rest)
