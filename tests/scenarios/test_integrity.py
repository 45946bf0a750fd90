"""No byte is ever lost: transfers over random impairments, checked by hash.

Hypothesis draws a seed; ``synack.scenarios.transfer.plan_for`` turns it into a whole run
(loss up to 30 %, reordering, duplication, corruption, jitter, bandwidth limits, tiny
buffers, both directions at once, half-close in the middle, ISNs near the wrap...) and
``check`` accepts only an intact stream both ways or an error both applications hear
(its docstring says exactly what is accepted). A failure prints the command that replays
it with a ladder diagram: ``synack demo integrity --seed N --delay D --loss L``.
"""

from __future__ import annotations

import dataclasses
import errno
import shlex

import pytest
from hypothesis import Phase, event, given, settings
from hypothesis import strategies as st

from synack.cli import main
from synack.scenarios.catalog import Options, find
from synack.scenarios.transfer import (
    MAX_BYTES,
    App,
    IntegrityError,
    Plan,
    SidePlan,
    Transfer,
    check,
    plan_for,
    run_transfer,
    stream,
)
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.config import SECOND

EXAMPLES = 300


# No shrinking: a smaller seed is not a simpler run, only another one.
@settings(
    max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_every_byte_arrives_intact_or_both_applications_hear_an_error(seed: int) -> None:
    plan = plan_for(seed)
    try:
        outcome = check(run_transfer(plan))
    except Exception as exc:
        raise AssertionError(
            f"{type(exc).__name__}: {exc}\n{plan.describe()}\nreplay: {plan.replay()}"
        ) from exc
    event(outcome)


# -- the replay ------------------------------------------------------------------------------


def _replay_options(plan: Plan) -> Options:
    """The Options the demo builds from the printed replay command."""
    words = shlex.split(plan.replay())
    assert words[:3] == ["synack", "demo", "integrity"]
    values = dict(zip(words[3::2], words[4::2], strict=True))
    return Options(
        seed=int(values["--seed"]),
        delay_ms=float(values["--delay"]),
        loss=float(values["--loss"]),
    )


def test_the_replay_command_names_the_same_plan() -> None:
    for seed in range(300):
        plan = plan_for(seed)
        opts = _replay_options(plan)
        assert plan_for(opts.seed, delay_ms=opts.delay_ms, loss=opts.loss) == plan


def _lossy_seeds(count: int) -> list[int]:
    seeds = [s for s in range(1000) if plan_for(s).link.loss >= 0.1 and plan_for(s).a.size]
    return seeds[:count]


@pytest.mark.parametrize("seed", _lossy_seeds(3))
def test_the_demo_replays_the_very_same_run(seed: int) -> None:
    plan = plan_for(seed)
    tested = run_transfer(plan)  # as the property test runs it: no trace
    replayed = find("integrity").run(_replay_options(plan))  # as the demo does: traced
    assert replayed.recorder is not None
    assert replayed.now == tested.world.now
    for host in ("A", "B"):
        assert (
            replayed.stack(host).snapshot_counters() == tested.world.stack(host).snapshot_counters()
        )
    assert sum(r.segment.payload != b"" for r in replayed.trace.segments) > 0


def test_the_demo_command_runs_a_replay(capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_for(_lossy_seeds(1)[0])
    args = shlex.split(plan.replay())[1:]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("PROP integrity:")
    assert "ESTABLISHED" in out


# -- what the seeds cover ----------------------------------------------------------------------


def test_the_seeds_cover_every_impairment_the_issue_lists() -> None:
    plans = [plan_for(seed) for seed in range(EXAMPLES)]
    links = [p.link for p in plans]
    assert 0.25 <= max(link.loss for link in links) <= 0.3
    assert sum(link.loss >= 0.2 for link in links) >= 20
    assert sum(link.reorder > 0 for link in links) >= 30
    assert sum(link.duplicate > 0 for link in links) >= 30
    assert sum(link.corrupt > 0 for link in links) >= 30
    assert sum(link.jitter_us > 0 for link in links) >= 30
    assert sum(link.bandwidth_bps is not None for link in links) >= 30
    assert sum(link.queue_packets <= 4 for link in links) >= 5
    # tiny buffers: stack-wide, or by socket option (on B after the handshake)
    assert sum(p.rmem is not None and p.rmem <= 1024 for p in plans) >= 5
    assert sum(p.b.rcvbuf is not None and p.b.rcvbuf <= 1024 for p in plans) >= 5
    assert sum(p.a.sndbuf is not None or p.b.sndbuf is not None for p in plans) >= 30
    # both directions at once, and half-close in the middle of the other's stream
    assert sum(p.a.size > 5_000 and p.b.size > 5_000 for p in plans) >= 20
    half = [p for p in plans if p.a.eager_shutdown and p.a.size <= 2000 and p.b.size > 20_000]
    assert len(half) >= 10
    assert max(max(p.a.size, p.b.size) for p in plans) <= MAX_BYTES
    # sequence numbers that wrap during the transfer (or right at the SYN)
    wraps = [
        p
        for p in plans
        for side, other in ((p.a, p.b), (p.b, p.a))
        if side.isn is not None and side.isn + 1 + side.size > 2**32
    ]
    assert len(wraps) >= 20
    # the error paths: few retries, so giving up happens and must be reported
    assert sum(p.retries2 < 15 for p in plans) >= 30
    assert sum(p.v6 for p in plans) >= 30
    assert sum(p.profile == "rfc" for p in plans) >= 30


# -- the checker itself ------------------------------------------------------------------------


def _fake(**changes: dict[str, object]) -> Transfer:
    """A finished run in which both applications are done, altered by ``changes``."""
    plan = dataclasses.replace(plan_for(1), link=dataclasses.replace(plan_for(1).link, loss=0.3))
    a_data, b_data = stream(1, "A", 3000), stream(1, "B", 2000)
    a = App("A", plan.a, a_data, sent=3000, received=bytearray(b_data), eof=True, shut=True)
    b = App("B", plan.b, b_data, sent=2000, received=bytearray(a_data), eof=True, shut=True)
    a.done = b.done = True
    for name, fields in changes.items():
        app = a if name == "a" else b
        for key, value in fields.items():
            setattr(app, key, value)
    return Transfer(plan, World(1, record=False), a, b, 0)


def _corrupted(data: bytes, at: int) -> bytearray:
    out = bytearray(data)
    out[at] ^= 0x01
    return out


def test_the_checker_accepts_a_complete_run() -> None:
    assert check(_fake()) == "complete"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        (
            {"b": {"received": _corrupted(stream(1, "A", 3000), 1234)}},
            "differ from A's stream at offset 1234",
        ),
        (
            {"b": {"received": bytearray(stream(1, "A", 3000)[:2999])}},
            "clean EOF after 2999 of 3000",
        ),
        (
            {"b": {"received": bytearray(stream(1, "A", 3000)[1:])}},
            "differ from A's stream",
        ),
        (
            {"b": {"done": False, "eof": False}},
            "B never finished",
        ),
        (
            {
                "a": {"done": False, "error": OSError(errno.EPIPE, "Broken pipe")},
                "b": {"done": False, "error": ConnectionResetError(errno.ECONNRESET, "reset")},
            },
            "unexpected error",
        ),
        (
            {
                "a": {
                    "done": False,
                    "eof": False,
                    "received": bytearray(stream(1, "B", 2000)[:100]),
                    "error": TimeoutError(errno.ETIMEDOUT, "timed out"),
                }
            },
            "its peer was never told",
        ),
        (
            {"b": {"done": False, "never_connected": True}},
            "B never accepted a connection but A saw no error",
        ),
    ],
)
def test_the_checker_rejects(changes: dict[str, dict[str, object]], why: str) -> None:
    with pytest.raises(IntegrityError, match=why):
        check(_fake(**changes))


