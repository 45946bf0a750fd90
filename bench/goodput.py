"""Goodput of one bulk transfer A -> B on the simulated network, per loss rate and RTT.

The data-transfer issue's goodput table (item 8): every cell runs once per congestion
control synack has, NewReno (RFC 5681 / RFC 6582, ``congestion_control="newreno"``) and
CUBIC with HyStart (RFC 9438 / RFC 9406, the linux profile's default); both recover
from loss with SACK (RFC 6675 with PRR, RFC 6937), as the linux profile negotiates it.

Each cell: a fresh `World` (``record=False``) whose two directions both get the same
`LinkConfig`: 100 Mbit/s, one-way delay RTT/2, the cell's per-packet loss (so ACKs are
lost at the same rate as data), MTU 1500 and a drop-tail queue of one bandwidth-delay
product in 1500-byte packets (at least `MIN_QUEUE` packets). Both stacks use the linux
profile with rmem = wmem = `BUFFER` (8 MB, window scaling on by default: shift 7), which
is more than twice the largest BDP here, so the buffers never limit the window: the
congestion window and the queue do.

Goodput = payload bytes / virtual seconds from the client's connect() (its first SYN)
to the moment the receiving application has read the last byte. The received stream is
hashed (sha256) and compared with the sender's. If a transfer has not finished within
`VIRTUAL_CAP_S` virtual seconds it is stopped and the cell is marked ``capped`` with no
goodput (only how many verified bytes had been read by then).

    .venv/bin/python bench/goodput.py            # 20 MB per cell, bench/results/goodput.{json,md}
    .venv/bin/python bench/goodput.py --quick    # 2 MB per cell, nothing written
    .venv/bin/python bench/goodput.py --congestion cubic --quick   # one algorithm only
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import sim_workloads as wl

from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.config import LINUX

RESULTS = Path(__file__).resolve().parent / "results"
PORT = 5001
MB = wl.MB
SIZE = 20 * MB
QUICK_SIZE = 2 * MB
BANDWIDTH_BPS = 100_000_000
MTU = 1500
LOSSES = (0.0, 0.001, 0.01, 0.05)
RTTS_MS = (1, 20, 100)
CONGESTION = ("newreno", "cubic")
#: rmem and wmem of both stacks: > 2 BDP at 100 Mbit/s x 100 ms (2.5 MB).
BUFFER = 8 * 1024 * 1024
MIN_QUEUE = 16
#: A transfer still running after this much virtual time is stopped and marked capped.
VIRTUAL_CAP_S = 1800.0
SEED = 1
#: MSS on the wire: MTU - 20 (IPv4) - 20 (TCP) - 12 (timestamps option, on by default).
MSS = MTU - 40 - 12


@dataclass(slots=True)
class Cell:
    congestion: str
    loss: float
    rtt_ms: int
    goodput_mbps: float | None
    link_fraction: float | None
    virtual_s: float
    cpu_s: float
    retransmissions: int
    capped: bool
    bytes: int
    bytes_read: int
    queue_packets: int
    rto_timeouts: int
    fast_retransmits: int
    segments: int
    mathis_mbps: float | None
    seed: int


def queue_for(rtt_ms: int) -> int:
    """One bandwidth-delay product in MTU-sized packets, at least MIN_QUEUE."""
    bdp_bytes = BANDWIDTH_BPS * rtt_ms / 1000 / 8
    return max(MIN_QUEUE, math.ceil(bdp_bytes / MTU))


def mathis_mbps(loss: float, rtt_ms: int) -> float | None:
    """Mathis et al. (1997): BW = MSS / RTT * C / sqrt(p), C = sqrt(3/2) ~ 1.22."""
    if loss <= 0:
        return None
    return MSS * 8 / (rtt_ms / 1000) * math.sqrt(1.5) / math.sqrt(loss) / 1e6


def _counter(world: World, name: str) -> int:
    return sum(stack.counters[name] for stack in world.stacks.values())


def run_cell(
    payload: bytes,
    loss: float,
    rtt_ms: int,
    congestion: str = "cubic",
    seed: int = SEED,
    cap_s: float = VIRTUAL_CAP_S,
) -> Cell:
    queue = queue_for(rtt_ms)
    link = LinkConfig(
        delay_us=rtt_ms * 1000 // 2,
        loss=loss,
        bandwidth_bps=BANDWIDTH_BPS,
        queue_packets=queue,
        mtu=MTU,
    )
    config = LINUX.with_changes(rmem=BUFFER, wmem=BUFFER, congestion_control=congestion)
    world = World(seed, link, config=config, record=False)
    srv = world.socket("B")
    srv.bind((world.address("B"), PORT))
    srv.listen(1)
    gc.collect()
    start_cpu = time.process_time()
    t0 = world.now
    deadline = t0 + int(cap_s * 1e6)
    sender = world.socket("A")
    sender.connect((world.address("B"), PORT))  # blocking: the first SYN leaves at t0
    receiver, _ = srv.accept()
    digest, received = wl.pump(world, sender, receiver, payload, deadline)
    cpu = time.process_time() - start_cpu
    virtual = (world.now - t0) / 1e6
    total = len(payload)
    capped = received < total
    if capped:
        # Still check what did arrive, so a capped cell is never a corrupted one.
        if digest != hashlib.sha256(payload[:received]).digest():
            raise AssertionError(f"loss {loss} rtt {rtt_ms} ms: received prefix corrupted")
    elif digest != hashlib.sha256(payload).digest():
        raise AssertionError(f"loss {loss} rtt {rtt_ms} ms: received stream corrupted")
    goodput = None if capped else total * 8 / virtual / 1e6
    return Cell(
        congestion=congestion,
        loss=loss,
        rtt_ms=rtt_ms,
        goodput_mbps=None if goodput is None else round(goodput, 3),
        link_fraction=None if goodput is None else round(goodput * 1e6 / BANDWIDTH_BPS, 4),
        virtual_s=round(virtual, 4),
        cpu_s=round(cpu, 3),
        retransmissions=_counter(world, "TcpRetransSegs"),
        capped=capped,
        bytes=total,
        bytes_read=received,
        queue_packets=queue,
        rto_timeouts=_counter(world, "TcpExtTCPTimeouts"),
        fast_retransmits=_counter(world, "TcpExtTCPFastRetrans"),
        segments=_counter(world, "TcpOutSegs"),
        mathis_mbps=None if loss <= 0 else round(mathis_mbps(loss, rtt_ms) or 0.0, 3),
        seed=seed,
    )


def _fmt(value: float | None, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


CEILING_MBPS = 100 * MSS / MTU  # payload share of the link: 96.5 Mbit/s


def _bound(c: Cell) -> float | None:
    return None if c.mathis_mbps is None else min(c.mathis_mbps, CEILING_MBPS)


def _goodput(c: Cell | None) -> str:
    if c is None:
        return "-"
    return "capped" if c.capped else _fmt(c.goodput_mbps, ".2f")


def _of_link(c: Cell | None) -> str:
    if c is None:
        return "-"
    return "capped" if c.capped else f"{100 * (c.link_fraction or 0):.1f} %"


def _render(head: tuple[str, ...], rows: list[tuple[str, ...]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _by_cell(cells: list[Cell]) -> dict[tuple[int, float], dict[str, Cell]]:
    grid: dict[tuple[int, float], dict[str, Cell]] = {}
    for c in cells:
        grid.setdefault((c.rtt_ms, c.loss), {})[c.congestion] = c
    return grid


def comparison(cells: list[Cell], markdown: bool = False) -> str:
    """NewReno and CUBIC side by side, one row per (RTT, loss) cell."""
    head = (
        "loss",
        "RTT ms",
        "NewReno Mbit/s",
        "of link",
        "CUBIC Mbit/s",
        "of link",
        "Mathis Mbit/s",
        f"min(Mathis, {CEILING_MBPS:.1f})",
    )
    rows = []
    for (rtt, loss), pair in _by_cell(cells).items():
        reno, cubic = pair.get("newreno"), pair.get("cubic")
        any_cell = next(iter(pair.values()))
        rows.append(
            (
                f"{100 * loss:g} %",
                str(rtt),
                _goodput(reno),
                _of_link(reno),
                _goodput(cubic),
                _of_link(cubic),
                _fmt(any_cell.mathis_mbps, ".2f", "n/a (p=0)"),
                _fmt(_bound(any_cell), ".2f", f"{CEILING_MBPS:.1f}"),
            )
        )
    return _render(head, rows, markdown)


def table(cells: list[Cell], markdown: bool = False) -> str:
    """One row per run: the counters behind each goodput figure."""
    head = (
        "congestion",
        "loss",
        "RTT ms",
        "goodput Mbit/s",
        "of link",
        "virtual s",
        "CPU s",
        "rexmit",
        "RTOs",
        "fast rexmit",
    )
    rows = [
        (
            c.congestion,
            f"{100 * c.loss:g} %",
            str(c.rtt_ms),
            _goodput(c),
            _of_link(c),
            f"{c.virtual_s:.2f}",
            f"{c.cpu_s:.2f}",
            str(c.retransmissions),
            str(c.rto_timeouts),
            str(c.fast_retransmits),
        )
        for c in cells
    ]
    return _render(head, rows, markdown)


NOTES = """\
**Model.** Mathis et al. (1997), *The macroscopic behavior of the TCP congestion
avoidance algorithm*: a Reno-style sender in steady congestion avoidance with random loss
rate p gets about MSS/RTT * sqrt(3/2)/sqrt(p) (C = 1.22, MSS = 1448 here). It ignores
timeouts, slow start and the link rate, so the column beside it caps it at the link's
payload ceiling (1448/1500 of 100 Mbit/s = 96.5 Mbit/s). Padhye et al. (1998) add
timeouts to the model, which lowers it sharply at p of a few percent. CUBIC's own
response function (RFC 9438 section 5: an average window growing as RTT^(3/4)/p^(3/4))
beats Reno's only when the BDP is large and p small; in every lossy cell here it stays
below Reno's, so CUBIC runs in its Reno-friendly region and the Mathis column is the
reference for both columns. Linux (CUBIC with SACK, HyStart, RACK-TLP, pacing) is
reported to fill a loss-free path once slow start is over, and to track that bound
under random loss, falling below it when timeouts take over at a few percent.

