"""The ``synack`` command as a user runs it."""

from __future__ import annotations

import pytest

from synack.cli import main
from synack.scenarios.catalog import SCENARIOS


def test_demo_draws_the_life_of_a_connection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for label in ("SYN seq=0", "SYN,ACK seq=0 ack=1", "FIN,ACK", "TIME_WAIT", "CLOSE_WAIT"):
        assert label in out
    # The client's states, in order, end with TIME_WAIT expiring 60 s after it began.
    assert "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] != ["|"]]
    closed = [r[0] for r in rows if r[1:2] == ["CLOSED"] and r[0][0].isdigit()]
    assert closed[-1] == "60370.000"  # TIME_WAIT began at 370 ms


def test_demo_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for sc in SCENARIOS.values():
        assert sc.name in out
    ids = {line.split()[0] for line in out.splitlines()}
    wanted = {f"S{n:02d}" for n in [*range(1, 16), 18, 19, *range(21, 28), *range(29, 33)]}
    assert wanted - {"S28"} <= ids


def test_demo_replays_on_a_worse_network(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "S05", "--loss", "0.2", "--seed", "3", "--delay", "5"]) == 0
    out = capsys.readouterr().out
    assert "(lost)" in out and "rtx" in out
    assert main(["demo", "S05", "--loss", "0.2", "--seed", "3", "--delay", "5"]) == 0
    assert capsys.readouterr().out == out  # the same seed replays bit for bit


def test_unknown_scenario_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "no-such-thing"]) == 2
    assert "no scenario 'no-such-thing'" in capsys.readouterr().err
