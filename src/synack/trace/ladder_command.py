"""``synack ladder TRACE``: the ladder diagram of one connection of a trace file.

Any run traced with ``--trace`` can be drawn afterwards, also a TUN run, where only synack
was traced and the other timeline is the peer's address (see `synack.trace.from_trace`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from synack.trace.from_trace import TraceFileError, build, choose, load
from synack.trace.ladder import render_ladder, state_summary
from synack.trace.ladder_svg import render_html, render_svg


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``synack ladder``."""
    parser = subparsers.add_parser(
        "ladder",
        help="draw one connection of a trace file as a ladder diagram",
        description="Draw one connection of a --trace file (docs/trace-format.md) as a ladder "
        "in the terminal, and as SVG or HTML if asked. Without --conn, the trace's first "
        "connection is drawn. A trace of one side only (synack serve on a TUN device) is "
        "drawn against the peer's address, each segment at the time synack saw it.",
    )
    parser.add_argument("trace", metavar="TRACE", help="a trace file (JSON lines)")
    parser.add_argument(
        "--conn",
        metavar="N|ADDR:PORT-ADDR:PORT",
        help="which connection: its number in the list an unmatched --conn prints, or its "
        "two endpoints, either way round",
    )
    parser.add_argument("--svg", metavar="FILE", help="also draw the ladder as an SVG file")
    parser.add_argument(
        "--html", metavar="FILE", help="also draw the ladder as a self-contained HTML page"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``synack ladder``: 0 once drawn, 2 with a message (no traceback) on bad input."""
    try:
        data = load(args.trace)
        conn = choose(data, args.conn)
        trace, left, right = build(data, conn)
    except TraceFileError as exc:
        print(f"synack ladder: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"synack ladder: cannot read {args.trace}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    title = f"{conn} from {Path(args.trace).name}"
    drawings: list[tuple[str, str, Callable[[], str]]] = []
    if args.svg is not None:
        drawings.append((args.svg, "SVG", lambda: render_svg(trace, left, right)))
    if args.html is not None:
        drawings.append(
            (args.html, "HTML page", lambda: render_html(trace, left, right, title=title))
        )
    print(f"connection {conn}")
    print(render_ladder(trace, left, right))
    print()
    for host in (left, right):
        if any(st.host == host for st in trace.states):
            print(state_summary(trace, host))
    for path, kind, draw in drawings:
        try:
            Path(path).write_text(draw(), encoding="utf-8")
        except OSError as exc:
            print(f"synack ladder: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"\nladder written to {path} ({kind})")
    return 0
