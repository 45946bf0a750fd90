"""A recorder `Trace` of one connection, rebuilt from a trace file, for the ladder renderers.

A trace file (docs/trace-format.md) holds what each traced stack saw: its segments out and
in, its state changes and its timers. The ladders need what the network saw: each segment
once, with its send and arrival times and its fate. This module joins the two views.

- Both ends traced (a simulated run): each ``out`` segment of one host is paired with the
  ``in`` on the other that has the same seq, ack, flags and length. When several are
  alike (a retransmission and its original, duplicate ACKs), each arrival goes to the
  send whose transit time is nearest the connection's typical one, so a lost original
  and its delivered retransmission are told apart. An ``out`` that never arrived is
  drawn as ``lost``; an extra ``in`` of something sent as a ``duplicate`` (at its
  arrival: the file cannot say when the copy left); an ``in`` that nobody traced sent
  (injected by a scenario) as injected.
- One end traced (a TUN run): the other timeline is the peer's address. Segments are
  drawn when the traced stack saw them: sent ones leave at their send time, received
  ones arrive at their arrival time, and each takes a fixed ``TRANSIT_US`` (1 µs)
  across. The file cannot tell how long a segment travelled (on a TUN device,
  microseconds), so the arrows stay all but horizontal, suggesting no measurement;
  the one microsecond keeps a received segment above the state change it causes at
  its arrival, as ladders draw causes before effects, and slants each arrow the way
  time runs.

Sequence numbers come out relative, as in simulated ladders, because the SYNs are kept.
Windows are shown as the header carries them (the trace's bytes shifted back by the
scale each side announced), as simulated ladders show them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from synack.tcp.events import (
    DELAYED_ACK,
    FIN_WAIT_2,
    KEEPALIVE,
    PERSIST,
    RETRANSMISSION,
    TIME_WAIT,
)
from synack.tcp.state import State
from synack.trace.endpoints import Endpoint, endpoint_text, norm_addr, parse_conn
from synack.trace.jsonl import read_trace
from synack.trace.recorder import SegmentRecord, StateRecord, TimerRecord, Trace
from synack.wire.tcp import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, TcpOptions, TcpSegment

#: The flag letters of a trace file (docs/trace-format.md), one per header bit.
FLAG_LETTERS: Final = {
    "S": SYN,
    "F": FIN,
    "R": RST,
    "P": PSH,
    "A": ACK,
    "U": URG,
    "E": ECE,
    "C": CWR,
}
#: The engine's timer names for the file's short ones, as the recorder names timers.
ENGINE_TIMERS: Final = {
    "rtx": RETRANSMISSION,
    "delack": DELAYED_ACK,
    "persist": PERSIST,
    "keepalive": KEEPALIVE,
    "time_wait": TIME_WAIT,
    "fin_wait_2": FIN_WAIT_2,
}
#: The fate of a segment sent by one traced host and never seen by the other.
LOST: Final = "lost"
DELIVERED: Final = "delivered"
#: The fate of a second arrival of a segment sent once (the sender logged one ``out``).
DUPLICATE: Final = "duplicate"
#: How long a segment is drawn to take between synack and an untraced peer.
TRANSIT_US: Final = 1
#: Largest payload an IP packet without jumbograms can carry: a bound on ``len``.
MAX_PAYLOAD: Final = 0xFFFF

Line = dict[str, Any]


class TraceFileError(ValueError):
    """A trace file that cannot be drawn; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One connection of a trace: its two endpoints as the first host that traced it sees
    them, and the hosts that traced it (one on a TUN device, two in a simulation)."""

    local: Endpoint
    remote: Endpoint
    hosts: tuple[str, ...]

    def __str__(self) -> str:
        return f"{endpoint_text(self.local)}-{endpoint_text(self.remote)}"

    @property
    def pair(self) -> frozenset[Endpoint]:
        return frozenset((self.local, self.remote))


@dataclass(slots=True)
class _Seg:
    """One ``seg`` line, checked and decoded."""

    index: int
    time_us: int
    host: str
    local: Endpoint
    remote: Endpoint
    out: bool
    seq: int
    ack: int
    flags: int
    win: int
    length: int
    rtx: bool
    options: TcpOptions | None

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.seq, self.ack, self.flags, self.length)


@dataclass(slots=True)
class TraceFile:
    """The lines of a trace file this module draws from, checked, grouped by connection."""

    path: str
    connections: list[Connection] = field(default_factory=list)
    segments: dict[frozenset[Endpoint], list[_Seg]] = field(default_factory=dict)
    #: (index, host, local, remote, line) of every state and timer line.
    others: list[tuple[int, str, Endpoint, Endpoint | None, Line]] = field(default_factory=list)
    #: The traced hosts that each local address belongs to.
    owners: dict[str, set[str]] = field(default_factory=dict)

    @property
    def hosts(self) -> set[str]:
        return set().union(*self.owners.values())


def _int(line: Line, name: str, where: str, top: int = 0xFFFFFFFF) -> int:
    value = line.get(name)
    if type(value) is not int or not 0 <= value <= top:
        raise TraceFileError(f"{where}: '{name}' must be an integer from 0 to {top}, got {value!r}")
    return value


def _flags(line: Line, where: str) -> int:
    text = line.get("flags")
    if not isinstance(text, str) or any(letter not in FLAG_LETTERS for letter in text):
        raise TraceFileError(
            f"{where}: 'flags' must be letters from {''.join(FLAG_LETTERS)}, got {text!r}"
        )
    flags = 0
    for letter in text:
        flags |= FLAG_LETTERS[letter]
    return flags


def _options(line: Line, where: str) -> TcpOptions | None:
    """The options a ``seg`` line names; only what its short text keeps (no timestamps)."""
    text = line.get("opts")
    blocks = line.get("sack")
    if text is None and blocks is None:
        return None
    if text is not None and not isinstance(text, str):
        raise TraceFileError(f"{where}: 'opts' must be text, got {text!r}")
    mss: int | None = None
    wscale: int | None = None
    sack_ok = timestamp = False
    unknown: list[tuple[int, bytes]] = []
    for part in (text or "").split(","):
        name, _, value = part.strip().partition(" ")
        try:
            if name == "mss":
                mss = int(value)
            elif name == "wscale":
                wscale = int(value)
            elif name == "opt":
                unknown.append((int(value), b""))
        except ValueError:
            raise TraceFileError(f"{where}: bad option {part.strip()!r} in 'opts'") from None
        sack_ok = sack_ok or name == "sackOK"
        timestamp = timestamp or name == "TS"
    sack: list[tuple[int, int]] = []
    if blocks is not None:
        if not isinstance(blocks, list):
            raise TraceFileError(f"{where}: 'sack' must be a list of [left, right]")
        for block in blocks:
            if not (
                isinstance(block, list)
                and len(block) == 2
                and all(type(edge) is int for edge in block)
            ):
                raise TraceFileError(f"{where}: bad SACK block {block!r}")
            sack.append((block[0], block[1]))
    return TcpOptions(
        mss=mss,
        wscale=wscale,
        sack_permitted=sack_ok,
        sack_blocks=tuple(sack),
        timestamp=(0, 0) if timestamp else None,
        unknown=tuple(unknown),
    )


def _conn(line: Line) -> tuple[Endpoint, Endpoint | None] | None:
    """(local, remote) of a line; remote None for a listener, None for no connection."""
    conn = line.get("conn")
    if conn is None:
        return None
    local = (norm_addr(conn[0]), conn[1])
    if conn[2] == "*":
        return local, None
    return local, (norm_addr(conn[2]), conn[3])


def load(path: str | os.PathLike[str]) -> TraceFile:
    """Read and check a trace file. Raises `TraceFileError` for a malformed one, OSError
    for one that cannot be read."""
    name = os.fspath(path)
    data = TraceFile(name)
    known: dict[frozenset[Endpoint], int] = {}
    try:
        for index, line in enumerate(read_trace(path)):
            ev = line["ev"]
            if ev not in ("seg", "state", "timer"):
                continue
            ends = _conn(line)
            if ends is None:
                continue
            local, remote = ends
            where = f"{name}:{index + 1}"
            host: str = line["host"]
            if local[0] != "*":
                data.owners.setdefault(local[0], set()).add(host)
            if ev != "seg":
                data.others.append((index, host, local, remote, line))
                continue
            if remote is None:
                raise TraceFileError(f"{where}: a segment on a listener's 'conn'")
            direction = line["dir"]
            if direction not in ("in", "out"):
                raise TraceFileError(f"{where}: 'dir' must be 'in' or 'out', got {direction!r}")
            seg = _Seg(
                index,
                line["t"],
                host,
                local,
                remote,
                direction == "out",
                _int(line, "seq", where),
                _int(line, "ack", where),
                _flags(line, where),
                _int(line, "win", where, 0x7FFFFFFF),
                _int(line, "len", where, MAX_PAYLOAD),
                line.get("rtx") is True,
                _options(line, where),
            )
            pair = frozenset((local, remote))
            if pair not in known:
                known[pair] = len(data.connections)
                data.connections.append(Connection(local, remote, (host,)))
                data.segments[pair] = []
            number = known[pair]
            conn = data.connections[number]
            if host not in conn.hosts:
                data.connections[number] = Connection(conn.local, conn.remote, (*conn.hosts, host))
            data.segments[pair].append(seg)
    except UnicodeDecodeError as exc:
        raise TraceFileError(f"{name}: not a text file ({exc.reason})") from None
    except TraceFileError:
        raise
    except ValueError as exc:  # read_trace's own "FILE:LINE: ..." messages
        raise TraceFileError(str(exc)) from None
    return data


def choose(data: TraceFile, conn: str | None = None) -> Connection:
    """The connection ``conn`` names (its number in `listing`, or ADDR:PORT-ADDR:PORT
    either way round), or the first one. Raises `TraceFileError` saying what there is."""
    if not data.connections:
        raise TraceFileError(f"{data.path}: no TCP segments in the trace: nothing to draw")
    if conn is None:
        return data.connections[0]
    chosen: list[Connection]
    if conn.isdigit():
        number = int(conn)
        chosen = [data.connections[number - 1]] if 1 <= number <= len(data.connections) else []
    else:
        try:
            local, remote = parse_conn(conn)
        except ValueError as exc:
            raise TraceFileError(
                f"bad --conn {conn!r}: give a number from the list or ADDR:PORT-ADDR:PORT ({exc})"
            ) from None
        chosen = [c for c in data.connections if c.pair == frozenset((local, remote))]
    if not chosen:
        raise TraceFileError(
            f"--conn {conn} matches no connection; the trace has:\n" + listing(data)
        )
    return chosen[0]


def listing(data: TraceFile) -> str:
    """The connections, numbered as --conn takes them, with the hosts that traced them."""
    return "\n".join(
        f"  {n:>3}  {c}  (traced by {', '.join(c.hosts)}; {len(data.segments[c.pair])} segments)"
        for n, c in enumerate(data.connections, 1)
    )


def sides(data: TraceFile, conn: Connection) -> tuple[str, str]:
    """(left, right) timelines: the two traced hosts in name order, or the one traced host
    and the peer's address when no host of the trace owns that address (a TUN run)."""
    if len(conn.hosts) >= 2:
        left, right = sorted(conn.hosts)[:2]
        return left, right
    host = conn.hosts[0]
    remote = next(s.remote for s in data.segments[conn.pair] if s.host == host)
    # A traced peer that saw none of it (every SYN lost) still gets its own timeline.
    peers = data.owners.get(remote[0], set()) - {host}
    if len(peers) == 1:
        left, right = sorted((host, *peers))
        return left, right
    return host, remote[0]


