"""A BSD-style listening socket: half-open connections and the accept queue.

A SYN becomes a compact SYN-cache entry (`synack.tcp.syncache`, RFC 4987 section 3.5);
the full `Connection` is built when the handshake goes on (the third ACK, or anything
else the entry cannot answer by itself) and joins the accept queue once ESTABLISHED.
The cache holds ``syncache_buckets`` x ``syncache_bucket_limit`` entries whatever the
listen backlog, as FreeBSD's does: its entries are small enough that holding many costs
less than turning clients away. With ``TcpConfig.syn_cache`` off, each SYN forks a full
child in SYN_RCVD at once, kept in ``half_open`` and bounded by ``max_syn_backlog``, as
older stacks did. Under overflow SYN cookies answer without any state. The listener
itself stays in LISTEN.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

from synack.tcp import seq as sq
from synack.tcp.connection import (
    MAX_WINDOW,
    Connection,
    freebsd_syn_layout,
    least_window_scale,
    window_scale_for,
)
from synack.tcp.events import (
    RETRANSMISSION,
    ConnKey,
    StateChange,
    TimerFired,
    TimerSet,
    TimerStopped,
)
from synack.tcp.state import State
from synack.tcp.syncache import (
    ACKED,
    ECN_OK,
    SACK_NEGOTIATED,
    SACK_OFFERED,
    SACK_OK,
    TS_OK,
    WS_OK,
    SynCache,
    SynEntry,
    timeout_offsets,
)
from synack.wire.tcp import ACK, CWR, ECE, FIN, RST, SYN, TcpOptions, TcpSegment

if TYPE_CHECKING:
    from collections.abc import Callable

    from synack.tcp.config import TcpConfig
    from synack.tcp.events import Tracer


#: How long after a SYN-queue overflow ACKs are still checked as cookies (Linux: 2 min).
COOKIE_VALIDITY_US = 120_000_000

_NO_WSCALE = 15  # SynEntry.wscale when the SYN had no window-scale option
_MAX_RETRIES = 255  # Linux keeps SYN,ACK timeouts (and TCP_DEFER_ACCEPT) in a u8


class ListenerHost(Protocol):
    """What a listener needs from its stack."""

    tracer: Tracer | None
    now: int
    syncache_secret: bytes

    @property
    def counters(self) -> dict[str, int]: ...

    def spawn_child(self, listener: Listener, key: ConnKey, seg: TcpSegment) -> Connection: ...

    def adopt_entry(self, listener: Listener, entry: SynEntry) -> Connection: ...

    def send_cookie_synack(self, key: ConnKey, seg: TcpSegment) -> None: ...

    def accept_cookie(self, listener: Listener, key: ConnKey, seg: TcpSegment) -> bool: ...

    def reply_rst(self, key: ConnKey, seg: TcpSegment) -> None: ...

    def send_segment(self, key: ConnKey, segment: TcpSegment, retransmission: bool) -> None: ...

    def isn_for(self, key: ConnKey) -> int: ...

    def ts_offset_for(self, key: ConnKey) -> int: ...

    def schedule_timer(self, owner: Listener, deadline: int) -> None: ...

    def release_listener(self, listener: Listener) -> None: ...


def defer_accept_retransmissions(seconds: int, initial_s: int, max_s: int) -> int:
    """TCP_DEFER_ACCEPT seconds as the SYN,ACK timeouts that cover them (Linux
    secs_to_retrans): 0 is off; otherwise the count whose summed timeouts reach it."""
    if seconds <= 0:
        return 0
    timeout = period = max(initial_s, 1)
    count = 1
    while seconds > period and count < _MAX_RETRIES:
        count += 1
        timeout = min(timeout << 1, max_s)
        period += timeout
    return count


def defer_accept_seconds(retransmissions: int, initial_s: int, max_s: int) -> int:
    """What getsockopt(TCP_DEFER_ACCEPT) reports: the period the count covers."""
    if retransmissions <= 0:
        return 0
    timeout = period = max(initial_s, 1)
    for _ in range(retransmissions - 1):
        timeout = min(timeout << 1, max_s)
        period += timeout
    return period


class Listener:
    """LISTEN on (address, port); address b"" means every local address."""

    __slots__ = (
        "_offsets",
        "accept_queue",
        "address",
        "backlog",
        "config",
        "defer_accept",
        "half_open",
        "heap_at",
        "host",
        "last_overflow_us",
        "max_per_peer",
        "noopt",
        "per_peer",
        "port",
        "rcvbuf",
        "reuseaddr",
        "setup",
        "state",
        "syncache",
        "user_mss",
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
        max_per_peer: int | None = None,
    ) -> None:
        self.host = host
        self.address = address
        self.port = port
        self.config = config
        self.backlog = max(0, min(backlog, config.somaxconn))
        self.accept_queue: deque[Connection] = deque()
        #: Half-open children that are full connection objects (syn_cache off, a SYN
        #: that reopened TIME-WAIT, or an entry a segment turned into a connection).
        self.half_open: dict[ConnKey, Connection] = {}
        self.syncache: SynCache | None = None  # made at the first SYN that needs it
        self.heap_at: int | None = None  # the stack's timer for the SYN cache
        self._offsets: tuple[int, int, tuple[int, ...]] | None = None
        self.reuseaddr = reuseaddr
        self.wake: Callable[[], None] | None = None
        #: Gives each child the listening socket's options before it answers the SYN.
        self.setup: Callable[[Connection], None] | None = None
        #: The listening socket's TCP_MAXSEG (0: none) and SO_RCVBUF (None: the sysctl),
        #: which a SYN,ACK from the SYN cache honours as a child's would.
        self.user_mss = 0
        self.rcvbuf: int | None = None
        self.noopt = False  # TCP_NOOPT: SYN,ACKs carry no options, so none are agreed
        self.last_overflow_us: int | None = None  # when the SYN queue last overflowed
        #: TCP_DEFER_ACCEPT as a count of SYN,ACK timeouts (0: off), as Linux keeps it.
        self.defer_accept = 0
        #: At most this many connections (half-open or not) per remote address.
        self.max_per_peer = max_per_peer
        self.per_peer: dict[bytes, int] = {}
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

    # ------------------------------------------------------------------ settings

    def set_defer_accept(self, seconds: int) -> None:
        """TCP_DEFER_ACCEPT: wake accept() only when data arrives, waiting about
        ``seconds`` (rounded up to whole SYN,ACK timeouts) before giving up on it."""
        cfg = self.config
        self.defer_accept = defer_accept_retransmissions(
            seconds, cfg.rto_initial_us // 1_000_000, cfg.rto_max_us // 1_000_000
        )

    def defer_accept_seconds(self) -> int:
        cfg = self.config
        return defer_accept_seconds(
            self.defer_accept, cfg.rto_initial_us // 1_000_000, cfg.rto_max_us // 1_000_000
        )

    def half_open_count(self) -> int:
        """Half-open connections, entries and full objects alike."""
        return len(self.half_open) + (len(self.syncache) if self.syncache is not None else 0)

    def half_open_limit(self) -> int:
        """How many half-open connections the listener keeps: the SYN cache's size when
        SYNs go to the cache, else max_syn_backlog (a full Connection each)."""
        cfg = self.config
        if cfg.syn_cache or self.defer_accept:
            return cfg.syncache_buckets * cfg.syncache_bucket_limit
        return cfg.max_syn_backlog

    # ------------------------------------------------------------------ arrival

    def segment_arrives(self, key: ConnKey, seg: TcpSegment) -> None:
        """LISTEN processing of RFC 9293 3.10.7.2 for a segment matching no connection."""
        cache = self.syncache
        if cache is not None and cache.count:
            entry = cache.get(key)
            if entry is not None:
                self._entry_segment(entry, seg)
                return
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
        if not self.peer_admits(key[2]):
            return
        cookies = self.config.syncookies
        use_cache = self.config.syn_cache or self.defer_accept
        room = 0
        if use_cache:
            syn_cache = self._cache()
            room = syn_cache.limit
            queue_full = syn_cache.full_for(key) or not room
        else:
            queue_full = len(self.half_open) >= self.config.max_syn_backlog
        if cookies == 2 or (queue_full and cookies == 1):
            # No state for this SYN: everything the third ACK needs is in our ISS.
            if queue_full:
                self.last_overflow_us = self.host.now
                counters["TcpExtTCPReqQFullDoCookies"] += 1
            self.host.send_cookie_synack(key, seg)
            counters["TcpExtSyncookiesSent"] += 1
            return
        if room:
            self._add_entry(key, seg)
            return
        if queue_full:
            counters["TcpExtTCPReqQFullDrop"] += 1
            counters["TcpExtListenDrops"] += 1
            return
        self.peer_opened(key[2])
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

    def admits_reopen(self, peer: bytes) -> bool:
        """May a SYN from ``peer`` reopen a TIME-WAIT pair (RFC 6191)? Admitted like any
        SYN, the per-peer cap included, except that no cookie can stand in: its ACK would
        meet the TIME-WAIT entry, not the listener, and it is a full Connection at once, so
        max_syn_backlog bounds such children. A refused SYN is dropped and counted; the
        peer sends it again."""
        if self._drop_for_full_accept_queue() or not self.peer_admits(peer):
            return False
        full_children = len(self.half_open) >= self.config.max_syn_backlog
        if full_children or self.half_open_count() >= self.half_open_limit():
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

    # ------------------------------------------------------------------ per-peer cap

    def peer_admits(self, peer: bytes) -> bool:
        """Room for one more connection from ``peer``; a refusal is counted."""
        cap = self.max_per_peer
        if cap is None or self.per_peer.get(peer, 0) < cap:
            return True
        self.host.counters["SynackPerPeerDrops"] += 1
        return False

    def peer_opened(self, peer: bytes) -> None:
        if self.max_per_peer is not None:
            self.per_peer[peer] = self.per_peer.get(peer, 0) + 1

    def peer_closed(self, peer: bytes) -> None:
        count = self.per_peer.get(peer, 0) - 1
        if count > 0:
            self.per_peer[peer] = count
        else:
            self.per_peer.pop(peer, None)

    # ------------------------------------------------------------------ the SYN cache

    def _cache(self) -> SynCache:
        cache = self.syncache
        if cache is None:
            cfg = self.config
            cache = self.syncache = SynCache(
                self.host.syncache_secret,
                cfg.syncache_buckets,
                cfg.syncache_bucket_limit,
                self.half_open_limit(),
            )
        # Full connection objects still half-open take their room from the entries.
        cache.limit = max(self.half_open_limit() - len(self.half_open), 0)
        return cache

    def entry_deadline(self, entry: SynEntry) -> int:
        """When the entry's next SYN,ACK timeout fires."""
        cfg = self.config
        memo = self._offsets
        if memo is None or memo[0] != cfg.rto_initial_us or memo[1] != cfg.rto_max_us:
            offsets = timeout_offsets(cfg.rto_initial_us, cfg.rto_max_us, _MAX_RETRIES + 1)
            memo = self._offsets = (cfg.rto_initial_us, cfg.rto_max_us, offsets)
        return entry.born + memo[2][entry.retries]

    def _add_entry(self, key: ConnKey, seg: TcpSegment) -> None:
        cfg = self.config
        host = self.host
        now = host.now
        opts = seg.options
        v6 = len(key[0]) == 16
        peer_mss = cfg.mss_default_v6 if v6 else cfg.mss_default_v4
        wscale = _NO_WSCALE
        flags = 0
        ts_recent = 0
        if self.noopt and opts is not None:
            opts = TcpOptions(mss=opts.mss)
        if cfg.ecn and seg.flags & (ECE | CWR) == ECE | CWR:
            flags |= ECN_OK
        if opts is not None:
            if opts.mss:
                peer_mss = opts.mss
            if opts.wscale is not None and cfg.window_scaling:
                flags |= WS_OK
                wscale = min(opts.wscale, 14)
            if opts.timestamp is not None and cfg.timestamps:
                flags |= TS_OK
                ts_recent = opts.timestamp[0]
            if opts.sack_permitted and cfg.sack:
                flags |= SACK_NEGOTIATED | (SACK_OK if cfg.send_sack else 0)
        if cfg.sack and (opts is None or opts.sack_permitted) and not self.noopt:
            flags |= SACK_OFFERED
        entry = SynEntry(
            key, host.isn_for(key), seg.seq, seg.window, peer_mss, wscale, flags, ts_recent, now
        )
        cache = self._cache()
        evicted = cache.add(entry)
        counters = host.counters
        if evicted is not None:
            counters["SynackSyncacheEvictions"] += 1
            self._entry_ended(evicted, "evicted", fired=False, removed=True)
        counters["TcpPassiveOpens"] += 1
        self.peer_opened(key[2])
        tracer = host.tracer
        if tracer is not None:
            tracer(StateChange(now, key, State.LISTEN, State.SYN_RCVD, "syn"))
        host.send_segment(key, self._synack(entry, False), False)
        deadline = self.entry_deadline(entry)
        if tracer is not None:
            tracer(TimerSet(now, key, RETRANSMISSION, deadline))
        if self.heap_at is None or deadline < self.heap_at:
            host.schedule_timer(self, deadline)

    def _synack(self, entry: SynEntry, retransmission: bool) -> TcpSegment:
        """The SYN,ACK a child in SYN_RCVD would send (its first, or a repeat)."""
        cfg = self.config
        key = entry.key
        flags = entry.flags
        mss = cfg.mtu - (60 if len(key[0]) == 16 else 40)
        opts = TcpOptions(mss=min(mss, self.user_mss) if self.user_mss else mss)
        rcvbuf = self.rcvbuf
        if flags & WS_OK:
            if rcvbuf is not None and cfg.rcvbuf_sets_wscale:
                opts.wscale = least_window_scale(rcvbuf)
            else:
                opts.wscale = window_scale_for(cfg)
        if cfg.sack if retransmission else flags & SACK_OFFERED:
            opts.sack_permitted = True
        if flags & TS_OK:
            clock = (self.host.now // 1000 + self.host.ts_offset_for(key)) & sq.MASK
            opts.timestamp = (clock, entry.ts_recent)
        if cfg.syn_option_layout == "freebsd":
            opts.layout = freebsd_syn_layout(opts)
        window = min(cfg.rmem if rcvbuf is None else rcvbuf, MAX_WINDOW)
        ece = ECE if flags & ECN_OK else 0
        return TcpSegment(
            key[1],
            key[3],
            entry.iss,
            sq.add(entry.irs, 1),
            SYN | ACK | ece,
            window,
            0,
            None if self.noopt else opts,
        )

    def _resend_synack(self, entry: SynEntry) -> None:
        self.host.counters["TcpRetransSegs"] += 1
        self.host.send_segment(entry.key, self._synack(entry, True), True)

    def _entry_segment(self, entry: SynEntry, seg: TcpSegment) -> None:
        """A segment for a half-open entry: answer the easy cases here, else hand it to
        the connection the entry stands for (RFC 9293 3.10.7.4 in SYN-RECEIVED)."""
        flags = seg.flags
        if flags & (SYN | ACK | RST | FIN) == SYN and seg.seq == entry.irs:
            self._resend_synack(entry)  # the peer repeated its SYN: our SYN,ACK was lost
            return
        counters = self.host.counters
        valid_ack = (
            flags & (SYN | ACK | RST) == ACK
            and seg.seq == sq.add(entry.irs, 1)
            and seg.ack == sq.add(entry.iss, 1)
        )
        if valid_ack:
            if (
                self.defer_accept
                and entry.retries < self.defer_accept
                and not seg.payload
                and not flags & FIN
            ):
                # TCP_DEFER_ACCEPT: a bare ACK wakes nobody; wait for data (Linux).
                entry.flags |= ACKED
                counters["TcpExtTCPDeferAcceptDrop"] += 1
                return
            if self.accept_queue_full():
                counters["TcpExtListenOverflows"] += 1
                counters["TcpExtListenDrops"] += 1
                if self.config.abort_on_overflow:
                    reply = TcpSegment(self.port, entry.key[3], seg.ack, 0, RST, 0)
                    self.host.send_segment(entry.key, reply, False)
                    self._entry_ended(entry, "abort: accept queue full", fired=False)
                return  # dropped: our SYN,ACK timer makes the peer ACK again later
        elif len(self.half_open) >= self.config.max_syn_backlog:
            # Anything else needs a full Connection that stays half-open. The cache holds
            # far more entries than max_syn_backlog, so a spoofer who follows each SYN with
            # a bad segment must not turn them all into connections: drop it, as if lost.
            counters["SynackHalfOpenFullDrops"] += 1
            return
        conn = self.materialize(entry)
        conn.segment_arrives(seg, self.host.now)

    def materialize(self, entry: SynEntry) -> Connection:
        """The full SYN_RCVD connection an entry stands for, in the stack's table."""
        assert self.syncache is not None
        conn = self.host.adopt_entry(self, entry)
        self._forget(entry)
        self.half_open[entry.key] = conn
        return conn

    def _forget(self, entry: SynEntry) -> None:
        """Take an entry out of the cache; an idle cache stops the listener's timer."""
        assert self.syncache is not None
        self.syncache.remove(entry)
        if not self.syncache.count:
            self.heap_at = None

    def entry(self, key: ConnKey) -> SynEntry | None:
        cache = self.syncache
        return cache.get(key) if cache is not None and cache.count else None

    def _entry_ended(
        self, entry: SynEntry, reason: str, fired: bool, removed: bool = False
    ) -> None:
        """An entry dies without becoming a connection (a failed attempt, as for a child)."""
        if not removed:
            self._forget(entry)
        host = self.host
        host.counters["TcpAttemptFails"] += 1
        if self.max_per_peer is not None:
            self.peer_closed(entry.key[2])
        tracer = host.tracer
        if tracer is not None:
            if not fired:
                tracer(TimerStopped(host.now, entry.key, RETRANSMISSION))
            tracer(StateChange(host.now, entry.key, State.SYN_RCVD, State.CLOSED, reason))

    def on_timer(self, now: int) -> None:
        """SYN,ACK timeouts due by ``now``: resend, or give up (Linux reqsk_timer_handler
        and syn_ack_recalc, TCP_DEFER_ACCEPT included)."""
        cache = self.syncache
        if cache is None:
            return
        counters = self.host.counters
        tracer = self.host.tracer
        defer = self.defer_accept
        max_retries = defer or self.config.synack_retries
        level = 0
        while level < len(cache.heads_by_retries()):
            entry = cache.heads_by_retries()[level]
            if entry is None or self.entry_deadline(entry) > now:
                level += 1
                continue
            retries = entry.retries
            acked = entry.flags & ACKED
            if defer:
                expire = retries >= max_retries and (not acked or retries >= defer)
                resend = not acked or retries >= defer - 1
            else:
                expire = retries >= max_retries
                resend = True
            if tracer is not None:
                tracer(TimerFired(now, entry.key, RETRANSMISSION))
            if expire:
                counters["TcpExtTCPAbortOnTimeout"] += 1
                self._entry_ended(entry, "timeout: retransmissions exhausted", fired=True)
                continue
            counters["TcpExtTCPTimeouts"] += 1
            if resend:
                self._resend_synack(entry)
            cache.retried(entry)
            if tracer is not None:
                tracer(TimerSet(now, entry.key, RETRANSMISSION, self.entry_deadline(entry)))
        self._schedule()

    def _schedule(self) -> None:
        cache = self.syncache
        if cache is None:
            return
        heads = cache.heads()
        if heads:
            self.host.schedule_timer(self, min(self.entry_deadline(entry) for entry in heads))

    # ------------------------------------------------------------------ children

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
        if self.syncache is not None:
            for entry in self.syncache.clear():  # forgotten too: a later ACK draws a RST
                self._entry_ended(entry, "abort", fired=False, removed=True)
        self.heap_at = None
        if self.state is State.LISTEN:
            self._set_state(State.CLOSED, "close")
            self.host.release_listener(self)
