"""The sender's SACK scoreboard (RFC 6675): what the receiver says it holds above SND.UNA.

The scoreboard is advice only. Bytes leave the send buffer on the cumulative ACK alone,
and a receiver may renege on what it SACKed (RFC 2018 section 8), so a block that lies
can at worst delay a retransmission until the timeout, never lose data. Blocks are
checked before use (RFC 2883 section 4 for D-SACK), and the number of ranges kept is
bounded: forgetting a range costs a needless retransmission, never a byte.
"""

from __future__ import annotations

from typing import NamedTuple

from synack.tcp import seq as sq

#: RFC 6675's DupThresh: segments SACKed above a hole before it counts as lost.
DUP_THRESH = 3
#: Most blocks one ACK can carry (40 bytes of options).
MAX_BLOCKS_PER_ACK = 4
#: Most disjoint SACKed ranges remembered; above it the highest ones are forgotten.
MAX_RANGES = 128
#: A block longer than this cannot describe data in any TCP window.
_MAX_BLOCK = 1 << 30


class SackUpdate(NamedTuple):
    """What one ACK's SACK option did to the scoreboard."""

    newly_sacked: int  # bytes SACKed for the first time
    discarded: int  # blocks ignored as invalid (outside the window, overlapping, extra)
    dsack: bool  # the first block reported a duplicate (RFC 2883)


