"""``synack plot``: time-sequence, congestion-window and RTT graphs from a trace file.

Reads the JSON-lines format of docs/trace-format.md and draws with matplotlib on the Agg
canvas, so it needs no display. matplotlib is imported only when drawing, so that
registering the subcommand costs every other ``synack`` command nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synack.trace.endpoints import endpoint_text, norm_addr, parse_conn

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

KINDS = ("tsg", "cwnd", "rtt")
#: The newest trace format version this module reads (docs/trace-format.md).
VERSION = 1
SUFFIXES = {".png": "png", ".svg": "svg"}

# One fixed colour per kind of mark, close to tcptrace's, so every graph reads alike.
DATA_COLOUR = "#1f4e9c"
RETRANSMISSION_COLOUR = "#d62728"
ACK_COLOUR = "#2ca02c"
WINDOW_COLOUR = "#c7a600"
SACK_COLOUR = "#9467bd"
SYN_COLOUR = "#000000"
FIN_COLOUR = "#8c564b"
DROP_COLOUR = "#e377c2"

#: Above this many marks a collection is rasterized inside an SVG, which keeps a 20 MB
#: transfer's SVG a few hundred kilobytes instead of tens of megabytes.
RASTERIZE_ABOVE = 5000

_WRAP = 1 << 32
_HALF = 1 << 31


class PlotError(Exception):
    """Bad input or output for ``synack plot``; the message is meant for the user."""


@dataclass(frozen=True, slots=True)
class ConnKey:
    """One connection as seen by one host: the sender side of a time-sequence graph."""

    host: str
    local: tuple[str, int]
    remote: tuple[str, int]

    def __str__(self) -> str:
        return f"{self.host} {endpoint_text(self.local)}-{endpoint_text(self.remote)}"


@dataclass(slots=True)
class Segment:
    """The fields of a ``seg`` line that the graphs use."""

    t: int
    out: bool
    seq: int
    ack: int
    flags: str
    win: int
    length: int
    rtx: bool
    sack: list[tuple[int, int]]


@dataclass(slots=True)
class ConnEvents:
    """Everything one host recorded about one connection, in its order."""

    segments: list[Segment] = field(default_factory=list)
    iss: int | None = None
    payload_out: int = 0
    cc: list[dict[str, Any]] = field(default_factory=list)
    rtt: list[dict[str, Any]] = field(default_factory=list)
    rtx_fires: list[int] = field(default_factory=list)


@dataclass
class TraceData:
    """A trace file, grouped by connection; connections in order of first appearance."""

    conns: dict[ConnKey, ConnEvents] = field(default_factory=dict)
    #: (time, host, connection as named by the drop, or None)
    drops: list[tuple[int, str, ConnKey | None]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


def _conn_key(host: str, conn: object) -> ConnKey | None:
    if conn is None:
        return None
    if not (isinstance(conn, list) and len(conn) == 4):
        raise ValueError(
            f"conn must be [local_addr, local_port, remote_addr, remote_port], not {conn!r}"
        )
    laddr, lport, raddr, rport = conn
    if not (isinstance(laddr, str) and isinstance(raddr, str)):
        raise ValueError(f"addresses in conn must be text, not {conn!r}")
    return ConnKey(host, (norm_addr(laddr), _int(lport)), (norm_addr(raddr), _int(rport)))


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _num(value: object) -> float:
    """A number, or NaN for null, so matplotlib leaves a gap."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number or null, got {value!r}")
    return float(value)


def load_trace(path: str | Path) -> TraceData:
    """Read and group a trace file, or raise PlotError saying what is wrong with it."""
    data = TraceData()
    seen_header = False
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if not seen_header:
                    version = _header_version(line)
                    if version is None:
                        raise PlotError(
                            f"{path}: not a synack trace (the first line must be the "
                            '{"ev": "header", "format": "synack-trace", ...} line)'
                        )
                    if version > VERSION:
                        raise PlotError(
                            f"{path}: trace format version {version} is newer than the "
                            f"{VERSION} this synack reads"
                        )
                    seen_header = True
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    if not line.endswith("\n"):
                        # A run killed mid-write leaves half a line: keep what came before.
                        print(f"{path}:{n}: ignoring the incomplete last line", file=sys.stderr)
                        break
                    raise PlotError(f"{path}:{n}: not a JSON line") from None
                try:
                    _add_record(data, record)
                except (KeyError, TypeError, ValueError) as exc:
                    detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
                    raise PlotError(f"{path}:{n}: bad trace line: {detail}") from None
    except FileNotFoundError:
        raise PlotError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise PlotError(f"{path}: not a synack trace (not UTF-8 text)") from None
    except OSError as exc:
        raise PlotError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not seen_header:
        raise PlotError(f"{path}: not a synack trace (empty)")
    return data


