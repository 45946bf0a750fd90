"""A smoltcp-style harness: one Stack fed crafted packets, its answers decoded exactly.

Sequence numbers in tests are absolute: our ISS is fixed by ``isn_hook`` (``ISS``) and the
peer's is ``PEER_ISS``, so ``ISS + 1`` is the first byte we send and ``PEER_ISS + 1`` the
first byte the peer sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from synack.scenarios.craft import segment_bytes
from synack.stack import Stack
from synack.tcp.config import LINUX, TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.listener import Listener
from synack.tcp.state import State
from synack.wire import ACK, FIN, PSH, RST, SYN, URG, TcpOptions, flag_letters, parse_ip, parse_tcp

LOCAL = "198.18.0.2"
PEER = "198.18.0.1"
LPORT = 80
PPORT = 40000
ISS = 1000
PEER_ISS = 5000
#: RCV.NXT and SND.NXT of a connection just established by the helpers below.
RCV_NXT = PEER_ISS + 1
SND_NXT = ISS + 1
MSS_500 = TcpOptions(mss=500)
SECOND = 1_000_000
MS = 1_000

_FLAG_BITS = {"S": SYN, "F": FIN, "R": RST, "P": PSH, "U": URG, ".": ACK}

#: (flags as tcpdump writes them, seq, ack, payload length)
Brief = tuple[str, int, int, int]


def flag_bits(letters: str) -> int:
    bits = 0
    for letter in letters:
        bits |= _FLAG_BITS[letter]
    return bits


@dataclass(frozen=True)
class Out:
    """One segment the stack sent, decoded."""

    src: str
    dst: str
    sport: int
    dport: int
    flags: str
    seq: int
    ack: int
    window: int
    payload: bytes
    options: TcpOptions | None

    @property
    def brief(self) -> Brief:
        return (self.flags, self.seq, self.ack, len(self.payload))


def decode_all(packets: list[bytes]) -> list[Out]:
    """Decode what ``transmit()`` returned, checking that every packet is valid TCP/IP."""
    outs = []
    for packet in packets:
        src, dst, protocol, payload = parse_ip(packet)
        assert protocol == 6
        seg = parse_tcp(payload, src, dst)  # verifies the checksum
        outs.append(
            Out(
                ".".join(str(b) for b in src),
                ".".join(str(b) for b in dst),
                seg.src_port,
                seg.dst_port,
                flag_letters(seg.flags),
                seg.seq,
                seg.ack,
                seg.window,
                seg.payload,
                seg.options,
            )
        )
    return outs


class Harness:
    """One stack at LOCAL, a scripted peer at PEER:PPORT talking to LOCAL:LPORT."""

    def __init__(self, config: TcpConfig = LINUX, iss: int = ISS, seed: int = 0) -> None:
        self.stack = Stack([LOCAL], config=config, seed=seed, strict=True)
        self.stack.isn_hook = lambda key: iss
        self.now = 0
        self.iss = iss

    # --- the peer ---------------------------------------------------------------

    def packet(
        self,
        flags: str,
        seq: int,
        ack: int = 0,
        payload: bytes = b"",
        window: int = 65535,
        options: TcpOptions | None = None,
        sport: int = PPORT,
        dport: int = LPORT,
        urgent: int = 0,
    ) -> bytes:
        return segment_bytes(
            PEER, sport, LOCAL, dport, seq, ack, flag_bits(flags), window, payload, options, urgent
        )

    def inject(
        self,
        flags: str,
        seq: int,
        ack: int = 0,
        payload: bytes = b"",
        window: int = 65535,
        options: TcpOptions | None = None,
        at: int | None = None,
        sport: int = PPORT,
        dport: int = LPORT,
    ) -> None:
        """Deliver one segment from the peer at ``at`` (default: the current time)."""
        if at is not None:
            assert at >= self.now, "time runs forward"
            self.now = at
        self.stack.receive(
            self.packet(flags, seq, ack, payload, window, options, sport, dport), self.now
        )

    # --- what the stack sends -----------------------------------------------------

    def out(self) -> list[Out]:
        return decode_all(self.stack.transmit())

    def tx(self) -> list[Brief]:
        return [o.brief for o in self.out()]

    def advance(self, to: int) -> list[Brief]:
        """Jump to ``to``, firing every due timer; what was sent on the way."""
        return [brief for _, brief in self.run_until(to)]

    def run_until(self, end: int) -> list[tuple[int, Brief]]:
        """Step from deadline to deadline up to ``end``: (time, segment) for each send."""
        sent: list[tuple[int, Brief]] = []
        while (deadline := self.stack.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.stack.advance(self.now)
            sent += [(self.now, o.brief) for o in self.out()]
        self.now = max(self.now, end)
        self.stack.advance(self.now)
        sent += [(self.now, o.brief) for o in self.out()]
        return sent

    # --- common openings ------------------------------------------------------------

    def listen(self, backlog: int = 128, reuseaddr: bool = False) -> Listener:
        return self.stack.listen(self.stack.bind(None, LPORT, reuseaddr), backlog)

    def connect(self) -> Connection:
        """Active open from LOCAL:LPORT to PEER:PPORT; the SYN is left in transmit()."""
        return self.stack.connect(PEER, PPORT, binding=self.stack.bind(None, LPORT))

    def conn(self) -> Connection | None:
        """The connection for the test's 4-tuple, if the stack still has one."""
        for key, conn in self.stack.connections.items():
            if key[1] == LPORT and key[3] == PPORT:
                return conn
        return None

    def state(self) -> State:
        conn = self.conn()
        if conn is None and any(
            entry.key[1] == LPORT and entry.key[3] == PPORT
            for listener in self.stack.listeners.values()
            if listener.syncache is not None
            for entry in listener.syncache.entries()
        ):
            return State.SYN_RCVD  # a half-open SYN-cache entry
        return State.CLOSED if conn is None else conn.state


def established_active(
    h: Harness,
    peer_options: TcpOptions | None = None,
    rtt: int = 100 * MS,
    window: int = 65535,
) -> Connection:
    """connect(), SYN,ACK after ``rtt``, our ACK: ESTABLISHED with nothing in flight."""
    conn = h.connect()
    assert [o.flags for o in h.out()] == ["S"]
    opts = TcpOptions(mss=1460) if peer_options is None else peer_options
    h.inject("S.", PEER_ISS, h.iss + 1, window=window, options=opts, at=h.now + rtt)
    assert h.tx() == [(".", h.iss + 1, PEER_ISS + 1, 0)]
    assert conn.state is State.ESTABLISHED
    return conn


def established_passive(
    h: Harness,
    peer_options: TcpOptions | None = None,
    window: int = 65535,
    rtt: int = 100 * MS,
) -> tuple[Listener, Connection]:
    """listen(), the peer's SYN, our SYN,ACK, the peer's ACK, accept()."""
    listener = h.listen()
    opts = TcpOptions(mss=1460) if peer_options is None else peer_options
    h.inject("S", PEER_ISS, window=window, options=opts)
    assert h.tx() == [("S.", h.iss, PEER_ISS + 1, 0)]
    h.inject(".", PEER_ISS + 1, h.iss + 1, window=window, at=h.now + rtt)
    assert h.tx() == []
    conn = listener.accept()
    assert conn is not None and conn.state is State.ESTABLISHED
    return listener, conn


def established(
    config: TcpConfig = LINUX, options: TcpOptions | None = None
) -> tuple[Harness, Connection]:
    """ESTABLISHED after a 100 ms handshake RTT: SRTT 100 ms, RTTVAR 50 ms, RTO 300 ms."""
    h = Harness(config)
    return h, established_active(h, options)
