"""Fixtures for the asyncio tests.

No ``__init__.py`` in this directory on purpose: as a package it would be imported as
``asyncio`` and hide the standard library's.
"""

from __future__ import annotations

import pytest

from synack.scenarios.world import World


@pytest.fixture
def world() -> World:
    return World(seed=1, record=False)