def _header_version(line: str) -> int | None:
    """The format version a header line declares; None if the line is no header."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not (
        isinstance(record, dict)
        and record.get("ev") == "header"
        and record.get("format") == "synack-trace"
    ):
        return None
    version = record.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _add_record(data: TraceData, record: object) -> None:
    if not isinstance(record, dict):
        raise ValueError("a line must be a JSON object")
    t, host, ev = _int(record["t"]), record["host"], record["ev"]
    if not isinstance(host, str) or not isinstance(ev, str):
        raise ValueError("host and ev must be text")
    if host and host not in data.hosts:
        data.hosts.append(host)
    key = _conn_key(host, record.get("conn"))
    if ev == "drop":
        data.drops.append((t, host, key))
        return
    if key is None or ev not in ("seg", "cc", "rtt", "timer"):
        return
    events = data.conns.get(key)
    if events is None:
        events = data.conns[key] = ConnEvents()
    if ev == "seg":
        out = record["dir"] == "out"
        seg = Segment(
            t=t,
            out=out,
            seq=_int(record["seq"]),
            ack=_int(record["ack"]),
            flags=str(record["flags"]),
            win=_int(record["win"]),
            length=_int(record["len"]),
            rtx=bool(record.get("rtx", False)),
            sack=[(_int(left), _int(right)) for left, right in record.get("sack", ())],
        )
        events.segments.append(seg)
        if out:
            events.payload_out += seg.length
            if events.iss is None and "iss" in record:
                events.iss = _int(record["iss"])
    elif ev == "cc":
        events.cc.append(record | {"t": t})
    elif ev == "rtt":
        events.rtt.append(record | {"t": t})
    elif record.get("name") == "rtx" and record.get("action") == "fire":
        events.rtx_fires.append(t)


def choose_connection(data: TraceData, conn: str | None, host: str | None) -> ConnKey:
    """The connection to draw: ``conn`` (a number from the listing, or a 4-tuple as the
    sending host sees it) or else the one that sent the most payload bytes."""
    # A listener ([addr, port, "*", 0]) has no peer and no data of its own to draw.
    candidates = [key for key in data.conns if key.remote[0] != "*"]
    if host is not None:
        if host not in data.hosts:
            known = ", ".join(data.hosts) or "none"
            raise PlotError(f"no host {host!r} in the trace (hosts: {known})")
        candidates = [key for key in candidates if key.host == host]
    if not candidates:
        raise PlotError("no connections in the trace" + (f" on host {host}" if host else ""))
    if conn is None:
        best = max(candidates, key=lambda key: data.conns[key].payload_out)
        if data.conns[best].payload_out == 0:
            raise PlotError(
                "no data segments in the trace: no connection sent any payload:\n"
                + listing(data, candidates)
            )
        return best
    if conn.isdigit():
        chosen = [key for n, key in enumerate(candidates, 1) if n == int(conn)]
    else:
        try:
            local, remote = parse_conn(conn)
        except ValueError:
            raise PlotError(
                f"bad --conn {conn!r}: give a number from the list or ADDR:PORT-ADDR:PORT"
            ) from None
        chosen = [key for key in candidates if key.local == local and key.remote == remote]
    if not chosen:
        raise PlotError(
            f"--conn {conn} matches no connection; the trace has:\n" + listing(data, candidates)
        )
    return max(chosen, key=lambda key: data.conns[key].payload_out)


#: A SYN flood leaves thousands of connections; an error message shows this many.
LISTED_AT_MOST = 50


def listing(data: TraceData, keys: Iterable[ConnKey] | None = None) -> str:
    """The connections, numbered as --conn takes them, with the payload each sent."""
    keys = list(data.conns if keys is None else keys)
    lines = [
        f"  {n:>3}  {key}  ({data.conns[key].payload_out} payload bytes sent)"
        for n, key in enumerate(keys[:LISTED_AT_MOST], 1)
    ]
    if len(keys) > LISTED_AT_MOST:
        lines.append(f"  ... and {len(keys) - LISTED_AT_MOST} more (use --host to narrow)")
    return "\n".join(lines)


# Drawing.


def _relative(raw: Sequence[int], base: int) -> npt.NDArray[np.int64]:
    """Sequence numbers (in time order) relative to ``base``, unwrapped past 2**32."""
    import numpy as np

    if not raw:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(raw, dtype=np.int64)
    first = (int(arr[0]) - base) % _WRAP
    first = first - _WRAP if first >= _HALF else first
    steps = (np.diff(arr) + _HALF) % _WRAP - _HALF
    return np.concatenate(([first], first + np.cumsum(steps))).astype(np.int64)


def _signed(delta: int) -> int:
    """A 32-bit sequence-space difference as the short way round, forwards or back."""
    return (delta + _HALF) % _WRAP - _HALF


def _vbars(
    ax: Axes, x: npt.NDArray[Any], y0: npt.NDArray[Any], y1: npt.NDArray[Any], **style: Any
) -> None:
    """Many vertical bars as one LineCollection: one draw call, however many segments."""
    import numpy as np
    from matplotlib.collections import LineCollection

    if len(x) == 0:
        return
    lines = np.stack([np.column_stack([x, y0]), np.column_stack([x, y1])], axis=1)
    ax.add_collection(
        LineCollection(list(lines), rasterized=len(x) > RASTERIZE_ABOVE, **style), autolim=True
    )


def _changes(x: npt.NDArray[Any], y: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Only the points where a step line changes (and its last), so repeated ACKs of a
    long transfer do not each cost a vertex."""
    import numpy as np

    if len(y) < 3:
        return x, y
    keep = np.ones(len(y), dtype=bool)
    keep[1:-1] = y[1:-1] != y[:-2]
    return x[keep], y[keep]


