"""Ladder diagrams as SVG, and as a self-contained HTML page around one.

Two vertical timelines, one per host, with time flowing down. Each segment is a slanted
arrow from the sender's line at its send time to the receiver's line at its arrival time,
labelled with flags, relative seq/ack, length and window. Lost segments stop half way
with a cross; retransmissions are drawn in another colour and marked "rtx"; injected
segments are dashed and marked. State changes are written beside each timeline, timer
expiries are small diamonds on it.

The vertical scale is logarithmic in the gap between consecutive events, so that a few
milliseconds stay readable next to a second; gaps longer than ``BREAK_US`` are drawn as a
short break marked with their duration. Long runs of one-way bulk data (and the pure
ACKs coming back) are drawn as one shaded band with a summary label; in long traces, so
are long runs of bare segments of a few kinds (an ACK war, a SYN flood), and the states
and timers that repeat inside them are written once with a count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from xml.sax.saxutils import escape, quoteattr

from synack.trace.recorder import SegmentRecord, StateRecord, TimerRecord, Trace
from synack.wire.tcp import ACK, PSH

ROW = 15.0  # px between labels at the same instant
CHAR_W = 6.7  # px per character of the 11 px monospace font (an estimate: no JS to measure)
BREAK_US = 2_000_000  # idle gaps longer than this are drawn as a break
BREAK_H = 46.0
MIN_RUN = 7  # this many pure-data segments in a row become one band
MIN_REPEAT = 10  # this many bare segments of at most REPEAT_KINDS kinds become one band
REPEAT_KINDS = 4
REPEAT_RARE = 3  # kinds seen fewer times than this in a run are drawn one by one
REPEAT_OVER = 40  # ...but only in traces of more segments than this: short ones tell a story
MARGIN = 120.0  # least room for state names beside each timeline
TIME_W = 62.0  # room for the time column at the left edge
TOP = 56.0

_Beside = TypeVar("_Beside", StateRecord, TimerRecord)
_Ends = Callable[[SegmentRecord], tuple[float, float, float, float]]

ARRIVED = ("delivered", "duplicate", "corrupted")

COLOURS = {
    "normal": "#1f3b73",
    "rtx": "#d9480f",
    "lost": "#c92a2a",
    "injected": "#7048e8",
    "corrupted": "#868e96",
}

STYLE = """
text { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; }
.host { font-size: 14px; font-weight: bold; }
.timeline { stroke: #495057; stroke-width: 2; }
.seg { stroke-width: 1.4; fill: none; }
.state { fill: #2b8a3e; font-weight: bold; }
.timer { fill: #868e96; font-size: 10px; }
.time { fill: #adb5bd; font-size: 9px; }
.gap { fill: #495057; font-size: 11px; }
.band { fill: #a5d8ff; fill-opacity: 0.45; stroke: #1f3b73; stroke-width: 0.8; }
.band.repeat { fill: #e5dbff; stroke: #7048e8; stroke-dasharray: 4 3; }
.cross { stroke: #c92a2a; stroke-width: 2.2; }
"""


@dataclass(slots=True)
class _Item:
    """Something drawn between the timelines: one segment, or a band of many."""

    recs: list[SegmentRecord]
    band: bool = False
    data: list[SegmentRecord] = field(default_factory=list)
    repeat: bool = False  # a band of repeated bare segments (an ACK war, a SYN flood)


def _pure_data(rec: SegmentRecord) -> bool:
    return (
        rec.length > 0
        and rec.segment.flags & ~(ACK | PSH) == 0
        and rec.fate == "delivered"
        and not rec.retransmission
        and not rec.injected
    )


def _pure_ack(rec: SegmentRecord) -> bool:
    return (
        rec.length == 0
        and rec.segment.flags == ACK
        and rec.fate == "delivered"
        and not rec.retransmission
        and not rec.injected
    )


def _group(recs: list[SegmentRecord]) -> list[_Item]:
    """Segments in send order, runs of one-way bulk data (with the ACKs coming back)
    folded into bands."""
    items: list[_Item] = []
    run: list[SegmentRecord] = []
    run_dir: str | None = None

    def close() -> None:
        data = [r for r in run if r.src == run_dir]
        if len(data) >= MIN_RUN:
            items.append(_Item(list(run), band=True, data=data))
        else:
            items.extend(_Item([r]) for r in run)
        run.clear()

    for rec in recs:
        if _pure_data(rec):
            if run and rec.src != run_dir:
                close()
            run_dir = rec.src
            run.append(rec)
        elif _pure_ack(rec) and run and rec.src != run_dir:
            run.append(rec)
        else:
            close()
            items.append(_Item([rec]))
    close()
    return _fold_repeats(items) if len(recs) > REPEAT_OVER else items


def _kind(rec: SegmentRecord) -> tuple[str, str, bool, bool, str] | None:
    """What makes segments without data look alike; None for segments that carry data."""
    if rec.length:
        return None
    return (rec.src, rec.flags, rec.injected, rec.retransmission, rec.fate)


def _fold_repeats(items: list[_Item]) -> list[_Item]:
    """Fold long runs of bare segments of a few kinds (keepalive or ACK ping-pong, floods of
    injected SYNs and their answers) into one band each."""
    out: list[_Item] = []
    run: list[SegmentRecord] = []
    kinds: set[tuple[str, str, bool, bool, str]] = set()

    def close() -> None:
        seen: dict[tuple[str, str, bool, bool, str] | None, int] = {}
        for r in run:
            seen[_kind(r)] = seen.get(_kind(r), 0) + 1
        common = [r for r in run if seen[_kind(r)] >= REPEAT_RARE]
        if len(common) >= MIN_REPEAT:
            out.append(_Item(common, band=True, data=common, repeat=True))
            out.extend(_Item([r]) for r in run if seen[_kind(r)] < REPEAT_RARE)
        else:
            out.extend(_Item([r]) for r in run)
        run.clear()
        kinds.clear()

    for item in items:
        kind = None if item.band else _kind(item.recs[0])
        if kind is None:
            close()
            out.append(item)
            continue
        if kind not in kinds and len(kinds) == REPEAT_KINDS:
            close()
        kinds.add(kind)
        run.append(item.recs[0])
    close()
    # A fold that would overlap a band of data (two-way traffic) hides more than it shows.
    data_spans = [_span(it.data) for it in out if it.band and not it.repeat]
    final: list[_Item] = []
    for it in out:
        if it.repeat and any(_overlap(_span(it.recs), span) for span in data_spans):
            final.extend(_Item([r]) for r in it.recs)
        else:
            final.append(it)
    final.sort(key=lambda it: it.recs[0].sent_us)  # stable: same-time order kept
    return final


def _span(recs: list[SegmentRecord]) -> tuple[int, int]:
    return recs[0].sent_us, max(r.arrive_us or r.sent_us for r in recs)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _label(trace: Trace, rec: SegmentRecord) -> str:
    seg = rec.segment
    seq, ack = trace.relative(rec)
    parts = [rec.flags or "-", f"seq={seq}"]
    if seg.flags & ACK:
        parts.append(f"ack={ack}")
    if seg.payload:
        parts.append(f"len={len(seg.payload)}")
    parts.append(f"win={seg.window}")
    if seg.options is not None and seg.options.mss is not None:
        parts.append(f"mss={seg.options.mss}")
    if rec.retransmission:
        parts.insert(0, "rtx")
    if rec.injected:
        parts.insert(0, "injected")
    if rec.fate not in ("delivered",):
        parts.append(f"({rec.fate})")
    return " ".join(parts)


def _ms(time_us: int) -> str:
    text = f"{time_us / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text} ms"


def _duration(dt_us: int) -> str:
    s = dt_us / 1e6
    if s >= 120:
        return f"{s / 60:.1f} min"
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


class _Scale:
    """Maps (time, slot) to y: a log-scaled step between consecutive instants, one ROW per
    extra label at the same instant, and a fixed-height break for long idle gaps."""

    def __init__(self, slots: dict[int, int]) -> None:
        self.y: dict[int, float] = {}
        self.breaks: list[tuple[float, float, int]] = []
        y = TOP
        prev: int | None = None
        for t in sorted(slots):
            if prev is not None:
                dt = t - prev
                end = y + (slots[prev] - 1) * ROW
                if dt > BREAK_US:
                    y = end + BREAK_H
                    self.breaks.append((end, y, dt))
                else:
                    y = end + ROW + 10.0 * math.log2(1 + dt / 5000)
            self.y[t] = y
            prev = t
        self.bottom = y + (slots[prev] - 1) * ROW if prev is not None else y

    def at(self, time_us: int, slot: int = 0) -> float:
        return self.y[time_us] + slot * ROW


def _geometry(trace: Trace, left: str, right: str) -> tuple[list[_Item], int]:
    recs = [r for r in trace.segments if r.src in (left, right)]
    recs.sort(key=lambda r: r.sent_us)
    delays = sorted(r.arrive_us - r.sent_us for r in recs if r.arrive_us is not None)
    delay = delays[len(delays) // 2] if delays else 10_000
    return _group(recs), max(delay, 1000)


def _svg(trace: Trace, left: str, right: str, xmlns: bool) -> str:
    items, delay = _geometry(trace, left, right)

    def end_time(rec: SegmentRecord) -> int:
        return rec.arrive_us if rec.arrive_us is not None else rec.sent_us + delay

    spans = [(it.recs[0].sent_us, max(end_time(r) for r in it.recs)) for it in items if it.repeat]
    states, state_text = _fold_beside(
        [s for s in trace.states if s.host in (left, right)],
        spans,
        lambda s: (s.host, str(s.new)),
    )
    timers, timer_text = _fold_beside(
        [t for t in trace.timers if t.host in (left, right)],
        spans,
        lambda t: (t.host, f"{t.timer} timer"),
    )

    # Every instant something is drawn at, and how many labels it needs (its slots).
    sends: dict[int, int] = {}
    arrivals: dict[int, int] = {}
    beside: dict[tuple[int, str], int] = {}
    slot_of: dict[tuple[int, str], int] = {}  # (id of record, end) -> slot

    def take(table: dict[int, int], t: int) -> int:
        n = table.get(t, 0)
        table[t] = n + 1
        return n

    for item in items:
        recs = item.data if item.band else item.recs
        if item.repeat:
            recs = [recs[0], max(recs, key=end_time)]
        for rec in [recs[0], recs[-1]] if item.band else recs:
            if (id(rec), "s") not in slot_of:
                slot_of[id(rec), "s"] = take(sends, rec.sent_us)
                slot_of[id(rec), "a"] = take(arrivals, end_time(rec))
    side_slot: list[int] = []
    for host, t in [(s.host, s.time_us) for s in states] + [(m.host, m.time_us) for m in timers]:
        n = beside.get((t, host), 0)
        beside[t, host] = n + 1
        side_slot.append(n)
    slots: dict[int, int] = {}
    for table in (sends, arrivals):
        for t, n in table.items():
            slots[t] = max(slots.get(t, 1), n)
    for (t, _host), n in beside.items():
        slots[t] = max(slots.get(t, 1), n)
    scale = _Scale(slots)

    longest = max([40] + [len(_label(trace, r)) for it in items if not it.band for r in it.recs])
    mid_w = max(440.0, longest * CHAR_W + 70)
    beside_w = {
        host: max(
            [MARGIN]
            + [
                len(t) * CHAR_W + 20
                for r, t in zip(states, state_text, strict=True)
                if r.host == host
            ]
            + [len(t) * 6.1 + 20 for r, t in zip(timers, timer_text, strict=True) if r.host == host]
        )
        for host in (left, right)
    }
    xl = TIME_W + beside_w[left]
    xr = xl + mid_w
    width = xr + beside_w[right]
    height = scale.bottom + 40
    x_of = {left: xl, right: xr}

    out: list[str] = []
    ns = ' xmlns="http://www.w3.org/2000/svg"' if xmlns else ""
    out.append(
        f'<svg{ns} width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f"aria-label={quoteattr(f'TCP ladder diagram between {left} and {right}')}>"
    )
    out.append(f"<style>{STYLE}</style>")
    out.append("<defs>")
    for name, colour in COLOURS.items():
        out.append(
            f'<marker id="head-{name}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append('<rect width="100%" height="100%" fill="#fff"/>')

    # Hosts and timelines, interrupted at each break.
    for host, x in x_of.items():
        out.append(
            f'<text class="host" x="{x:.1f}" y="{TOP - 26:.1f}" '
            f'text-anchor="middle">{escape(host)}</text>'
        )
        y0 = TOP - 14
        for b0, b1, _dt in scale.breaks:
            out.append(_line("timeline", x, y0, x, b0 + 8, f' data-host="{escape(host)}"'))
            out.append(_line("timeline", x - 6, b0 + 11, x + 6, b0 + 5))
            out.append(_line("timeline", x - 6, b1 - 5, x + 6, b1 - 11))
            y0 = b1 - 8
        out.append(_line("timeline", x, y0, x, scale.bottom + 20, f' data-host="{escape(host)}"'))
    for b0, b1, dt in scale.breaks:
        out.append(
            f'<text class="gap" x="{(xl + xr) / 2:.1f}" y="{(b0 + b1) / 2 + 4:.1f}" '
            f'text-anchor="middle">⋯ {escape(_duration(dt))} ⋯</text>'
        )

    # Times down the left edge, skipping any that would overlap the one above.
    last_y = -100.0
    labelled = sorted(set(sends) | {s.time_us for s in states} | {m.time_us for m in timers})
    for t in labelled:
        y = scale.at(t)
        if y - last_y >= 11:
            out.append(f'<text class="time" x="4" y="{y + 3:.1f}">{_ms(t)}</text>')
            last_y = y

    # States and timers beside their host's line.
    for i, st in enumerate(states):
        x = x_of[st.host]
        y = scale.at(st.time_us, side_slot[i])
        anchor, dx = ("end", -8) if st.host == left else ("start", 8)
        out.append(
            f'<text class="state" x="{x + dx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}">'
            f"<title>{escape(st.reason)}</title>{escape(state_text[i])}</text>"
        )
    for j, tm in enumerate(timers):
        x = x_of[tm.host]
        y = scale.at(tm.time_us, side_slot[len(states) + j])
        anchor, dx = ("end", -10) if tm.host == left else ("start", 10)
        out.append(
            f'<path class="timer-mark" d="M{x:.1f},{y - 4:.1f} l4,4 l-4,4 l-4,-4 z" '
            f'fill="#868e96"/>'
        )
        out.append(
            f'<text class="timer" x="{x + dx:.1f}" y="{y + 3:.1f}" text-anchor="{anchor}">'
            f"{escape(timer_text[j])}</text>"
        )

    def ends(rec: SegmentRecord) -> tuple[float, float, float, float]:
        x1 = x_of[rec.src]
        x2 = xr if x1 == xl else xl
        y1 = scale.at(rec.sent_us, slot_of[id(rec), "s"])
        y2 = scale.at(end_time(rec), slot_of[id(rec), "a"])
        return x1, y1, x2, y2

    busy = sorted(
        (min(y1, y2) - 14, max(y1, y2) + 4)
        for it in items
        if not it.band
        for _x1, y1, _x2, y2 in [ends(it.recs[0])]
    )
    for item in items:
        if item.repeat:
            out.append(_repeat_band(trace, item, ends, xl, xr, end_time, busy))
        elif item.band:
            out.append(_band(trace, item, ends, left, right))
        else:
            out.append(_segment(trace, item.recs[0], ends(item.recs[0])))
    out.append("</svg>")
    return "\n".join(out)


def _line(cls: str, x1: float, y1: float, x2: float, y2: float, extra: str = "") -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"{extra}/>'


def _segment(trace: Trace, rec: SegmentRecord, pts: tuple[float, float, float, float]) -> str:
    x1, y1, x2, y2 = pts
    lost = rec.fate not in ARRIVED
    kind = (
        "lost"
        if lost
        else "injected"
        if rec.injected
        else "rtx"
        if rec.retransmission
        else "corrupted"
        if rec.fate == "corrupted"
        else "normal"
    )
    colour = COLOURS["rtx" if rec.retransmission else kind]
    dash = ' stroke-dasharray="5 3"' if rec.injected or rec.fate == "corrupted" else ""
    classes = " ".join(["segment", kind] + (["rtx"] if rec.retransmission and lost else []))
    label = _label(trace, rec)
    tip = (
        f"{rec.src} → {rec.dst or '?'} sent {_ms(rec.sent_us)}, "
        + (f"arrived {_ms(rec.arrive_us)}" if rec.arrive_us is not None else rec.fate)
        + f": {label}"
    )
    parts = [f'<g class="{classes}"><title>{escape(tip)}</title>']
    angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
    if x2 < x1:
        angle -= 180  # keep text upright on leftward arrows
    if lost:
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        parts.append(
            f'<line class="seg" x1="{x1:.1f}" y1="{y1:.1f}" x2="{mx:.1f}" y2="{my:.1f}" '
            f'stroke="{colour}"{dash}/>'
        )
        parts.append(
            f'<path class="cross" d="M{mx - 6:.1f},{my - 6:.1f} L{mx + 6:.1f},{my + 6:.1f} '
            f'M{mx - 6:.1f},{my + 6:.1f} L{mx + 6:.1f},{my - 6:.1f}"/>'
        )
        # Start the label at the sender so that it reads along the part that was drawn.
        lx = x1 + (22 if x2 > x1 else -22)
        ly = y1 + (y2 - y1) * (lx - x1) / (x2 - x1)
        anchor = "start" if x2 > x1 else "end"
    else:
        parts.append(
            f'<line class="seg" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}"{dash} marker-end="url(#head-{kind})"/>'
        )
        lx, ly, anchor = (x1 + x2) / 2, (y1 + y2) / 2, "middle"
    parts.append(
        f'<text class="label" x="{lx:.1f}" y="{ly - 3:.1f}" text-anchor="{anchor}" '
        f'fill="{colour}" transform="rotate({angle:.2f} {lx:.1f} {ly:.1f})">'
        f"{escape(label)}</text></g>"
    )
    return "".join(parts)


def _band(trace: Trace, item: _Item, ends: _Ends, left: str, right: str) -> str:
    data = item.data
    first, last = data[0], data[-1]
    fx1, fy1, fx2, fy2 = ends(first)
    _lx1, ly1, _lx2, ly2 = ends(last)
    seq0 = trace.relative(first)[0]
    seq1 = (trace.relative(last)[0] + last.length) & 0xFFFFFFFF
    total = sum(r.length for r in data)
    acks = [r for r in item.recs if r.src != first.src]
    line1 = f"{len(data)} data segments, seq {seq0}..{seq1}"
    line2 = f"{total} bytes {first.src} → {first.dst or '?'}"
    if acks:
        line2 += f", {len(acks)} ACKs back (ack {trace.relative(acks[-1])[1]})"
    tip = f"{line1}; {line2}; sent {_ms(first.sent_us)} to {_ms(last.sent_us)}"
    cx, cy = (fx1 + fx2) / 2, (fy1 + fy2 + ly1 + ly2) / 4
    return (
        f'<g class="band-group"><title>{escape(tip)}</title>'
        f'<polygon class="band" points="{fx1:.1f},{fy1:.1f} {fx2:.1f},{fy2:.1f} '
        f'{fx2:.1f},{ly2:.1f} {fx1:.1f},{ly1:.1f}"/>'
        f'<line class="seg" x1="{fx1:.1f}" y1="{ly1:.1f}" x2="{fx2:.1f}" y2="{ly2:.1f}" '
        f'stroke="{COLOURS["normal"]}" marker-end="url(#head-normal)"/>'
        f'<text class="label band-label" x="{cx:.1f}" y="{cy - 3:.1f}" '
        f'text-anchor="middle" fill="{COLOURS["normal"]}">{escape(line1)}</text>'
        f'<text class="label band-label" x="{cx:.1f}" y="{cy + 11:.1f}" '
        f'text-anchor="middle" fill="{COLOURS["normal"]}">{escape(line2)}</text></g>'
    )


def _fold_beside(
    records: list[_Beside],
    spans: list[tuple[int, int]],
    key: Callable[[_Beside], tuple[str, str]],
) -> tuple[list[_Beside], list[str]]:
    """States or timers, with repeats of the same one on the same host inside a repeat band
    folded into the first, whose text then says how many ("SYN_RCVD (129 times)")."""
    kept: list[_Beside] = []
    texts: list[str] = []
    counts: list[int] = []
    first: dict[tuple[int, str, str], int] = {}
    for rec in records:
        t = rec.time_us
        span = next((i for i, (t0, t1) in enumerate(spans) if t0 <= t <= t1), None)
        host, text = key(rec)
        if span is not None and (span, host, text) in first:
            counts[first[span, host, text]] += 1
            continue
        if span is not None:
            first[span, host, text] = len(kept)
        kept.append(rec)
        texts.append(text)
        counts.append(1)
    return kept, [t if n == 1 else f"{t} ({n} times)" for t, n in zip(texts, counts, strict=True)]


def _repeat_band(
    trace: Trace,
    item: _Item,
    ends: _Ends,
    xl: float,
    xr: float,
    end_time: Callable[[SegmentRecord], int],
    busy: list[tuple[float, float]],
) -> str:
    """A band of repeated bare segments, its summary in the tallest stretch of it that no
    single arrow crosses (``busy``: the y ranges of those arrows and their labels)."""
    recs = item.recs
    y0 = ends(recs[0])[1]
    last = max(recs, key=end_time)
    y1 = ends(last)[3]
    counts: dict[tuple[str, str, bool, bool, str], int] = {}
    for rec in recs:
        kind = _kind(rec)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + 1
    lines = [f"{len(recs)} segments, {_ms(recs[0].sent_us)} to {_ms(recs[-1].sent_us)}"]
    dst = {r.src: r.dst or "?" for r in recs}
    for (src, flags, injected, rtx, fate), n in counts.items():
        what = " ".join(w for w in ("injected" * injected, "rtx" * rtx, flags) if w)
        fate_text = "" if fate == "delivered" else f" ({fate})"
        numbers = {trace.relative(r) for r in recs if _kind(r) == (src, flags, injected, rtx, fate)}
        same = ""
        if len(numbers) == 1 and "SYN" not in flags:  # a SYN is always at relative 0
            seq, ack = next(iter(numbers))
            same = f", all seq={seq} ack={ack}"
        lines.append(f"{n} {what} {src} → {dst[src]}{fate_text}{same}")
    cx = (xl + xr) / 2
    free: list[tuple[float, float]] = []
    top = y0
    for b0, b1 in busy:
        if b1 <= top or b0 >= y1:
            continue
        free.append((top, b0))
        top = max(top, b1)
    free.append((top, y1))
    f0, f1 = max(free, key=lambda f: f[1] - f[0])
    cy = max(f0 + 14, (f0 + f1) / 2 - (len(lines) - 1) * 7)
    text = "".join(
        f'<text class="label band-label" x="{cx:.1f}" y="{cy + 14 * i:.1f}" '
        f'text-anchor="middle" fill="{COLOURS["normal"]}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        f'<g class="band-group repeat"><title>{escape("; ".join(lines))}</title>'
        f'<polygon class="band repeat" points="{xl:.1f},{y0:.1f} {xr:.1f},{y0:.1f} '
        f'{xr:.1f},{y1:.1f} {xl:.1f},{y1:.1f}"/>{text}</g>'
    )


def render_svg(trace: Trace, left: str = "A", right: str = "B") -> str:
    """The trace as a standalone SVG document: a ladder between ``left`` and ``right``."""
    return _svg(trace, left, right, xmlns=True)


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #212529; background: #f8f9fa; }
h1 { font-size: 1.3em; }
figure { margin: 0; overflow-x: auto; background: #fff; border: 1px solid #dee2e6;
         padding: 1em; display: inline-block; }
.legend { font-size: 0.9em; color: #495057; max-width: 60em; }
.legend span { font-weight: bold; }
"""


def render_html(
    trace: Trace, left: str = "A", right: str = "B", title: str = "TCP ladder diagram"
) -> str:
    """A self-contained HTML page (inline SVG and CSS, no scripts or external
    resources) showing the ladder between ``left`` and ``right``."""
    svg = _svg(trace, left, right, xmlns=False)
    n = len([r for r in trace.segments if r.src in (left, right)])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{PAGE_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f'<p class="legend">{n} segments between {escape(left)} and {escape(right)}; '
        "time flows down (virtual time, long idle gaps shortened). "
        f'<span style="color:{COLOURS["normal"]}">Arrows</span> go from send to arrival; '
        f'<span style="color:{COLOURS["rtx"]}">rtx</span> marks retransmissions, '
        f'<span style="color:{COLOURS["lost"]}">✕</span> a segment lost on the way, '
        f'<span style="color:{COLOURS["injected"]}">dashed</span> an injected one. '
        "States are written beside each host's line, timers as ◆. "
        "Hover over an arrow for its times.</p>\n"
        f"<figure>\n{svg}\n</figure>\n</body>\n</html>\n"
    )
