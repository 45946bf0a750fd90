"""IPv6 headers and extension-header walking: scapy cross-checks and malformed input."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    PadN,
)
from scapy.packet import Raw

from synack.wire import (
    BAD_HEADER_LENGTH,
    BAD_OPTION,
    BAD_VERSION,
    TRUNCATED,
    UNSUPPORTED,
    IPv6Header,
    MalformedPacket,
    build_ipv6,
    parse_ipv6,
)

from .strategies import CROSS, FUZZ, LIGHT, MUTATE, ipv6_addr, ipv6_headers, ntop, payloads

SRC = bytes.fromhex("20010db8000000000000000000000001")
DST = bytes.fromhex("20010db8000000000000000000000002")


def reason_of(packet: bytes) -> str:
    with pytest.raises(MalformedPacket) as info:
        parse_ipv6(packet)
    return info.value.reason


def padn(size: int) -> list[PadN]:
    return [PadN(optdata=bytes(size))] if size else []


# One extension header as scapy builds it: (kind, option or address count).
extension = st.one_of(
    st.tuples(st.just("dest"), st.integers(0, 20)),
    st.tuples(st.just("routing"), st.integers(0, 3)),
)
chains = st.tuples(st.none() | st.integers(0, 20), st.lists(extension, max_size=4))


def scapy_extensions(chain: tuple[int | None, list[tuple[str, int]]], upper: int) -> Any:
    """Stack the chain's headers, the last one naming ``upper`` as its next header."""
    hop_by_hop, rest = chain
    layers: list[Any] = []
    if hop_by_hop is not None:
        layers.append(IPv6ExtHdrHopByHop(options=padn(hop_by_hop)))
    for kind, size in rest:
        if kind == "dest":
            layers.append(IPv6ExtHdrDestOpt(options=padn(size)))
        else:
            layers.append(IPv6ExtHdrRouting(addresses=[ntop(SRC)] * size))
    if not layers:
        return None
    layers[-1].nh = upper
    stacked = layers[0]
    for layer in layers[1:]:
        stacked = stacked / layer
    return stacked


def test_known_bytes() -> None:
    header = IPv6Header(SRC, DST, 6, hop_limit=255, traffic_class=0xB8, flow_label=0xABCDE)
    wire = build_ipv6(header, b"abc")
    assert wire == bytes.fromhex("6b8abcde 0003 06 ff") + SRC + DST + b"abc"


@CROSS
@given(
    header=ipv6_headers,
    payload=payloads,
    chain=chains,
    padding=st.binary(max_size=20),
)
def test_against_scapy(
    header: IPv6Header,
    payload: bytes,
    chain: tuple[int | None, list[tuple[str, int]]],
    padding: bytes,
) -> None:
    """Our encoding decoded by scapy; scapy's, with extension headers, decoded by us."""
    wire = build_ipv6(header, payload)
    ip = IPv6(wire)
    assert (ip.version, ip.plen, ip.nh, ip.hlim, ip.tc, ip.fl) == (
        6,
        len(payload),
        header.next_header,
        header.hop_limit,
        header.traffic_class,
        header.flow_label,
    )
    assert (ip.src, ip.dst) == (ntop(header.src), ntop(header.dst))
    assert bytes(ip)[40:] == payload

    ip = IPv6(
        src=ntop(header.src),
        dst=ntop(header.dst),
        hlim=header.hop_limit,
        tc=header.traffic_class,
        fl=header.flow_label,
    )
    extensions = scapy_extensions(chain, header.next_header)
    if extensions is None:
        ip.nh = header.next_header
        packet = ip / Raw(payload)
    else:
        packet = ip / extensions / Raw(payload)
    wire = bytes(packet) + padding  # bytes past the payload length are ignored
    parsed, rest = parse_ipv6(wire)
    assert parsed == header
    assert bytes(rest) == payload


@LIGHT
@given(header=ipv6_headers, payload=payloads)
def test_round_trip(header: IPv6Header, payload: bytes) -> None:
    parsed, rest = parse_ipv6(build_ipv6(header, payload))
    assert parsed == header
    assert rest == payload
    parsed, rest = parse_ipv6(memoryview(build_ipv6(header, memoryview(payload))))
    assert (parsed, bytes(rest)) == (header, payload)


def test_extension_header_next_header_is_the_upper_protocol() -> None:
    packet = IPv6(src=ntop(SRC), dst=ntop(DST)) / IPv6ExtHdrHopByHop(nh=60)
    packet = packet / IPv6ExtHdrDestOpt(nh=6) / Raw(b"tcp")
    parsed, rest = parse_ipv6(bytes(packet))
    assert parsed.next_header == 6
    assert rest == b"tcp"


def test_no_next_header_gives_an_empty_payload() -> None:
    parsed, rest = parse_ipv6(build_ipv6(IPv6Header(SRC, DST, 59), b""))
    assert (parsed.next_header, bytes(rest)) == (59, b"")


# -- malformed ---------------------------------------------------------------------------