def draw_tsg(fig: Figure, data: TraceData, key: ConnKey) -> None:
    """Time-sequence graph of ``key``'s sending side (Stevens / tcptrace)."""
    import numpy as np

    events = data.conns[key]
    sent = [s for s in events.segments if s.out]
    received = [s for s in events.segments if not s.out]
    if not any(s.length for s in sent):
        raise PlotError(f"no data segments sent on {key}: nothing to draw (try another --conn)")
    base = events.iss if events.iss is not None else sent[0].seq
    ax = fig.add_subplot()

    t = np.array([s.t for s in sent], dtype=np.float64) / 1000
    seq = _relative([s.seq for s in sent], base)
    length = np.array([s.length for s in sent], dtype=np.int64)
    syn = np.array(["S" in s.flags for s in sent])
    fin = np.array(["F" in s.flags for s in sent])
    rtx = np.array([s.rtx for s in sent])
    # The payload follows the SYN's own sequence number.
    start = seq + syn
    data_mask = length > 0
    fresh, again = data_mask & ~rtx, data_mask & rtx
    _vbars(
        ax,
        t[fresh],
        start[fresh],
        start[fresh] + length[fresh],
        colors=DATA_COLOUR,
        linewidths=1.2,
        zorder=3,
        label="data sent",
    )
    if again.any():
        _vbars(
            ax,
            t[again],
            start[again],
            start[again] + length[again],
            colors=RETRANSMISSION_COLOUR,
            linewidths=1.6,
            zorder=4,
            label="retransmission",
        )

    acked = [s for s in received if "A" in s.flags]
    if acked:
        ta = np.array([s.t for s in acked], dtype=np.float64) / 1000
        ack = _relative([s.ack for s in acked], base)
        edge = ack + np.array([s.win for s in acked], dtype=np.int64)
        ax.step(*_changes(ta, ack), where="post", color=ACK_COLOUR, linewidth=1, label="ACK")
        ax.step(
            *_changes(ta, edge),
            where="post",
            color=WINDOW_COLOUR,
            linewidth=1,
            label="window edge (ACK + win)",
        )
        sack_t: list[float] = []
        sack_l: list[int] = []
        sack_r: list[int] = []
        for i, s in enumerate(acked):
            for left, right in s.sack:
                sack_t.append(ta[i])
                sack_l.append(int(ack[i]) + _signed(left - s.ack))
                sack_r.append(int(ack[i]) + _signed(right - s.ack))
        if sack_t:
            _vbars(
                ax,
                np.array(sack_t),
                np.array(sack_l),
                np.array(sack_r),
                colors=SACK_COLOUR,
                linewidths=3,
                zorder=2,
                label="SACK block",
            )

    if syn.any():
        ax.plot(
            t[syn],
            seq[syn],
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor="none",
            color=SYN_COLOUR,
            label="SYN",
        )
    if fin.any():
        ax.plot(
            t[fin],
            (start + length)[fin],
            linestyle="none",
            marker="s",
            markersize=6,
            markerfacecolor="none",
            color=FIN_COLOUR,
            label="FIN",
        )

    ends = {(key.local, key.remote), (key.remote, key.local)}  # named by either side
    drops = [
        when
        for when, _host, named in data.drops
        if named is not None and (named.local, named.remote) in ends
    ]
    if drops:
        td = np.array(drops, dtype=np.float64) / 1000
        # A drop does not say which bytes it held: mark it at the front of what was sent.
        front = np.maximum.accumulate(start + length)
        where = np.clip(np.searchsorted(t, td, side="right") - 1, 0, None)
        ax.plot(
            td,
            front[where],
            linestyle="none",
            marker="x",
            markersize=8,
            markeredgewidth=2,
            color=DROP_COLOUR,
            label="drop",
        )

    ax.autoscale_view()
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("relative sequence number (bytes)")
    ax.set_title(f"time-sequence graph: {key}")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")


