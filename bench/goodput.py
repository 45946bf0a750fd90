"""Goodput of one bulk transfer A -> B on the simulated network, per loss rate and RTT.

The data-transfer issue's goodput table (item 8) for the congestion control synack has
today: NewReno-style (RFC 5681 slow start / congestion avoidance, RFC 6582 fast recovery),
no SACK. CUBIC does not exist in synack yet, so every row says ``congestion: "newreno"``.

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
    loss: float
    rtt_ms: int
    congestion: str
    goodput_Mbps: float | None
    fraction: float | None
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
    mathis_Mbps: float | None
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
    payload: bytes, loss: float, rtt_ms: int, seed: int = SEED, cap_s: float = VIRTUAL_CAP_S
) -> Cell:
    queue = queue_for(rtt_ms)
    link = LinkConfig(
        delay_us=rtt_ms * 1000 // 2,
        loss=loss,
        bandwidth_bps=BANDWIDTH_BPS,
        queue_packets=queue,
        mtu=MTU,
    )
    config = LINUX.with_changes(rmem=BUFFER, wmem=BUFFER)
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
        loss=loss,
        rtt_ms=rtt_ms,
        congestion="newreno",
        goodput_Mbps=None if goodput is None else round(goodput, 3),
        fraction=None if goodput is None else round(goodput * 1e6 / BANDWIDTH_BPS, 4),
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
        mathis_Mbps=None if loss <= 0 else round(mathis_mbps(loss, rtt_ms) or 0.0, 3),
        seed=seed,
    )


def _fmt(value: float | None, spec: str, empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def table(cells: list[Cell], markdown: bool = False) -> str:
    head = (
        "loss",
        "RTT ms",
        "goodput Mbit/s",
        "of link",
        "Mathis Mbit/s",
        "min(Mathis, 96.5)",
        "virtual s",
        "CPU s",
        "rexmit",
        "RTOs",
        "fast rexmit",
    )
    rows = []
    for c in cells:
        ceiling = 100 * MSS / MTU
        bound = None if c.mathis_Mbps is None else min(c.mathis_Mbps, ceiling)
        rows.append(
            (
                f"{100 * c.loss:g} %",
                str(c.rtt_ms),
                "capped" if c.capped else _fmt(c.goodput_Mbps, ".2f"),
                "capped" if c.capped else f"{100 * (c.fraction or 0):.1f} %",
                _fmt(c.mathis_Mbps, ".2f", "n/a (p=0)"),
                _fmt(bound, ".2f", f"{ceiling:.1f}"),
                f"{c.virtual_s:.2f}",
                f"{c.cpu_s:.2f}",
                str(c.retransmissions),
                str(c.rto_timeouts),
                str(c.fast_retransmits),
            )
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


NOTES = """\
**Model.** Mathis et al. (1997), *The macroscopic behavior of the TCP congestion
avoidance algorithm*: a Reno-style sender in steady congestion avoidance with random loss
rate p gets about MSS/RTT * sqrt(3/2)/sqrt(p) (C = 1.22, MSS = 1448 here). It ignores
timeouts, slow start and the link rate, so the column beside it caps it at the link's
payload ceiling (1448/1500 of 100 Mbit/s = 96.5 Mbit/s). Padhye et al. (1998) add
timeouts to the model, which lowers it sharply at p of a few percent; Linux today runs
CUBIC (RFC 9438) with SACK, HyStart, RACK-TLP and a timestamp-sampled RTT, and is
reported to track or beat the Reno curve: CUBIC's response function grows faster than
Reno's when the BDP is large and the loss rate low, and SACK repairs many holes per RTT.

**Shape.** synack (NewReno, RFC 5681 / RFC 6582, no SACK) follows the model's trend at
a fixed RTT: goodput falls with sqrt(p), and at a fixed p it falls with the RTT. At 1 ms
and p <= 0.1 % it fills the link, as Linux would. Elsewhere it lands below the model
(ratio table): about half of it at 20 ms for 0.1-1 %, a half to two thirds at 100 ms,
and well below it at 1 % / 1 ms and at 5 % loss, where much of the time goes into
retransmission timeouts (RTO column; each at least rto_min = 200 ms) that the model
does not count; the 1 ms cells suffer most because a 200 ms RTO is 200 RTTs there.

**The loss-free cells at 20 and 100 ms are the worst result**: about 11 % and 1 % of
the link. With nothing to end slow start early,
cwnd overshoots the BDP plus the one-BDP queue and a whole burst of segments is
tail-dropped. What follows is where synack falls short of Linux, checked in
src/synack/tcp/:

