"""packetdrill's Python blocks are evaluated, never executed."""

from __future__ import annotations

import pytest

from synack.packetdrill.tcpinfo import AssertionFailed, Unsupported, run_block

INFO: dict[str, int | str] = {"tcpi_snd_cwnd": 10, "tcpi_rtt": 100_000, "tcpi_state": "LISTEN"}


def test_asserts_over_comparisons_arithmetic_and_logic_hold_or_fail() -> None:
    names: dict[str, int] = {}
    run_block(
        "assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd\n"
        "assert 90000 <= tcpi_rtt <= 110000; assert not tcpi_snd_cwnd > 2 * 5\n"
        "assert tcpi_state == TCPI_LISTEN or tcpi_snd_cwnd == -1",
        INFO,
        names,
    )
    with pytest.raises(AssertionFailed, match=r"tcpi_snd_cwnd == 11 \(tcpi_snd_cwnd=10\)"):
        run_block("  assert tcpi_snd_cwnd == 11, tcpi_snd_cwnd", INFO, names)


def test_constants_a_block_assigns_serve_later_blocks() -> None:
    names: dict[str, int] = {}
    run_block("WANT = 0x0a", INFO, names)
    run_block("assert tcpi_snd_cwnd == WANT", INFO, names)
    assert names == {"WANT": 10}


@pytest.mark.parametrize(
    "code",
    [
        "assert tcpi_rcv_rtt == 0",  # a field synack does not report
        "import os",
        "assert __import__('os').system('true') == 0",
        "assert tcpi_snd_cwnd.bit_length() == 4",
        "assert [x for x in ()] == []",
        "assert UNKNOWN == 1",
        "assert tcpi_snd_cwnd // 0 == 1",
        "assert (",
    ],
)
def test_anything_beyond_the_subset_is_unsupported_and_never_run(code: str) -> None:
    with pytest.raises(Unsupported):
        run_block(code, INFO, {})