def _series(
    records: list[dict[str, Any]], *names: str
) -> tuple[npt.NDArray[np.float64], dict[str, npt.NDArray[np.float64]]]:
    """Times (ms) and one column per name; a key a line leaves out keeps its last value,
    null becomes NaN (a gap in the line)."""
    import numpy as np

    last = dict.fromkeys(names, math.nan)
    columns: dict[str, list[float]] = {name: [] for name in names}
    for rec in records:
        for name in names:
            if name in rec:
                last[name] = _num(rec[name])
            columns[name].append(last[name])
    t = np.array([rec["t"] for rec in records], dtype=np.float64) / 1000
    return t, {name: np.array(col, dtype=np.float64) for name, col in columns.items()}


def _bad_column(kind: str, key: ConnKey, exc: ValueError) -> PlotError:
    return PlotError(f"bad {kind} line for {key}: {exc}")


def draw_cwnd(fig: Figure, data: TraceData, key: ConnKey) -> None:
    """cwnd, ssthresh and inflight (bytes), RTO on a second axis, timeouts as lines."""
    events = data.conns[key]
    if not events.cc:
        raise PlotError(f"no cc events for {key}: nothing to draw (try another --conn)")
    try:
        t, col = _series(events.cc, "cwnd", "ssthresh", "inflight", "rto")
    except ValueError as exc:
        raise _bad_column("cc", key, exc) from None
    ax = fig.add_subplot()
    ax.step(t, col["cwnd"], where="post", color=DATA_COLOUR, label="cwnd")
    ax.step(
        t,
        col["ssthresh"],
        where="post",
        color=RETRANSMISSION_COLOUR,
        linestyle="--",
        label="ssthresh",
    )
    ax.step(t, col["inflight"], where="post", color=ACK_COLOUR, linewidth=0.8, label="inflight")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("bytes")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    ax.set_ylim(bottom=0)
    rto_ax = ax.twinx()
    rto_ax.step(t, col["rto"] / 1000, where="post", color=SACK_COLOUR, linestyle=":", label="RTO")
    rto_ax.set_ylabel("RTO (ms)")
    rto_ax.set_ylim(bottom=0)
    if events.rtx_fires:
        ax.vlines(
            [f / 1000 for f in events.rtx_fires],
            0,
            1,
            transform=ax.get_xaxis_transform(),
            colors=DROP_COLOUR,
            linewidths=1,
            label="retransmission timeout",
        )
    ax.set_title(f"congestion window: {key}")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = rto_ax.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize="small")


