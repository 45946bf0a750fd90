"""The ``synack`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synack.scenarios.world import World


def _demo(args: argparse.Namespace) -> int:
    from synack.scenarios.catalog import SCENARIOS, Options, find
    from synack.scenarios.world import World
    from synack.trace.jsonl import JsonlTrace
    from synack.trace.ladder import render_ladder, state_summary
    from synack.trace.pcap import PcapRecorder

    if args.list:
        for sc in sorted(SCENARIOS.values(), key=lambda s: (s.ident != "DEMO", s.ident)):
            print(f"{sc.ident:<5} {sc.name:<26} {sc.summary}")
        return 0
    try:
        sc = find(args.name)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    for path in (args.pcap, args.svg, args.html, args.trace):
        if path is None:
            continue
        try:  # fail here, not half way through the scenario
            open(path, "wb").close()
        except OSError as exc:
            print(f"cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    opts = Options(seed=args.seed, delay_ms=args.delay, loss=args.loss)
    print(f"{sc.ident} {sc.name}: {sc.summary}")
    print(
        f"(simulated network: one-way delay {args.delay} ms, "
        f"loss {args.loss:.1%}, seed {args.seed})\n"
    )
    # Scenarios build their World themselves: the pcap writer and an --at snapshot join
    # the first one built (every scenario builds one) through World.watch, before its
    # first packet.
    pcaps: list[PcapRecorder] = []
    traces: list[JsonlTrace] = []
    snapshots: list[str] = []
    worlds: list[World] = []

    def capture(world: World) -> None:
        if worlds:
            return
        worlds.append(world)
        if args.pcap is not None:
            pcaps.append(PcapRecorder(world.net, args.pcap))
        if args.trace is not None:
            trace = JsonlTrace(args.trace, clock="virtual")
            trace.attach_world(world)
            traces.append(trace)
        if args.at is not None:
            at_us = round(args.at * 1000)
            world.net.call_at(at_us, lambda: snapshots.append(_views(args, world, at_us)))

    World.last = None
    status = 0
    with World.watch(capture):
        try:
            world = sc.run(opts)
        except (AssertionError, OSError, RuntimeError) as exc:
            # On a worse network a scenario's own expectations may not hold: say so, and
            # still show what happened up to that point.
            print(f"scenario stopped: {type(exc).__name__}: {exc}\n")
            if World.last is None:
                return 1
            world, status = World.last, 1
        finally:
            for pcap in pcaps:
                pcap.close()
            for trace in traces:
                trace.close()
    if world.recorder is None:
        print("(this scenario runs without a trace)")
    else:
        print(render_ladder(world.trace))
        print()
        for host in ("A", "B"):
            print(state_summary(world.trace, host))
        _write_drawings(args, world, f"{sc.ident} {sc.name}: {sc.summary}")
    if args.at is None:
        print(_views(args, world), end="")
    elif snapshots:
        print(snapshots[0], end="")
    else:
        print(f"\n(the run ended at {world.now / 1000:.3f} ms, before --at {args.at} ms)")
        print(_views(args, world), end="")
    for pcap in pcaps:
        print(f"\n{pcap.packets} packets written to {pcap.path} (raw IP, pcap)")
    if traces:
        print(f"\ntrace written to {args.trace} (JSON lines: synack plot {args.trace} ...)")
    return status


def _write_drawings(args: argparse.Namespace, world: World, title: str) -> None:
    """The ladder as --svg and --html files, if asked for."""
    from synack.trace.ladder_svg import render_html, render_svg

    if args.svg is not None:
        with open(args.svg, "w", encoding="utf-8") as f:
            f.write(render_svg(world.trace))
        print(f"\nladder written to {args.svg} (SVG)")
    if args.html is not None:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(render_html(world.trace, title=title))
        print(f"\nladder written to {args.html} (HTML page)")


def _views(args: argparse.Namespace, world: World, at_us: int | None = None) -> str:
    """The --ss and --nstat views of every host, now (virtual time ``at_us``) or, by
    default, as the run left them."""
    from synack.trace.inspect import nstat, ss

    now = world.now if at_us is None else at_us
    when = "" if at_us is None else f" at {now / 1000:.3f} ms"
    out: list[str] = []
    if args.ss:
        for name, stack in world.stacks.items():
            out.append(f"\nhost {name}{when}: ss -tan{'o' if args.timers else ''}")
            out.append(ss(stack, timers=args.timers, now=now))
    if args.nstat:
        for name, stack in world.stacks.items():
            out.append(f"\nhost {name}{when}: nstat -az")
            out.append(nstat(stack))
    return "".join(line + "\n" for line in out)


def _serve(args: argparse.Namespace) -> int:
    from synack.serving import serve

    return serve(args)


def _fetch(args: argparse.Namespace) -> int:
    from synack.serving import fetch

    return fetch(args)


def _inspect(args: argparse.Namespace) -> int:
    """``synack ss`` / ``synack nstat``: ask a running ``synack serve`` for its view."""
    from synack.control import ControlError, default_path, query

    path = args.control if args.control is not None else default_path(args.tun)
    request = "ss -o" if args.command == "ss" and args.options else args.command
    try:
        reply = query(path, request)
    except ControlError as exc:
        print(f"synack {args.command}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(reply)
    return 0


def _add_inspect_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ss`` and ``nstat``: the views of a running ``synack serve``, over its control socket."""
    for name, what in (("ss", "sockets, like ss -tan"), ("nstat", "counters, like nstat -az")):
        cmd = sub.add_parser(
            name,
            help=f"a running synack serve's {what}",
            description=f"Show a running synack serve's {what}, asked over its control "
            "socket. With --tun, run this in the server's network namespace (ip netns exec "
            "NS synack ...): the socket's default name depends on it.",
        )
        if name == "ss":
            cmd.add_argument("-o", "--options", action="store_true", help="show timers, like ss -o")
        where = cmd.add_mutually_exclusive_group(required=True)
        where.add_argument("--tun", metavar="NAME", help="the server's TUN device")
        where.add_argument("--control", metavar="PATH", help="the server's control socket")
        cmd.set_defaults(func=_inspect)