def build(data: TraceFile, conn: Connection) -> tuple[Trace, str, str]:
    """The recorder `Trace` of one connection, and its (left, right) timelines."""
    left, right = sides(data, conn)
    segs = [s for s in data.segments[conn.pair] if s.host in (left, right)]
    host_of = _hosts_byendpoint_text(segs, left, right)
    shift = _window_shifts(segs)
    payloads: dict[int, bytes] = {}
    placed: list[tuple[int, int, SegmentRecord]] = []

    def record(s: _Seg, sent: int, arrive: int | None, fate: str, injected: bool = False) -> None:
        src = s.local if s.out else s.remote
        dst = s.remote if s.out else s.local
        window = s.win if s.flags & SYN else s.win >> shift.get(src, 0)
        payload = payloads.get(s.length)
        if payload is None:
            payload = payloads[s.length] = bytes(s.length)
        segment = TcpSegment(
            src[1], dst[1], s.seq, s.ack, s.flags, window, options=s.options, payload=payload
        )
        rec = SegmentRecord(
            sent, arrive, host_of[src], host_of[dst], segment, fate, s.rtx and s.out, injected
        )
        placed.append((sent, s.index, rec))

    if right in data.hosts:
        for sender, receiver in ((left, right), (right, left)):
            outs = [s for s in segs if s.host == sender and s.out]
            ins = [s for s in segs if s.host == receiver and not s.out]
            matched = _pair(outs, ins)
            for s in outs:
                got = matched.get(s.index)
                if got is None:
                    record(s, s.time_us, None, LOST)
                else:
                    record(s, s.time_us, got.time_us, DELIVERED)
            received = {got.index for got in matched.values()}
            sent_before = {(s.key, s.remote) for s in outs}
            for s in ins:
                if s.index in received:
                    continue
                if (s.key, s.local) in sent_before:  # the network delivered it twice
                    record(s, s.time_us, s.time_us, DUPLICATE)
                else:  # nobody traced sent it: forged, as scenarios inject them
                    record(s, s.time_us, s.time_us, DELIVERED, injected=True)
    else:
        for s in segs:
            if s.out:
                record(s, s.time_us, s.time_us + TRANSIT_US, DELIVERED)
            else:
                record(s, max(s.time_us - TRANSIT_US, 0), s.time_us, DELIVERED)
    placed.sort(key=lambda item: (item[0], item[1]))
    trace = Trace(segments=[rec for _, _, rec in placed])
    trace.states, trace.timers = _beside(data, conn, left, right, host_of)
    return trace, left, right


