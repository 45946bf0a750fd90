"""Hypothesis strategies and scapy converters shared by the wire tests."""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from synack.wire import (
    EOL,
    MSS,
    NOP,
    SACK,
    SACK_PERMITTED,
    TIMESTAMP,
    WSCALE,
    IPv4Header,
    IPv6Header,
    TcpOptions,
    TcpSegment,
)

# The cross-checks run thousands of scapy round trips; scapy is slow, so no deadline.
CROSS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Random bytes are cheap to generate; mutated packets and round trips draw a whole header.
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MUTATE = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIGHT = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ipv4_addr = st.binary(min_size=4, max_size=4)
ipv6_addr = st.binary(min_size=16, max_size=16)
addr_pair = st.one_of(st.tuples(ipv4_addr, ipv4_addr), st.tuples(ipv6_addr, ipv6_addr))
payloads = st.binary(max_size=300)

# Option kinds scapy names itself; "unknown" ones must avoid them so scapy's decoding
# yields (kind, bytes) just as ours does.
SCAPY_NAMED_KINDS = frozenset({0, 1, 2, 3, 4, 5, 8, 14, 15, 19, 25, 28, 29, 34})
unknown_kind = st.sampled_from([k for k in range(6, 256) if k not in SCAPY_NAMED_KINDS])

OPTION_SIZE = {NOP: 1, EOL: 1, MSS: 4, WSCALE: 3, SACK_PERMITTED: 2, TIMESTAMP: 10}


def ntop(addr: bytes) -> str:
    """Text form of a 4- or 16-byte address, for scapy."""
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


_OPTION_ITEMS = st.one_of(
    st.just(("nop",)),
    st.tuples(st.just("mss"), u16),
    st.tuples(st.just("wscale"), u8),
    st.just(("sackok",)),
    st.tuples(st.just("ts"), u32, u32),
    st.tuples(st.just("sack"), st.lists(st.tuples(u32, u32), min_size=1, max_size=4)),
    st.tuples(st.just("unknown"), unknown_kind, st.binary(max_size=12)),
)


def _assemble(items: list[tuple[Any, ...]], eol: bool) -> TcpOptions:
    """Lay items out in order, dropping repeats of known kinds and whatever does not fit."""
    size = 0
    layout: list[int] = []
    fields: dict[str, Any] = {}
    unknown: list[tuple[int, bytes]] = []
    for item in items:
        room = 40 - size - 1  # keep a byte for a possible EOL
        name = item[0]
        if name == "nop" and room >= 1:
            layout.append(NOP)
            size += 1
        elif name == "mss" and "mss" not in fields and room >= 4:
            fields["mss"] = item[1]
            layout.append(MSS)
            size += 4
        elif name == "wscale" and "wscale" not in fields and room >= 3:
            fields["wscale"] = item[1]
            layout.append(WSCALE)
            size += 3
        elif name == "sackok" and "sack_permitted" not in fields and room >= 2:
            fields["sack_permitted"] = True
            layout.append(SACK_PERMITTED)
            size += 2
        elif name == "ts" and "timestamp" not in fields and room >= 10:
            fields["timestamp"] = (item[1], item[2])
            layout.append(TIMESTAMP)
            size += 10
        elif name == "sack" and "sack_blocks" not in fields and room >= 10:
            blocks = tuple(item[1][: (room - 2) // 8])
            fields["sack_blocks"] = blocks
            layout.append(SACK)
            size += 2 + 8 * len(blocks)
        elif name == "unknown" and room >= 2:
            value = item[2][: room - 2]
            unknown.append((item[1], value))
            layout.append(item[1])
            size += 2 + len(value)
    if size % 4 or (eol and size < 40):
        layout.append(EOL)
    return TcpOptions(unknown=tuple(unknown), layout=tuple(layout), **fields)


# Options with an explicit layout that decodes back to itself: each known kind at most
# once, any number of NOPs and unknown options, and an EOL only at the end, present
# whenever the length is not a multiple of 4 (encode pads with EOL, which decode reports).
explicit_options = st.builds(_assemble, st.lists(_OPTION_ITEMS, max_size=12), st.booleans())


def _fit_sack(opts: TcpOptions) -> TcpOptions:
    room = 40 - default_size(replace(opts, sack_blocks=()))
    opts.sack_blocks = opts.sack_blocks[: max(0, (room - 4) // 8)]
    return opts


# Options with an empty layout (the Linux default), trimmed to fit 40 bytes.
default_options = st.builds(
    TcpOptions,
    mss=st.none() | u16,
    wscale=st.none() | u8,
    sack_permitted=st.booleans(),
    sack_blocks=st.lists(st.tuples(u32, u32), max_size=4).map(tuple),
    timestamp=st.none() | st.tuples(u32, u32),
).map(_fit_sack)


def default_size(opts: TcpOptions) -> int:
    """Bytes the default layout takes, worked out independently of the encoder."""
    size = 4 if opts.mss is not None else 0
    size += 12 if opts.timestamp is not None else 4 if opts.sack_permitted else 0
    size += 4 if opts.wscale is not None else 0
    size += 4 + 8 * len(opts.sack_blocks) if opts.sack_blocks else 0
    return size


def to_scapy_options(opts: TcpOptions) -> list[tuple[object, object]]:
    """Our options in scapy's list form, following the explicit layout."""
    out: list[tuple[object, object]] = []
    unknown = list(opts.unknown)
    for kind in opts.layout:
        if kind == NOP:
            out.append(("NOP", None))
        elif kind == EOL:
            out.append(("EOL", None))
        elif kind == MSS:
            out.append(("MSS", opts.mss))
        elif kind == WSCALE:
            out.append(("WScale", opts.wscale))
        elif kind == SACK_PERMITTED:
            out.append(("SAckOK", b""))
        elif kind == TIMESTAMP:
            out.append(("Timestamp", opts.timestamp))
        elif kind == SACK:
            out.append(("SAck", tuple(edge for block in opts.sack_blocks for edge in block)))
        else:
            out.append(unknown.pop(0))
    return out


def options_or_none() -> st.SearchStrategy[TcpOptions | None]:
    return st.none() | explicit_options | default_options


tcp_segments = st.builds(
    TcpSegment,
    src_port=u16,
    dst_port=u16,
    seq=u32,
    ack=u32,
    flags=u8,
    window=u16,
    urgent=u16,
    options=options_or_none(),
    payload=payloads,
)

ipv4_options = st.lists(
    st.sampled_from([b"\x01", b"\x94\x04\x00\x00", b"\x07\x07\x04\x00\x00\x00\x00"]), max_size=5
).map(lambda parts: (b"".join(parts) + b"\x00" * 3)[: (len(b"".join(parts)) + 3) // 4 * 4])

ipv4_headers = st.builds(
    IPv4Header,
    src=ipv4_addr,
    dst=ipv4_addr,
    protocol=u8,
    ttl=u8,
    tos=u8,
    ident=u16,
    dont_fragment=st.booleans(),
    more_fragments=st.just(False),
    frag_offset=st.just(0),
    options=ipv4_options,
)

ipv6_headers = st.builds(
    IPv6Header,
    src=ipv6_addr,
    dst=ipv6_addr,
    next_header=u8.filter(lambda nh: nh not in (0, 43, 44, 60)),
    hop_limit=u8,
    traffic_class=u8,
    flow_label=st.integers(0, 0xFFFFF),
)
