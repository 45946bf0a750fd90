"""`make bench`: a SYN flood against one listener on the simulated network.

Spoofed SYNs (random source addresses in 198.19.0.0/16, which no host owns, so every
SYN,ACK goes nowhere) arrive at host B at a steady rate while legitimate clients on host A
connect over a link with a 20 ms one-way delay. The listener has backlog 128; the plain
SYN queue holds the Linux default max_syn_backlog of 128, the SYN cache its default 512
buckets x 30 entries. Four defences are compared, and a fifth row shows why the cache
is sized by its buckets:

- a: no cookies and a plain SYN queue (a full Connection per SYN; syn_cache off,
  syncookies=0);
- b: the SYN cache only (syncookies=0): a full bucket evicts its oldest entry;
- c: the SYN cache plus SYN cookies when it is full (syncookies=1, the default);
- d: SYN cookies for every SYN (syncookies=2);
- e: as b, with a cache of 4 x 32 = 128 entries, as many as the plain queue: at 50,000
  SYNs/s an entry lives about 2.5 ms, far less than a 40 ms handshake.

For each: how many legitimate clients got a connection that B accepted
(``legit_connected`` of ``legit_total``), their median and worst connect time (first SYN
to the client's ESTABLISHED, virtual ms; clients that never connect are left out of
both), the most memory the listener held (``peak_bytes``: every object reachable from its
half-open entries, half-open children and accept queue, sampled each virtual millisecond
while the flood lasts and measured with ``sys.getsizeof``), and CPU per spoofed SYN
(``time.process_time`` of the whole run, both stacks and the simulator, less the
sampling, divided by the number of spoofed SYNs).

    .venv/bin/python bench/flood.py            # 100,000 SYNs at 50,000/s, 200 clients
    .venv/bin/python bench/flood.py --quick    # 5,000 SYNs, 40 clients; nothing written
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import json
import platform
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synack.scenarios.craft import segment_bytes
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.stack import Stack
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.listener import Listener
from synack.tcp.state import State
from synack.wire.tcp import SYN, TcpOptions

RESULTS = Path(__file__).resolve().parent / "results"
PORT = 80
SECOND = 1_000_000
MS = 1_000

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "a": ("no cookies, plain SYN queue", {"syn_cache": False, "syncookies": 0}),
    "b": ("SYN cache only", {"syn_cache": True, "syncookies": 0}),
    "c": ("SYN cache + cookies on overflow", {"syn_cache": True, "syncookies": 1}),
    "d": ("cookies always", {"syn_cache": True, "syncookies": 2}),
    "e": (
        "SYN cache only, 128 entries (4 x 32)",
        {"syn_cache": True, "syncookies": 0, "syncache_buckets": 4, "syncache_bucket_limit": 32},
    ),
}
KEYS = (
    "legit_connected",
    "legit_total",
    "connect_p50_ms",
    "connect_max_ms",
    "peak_bytes",
    "cpu_us_per_syn",
)


@dataclass(frozen=True)
class FloodSetup:
    syns: int = 100_000
    rate: int = 50_000  # spoofed SYNs per second
    clients: int = 200
    delay_us: int = 20_000  # one way, A <-> B
    backlog: int = 128
    settle_s: float = 130.0  # long enough for a client's SYN retries (127 s) to end
    seed: int = 1


def held_bytes(listener: Listener) -> int:
    """Bytes of every object the listener holds for connections not yet accepted.

    Walks what its SYN cache, its half-open children and its accept queue reach, never
    into what is shared by the whole stack (its config, host, the listener itself).
    """
    stack = listener.host
    shared = {id(listener), id(stack), id(listener.config), id(None), id(True), id(False)}
    if isinstance(stack, Stack):
        shared.add(id(stack.config))
    seen: set[int] = set()
    total = 0
    todo: list[object] = []
    if listener.syncache is not None:
        todo.append(listener.syncache)
    todo.append(listener.half_open)
    todo.append(listener.accept_queue)
    while todo:
        obj = todo.pop()
        ident = id(obj)
        if ident in seen or ident in shared or callable(obj):
            continue
        seen.add(ident)
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset | deque):
            todo.extend(obj)
        elif isinstance(obj, Connection):
            for name in type(obj).__slots__:
                if name not in ("host", "config", "listener", "wake"):
                    todo.append(getattr(obj, name, None))
        else:
            for klass in type(obj).__mro__:
                for name in getattr(klass, "__slots__", ()):
                    if name not in ("host", "config", "_secret"):
                        todo.append(getattr(obj, name, None))
            if hasattr(obj, "__dict__"):
                todo.append(vars(obj))
    return total


@functools.cache
def spoofed_syns(setup: FloodSetup, dst: str) -> tuple[bytes, ...]:
    """The flood: SYNs from random addresses and ports, with the options Linux sends."""
    rng = random.Random(setup.seed)
    packets = []
    for _ in range(setup.syns):
        src = f"198.19.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        opts = TcpOptions(
            mss=1460,
            sack_permitted=True,
            timestamp=(rng.getrandbits(32), 0),
            wscale=7,
        )
        packets.append(
            segment_bytes(
                src,
                rng.randrange(1024, 65536),
                dst,
                PORT,
                rng.getrandbits(32),
                0,
                SYN,
                options=opts,
            )
        )
    return tuple(packets)


def run_variant(name: str, setup: FloodSetup) -> dict[str, Any]:
    """One flood against one defence; the figures of KEYS."""
    _, changes = VARIANTS[name]
    config: TcpConfig = LINUX.with_changes(**changes)
    world = World(
        setup.seed,
        LinkConfig(delay_us=setup.delay_us),
        config_b=config,
        record=False,
    )
    net = world.net
    b_host = world.hosts["B"]
    a_stack, b_stack = world.stack("A"), world.stack("B")
    dst = world.address("B")
    listener = b_stack.listen(b_stack.bind(dst, PORT), setup.backlog)

    accepted: set[int] = set()  # client ports whose connection B accepted

    def drain() -> None:
        while (conn := listener.accept()) is not None:
            accepted.add(conn.key[3])

    listener.wake = drain
    syns = spoofed_syns(setup, dst)
    every_us = SECOND // setup.rate
    start = 1_000
    for i, packet in enumerate(syns):
        net.inject(start + i * every_us, "attacker", b_host, packet)
    flood_us = len(syns) * every_us

    # Legitimate clients start evenly spread over the flood.
    started: dict[int, int] = {}
    connected: dict[int, int] = {}  # when connect() would have returned
    ports: dict[int, int] = {}

    def client(index: int) -> Callable[[], None]:
        def go() -> None:
            conn = a_stack.connect(dst, PORT)
            started[index] = net.now
            ports[index] = conn.key[1]

            def wake() -> None:
                if conn.state is State.ESTABLISHED and index not in connected:
                    connected[index] = net.now

            conn.wake = wake
            net.kick(world.hosts["A"])

        return go

    for index in range(setup.clients):
        net.call_at(start + 10 * MS + index * (flood_us - 20 * MS) // setup.clients, client(index))

    peak = 0
    sampling_cpu = 0.0

    def sample() -> None:
        nonlocal peak, sampling_cpu
        begin = time.process_time()
        peak = max(peak, held_bytes(listener))
        if net.now < start + flood_us + 100 * MS:
            net.call_at(net.now + MS, sample)
        sampling_cpu += time.process_time() - begin

    net.call_at(start, sample)
    gc.collect()
    cpu0 = time.process_time()
    world.run(setup.settle_s)
    cpu = time.process_time() - cpu0 - sampling_cpu
    # A client counts once B accepted its connection: a client whose SYN,ACK came from
    # an entry evicted before its ACK arrived is ESTABLISHED only until B's RST.
    done = [i for i in connected if ports[i] in accepted]
    times = sorted((connected[i] - started[i]) / MS for i in done)
    return {
        "legit_connected": len(done),
        "legit_total": setup.clients,
        "connect_p50_ms": round(statistics.median(times), 3) if times else None,
        "connect_max_ms": round(times[-1], 3) if times else None,
        "peak_bytes": peak,
        "cpu_us_per_syn": round(cpu * 1e6 / max(setup.syns, 1), 2),
    }


def run_all(setup: FloodSetup, variants: str = "abcde") -> dict[str, dict[str, Any]]:
    return {name: run_variant(name, setup) for name in variants}


def markdown(results: dict[str, dict[str, Any]], setup: FloodSetup) -> str:
    lines = [
        f"SYN flood: {setup.syns:,} spoofed SYNs at {setup.rate:,}/s, {setup.clients} "
        f"legitimate clients over {setup.delay_us // MS} ms links, backlog {setup.backlog}, "
        "plain SYN queue 128 (max_syn_backlog), SYN cache 512 x 30 = 15,360 entries "
        "(`bench/flood.py`).",
        "",
        "| variant | connected | p50 connect (ms) | max connect (ms) | peak bytes held "
        "| CPU µs per SYN |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        label = VARIANTS[name][0]
        lines.append(
            f"| ({name}) {label} | {row['legit_connected']}/{row['legit_total']} "
            f"| {row['connect_p50_ms']} | {row['connect_max_ms']} | {row['peak_bytes']:,} "
            f"| {row['cpu_us_per_syn']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, not written")
    args = parser.parse_args()
    setup = FloodSetup(syns=5_000, clients=40) if args.quick else FloodSetup()
    results = run_all(setup)
    table = markdown(results, setup)
    print(table)
    if args.quick:
        return
    out = {
        **results,
        "how": (
            f"{setup.syns} spoofed SYNs at {setup.rate}/s, {setup.clients} clients, "
            f"{setup.delay_us // MS} ms one-way links, backlog {setup.backlog}, "
            "max_syn_backlog 128, SYN cache 512 x 30 (e: 4 x 32); "
            "peak_bytes: sys.getsizeof over what the listener holds, "
            "sampled every virtual ms; cpu_us_per_syn: process CPU of the whole run / SYNs"
        ),
        "machine": (
            f"{datetime.date.today().isoformat()}, {platform.machine()}, "
            f"CPython {platform.python_version()}"
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flood.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "flood.md").write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
