"""Every packetdrill script listed in targets.txt must keep passing."""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.packetdrill.runner import run_script

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "packetdrill"
TARGETS = [
    line.strip()
    for line in (Path(__file__).parent / "targets.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def test_the_target_list_is_not_empty_and_has_no_duplicates() -> None:
    assert TARGETS
    assert len(set(TARGETS)) == len(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_script_passes(target: str) -> None:
    path = CORPUS / target
    assert path.is_file(), f"{path} is missing: the conformance corpus must be present"
    result = run_script(path, "auto")
    assert result.status == "pass", f"{target}: {result}"
