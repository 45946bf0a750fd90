"""The internet checksum against a word-by-word reference, scapy, and RFC 1071."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.utils import checksum as scapy_checksum

from synack.wire import checksum, ones_sum, pseudo_sum
from synack.wire.checksum import fold_ffff

from .strategies import addr_pair


def reference_sum(data: bytes, start: int = 0) -> int:
    """RFC 1071 written out: add 16-bit words, fold the carries back in."""
    if len(data) % 2:
        data += b"\x00"
    total = start
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@settings(max_examples=1000, deadline=None)
@given(data=st.binary(max_size=1500), start=st.integers(0, 0xFFFF))
def test_ones_sum_matches_reference(data: bytes, start: int) -> None:
    expected = reference_sum(data, start)
    assert ones_sum(data, start) == expected
    assert ones_sum(bytearray(data), start) == expected
    assert ones_sum(memoryview(data), start) == expected
    assert checksum(data, start) == ~expected & 0xFFFF


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=1500))
def test_checksum_matches_scapy(data: bytes) -> None:
    assert checksum(data) == scapy_checksum(data)


@settings(max_examples=200, deadline=None)
@given(first=st.binary(max_size=200), second=st.binary(max_size=200))
def test_partial_sums_chain_through_start(first: bytes, second: bytes) -> None:
    if len(first) % 2:
        first += b"\x00"
    assert ones_sum(second, ones_sum(first)) == ones_sum(first + second)


def test_empty_and_odd_lengths() -> None:
    assert ones_sum(b"") == 0
    assert ones_sum(b"", 0x1234) == 0x1234
    assert checksum(b"") == 0xFFFF
    assert ones_sum(b"\xab") == 0xAB00
    assert ones_sum(b"\x12\x34\x56") == 0x1234 + 0x5600


def test_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert ones_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_nonzero_sum_folds_to_ffff_not_zero() -> None:
    # End-around carry never yields 0 for non-zero input; a modulo shortcut must agree.
    assert ones_sum(b"\xff\xff" * 3) == 0xFFFF
    assert ones_sum(b"\x00\x01", 0xFFFE) == 0xFFFF
    assert checksum(b"\xff\xff") == 0


def test_data_with_its_checksum_sums_to_ffff() -> None:
    data = bytes(range(1, 41))
    field = checksum(data).to_bytes(2, "big")
    assert ones_sum(data + field) == 0xFFFF


@settings(max_examples=500, deadline=None)
@given(addrs=addr_pair, protocol=st.integers(0, 255), length=st.integers(0, 0xFFFF))
def test_pseudo_sum_matches_the_pseudo_header_bytes(
    addrs: tuple[bytes, bytes], protocol: int, length: int
) -> None:
    src, dst = addrs
    if len(src) == 4:  # RFC 9293 3.1: src, dst, zero, PTCL, TCP length
        header = src + dst + bytes([0, protocol]) + length.to_bytes(2, "big")
    else:  # RFC 8200 8.1: src, dst, 32-bit length, 3 zero bytes, next header
        header = src + dst + length.to_bytes(4, "big") + bytes([0, 0, 0, protocol])
    assert pseudo_sum(src, dst, protocol, length) == reference_sum(header)


@pytest.mark.parametrize(("src_len", "dst_len"), [(4, 16), (16, 4), (5, 5), (0, 0)])
def test_pseudo_sum_rejects_bad_address_lengths(src_len: int, dst_len: int) -> None:
    with pytest.raises(ValueError, match="4 or 16 bytes"):
        pseudo_sum(b"\x01" * src_len, b"\x01" * dst_len, 6, 20)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=9000))
def test_fold_ffff_is_the_remainder(data: bytes) -> None:
    x = int.from_bytes(data, "little")
    assert fold_ffff(x) == x % 0xFFFF


@pytest.mark.parametrize("bits", [0, 1536, 1537, 6144, 6145, 12288, 12289, 70000 * 8])
def test_fold_ffff_at_its_split_points(bits: int) -> None:
    for x in ((1 << bits) - 1, 1 << bits, (1 << bits) + 0xFFFE):
        assert fold_ffff(x) == x % 0xFFFF
