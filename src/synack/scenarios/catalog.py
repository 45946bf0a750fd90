"""Imports every scenario module so that the registry is complete."""

from __future__ import annotations

from synack.scenarios import data, defences, edges, failures, lifecycle, transfer
from synack.scenarios.registry import SCENARIOS, Options, Scenario, find

__all__ = [
    "SCENARIOS",
    "Options",
    "Scenario",
    "data",
    "defences",
    "edges",
    "failures",
    "find",
    "lifecycle",
    "transfer",
]
