"""Every arrow of the RFC 9293 state diagram (and those SCENARIOS.md adds) is taken.

The scenarios are the tests that take them; this test runs them all, gathers the
transitions their traces show, and fails naming any arrow that none takes.
"""

from __future__ import annotations

import functools

from synack.scenarios.catalog import SCENARIOS, Options
from synack.tcp.state import SYNCHRONIZED, State

S = State

#: (from, to, what the arrow is). Figure 5 of RFC 9293, then the arrows outside it.
FIGURE_5 = [
    (S.CLOSED, S.LISTEN, "passive open"),
    (S.CLOSED, S.SYN_SENT, "active open, send SYN"),
    (S.LISTEN, S.SYN_RCVD, "receive SYN, send SYN,ACK"),
    (S.LISTEN, S.SYN_SENT, "send, send SYN"),
    (S.LISTEN, S.CLOSED, "close"),
    (S.SYN_SENT, S.SYN_RCVD, "receive SYN, send SYN,ACK (simultaneous open)"),
    (S.SYN_SENT, S.ESTABLISHED, "receive SYN,ACK, send ACK"),
    (S.SYN_SENT, S.CLOSED, "close, timeout or RST"),
    (S.SYN_RCVD, S.ESTABLISHED, "receive ACK of SYN"),
    (S.SYN_RCVD, S.FIN_WAIT_1, "close, send FIN"),
    (S.SYN_RCVD, S.LISTEN, "receive RST (passive open)"),
    (S.ESTABLISHED, S.FIN_WAIT_1, "close, send FIN"),
    (S.ESTABLISHED, S.CLOSE_WAIT, "receive FIN, send ACK"),
    (S.FIN_WAIT_1, S.FIN_WAIT_2, "receive ACK of FIN"),
    (S.FIN_WAIT_1, S.CLOSING, "receive FIN, send ACK"),
    (S.FIN_WAIT_1, S.TIME_WAIT, "receive FIN and ACK of FIN"),
    (S.FIN_WAIT_2, S.TIME_WAIT, "receive FIN, send ACK"),
    (S.CLOSING, S.TIME_WAIT, "receive ACK of FIN"),
    (S.CLOSE_WAIT, S.LAST_ACK, "close, send FIN"),
    (S.LAST_ACK, S.CLOSED, "receive ACK of FIN"),
    (S.TIME_WAIT, S.CLOSED, "timeout"),
]

#: (from, to, reason the engine records, what the arrow is). None: any synchronized state.
OUTSIDE = [
    (S.SYN_SENT, S.CLOSED, "close", "close() in SYN_SENT"),
    (S.SYN_SENT, S.CLOSED, "timeout", "SYN retransmissions exhausted"),
    (S.SYN_SENT, S.CLOSED, "reset", "acceptable RST (refused)"),
    (None, S.CLOSED, "reset", "synchronized state, acceptable RST"),
    (None, S.CLOSED, "abort", "synchronized state, abort"),
    (None, S.CLOSED, "timeout: user timeout", "synchronized state, user timeout"),
    (
        None,
        S.CLOSED,
        "timeout: retransmissions exhausted",
        "synchronized state, retransmission timeout",
    ),
    (None, S.CLOSED, "timeout: keepalive", "synchronized state, keepalive timeout"),
    (S.SYN_RCVD, S.CLOSED, "reset", "SYN_RCVD of an active open, RST"),
    (S.FIN_WAIT_2, S.CLOSED, "timeout", "FIN_WAIT_2 orphan after fin_timeout"),
    (S.TIME_WAIT, S.SYN_RCVD, "syn-tw", "TIME_WAIT, acceptable new SYN (RFC 6191)"),
]


@functools.cache
def _taken() -> frozenset[tuple[State, State, str]]:
    taken = set()
    for sc in SCENARIOS.values():
        world = sc.run(Options())
        if world.recorder is None:
            continue
        for rec in world.trace.states:
            taken.add((rec.old, rec.new, rec.reason))
    return frozenset(taken)


def test_every_arrow_is_taken() -> None:
    taken = _taken()
    pairs = {(old, new) for old, new, _ in taken}
    missing = [f"{a} -> {b} ({what})" for a, b, what in FIGURE_5 if (a, b) not in pairs]
    for old, new, reason, what in OUTSIDE:
        olds = SYNCHRONIZED if old is None else {old}
        if not any(o in olds and n is new and r.startswith(reason) for o, n, r in taken):
            missing.append(f"{old or 'synchronized'} -> {new} ({what})")
    assert not missing, "arrows no test takes:\n" + "\n".join(missing)


def test_no_arrow_outside_the_lists() -> None:
    """An arrow the engine takes that no list names is a bug or a missing list entry."""
    known = {(a, b) for a, b, _ in FIGURE_5}
    known |= {(o, n) for old, n, _, _ in OUTSIDE for o in (SYNCHRONIZED if old is None else {old})}
    strays = sorted({f"{o} -> {n} ({r})" for o, n, r in _taken() if (o, n) not in known})
    assert not strays, "unlisted arrows:\n" + "\n".join(strays)