def test_the_checker_accepts_errors_on_both_sides_and_a_lost_last_ack() -> None:
    timeout = TimeoutError(errno.ETIMEDOUT, "timed out")
    reset = ConnectionResetError(errno.ECONNRESET, "reset")
    both = {
        "a": {"done": False, "eof": False, "received": bytearray(b""), "error": timeout},
        "b": {"done": False, "eof": False, "received": bytearray(b""), "error": reset},
    }
    assert check(_fake(**both)) == "error reported to both"
    assert check(_fake(b={"done": False, "error": timeout})) == "last ACK lost"


def test_on_a_kind_network_an_error_is_a_failure() -> None:
    kind = dataclasses.replace(plan_for(1), link=dataclasses.replace(plan_for(1).link, loss=0.0))
    assert kind.strict
    run = _fake(b={"done": False, "error": TimeoutError(errno.ETIMEDOUT, "timed out")})
    run.plan = kind
    with pytest.raises(IntegrityError, match="implausible"):
        check(run)


# -- faults the seeds do not draw ------------------------------------------------------------


def _bulk_plan() -> Plan:
    """200 KB from A to B over a clean 10 ms, 1 Mbit/s link (1.6 s), default configuration."""
    side = SidePlan(
        size=MAX_BYTES,
        chunk=65536,
        read=65536,
        read_pause_us=0,
        eager_shutdown=True,
        nodelay=False,
        isn=None,
        rcvbuf=None,
        sndbuf=None,
    )
    return Plan(
        seed=3,
        link=LinkConfig(delay_us=10_000, bandwidth_bps=1_000_000),
        profile="linux",
        v6=False,
        retries2=15,
        syn_retries=6,
        synack_retries=5,
        rmem=None,
        wmem=None,
        a=side,
        b=dataclasses.replace(side, size=0),
    )


def test_the_bulk_plan_completes() -> None:
    result = run_transfer(_bulk_plan())
    assert check(result) == "complete"
    assert bytes(result.b.received) == result.a.data


def test_a_partition_mid_transfer_ends_in_an_error_on_both_sides() -> None:
    plan = _bulk_plan()

    def partition(world: World) -> None:
        a, b = world.hosts["A"], world.hosts["B"]
        world.net.call_at(world.now + 500_000, lambda: world.net.partition(a, b))

    result = run_transfer(plan, setup=partition)
    assert check(result, injected_faults=True) == "error reported to both"
    assert isinstance(result.a.error, TimeoutError)  # retransmissions ran out
    assert isinstance(result.b.error, TimeoutError)  # keepalive probes went unanswered
    assert 0 < len(result.b.received) < MAX_BYTES
    assert result.world.now < 60 * 60 * SECOND


def test_a_crashed_peer_is_a_hang_the_driver_reports() -> None:
    plan = _bulk_plan()

    def crash(world: World) -> None:
        world.net.call_at(world.now + 500_000, lambda: world.crash("B"))

    with pytest.raises(IntegrityError, match="hang"):
        run_transfer(plan, setup=crash)
