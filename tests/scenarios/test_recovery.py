"""Loss recovery on the simulated network: SACK (RFC 6675) against NewReno (RFC 6582).

A warm-up transfer opens cwnd; then chosen segments of the next 50 KB are dropped on the
way from A to B (each as often as asked), and the test watches when A resends them.
Times are virtual: a 10 ms link, so one round trip is 20 ms.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from synack.scenarios.lifecycle import connected_pair, pump
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp import seq as sq
from synack.tcp.config import LINUX
from synack.wire import parse_ip, parse_tcp

RTT_US = 20_000


@dataclass
class Run:
    resent_at: list[tuple[int, int]] = field(default_factory=list)  # (time, segment index)
    counters: dict[str, int] = field(default_factory=dict)


def transfer(sack: bool, holes: tuple[int, ...], drops_each: int = 1) -> Run:
    cfg = LINUX.with_changes(sack=sack, send_sack=sack)
    world = World(1, LinkConfig(delay_us=RTT_US // 2), config=cfg)
    cli, conn, _ = connected_pair(world)
    warm = bytes(200_000)
    assert pump(world, cli, conn, warm) == warm
    sender = cli.connection
    assert sender is not None and sender.sack_negotiated is sack
    base, mss = sender.snd_max, sender.snd_mss
    index_of = {sq.add(base, k * mss): k for k in holes}
    seen: dict[int, int] = {}
    run = Run()

    def hole_of(src: str, packet: bytes) -> int | None:
        if src != "A":
            return None
        source, destination, _proto, payload = parse_ip(packet)
        segment = parse_tcp(payload, source, destination)
        return index_of.get(segment.seq) if segment.payload else None

    def watch(src: str, _dst: str, packet: bytes) -> bool:
        k = hole_of(src, packet)
        if k is not None:
            seen[k] = seen.get(k, 0) + 1
            if seen[k] > 1:
                run.resent_at.append((world.now, k))
        return False  # never drops: the rule stays to watch every packet

    def lose(src: str, _dst: str, packet: bytes) -> bool:
        k = hole_of(src, packet)
        return k is not None and seen[k] <= drops_each

    world.net.drop(watch)
    world.net.drop(lose, count=len(holes) * drops_each)
    before = world.stack("A").snapshot_counters()
    data = bytes(range(256)) * 200
    assert pump(world, cli, conn, data) == data
    after = world.stack("A").snapshot_counters()
    run.counters = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    return run


HOLES = (3, 6, 9, 12, 15)


def test_sack_repairs_five_holes_of_one_window_within_one_round_trip() -> None:
    run = transfer(sack=True, holes=HOLES)
    assert sorted(k for _, k in run.resent_at) == list(HOLES)  # each once, nothing else
    times = [t for t, _ in run.resent_at]
    assert max(times) - min(times) <= RTT_US
    assert run.counters["TcpRetransSegs"] == len(HOLES)
    assert run.counters.get("TcpExtTCPTimeouts", 0) == 0
    assert run.counters["TcpExtTCPSackRecovery"] == 1


def test_newreno_repairs_the_same_holes_one_per_round_trip() -> None:
    run = transfer(sack=False, holes=HOLES)
    assert sorted(k for _, k in run.resent_at) == list(HOLES)
    times = sorted(t for t, _ in run.resent_at)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= RTT_US for gap in gaps)  # each hole waits for the previous repair
    assert run.counters.get("TcpExtTCPTimeouts", 0) == 0


def test_after_a_timeout_sack_resends_only_the_holes() -> None:
    # Every hole loses its first retransmission too, so only the timer can end it.
    holes = (3, 6, 9)
    with_sack = transfer(sack=True, holes=holes, drops_each=2)
    assert with_sack.counters["TcpExtTCPTimeouts"] == 1
    after_timeout = [k for _, k in with_sack.resent_at[len(holes) :]]
    assert sorted(after_timeout) == list(holes)  # the holes again, nothing B holds
    assert with_sack.counters["TcpRetransSegs"] == 2 * len(holes)
    # Without SACK the timeout goes back N, resending bytes B holds, and later holes
    # cost more timeouts.
    without = transfer(sack=False, holes=holes, drops_each=2)
    assert without.counters["TcpExtTCPTimeouts"] > 1
    assert without.counters["TcpRetransSegs"] > with_sack.counters["TcpRetransSegs"]