def _hosts_byendpoint_text(segs: Iterable[_Seg], left: str, right: str) -> dict[Endpoint, str]:
    """Which timeline each endpoint is drawn on: its traced host, else (one-sided) the
    peer's address timeline."""
    host_of: dict[Endpoint, str] = {}
    for s in segs:
        host_of[s.local] = s.host
    for s in segs:
        host_of.setdefault(s.remote, right if s.host == left else left)
    return host_of


def _window_shifts(segs: Iterable[_Seg]) -> dict[Endpoint, int]:
    """Each endpoint's window scale, where both SYNs announced one (RFC 7323 2.2): the
    header carries the window shifted right by the sender's own scale."""
    scales: dict[Endpoint, int] = {}
    for s in segs:
        if s.flags & SYN and s.options is not None and s.options.wscale is not None:
            sender = s.local if s.out else s.remote
            scales.setdefault(sender, min(s.options.wscale, 14))
    return scales if len(scales) == 2 else {}


def _pair(outs: list[_Seg], ins: list[_Seg]) -> dict[int, _Seg]:
    """The ``in`` that received each sent segment (by the ``out`` line's index).

    Arrivals are taken in order; each goes to an unmatched send of the same seq, ack,
    flags and length sent no later, the one whose transit is nearest the typical one
    (the median of the unambiguous pairs), the earliest on a tie.
    """
    by_key: dict[tuple[int, int, int, int], list[_Seg]] = {}
    for s in outs:
        by_key.setdefault(s.key, []).append(s)
    received: dict[tuple[int, int, int, int], list[_Seg]] = {}
    for s in ins:
        received.setdefault(s.key, []).append(s)
    transits = sorted(
        got[0].time_us - sent[0].time_us
        for key, sent in by_key.items()
        if len(sent) == 1
        and len(got := received.get(key, [])) == 1
        and got[0].time_us >= sent[0].time_us
    )
    typical = transits[len(transits) // 2] if transits else 0
    matched: dict[int, _Seg] = {}
    for s in ins:
        candidates = [
            o for o in by_key.get(s.key, ()) if o.index not in matched and o.time_us <= s.time_us
        ]
        if candidates:
            best = min(candidates, key=lambda o: (abs(s.time_us - o.time_us - typical), o.time_us))
            matched[best.index] = s
    return matched


def _beside(
    data: TraceFile, conn: Connection, left: str, right: str, host_of: dict[Endpoint, str]
) -> tuple[list[StateRecord], list[TimerRecord]]:
    """The states and fired timers of the connection's traced hosts, and the states of
    the listener it came from (its LISTEN), in file order."""
    ends = conn.pair
    states: list[StateRecord] = []
    timers: list[TimerRecord] = []
    for index, host, local, remote, line in data.others:
        if host not in (left, right):
            continue
        if remote is None:
            if line["ev"] != "state" or not any(
                host_of.get(end) == host and end[1] == local[1] and local[0] in ("*", end[0])
                for end in ends
            ):
                continue
        elif frozenset((local, remote)) != ends or host_of.get(local) != host:
            continue
        where = f"{data.path}:{index + 1}"
        if line["ev"] == "state":
            try:
                old, new = State(line["old"]), State(line["new"])
            except ValueError:
                raise TraceFileError(
                    f"{where}: unknown state {line['old']!r} or {line['new']!r}"
                ) from None
            states.append(
                StateRecord(
                    line["t"],
                    host,
                    local[1],
                    0 if remote is None else remote[1],
                    old,
                    new,
                    str(line["reason"]),
                )
            )
        elif line["action"] == "fire":
            name = str(line["name"])
            timers.append(TimerRecord(line["t"], host, ENGINE_TIMERS.get(name, name)))
    return states, timers
