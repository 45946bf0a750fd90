"""ICMPv4 and ICMPv6 messages and the packets they quote: scapy cross-checks, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6PacketTooBig,
    ICMPv6Unknown,
    IPv6,
    IPv6ExtHdrDestOpt,
)
from scapy.packet import Raw

from synack.wire import (
    BAD_CHECKSUM,
    BAD_HEADER_LENGTH,
    BAD_VERSION,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    TRUNCATED,
    UNSUPPORTED,
    IcmpMessage,
    MalformedPacket,
    QuotedPacket,
    build_icmp,
    build_ip,
    echo_rest,
    parse_icmp,
    parse_ip,
    parse_quoted,
)
from synack.wire.icmp import ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMPV6_PKT_TOO_BIG

from .strategies import CROSS, FUZZ, LIGHT, ntop

SRC4 = bytes([198, 18, 0, 1])
DST4 = bytes([198, 18, 0, 2])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
messages = st.builds(
    IcmpMessage, u8, u8, st.binary(min_size=4, max_size=4), st.binary(max_size=300)
)
addresses = st.sampled_from([(SRC4, DST4), (SRC6, DST6), (DST6, SRC6)])


def test_known_echo_request_bytes() -> None:
    # An ICMPv4 echo request, id 0x1234, seq 1, data "abcd"; checksum worked by hand:
    # 0x0800 + 0x1234 + 0x0001 + 0x6162 + 0x6364 = 0xDEFB -> ~ = 0x2104.
    msg = IcmpMessage(8, 0, echo_rest(0x1234, 1), b"abcd")
    assert build_icmp(msg, SRC4, DST4) == bytes.fromhex("080021041234000161626364")
    parsed = parse_icmp(bytes.fromhex("080021041234000161626364"), SRC4, DST4)
    assert parsed == msg
    assert (parsed.identifier, parsed.sequence) == (0x1234, 1)


@CROSS
@given(message=messages, pair=addresses)
def test_round_trip(message: IcmpMessage, pair: tuple[bytes, bytes]) -> None:
    src, dst = pair
    assert parse_icmp(build_icmp(message, src, dst), src, dst) == message


@CROSS
@given(ident=u16, seq=u16, data=st.binary(max_size=200), v6=st.booleans())
def test_echo_request_against_scapy(ident: int, seq: int, data: bytes, v6: bool) -> None:
    """Ours decoded by scapy (checksum included), scapy's decoded by us."""
    if v6:
        ours = build_icmp(IcmpMessage(128, 0, echo_rest(ident, seq), data), SRC6, DST6)
        echo = IPv6(build_ip(SRC6, DST6, PROTO_ICMPV6, ours))[ICMPv6EchoRequest]
        assert (echo.id, echo.seq, echo.data) == (ident, seq, data)
        rebuilt = bytes(
            IPv6(src=ntop(SRC6), dst=ntop(DST6)) / ICMPv6EchoRequest(id=ident, seq=seq, data=data)
        )
        src, dst = SRC6, DST6
    else:
        ours = build_icmp(IcmpMessage(8, 0, echo_rest(ident, seq), data), SRC4, DST4)
        icmp = IP(build_ip(SRC4, DST4, PROTO_ICMP, ours))[ICMP]
        assert (icmp.type, icmp.id, icmp.seq, bytes(icmp.payload)) == (8, ident, seq, data)
        rebuilt = bytes(IP(src=ntop(SRC4), dst=ntop(DST4)) / ICMP(type=8, id=ident, seq=seq) / data)
        src, dst = SRC4, DST4
    # scapy's checksum must equal ours, and its bytes must decode to the same message.
    s, d, _proto, payload = parse_ip(rebuilt)
    assert bytes(payload) == ours
    assert parse_icmp(payload, s, d) == parse_icmp(ours, src, dst)


@CROSS
@given(kind=u8, code=u8, rest=st.binary(min_size=4, max_size=4), body=st.binary(max_size=120))
def test_any_icmpv6_checksum_matches_scapy(kind: int, code: int, rest: bytes, body: bytes) -> None:
    """The pseudo-header checksum for any type, checked by scapy recomputing it."""
    ours = build_icmp(IcmpMessage(kind, code, rest, body), SRC6, DST6)
    raw = IPv6(src=ntop(SRC6), dst=ntop(DST6), nh=58) / ICMPv6Unknown(
        type=kind, code=code, msgbody=rest + body
    )
    assert bytes(raw)[40:] == ours


def test_frag_needed_against_scapy() -> None:
    """A "fragmentation needed" as a router would send it, quoting one of our segments."""
    inner = IP(src=ntop(SRC4), dst=ntop(DST4)) / TCP(sport=40000, dport=80, seq=123456789)
    packet = IP(src="198.18.0.9", dst=ntop(SRC4)) / ICMP(type=3, code=4, nexthopmtu=1400) / inner
    src, dst, proto, payload = parse_ip(bytes(packet))
    assert proto == PROTO_ICMP
    msg = parse_icmp(payload, src, dst)
    assert (msg.type, msg.code, msg.next_hop_mtu) == (ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 1400)
    quote = parse_quoted(msg.body, v6=False)
    assert quote == QuotedPacket(SRC4, DST4, PROTO_TCP, 40000, 80, 123456789)


