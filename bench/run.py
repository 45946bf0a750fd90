"""`make bench`: CPU cost of synack on the simulated network, written to bench/results/.

Measures, on a lossless simulated link (1 ms one way, no bandwidth limit, MTU 1500, no
trace recorded):

- sim_bulk_MB_per_cpu_s: payload MB (10**6 bytes) per CPU second of a 50 MB transfer
  A -> B, verified by hash;
- sim_cycles_per_cpu_s: sequential connect + accept + close cycles per CPU second
  (client closes first; TIME_WAIT accumulates on A);
- trace_off_MB_per_cpu_s, trace_on_MB_per_cpu_s: a smaller bulk transfer without a
  tracer and with a JsonlTrace writing every event of both stacks to a temporary file,
  run alternately so that both see the same machine; trace_on_over_off is their ratio.

Each is run several times and the best run is kept (the machine may be shared). The CPU
second is ``time.process_time()`` of this one process: both stacks, the simulator and the
applications driving them (socket calls, sha256 of the received stream: ~1% of it).

    .venv/bin/python bench/run.py                 # the numbers, into bench/results/sim.json
    .venv/bin/python bench/run.py --profile       # plus a cProfile of one bulk transfer,
                                                  # also into bench/results/sim_profile.txt
    .venv/bin/python bench/run.py --quick         # smaller runs, results not written
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import goodput
import sim_workloads as wl

RESULTS = Path(__file__).resolve().parent / "results"
BULK_BYTES = 50 * wl.MB
TRACE_BYTES = 10 * wl.MB
CYCLES = 2000
REPEATS = 3


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def best_of(repeats: int, run: Callable[[], wl.Result]) -> tuple[wl.Result, list[wl.Result]]:
    """Run ``repeats`` times, each after a garbage collection; the fastest run wins."""
    results = []
    for _ in range(repeats):
        gc.collect()
        results.append(run())
    return max(results, key=lambda r: r.rate), results


def trace_overhead(
    size: int, repeats: int
) -> tuple[wl.Result, wl.Result, list[wl.Result], list[wl.Result], int]:
    """Best of ``repeats`` bulk transfers without and with a trace file, interleaved.

    Returns (best off, best on, runs off, runs on, size of the trace file in bytes).
    """
    payload = wl.make_payload(size)
    off: list[wl.Result] = []
    on: list[wl.Result] = []
    file_bytes = 0
    with tempfile.TemporaryDirectory(prefix="synack-trace-") as tmp:
        path = Path(tmp) / "bulk.jsonl"
        for _ in range(repeats):
            gc.collect()
            off.append(wl.bulk_transfer(payload))
            gc.collect()
            on.append(wl.bulk_transfer(payload, trace=path))
            file_bytes = path.stat().st_size
    best = max(off, key=lambda r: r.rate), max(on, key=lambda r: r.rate)
    return best[0], best[1], off, on, file_bytes


def profile_bulk(size: int, top: int = 15) -> str:
    """cProfile of one bulk transfer, the ``top`` functions by own time with their share."""
    payload = wl.make_payload(size)
    profiler = cProfile.Profile()
    profiler.enable()
    wl.bulk_transfer(payload)
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values()) or 1.0
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    out = io.StringIO()
    out.write(f"cProfile of a {size / wl.MB:g} MB bulk transfer, top {top} by own time\n")
    out.write(f"{'share':>6} {'tottime':>8} {'cumtime':>8} {'calls':>9}  function\n")
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in rows:
        where = _short(filename)
        label = f"{where}:{line}({name})" if line else name
        out.write(
            f"{100 * tottime / total:5.1f}% {tottime:8.3f} {cumtime:8.3f} {calls:9d}  {label}\n"
        )
    out.write(f"total own time {total:.3f} s (profiler overhead included)\n\n")
    layers: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _calls, tottime, _cum, _callers) in entries.items():
        layer = _layer(filename)
        layers[layer] = layers.get(layer, 0.0) + tottime
    out.write("own time by layer (C builtins such as int.from_bytes counted apart)\n")
    for layer, tottime in sorted(layers.items(), key=lambda kv: kv[1], reverse=True):
        out.write(f"{100 * tottime / total:5.1f}% {tottime:8.3f}  {layer}\n")
    return out.getvalue()


def _layer(filename: str) -> str:
    if "/synack/" in filename:
        rest = filename.split("/synack/", 1)[1]
        return "synack/" + (rest.split("/", 1)[0] + "/" if "/" in rest else rest)
    if filename == "~":
        return "C builtins"
    if Path(filename).parent == Path(__file__).resolve().parent:
        return "bench (the applications)"
    return "other Python (stdlib)"


def _short(filename: str) -> str:
    marker = "/synack/"
    if marker in filename:
        return "synack/" + filename.split(marker, 1)[1]
    if filename.startswith("~") or filename.startswith("<"):
        return filename
    return Path(filename).name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs; write nothing")
    parser.add_argument("--profile", action="store_true", help="cProfile one bulk transfer")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument(
        "--no-goodput", action="store_true", help="skip the goodput table (bench/goodput.py)"
    )
    args = parser.parse_args(argv)

    size = 5 * wl.MB if args.quick else BULK_BYTES
    cycles = 200 if args.quick else CYCLES
    wall = time.perf_counter()

    payload = wl.make_payload(size)
    bulk, bulk_runs = best_of(args.repeats, lambda: wl.bulk_transfer(payload))
    cyc, cyc_runs = best_of(args.repeats, lambda: wl.connect_close_cycles(cycles))
    trace_size = 2 * wl.MB if args.quick else TRACE_BYTES
    t_off, t_on, t_off_runs, t_on_runs, trace_file = trace_overhead(trace_size, args.repeats)

    link = wl.LINK
    info = machine()
    results: dict[str, object] = {
        "sim_bulk_MB_per_cpu_s": round(bulk.rate, 3),
        "sim_cycles_per_cpu_s": round(cyc.rate, 1),
        "sim_bulk_runs_MB_per_cpu_s": [round(r.rate, 3) for r in bulk_runs],
        "sim_cycles_runs_per_cpu_s": [round(r.rate, 1) for r in cyc_runs],
        "sim_bulk_bytes": size,
        "sim_bulk_cpu_s": round(bulk.cpu_s, 4),
        "sim_bulk_segments": bulk.segments,
        "sim_bulk_virtual_s": round(bulk.virtual_s, 6),
        "sim_bulk_virtual_MB_per_s": round(size / wl.MB / bulk.virtual_s, 3),
        "sim_bulk_segments_per_cpu_s": round(bulk.segments / bulk.cpu_s, 1),
        "sim_bulk_retransmissions": bulk.retransmissions,
        "sim_bulk_check": "sha256 of the received stream equals the sender's",
        "sim_cycles": cycles,
        "sim_cycles_cpu_s": round(cyc.cpu_s, 4),
        "sim_cycles_segments_per_cycle": cyc.segments / cycles,
        "sim_cycles_time_wait_on_A": cyc.time_wait,
        "sim_cycles_close": (
            "client first, server closes on end of stream; TIME_WAIT accumulates on A "
            "(one per cycle, random ephemeral ports)"
        ),
        "trace_off_MB_per_cpu_s": round(t_off.rate, 3),
        "trace_on_MB_per_cpu_s": round(t_on.rate, 3),
        "trace_on_over_off": round(t_on.rate / t_off.rate, 3),
        "trace_off_runs_MB_per_cpu_s": [round(r.rate, 3) for r in t_off_runs],
        "trace_on_runs_MB_per_cpu_s": [round(r.rate, 3) for r in t_on_runs],
        "trace_bytes": trace_size,
        "trace_lines": t_on.trace_lines,
        "trace_file_bytes": trace_file,
        "trace_how": (
            "bulk transfer A->B without a tracer, then with a JsonlTrace of both stacks "
            "to a temporary file (CPU time includes writing it), alternately, best of repeats"
        ),
        "link": {
            "delay_us": link.delay_us,
            "bandwidth_bps": link.bandwidth_bps,
            "mtu": link.mtu,
            "loss": link.loss,
        },
        "repeats": args.repeats,
        "statistic": "best of repeats",
        "machine": info,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - wall, 1),
    }

    rows = [
        (f"bulk {size // wl.MB} MB A->B", f"{bulk.rate:10.2f}", "MB / CPU s", bulk_runs),
        (f"connect+accept+close x{cycles}", f"{cyc.rate:10.1f}", "cycles / CPU s", cyc_runs),
        (
            f"bulk {trace_size // wl.MB} MB, no tracer",
            f"{t_off.rate:10.2f}",
            "MB / CPU s",
            t_off_runs,
        ),
        (
            f"bulk {trace_size // wl.MB} MB, JSON-lines trace",
            f"{t_on.rate:10.2f}",
            "MB / CPU s",
            t_on_runs,
        ),
    ]
    print(f"synack bench, simulated network ({info['cpu_model']}, Python {info['python']})")
    print(f"link: {link.delay_us} us one way, no loss, no bandwidth limit, MTU {link.mtu}")
    print(f"{'workload':<32} {'best':>10} {'unit':<15} runs")
    for name, value, unit, runs in rows:
        all_runs = " ".join(f"{r.rate:.2f}" for r in runs)
        print(f"{name:<32} {value} {unit:<15} {all_runs}")
    print(
        f"bulk: {bulk.segments} segments ({bulk.segments / bulk.cpu_s:,.0f} per CPU s), "
        f"{bulk.virtual_s:.3f} virtual s; cycles: {cyc.segments / cycles:g} segments each, "
        f"{cyc.virtual_s:.1f} virtual s"
    )
    print(
        f"trace: {t_on.trace_lines} lines, {trace_file / wl.MB:.1f} MB; traced runs at "
        f"{t_on.rate / t_off.rate:.2f} x the untraced speed"
    )

    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / "sim.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {out}")
    if args.profile:
        report = profile_bulk(size)
        print()
        print(report)
        if not args.quick:
            (RESULTS / "sim_profile.txt").write_text(report)
    if not args.no_goodput:
        print()
        goodput.main(["--quick"] if args.quick else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