def _add_network_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``serve`` and ``fetch``: synack on a TUN device (needs root)."""
    from synack.serving import add_tun_arguments

    serve = sub.add_parser(
        "serve",
        help="serve echo, discard, chargen or http on a TUN device",
        description="Create a TUN device, give the kernel's side --host-addr, and serve KIND "
        "on --addr until SIGINT or SIGTERM. Prints 'listening on ADDR:PORT' once ready.",
    )
    serve.add_argument(
        "kind",
        choices=["echo", "discard", "chargen", "http", "bench"],
        help="echo (RFC 862, port 7), discard (RFC 863, 9), chargen (RFC 864, 19), http "
        "(static files from --root, 80), bench (the benchmark protocol on 7, 9 and 19)",
    )
    serve.add_argument("--port", type=int, help="listen here instead of the kind's port")
    serve.add_argument("--root", metavar="DIR", default=".", help="what http serves")
    serve.add_argument(
        "--control",
        metavar="PATH",
        help="control socket for synack ss/nstat (default: /run/synack/NAME.sock, "
        "NAME@NETNS.sock in a named network namespace)",
    )
    add_tun_arguments(serve)
    serve.set_defaults(func=_serve)
    fetch = sub.add_parser(
        "fetch",
        help="HTTP GET over synack from a server on the kernel's side of a TUN device",
    )
    fetch.add_argument("url", help="http://ADDR[:PORT]/PATH")
    fetch.add_argument("-o", "--output", metavar="FILE", help="write the body here, not stdout")
    fetch.add_argument("--timeout", type=float, default=300.0, help="give up after this (s)")
    add_tun_arguments(fetch)
    fetch.set_defaults(func=_fetch)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synack", description="A user-space TCP/IP stack.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a scenario on the simulated network, as a ladder")
    demo.add_argument("name", nargs="?", default="life", help="scenario name or id (S01...)")
    demo.add_argument("--list", action="store_true", help="list the scenarios")
    demo.add_argument("--loss", type=float, default=0.0, help="loss probability per packet")
    demo.add_argument("--delay", type=float, default=10.0, help="one-way delay in ms")
    demo.add_argument("--seed", type=int, default=0, help="seed that makes the run repeatable")
    demo.add_argument("--pcap", metavar="FILE", help="write every packet, as sent, to a pcap file")
    demo.add_argument(
        "--trace", metavar="FILE", help="write every event as JSON lines (docs/trace-format.md)"
    )
    demo.add_argument("--svg", metavar="FILE", help="also draw the ladder as an SVG file")
    demo.add_argument(
        "--html", metavar="FILE", help="also draw the ladder as a self-contained HTML page"
    )
    demo.add_argument(
        "--ss", action="store_true", help="show each host's sockets at the end, like ss -tan"
    )
    demo.add_argument(
        "-o", "--timers", action="store_true", help="with --ss, show timers like ss -o"
    )
    demo.add_argument(
        "--nstat", action="store_true", help="show each host's counters, like nstat -az"
    )
    demo.add_argument(
        "--at",
        type=float,
        metavar="MS",
        help="take the --ss/--nstat views at this virtual time (ms) instead of at the end "
        "(if the scenario's last step waits for the network to go idle, it waits until MS)",
    )
    demo.set_defaults(func=_demo)
    _add_network_commands(sub)
    _add_inspect_commands(sub)
    from synack.packetdrill.command import add_parser as add_packetdrill_parser
    from synack.trace.ladder_command import add_parser as add_ladder_parser
    from synack.trace.plot import add_parser as add_plot_parser

    add_plot_parser(sub)
    add_ladder_parser(sub)
    add_packetdrill_parser(sub)
    args = parser.parse_args(argv)
    if getattr(args, "at", None) is not None:
        if not (args.ss or args.nstat):
            parser.error("--at needs --ss or --nstat")
        if args.at < 0:
            parser.error("--at must not be negative")
    try:
        result: int = args.func(args)
    except BrokenPipeError:  # output piped into head(1) and the like: stop quietly
        sys.stderr.close()
        return 0
    return result


if __name__ == "__main__":
    raise SystemExit(main())
