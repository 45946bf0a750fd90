"""The scenario registry: each entry of SCENARIOS.md as a runnable function.

A scenario builds a ``World``, plays the applications' part through the socket API and
returns the world, whose recorded trace the demo draws and the tests check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synack.scenarios.world import World
from synack.sim.link import LinkConfig


@dataclass(frozen=True, slots=True)
class Options:
    """How to replay a scenario: on a worse network, or with another seed."""

    seed: int = 0
    delay_ms: float = 10.0
    loss: float = 0.0

    def link(self) -> LinkConfig:
        return LinkConfig(delay_us=int(self.delay_ms * 1000), loss=self.loss)


@dataclass(frozen=True, slots=True)
class Scenario:
    ident: str
    name: str
    summary: str
    run: Callable[[Options], World]


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    ident: str, name: str, summary: str
) -> Callable[[Callable[[Options], World]], Callable[[Options], World]]:
    """Register a scenario function under its id (S01) and name (handshake)."""

    def register(fn: Callable[[Options], World]) -> Callable[[Options], World]:
        if name in SCENARIOS:
            raise ValueError(f"duplicate scenario {name}")
        SCENARIOS[name] = Scenario(ident, name, summary, fn)
        return fn

    return register


def find(name_or_id: str) -> Scenario:
    """Look a scenario up by name (``handshake``) or id (``S01``, case-insensitive)."""
    key = name_or_id.lower()
    for sc in SCENARIOS.values():
        if sc.name == key or sc.ident.lower() == key:
            return sc
    known = ", ".join(f"{s.ident} {s.name}" for s in SCENARIOS.values())
    raise KeyError(f"no scenario {name_or_id!r}; known: {known}")
