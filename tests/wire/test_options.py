"""TCP options: exact layouts, malformed lengths, round trips, and scapy cross-checks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP

from synack.wire import (
    BAD_OPTION,
    EOL,
    MSS,
    NOP,
    SACK,
    SACK_PERMITTED,
    TIMESTAMP,
    WSCALE,
    MalformedPacket,
    TcpOptions,
    TcpSegment,
    build_tcp,
    decode_options,
    default_layout,
    encode_options,
    parse_tcp,
)

from .strategies import (
    CROSS,
    LIGHT,
    default_options,
    default_size,
    explicit_options,
    ntop,
    to_scapy_options,
)

SRC = bytes([198, 18, 0, 1])
DST = bytes([198, 18, 0, 2])


def linux_layout(opts: TcpOptions) -> tuple[int, ...]:
    """tcp_options_write's order, written out here independently of the encoder."""
    layout: tuple[int, ...] = ()
    if opts.mss is not None:
        layout += (MSS,)
    if opts.timestamp is not None and opts.sack_permitted:
        layout += (SACK_PERMITTED, TIMESTAMP)
    elif opts.timestamp is not None:
        layout += (NOP, NOP, TIMESTAMP)
    elif opts.sack_permitted:
        layout += (NOP, NOP, SACK_PERMITTED)
    if opts.wscale is not None:
        layout += (NOP, WSCALE)
    if opts.sack_blocks:
        layout += (NOP, NOP, SACK)
    return layout


# -- exact bytes of the default layout --------------------------------------------------


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        (TcpOptions(), ""),
        # The Linux SYN: <mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 7>, 20 bytes.
        (
            TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(1, 2)),
            "020405b4 0402 080a 00000001 00000002 01 030307",
        ),
        # With timestamps off: <mss,nop,nop,sackOK,nop,wscale>.
        (
            TcpOptions(mss=1460, wscale=7, sack_permitted=True),
            "020405b4 01010402 01030307",
        ),
        (TcpOptions(timestamp=(0xDEADBEEF, 7)), "0101080a deadbeef 00000007"),
        (TcpOptions(sack_permitted=True), "01010402"),
        (TcpOptions(wscale=14), "0103030e"),
        (TcpOptions(mss=536), "02040218"),
        (
            TcpOptions(timestamp=(5, 6), sack_blocks=((100, 200), (300, 400))),
            "0101080a 00000005 00000006 0101 0512 00000064 000000c8 0000012c 00000190",
        ),
        # Unknown options follow the known ones, then EOL padding.
        (TcpOptions(mss=1400, unknown=((30, b"\xaa"),)), "02040578 1e03aa 00"),
    ],
)
def test_default_layout_bytes(options: TcpOptions, wire: str) -> None:
    assert encode_options(options) == bytes.fromhex(wire)


def test_default_layout_reports_the_linux_order() -> None:
    syn = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(1, 2))
    assert default_layout(syn) == (MSS, SACK_PERMITTED, TIMESTAMP, NOP, WSCALE)
    assert decode_options(encode_options(syn)).layout == default_layout(syn)


# -- explicit layouts --------------------------------------------------------------------


def test_explicit_layout_is_followed_and_padded_with_eol() -> None:
    opts = TcpOptions(mss=1000, wscale=7, layout=(MSS, NOP, WSCALE))
    assert encode_options(opts) == bytes.fromhex("020403e8 01030307")
    opts = TcpOptions(mss=1000, wscale=2, layout=(MSS, WSCALE))
    assert encode_options(opts) == bytes.fromhex("020403e8 03030200")
    opts = TcpOptions(timestamp=(1, 2), layout=(TIMESTAMP, NOP, NOP))
    assert encode_options(opts) == bytes.fromhex("080a 00000001 00000002 0101")
    opts = TcpOptions(layout=(NOP, EOL, NOP))
    assert encode_options(opts) == bytes.fromhex("01000100")