- No SACK (`TcpConfig.sack` is never offered): NewReno repairs one hole per round trip
  (`_on_new_ack` -> `partial_ack` -> `_retransmit_first`, one segment at SND.UNA), so a
  burst of hundreds of drops takes hundreds of RTTs; each partial ACK re-arms the RTO,
  so no timeout ends it early.
- Unbounded window inflation during recovery: every duplicate ACK adds an MSS
  (`NewReno.inflate`), so cwnd climbs to the receive window and the sender keeps sending
  new data past the holes. The receiver now keeps that data (its out-of-order queue is
  bounded by the receive buffer, one entry per 512 bytes of it at most), so little is
  sent twice, but the holes are still repaired one per round trip.
- After an RTO the sender goes back N (`_on_rtx_timeout`: SND.NXT = SND.UNA) and
  resends from the first unacknowledged byte in slow start from one segment, including
  what the receiver already holds (it jumps ahead only when a cumulative ACK covers the
  held data); Linux with SACK retransmits only the holes it marked lost.
- No HyStart (or any slow-start exit other than loss) and no ABC: slow start grows by
  one MSS per ACK (`NewReno.on_ack`), i.e. x1.5 per RTT with delayed ACKs.
- RTT: one timed segment per flight (`rtt_seq`, Karn's rule); the timestamp echo is used
  only when no segment is timed (after a retransmission), not on every ACK as Linux does.
- No RACK-TLP or early retransmit: a loss in the last segments of a flight, or with
  fewer than three segments after it, waits for the RTO.
- Loss applies to ACKs as well (both directions share the LinkConfig).

Every cell is one run with one seed: the loss pattern (and so the overshoot) varies
with the seed, by tens of percent in the lossy cells.
"""


def markdown(cells: list[Cell], size: int, cpu_s: float, date: str) -> str:
    ratio_head = "| loss | RTT ms | synack / min(Mathis, 96.5) |\n|---|---|---|\n"
    ratios = ""
    for c in cells:
        if c.mathis_Mbps is None or c.goodput_Mbps is None:
            continue
        bound = min(c.mathis_Mbps, 100 * MSS / MTU)
        ratios += f"| {100 * c.loss:g} % | {c.rtt_ms} | {c.goodput_Mbps / bound:.2f} |\n"
    capped = [c for c in cells if c.capped]
    cap_note = (
        f"{len(capped)} cell(s) did not finish within {VIRTUAL_CAP_S:g} virtual s and are "
        "marked capped (no goodput given)."
        if capped
        else f"Every transfer finished within the {VIRTUAL_CAP_S:g} virtual s cap."
    )
    return (
        f"## Goodput, {size // MB} MB A->B, congestion control: NewReno (synack today)\n\n"
        "CUBIC is not implemented in synack yet; every row is NewReno-style. "
        "100 Mbit/s both ways, one-way delay RTT/2, per-packet loss p in both directions, "
        "MTU 1500 (MSS 1448 with timestamps), drop-tail queue of one bandwidth-delay "
        f"product (at least {MIN_QUEUE} packets: 16, 167 and 834 packets at 1, 20 and "
        f"100 ms), rmem = wmem = {BUFFER >> 20} MiB. Goodput = payload bytes / virtual "
        "seconds from the first SYN to the last byte read, stream verified by sha256; "
        "'of link' is goodput / 100 Mbit/s. "
        f"Seed {cells[0].seed if cells else SEED}, {date}, {cpu_s:.1f} CPU s in all. "
        f"{cap_note}\n\n"
        f"{table(cells, markdown=True)}\n\n{ratio_head}{ratios}\n{NOTES}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 MB per cell; write nothing")
    parser.add_argument("--cap", type=float, default=VIRTUAL_CAP_S, help="virtual s per cell")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)

    size = QUICK_SIZE if args.quick else SIZE
    payload = wl.make_payload(size)
    wall = time.perf_counter()
    cpu0 = time.process_time()
    cells: list[Cell] = []
    print(
        f"goodput, {size // MB} MB A->B, 100 Mbit/s both ways, MTU {MTU}, "
        f"queue = 1 BDP (>= {MIN_QUEUE} packets), rmem = wmem = {BUFFER >> 20} MiB, "
        f"congestion control: newreno (CUBIC not implemented in synack)"
    )
    for rtt in RTTS_MS:
        for loss in LOSSES:
            cell = run_cell(payload, loss, rtt, seed=args.seed, cap_s=args.cap)
            cells.append(cell)
            state = "capped" if cell.capped else f"{cell.goodput_Mbps:.2f} Mbit/s"
            print(
                f"  loss {100 * loss:g} % rtt {rtt} ms: {state}, "
                f"{cell.virtual_s:.2f} virtual s, {cell.cpu_s:.2f} CPU s",
                flush=True,
            )
    cpu_total = time.process_time() - cpu0
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
