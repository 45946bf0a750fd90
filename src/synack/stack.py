"""A host: connection table, listeners, ports, ISNs, RSTs for strays, counters, one timer heap.

Still sans-I/O. A driver (the simulator, a TUN device, the packetdrill runner) owns time
and packets and calls the four methods of the core contract::

    stack.receive(packet, now)      # parse, validate, demultiplex, process; never raises
    stack.transmit() -> [bytes]     # IP packets to send now
    stack.next_deadline() -> int | None
    stack.advance(now)              # fire due timers

User calls (``connect``, ``bind``, ``listen`` and the methods of the returned
``Connection`` and ``Listener``) return at once; the API layer turns them into blocking
or asynchronous calls.
"""

from __future__ import annotations

import errno
import hashlib
import heapq
import ipaddress
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from synack.tcp import seq as sq
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.connection import Connection, window_scale_for
from synack.tcp.events import ConnKey, SegmentDropped, SegmentReceived, SegmentSent, Tracer
from synack.tcp.listener import Listener
from synack.tcp.state import State
from synack.tcp.syncache import ECN_OK, SACK_NEGOTIATED, SACK_OK, TS_OK, WS_OK, SynEntry
from synack.tcp.syncookie import (
    CookieSecrets,
    check_cookie,
    decode_ts_options,
    encode_ts_options,
    make_cookie,
)
from synack.tcp.timewait import TimeWaitEntry, TimeWaitTable
from synack.wire.errors import BAD_CHECKSUM, MalformedPacket
from synack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REPLY,
    ICMP_ECHO_REQUEST,
    ICMP_FRAG_NEEDED,
    ICMP_HOST_UNREACH,
    ICMP_NET_UNREACH,
    ICMP_PARAM_PROBLEM,
    ICMP_TIME_EXCEEDED,
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PARAM_PROBLEM,
    ICMPV6_PKT_TOO_BIG,
    ICMPV6_TIME_EXCEEDED,
    IcmpMessage,
    build_icmp,
    parse_icmp,
    parse_quoted,
)
from synack.wire.ip import (
    ECN_CE,
    ECN_ECT0,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    build_ip,
    ip_ecn,
    parse_ip,
    with_ecn,
)
from synack.wire.tcp import ACK, FIN, RST, SYN, TcpOptions, TcpSegment, parse_tcp
from synack.wire.tcpip import build_tcp_packet, build_tcp_ts_packet, parse_tcp_fields, tcp_segment

#: State.TIME_WAIT as a global: read through the Enum class it costs about 0.1 us in
#: CPython 3.11, and reschedule asks after every segment.
_TIME_WAIT = State.TIME_WAIT

#: Counters shown even when zero, named as Linux ``nstat -az`` names them.
STANDARD_COUNTERS = (
    "TcpActiveOpens",
    "TcpPassiveOpens",
    "TcpAttemptFails",
    "TcpEstabResets",
    "TcpCurrEstab",
    "TcpInSegs",
    "TcpOutSegs",
    "TcpRetransSegs",
    "TcpInErrs",
    "TcpOutRsts",
    "TcpInCsumErrors",
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtSyncookiesSent",
    "TcpExtSyncookiesRecv",
    "TcpExtSyncookiesFailed",
    "TcpExtTCPTimeouts",
    "TcpExtTCPAbortOnTimeout",
    "TcpExtTCPAbortOnData",
    "TcpExtTCPAbortOnClose",
    "TcpExtTCPAbortOnLinger",
    "TcpExtTCPChallengeACK",
    "TcpExtTCPSYNChallenge",
    "TcpExtDelayedACKs",
    "TcpExtTCPKeepAliveDrops",
    "TcpExtTW",
    "TcpExtTCPTimeWaitOverflow",
    "TcpExtTCPFastRetrans",
)


#: ICMPv4 input counters by type, named as ``nstat`` names them (from /proc/net/snmp).
ICMP_IN_COUNTERS = {
    0: "IcmpInEchoReps",
    3: "IcmpInDestUnreachs",
    4: "IcmpInSrcQuenchs",
    5: "IcmpInRedirects",
    8: "IcmpInEchos",
    11: "IcmpInTimeExcds",
    12: "IcmpInParmProbs",
    13: "IcmpInTimestamps",
    14: "IcmpInTimestampReps",
    17: "IcmpInAddrMasks",
    18: "IcmpInAddrMaskReps",
}
#: ICMPv6 input counters by type, named as ``nstat`` names them (from /proc/net/snmp6).
ICMP6_IN_COUNTERS = {
    1: "Icmp6InDestUnreachs",
    2: "Icmp6InPktTooBigs",
    3: "Icmp6InTimeExcds",
    4: "Icmp6InParmProblems",
    128: "Icmp6InEchos",
    129: "Icmp6InEchoReplies",
    130: "Icmp6InGroupMembQueries",
    131: "Icmp6InGroupMembResponses",
    132: "Icmp6InGroupMembReductions",
    133: "Icmp6InRouterSolicits",
    134: "Icmp6InRouterAdvertisements",
    135: "Icmp6InNeighborSolicits",
    136: "Icmp6InNeighborAdvertisements",
    137: "Icmp6InRedirects",
    143: "Icmp6InMLDv2Reports",
}
#: Linux icmp_err_convert: the errno of each ICMPv4 destination-unreachable code.
UNREACH_ERRNO_V4 = (
    errno.ENETUNREACH,  # net unreachable
    errno.EHOSTUNREACH,  # host unreachable
    errno.ENOPROTOOPT,  # protocol unreachable
    errno.ECONNREFUSED,  # port unreachable
    errno.EMSGSIZE,  # fragmentation needed (handled as path MTU instead)
    errno.EOPNOTSUPP,  # source route failed
    errno.ENETUNREACH,  # destination network unknown
    errno.EHOSTDOWN,  # destination host unknown
    errno.ENONET,  # source host isolated
    errno.ENETUNREACH,  # network administratively prohibited
    errno.EHOSTUNREACH,  # host administratively prohibited
    errno.ENETUNREACH,  # network unreachable for TOS
    errno.EHOSTUNREACH,  # host unreachable for TOS
    errno.EHOSTUNREACH,  # communication administratively prohibited
    errno.EHOSTUNREACH,  # host precedence violation
    errno.EHOSTUNREACH,  # precedence cutoff in effect
)
#: Linux icmpv6_err_convert: (errno, fatal) of each ICMPv6 destination-unreachable code;
#: codes beyond the table are (EPROTO, fatal).
UNREACH_ERRNO_V6 = (
    (errno.ENETUNREACH, False),  # no route
    (errno.EACCES, True),  # administratively prohibited
    (errno.EHOSTUNREACH, False),  # beyond the scope of the source address
    (errno.EHOSTUNREACH, False),  # address unreachable
    (errno.ECONNREFUSED, True),  # port unreachable
    (errno.EACCES, True),  # source address failed ingress/egress policy
    (errno.EACCES, True),  # reject route to destination
)
#: Linux ip_rt_min_pmtu: a smaller next-hop MTU from ICMPv4 is raised to this.
MIN_PMTU_V4 = 552
#: RFC 8200 section 5: every IPv6 link carries this; Linux ignores smaller reports.
MIN_PMTU_V6 = 1280