class Scoreboard:
    """Disjoint SACKed ranges ``(start, end)`` in ascending sequence order above SND.UNA."""

    __slots__ = ("ranges", "sacked")

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.sacked = 0  # bytes in ranges

    def __len__(self) -> int:
        return len(self.ranges)

    def clear(self) -> None:
        """Forget everything: the receiver reneged, or a timeout asks for caution."""
        self.ranges.clear()
        self.sacked = 0

    @property
    def highest(self) -> int | None:
        """One past the highest SACKed byte (RFC 6675's HighSACK + 1), None when empty."""
        return self.ranges[-1][1] if self.ranges else None

    def update(
        self, una: int, snd_max: int, ack: int, blocks: tuple[tuple[int, int], ...]
    ) -> SackUpdate:
        """Take an ACK's SACK blocks once SND.UNA is ``una``; ``ack`` is the ACK field."""
        self.advance(una)
        discarded = max(len(blocks) - MAX_BLOCKS_PER_ACK, 0)
        blocks = blocks[:MAX_BLOCKS_PER_ACK]
        dsack = False
        before = self.sacked
        accepted: list[tuple[int, int]] = []
        for index, (start, end) in enumerate(blocks):
            size = (end - start) & sq.MASK
            if index == 0 and 0 < size < _MAX_BLOCK and _reports_duplicate(blocks, ack):
                dsack = True
                continue
            if not size or size >= _MAX_BLOCK or sq.gt(end, snd_max) or sq.le(start, una):
                # Empty, reversed, beyond what was sent, or claiming SND.UNA itself (which
                # the cumulative ACK says is missing), or all old: not to be trusted.
                discarded += 1
                continue
            if any(sq.lt(start, e) and sq.lt(s, end) for s, e in accepted):
                discarded += 1  # overlaps another block of the same ACK
                continue
            accepted.append((start, end))
            self._insert(una, start, end)
        if len(self.ranges) > MAX_RANGES:
            for start, end in self.ranges[MAX_RANGES:]:
                self.sacked -= (end - start) & sq.MASK
            del self.ranges[MAX_RANGES:]
        return SackUpdate(max(self.sacked - before, 0), discarded, dsack)

    def _insert(self, una: int, start: int, end: int) -> None:
        ranges = self.ranges
        low = (start - una) & sq.MASK
        high = (end - una) & sq.MASK
        at = 0
        while at < len(ranges) and ((ranges[at][1] - una) & sq.MASK) < low:
            at += 1  # wholly below the new block, not touching it
        last = at
        while last < len(ranges) and ((ranges[last][0] - una) & sq.MASK) <= high:
            # Touches or overlaps: merged into one range.
            low = min(low, (ranges[last][0] - una) & sq.MASK)
            high = max(high, (ranges[last][1] - una) & sq.MASK)
            last += 1
        removed = sum((e - s) & sq.MASK for s, e in ranges[at:last])
        ranges[at:last] = [(sq.add(una, low), sq.add(una, high))]
        self.sacked += high - low - removed

    def advance(self, una: int) -> bool:
        """The cumulative ACK moved to ``una``: drop what it covers.

        Returns True, with everything forgotten, if a SACKed range now starts at or spans
        SND.UNA: the receiver acknowledges up to a byte it claimed to hold, so it reneged
        (or lied), and nothing it SACKed can be trusted.
        """
        ranges = self.ranges
        while ranges:
            start, end = ranges[0]
            if sq.le(end, una):
                ranges.pop(0)
                self.sacked -= (end - start) & sq.MASK
                continue
            if sq.le(start, una):
                self.clear()
                return True
            break
        return False

    def sacked_between(self, low: int, high: int) -> int:
        """SACKed bytes in [low, high)."""
        total = 0
        for start, end in self.ranges:
            if sq.ge(start, high):
                break
            s = start if sq.gt(start, low) else low
            e = end if sq.lt(end, high) else high
            if sq.lt(s, e):
                total += (e - s) & sq.MASK
        return total

    def lost_edge(self, mss: int) -> int | None:
        """RFC 6675 IsLost as one boundary: every unSACKed byte below it is lost.

        A byte is lost once DupThresh discontiguous ranges, or more than
        (DupThresh - 1) * SMSS bytes, are SACKed above it; both only grow downwards, so
        the boundary is the start of the highest range at which either holds.
        """
        total = 0
        limit = (DUP_THRESH - 1) * mss
        for count, (start, end) in enumerate(reversed(self.ranges), 1):
            total += (end - start) & sq.MASK
            if count >= DUP_THRESH or total > limit:
                return start
        return None

    def is_lost(self, seq: int, mss: int) -> bool:
        """RFC 6675 IsLost(seq) for an unSACKed ``seq``."""
        edge = self.lost_edge(mss)
        return edge is not None and sq.lt(seq, edge)

    def pipe(self, una: int, snd_max: int, high_rxt: int, lost_edge: int | None) -> int:
        """RFC 6675 SetPipe: bytes thought to be in the network.

        Unsacked bytes not lost count once, and retransmitted ones (below ``high_rxt``,
        one past the highest byte retransmitted) once more.
        """
        outstanding = (snd_max - una) & sq.MASK
        if outstanding >= sq.HALF:
            return 0
        low = una
        if lost_edge is not None and sq.gt(lost_edge, una):
            low = lost_edge if sq.lt(lost_edge, snd_max) else snd_max
        pipe = sq.diff(snd_max, low) - self.sacked_between(low, snd_max)
        if sq.gt(high_rxt, una):
            top = high_rxt if sq.lt(high_rxt, snd_max) else snd_max
            pipe += sq.diff(top, una) - self.sacked_between(una, top)
        return pipe

    def hole(self, pos: int, snd_max: int) -> tuple[int, int] | None:
        """The first unSACKed byte at or after ``pos`` below ``snd_max``, and how many
        unSACKed bytes follow it before the next SACKed one (or ``snd_max``)."""
        for start, end in self.ranges:
            if sq.le(end, pos):
                continue
            if sq.lt(pos, start):
                top = start if sq.lt(start, snd_max) else snd_max
                return (pos, sq.diff(top, pos)) if sq.lt(pos, top) else None
            pos = end
        return (pos, sq.diff(snd_max, pos)) if sq.lt(pos, snd_max) else None


def _reports_duplicate(blocks: tuple[tuple[int, int], ...], ack: int) -> bool:
    """RFC 2883 section 4: the first block is a D-SACK if it lies below the cumulative
    ACK or inside the second block."""
    start, end = blocks[0]
    if sq.lt(start, ack):
        return True
    if len(blocks) < 2:
        return False
    low, high = blocks[1]
    return sq.lt(low, high) and sq.le(low, start) and sq.le(end, high)
