"""Blind attacks on an established connection (RFC 5961): RSTs and SYNs sprayed across the
whole sequence space reset nothing unless exactly at RCV.NXT, the challenge ACKs they draw
are rate-limited, and every segment dropped is counted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from synack.tcp import seq as sq
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.state import State

from .harness import MS, RCV_NXT, SND_NXT, established

RST, SYN = "R", "S"
#: What a blind attacker may send: a RST or a SYN, with or without ACK (and both at once).
FLAGS = st.sampled_from(["R", "R.", "S", "S.", "SR"])
#: Anywhere in the sequence space, and often near RCV.NXT and the window's edges.
SEQ = st.one_of(
    st.integers(0, 2**32 - 1),
    st.integers(-70_000, 200_000).map(lambda d: (RCV_NXT + d) & sq.MASK),
)
SPRAY = st.lists(
    st.tuples(FLAGS, SEQ, st.integers(0, 2**32 - 1), st.integers(0, 300 * MS)),
    min_size=1,
    max_size=60,
)

DROP_COUNTERS = ("SynackRstOutOfWindow", "TcpExtTCPSYNChallenge", "TcpExtTCPChallengeACK0")


def spray(config: TcpConfig, segments: list[tuple[str, int, int, int]]) -> None:
    h, conn = established(config)
    window_us = config.invalid_ratelimit * MS
    answers: list[int] = []  # when each challenge ACK left
    for number, (flags, seq, ack, gap) in enumerate(segments):
        exact = "R" in flags and seq == conn.rcv_nxt
        h.inject(flags, seq, ack, at=h.now + gap)
        for out in h.out():
            assert out.flags == ".", f"a blind segment drew {out.flags}"
            assert (out.seq, out.ack) == (SND_NXT, RCV_NXT)  # the numbers the real peer needs
            answers.append(h.now)
        if exact:
            assert conn.state is State.CLOSED  # the one RST a blind attacker cannot guess
            segments = segments[: number + 1]
            break
        assert conn.state is State.ESTABLISHED, f"{flags} seq={seq} changed the state"
    counters = h.stack.counters  # zero for counters that never moved
    survived = len(segments) - (conn.state is State.CLOSED)
    assert sum(counters[name] for name in DROP_COUNTERS) == survived, "a drop went uncounted"
    # Each challenge ACK was either sent or skipped by the rate limit, and counted so.
    challenged = counters["TcpExtTCPSYNChallenge"] + counters["TcpExtTCPChallengeACK0"]
    assert counters["TcpExtTCPChallengeACK"] == len(answers)
    assert len(answers) + counters["TcpExtTCPACKSkippedChallenge"] == challenged
    per = config.challenge_acks_per_ratelimit
    for i in range(per, len(answers)):
        assert answers[i] - answers[i - per] >= window_us, "challenge ACKs not rate-limited"


@settings(max_examples=150, deadline=None)
@given(SPRAY)
def test_linux_sprayed_rsts_and_syns_reset_nothing_but_an_exact_rst(
    segments: list[tuple[str, int, int, int]],
) -> None:
    spray(LINUX, segments)


@settings(max_examples=60, deadline=None)
@given(SPRAY)
def test_freebsd_rate_limit_five_challenge_acks_a_second(
    segments: list[tuple[str, int, int, int]],
) -> None:
    spray(LINUX.with_changes(invalid_ratelimit=1000, challenge_acks_per_ratelimit=5), segments)


def test_a_burst_of_bad_rsts_draws_one_challenge_ack_per_half_second() -> None:
    h, conn = established()
    start = h.now
    for i in range(10):
        h.inject("R", RCV_NXT + 1 + i, at=start + i * 10 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 0)]
    h.inject("R", RCV_NXT + 100, at=start + 500 * MS)
    assert h.tx() == [(".", SND_NXT, RCV_NXT, 0)]
    counters = h.stack.snapshot_counters()
    assert counters["TcpExtTCPChallengeACK"] == 2
    assert counters["TcpExtTCPACKSkippedChallenge"] == 9
    assert conn.state is State.ESTABLISHED


def test_without_a_limit_every_bad_segment_is_challenged() -> None:
    h, _conn = established(LINUX.with_changes(invalid_ratelimit=0))
    for i in range(5):
        h.inject(SYN, RCV_NXT + i, at=h.now + MS)
    assert len(h.tx()) == 5


def test_an_out_of_window_rst_is_dropped_silently_and_counted() -> None:
    h, conn = established()
    h.inject(RST, RCV_NXT + 2**31)
    assert h.tx() == []
    assert h.stack.snapshot_counters()["SynackRstOutOfWindow"] == 1
    assert conn.state is State.ESTABLISHED