def draw_rtt(fig: Figure, data: TraceData, key: ConnKey) -> None:
    """RTT samples as points, srtt and the RTO (with its backoff, from cc lines) as lines."""
    events = data.conns[key]
    if not events.rtt:
        raise PlotError(f"no RTT samples for {key}: nothing to draw (try another --conn)")
    try:
        t, col = _series(events.rtt, "sample", "srtt", "rto")
        rto_t, rto = (t, col["rto"])
        if events.cc:
            rto_t, cc_col = _series(events.cc, "rto")
            rto = cc_col["rto"]
    except ValueError as exc:
        raise _bad_column("rtt", key, exc) from None
    ax = fig.add_subplot()
    ax.plot(
        t,
        col["sample"] / 1000,
        linestyle="none",
        marker=".",
        markersize=4,
        color=DATA_COLOUR,
        label="RTT sample",
    )
    ax.step(t, col["srtt"] / 1000, where="post", color=ACK_COLOUR, label="srtt")
    ax.step(rto_t, rto / 1000, where="post", color=SACK_COLOUR, linestyle=":", label="RTO")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("round-trip time (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"round-trip time: {key}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")


DRAWERS = {"tsg": draw_tsg, "cwnd": draw_cwnd, "rtt": draw_rtt}


def plot(
    trace: str | Path,
    kind: str,
    output: str | Path,
    conn: str | None = None,
    host: str | None = None,
) -> ConnKey:
    """Draw ``kind`` for one connection of ``trace`` into ``output`` (.png or .svg)."""
    if kind not in DRAWERS:
        raise PlotError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    fmt = SUFFIXES.get(Path(output).suffix.lower())
    if fmt is None:
        raise PlotError(f"cannot tell the format of {output}: the name must end in .png or .svg")
    try:
        from matplotlib import rc_context
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError("synack plot needs matplotlib: pip install 'matplotlib>=3.7'") from None
    data = load_trace(trace)
    key = choose_connection(data, conn, host)
    # Text stays text in the SVG, so it can be searched and selected.
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "synack"}):
        fig = Figure(figsize=(10, 6), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        DRAWERS[kind](fig, data, key)
        metadata = {"Date": None} if fmt == "svg" else {}
        try:
            fig.savefig(output, format=fmt, metadata=metadata)
        except OSError as exc:
            raise PlotError(f"cannot write {output}: {exc.strerror or exc}") from None
    return key


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``synack plot``."""
    parser = subparsers.add_parser(
        "plot",
        help="draw a trace file: time-sequence graph, congestion window or RTT",
        description="Draw one connection of a --trace file (docs/trace-format.md) as a PNG or "
        "SVG, by the output's suffix. Without --conn, the connection that sent the most "
        "payload is drawn, from its sender's side.",
    )
    parser.add_argument("trace", metavar="TRACE", help="a trace file (JSON lines)")
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="tsg",
        help="tsg: time-sequence graph (default); cwnd: congestion window and RTO; "
        "rtt: RTT samples, srtt and RTO",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="the picture, FILE.png or FILE.svg"
    )
    parser.add_argument(
        "--conn",
        metavar="N|ADDR:PORT-ADDR:PORT",
        help="which connection: its number in the list an unmatched --conn prints, or "
        "local-remote as the sending host sees it",
    )
    parser.add_argument("--host", metavar="H", help="only connections of this host")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``synack plot``: 0 once the picture is written, 2 with a message on bad input."""
    try:
        key = plot(args.trace, args.kind, args.output, conn=args.conn, host=args.host)
    except PlotError as exc:
        print(f"synack plot: {exc}", file=sys.stderr)
        return 2
    print(f"{args.kind} of {key} written to {args.output}")
    return 0