**Loss-free cells.** No TCP that starts in slow start can fill a 100 ms path with 20 MB:
the handshake and about seven doublings from 10 segments to the 834-segment BDP take
0.8 s, in which only 1.8 MB go out, so the best possible here is about 68 Mbit/s (91
at 20 ms). CUBIC reaches 63 and 88 Mbit/s with no retransmission: HyStart ends slow
start near the path's size. HyStart++ (RFC 9406) alone would not: without pacing each
round leaves as a burst at twice the link rate, the queue drains between bursts, and the
first packets of every round see the base RTT, so the delay test fires only well past
the BDP. Linux's ACK-train test, which synack adds, sees it: a train of closely spaced
ACKs longer than half the minimum RTT means the pipe is full. NewReno (no HyStart, as in
Linux) doubles on past the BDP plus the queue and loses a burst of segments; SACK
recovery repairs the burst in a few round trips (86 % of the link at 20 ms, 47 % at
100 ms; before SACK recovery these cells reached 11 % and 1 %).

**Lossy cells.** CUBIC beats NewReno in every lossy cell: it gives back 30 % of
the window, not 50 %, climbs back along the cubic curve, and its Reno-friendly estimate
keeps it at least as fast as Reno. Against the Mathis bound CUBIC reaches 0.8 to 1.1 of
it at 20 and 100 ms for 0.1 to 5 % loss (2.1 at 0.1 % and 100 ms, where a 20 MB transfer
meets few losses and slow start carries much of it), and 0.89 at 1 % and 1 ms. At 5 % and
1 ms it reaches 0.56: the retransmission timeouts (RTO column; each at least rto_min =
200 ms, which is 200 RTTs at 1 ms) take much of the time.

