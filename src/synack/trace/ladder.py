"""Ladder diagrams in the terminal: two timelines, states along them, segments as arrows.

Each row is one event in time order: a segment leaving one side (drawn as an arrow across,
labelled with flags, relative seq and ack, length and window) or a state change. Segments
lost in the network stop short with a cross. Times are virtual milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from synack.trace.recorder import SegmentRecord, StateRecord, Trace
from synack.wire.tcp import ACK

ARROW_WIDTH = 44


@dataclass(slots=True)
class _Row:
    time_us: int
    kind: int  # 0 state change, 1 segment: states first at equal times
    order: int
    left_state: str
    right_state: str
    arrow: str


def _label(rec: SegmentRecord, seq: int, ack: int) -> str:
    seg = rec.segment
    parts = [rec.flags or "-", f"seq={seq}"]
    if seg.flags & ACK:
        parts.append(f"ack={ack}")
    if seg.payload:
        parts.append(f"len={len(seg.payload)}")
    parts.append(f"win={seg.window}")
    if seg.options is not None and seg.options.mss is not None:
        parts.append(f"mss={seg.options.mss}")
    label = " ".join(parts)
    if rec.retransmission:
        label = "rtx " + label
    if rec.injected:
        label = "injected " + label
    return label


def _arrow(label: str, rightward: bool, fate: str, width: int) -> str:
    body = f" {label} "
    lost = fate not in ("delivered", "corrupted", "duplicate")
    pad = width - len(body) - 1
    left_pad = pad // 2
    right_pad = pad - left_pad
    line = "-" * left_pad + body + "-" * right_pad
    if rightward:
        return "|" + (line[:-4] + "-X  " if lost else line + ">") + "|"
    return "|" + ("  X-" + line[4:] if lost else "<" + line) + "|"


def render_ladder(trace: Trace, left: str = "A", right: str = "B", port: int | None = None) -> str:
    """The whole trace as a ladder between hosts ``left`` and ``right``.

    Arrows are drawn at the time a segment leaves; a state change is drawn before a
    segment sent at the same instant, since the change is what sent it.
    """
    arrows: list[tuple[int, int, SegmentRecord, str]] = []
    for order, rec in enumerate(trace.segments):
        if rec.src not in (left, right):
            continue
        if port is not None and port not in (rec.segment.src_port, rec.segment.dst_port):
            continue
        label = _label(rec, *trace.relative(rec))
        if rec.fate not in ("delivered", "duplicate"):
            label += f" ({rec.fate})"
        arrows.append((rec.sent_us, order, rec, label))
    width = max([ARROW_WIDTH] + [len(label) + 8 for *_, label in arrows])
    rows: list[_Row] = []
    for time_us, order, rec, label in arrows:
        rows.append(
            _Row(time_us, 1, order, "", "", _arrow(label, rec.src == left, rec.fate, width))
        )
    for order, st in enumerate(trace.states):
        if st.host not in (left, right):
            continue
        if port is not None and port not in (st.local_port, st.remote_port):
            continue
        text = str(st.new)
        on_left = st.host == left
        rows.append(
            _Row(st.time_us, 0, order, text if on_left else "", "" if on_left else text, "")
        )
    rows.sort(key=lambda r: (r.time_us, r.kind, r.order))
    rail = "|" + " " * width + "|"
    lines = [f"{'time ms':>10}  {left:<12} {'':<{width}} {right}", f"{'':>10}  {'':<12}{rail}"]
    for r in rows:
        ms = f"{r.time_us / 1000:.3f}"
        lines.append(f"{ms:>10}  {r.left_state:<12}{r.arrow or rail} {r.right_state}".rstrip())
    return "\n".join(lines)


def state_summary(trace: Trace, host: str) -> str:
    """One line: the states a host went through, e.g. CLOSED > SYN_SENT > ESTABLISHED."""
    records: list[StateRecord] = [s for s in trace.states if s.host == host]
    if not records:
        return f"{host}: (no state changes)"
    by_conn: dict[tuple[int, int], list[str]] = {}
    for s in records:
        path = by_conn.setdefault((s.local_port, s.remote_port), [str(s.old)])
        path.append(str(s.new))
    return "\n".join(
        f"{host}:{lp}{'' if not rp else f' <-> :{rp}'}  " + " > ".join(path)
        for (lp, rp), path in by_conn.items()
    )