def test_explicit_layout_with_unknown_options_in_order() -> None:
    opts = TcpOptions(unknown=((30, b"ab"), (99, b"")), layout=(99, NOP, 30))
    with pytest.raises(ValueError, match="kind 99"):
        encode_options(opts)
    opts = TcpOptions(unknown=((30, b"ab"), (99, b"")), layout=(30, NOP, 99))
    assert encode_options(opts) == bytes.fromhex("1e046162 01630200")


@pytest.mark.parametrize(
    "options",
    [
        TcpOptions(layout=(MSS,)),
        TcpOptions(layout=(WSCALE,)),
        TcpOptions(layout=(SACK_PERMITTED,)),
        TcpOptions(layout=(SACK,)),
        TcpOptions(layout=(TIMESTAMP,)),
        TcpOptions(layout=(77,)),
    ],
)
def test_layout_naming_an_absent_option_is_refused(options: TcpOptions) -> None:
    with pytest.raises(ValueError, match="layout lists"):
        encode_options(options)


@pytest.mark.parametrize(
    "options",
    [
        TcpOptions(mss=1460, layout=(NOP,)),
        TcpOptions(wscale=1, layout=(NOP,)),
        TcpOptions(sack_permitted=True, layout=(NOP,)),
        TcpOptions(sack_blocks=((1, 2),), layout=(NOP,)),
        TcpOptions(timestamp=(1, 2), layout=(NOP,)),
        TcpOptions(unknown=((77, b""),), layout=(NOP,)),
    ],
)
def test_layout_leaving_out_a_present_option_is_refused(options: TcpOptions) -> None:
    with pytest.raises(ValueError, match="missing from layout"):
        encode_options(options)


@pytest.mark.parametrize(
    "options",
    [
        # 12 (NOP,NOP,TS) + 4 + 4*8 = 48 bytes.
        TcpOptions(timestamp=(1, 2), sack_blocks=((1, 2),) * 4),
        TcpOptions(layout=(NOP,) * 41),
        TcpOptions(unknown=((99, bytes(40)),)),
        TcpOptions(mss=70000),
        TcpOptions(mss=-1),
        TcpOptions(wscale=256),
        TcpOptions(timestamp=(1 << 32, 0)),
        TcpOptions(sack_blocks=((0, 1 << 32),)),
        TcpOptions(unknown=((99, bytes(254)),), layout=(99,)),
    ],
)
def test_options_that_do_not_fit_are_refused(options: TcpOptions) -> None:
    with pytest.raises(ValueError):
        encode_options(options)


# -- decoding ----------------------------------------------------------------------------


def test_decode_fills_fields_and_layout() -> None:
    wire = bytes.fromhex("020405b4 0402 080a 00000001 00000002 01 030307")
    assert decode_options(wire) == TcpOptions(
        mss=1460,
        wscale=7,
        sack_permitted=True,
        timestamp=(1, 2),
        layout=(MSS, SACK_PERMITTED, TIMESTAMP, NOP, WSCALE),
    )


def test_eol_ends_the_list_and_later_bytes_are_ignored() -> None:
    # After EOL even a malformed option is not looked at.
    wire = bytes.fromhex("01 00 02ff 0000")
    assert decode_options(wire) == TcpOptions(layout=(NOP, EOL))


def test_unknown_options_are_kept_and_skipped_by_length() -> None:
    wire = bytes.fromhex("fe06 01020304 1b02 020405b4")
    assert decode_options(wire) == TcpOptions(
        mss=1460, unknown=((254, bytes([1, 2, 3, 4])), (27, b"")), layout=(254, 27, MSS)
    )


def test_a_repeated_option_keeps_the_last_value() -> None:
    wire = bytes.fromhex("02040100 02040200")
    assert decode_options(wire) == TcpOptions(mss=0x200, layout=(MSS, MSS))


def test_large_window_scale_is_kept_as_sent() -> None:
    assert decode_options(bytes.fromhex("030330 00")).wscale == 0x30


def test_sack_blocks_in_order() -> None:
    wire = bytes.fromhex("0101 0512 00000001 00000002 fffffffe ffffffff")
    opts = decode_options(wire)
    assert opts.sack_blocks == ((1, 2), (0xFFFFFFFE, 0xFFFFFFFF))
    assert opts.layout == (NOP, NOP, SACK)


