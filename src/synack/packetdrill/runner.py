"""Run a packetdrill script against one synack Stack in virtual time.

packetdrill drives a kernel from outside: it makes system calls, injects packets from a
scripted peer and checks the packets the kernel sends, each at its scripted time. Here the
kernel is a :class:`~synack.stack.Stack` and time is virtual: the runner owns the clock,
fires the stack's timers between events, and stamps each packet the stack sends with the
virtual time it left. A blocking call (``+0...0.2 accept(...)``) does not stop the script:
while it waits, the runner keeps playing the events that follow it (injecting packets,
checking replies) until the call can return, as packetdrill's syscall thread does.
"""

from __future__ import annotations

import errno as _errno
import os
import re
import shlex
import socket as _std
import struct
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from types import EllipsisType
from typing import Any, Literal

from synack.api.socket import TCP_NOOPT, Socket
from synack.packetdrill.parser import (
    ECN_MARKS,
    Eol,
    Expr,
    Icmp,
    Mss,
    Nop,
    Or,
    Packet,
    PythonBlock,
    Sack,
    SackOK,
    Script,
    ScriptError,
    Shell,
    Struct,
    Symbol,
    Syscall,
    TcpOption,
    Time,
    Timestamp,
    WScale,
    parse,
)
from synack.packetdrill.profiles import Profile, UnsupportedSetting, pick_profile
from synack.packetdrill.tcpinfo import AssertionFailed, run_block, tcp_info
from synack.packetdrill.tcpinfo import Unsupported as UnsupportedPython
from synack.stack import Stack, pack_address
from synack.tcp.config import TcpConfig
from synack.tcp.events import ConnKey
from synack.tcp.state import SYNCHRONIZED, State
from synack.wire.errors import MalformedPacket
from synack.wire.icmp import IcmpMessage, build_icmp
from synack.wire.ip import (
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    build_ip,
    ip_ecn,
    parse_ip,
    with_ecn,
)
from synack.wire.tcp import (
    ACK,
    CWR,
    ECE,
    EOL,
    FIN,
    MSS,
    NOP,
    PSH,
    RST,
    SACK,
    SACK_PERMITTED,
    SYN,
    TIMESTAMP,
    URG,
    WSCALE,
    TcpOptions,
    TcpSegment,
    build_tcp,
    flag_letters,
    parse_tcp,
)

Status = Literal["pass", "fail", "unsupported", "error"]

#: How far past the last event the runner may run timers looking for a packet or a
#: blocked call's wake-up: bounds every loop in virtual time.
HORIZON_US = 4 * 3600 * 1_000_000
#: The largest super-segment a segmentation-offloading device hands packetdrill.
GSO_MAX_BYTES = 65536 - 1 - 60 - 60
#: Bounds the number of timer firings in one run.
MAX_TIMER_STEPS = 200_000

_FLAG_BITS = {"S": SYN, "F": FIN, "R": RST, "P": PSH, ".": ACK, "U": URG, "E": ECE, "W": CWR}
_OPTION_KIND = {Mss: MSS, Nop: NOP, Eol: EOL, WScale: WSCALE, SackOK: SACK_PERMITTED}
_OPTION_KIND.update({Sack: SACK, Timestamp: TIMESTAMP})

