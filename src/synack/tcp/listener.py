"""A BSD-style listening socket: half-open children and the accept queue.

Each SYN forks a child connection in SYN_RCVD; the child joins the accept queue when the
handshake completes. The listener itself stays in LISTEN. (Compact SYN-cache entries and
SYN cookies replace the full child objects in the listener-defence work.)
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

from synack.tcp.connection import Connection
from synack.tcp.events import ConnKey, StateChange
from synack.tcp.state import State
from synack.wire.tcp import ACK, FIN, RST, SYN, TcpSegment

if TYPE_CHECKING:
    from collections.abc import Callable

    from synack.tcp.config import TcpConfig
    from synack.tcp.events import Tracer


#: How long after a SYN-queue overflow ACKs are still checked as cookies (Linux: 2 min).
COOKIE_VALIDITY_US = 120_000_000


class ListenerHost(Protocol):
    """What a listener needs from its stack."""

    tracer: Tracer | None
    now: int

    @property
    def counters(self) -> dict[str, int]: ...

    def spawn_child(self, listener: Listener, key: ConnKey, seg: TcpSegment) -> Connection: ...

    def send_cookie_synack(self, key: ConnKey, seg: TcpSegment) -> None: ...

    def accept_cookie(self, listener: Listener, key: ConnKey, seg: TcpSegment) -> bool: ...

    def reply_rst(self, key: ConnKey, seg: TcpSegment) -> None: ...

    def release_listener(self, listener: Listener) -> None: ...


class Listener:
    """LISTEN on (address, port); address b"" means every local address."""

    __slots__ = (
        "accept_queue",
        "address",
        "backlog",
        "config",
        "half_open",
        "host",
        "last_overflow_us",
        "port",
        "reuseaddr",
        "setup",
        "state",
        "wake",
    )

    def __init__(
        self,
        host: ListenerHost,
        address: bytes,
        port: int,
        backlog: int,
        config: TcpConfig,
        reuseaddr: bool = False,
    ) -> None:
        self.host = host
        self.address = address
        self.port = port
        self.config = config
        self.backlog = max(0, min(backlog, config.somaxconn))
        self.accept_queue: deque[Connection] = deque()
        self.half_open: dict[ConnKey, Connection] = {}
        self.reuseaddr = reuseaddr
        self.wake: Callable[[], None] | None = None
        #: Gives each child the listening socket's options before it answers the SYN.
        self.setup: Callable[[Connection], None] | None = None
        self.last_overflow_us: int | None = None  # when the SYN queue last overflowed
        self.state = State.CLOSED
        self._set_state(State.LISTEN, "listen")

    @property
    def key(self) -> ConnKey:
        return (self.address, self.port, b"", 0)

    def _set_state(self, new: State, reason: str) -> None:
        old, self.state = self.state, new
        tracer = self.host.tracer
        if tracer is not None:
            tracer(StateChange(self.host.now, self.key, old, new, reason))

    def __repr__(self) -> str:
        return f"<Listener port={self.port} backlog={self.backlog} queued={len(self.accept_queue)}>"

    def segment_arrives(self, key: ConnKey, seg: TcpSegment) -> None:
        """LISTEN processing of RFC 9293 3.10.7.2 for a segment matching no connection."""
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            if flags & SYN and not self.config.listen_rst_synack:
                return
            # Perhaps the third ACK of a handshake we answered with a SYN cookie.
            if (
                not flags & SYN
                and self._cookies_active()
                and self.host.accept_cookie(self, key, seg)
            ):
                return
            self.host.reply_rst(key, seg)
            return
        if not flags & SYN or (flags & FIN and not self.takes_syn_fin()):
            return
        counters = self.host.counters
        if self._drop_for_full_accept_queue():
            return
        cookies = self.config.syncookies
        queue_full = len(self.half_open) >= self.config.max_syn_backlog
        if cookies == 2 or (queue_full and cookies == 1):
            # No state for this SYN: everything the third ACK needs is in our ISS.
            if queue_full:
                self.last_overflow_us = self.host.now
                counters["TcpExtTCPReqQFullDoCookies"] += 1
            self.host.send_cookie_synack(key, seg)
            counters["TcpExtSyncookiesSent"] += 1
            return
        if queue_full:
            counters["TcpExtTCPReqQFullDrop"] += 1
            counters["TcpExtListenDrops"] += 1
            return
        child = self.host.spawn_child(self, key, seg)
        self.half_open[key] = child

    def takes_syn_fin(self) -> bool:
        """SYN+FIN is nonsense (a scan or an attack): Linux discards it in LISTEN, FreeBSD
        opens as for a SYN unless told to drop it."""
        return self.config.listen_synfin and not self.config.drop_synfin

    def _cookies_active(self) -> bool:
        """Check ACKs as cookies always (syncookies=2) or within 2 minutes of an overflow."""
        cookies = self.config.syncookies
        if cookies == 2:
            return True
        last = self.last_overflow_us
        return cookies == 1 and last is not None and self.host.now - last < COOKIE_VALIDITY_US

    def admits_reopen(self) -> bool:
        """May a SYN reopen a TIME-WAIT pair (RFC 6191)? Admitted like any SYN, except that
        no cookie can stand in: its ACK would meet the TIME-WAIT entry, not the listener.
        A refused SYN is dropped and counted; the peer sends it again."""
        if self._drop_for_full_accept_queue():
            return False
        if len(self.half_open) >= self.config.max_syn_backlog:
            self.host.counters["TcpExtTCPReqQFullDrop"] += 1
            self.host.counters["TcpExtListenDrops"] += 1
            return False
        return True

    def _drop_for_full_accept_queue(self) -> bool:
        """Linux drops SYNs while the accept queue is full; True (and counted) if so."""
        if not self.accept_queue_full():
            return False
        self.host.counters["TcpExtListenOverflows"] += 1
        self.host.counters["TcpExtListenDrops"] += 1
        return True

    def accept_queue_full(self) -> bool:
        """No room for one more established child (a backlog of 0 still admits one)."""
        return len(self.accept_queue) >= max(self.backlog, 1)

    def child_established(self, conn: Connection) -> None:
        self.half_open.pop(conn.key, None)
        self.accept_queue.append(conn)
        if self.wake is not None:
            self.wake()

    def child_failed(self, conn: Connection) -> None:
        self.half_open.pop(conn.key, None)

    def accept(self) -> Connection | None:
        """The oldest established child, or None when none is waiting."""
        while self.accept_queue:
            conn = self.accept_queue.popleft()
            conn.listener = None
            if conn.state is not State.CLOSED or conn.rcv_buf or conn.error is not None:
                return conn
        return None

    def close(self) -> None:
        """Stop listening: children nobody accepted are reset, as on Linux, and those
        still in the handshake are forgotten (Linux sends nothing for a request socket)."""
        for conn in list(self.half_open.values()):
            conn.listener = None
            conn.discard()
        for conn in list(self.accept_queue):
            conn.listener = None
            conn.abort()
        self.half_open.clear()
        self.accept_queue.clear()
        if self.state is State.LISTEN:
            self._set_state(State.CLOSED, "close")
            self.host.release_listener(self)