class Counters(dict[str, int]):
    """A dict whose missing counters read as zero, so ``c[name] += 1`` always works."""

    def __missing__(self, key: str) -> int:
        return 0


def pack_address(address: str | bytes) -> bytes:
    """Packed 4- or 16-byte form of an IPv4/IPv6 address given as text or bytes."""
    if isinstance(address, bytes):
        if len(address) not in (4, 16):
            raise ValueError(f"packed address must be 4 or 16 bytes, got {len(address)}")
        return address
    return ipaddress.ip_address(address).packed


def format_address(address: bytes) -> str:
    return str(ipaddress.ip_address(address)) if address else "*"


class Draws(Protocol):
    """The randomness a stack uses; a ``random.Random`` instance qualifies."""

    def randbytes(self, n: int, /) -> bytes: ...

    def randrange(self, stop: int, /) -> int: ...


class Timed(Protocol):
    """What the timer heap holds: connections, and listeners for their SYN cache."""

    heap_at: int | None

    def on_timer(self, now: int) -> None: ...


class SeededDraws:
    """Deterministic draws from a seed (BLAKE2b in counter mode), so the core never
    touches the global ``random`` module and one seed replays a run bit for bit."""

    __slots__ = ("_counter", "_seed")

    def __init__(self, seed: int) -> None:
        self._seed = seed.to_bytes(16, "big", signed=True)
        self._counter = 0

    def randbytes(self, n: int, /) -> bytes:
        out = bytearray()
        while len(out) < n:
            self._counter += 1
            out += hashlib.blake2b(
                self._counter.to_bytes(8, "big"), key=self._seed, digest_size=64
            ).digest()
        return bytes(out[:n])

    def randrange(self, stop: int, /) -> int:
        if stop <= 0:
            raise ValueError("empty range for randrange()")
        return int.from_bytes(self.randbytes(16), "big") % stop  # bias < 2**-64


