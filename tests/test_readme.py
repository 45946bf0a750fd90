"""The ladder README shows is what ``synack demo`` prints today."""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_ladder_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(printed) if line.startswith("   time ms"))
    end = next(i for i, line in enumerate(printed) if line.startswith(" 60370.000"))
    ladder = printed[start : end + 1]
    text = README.read_text().splitlines()
    at = text.index(ladder[0])
    assert text[at : at + len(ladder)] == ladder, "README's ladder is stale: rerun synack demo"