@pytest.mark.parametrize(
    "wire",
    [
        "02",  # a kind with no length byte
        "0101 08",  # the same after NOPs
        "fe00",  # length below 2: would loop forever
        "fe01",
        "0200",
        "0206 0000",  # runs past the end
        "fe05 0000",
        "0203 00",  # MSS must be 4
        "0205 000000",
        "0302",  # WSCALE must be 3
        "0304 0000",
        "0403 00",  # SACK_PERMITTED must be 2
        "0809" + "00" * 7,  # TIMESTAMP must be 10
        "080b" + "00" * 9,
        "0502",  # SACK must be 2 + 8n, n in 1..4
        "050c" + "00" * 10,
        "0509" + "00" * 7,
        "0511" + "00" * 15,
        "052a" + "00" * 40,  # five blocks
    ],
)
def test_bad_option_lengths(wire: str) -> None:
    with pytest.raises(MalformedPacket) as info:
        decode_options(bytes.fromhex(wire))
    assert info.value.reason == BAD_OPTION


def test_bad_option_inside_a_segment() -> None:
    segment = TcpSegment(1, 2, 3, 4, 0x10, 5, options=TcpOptions(mss=1460))
    wire = bytearray(build_tcp(segment, SRC, DST))
    wire[21] = 5  # MSS length 5
    with pytest.raises(MalformedPacket) as info:
        parse_tcp(bytes(wire), SRC, DST, verify_checksum=False)
    assert info.value.reason == BAD_OPTION


# -- properties --------------------------------------------------------------------------


@LIGHT
@given(explicit_options)
def test_round_trip_explicit_layout(options: TcpOptions) -> None:
    wire = encode_options(options)
    assert len(wire) % 4 == 0
    assert len(wire) <= 40
    assert decode_options(wire) == options
    assert decode_options(memoryview(wire)) == options


@LIGHT
@given(default_options)
def test_round_trip_default_layout(options: TcpOptions) -> None:
    wire = encode_options(options)
    assert len(wire) == default_size(options)
    assert decode_options(wire) == replace(options, layout=linux_layout(options))


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_decode_or_raise_bad_option(data: bytes) -> None:
    try:
        first = decode_options(data)
    except MalformedPacket as exc:
        assert exc.reason == BAD_OPTION
        return
    # Re-encoding what was decoded reproduces it, up to the EOL padding encode adds.
    again = decode_options(encode_options(first))
    assert replace(again, layout=()) == replace(first, layout=())
    assert again.layout[: len(first.layout)] == first.layout
    assert set(again.layout[len(first.layout) :]) <= {EOL}
    assert decode_options(encode_options(again)) == again


# -- against scapy -----------------------------------------------------------------------


def scapy_segment(options: list[tuple[object, object]]) -> bytes:
    """A TCP segment built by scapy, checksummed over the SRC/DST pseudo-header."""
    packet = IP(src=ntop(SRC), dst=ntop(DST)) / TCP(sport=1, dport=2, flags="A", options=options)
    return bytes(packet)[20:]


@CROSS
@given(explicit_options)
def test_explicit_options_against_scapy(options: TcpOptions) -> None:
    ours = build_tcp(TcpSegment(1, 2, 3, 4, 0x10, 5, options=options), SRC, DST)
    assert TCP(ours).options == to_scapy_options(options)
    theirs = scapy_segment(to_scapy_options(options))
    expected = options if options.layout else None  # no options: a 20-byte header
    assert parse_tcp(theirs, SRC, DST).options == expected


@settings(max_examples=500, deadline=None)
@given(default_options)
def test_scapy_decodes_our_default_layout(options: TcpOptions) -> None:
    wire = build_tcp(TcpSegment(1, 2, 3, 4, 0x10, 5, options=options), SRC, DST)
    expected = replace(options, layout=linux_layout(options))
    assert TCP(wire).options == to_scapy_options(expected)
