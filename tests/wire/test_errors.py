"""MalformedPacket: the reason strings are counted by the stack, so they are pinned here."""

from __future__ import annotations

import pickle

from synack.wire import (
    BAD_CHECKSUM,
    BAD_DATA_OFFSET,
    BAD_HEADER_LENGTH,
    BAD_OPTION,
    BAD_TOTAL_LENGTH,
    BAD_VERSION,
    REASONS,
    TRUNCATED,
    UNSUPPORTED,
    WRONG_PROTOCOL,
    MalformedPacket,
)


def test_reason_strings_are_exact() -> None:
    assert (
        TRUNCATED,
        BAD_VERSION,
        BAD_HEADER_LENGTH,
        BAD_TOTAL_LENGTH,
        BAD_DATA_OFFSET,
        BAD_OPTION,
        BAD_CHECKSUM,
        WRONG_PROTOCOL,
        UNSUPPORTED,
    ) == (
        "truncated",
        "bad-version",
        "bad-header-length",
        "bad-total-length",
        "bad-data-offset",
        "bad-option",
        "bad-checksum",
        "wrong-protocol",
        "unsupported",
    )
    assert len(REASONS) == 9


def test_reason_detail_and_message() -> None:
    exc = MalformedPacket(BAD_CHECKSUM, "TCP checksum")
    assert isinstance(exc, ValueError)
    assert (exc.reason, exc.detail, str(exc)) == (
        BAD_CHECKSUM,
        "TCP checksum",
        "bad-checksum: TCP checksum",
    )
    assert str(MalformedPacket(WRONG_PROTOCOL)) == "wrong-protocol"


def test_survives_pickling() -> None:
    exc = pickle.loads(pickle.dumps(MalformedPacket(TRUNCATED, "3 bytes")))
    assert (exc.reason, exc.detail) == (TRUNCATED, "3 bytes")
