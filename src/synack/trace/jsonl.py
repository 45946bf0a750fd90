"""Trace files: every event of one or more stacks as JSON lines (docs/trace-format.md).

A `JsonlTrace` is attached to stacks as their tracer (beside any tracer already there,
such as a world's recorder) and writes one line per engine event: segments in and out,
drops, state changes, timers set, stopped and fired, congestion and window state, RTT
samples. `read_trace` reads such a file back, checking each line, for ``synack plot``
and the tests. The ``*_to_dict`` functions are the one definition of each line's shape.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, TextIO

from synack.stack import Stack, format_address
from synack.tcp.events import (
    DELAYED_ACK,
    FIN_WAIT_2,
    KEEPALIVE,
    PERSIST,
    RETRANSMISSION,
    TIME_WAIT,
    ConnKey,
    Metrics,
    RttSample,
    SegmentDropped,
    SegmentReceived,
    SegmentSent,
    StateChange,
    TimerFired,
    TimerSet,
    TimerStopped,
    TraceEvent,
    Tracer,
)
from synack.tcp.state import State
from synack.wire.tcp import SYN, TcpOptions, TcpSegment, flag_names

FORMAT: Final = "synack-trace"
VERSION: Final = 1
CLOCKS: Final = ("virtual", "monotonic")

#: The file's timer names (short, as plots label them) for the engine's.
TIMER_NAMES: Final = {
    RETRANSMISSION: "rtx",
    DELAYED_ACK: "delack",
    PERSIST: "persist",
    KEEPALIVE: "keepalive",
    TIME_WAIT: "time_wait",
    FIN_WAIT_2: "fin_wait_2",
}
#: ssthresh at or above this is the "no threshold yet" of slow start: written as null.
UNBOUNDED_SSTHRESH: Final = 1 << 30

#: One letter per flag, SYN first as in `flag_names`: "SA" for SYN,ACK, "FPA"...
_LETTERS: Final = tuple(
    "".join(name[0] for name in flag_names(flags).split(",") if name) for flags in range(256)
)
#: Lines kept in memory before one write to the file.
_BATCH: Final = 512
#: Connections whose ISNs are remembered (a SYN flood must not grow this without end).
_MAX_ISNS: Final = 65536

_SEGMENTS: Final = (SegmentSent, SegmentReceived)

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

Line = dict[str, Any]


@lru_cache(maxsize=4096)
def _conn_text(key: ConnKey) -> tuple[str, int, str, int]:
    return (format_address(key[0]), key[1], format_address(key[2]), key[3])


def conn_text(key: ConnKey | None) -> list[str | int] | None:
    """A connection key as the file writes it: addresses as text, "*" for a wildcard."""
    return None if key is None else list(_conn_text(key))


def options_text(options: TcpOptions) -> str:
    """Short text of the options that shape a connection: "mss 1460,sackOK,TS,wscale 7"."""
    parts = []
    if options.mss is not None:
        parts.append(f"mss {options.mss}")
    if options.sack_permitted:
        parts.append("sackOK")
    if options.timestamp is not None:
        parts.append("TS")
    if options.wscale is not None:
        parts.append(f"wscale {options.wscale}")
    if options.sack_blocks:
        parts.append(f"sack {len(options.sack_blocks)}")
    parts.extend(f"opt {kind}" for kind, _ in options.unknown)
    return ",".join(parts)


def _segment(
    time_us: int, host: str, key: ConnKey, segment: TcpSegment, window: int, direction: str
) -> Line:
    line: Line = {
        "t": time_us,
        "host": host,
        "ev": "seg",
        "conn": conn_text(key),
        "dir": direction,
        "seq": segment.seq,
        "ack": segment.ack,
        "flags": _LETTERS[segment.flags & 0xFF],
        "win": window,
        "len": len(segment.payload),
    }
    options = segment.options
    if options is not None:
        if options.sack_blocks:
            line["sack"] = [[left, right] for left, right in options.sack_blocks]
        text = options_text(options)
        if text:
            line["opts"] = text
    return line


def sent_to_dict(event: SegmentSent, host: str) -> Line:
    line = _segment(event.time_us, host, event.key, event.segment, event.window, "out")
    line["rtx"] = event.retransmission
    return line


def received_to_dict(event: SegmentReceived, host: str) -> Line:
    return _segment(event.time_us, host, event.key, event.segment, event.window, "in")


def dropped_to_dict(event: SegmentDropped, host: str) -> Line:
    return {
        "t": event.time_us,
        "host": host,
        "ev": "drop",
        "conn": conn_text(event.key),
        "reason": event.reason,
    }


def state_to_dict(event: StateChange, host: str) -> Line:
    return {
        "t": event.time_us,
        "host": host,
        "ev": "state",
        "conn": conn_text(event.key),
        "old": event.old.value,
        "new": event.new.value,
        "reason": event.reason,
    }


def _timer(time_us: int, host: str, key: ConnKey, timer: str, action: str) -> Line:
    return {
        "t": time_us,
        "host": host,
        "ev": "timer",
        "conn": conn_text(key),
        "name": TIMER_NAMES.get(timer, timer),
        "action": action,
    }


def timer_set_to_dict(event: TimerSet, host: str) -> Line:
    line = _timer(event.time_us, host, event.key, event.timer, "set")
    line["at"] = event.deadline_us
    return line


def timer_stopped_to_dict(event: TimerStopped, host: str) -> Line:
    return _timer(event.time_us, host, event.key, event.timer, "stop")


def timer_fired_to_dict(event: TimerFired, host: str) -> Line:
    return _timer(event.time_us, host, event.key, event.timer, "fire")


def metrics_to_dict(event: Metrics, host: str) -> Line:
    return {
        "t": event.time_us,
        "host": host,
        "ev": "cc",
        "conn": conn_text(event.key),
        "cwnd": event.cwnd,
        "ssthresh": None if event.ssthresh >= UNBOUNDED_SSTHRESH else event.ssthresh,
        "rto": event.rto_us,
        "srtt": event.srtt_us,
        "rttvar": event.rttvar_us,
        "snd_una": event.snd_una,
        "snd_nxt": event.snd_nxt,
        "snd_wnd": event.snd_wnd,
        "rcv_wnd": event.rcv_wnd,
        "inflight": event.inflight,
    }


def rtt_to_dict(event: RttSample, host: str) -> Line:
    return {
        "t": event.time_us,
        "host": host,
        "ev": "rtt",
        "conn": conn_text(event.key),
        "sample": event.sample_us,
        "srtt": event.srtt_us,
        "rttvar": event.rttvar_us,
        "rto": event.rto_us,
    }


_CONVERTERS: dict[type, Callable[[Any, str], Line]] = {
    SegmentSent: sent_to_dict,
    SegmentReceived: received_to_dict,
    SegmentDropped: dropped_to_dict,
    StateChange: state_to_dict,
    TimerSet: timer_set_to_dict,
    TimerStopped: timer_stopped_to_dict,
    TimerFired: timer_fired_to_dict,
    Metrics: metrics_to_dict,
    RttSample: rtt_to_dict,
}


def event_to_dict(event: TraceEvent, host: str) -> Line:
    """The line for one engine event (without ``iss``/``irs``, which need history)."""
    return _CONVERTERS[type(event)](event, host)


def header(clock: str) -> Line:
    return {
        "t": 0,
        "host": "",
        "ev": "header",
        "conn": None,
        "format": FORMAT,
        "version": VERSION,
        "clock": clock,
    }


class HasStacks(Protocol):
    """A simulated world (`synack.scenarios.world.World`): its stacks by host name."""

    @property
    def stacks(self) -> dict[str, Stack]: ...


class JsonlTrace:
    """A trace file being written; attach stacks to it, then `close` it (or use ``with``).

    ``target`` is a path (the file is created or truncated) or a text file already open
    (written to, flushed on close, left open). ``clock`` names the time base written in
    the header: "virtual" for the simulated network, "monotonic" for a TUN device (whose
    stack counts microseconds since its driver started). Lines are buffered; a write
    error stops the trace (the stacks run on untouched) and is raised by `close`.
    """

    def __init__(self, target: str | os.PathLike[str] | TextIO, clock: str = "virtual") -> None:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        self.clock = clock
        self.lines = 0
        self.error: OSError | None = None
        self._owned = isinstance(target, str | os.PathLike)
        self._file: TextIO | None
        if isinstance(target, str | os.PathLike):
            self.path: Path | None = Path(target)
            self._file = self.path.open("w", encoding="utf-8")
        else:
            self.path = None
            self._file = target
        self._pending: list[str] = []
        self._attached: list[tuple[Stack, Tracer, Tracer | None]] = []
        #: (host, connection) -> [ISS, IRS], learned from the SYNs each way.
        self._isns: dict[tuple[str, ConnKey], list[int | None]] = {}
        self._add(header(clock))

    # ------------------------------------------------------------------ attaching

    def attach(self, stack: Stack, host: str | None = None) -> None:
        """Trace ``stack`` into this file, its lines labelled ``host`` (default: its name).

        A tracer the stack already has keeps receiving every event, first.
        """
        name = host if host is not None else stack.name or repr(stack)
        previous = stack.tracer
        tracer = self._tracer_for(name, previous)
        stack.tracer = tracer
        self._attached.append((stack, tracer, previous))

    def attach_world(self, world: HasStacks) -> None:
        """Trace every host of a simulated world. To catch the worlds a scenario builds
        for itself: ``with World.watch(trace.attach_world): ...``."""
        for name, stack in world.stacks.items():
            self.attach(stack, name)

    def _tracer_for(self, host: str, previous: Tracer | None) -> Tracer:
        record = self._record
        if previous is None:
            return lambda event: record(host, event)

        def chained(event: TraceEvent) -> None:
            previous(event)
            record(host, event)

        return chained

    # ------------------------------------------------------------------ writing

    def _record(self, host: str, event: TraceEvent) -> None:
        if self._file is None:
            return
        line = _CONVERTERS[type(event)](event, host)
        if isinstance(event, _SEGMENTS):
            self._add_isns(host, event, line)
        elif isinstance(event, StateChange) and event.new is State.CLOSED:
            self._isns.pop((host, event.key), None)
        self._add(line)

    def _add_isns(self, host: str, event: SegmentSent | SegmentReceived, line: Line) -> None:
        """Give a segment the ISNs of its connection where the SYNs have shown them."""
        index = 0 if line["dir"] == "out" else 1
        known = self._isns.get((host, event.key))
        if event.segment.flags & SYN:
            if known is None:
                if len(self._isns) >= _MAX_ISNS:
                    del self._isns[next(iter(self._isns))]
                known = self._isns[host, event.key] = [None, None]
            known[index] = event.segment.seq
        if known is not None:
            if known[0] is not None:
                line["iss"] = known[0]
            if known[1] is not None:
                line["irs"] = known[1]

    def _add(self, line: Line) -> None:
        self._pending.append(_encode(line))
        self.lines += 1
        if len(self._pending) >= _BATCH:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._file is None or not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        try:
            self._file.write(text)
        except OSError as exc:  # a full disk must not stop the stacks: stop tracing
            self.error = exc
            self._shut()

    def flush(self) -> None:
        """Make every line so far readable by others."""
        self._write_pending()
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self.error = exc
                self._shut()

    @property
    def closed(self) -> bool:
        return self._file is None

    def close(self) -> None:
        """Write what is buffered, detach from the stacks, close the file if it was ours.

        Raises the write error that stopped the trace early, if one did.
        """
        if self._file is not None:
            self.flush()
        self._shut()
        for stack, tracer, previous in self._attached:
            if stack.tracer is tracer:
                stack.tracer = previous
        self._attached.clear()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _shut(self) -> None:
        file, self._file = self._file, None
        self._pending.clear()
        if file is not None and self._owned:
            try:
                file.close()
            except OSError as exc:
                self.error = self.error or exc

    def __enter__(self) -> JsonlTrace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "stream"
        state = "closed" if self._file is None else "open"
        return f"<JsonlTrace {where!r} {self.lines} lines, {state}>"


# ---------------------------------------------------------------------- reading

#: Keys each kind of line must carry, beyond t, host, ev and conn.
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "seg": ("dir", "seq", "ack", "flags", "win", "len"),
    "drop": ("reason",),
    "state": ("old", "new", "reason"),
    "timer": ("name", "action"),
    "cc": ("cwnd", "ssthresh", "rto", "srtt", "rttvar", "snd_una", "snd_nxt", "snd_wnd"),
    "rtt": ("sample", "srtt", "rttvar", "rto"),
}


def _check_line(line: object) -> str | None:
    """What is wrong with a decoded line, or None."""
    if not isinstance(line, dict):
        return "not a JSON object"
    t = line.get("t")
    if type(t) is not int or t < 0:
        return f"'t' must be a non-negative integer, got {t!r}"
    for name in ("host", "ev"):
        if not isinstance(line.get(name), str):
            return f"'{name}' must be a string, got {line.get(name)!r}"
    if "conn" not in line:
        return "'conn' is missing"
    conn = line["conn"]
    if conn is not None and not (
        isinstance(conn, list)
        and len(conn) == 4
        and isinstance(conn[0], str)
        and type(conn[1]) is int
        and isinstance(conn[2], str)
        and type(conn[3]) is int
    ):
        return f"'conn' must be null or [address, port, address, port], got {conn!r}"
    missing = [key for key in REQUIRED.get(line["ev"], ()) if key not in line]
    if missing:
        return f"{line['ev']!r} line lacks {', '.join(missing)}"
    if line["ev"] == "timer" and line["action"] == "set" and type(line.get("at")) is not int:
        return "a timer 'set' line needs an integer 'at'"
    return None


def read_trace(path: str | os.PathLike[str]) -> Iterator[Line]:
    """Every line of a trace file as a dict, the header first, each checked.

    Raises ValueError naming the file and line number for anything malformed: not JSON,
    a missing or foreign header, a newer format version, a line without its keys.
    Keys and kinds of event it does not know are passed through (the format may grow).
    """
    with Path(path).open(encoding="utf-8") as file:
        number = 0
        for number, text in enumerate(file, 1):
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
            if number == 1:
                _check_header(path, line)
            else:
                problem = _check_line(line)
                if problem is not None:
                    raise ValueError(f"{path}:{number}: {problem}")
            yield line
        if number == 0:
            raise ValueError(f"{path}:1: empty file, expected a {FORMAT} header")


def _check_header(path: str | os.PathLike[str], line: object) -> None:
    if not isinstance(line, dict) or line.get("ev") != "header" or line.get("format") != FORMAT:
        raise ValueError(f"{path}:1: not a {FORMAT} file (no header line)")
    version = line.get("version")
    if type(version) is not int or not 1 <= version <= VERSION:
        raise ValueError(f"{path}:1: unsupported {FORMAT} version {version!r}")
    if line.get("clock") not in CLOCKS:
        raise ValueError(f"{path}:1: unknown clock {line.get('clock')!r}")
