"""``synack packetdrill PATH...``: run packetdrill scripts and report one line per script."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from synack.packetdrill.runner import Result, run_script


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``packetdrill`` subcommand on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "packetdrill",
        help="run packetdrill scripts against synack in virtual time",
        description="Run packetdrill scripts (files, or folders searched for *.pkt) "
        "against one synack stack in virtual time.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="script files or folders")
    parser.add_argument(
        "--profile",
        choices=("auto", "linux", "linux-legacy", "freebsd", "freebsd-legacy"),
        default="auto",
        help="the kernel the scripts were written for (auto: by path and content)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every result to FILE")
    parser.set_defaults(func=run)
    return parser


def _scripts(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.pkt")))
        else:
            found.append(path)
    return found


def run(args: argparse.Namespace) -> int:
    """Run every script; exit 1 if any failed or erred, 2 if a path names nothing."""
    scripts = _scripts(args.paths)
    missing = [p for p in scripts if not p.is_file()]
    if missing:
        for path in missing:
            print(f"{path}: error: no such file", file=sys.stderr)
        return 2
    results: list[tuple[Path, Result]] = []
    per_folder: dict[Path, Counter[str]] = {}
    for path in scripts:
        result = run_script(path, args.profile)
        results.append((path, result))
        per_folder.setdefault(path.parent, Counter())[result.status] += 1
        print(f"{path}: {result}", flush=True)
    for folder, counts in per_folder.items():
        summary = ", ".join(
            f"{counts[s]} {s}" for s in ("pass", "fail", "unsupported", "error") if counts[s]
        )
        print(f"{folder}: {summary}")
    if args.json:
        rows = [
            {"path": str(p), "status": r.status, "line": r.line, "message": r.message}
            for p, r in results
        ]
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 1 if any(r.status in ("fail", "error") for _, r in results) else 0
