"""Test-wide settings.

Hypothesis: no per-example deadline (a loaded 2-core CI machine makes timings
meaningless; speed is measured by ``make bench``), and on CI a derandomized, database-free
run so that a green main stays green. ``netns``: a network namespace for tests that send
real packets (see tests/netns.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from netns import Namespace, NamespaceError

settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh network namespace, deleted afterwards; fails (never skips) if unavailable."""
    namespace = Namespace()
    try:
        namespace.__enter__()
    except (NamespaceError, subprocess.SubprocessError) as exc:
        pytest.fail(f"cannot create a network namespace: {exc}")
    try:
        yield namespace
    finally:
        namespace.cleanup()
