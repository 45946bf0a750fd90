"""The sender's SACK scoreboard: blocks taken or refused, IsLost, pipe and NextSeg's holes."""

from __future__ import annotations

import pytest

from synack.tcp import seq as sq
from synack.tcp.scoreboard import MAX_RANGES, Scoreboard

UNA = 10_000
MSS = 1000
SND_MAX = UNA + 10 * MSS


def seg(n: int, count: int = 1) -> tuple[int, int]:
    """Segments n .. n + count - 1 above UNA, as a SACK block."""
    return (UNA + n * MSS, UNA + (n + count) * MSS)


def board(*blocks: tuple[int, int], una: int = UNA, snd_max: int = SND_MAX) -> Scoreboard:
    sb = Scoreboard()
    update = sb.update(una, snd_max, una, blocks)
    assert update.discarded == 0 and not update.dsack
    return sb


def test_blocks_merge_into_ranges_and_count_new_bytes_once() -> None:
    sb = Scoreboard()
    assert sb.update(UNA, SND_MAX, UNA, (seg(2),)).newly_sacked == MSS
    assert sb.update(UNA, SND_MAX, UNA, (seg(4), seg(2))).newly_sacked == MSS
    assert sb.update(UNA, SND_MAX, UNA, (seg(3), seg(4), seg(2))).newly_sacked == MSS
    assert sb.ranges == [seg(2, 3)]
    assert sb.sacked == 3 * MSS
    assert sb.update(UNA, SND_MAX, UNA, (seg(2, 3),)).newly_sacked == 0


def test_a_block_that_spans_several_ranges_swallows_them() -> None:
    sb = board(seg(1), seg(3), seg(5), seg(8))
    update = sb.update(UNA, SND_MAX, UNA, (seg(2, 4),))
    assert sb.ranges == [seg(1, 5), seg(8)]
    assert update.newly_sacked == 2 * MSS
    assert sb.sacked == 6 * MSS


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ((UNA + 6000, SND_MAX + 1), "ends beyond what was sent"),
        ((UNA + 3000, UNA + 2000), "reversed"),
        ((UNA + 3000, UNA + 3000), "empty"),
        ((UNA, UNA + 1000), "claims SND.UNA, which the cumulative ACK says is missing"),
        ((UNA - 5000, UNA - 4000), "all below SND.UNA"),
        ((UNA + 5, UNA + 5 + (1 << 31)), "longer than any window"),
    ],
)
def test_a_lying_block_is_discarded(block: tuple[int, int], why: str) -> None:
    sb = Scoreboard()
    # Behind a valid first block, so the D-SACK rule (first block only) does not apply.
    update = sb.update(UNA, SND_MAX, UNA, (seg(5), block))
    assert update.discarded == 1, why
    assert sb.ranges == [seg(5)], why


def test_overlapping_blocks_in_one_ack_keep_only_the_first() -> None:
    sb = Scoreboard()
    update = sb.update(UNA, SND_MAX, UNA, (seg(2, 3), seg(4, 3)))
    assert update.discarded == 1
    assert sb.ranges == [seg(2, 3)]


def test_more_blocks_than_fit_in_the_options_are_discarded() -> None:
    sb = Scoreboard()
    update = sb.update(UNA, SND_MAX, UNA, (seg(1), seg(3), seg(5), seg(7), seg(9)))
    assert update.discarded == 1
    assert sb.ranges == [seg(1), seg(3), seg(5), seg(7)]


def test_dsack_below_the_cumulative_ack_is_recognised_and_not_recorded() -> None:
    sb = Scoreboard()
    update = sb.update(UNA, SND_MAX, UNA, ((UNA - 1000, UNA), seg(3)))
    assert update.dsack
    assert update.discarded == 0
    assert sb.ranges == [seg(3)]


def test_dsack_inside_the_second_block_is_recognised() -> None:
    sb = board(seg(2, 3))
    update = sb.update(UNA, SND_MAX, UNA, (seg(3), seg(2, 3)))
    assert update.dsack
    assert update.newly_sacked == 0
    assert sb.ranges == [seg(2, 3)]


def test_the_cumulative_ack_drops_covered_ranges() -> None:
    sb = board(seg(2), seg(4, 2))
    assert not sb.advance(UNA + 3 * MSS)
    assert sb.ranges == [seg(4, 2)]
    assert sb.sacked == 2 * MSS
    assert not sb.advance(UNA + 6 * MSS)
    assert len(sb) == 0 and sb.sacked == 0


