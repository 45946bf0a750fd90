"""Ladder diagrams show what a reader needs: states, flags, relative numbers, losses."""

from __future__ import annotations

from synack.scenarios.catalog import Options, find
from synack.trace.ladder import render_ladder, state_summary


def test_handshake_ladder_reads_like_the_seeds_figures() -> None:
    world = find("handshake").run(Options())
    lines = render_ladder(world.trace).splitlines()
    arrows = [line for line in lines if "seq=" in line]
    assert "SYN seq=0 win=65535 mss=1460" in arrows[0] and arrows[0].rstrip().endswith(">|")
    assert "SYN,ACK seq=0 ack=1" in arrows[1] and "|<" in arrows[1]
    assert "ACK seq=1 ack=1" in arrows[2]
    # Every arrow and rail is the same width, so the right-hand states line up.
    rails = {line.index("|") for line in lines[1:]}
    ends = {line.rstrip().rindex("|") for line in lines[1:] if "|" in line}
    assert len(rails) == 1 and len(ends) == 1
    # A state change is drawn before the segment it sent.
    syn_sent = next(i for i, line in enumerate(lines) if "SYN_SENT" in line)
    assert syn_sent < lines.index(arrows[0])


def test_losses_and_retransmissions_are_marked() -> None:
    world = find("lost-last-ack").run(Options())
    text = render_ladder(world.trace)
    lost = [line for line in text.splitlines() if "(dropped)" in line]
    assert len(lost) == 1 and "-X" in lost[0]
    assert any("rtx FIN,ACK" in line for line in text.splitlines())


def test_relative_numbers_are_per_connection() -> None:
    world = find("client-port-reuse").run(Options())
    syns = [e for e in world.trace.exchange() if e[1] == "SYN"]
    assert len(syns) == 2 and all(e[2] == 0 for e in syns)


def test_state_summary_lists_each_connection() -> None:
    world = find("simultaneous-close").run(Options())
    summary = state_summary(world.trace, "A")
    assert "FIN_WAIT_1 > CLOSING > TIME_WAIT > CLOSED" in summary