_TCP_MAXSEG = 2  # netinet/tcp.h (Linux and BSD alike)
#: ICMPv4 types and destination-unreachable codes by packetdrill's names (RFC 792, 1812).
_ICMP_TYPES = {
    "echo_reply": 0,
    "unreachable": 3,
    "source_quench": 4,
    "redirect": 5,
    "echo_request": 8,
    "time_exceeded": 11,
    "parameter_problem": 12,
    "timestamp_request": 13,
    "timestamp_reply": 14,
    "information_request": 15,
    "information_reply": 16,
    "address_mask_request": 17,
    "address_mask_reply": 18,
}
_ICMP_UNREACHABLE_CODES = {
    name: code
    for code, name in enumerate(
        [
            "net_unreachable",
            "host_unreachable",
            "protocol_unreachable",
            "port_unreachable",
            "frag_needed",
            "source_route_failed",
            "net_unknown",
            "host_unknown",
            "source_host_isolated",
            "net_prohibited",
            "host_prohibited",
            "net_unreachable_for_tos",
            "host_unreachable_for_tos",
            "packet_filtered",
            "precedence_violation",
            "precedence_cutoff",
        ]
    )
}
#: ICMPv6 types and destination-unreachable codes (RFC 4443).
_ICMPV6_TYPES = {
    "unreachable": 1,
    "packet_too_big": 2,
    "time_exceeded": 3,
    "parameter_problem": 4,
    "echo_request": 128,
    "echo_reply": 129,
}
_ICMPV6_UNREACHABLE_CODES = {
    "no_route": 0,
    "admin_prohibited": 1,
    "beyond_scope": 2,
    "address_unreachable": 3,
    "port_unreachable": 4,
}
_SYMBOLS: dict[str, int] = {
    "AF_INET": _std.AF_INET,
    "AF_INET6": _std.AF_INET6,
    "PF_INET": _std.AF_INET,
    "PF_INET6": _std.AF_INET6,
    "SOCK_STREAM": _std.SOCK_STREAM,
    "IPPROTO_TCP": _std.IPPROTO_TCP,
    "SOL_TCP": _std.IPPROTO_TCP,
    "SOL_SOCKET": _std.SOL_SOCKET,
    "SO_REUSEADDR": _std.SO_REUSEADDR,
    "SO_KEEPALIVE": _std.SO_KEEPALIVE,
    "SO_LINGER": _std.SO_LINGER,
    "SO_RCVBUF": _std.SO_RCVBUF,
    "SO_SNDBUF": _std.SO_SNDBUF,
    "SO_ERROR": _std.SO_ERROR,
    "TCP_NODELAY": _std.TCP_NODELAY,
    "TCP_KEEPIDLE": 4,
    "TCP_KEEPINTVL": 5,
    "TCP_KEEPCNT": 6,
    "TCP_USER_TIMEOUT": 18,
    "TCP_LINGER2": 8,
    "TCP_MAXSEG": _TCP_MAXSEG,
    "TCP_NOOPT": TCP_NOOPT,
    "SHUT_RD": _std.SHUT_RD,
    "SHUT_WR": _std.SHUT_WR,
    "SHUT_RDWR": _std.SHUT_RDWR,
    "F_GETFL": 3,
    "F_SETFL": 4,
    "O_RDONLY": 0,
    "O_WRONLY": 1,
    "O_RDWR": 2,
    "O_NONBLOCK": 0o4000,
    "MSG_PEEK": _std.MSG_PEEK,
    "SIOCINQ": 0x541B,
    "FIONREAD": 0x541B,
}
#: TcpConfig fields a kernel reads on every segment, so a script may change them mid-run.
_LIVE_SETTINGS = frozenset({"insecure_rst", "insecure_syn", "drop_synfin", "rfc1337"})
#: (level, option) pairs the Socket supports.
_SOCKOPTS = {
    (_std.SOL_SOCKET, _std.SO_REUSEADDR),
    (_std.SOL_SOCKET, _std.SO_KEEPALIVE),
    (_std.SOL_SOCKET, _std.SO_LINGER),
    (_std.SOL_SOCKET, _std.SO_RCVBUF),
    (_std.SOL_SOCKET, _std.SO_SNDBUF),
    (_std.SOL_SOCKET, _std.SO_ERROR),
    (_std.IPPROTO_TCP, _std.TCP_NODELAY),
    (_std.IPPROTO_TCP, 4),
    (_std.IPPROTO_TCP, 5),
    (_std.IPPROTO_TCP, 6),
    (_std.IPPROTO_TCP, 18),
    (_std.IPPROTO_TCP, 8),
    (_std.IPPROTO_TCP, _TCP_MAXSEG),
    (_std.IPPROTO_TCP, TCP_NOOPT),
}
#: The system calls the runner plays (besides socket()).
_SYSCALLS = frozenset(
    [
        "bind",
        "listen",
        "accept",
        "connect",
        "write",
        "send",
        "read",
        "recv",
        "close",
        "shutdown",
        "fcntl",
        "setsockopt",
        "getsockopt",
        "ioctl",
    ]
)
#: ioctl() requests the runner answers: bytes ready to read (SIOCINQ, alias FIONREAD).
_SIOCINQ = 0x541B
_SOCKSTAT = re.compile(
    r"sockstat -([46]) -P tcp(?: -s)?(?: -p (\d+))?(?: -s)?"
    r" \| (?:grep packetdril \| )?grep -c (\w+) \| grep (\d+)"
)


@dataclass(frozen=True)
class Result:
    """How a script ended; ``line`` and ``message`` say where and why when it did not pass."""

    status: Status
    message: str = ""
    line: int | None = None

    def __str__(self) -> str:
        if self.status == "pass":
            return "pass"
        where = f"{self.line}: " if self.line is not None and self.status == "fail" else ""
        return f"{self.status}: {where}{self.message}"