def test_an_ack_up_to_a_sacked_range_means_reneging_and_forgets_everything() -> None:
    # The receiver said it held 2 and 4..5, then acknowledges up to 2 only: it threw
    # out-of-order data away (RFC 2018 section 8), so no SACK of it can be believed.
    sb = board(seg(2), seg(4, 2))
    assert sb.advance(UNA + 2 * MSS)
    assert len(sb) == 0 and sb.sacked == 0


def test_is_lost_needs_three_sacked_segments_above() -> None:
    sb = board(seg(5), seg(6))
    assert not sb.is_lost(UNA, MSS)  # two segments SACKed above: could be reordering
    assert sb.lost_edge(MSS) is None
    sb.update(UNA, SND_MAX, UNA, (seg(8),))
    assert sb.is_lost(UNA, MSS)
    assert sb.is_lost(UNA + 4 * MSS, MSS)
    assert not sb.is_lost(UNA + 7 * MSS, MSS)  # only one segment above it
    assert sb.lost_edge(MSS) == UNA + 5 * MSS


def test_is_lost_counts_discontiguous_ranges_of_small_segments() -> None:
    sb = board((UNA + 1000, UNA + 1100), (UNA + 1200, UNA + 1300), (UNA + 1400, UNA + 1500))
    assert sb.is_lost(UNA, MSS)  # three ranges, though only 300 bytes
    assert not sb.is_lost(UNA + 1150, MSS)


def test_pipe_counts_unsacked_unlost_bytes_and_retransmissions() -> None:
    sb = board(seg(4, 3))  # 0..3 lost, 7..9 in flight
    edge = sb.lost_edge(MSS)
    assert edge == UNA + 4 * MSS
    assert sb.pipe(UNA, SND_MAX, UNA, edge) == 3 * MSS
    # Segments 0 and 1 retransmitted: they are in the network again.
    assert sb.pipe(UNA, SND_MAX, UNA + 2 * MSS, edge) == 5 * MSS
    # Nothing lost yet: every unSACKed byte counts.
    assert board(seg(4)).pipe(UNA, SND_MAX, UNA, None) == 9 * MSS


def test_holes_are_found_in_order_and_end_at_the_next_sacked_byte() -> None:
    sb = board(seg(1), seg(3, 2))
    assert sb.hole(UNA, SND_MAX) == (UNA, MSS)
    assert sb.hole(UNA + MSS, SND_MAX) == (UNA + 2 * MSS, MSS)
    assert sb.hole(UNA + 2500, SND_MAX) == (UNA + 2500, 500)
    assert sb.hole(UNA + 3 * MSS, SND_MAX) == (UNA + 5 * MSS, 5 * MSS)
    assert sb.hole(SND_MAX, SND_MAX) is None
    assert sb.highest == UNA + 5 * MSS


def test_the_scoreboard_is_bounded_whatever_the_peer_sends() -> None:
    una, snd_max = 0, 1 << 29
    sb = Scoreboard()
    for n in range(0, 4 * MAX_RANGES, 4):  # disjoint one-byte blocks, four per ACK
        blocks = tuple((una + 2 * (n + i) + 1, una + 2 * (n + i) + 2) for i in range(4))
        sb.update(una, snd_max, una, blocks)
    assert len(sb) == MAX_RANGES
    assert sb.sacked == MAX_RANGES  # bytes of the ranges kept, no more
    # The lowest ranges are the ones kept: they describe the holes to repair first.
    assert sb.ranges[0] == (1, 2)


def test_sequence_numbers_wrap() -> None:
    una = sq.MASK - 1500
    snd_max = sq.add(una, 10 * MSS)
    sb = Scoreboard()
    blocks = ((sq.add(una, 1000), sq.add(una, 3000)), (sq.add(una, 4000), sq.add(una, 5000)))
    sb.update(una, snd_max, una, blocks)
    assert sb.sacked == 3000
    assert sb.hole(sq.add(una, 1000), snd_max) == (sq.add(una, 3000), 1000)
    assert not sb.advance(sq.add(una, 3500))
    assert sb.ranges == [(sq.add(una, 4000), sq.add(una, 5000))]
