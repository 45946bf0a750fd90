"""Refresh README's conformance table from a run over the whole packetdrill corpus.

    make conformance        # runs synack packetdrill over the corpus, then this script

Reads the ``--json`` output of ``synack packetdrill`` and rewrites the table between the
``<!-- conformance-table -->`` markers in README.md: one row per corpus folder (the
FreeBSD suite by its top-level folders), with pass, fail, unsupported and error counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

MARK = "<!-- conformance-table -->"
STATUSES = ("pass", "fail", "unsupported", "error")
FREEBSD = "freebsd-net+tcp-testsuite"


def folder_of(path: str, corpus: Path) -> str:
    """The row a script belongs to: a corpus, or a FreeBSD suite's top-level folder."""
    parts = Path(path).resolve().relative_to(corpus.resolve()).parts
    if parts[0] == FREEBSD and len(parts) > 2:
        return f"freebsd: {parts[1]}"
    return parts[0]


def table(rows: list[dict[str, object]], corpus: Path) -> str:
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[folder_of(str(row["path"]), corpus)][str(row["status"])] += 1
    total: Counter[str] = Counter()
    lines = ["| corpus folder | pass | fail | unsupported | error |", "|---|---|---|---|---|"]
    for folder in sorted(counts, key=lambda f: (not f.startswith("freebsd"), f)):
        total.update(counts[folder])
        lines.append(f"| {folder} | " + " | ".join(str(counts[folder][s]) for s in STATUSES) + " |")
    lines.append("| **all** | " + " | ".join(f"**{total[s]}**" for s in STATUSES) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the --json file of synack packetdrill")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    args = parser.parse_args()
    rows = json.loads(args.results.read_text(encoding="utf-8"))
    text = args.readme.read_text(encoding="utf-8")
    head, sep, rest = text.partition(MARK)
    old, sep2, tail = rest.partition(MARK)
    if not (sep and sep2):
        print(f"{args.readme} has no pair of {MARK} markers", file=sys.stderr)
        return 2
    del old
    args.readme.write_text(
        f"{head}{MARK}\n{table(rows, args.corpus)}\n{MARK}{tail}", encoding="utf-8"
    )
    print(table(rows, args.corpus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