class _Stop(Exception):
    """Ends a run early with a result (mismatch, unsupported feature, script error)."""

    def __init__(self, status: Status, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.result = Result(status, message, line)


def _fail(line: int, message: str) -> _Stop:
    return _Stop("fail", message, line)


def _unsupported(what: str) -> _Stop:
    return _Stop("unsupported", what)


class VirtualDriver:
    """The Driver a script's sockets use: one stack, the runner's clock, and blocking
    calls that play the rest of the script until they can return."""

    def __init__(self, runner: _Runner) -> None:
        self._runner = runner

    @property
    def stack(self) -> Stack:
        return self._runner.stack

    def guard(self) -> AbstractContextManager[object]:
        return nullcontext()

    def sync(self) -> None:
        self._runner.stack.now = self._runner.now

    def kick(self) -> None:
        self._runner.collect()

    def wait(self, ready: Callable[[], bool], timeout_us: int | None) -> bool:
        return self._runner.block_until(ready, timeout_us)


class _Runner:
    def __init__(self, script: Script, lines: list[str], profile: Profile) -> None:
        self.script = script
        self.lines = lines
        self.profile = profile
        opts = script.options
        self.tolerance_us = int(opts.get("tolerance_usecs") or profile.tolerance_usecs)
        version = opts.get("ip_version") or "ipv4"
        if version not in ("ipv4", "ipv6"):
            raise _unsupported(f"--ip_version={version}")
        self.v6 = version == "ipv6"
        # --mss: the segment size packetdrill's GSO cuts injected packets into; the
        # kernel's GRO hands TCP the whole packet again, and so does the runner.
        handled = {"tolerance_usecs", "ip_version", "local_ip", "remote_ip", "mss"}
        handled.add("tcp_ts_tick_usecs")  # checked in _compare_options
        # With a TS val tick, outbound TS vals are checked (within the time tolerance).
        self.ts_tick_us = int(opts.get("tcp_ts_tick_usecs") or 0)
        for name in opts:
            if name not in handled:
                raise _unsupported(f"option --{name}")
        self.local = (opts.get("local_ip") or "").strip('"') or (
            profile.local_v6 if self.v6 else profile.local_v4
        )
        self.remote = (opts.get("remote_ip") or "").strip('"') or (
            profile.remote_v6 if self.v6 else profile.remote_v4
        )
        self.local_packed = pack_address(self.local)
        self.remote_packed = pack_address(self.remote)
        self.config: TcpConfig = profile.config
        self.stack = self._new_stack()
        self.driver = VirtualDriver(self)
        self.now = 0
        self.last_time = 0  # script time the next relative time counts from
        self.index = 0
        self.queue: list[tuple[int, bytes]] = []  # (virtual time sent, IP packet)
        self.fds: dict[int, Socket] = {}
        self.nonblocking: set[int] = set()
        self.last_fd: int | None = None
        self.key: ConnKey | None = None
        self.children = 0
        self.isns: dict[ConnKey, int] = {}  # the stack's ISN per connection
        self.script_isns: dict[ConnKey, int] = {}  # the ISN the script's SYN gives it
        self.ts_offset: int | None = None
        self.blocked: Syscall | None = None
        self.started = False
        self.timer_steps = 0
        self.python_names: dict[str, int] = {}  # constants the script's Python blocks set

    def _new_stack(self) -> Stack:
        return Stack([self.local_packed], self.config, seed=1, name="packetdrill", strict=True)

    # ------------------------------------------------------------ clock and packets

    def collect(self) -> None:
        """Stamp what the stack sent with the current time; remember each ISN seen.

        Only TCP is kept: packetdrill watches the socket under test, so the stack's own
        ICMP (an echo reply, say) goes unseen, as the kernel's does."""
        for packet in self.stack.transmit():
            protocol = packet[9] if packet[0] >> 4 == 4 else packet[6]
            if protocol in (PROTO_ICMP, PROTO_ICMPV6):
                continue
            self.queue.append((self.now, packet))
        for key, conn in self.stack.connections.items():
            self.isns[key] = conn.iss
        for entry in self.stack.syn_entries():
            self.isns[entry.key] = entry.iss

    def _fire_timers(self, until: int, ready: Callable[[], bool] | None = None) -> bool:
        """Fire due timers up to ``until``; stop early (True) once ``ready()`` holds."""
        while True:
            deadline = self.stack.next_deadline()
            if deadline is None or deadline > until:
                break
            self.timer_steps += 1
            if self.timer_steps > MAX_TIMER_STEPS:
                raise _Stop("error", f"more than {MAX_TIMER_STEPS} timer firings")
            self.now = max(self.now, deadline)
            self.stack.advance(self.now)
            self.collect()
            if ready is not None and ready():
                return True
        self.now = max(self.now, until)
        self.stack.now = self.now
        return False

    def _when(self, time: Time, line: int) -> tuple[int | None, int | None]:
        """(earliest, latest) script time of an event in µs; None for ``*``."""
        if time.kind == "any":
            return None, None
        assert time.value is not None
        start = round(time.value * 1_000_000)
        if time.relative:
            start += self.last_time
        if time.kind == "range":
            assert time.end is not None
            end = round(time.end * 1_000_000)
            if time.relative:
                end += self.last_time
            return start, end
        return start, start

    def _tolerance(self, expected: int) -> int:
        pct = int((expected - self.last_time) * self.profile.tolerance_percent / 100)
        return max(self.tolerance_us, pct)

    # ------------------------------------------------------------ the script

    def run(self) -> Result:
        events = self.script.events
        try:
            while self.index < len(events):
                event = events[self.index]
                self.index += 1
                self.handle(event)
        except _Stop as stop:
            return stop.result
        return Result("pass")

    def handle(self, event: Syscall | Packet | Shell | PythonBlock) -> None:
        if isinstance(event, Shell) and event.time is None:
            self.shell(event)
            return
        assert event.time is not None
        start, end = self._when(event.time, event.line)
        if isinstance(event, Packet) and event.direction == ">":
            self.expect(event, start, end)
            return
        at = self.now if start is None else start
        self._fire_timers(at)
        self.last_time = at
        if isinstance(event, Packet):
            self.inject(event)
        elif isinstance(event, Syscall):
            self.syscall(event, at)
        elif isinstance(event, Shell):
            self.shell(event)
        else:
            self.python(event)

    def block_until(self, ready: Callable[[], bool], timeout_us: int | None) -> bool:
        """A blocking call waits: play the following events until ``ready()`` holds."""
        if ready():
            return True
        call = self.blocked
        if call is None:
            raise _Stop("error", "a socket call blocked outside a system call")
        limit = self.now + (timeout_us if timeout_us is not None else HORIZON_US)
        events = self.script.events
        while not ready():
            if self.index < len(events):
                event = events[self.index]
                if isinstance(event, Syscall):
                    raise _fail(
                        event.line,
                        f"{event.name}() while {call.name}() (line {call.line}) still blocks",
                    )
                if event.time is not None and not (
                    isinstance(event, Packet) and event.direction == ">"
                ):
                    start, _ = self._when(event.time, event.line)
                    if start is not None and self._fire_timers(start, ready):
                        return True
                self.index += 1
                self.handle(event)
                continue
            deadline = self.stack.next_deadline()
            if deadline is None or deadline > limit:
                if timeout_us is not None:
                    self._fire_timers(limit)
                    return ready()
                raise _fail(call.line, f"{call.name}() blocks and nothing left can wake it")
            self._fire_timers(deadline, ready)
        return True

    # ------------------------------------------------------------ packets

    def _key_for_inbound(self, packet: Packet) -> ConnKey:
        if self.key is not None:
            return self.key
        port = self.profile.port
        for (_address, lport), _listener in self.stack.listeners.items():
            port = lport
            break
        rport = self.profile.remote_port + self.children
        self.children += 1
        self.key = (self.local_packed, port, self.remote_packed, rport)
        return self.key

    def _options(self, options: list[TcpOption]) -> TcpOptions:
        out = TcpOptions()
        layout: list[int] = []
        for opt in options:
            if isinstance(opt, Mss) and isinstance(opt.value, int):
                out.mss = opt.value
            elif isinstance(opt, WScale) and isinstance(opt.shift, int):
                out.wscale = opt.shift
            elif isinstance(opt, SackOK):
                out.sack_permitted = True
            elif isinstance(opt, Sack):
                out.sack_blocks = opt.blocks
            elif isinstance(opt, Timestamp) and isinstance(opt.val, int):
                if not isinstance(opt.ecr, int):
                    raise _unsupported(f"timestamp echo {opt.ecr}")
                ecr = opt.ecr
                if ecr and self.ts_offset is not None:
                    ecr = (ecr + self.ts_offset) & 0xFFFFFFFF
                out.timestamp = (opt.val, ecr)
            elif not isinstance(opt, (Nop, Eol)):
                raise _unsupported(f"TCP option {opt}")
            layout.append(_OPTION_KIND[type(opt)])
        out.layout = tuple(layout)
        return out

    def inject(self, packet: Packet) -> None:
        if packet.unsupported:
            raise _unsupported(", ".join(packet.unsupported))
        if packet.icmp is not None:
            if packet.ecn is not None:
                raise _unsupported(f"ECN mark [{packet.ecn}] on ICMP")
            self._inject_icmp(packet.icmp)
            return
        if packet.seq_start is None or packet.payload_len is None:
            raise _unsupported("an injected packet without a sequence number")
        key = self._key_for_inbound(packet)
        flags = self._flags(packet)
        conn = self.stack.connections.get(key)
        if conn is not None:
            self.isns[key] = conn.iss
        elif (entry := self.stack.syn_entry(key)) is not None:
            self.isns[key] = entry.iss
        # An ACK without a number acknowledges script sequence number 0, as in packetdrill.
        ack = 0
        if packet.ack is not None or flags & ACK:
            ack = ((packet.ack or 0) + self._isn_offset(key)) & 0xFFFFFFFF
        options = None
        if packet.options:
            options = self._options(packet.options)
            if options.sack_blocks:  # about our data: relative to our ISN, as ACKs are
                shift = self._isn_offset(key)
                options.sack_blocks = tuple(
                    ((a + shift) & 0xFFFFFFFF, (b + shift) & 0xFFFFFFFF)
                    for a, b in options.sack_blocks
                )
        segment = TcpSegment(
            key[3],
            key[1],
            packet.seq_start & 0xFFFFFFFF,
            ack,
            flags,
            65535 if packet.win is None else packet.win,
            packet.urg or 0,
            options,
            bytes(packet.payload_len),
        )
        try:
            raw = build_ip(key[2], key[0], PROTO_TCP, build_tcp(segment, key[2], key[0]))
        except ValueError as exc:
            raise _Stop("error", f"line {packet.line}: cannot build packet: {exc}") from None
        if packet.ecn is not None:
            raw = with_ecn(raw, min(ECN_MARKS[packet.ecn]))  # ect01 injects ECT(1)
        self.stack.receive(raw, self.now)
        self.collect()

    def _inject_icmp(self, icmp: Icmp) -> None:
        """An ICMP error from the peer's address about our connection, quoting the IP
        header and first 8 TCP bytes of a segment we sent (``[seq:...]``, else seq 0)."""
        v6 = self.v6
        types, codes = (
            (_ICMPV6_TYPES, _ICMPV6_UNREACHABLE_CODES)
            if v6
            else (_ICMP_TYPES, _ICMP_UNREACHABLE_CODES)
        )
        kind = types.get(icmp.type, _numbered(icmp.type, "type_"))
        code = 0 if icmp.code is None else codes.get(icmp.code, _numbered(icmp.code, "code_"))
        if kind is None or code is None:
            raise _unsupported(f"ICMP {icmp.type} {icmp.code or ''}".strip())
        mtu = icmp.mtu or 0
        rest = mtu.to_bytes(4, "big") if v6 else bytes(2) + (mtu & 0xFFFF).to_bytes(2, "big")
        key = self.key
        if key is None:
            key = self._key_for_inbound_icmp()
        seq = icmp.quoted_seq[0] if icmp.quoted_seq is not None else 0
        seq = (seq + self._isn_offset(key)) & 0xFFFFFFFF
        quoted_tcp = struct.pack("!HHI", key[1], key[3], seq)
        quoted_ip = build_ip(key[0], key[2], PROTO_TCP, quoted_tcp)
        body = quoted_ip[: len(quoted_ip) - len(quoted_tcp)] + quoted_tcp
        try:
            message = build_icmp(IcmpMessage(kind, code, rest, body), key[2], key[0])
        except ValueError as exc:
            raise _Stop("error", f"cannot build ICMP: {exc}") from None
        protocol = PROTO_ICMPV6 if v6 else PROTO_ICMP
        self.stack.receive(build_ip(key[2], key[0], protocol, message), self.now)
        self.collect()

    def _key_for_inbound_icmp(self) -> ConnKey:
        """No connection yet: the 4-tuple the next one would have."""
        port = next(iter(self.stack.listeners), (b"", self.profile.port))[1]
        return (self.local_packed, port, self.remote_packed, self.profile.remote_port)

    @staticmethod
    def _flags(packet: Packet) -> int:
        bits = 0
        for letter in packet.flags or "":
            if letter not in _FLAG_BITS:
                raise _unsupported(f"TCP flag {letter!r}")
            bits |= _FLAG_BITS[letter]
        return bits

    def expect(self, packet: Packet, start: int | None, end: int | None) -> None:
        if packet.unsupported:
            raise _unsupported(", ".join(packet.unsupported))
        if packet.icmp is not None:
            raise _unsupported("an outbound ICMP message")
        text = self._source(packet.line)
        if not self.queue:
            limit = (end + self._tolerance(end)) if end is not None else self.now + HORIZON_US
            self._fire_timers(limit, lambda: bool(self.queue))
        if not self.queue:
            raise _fail(packet.line, f"expected {text} got nothing")
        ecn = ip_ecn(self.queue[0][1])
        sent_at, src, dst, seg = self._next_segment(packet, text)
        key = (src, seg.src_port, dst, seg.dst_port)
        if dst == self.remote_packed and self.key is None:
            self.key = key
        if seg.flags & SYN and packet.seq_start is not None and self._flags(packet) & SYN:
            # packetdrill maps the stack's ISN onto the one the script's SYN names
            self.script_isns[key] = packet.seq_start
        local_isn = self._isn_offset(key)
        actual = self._describe(seg, local_isn)
        mismatch = self._compare(packet, seg, local_isn)
        if not mismatch and packet.ecn is not None and ecn not in ECN_MARKS[packet.ecn]:
            mismatch = f"IP ECN field {ecn:02b}"
        if mismatch:
            raise _fail(packet.line, f"expected {text} got {actual} ({mismatch})")
        if start is not None and end is not None:
            low = start - self._tolerance(start)
            high = end + self._tolerance(end)
            if not low <= sent_at <= high:
                raise _fail(
                    packet.line,
                    f"expected {text} at {start / 1e6:.6f} s got it at {sent_at / 1e6:.6f} s",
                )
        if start is None or start != end:
            self.last_time = sent_at  # `*` and ranges: later times count from the packet
        else:
            self.last_time = start
        self.now = max(self.now, sent_at)

    def _isn_offset(self, key: ConnKey) -> int:
        """What to add to a script sequence number of ours to get the stack's."""
        return (self.isns.get(key, 0) - self.script_isns.get(key, 0)) & 0xFFFFFFFF

    def _parse(self, raw: bytes, line: int) -> tuple[bytes, bytes, TcpSegment]:
        try:
            src, dst, protocol, payload = parse_ip(raw)
            if protocol != PROTO_TCP:
                raise _fail(line, f"the stack sent IP protocol {protocol}")
            return src, dst, parse_tcp(payload, src, dst)
        except MalformedPacket as exc:
            raise _Stop("error", f"line {line}: stack sent a bad packet: {exc}") from None

    def _next_segment(self, packet: Packet, text: str) -> tuple[int, bytes, bytes, TcpSegment]:
        """The next packet sent; with ``gso``, data segments that left together are
        merged as a segmentation-offloading device shows them to packetdrill."""
        sent_at, raw = self.queue.pop(0)
        src, dst, seg = self._parse(raw, packet.line)
        if not self.profile.gso or not seg.payload or seg.flags & (SYN | FIN | RST):
            return sent_at, src, dst, seg
        payload = bytearray(seg.payload)
        flags = seg.flags
        while self.queue and self.queue[0][0] == sent_at:
            nsrc, ndst, nxt = self._parse(self.queue[0][1], packet.line)
            if (
                (nsrc, ndst, nxt.src_port, nxt.dst_port) != (src, dst, seg.src_port, seg.dst_port)
                or nxt.seq != (seg.seq + len(payload)) & 0xFFFFFFFF
                or nxt.ack != seg.ack
                or not nxt.payload
                or nxt.flags & (SYN | FIN | RST | URG)
                or len(payload) + len(nxt.payload) > GSO_MAX_BYTES
                or (
                    packet.payload_len is not None
                    and len(payload) + len(nxt.payload) > packet.payload_len
                )
            ):
                break
            self.queue.pop(0)
            payload += nxt.payload
            flags |= nxt.flags
        seg.payload = bytes(payload)
        seg.flags = flags
        return sent_at, src, dst, seg

    def _source(self, line: int) -> str:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        text = text.split("//")[0].strip()
        return re.sub(r"^\S+\s+", "", text, count=1)

    def _compare(self, packet: Packet, seg: TcpSegment, local_isn: int) -> str:
        want = self._flags(packet)
        if seg.flags != want:
            return "flags"
        length = len(seg.payload)
        if packet.seq_start is not None:
            rel = (seg.seq - local_isn) & 0xFFFFFFFF
            if rel != packet.seq_start & 0xFFFFFFFF:
                return "sequence number"
        if packet.payload_len is not None and length != packet.payload_len:
            return "payload length"
        if packet.ack is not None and seg.ack != packet.ack & 0xFFFFFFFF:
            return "ack number"
        if packet.win is not None and seg.window != packet.win:
            return "window"
        if packet.urg is not None and seg.urgent != packet.urg:
            return "urgent pointer"
        if packet.any_options:
            return ""
        return self._compare_options(packet.options or [], seg.options)

    def _compare_options(self, expected: list[TcpOption], actual: TcpOptions | None) -> str:
        kinds = [_OPTION_KIND.get(type(o), -1) for o in expected]
        got = list(actual.layout) if actual is not None else []
        while kinds and kinds[-1] == EOL:
            kinds.pop()
        while got and got[-1] == EOL:
            got.pop()
        if kinds != got:
            return "options"
        assert actual is not None or not expected
        for opt in expected:
            if actual is None:
                break
            if isinstance(opt, Mss):
                if not isinstance(opt.value, int):
                    raise _unsupported(f"mss {opt.value}")
                if actual.mss != opt.value:
                    return "mss"
            elif isinstance(opt, WScale):
                if actual.wscale != opt.shift:
                    return "window scale"
            elif isinstance(opt, Sack):
                if actual.sack_blocks != opt.blocks:
                    return "SACK blocks"
            elif isinstance(opt, Timestamp) and actual.timestamp is not None:
                if not isinstance(opt.val, int) or not isinstance(opt.ecr, int):
                    raise _unsupported("named timestamp values")
                if self.ts_offset is None:
                    self.ts_offset = (actual.timestamp[0] - opt.val) & 0xFFFFFFFF
                elif self.ts_tick_us:
                    drift = (actual.timestamp[0] - self.ts_offset - opt.val) & 0xFFFFFFFF
                    drift = min(drift, 0x100000000 - drift)
                    if drift * self.ts_tick_us > self.tolerance_us:
                        return "timestamp value"
                if actual.timestamp[1] != opt.ecr & 0xFFFFFFFF:
                    return "timestamp echo"
        return ""

    def _describe(self, seg: TcpSegment, local_isn: int) -> str:
        rel = (seg.seq - local_isn) & 0xFFFFFFFF
        n = len(seg.payload)
        text = f"{flag_letters(seg.flags) or '-'} {rel}:{(rel + n) & 0xFFFFFFFF}({n})"
        if seg.flags & ACK:
            text += f" ack {seg.ack}"
        text += f" win {seg.window}"
        if seg.urgent:
            text += f" urg {seg.urgent}"
        if seg.options is not None:
            text += f" <{_render_options(seg.options)}>"
        return text

    # ------------------------------------------------------------ system calls

    def syscall(self, call: Syscall, at: int) -> None:
        expected = call.result
        if not isinstance(expected, int):
            raise _unsupported(f"{call.name}() result {expected!r}")
        want_errno: int | None = None
        if call.errno is not None:
            want_errno = getattr(_errno, call.errno, None)
            if want_errno is None:
                raise _unsupported(f"errno {call.errno}")
        self.blocked = call
        try:
            try:
                value = self._call(call)
                got_errno: int | None = None
            except OSError as exc:
                value, got_errno = -1, exc.errno
        finally:
            self.blocked = None
        if got_errno is not None and got_errno == want_errno and expected == -1:
            pass
        elif value != expected or (expected == -1 and got_errno != want_errno):
            got = f"{value}" if got_errno is None else f"-1 {_errno.errorcode.get(got_errno)}"
            want = f"{expected}" + (f" {call.errno}" if call.errno else "")
            raise _fail(call.line, f"expected {call.name}() = {want} got {got}")
        self._check_return_time(call, at)

    def _check_return_time(self, call: Syscall, at: int) -> None:
        if call.blocking_end is None:
            expected_end = at
        else:
            end = call.blocking_end
            assert end.value is not None
            base = at - round((call.time.value or 0) * 1_000_000) if call.time.relative else 0
            expected_end = round(end.value * 1_000_000) + (
                at if end.relative else base if call.time.relative else 0
            )
        tol = max(
            self.tolerance_us, int((expected_end - at) * self.profile.tolerance_percent / 100)
        )
        if abs(self.now - expected_end) > tol:
            raise _fail(
                call.line,
                f"expected {call.name}() to return at {expected_end / 1e6:.6f} s"
                f" got {self.now / 1e6:.6f} s",
            )

    def _value(self, expr: Expr) -> int | bytes | None:
        if isinstance(expr, EllipsisType):
            return None
        if isinstance(expr, bool):
            return int(expr)
        if isinstance(expr, int):
            return expr
        if isinstance(expr, Symbol):
            if expr.name in _SYMBOLS:
                return _SYMBOLS[expr.name]
            if expr.name.startswith("E") and isinstance(getattr(_errno, expr.name, None), int):
                return int(getattr(_errno, expr.name))  # SO_ERROR values
            raise _unsupported(f"symbol {expr.name}")
        if isinstance(expr, Or):
            total = 0
            for operand in expr.operands:
                part = self._value(operand)
                if not isinstance(part, int):
                    raise _unsupported(f"expression {expr}")
                total |= part
            return total
        if isinstance(expr, list):
            return self._value(expr[0]) if len(expr) == 1 else None
        if isinstance(expr, Struct):
            onoff = expr.get("l_onoff")
            linger = expr.get("l_linger")
            if onoff is None and linger is None:  # older scripts drop the l_ prefix
                onoff, linger = expr.get("onoff"), expr.get("linger")
            if isinstance(onoff, int) and isinstance(linger, int):
                return struct.pack("ii", onoff, linger)
        raise _unsupported(f"argument {expr!r}")

    def _int_arg(self, call: Syscall, index: int) -> int:
        if index >= len(call.args):
            raise _Stop("error", f"line {call.line}: {call.name}() needs argument {index + 1}")
        value = self._value(call.args[index])
        if not isinstance(value, int):
            raise _unsupported(f"{call.name}() argument {call.args[index]!r}")
        return value

    def _socket(self, call: Syscall) -> Socket:
        fd = self._int_arg(call, 0)
        if fd not in self.fds:
            raise OSError(_errno.EBADF, os.strerror(_errno.EBADF))
        self.last_fd = fd
        return self.fds[fd]

    def _call(self, call: Syscall) -> int:
        name = call.name
        if name == "socket":
            family = self._value(call.args[0]) if call.args else None
            if family is None:
                family = _std.AF_INET6 if self.v6 else _std.AF_INET
            if not isinstance(call.result, int) or call.result < 0:
                raise _unsupported("socket() expected to fail")
            assert isinstance(family, int)
            self.started = True
            self.fds[call.result] = Socket(self.driver, family)
            self.last_fd = call.result
            self.key = None
            return call.result
        if name not in _SYSCALLS:
            raise _unsupported(f"system call {name}()")
        if name in ("write", "send", "read", "recv") and not (
            len(call.args) > 1 and isinstance(call.args[1], EllipsisType)
        ):
            raise _unsupported(f"{name}() with an explicit buffer")
        sock = self._socket(call)
        fd = self._int_arg(call, 0)
        if name == "bind":
            if any(not isinstance(a, EllipsisType) for a in call.args[1:]):
                raise _unsupported("bind() to an explicit address")
            sock.bind((self.local, self.profile.port))
            return 0
        if name == "listen":
            sock.listen(self._int_arg(call, 1))
            self.key = None
            return 0
        if name == "accept":
            child, _peer = sock.accept()
            if not isinstance(call.result, int) or call.result < 0:
                raise _fail(call.line, "accept() returned a connection the script did not expect")
            self.fds[call.result] = child
            if fd in self.nonblocking:
                child.setblocking(True)  # accepted sockets start blocking, as on Linux
            self.last_fd = call.result
            return call.result
        if name == "connect":
            if any(not isinstance(a, EllipsisType) for a in call.args[1:]):
                raise _unsupported("connect() to an explicit address")
            err = sock.connect_ex((self.remote, self.profile.port))
            if sock.connection is not None:
                self.key = sock.connection.key
                self.collect()
            if err:
                raise OSError(err, os.strerror(err))
            return 0
        if name in ("write", "send"):
            if name == "send" and len(call.args) > 3 and self._value(call.args[3]):
                raise _unsupported("send() flags")
            return sock.send(bytes(self._int_arg(call, 2)))
        if name in ("read", "recv"):
            flags = self._value(call.args[3]) if name == "recv" and len(call.args) > 3 else 0
            if flags == _SYMBOLS["MSG_PEEK"]:
                return self._peek(call, fd, sock)
            if flags:
                raise _unsupported("recv() flags")
            return len(sock.recv(self._int_arg(call, 2)))
        if name == "close":
            sock.close()
            del self.fds[fd]
            self.nonblocking.discard(fd)
            return 0
        if name == "shutdown":
            sock.shutdown(self._int_arg(call, 1))
            return 0
        if name == "fcntl":
            return self._fcntl(call, fd, sock)
        if name == "setsockopt":
            return self._setsockopt(call, sock)
        if name == "getsockopt":
            return self._getsockopt(call, sock)
        if name == "ioctl":
            return self._ioctl(call, sock)
        raise _unsupported(f"system call {name}()")

    def _peek(self, call: Syscall, fd: int, sock: Socket) -> int:
        """recv(..., MSG_PEEK), which Socket.recv does not take: read the connection's
        buffer without draining it."""
        conn = sock.connection
        if conn is None:
            raise OSError(_errno.ENOTCONN, os.strerror(_errno.ENOTCONN))
        if not conn.readable_bytes() and not conn.at_eof and conn.error is None:
            if fd in self.nonblocking:
                raise BlockingIOError(_errno.EAGAIN, os.strerror(_errno.EAGAIN))
            raise _unsupported("recv(MSG_PEEK) that would block")
        return len(conn.peek(self._int_arg(call, 2)))

    def _fcntl(self, call: Syscall, fd: int, sock: Socket) -> int:
        cmd = self._int_arg(call, 1)
        nonblock = _SYMBOLS["O_NONBLOCK"]
        if cmd == _SYMBOLS["F_GETFL"]:
            return _SYMBOLS["O_RDWR"] | (nonblock if fd in self.nonblocking else 0)
        if cmd == _SYMBOLS["F_SETFL"]:
            flags = self._int_arg(call, 2)
            sock.setblocking(not flags & nonblock)
            if flags & nonblock:
                self.nonblocking.add(fd)
            else:
                self.nonblocking.discard(fd)
            return 0
        raise _unsupported(f"fcntl command {call.args[1]!r}")

    def _ioctl(self, call: Syscall, sock: Socket) -> int:
        """SIOCINQ: the bytes a read would return now (Linux's tcp_inq: none before the
        handshake completes, EINVAL on a listener)."""
        if self._int_arg(call, 1) != _SIOCINQ:
            raise _unsupported(f"ioctl() request {_show(call.args[1])}")
        conn = sock.connection
        if conn is None:
            raise OSError(_errno.EINVAL, os.strerror(_errno.EINVAL))
        got = conn.readable_bytes() if conn.state in SYNCHRONIZED else 0
        want = self._value(call.args[2]) if len(call.args) > 2 else None
        if isinstance(want, int) and want != got:
            raise _fail(call.line, f"expected ioctl(SIOCINQ) value {want} got {got}")
        return 0

    def _sockopt(self, call: Syscall) -> tuple[int, int]:
        level, option = self._int_arg(call, 1), self._int_arg(call, 2)
        if (level, option) not in _SOCKOPTS:
            raise _unsupported(f"{call.name}() option {_show(call.args[2])}")
        return level, option

    def _setsockopt(self, call: Syscall, sock: Socket) -> int:
        level, option = self._sockopt(call)
        value = self._value(call.args[3]) if len(call.args) > 3 else None
        if value is None:
            raise _unsupported(f"setsockopt() value {call.args[3:]!r}")
        sock.setsockopt(level, option, value)
        return 0

    def _getsockopt(self, call: Syscall, sock: Socket) -> int:
        level, option = self._sockopt(call)
        raw = sock.getsockopt(level, option)
        got = raw if isinstance(raw, int) else int.from_bytes(raw[:4], "little", signed=True)
        want = self._value(call.args[3]) if len(call.args) > 3 else None
        if isinstance(want, int) and want != got:
            raise _fail(
                call.line, f"expected getsockopt({_show(call.args[2])}) value {want} got {got}"
            )
        return 0

    # ------------------------------------------------------------ shell and Python

    def shell(self, event: Shell) -> None:
        for raw in re.split(r"[\n;]", event.command.replace("\\\n", " ")):
            command = raw.split("#", 1)[0].strip()
            if command:
                self._shell_command(event, command)

    def _shell_command(self, event: Shell, command: str) -> None:
        if command.split()[0].rsplit("/", 1)[-1] in self.profile.setup_commands:
            return  # e.g. ../common/defaults.sh: what the profile already is
        sysctl = re.fullmatch(r"sysctl\s+(?:-[wq]\s+)*([\w.]+)\s*=\s*\"?([^\"]*)\"?", command)
        if sysctl:
            self._sysctl(sysctl.group(1), sysctl.group(2))
            return
        proc = re.fullmatch(r"\S*set_sysctls\.py\s+(/proc/sys/.*)", command)
        if proc:
            for assignment in shlex.split(proc.group(1)):
                name, _, value = assignment.partition("=")
                self._sysctl(name.removeprefix("/proc/sys/").replace("/", "."), value)
            return
        stat = _SOCKSTAT.fullmatch(command)
        if stat:
            self._sockstat(event, stat)
            return
        if command == "tcpdrop -s TIME_WAIT":
            self.stack.time_wait.clear()
            return
        raise _unsupported(f"shell command `{command}`")

    def _sysctl(self, name: str, value: str) -> None:
        rule = self.profile.sysctls.get(name)
        if rule is None:
            raise _unsupported(f"sysctl {name}")
        try:
            config = rule(self.config, value)
        except UnsupportedSetting as exc:
            raise _unsupported(f"sysctl {name}={value.strip()}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise _Stop("error", f"sysctl {name}={value}: {exc}") from None
        if config == self.config:
            return
        if not self.started:
            self.config = config
            self.stack = self._new_stack()
            return
        changed = {
            f.name
            for f in fields(config)
            if getattr(config, f.name) != getattr(self.config, f.name)
        }
        if not changed <= _LIVE_SETTINGS:
            if self.stack.connections or self.stack.listeners:
                raise _unsupported(f"sysctl {name} changed after the first socket")
            # Nothing holds the old values: sockets opened from now on see the new ones.
            self.config = config
            self.stack.config = config
            return
        # A switch the kernel reads on every segment: live connections see it at once.
        self.config = config
        self.stack.config = config
        for conn in self.stack.connections.values():
            conn.config = config
        for listener in self.stack.listeners.values():
            listener.config = config

    def _sockstat(self, event: Shell, match: re.Match[str]) -> None:
        family, port, state_name, wanted = match.groups()
        size = 16 if family == "6" else 4
        count = 0
        for key, conn in self.stack.connections.items():
            if len(key[0]) != size or (port and key[1] != int(port)):
                continue
            if str(conn.state) == state_name:
                count += 1
        entries: Iterable[Any] = ()
        if state_name == "TIME_WAIT":
            entries = self.stack.time_wait  # compact entries, not connections
        elif state_name == "SYN_RCVD":
            entries = self.stack.syn_entries()
        for entry in entries:
            key = entry.key
            if len(key[0]) == size and not (port and key[1] != int(port)):
                count += 1
        if state_name == "CLOSED":
            count += sum(
                1
                for sock in self.fds.values()
                if sock.connection is not None and sock.connection.state is State.CLOSED
            )
        if wanted not in str(count):
            raise _fail(event.line, f"expected {wanted} socket(s) in {state_name} got {count}")

    def python(self, event: PythonBlock) -> None:
        """Asserts over the TCP_INFO of the socket under test: the one holding the
        connection the packets are about, else the one the script last used."""
        sock = next(
            (s for s in self.fds.values() if s.connection and s.connection.key == self.key),
            self.fds.get(self.last_fd) if self.last_fd is not None else None,
        )
        if sock is None:
            info = tcp_info(None, State.CLOSED, self.now, self.profile.tcpi_cwnd_bytes)
        else:
            info = tcp_info(sock.connection, sock.state, self.now, self.profile.tcpi_cwnd_bytes)
        try:
            run_block(event.code, info, self.python_names)
        except UnsupportedPython as exc:
            raise _unsupported(f"Python block {event.code.strip()!r}: {exc}") from None
        except AssertionFailed as exc:
            raise _fail(event.line, f"assert {exc}") from None


def _numbered(name: str, prefix: str) -> int | None:
    """``type_255`` / ``code_3``: a number packetdrill's names do not cover."""
    number = name.removeprefix(prefix)
    return int(number) if name.startswith(prefix) and number.isdigit() else None


def _show(expr: Expr) -> str:
    return expr.name if isinstance(expr, Symbol) else repr(expr)


def _render_options(options: TcpOptions) -> str:
    parts: list[str] = []
    for kind in options.layout:
        if kind == NOP:
            parts.append("nop")
        elif kind == EOL:
            parts.append("eol")
        elif kind == MSS:
            parts.append(f"mss {options.mss}")
        elif kind == WSCALE:
            parts.append(f"wscale {options.wscale}")
        elif kind == SACK_PERMITTED:
            parts.append("sackOK")
        elif kind == SACK:
            parts.append("sack " + " ".join(f"{a}:{b}" for a, b in options.sack_blocks))
        elif kind == TIMESTAMP and options.timestamp is not None:
            parts.append(f"TS val {options.timestamp[0]} ecr {options.timestamp[1]}")
        else:
            parts.append(f"opt{kind}")
    return ",".join(parts)


def run_script(script: str | Path, profile: Profile | str = "auto") -> Result:
    """Run one script (a path, or the script's text) and say how it went."""
    path: Path | None = None
    if isinstance(script, Path) or (isinstance(script, str) and "\n" not in script):
        path = Path(script)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return Result("error", f"cannot read {script}: {exc.strerror}")
    else:
        text = script
    chosen = profile if isinstance(profile, Profile) else pick_profile(profile, path, text)
    try:
        parsed = parse(text, str(path or "<script>"), chosen.defines)
    except ScriptError as exc:
        return Result("error", f"parse error at {exc.line}:{exc.column}: {exc.message}")
    try:
        runner = _Runner(parsed, text.split("\n"), chosen)
    except _Stop as stop:
        return stop.result
    except ValueError as exc:  # a bad address or number in the script's options
        return Result("error", f"bad script option: {exc}")
    try:
        return runner.run()
    except Exception as exc:  # a bug in synack (strict stack) or in the runner
        return Result("error", f"internal error: {type(exc).__name__}: {exc}")
