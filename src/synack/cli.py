"""The ``synack`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from synack.scenarios.catalog import SCENARIOS, Options, find
    from synack.scenarios.world import World
    from synack.trace.ladder import render_ladder, state_summary

    if args.list:
        for sc in sorted(SCENARIOS.values(), key=lambda s: (s.ident != "DEMO", s.ident)):
            print(f"{sc.ident:<5} {sc.name:<26} {sc.summary}")
        return 0
    try:
        sc = find(args.name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    opts = Options(seed=args.seed, delay_ms=args.delay, loss=args.loss)
    print(f"{sc.ident} {sc.name}: {sc.summary}")
    print(
        f"(simulated network: one-way delay {args.delay} ms, "
        f"loss {args.loss:.1%}, seed {args.seed})\n"
    )
    World.last = None
    status = 0
    try:
        world = sc.run(opts)
    except (AssertionError, OSError, RuntimeError) as exc:
        # On a worse network a scenario's own expectations may not hold: say so, and
        # still draw what happened up to that point.
        print(f"scenario stopped: {type(exc).__name__}: {exc}\n")
        if World.last is None:
            return 1
        world, status = World.last, 1
    if world.recorder is None:
        print("(this scenario runs without a trace)")
        return 0
    print(render_ladder(world.trace))
    print()
    for host in ("A", "B"):
        print(state_summary(world.trace, host))
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synack", description="A user-space TCP/IP stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a scenario on the simulated network, as a ladder")
    demo.add_argument("name", nargs="?", default="life", help="scenario name or id (S01...)")
    demo.add_argument("--list", action="store_true", help="list the scenarios")
    demo.add_argument("--loss", type=float, default=0.0, help="loss probability per packet")
    demo.add_argument("--delay", type=float, default=10.0, help="one-way delay in ms")
    demo.add_argument("--seed", type=int, default=0, help="seed that makes the run repeatable")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except BrokenPipeError:  # output piped into head(1) and the like: stop quietly
        sys.stderr.close()
        return 0
    return result


if __name__ == "__main__":
    raise SystemExit(main())