**Where synack falls short of Linux, and why** (checked in src/synack/tcp/):

- No RACK-TLP (RFC 8985) or early retransmit: a loss among the last segments of a flight,
  or a retransmission that is lost again, waits for the RTO, as does recovery when too
  few segments follow a loss to make three duplicate ACKs. The RTO column counts these;
  they dominate the 5 % cells.
- The lossy 1 ms CUBIC cells retransmit far more than the random loss explains (465
  segments at 1 %, where about 145 data segments are dropped at random; 2,380 at 5 %):
  CUBIC's larger window also overflows the 16-packet queue, and how many resends were
  spurious is not measured. Linux would undo a reduction that D-SACKs show was spurious;
  synack counts D-SACKs (TcpExtTCPDSACKRecv) but does not undo.
- No pacing: every round of slow start leaves as a burst, which is why the loss-free 1 ms
  cells still overflow their 16-packet queue (about 40 retransmissions) and why HyStart
  needs its ACK-train test.
- No rescue retransmission (RFC 6675 NextSeg rule 4).
- RTT: the RTO still takes one timed segment per flight (`rtt_seq`, Karn's rule); the
  timestamp echo of every ACK feeds only HyStart, in whole milliseconds.
- Loss applies to ACKs as well (both directions share the LinkConfig).

Every cell is one run with one seed: the loss pattern (and so the overshoot) varies
with the seed, by tens of percent in the lossy cells.
"""


def ratios(cells: list[Cell]) -> str:
    """Each algorithm's goodput over the Mathis bound (capped at the link), lossy cells."""
    rows = []
    for (rtt, loss), pair in _by_cell(cells).items():
        bound = _bound(next(iter(pair.values())))
        if bound is None:
            continue
        shares = []
        for name in CONGESTION:
            c = pair.get(name)
            ok = c is not None and c.goodput_mbps is not None
            shares.append(f"{c.goodput_mbps / bound:.2f}" if ok and c else "-")
        rows.append((f"{100 * loss:g} %", str(rtt), *shares))
    head = ("loss", "RTT ms", *(f"{n} / min(Mathis, 96.5)" for n in ("NewReno", "CUBIC")))
    return _render(head, rows, markdown=True)


def markdown(cells: list[Cell], size: int, cpu_s: float, date: str) -> str:
    capped = [c for c in cells if c.capped]
    cap_note = (
        f"{len(capped)} run(s) did not finish within {VIRTUAL_CAP_S:g} virtual s and are "
        "marked capped (no goodput given)."
        if capped
        else f"Every transfer finished within the {VIRTUAL_CAP_S:g} virtual s cap."
    )
    return (
        f"## Goodput, {size // MB} MB A->B: NewReno and CUBIC\n\n"
        "Each cell runs twice, once per congestion control (TcpConfig.congestion_control): "
        "NewReno (RFC 5681 / RFC 6582) and CUBIC (RFC 9438, the linux profile's default) "
        "with HyStart++ (RFC 9406) and Linux's ACK-train test. Both recover from loss "
        "with SACK (RFC 6675, PRR per RFC 6937) and limited transmit (RFC 3042). "
        "100 Mbit/s both ways, one-way delay RTT/2, per-packet loss p in both directions, "
        "MTU 1500 (MSS 1448 with timestamps), drop-tail queue of one bandwidth-delay "
        f"product (at least {MIN_QUEUE} packets: 16, 167 and 834 packets at 1, 20 and "
        f"100 ms), rmem = wmem = {BUFFER >> 20} MiB. Goodput = payload bytes / virtual "
        "seconds from the first SYN to the last byte read, stream verified by sha256; "
        "'of link' is goodput / 100 Mbit/s. "
        f"Seed {cells[0].seed if cells else SEED}, {date}, {cpu_s:.1f} CPU s in all. "
        f"{cap_note}\n\n"
        f"{comparison(cells, markdown=True)}\n\n"
        f"{ratios(cells)}\n\n"
        "Every run, with its counters (retransmitted segments, retransmission timeouts, "
        "fast retransmits):\n\n"
        f"{table(cells, markdown=True)}\n\n{NOTES}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 MB per cell; write nothing")
    parser.add_argument("--cap", type=float, default=VIRTUAL_CAP_S, help="virtual s per cell")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--congestion",
        choices=CONGESTION,
        action="append",
        help="run only this congestion control (repeatable); default: both",
    )
    args = parser.parse_args(argv)

    size = QUICK_SIZE if args.quick else SIZE
    algorithms = tuple(args.congestion or CONGESTION)
    payload = wl.make_payload(size)
    wall = time.perf_counter()
    cpu0 = time.process_time()
    cells: list[Cell] = []
    print(
        f"goodput, {size // MB} MB A->B, 100 Mbit/s both ways, MTU {MTU}, "
        f"queue = 1 BDP (>= {MIN_QUEUE} packets), rmem = wmem = {BUFFER >> 20} MiB, "
        f"congestion control: {', '.join(algorithms)}"
    )
    for rtt in RTTS_MS:
        for loss in LOSSES:
            for congestion in algorithms:
                cell = run_cell(payload, loss, rtt, congestion, seed=args.seed, cap_s=args.cap)
                cells.append(cell)
                state = "capped" if cell.capped else f"{cell.goodput_mbps:.2f} Mbit/s"
                print(
                    f"  {congestion:>7} loss {100 * loss:g} % rtt {rtt} ms: {state}, "
                    f"{cell.virtual_s:.2f} virtual s, {cell.cpu_s:.2f} CPU s",
                    flush=True,
                )
    cpu_total = time.process_time() - cpu0
    print(comparison(cells))
    print(table(cells))
    print(f"total {cpu_total:.1f} CPU s, {time.perf_counter() - wall:.1f} wall s")
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / "goodput.json"
        out.write_text(json.dumps([asdict(c) for c in cells], indent=2) + "\n")
        date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        md = RESULTS / "goodput.md"
        md.write_text(markdown(cells, size, cpu_total, date))
        print(f"written to {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
