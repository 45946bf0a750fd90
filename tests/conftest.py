"""Test-wide settings.

Hypothesis: no per-example deadline (a loaded 2-core CI machine makes timings
meaningless; speed is measured by ``make bench``), and on CI a derandomized, database-free
run so that a green main stays green.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