def test_packet_too_big_with_extension_headers_against_scapy() -> None:
    inner = (
        IPv6(src=ntop(SRC6), dst=ntop(DST6))
        / IPv6ExtHdrDestOpt()
        / TCP(sport=50000, dport=443, seq=0xFFFFFFF0)
    )
    packet = IPv6(src="2001:db8::9", dst=ntop(SRC6)) / ICMPv6PacketTooBig(mtu=1280) / inner
    src, dst, proto, payload = parse_ip(bytes(packet))
    assert proto == PROTO_ICMPV6
    msg = parse_icmp(payload, src, dst)
    assert (msg.type, msg.mtu) == (ICMPV6_PKT_TOO_BIG, 1280)
    assert parse_quoted(msg.body, v6=True) == QuotedPacket(
        SRC6, DST6, PROTO_TCP, 50000, 443, 0xFFFFFFF0
    )


def test_quote_cut_after_eight_transport_bytes_is_enough() -> None:
    """RFC 792 quotes only the IP header and 8 bytes; RFC 1812 routers quote more."""
    inner = bytes(IP(src=ntop(SRC4), dst=ntop(DST4)) / UDP(sport=1, dport=2) / (b"x" * 100))
    assert parse_quoted(inner[:28], v6=False).protocol == 17
    with pytest.raises(MalformedPacket) as info:
        parse_quoted(inner[:27], v6=False)
    assert info.value.reason == TRUNCATED
    inner6 = bytes(IPv6(src=ntop(SRC6), dst=ntop(DST6)) / ICMPv6DestUnreach() / Raw(b"y" * 40))
    assert parse_quoted(inner6[:48], v6=True).protocol == PROTO_ICMPV6
    with pytest.raises(MalformedPacket):
        parse_quoted(inner6[:47], v6=True)


@pytest.mark.parametrize(
    ("body", "v6", "reason"),
    [
        (bytes.fromhex("45") + bytes(18), False, TRUNCATED),
        (bytes.fromhex("65") + bytes(27), False, BAD_VERSION),
        (bytes.fromhex("44") + bytes(27), False, BAD_HEADER_LENGTH),
        (bytes.fromhex("4500001c00000001") + bytes(20), False, UNSUPPORTED),  # offset 1
        (bytes.fromhex("4f") + bytes(40), False, TRUNCATED),  # 60-byte header, 41 quoted
        (bytes.fromhex("60") + bytes(38), True, TRUNCATED),
        (bytes.fromhex("40") + bytes(47), True, BAD_VERSION),
        (bytes.fromhex("60000000000006") + bytes(40), True, TRUNCATED),  # 7 TCP bytes
        (bytes.fromhex("6000000000002c") + bytes(49), True, UNSUPPORTED),  # fragment header
    ],
)
def test_bad_quotes(body: bytes, v6: bool, reason: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        parse_quoted(body, v6)
    assert info.value.reason == reason


@pytest.mark.parametrize("n", range(8))
def test_truncated_header(n: int) -> None:
    data = build_icmp(IcmpMessage(8, 0, bytes(4), b""), SRC4, DST4)[:n]
    with pytest.raises(MalformedPacket) as info:
        parse_icmp(data, SRC4, DST4)
    assert info.value.reason == TRUNCATED


@LIGHT
@given(message=messages, pair=addresses, bit=st.integers(0, 10_000))
def test_any_flipped_bit_fails_the_checksum(
    message: IcmpMessage, pair: tuple[bytes, bytes], bit: int
) -> None:
    src, dst = pair
    data = bytearray(build_icmp(message, src, dst))
    bit %= 8 * len(data)
    data[bit >> 3] ^= 1 << (bit & 7)
    with pytest.raises(MalformedPacket) as info:
        parse_icmp(bytes(data), src, dst)
    assert info.value.reason == BAD_CHECKSUM
    # Without verification the flipped message still decodes.
    parse_icmp(bytes(data), src, dst, verify_checksum=False)


def test_icmpv6_checksum_depends_on_the_addresses() -> None:
    data = build_icmp(IcmpMessage(128, 0, bytes(4), b"data"), SRC6, DST6)
    with pytest.raises(MalformedPacket) as info:
        parse_icmp(data, DST6, bytes(16))
    assert info.value.reason == BAD_CHECKSUM


def test_build_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        build_icmp(IcmpMessage(8, 0, b"\x00", b""), SRC4, DST4)
    with pytest.raises(ValueError, match="out of range"):
        build_icmp(IcmpMessage(256, 0), SRC4, DST4)
    with pytest.raises(ValueError, match="too long"):
        build_icmp(IcmpMessage(8, 0, bytes(4), bytes(0x10000)), SRC4, DST4)
    with pytest.raises(ValueError, match="addresses"):
        build_icmp(IcmpMessage(8, 0), SRC4, DST6)
    with pytest.raises(ValueError, match="out of range"):
        echo_rest(0x10000, 0)


@FUZZ
@given(data=st.binary(max_size=200), v6=st.booleans())
def test_random_bytes_decode_or_raise_malformed(data: bytes, v6: bool) -> None:
    src, dst = (SRC6, DST6) if v6 else (SRC4, DST4)
    try:
        msg = parse_icmp(data, src, dst, verify_checksum=False)
    except MalformedPacket:
        return
    assert len(msg.rest) == 4 and msg.body == data[8:]
    with contextlib.suppress(MalformedPacket):
        parse_quoted(msg.body, v6)
