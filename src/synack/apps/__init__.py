"""The services ``synack serve KIND`` runs, written as plain asyncio stream handlers.

A handler takes the standard ``(StreamReader, StreamWriter)`` pair and knows nothing of
what carries the bytes, so the same code serves over the kernel's TCP, over synack on a
TUN device, or over a socketpair in the tests.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from synack.apps.bench import BENCH_SERVICES
from synack.apps.bench_protocols import BENCH_PROTOCOLS
from synack.apps.chargen import chargen
from synack.apps.discard import discard
from synack.apps.echo import echo
from synack.apps.http import DEFAULT_IDLE_TIMEOUT, http_handler

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True)
class ServiceOptions:
    """What the command line may tell a service; each kind reads only what it needs."""

    root: str | os.PathLike[str] | None = None
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT


class Service(NamedTuple):
    """A kind of service: where it listens by default and how its handler is built.

    ``default_port`` is None for ``bench``, whose factory returns its own list of
    ``(port, handler)`` pairs instead of one handler.
    """

    default_port: int | None
    factory: Callable[[ServiceOptions], StreamHandler | list[tuple[int, StreamHandler]]]


def _http(options: ServiceOptions) -> StreamHandler:
    if options.root is None:
        raise ValueError("the http service needs a root directory to serve")
    return http_handler(options.root, idle_timeout=options.idle_timeout)


SERVICES: dict[str, Service] = {
    "echo": Service(7, lambda options: echo),
    "discard": Service(9, lambda options: discard),
    "chargen": Service(19, lambda options: chargen),
    "http": Service(80, _http),
    "bench": Service(None, lambda options: list(BENCH_SERVICES)),
}


def listeners(
    kind: str, options: ServiceOptions, port: int | None = None
) -> list[tuple[int, StreamHandler]]:
    """The ``(port, handler)`` pairs to listen on for ``kind``, ``port`` overriding the default.

    Raises ValueError, naming the known kinds, for an unknown kind, for a port given to
    ``bench`` (whose three ports are fixed by the benchmark protocol), or for options the
    kind cannot work with.
    """
    service = SERVICES.get(kind)
    if service is None:
        raise ValueError(f"unknown service {kind!r}; known: {', '.join(sorted(SERVICES))}")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, not {port}")
    built = service.factory(options)
    if isinstance(built, list):
        if port is not None:
            raise ValueError(f"the {kind} service listens on fixed ports; no port can be given")
        return built
    chosen = service.default_port if port is None else port
    assert chosen is not None  # only list-building services lack a default port
    return [(chosen, built)]


#: Kinds also served as plain asyncio protocols, cheaper per connection than streams.
PROTOCOL_SERVICES: dict[str, list[tuple[int, Callable[[], asyncio.Protocol]]]] = {
    "bench": BENCH_PROTOCOLS,
}


__all__ = [
    "PROTOCOL_SERVICES",
    "SERVICES",
    "Service",
    "ServiceOptions",
    "StreamHandler",
    "listeners",
]