@dataclass(slots=True, eq=False)
class Binding:
    """A local (address, port) reserved by bind() and not yet listening or connected."""

    address: bytes
    port: int
    reuseaddr: bool


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class Stack:
    """One host's TCP. All randomness comes from ``seed`` (or ``rng``): never the global one."""

    def __init__(
        self,
        addresses: Iterable[str | bytes],
        config: TcpConfig = LINUX,
        seed: int = 0,
        rng: Draws | None = None,
        name: str = "",
        strict: bool = False,
        isn_key: bytes | None = None,
    ) -> None:
        self.name = name
        self.addresses = {pack_address(a) for a in addresses}
        # Each connection's key names its local address by these objects, not by a copy
        # sliced from a packet: a copy per connection costs as much as the copy's size.
        self._own_addresses = {address: address for address in self.addresses}
        if not self.addresses:
            raise ValueError("a stack needs at least one address")
        self.config = config
        self.rng: Draws = rng if rng is not None else SeededDraws(seed)
        #: The secret of RFC 6528's keyed hash: injected, or drawn from the stack's own rng.
        self.isn_key = isn_key if isn_key is not None else self.rng.randbytes(32)
        if not 16 <= len(self.isn_key) <= 32:
            raise ValueError("isn_key must be 16 to 32 bytes")
        self.cookie_secrets = CookieSecrets.from_key(self.isn_key)
        #: Keys the SYN cache's bucket hash, so a flood cannot aim at one bucket.
        self.syncache_secret = hashlib.blake2s(self.isn_key, person=b"syncache").digest()
        #: Children of listeners with a per-peer cap, counted until they are released.
        self._capped: dict[ConnKey, Listener] = {}
        self.now = 0
        self.counters = Counters()
        self.tracer: Tracer | None = None
        self.strict = strict  # re-raise internal errors instead of counting them (tests)
        self.connections: dict[ConnKey, Connection] = {}
        #: Connections in TIME-WAIT, as compact entries (not in ``connections``).
        self.time_wait = TimeWaitTable(self)
        self.listeners: dict[tuple[bytes, int], Listener] = {}
        self.bindings: list[Binding] = []
        self._out: list[bytes] = []
        #: Between begin_batch and end_batch, delayed ACKs wait for the batch's end.
        self.batching = False
        self._owed: list[Connection] = []
        self._heap: list[tuple[int, int, Timed]] = []
        self._heap_counter = 0
        #: Overrides the ISN (experiments such as sequence wrap-around); None is RFC 6528.
        self.isn_hook: Callable[[ConnKey], int] | None = None

    def __repr__(self) -> str:
        return f"<Stack {self.name or sorted(format_address(a) for a in self.addresses)}>"

    # ------------------------------------------------------------------ driver contract

    def receive(self, packet: bytes, now: int) -> None:
        """Take one IP packet from the network. Nothing a peer sends raises out of here."""
        self.now = now
        try:
            self._receive(packet)
        except Exception:
            self.counters["SynackInternalErrors"] += 1
            if self.strict:
                raise

    def begin_batch(self) -> None:
        """Packets that arrived together follow: coalesce their delayed ACKs.

        A driver that reads a burst of packets at once (a TUN device) brackets it with
        this and `end_batch`, so that a burst of in-order data is acknowledged once, as a
        kernel does after GRO, rather than every second segment. Duplicate ACKs, quick
        ACKs and window updates are never deferred.
        """
        self.batching = True

    def end_batch(self) -> None:
        """Send the ACKs deferred since `begin_batch`."""
        self.batching = False
        owed, self._owed = self._owed, []
        for conn in owed:
            try:
                conn.pay_owed_ack()
            except Exception:
                self.counters["SynackInternalErrors"] += 1
                if self.strict:
                    raise

    def owe_ack(self, conn: Connection) -> None:
        if not conn.ack_owed:
            conn.ack_owed = True
            self._owed.append(conn)

    def transmit(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> int | None:
        heap = self._heap
        time_wait = self.time_wait
        best = time_wait.next_deadline() if time_wait.entries else None
        while heap:
            deadline, _, conn = heap[0]
            if conn.heap_at == deadline:
                return deadline if best is None or deadline < best else best
            heapq.heappop(heap)  # stale: the connection moved or went away
        return best

    def advance(self, now: int) -> None:
        """Fire every timer due at or before ``now``."""
        self.now = now
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, conn = heapq.heappop(heap)
            if conn.heap_at != deadline:
                continue
            conn.heap_at = None
            try:
                conn.on_timer(now)
            except Exception:
                self.counters["SynackInternalErrors"] += 1
                if self.strict:
                    raise
        try:
            self.time_wait.expire(now)
        except Exception:
            self.counters["SynackInternalErrors"] += 1
            if self.strict:
                raise

    # ------------------------------------------------------------------ receive path

    def _receive(self, packet: bytes) -> None:
        fields = parse_tcp_fields(packet)  # the common case in one pass, else None
        if fields is not None and fields[1] in self.addresses:
            self.counters["TcpInSegs"] += 1
            src, dst, sport, dport, seq, ack, flags, window, urgent, timestamp, payload = fields
            key = (dst, dport, src, sport)
            conn = self.connections.get(key)
            seg = None
            ecn_seen = False
            if self.tracer is not None:
                seg = tcp_segment(sport, dport, seq, ack, flags, window, urgent, timestamp, payload)
                self._trace_arrival(key, conn, seg)
            if conn is not None:
                if conn.ecn_ok:  # before either path: a CE mark on in-order data counts
                    conn.ecn_arrives(flags, ip_ecn(packet) == ECN_CE)
                    ecn_seen = True
                if conn.predicted_arrives(seq, ack, flags, window, timestamp, payload, self.now):
                    return  # header prediction took it: no TcpSegment needed building
            if seg is None:
                seg = tcp_segment(sport, dport, seq, ack, flags, window, urgent, timestamp, payload)
        else:
            parsed = self._parse(packet)
            if parsed is None:
                return
            ecn_seen = False
            src, dst, seg = parsed
            key = (dst, seg.dst_port, src, seg.src_port)
            conn = self.connections.get(key)
            if self.tracer is not None:
                self._trace_arrival(key, conn, seg)
        if conn is not None:
            if conn.ecn_ok and not ecn_seen:
                conn.ecn_arrives(seg.flags, ip_ecn(packet) == ECN_CE)
            conn.segment_arrives(seg, self.now)
            return
        tw_entry = self.time_wait.get(key)
        if tw_entry is not None:
            if seg.flags & (SYN | ACK | RST) == SYN and self._new_syn_in_time_wait(
                tw_entry, key, seg
            ):
                return
            self.time_wait.segment_arrives(tw_entry, seg)
            return
        listener = self.listeners.get((dst, seg.dst_port)) or self.listeners.get(
            (b"", seg.dst_port)
        )
        if listener is not None:
            listener.segment_arrives(key, seg)
            return
        self.reply_rst(key, seg)

    def _trace_arrival(self, key: ConnKey, conn: Connection | None, seg: TcpSegment) -> None:
        """Trace a received segment with the window it offers in bytes."""
        assert self.tracer is not None
        shift = 0
        if not seg.flags & SYN:
            if conn is not None:
                shift = conn.snd_wscale
            elif (tw := self.time_wait.get(key)) is not None:
                shift = tw.snd_wscale
            else:
                half_open = self.syn_entry(key)
                if half_open is not None and half_open.flags & WS_OK:
                    shift = half_open.wscale
        self.tracer(SegmentReceived(self.now, key, seg, seg.window << shift))

    def _parse(self, packet: bytes) -> tuple[bytes, bytes, TcpSegment] | None:
        """The general path: any IP packet, each fault counted and traced; ICMP handled.

        Returns (src, dst, segment) of a TCP segment for us, None when nothing is left to do.
        """
        counters = self.counters
        try:
            src, dst, protocol, payload = parse_ip(packet)
        except MalformedPacket as exc:
            counters["IpInHdrErrors"] += 1
            self._dropped(None, f"ip: {exc.reason}")
            return None
        if dst not in self.addresses:
            if protocol == PROTO_ICMPV6 and dst[0] == 0xFF and len(dst) == 16:
                # Multicast a kernel sends on a fresh link (router solicitation, MLD).
                self._receive_icmp(src, dst, payload, True)
                return None
            counters["IpInAddrErrors"] += 1
            self._dropped(None, "not our address")
            return None
        if protocol != PROTO_TCP:
            if protocol == (PROTO_ICMPV6 if len(src) == 16 else PROTO_ICMP):
                self._receive_icmp(src, dst, payload, False)
                return None
            counters["IpInUnknownProtos"] += 1
            self._dropped(None, f"protocol {protocol}")
            return None
        counters["TcpInSegs"] += 1  # RFC 4022, Linux: "including those received in error"
        try:
            seg = parse_tcp(payload, src, dst)
        except MalformedPacket as exc:
            counters["TcpInErrs"] += 1
            if exc.reason == "bad-checksum":
                counters["TcpInCsumErrors"] += 1
            self._dropped(None, f"tcp: {exc.reason}")
            return None
        return src, dst, seg

    def _receive_icmp(self, src: bytes, dst: bytes, payload: memoryview, multicast: bool) -> None:
        """ICMP (RFC 792) and ICMPv6 (RFC 4443): answer echoes, pass errors to TCP."""
        counters = self.counters
        v6 = len(src) == 16
        prefix = "Icmp6" if v6 else "Icmp"
        counters[prefix + "InMsgs"] += 1
        try:
            msg = parse_icmp(payload, src, dst)
        except MalformedPacket as exc:
            counters[prefix + "InErrors"] += 1
            if exc.reason == BAD_CHECKSUM:
                counters[prefix + "InCsumErrors"] += 1
            self._dropped(None, f"icmp: {exc.reason}")
            return
        kind = msg.type
        counters[f"Icmp6InType{kind}" if v6 else f"IcmpMsgInType{kind}"] += 1
        name = (ICMP6_IN_COUNTERS if v6 else ICMP_IN_COUNTERS).get(kind)
        if name is not None:
            counters[name] += 1
        if multicast:
            return  # neighbour discovery and MLD are not synack's business: counted only
        if kind == (ICMPV6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST):
            # RFC 1122 3.2.2.6: never to a source that names no single host.
            if any(src) and src[0] != 0xFF and (v6 or src[0] < 224):
                self._echo_reply(src, dst, msg)
            return
        if v6:
            if ICMPV6_DEST_UNREACH <= kind <= ICMPV6_PARAM_PROBLEM:
                self._icmp_error(msg, True)
            # Other types (echo replies, neighbour discovery) ask nothing of us.
        elif kind in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAM_PROBLEM):
            self._icmp_error(msg, False)

    def _echo_reply(self, src: bytes, dst: bytes, request: IcmpMessage) -> None:
        """Echo the identifier, sequence and data back, from the address pinged; the code
        too, as Linux copies the whole header but the type."""
        v6 = len(src) == 16
        kind = ICMPV6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY
        reply = IcmpMessage(kind, request.code, request.rest, request.body)
        protocol = PROTO_ICMPV6 if v6 else PROTO_ICMP
        self._out.append(build_ip(dst, src, protocol, build_icmp(reply, dst, src)))
        counters = self.counters
        if v6:
            counters["Icmp6OutMsgs"] += 1
            counters["Icmp6OutEchoReplies"] += 1
            counters[f"Icmp6OutType{kind}"] += 1
        else:
            counters["IcmpOutMsgs"] += 1
            counters["IcmpOutEchoReps"] += 1
            counters[f"IcmpMsgOutType{kind}"] += 1

    def _icmp_error(self, msg: IcmpMessage, v6: bool) -> None:
        """Hand an ICMP error to the connection whose segment it quotes (RFC 1122
        4.2.3.9, RFC 5927; Linux tcp_v4_err and tcp_v6_err decide the details)."""
        counters = self.counters
        in_errors = "Icmp6InErrors" if v6 else "IcmpInErrors"
        try:
            quote = parse_quoted(msg.body, v6)
        except MalformedPacket as exc:
            counters[in_errors] += 1
            self._dropped(None, f"icmp: quote {exc.reason}")
            return
        if quote.protocol != PROTO_TCP:
            # Errors about ICMP itself (RFC 1122 3.2.2) or protocols we do not run.
            counters[in_errors] += 1
            self._dropped(None, f"icmp: quotes protocol {quote.protocol}")
            return
        key = (quote.src, quote.src_port, quote.dst, quote.dst_port)
        conn = self.connections.get(key)
        if conn is None:
            listener = self._listener_for(key)
            entry = listener.entry(key) if listener is not None else None
            if listener is not None and entry is not None:
                if quote.seq != entry.iss:  # Linux tcp_req_err: only our SYN,ACK counts
                    counters["TcpExtOutOfWindowIcmps"] += 1
                    self._dropped(key, "icmp: out of window")
                    return
                conn = listener.materialize(entry)
        if conn is None or conn.state in (State.CLOSED, State.LISTEN, State.TIME_WAIT):
            counters[in_errors] += 1
            self._dropped(key, "icmp: no connection")
            return
        if not conn.icmp_quote_acceptable(quote.seq):
            counters["TcpExtOutOfWindowIcmps"] += 1
            self._dropped(key, "icmp: out of window")
            return
        kind = msg.type
        code = msg.code
        if v6:
            if kind == ICMPV6_PKT_TOO_BIG:
                mtu = msg.mtu
                if mtu < MIN_PMTU_V6:
                    self._dropped(key, f"icmp: packet too big, MTU {mtu} < {MIN_PMTU_V6}")
                    return
                conn.path_mtu_reduced(mtu, self.now)
                return
            if kind == ICMPV6_DEST_UNREACH:
                error, fatal = (
                    UNREACH_ERRNO_V6[code] if code < len(UNREACH_ERRNO_V6) else (errno.EPROTO, True)
                )
            elif kind == ICMPV6_TIME_EXCEEDED:
                error, fatal = errno.EHOSTUNREACH, False
            else:
                error, fatal = errno.EPROTO, True
            conn.icmp_error(error, fatal, self.now)
            return
        if kind == ICMP_DEST_UNREACH:
            if code == ICMP_FRAG_NEEDED:
                conn.path_mtu_reduced(max(msg.next_hop_mtu, MIN_PMTU_V4), self.now)
                return
            if code >= len(UNREACH_ERRNO_V4):
                self._dropped(key, f"icmp: unreachable code {code}")
                return
            error = UNREACH_ERRNO_V4[code]
            abort_half_open = code in (ICMP_NET_UNREACH, ICMP_HOST_UNREACH)
        elif kind == ICMP_TIME_EXCEEDED:
            error, abort_half_open = errno.EHOSTUNREACH, True
        else:
            error, abort_half_open = errno.EPROTO, True
        conn.icmp_error(error, abort_half_open, self.now)

    def _dropped(self, key: ConnKey | None, reason: str) -> None:
        if self.tracer is not None:
            self.tracer(SegmentDropped(self.now, key, reason))

    def _listener_for(self, key: ConnKey) -> Listener | None:
        return self.listeners.get((key[0], key[1])) or self.listeners.get((b"", key[1]))

    def _new_syn_in_time_wait(self, entry: TimeWaitEntry, key: ConnKey, seg: TcpSegment) -> bool:
        """RFC 6191: a SYN with a higher sequence (or timestamp) may reopen a TIME-WAIT pair."""
        listener = self._listener_for(key)
        if listener is None or (seg.flags & FIN and not listener.takes_syn_fin()):
            return False  # what the listener would discard cannot replace the pair
        if self.time_wait.paws_rejects(entry, seg):
            return False  # an old duplicate SYN: the TIME-WAIT entry ACKs it
        newer_ts = (
            entry.ts_ok
            and seg.options is not None
            and seg.options.timestamp is not None
            and sq.gt(seg.options.timestamp[0], entry.ts_recent)
        )
        if not (sq.gt(seg.seq, entry.rcv_nxt) or newer_ts):
            return False
        if not listener.admits_reopen(key[2]):
            return True  # dropped; the TIME-WAIT stays meanwhile
        iss = sq.add(entry.snd_nxt, 65535 + 2)  # far above anything the old one sent
        self.time_wait.end(entry, "")
        child = self._new_connection(key, iss)
        child.state = State.TIME_WAIT  # so the trace shows TIME_WAIT -> SYN_RCVD
        child.listener = listener
        child.passive = True
        child.reuseaddr = listener.reuseaddr
        listener.peer_opened(key[2])
        self._count_child(listener, key)
        if listener.setup is not None:
            listener.setup(child)  # socket options are inherited, as for any child
        listener.half_open[key] = child
        child.accept_syn(seg)
        self.reschedule(child)
        return True

    def reply_rst(self, key: ConnKey, seg: TcpSegment) -> None:
        """RST for a segment that matches nothing (RFC 9293 3.10.7.1); never to a RST."""
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            reply = TcpSegment(key[1], key[3], seg.ack, 0, RST, 0)
        else:
            reply = TcpSegment(key[1], key[3], 0, sq.add(seg.seq, seg.seg_len), RST | ACK, 0)
        self._emit_segment(key, reply, False)

    # ------------------------------------------------------------------ for connections

    def emit(self, conn: Connection, segment: TcpSegment, retransmission: bool) -> None:
        if self.tracer is not None or segment.flags & RST:
            self._emit_segment(conn.key, segment, retransmission)
            if conn.ecn_ok and segment.payload and not retransmission:
                self._mark_ect()
            return
        key = conn.key  # the common case of _emit_segment, inline: once per segment sent
        self._out.append(build_tcp_packet(segment, key[0], key[2]))
        if not retransmission:
            self.counters["TcpOutSegs"] += 1
        if conn.ecn_ok and segment.payload and not retransmission:
            self._mark_ect()

    def emit_ts(
        self,
        conn: Connection,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        urgent: int,
        timestamp: tuple[int, int],
        payload: bytes,
        retransmission: bool,
    ) -> None:
        key = conn.key
        if self.tracer is not None or flags & RST:
            # The tracer gets the segment, as from emit.
            options = TcpOptions(None, None, False, (), timestamp)
            segment = TcpSegment(key[1], key[3], seq, ack, flags, window, urgent, options, payload)
            self._emit_segment(key, segment, retransmission)
            if conn.ecn_ok and payload and not retransmission:
                self._mark_ect()
            return
        self._out.append(
            build_tcp_ts_packet(
                key[0], key[2], key[1], key[3], seq, ack, flags, window, urgent, timestamp, payload
            )
        )
        if not retransmission:
            self.counters["TcpOutSegs"] += 1
        if conn.ecn_ok and payload and not retransmission:
            self._mark_ect()

    def _mark_ect(self) -> None:
        """ECT(0) on the packet just queued: new data of an ECN connection (RFC 3168
        6.1.2); pure ACKs (6.1.4), retransmissions (6.1.5) and SYNs stay Not-ECT."""
        self._out[-1] = with_ecn(self._out[-1], ECN_ECT0)

    def send_segment(self, key: ConnKey, segment: TcpSegment, retransmission: bool) -> None:
        """Send for a listener (a SYN-cache entry has no connection to send with)."""
        self._emit_segment(key, segment, retransmission)

    def _emit_segment(self, key: ConnKey, segment: TcpSegment, retransmission: bool) -> None:
        self._out.append(build_tcp_packet(segment, key[0], key[2]))
        if not retransmission:
            self.counters["TcpOutSegs"] += 1
        if segment.flags & RST:
            self.counters["TcpOutRsts"] += 1
        if self.tracer is not None:
            self.tracer(
                SegmentSent(self.now, key, segment, retransmission, self._window(key, segment))
            )

    def _window(self, key: ConnKey, segment: TcpSegment) -> int:
        """The window a segment we send offers, in bytes (RFC 7323: never scaled on a SYN)."""
        conn = self.connections.get(key)
        if segment.flags & SYN:
            return segment.window
        if conn is None:
            entry = self.time_wait.get(key)
            return segment.window << entry.rcv_wscale if entry is not None else segment.window
        if not conn.ws_ok:
            return segment.window
        return segment.window << conn.rcv_wscale

    def send_for(self, key: ConnKey, segment: TcpSegment) -> None:
        """A segment from a TIME-WAIT entry."""
        self._emit_segment(key, segment, False)

    def time_wait_full(self) -> bool:
        return self.time_wait.full()

    def reschedule(self, conn: Connection) -> None:
        """Keep one live heap entry per connection at its earliest deadline.

        Called after every piece of processing, which makes it the place to trace what
        the processing changed (timers, windows, congestion state).
        """
        if self.tracer is not None:
            conn.trace_changes(self.tracer)
        if conn.state is _TIME_WAIT:
            if self.connections.get(conn.key) is conn:
                self._hand_to_time_wait(conn)
            return
        deadline = conn.deadline()
        if deadline is None:
            return
        current = conn.heap_at
        if current is not None and current <= deadline:
            return  # the earlier entry wakes us; on_timer re-arms what is left
        conn.heap_at = deadline
        self._heap_counter += 1
        heapq.heappush(self._heap, (deadline, self._heap_counter, conn))

    def _hand_to_time_wait(self, conn: Connection) -> None:
        """TIME-WAIT goes on as a compact entry; the connection object is let go."""
        del self.connections[conn.key]
        conn.heap_at = None
        expiry = conn.state_at if conn.state_at is not None else self.now
        conn.state_at = None
        conn.trace_marks = None  # the entry traces from here on
        self.time_wait.add(conn, expiry)
        self._uncap(conn.key)

    def schedule_timer(self, owner: Timed, deadline: int) -> None:
        """Keep one live heap entry for ``owner`` (a listener) at its earliest deadline."""
        current = owner.heap_at
        if current is not None and current <= deadline:
            return
        owner.heap_at = deadline
        self._heap_counter += 1
        heapq.heappush(self._heap, (deadline, self._heap_counter, owner))

    def release(self, conn: Connection) -> None:
        if self.connections.get(conn.key) is conn:
            del self.connections[conn.key]
            self._uncap(conn.key)
        elif self.time_wait.entries:
            self.time_wait.forget_owner(conn)
        conn.heap_at = None

    def _uncap(self, key: ConnKey) -> None:
        """A child of a per-peer-capped listener is gone: its peer may connect again."""
        capped = self._capped.pop(key, None)
        if capped is not None:
            capped.peer_closed(key[2])

    def _count_child(self, listener: Listener, key: ConnKey) -> None:
        if listener.max_per_peer is not None:
            self._capped[key] = listener

    def spawn_child(self, listener: Listener, key: ConnKey, seg: TcpSegment) -> Connection:
        child = self._new_connection(key, self._isn(key))
        child.state = State.LISTEN
        child.listener = listener
        child.passive = True
        child.reuseaddr = listener.reuseaddr
        self._count_child(listener, key)
        if listener.setup is not None:
            listener.setup(child)  # socket options are inherited, as a kernel clones them
        child.accept_syn(seg)
        self.reschedule(child)
        return child

    def adopt_entry(self, listener: Listener, entry: SynEntry) -> Connection:
        """The connection a SYN-cache entry stood for, in SYN_RCVD and in the table."""
        key = entry.key
        child = self._new_connection(key, entry.iss)
        child.listener = listener
        child.reuseaddr = listener.reuseaddr
        self._count_child(listener, key)  # the listener counted the peer with the entry
        if listener.setup is not None:
            listener.setup(child)  # socket options are inherited, as a kernel clones them
        flags = entry.flags
        child.restore_syn_rcvd(
            entry.irs,
            entry.window,
            entry.mss,
            entry.wscale if flags & WS_OK else None,
            entry.ts_recent if flags & TS_OK else None,
            bool(flags & SACK_OK),
            bool(flags & SACK_NEGOTIATED),
            entry.retries,
            listener.entry_deadline(entry),
            entry.born,
        )
        child.ecn_ok = bool(flags & ECN_OK)
        self.reschedule(child)
        return child

    def send_cookie_synack(self, key: ConnKey, seg: TcpSegment) -> None:
        """Answer a SYN statelessly: the ISS is a SYN cookie (Linux's encoding)."""
        cfg = self.config
        v6 = len(key[0]) == 16
        peer = seg.options
        peer_mss = peer.mss if peer is not None and peer.mss else None
        if peer_mss is None:
            peer_mss = cfg.mss_default_v6 if v6 else cfg.mss_default_v4
        iss, _ = make_cookie(
            self.cookie_secrets, key[2], key[0], key[3], key[1], seg.seq, peer_mss, self.now, v6
        )
        ours = TcpOptions(mss=cfg.mtu - (60 if v6 else 40))
        peer_wscale = peer.wscale if peer is not None and cfg.window_scaling else None
        if peer_wscale is not None:
            ours.wscale = window_scale_for(cfg)
        sack = bool(peer is not None and peer.sack_permitted and cfg.sack)
        ours.sack_permitted = sack
        if peer is not None and peer.timestamp is not None and cfg.timestamps:
            clock = (self.now // 1000 + self._ts_offset(key)) & sq.MASK
            ours.timestamp = (encode_ts_options(clock, peer_wscale, sack, False), peer.timestamp[0])
        reply = TcpSegment(
            key[1], key[3], iss, sq.add(seg.seq, 1), SYN | ACK, min(cfg.rmem, 0xFFFF), 0, ours
        )
        self._emit_segment(key, reply, False)

    def accept_cookie(self, listener: Listener, key: ConnKey, seg: TcpSegment) -> bool:
        """Validate an ACK as a SYN cookie; True when it was one (child made, or dropped)."""
        cfg = self.config
        v6 = len(key[0]) == 16
        mss = check_cookie(
            self.cookie_secrets, key[2], key[0], key[3], key[1], seg.seq, seg.ack, self.now, v6
        )
        counters = self.counters
        if mss is None:
            counters["TcpExtSyncookiesFailed"] += 1
            return False
        stamp = seg.options.timestamp if seg.options is not None else None
        peer_wscale: int | None = None
        peer_sack = False
        if stamp is not None and cfg.timestamps:
            decoded = decode_ts_options(
                stamp[1], sack_enabled=cfg.sack, window_scaling=cfg.window_scaling
            )
            if decoded is None:
                counters["TcpExtSyncookiesFailed"] += 1
                return False
            peer_wscale, peer_sack = decoded[0], decoded[1]
        counters["TcpExtSyncookiesRecv"] += 1
        if not listener.peer_admits(key[2]):
            return True  # dropped and counted: this peer has its share
        if listener.accept_queue_full():
            counters["TcpExtListenOverflows"] += 1
            counters["TcpExtListenDrops"] += 1
            return True  # dropped: the client retransmits, the cookie stays valid a while
        child = self._new_connection(key, sq.add(seg.ack, -1))
        child.state = State.LISTEN
        child.listener = listener
        child.reuseaddr = listener.reuseaddr
        listener.peer_opened(key[2])
        self._count_child(listener, key)
        child.accept_cookie(
            seg, mss, peer_wscale, stamp is not None and cfg.timestamps, sack=peer_sack
        )
        return True

    def release_listener(self, listener: Listener) -> None:
        if self.listeners.get((listener.address, listener.port)) is listener:
            del self.listeners[(listener.address, listener.port)]

    # ------------------------------------------------------------------ user calls

    def isn_for(self, key: ConnKey) -> int:
        """A fresh initial sequence number for ``key`` (RFC 6528)."""
        return self._isn(key)

    def _isn(self, key: ConnKey) -> int:
        """RFC 6528: a 4-microsecond clock plus a keyed hash of the connection's addresses."""
        if self.isn_hook is not None:
            return self.isn_hook(key) & sq.MASK
        digest = hashlib.blake2s(
            key[0] + key[1].to_bytes(2, "big") + key[2] + key[3].to_bytes(2, "big"),
            key=self.isn_key,
            digest_size=4,
        ).digest()
        return (self.now // 4 + int.from_bytes(digest, "big")) & sq.MASK

    def ts_offset_for(self, key: ConnKey) -> int:
        """The timestamp clock's offset for ``key``'s peer (RFC 7323 section 5.4)."""
        return self._ts_offset(key)

    def _ts_offset(self, key: ConnKey) -> int:
        digest = hashlib.blake2s(b"ts" + key[0] + key[2], key=self.isn_key, digest_size=4).digest()
        return int.from_bytes(digest, "big")

    def _new_connection(self, key: ConnKey, iss: int) -> Connection:
        local = self._own_addresses.get(key[0])
        if local is not None and local is not key[0]:
            key = (local, key[1], key[2], key[3])
        conn = Connection(self, key, self.config, iss, self.now, self._ts_offset(key))
        self.connections[key] = conn
        return conn

    def _local_address_for(self, remote: bytes) -> bytes:
        family = [a for a in self.addresses if len(a) == len(remote)]
        if not family:
            raise _error(errno.ENETUNREACH)
        return min(family)

    def _port_in_use(self, address: bytes, port: int, reuseaddr: bool) -> bool:
        """Linux bind() rules, simplified: see SO_REUSEADDR in REFERENCE.md."""
        for binding in self.bindings:
            if (
                binding.port == port
                and _overlaps(binding.address, address)
                and not (reuseaddr and binding.reuseaddr)
            ):
                return True
        for lst in self.listeners.values():
            if lst.port == port and _overlaps(lst.address, address):
                return True
        for conn in self.connections.values():
            if conn.key[1] == port and _overlaps(conn.key[0], address):
                if conn.state is State.TIME_WAIT:
                    if not reuseaddr:
                        return True
                elif not (reuseaddr and conn.reuseaddr):
                    return True
        if not reuseaddr:
            for entry in self.time_wait:
                key = entry.key
                if key[1] == port and _overlaps(key[0], address):
                    return True
        return False

    def bind(self, address: str | bytes | None, port: int, reuseaddr: bool = False) -> Binding:
        """Reserve a local address and port (0 picks an ephemeral one)."""
        packed = pack_address(address) if address else b""
        if packed and packed not in self.addresses:
            raise _error(errno.EADDRNOTAVAIL)
        if not 0 <= port <= 65535:
            raise OverflowError("bind(): port must be 0-65535.")
        if port == 0:
            port = self._ephemeral_port(lambda p: self._port_in_use(packed, p, reuseaddr))
        elif self._port_in_use(packed, port, reuseaddr):
            raise _error(errno.EADDRINUSE)
        binding = Binding(packed, port, reuseaddr)
        self.bindings.append(binding)
        return binding

    def unbind(self, binding: Binding) -> None:
        if binding in self.bindings:
            self.bindings.remove(binding)

    def _ephemeral_port(self, taken: Callable[[int], bool]) -> int:
        low, high = self.config.ephemeral_low, self.config.ephemeral_high
        span = high - low + 1
        start = self.rng.randrange(span)
        for i in range(span):
            port = low + (start + i) % span
            if not taken(port):
                return port
        raise _error(errno.EADDRNOTAVAIL)

    def listen(
        self, binding: Binding, backlog: int = 128, max_per_peer: int | None = None
    ) -> Listener:
        """Turn a bound address into a listener (CLOSED -> LISTEN); ``max_per_peer``
        caps its connections from any one remote address."""
        if binding not in self.bindings:
            raise _error(errno.EINVAL)
        for lst in self.listeners.values():
            if lst.port == binding.port and _overlaps(lst.address, binding.address):
                raise _error(errno.EADDRINUSE)
        self.bindings.remove(binding)
        listener = Listener(
            self,
            binding.address,
            binding.port,
            backlog,
            self.config,
            binding.reuseaddr,
            max_per_peer,
        )
        self.listeners[(binding.address, binding.port)] = listener
        return listener

    def connect(
        self,
        remote: str | bytes,
        remote_port: int,
        binding: Binding | None = None,
        setup: Callable[[Connection], None] | None = None,
    ) -> Connection:
        """Active open: a new connection in SYN_SENT with its SYN queued for transmit()."""
        raddr = pack_address(remote)
        if not 0 < remote_port <= 65535:
            raise OverflowError("connect(): port must be 1-65535.")
        if binding is not None:
            laddr = binding.address or self._local_address_for(raddr)
            lport = binding.port
            if (laddr, lport, raddr, remote_port) in self.connections:
                raise _error(errno.EADDRINUSE)
            if not self._time_wait_allows((laddr, lport, raddr, remote_port)):
                raise _error(errno.EADDRNOTAVAIL)  # Linux __inet_check_established
            self.unbind(binding)
            reuse = binding.reuseaddr
        else:
            laddr = self._local_address_for(raddr)

            def taken(port: int) -> bool:
                if (laddr, port, raddr, remote_port) in self.connections:
                    return True
                if not self._time_wait_allows((laddr, port, raddr, remote_port)):
                    return True
                return any(b.port == port for b in self.bindings) or any(
                    lst.port == port for lst in self.listeners.values()
                )

            lport = self._ephemeral_port(taken)
            reuse = False
        if len(laddr) != len(raddr):
            raise _error(errno.EAFNOSUPPORT)
        key = (laddr, lport, raddr, remote_port)
        entry = self.time_wait.get(key)
        iss = self._isn(key)
        if entry is not None:
            # tw_reuse: the new connection starts above anything the old one sent, as
            # Linux's tcp_twsk_unique makes it, so the peer's RFC 6191 check admits it.
            iss = sq.add(entry.snd_nxt, 65535 + 2)
            self.time_wait.end(entry, "reuse")
            self.counters["TcpExtTWRecycled"] += 1
        conn = self._new_connection(key, iss)
        conn.reuseaddr = reuse
        if setup is not None:
            setup(conn)
        conn.open_active()
        return conn

    def _time_wait_allows(self, key: ConnKey) -> bool:
        """May an outgoing connection have ``key``? Yes if no TIME-WAIT entry holds it,
        or if tw_reuse lets this one be reused (``connect`` then ends it)."""
        entry = self.time_wait.get(key)
        if entry is None:
            return True
        return self.time_wait.reusable(entry, ipaddress.ip_address(key[0]).is_loopback)

    def open_passive_connection(
        self, local: str | bytes, local_port: int, remote: str | bytes, remote_port: int
    ) -> Connection:
        """RFC 9293's fully specified passive OPEN (a connection object in LISTEN).

        The BSD socket API has no such call; it exists so the engine can show the
        LISTEN -> SYN_SENT arrow (S25).
        """
        key = (pack_address(local), local_port, pack_address(remote), remote_port)
        if key in self.connections:
            raise _error(errno.EADDRINUSE)
        conn = self._new_connection(key, self._isn(key))
        conn.open_passive()
        return conn

    # ------------------------------------------------------------------ inspection

    def syn_entries(self) -> list[SynEntry]:
        """Every half-open SYN-cache entry of every listener (SYN_RCVD, no connection)."""
        return [
            entry
            for listener in self.listeners.values()
            if listener.syncache is not None
            for entry in listener.syncache.entries()
        ]

    def syn_entry(self, key: ConnKey) -> SynEntry | None:
        listener = self._listener_for(key)
        return listener.entry(key) if listener is not None else None

    def snapshot_counters(self) -> dict[str, int]:
        """Every standard counter (zeros included) plus any other that moved."""
        out = {name: self.counters[name] for name in STANDARD_COUNTERS}
        out.update(self.counters)
        out["TcpCurrEstab"] = sum(
            1 for c in self.connections.values() if c.state in (State.ESTABLISHED, State.CLOSE_WAIT)
        )
        return out


def _overlaps(a: bytes, b: bytes) -> bool:
    """Two local addresses collide if equal or if either is the wildcard."""
    return not a or not b or a == b