def test_truncated_at_every_length() -> None:
    packet = IPv6(src=ntop(SRC), dst=ntop(DST)) / IPv6ExtHdrHopByHop(options=padn(3))
    wire = bytes(packet / IPv6ExtHdrRouting(addresses=[ntop(DST)], nh=6) / Raw(b"tcp"))
    assert parse_ipv6(wire)[1] == b"tcp"
    for n in range(len(wire)):
        assert reason_of(wire[:n]) == TRUNCATED, n


@pytest.mark.parametrize("version", [0, 4, 5, 7, 15])
def test_bad_version(version: int) -> None:
    wire = bytearray(build_ipv6(IPv6Header(SRC, DST, 6), b""))
    wire[0] = version << 4
    assert reason_of(bytes(wire)) == BAD_VERSION


def test_payload_length_beyond_the_packet() -> None:
    wire = bytearray(build_ipv6(IPv6Header(SRC, DST, 6), b"abc"))
    wire[5] = 4
    assert reason_of(bytes(wire)) == TRUNCATED


@pytest.mark.parametrize(
    "extensions",
    [
        IPv6ExtHdrFragment(nh=6),
        IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(nh=6),
        IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / IPv6ExtHdrFragment(nh=6, m=1),
    ],
)
def test_fragment_header_is_unsupported(extensions: Any) -> None:
    wire = bytes(IPv6(src=ntop(SRC), dst=ntop(DST)) / extensions / Raw(bytes(16)))
    assert reason_of(wire) == UNSUPPORTED


def test_hop_by_hop_after_another_header_is_refused() -> None:
    extensions = IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop(nh=6)
    wire = bytes(IPv6(src=ntop(SRC), dst=ntop(DST)) / extensions / Raw(b"x"))
    assert reason_of(wire) == BAD_OPTION


@pytest.mark.parametrize("payload_length", [0, 1, 7, 15])
def test_extension_header_beyond_the_payload_length(payload_length: int) -> None:
    # A 16-byte destination-options header, with the payload length cut short.
    extensions = IPv6ExtHdrDestOpt(nh=6, options=padn(12))
    wire = bytearray(bytes(IPv6(src=ntop(SRC), dst=ntop(DST)) / extensions / Raw(b"x")))
    assert wire[40 + 1] == 1
    wire[4:6] = payload_length.to_bytes(2, "big")
    assert reason_of(bytes(wire)) == BAD_HEADER_LENGTH


@pytest.mark.parametrize(
    "header",
    [
        IPv6Header(SRC[:4], DST, 6),
        IPv6Header(SRC, DST + b"\x00", 6),
        IPv6Header(SRC, DST, 256),
        IPv6Header(SRC, DST, 6, hop_limit=256),
        IPv6Header(SRC, DST, 6, traffic_class=256),
        IPv6Header(SRC, DST, 6, flow_label=1 << 20),
        IPv6Header(SRC, DST, 6, flow_label=-1),
    ],
)
def test_build_refuses_fields_that_do_not_fit(header: IPv6Header) -> None:
    with pytest.raises(ValueError):
        build_ipv6(header, b"")


def test_build_refuses_jumbograms() -> None:
    with pytest.raises(ValueError):
        build_ipv6(IPv6Header(SRC, DST, 6), bytes(65536))


@FUZZ
@given(st.binary(max_size=120))
def test_random_bytes_decode_or_raise_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        parse_ipv6(data)
    # The same bytes behind a valid version nibble, to get past the first check.
    with contextlib.suppress(MalformedPacket):
        parse_ipv6(b"\x60" + data[1:])


def raw_chain(chain: tuple[int | None, list[tuple[str, int]]], upper: int) -> tuple[int, bytes]:
    """The chain as bytes without scapy (fast enough to fuzz): (first next header, bytes)."""
    hop_by_hop, rest = chain
    headers = [(0, hop_by_hop)] if hop_by_hop is not None else []
    headers += [(60 if kind == "dest" else 43, size) for kind, size in rest]
    out = b""
    for i, (_, size) in enumerate(headers):
        follower = headers[i + 1][0] if i + 1 < len(headers) else upper
        words = size // 4  # the length field, in 8-byte units beyond the first 8
        out += bytes([follower, words]) + bytes(6 + 8 * words)
    return (headers[0][0] if headers else upper), out


@MUTATE
@given(
    src=ipv6_addr,
    chain=chains,
    payload=payloads,
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=4),
    keep=st.integers(0, 1 << 16),
)
def test_mutated_packets_decode_or_raise_malformed(
    src: bytes,
    chain: tuple[int | None, list[tuple[str, int]]],
    payload: bytes,
    edits: list[tuple[int, int]],
    keep: int,
) -> None:
    first, extensions = raw_chain(chain, 6)
    wire = bytearray(build_ipv6(IPv6Header(src, DST, first), extensions + payload))
    assert parse_ipv6(bytes(wire)) == (IPv6Header(src, DST, 6), payload)
    for pos, value in edits:
        wire[pos % len(wire)] = value
    del wire[keep % (len(wire) + 1) :]
    try:
        parsed, rest = parse_ipv6(bytes(wire))
    except MalformedPacket:
        return
    assert parse_ipv6(build_ipv6(parsed, rest)) == (parsed, rest)
