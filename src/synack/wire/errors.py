"""The single exception type of the wire codecs, with a fixed vocabulary of reasons.

The stack turns `MalformedPacket.reason` into counters (``bad-checksum`` is InCsumErrors,
``truncated`` is InTruncatedPkts, the rest are header errors), so the reason strings are
part of the API and never change.
"""

from __future__ import annotations

TRUNCATED = "truncated"
BAD_VERSION = "bad-version"
BAD_HEADER_LENGTH = "bad-header-length"
BAD_TOTAL_LENGTH = "bad-total-length"
BAD_DATA_OFFSET = "bad-data-offset"
BAD_OPTION = "bad-option"
BAD_CHECKSUM = "bad-checksum"
WRONG_PROTOCOL = "wrong-protocol"
UNSUPPORTED = "unsupported"

REASONS: frozenset[str] = frozenset(
    {
        TRUNCATED,
        BAD_VERSION,
        BAD_HEADER_LENGTH,
        BAD_TOTAL_LENGTH,
        BAD_DATA_OFFSET,
        BAD_OPTION,
        BAD_CHECKSUM,
        WRONG_PROTOCOL,
        UNSUPPORTED,
    }
)


class MalformedPacket(ValueError):
    """The one exception every wire decoder raises for bytes that are not a valid packet.

    Subclassing ValueError lets generic callers catch it, while the stack catches exactly
    this type so that a bug (any other exception) is never mistaken for a bad packet.
    """

    reason: str
    detail: str

    def __init__(self, reason: str, detail: str = "") -> None:
        # Both go into args so the exception pickles (pytest-xdist, multiprocessing).
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason
