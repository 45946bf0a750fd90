"""TIME-WAIT as compact entries, the way Linux keeps ``tcp_timewait_sock``.

A connection in TIME-WAIT has nothing left to send and nothing to receive: it only
answers a retransmitted FIN (or a stray segment) with the last ACK, and holds its 4-tuple
for ``timewait_len_us`` so that old duplicates die out. Keeping the whole `Connection`
(buffers, RTO estimator, congestion state) for a minute per closed connection is what lets
a busy server run out of memory, so the stack hands each connection entering TIME-WAIT to
a `TimeWaitTable` and drops it.

Every entry lives the same ``timewait_len_us``, so entries expire in the order they were
queued: a FIFO queue replaces a heap. A retransmitted FIN restarts an entry's wait by
queueing it again at the back; the earlier place is skipped when reached (``queued``
counts an entry's places).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from synack.tcp import seq as sq
from synack.tcp.config import SECOND, TcpConfig
from synack.tcp.events import (
    TIME_WAIT,
    ConnKey,
    StateChange,
    TimerFired,
    TimerSet,
    TimerStopped,
    Tracer,
)
from synack.tcp.state import State
from synack.wire.tcp import ACK, FIN, RST, SYN, TcpOptions, TcpSegment

if TYPE_CHECKING:
    from synack.tcp.connection import Connection

#: tw_reuse=1: a 4-tuple is reused only once its last timestamp is this old (Linux: 1 s).
REUSE_AFTER_US = 1 * SECOND

# Bit layout of `TimeWaitEntry.fields`: everything but the expiry in one integer, which
# keeps an entry to a few small objects (see bench/memory.py).
_SND_NXT, _RCV_NXT, _TS_RECENT, _WINDOW = 0, 32, 64, 96
_RCV_WSCALE, _SND_WSCALE, _TS_OK = 112, 116, 120


def pack_key(key: ConnKey) -> bytes:
    """One bytes object for a 4-tuple: a fifth of the size of the tuple and its parts."""
    return key[0] + key[1].to_bytes(2, "big") + key[2] + key[3].to_bytes(2, "big")


def unpack_key(packed: bytes) -> ConnKey:
    n = (len(packed) - 4) // 2
    return (
        packed[:n],
        int.from_bytes(packed[n : n + 2], "big"),
        packed[n + 2 : 2 * n + 2],
        int.from_bytes(packed[2 * n + 2 :], "big"),
    )


class TimeWaitEntry:
    """What TIME-WAIT needs of a closed connection: its 4-tuple, the sequence numbers and
    window of its last ACK, the peer's last timestamp, and when the wait ends."""

    __slots__ = ("expiry", "fields", "packed_key", "queued")

    def __init__(self, packed_key: bytes, fields: int, expiry: int) -> None:
        self.packed_key = packed_key
        self.fields = fields
        self.expiry = expiry
        self.queued = 0

    @classmethod
    def of(cls, conn: Connection, expiry: int) -> TimeWaitEntry:
        rcv_wscale = conn.rcv_wscale if conn.ws_ok else 0
        snd_wscale = conn.snd_wscale if conn.ws_ok else 0
        window = min(conn.rcv_wnd >> rcv_wscale, 0xFFFF)
        fields = (
            conn.snd_max
            | conn.rcv_nxt << _RCV_NXT
            | (conn.ts_recent if conn.ts_ok else 0) << _TS_RECENT
            | window << _WINDOW
            | rcv_wscale << _RCV_WSCALE
            | snd_wscale << _SND_WSCALE
            | int(conn.ts_ok) << _TS_OK
        )
        return cls(pack_key(conn.key), fields, expiry)

    @property
    def key(self) -> ConnKey:
        return unpack_key(self.packed_key)

    @property
    def snd_nxt(self) -> int:
        return self.fields & sq.MASK

    @property
    def rcv_nxt(self) -> int:
        return self.fields >> _RCV_NXT & sq.MASK

    @property
    def ts_ok(self) -> bool:
        return bool(self.fields >> _TS_OK & 1)

    @property
    def ts_recent(self) -> int:
        return self.fields >> _TS_RECENT & sq.MASK

    @property
    def window(self) -> int:
        """The window field of our ACKs (already shifted)."""
        return self.fields >> _WINDOW & 0xFFFF

    @property
    def rcv_wscale(self) -> int:
        return self.fields >> _RCV_WSCALE & 0xF

    @property
    def snd_wscale(self) -> int:
        return self.fields >> _SND_WSCALE & 0xF

    def __repr__(self) -> str:
        return f"<TimeWaitEntry snd_nxt={self.snd_nxt} rcv_nxt={self.rcv_nxt} until {self.expiry}>"


class TimeWaitHost(Protocol):
    """What the table needs from the stack that holds it."""

    tracer: Tracer | None
    now: int
    config: TcpConfig

    @property
    def counters(self) -> dict[str, int]: ...

    def send_for(self, key: ConnKey, segment: TcpSegment) -> None: ...

    def ts_offset_for(self, key: ConnKey) -> int: ...


class TimeWaitTable:
    """The host's TIME-WAIT entries by 4-tuple, with their expiry queue."""

    def __init__(self, host: TimeWaitHost) -> None:
        self.host = host
        self.entries: dict[bytes, TimeWaitEntry] = {}
        self._queue: deque[TimeWaitEntry] = deque()
        #: The connection a user still holds for an entry: it reads CLOSED once the entry ends.
        self._owners: weakref.WeakValueDictionary[bytes, Connection] = weakref.WeakValueDictionary()

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[TimeWaitEntry]:
        return iter(list(self.entries.values()))

    def get(self, key: ConnKey) -> TimeWaitEntry | None:
        if not self.entries:
            return None
        return self.entries.get(pack_key(key))

    def __contains__(self, key: ConnKey) -> bool:
        return self.get(key) is not None

    def full(self) -> bool:
        return len(self.entries) >= self.host.config.max_tw_buckets

    # ------------------------------------------------------------------ life cycle

    def add(self, conn: Connection, expiry: int) -> TimeWaitEntry:
        """Take over ``conn``, which just entered TIME-WAIT (its last ACK is sent)."""
        entry = TimeWaitEntry.of(conn, expiry)
        old = self.entries.get(entry.packed_key)
        if old is not None:
            self._remove(old)
        self.entries[entry.packed_key] = entry
        self._enqueue(entry)
        self._owners[entry.packed_key] = conn
        return entry

    def _enqueue(self, entry: TimeWaitEntry) -> None:
        entry.queued += 1
        self._queue.append(entry)

    def _remove(self, entry: TimeWaitEntry) -> None:
        """Out of the table; its places in the queue are skipped when reached."""
        if self.entries.get(entry.packed_key) is entry:
            del self.entries[entry.packed_key]
        owner = self._owners.pop(entry.packed_key, None)
        if owner is not None and owner.state is State.TIME_WAIT:
            owner.time_wait_over()

    def end(self, entry: TimeWaitEntry, reason: str) -> None:
        """The entry ends before its time (a RST, a reused or reopened 4-tuple)."""
        self._remove(entry)
        tracer = self.host.tracer
        if tracer is not None:
            now, key = self.host.now, entry.key
            if reason:
                tracer(StateChange(now, key, State.TIME_WAIT, State.CLOSED, reason))
            tracer(TimerStopped(now, key, TIME_WAIT))

    def forget_owner(self, conn: Connection) -> None:
        """A user aborted the connection a TIME-WAIT entry took over: the entry goes too
        (the connection traced its own state change)."""
        packed = pack_key(conn.key)
        if self._owners.get(packed) is conn:
            entry = self.entries.get(packed)
            if entry is not None:
                self.end(entry, "")

    def clear(self) -> None:
        """Drop every entry at once (packetdrill's ``tcpdrop -s TIME_WAIT``)."""
        for entry in list(self.entries.values()):
            self.end(entry, "drop")

    def _head(self) -> TimeWaitEntry | None:
        """The next entry to expire; stale places (ended entries, earlier places of
        restarted ones) are dropped on the way."""
        queue = self._queue
        entries = self.entries
        while queue:
            entry = queue[0]
            if entry.queued == 1 and entries.get(entry.packed_key) is entry:
                return entry
            queue.popleft()
            entry.queued -= 1
        return None

    def next_deadline(self) -> int | None:
        head = self._head()
        return None if head is None else head.expiry

    def expire(self, now: int) -> None:
        """End every entry whose wait is over: TIME_WAIT -> CLOSED, as a timer would."""
        while True:
            head = self._head()
            if head is None or head.expiry > now:
                return
            self._queue.popleft()
            head.queued -= 1
            self._remove(head)
            self.host.counters["TcpExtTW"] += 1
            tracer = self.host.tracer
            if tracer is not None:
                key = head.key
                tracer(TimerFired(now, key, TIME_WAIT))
                tracer(StateChange(now, key, State.TIME_WAIT, State.CLOSED, "timeout"))

    # ------------------------------------------------------------------ segments

    def segment_arrives(self, entry: TimeWaitEntry, seg: TcpSegment) -> None:
        """RFC 9293 3.10.7.4 in TIME-WAIT (with RFC 1337 and BSD's tcp_twcheck as set)."""
        host = self.host
        cfg = host.config
        flags = seg.flags
        if flags & (SYN | FIN) == SYN | FIN and cfg.drop_synfin:
            return
        rcv_nxt = entry.rcv_nxt
        if flags & RST:
            if cfg.rfc1337:
                host.counters["SynackTimeWaitRstIgnored"] += 1
            elif seg.seq == rcv_nxt:
                self.end(entry, "reset")
            return
        if self.paws_rejects(entry, seg):
            host.counters["TcpExtPAWSEstabRejected"] += 1
            self.send_ack(entry)  # RFC 7323 5.3 R1: an old duplicate is ACKed and dropped
            return
        if cfg.timewait_acks_all:
            self._arrive_bsd(entry, seg)
            return
        if flags & FIN and sq.add(seg.seq, len(seg.payload) + 1) == rcv_nxt:
            # A retransmitted FIN: our last ACK was lost (S08). ACK again, wait again.
            self.restart(entry)
            self.send_ack(entry)
            return
        if flags & SYN:
            host.counters["TcpExtTCPSYNChallenge"] += 1
            host.counters["TcpExtTCPChallengeACK"] += 1
            self.send_ack(entry)
            return
        if not flags & ACK and sq.ge(seg.seq, rcv_nxt):
            return  # RFC 9293 3.10.7.4, fifth check: in the window without ACK: dropped
        if seg.payload or flags & FIN:
            self.send_ack(entry)

    @staticmethod
    def paws_rejects(entry: TimeWaitEntry, seg: TcpSegment) -> bool:
        """PAWS holds in TIME-WAIT too (RFC 7323 section 5; Linux checks it there): a
        non-RST segment stamped before TS.Recent is an old duplicate of the connection
        that is closing, never a segment of a new one, and may not reopen the pair."""
        if not entry.ts_ok or seg.flags & RST or seg.options is None:
            return False
        timestamp = seg.options.timestamp
        if timestamp is None:
            return False
        behind = (entry.ts_recent - timestamp[0]) & sq.MASK
        return sq.PAWS_WINDOW < behind < sq.HALF

    def _arrive_bsd(self, entry: TimeWaitEntry, seg: TcpSegment) -> None:
        """BSD's tcp_twcheck: anything with ACK but a duplicate ACK is answered."""
        flags = seg.flags
        if not flags & ACK:
            return
        rcv_nxt = entry.rcv_nxt
        if flags & FIN and sq.add(seg.seq, len(seg.payload) + 1) == rcv_nxt:
            self.restart(entry)  # the FIN again
        if flags != ACK or seg.payload or seg.seq != rcv_nxt or seg.ack != entry.snd_nxt:
            self.send_ack(entry)

    def restart(self, entry: TimeWaitEntry) -> None:
        host = self.host
        entry.expiry = host.now + host.config.timewait_len_us
        self._enqueue(entry)
        if host.tracer is not None:
            host.tracer(TimerSet(host.now, entry.key, TIME_WAIT, entry.expiry))

    def send_ack(self, entry: TimeWaitEntry) -> None:
        host = self.host
        key = entry.key
        options = None
        if entry.ts_ok:
            ts_now = (host.now // 1000 + host.ts_offset_for(key)) & sq.MASK
            options = TcpOptions(timestamp=(ts_now, entry.ts_recent))
        segment = TcpSegment(
            key[1], key[3], entry.snd_nxt, entry.rcv_nxt, ACK, entry.window, 0, options
        )
        host.send_for(key, segment)

    # ------------------------------------------------------------------ reuse (RFC 6191)

    def reusable(self, entry: TimeWaitEntry, loopback: bool) -> bool:
        """tw_reuse for an outgoing connection: Linux's tcp_twsk_unique. Timestamps must be
        on (the peer's PAWS then tells old duplicates from new segments) and the entry must
        have heard nothing for a second; 2 means loopback only."""
        reuse = self.host.config.tw_reuse
        if reuse == 2:
            reuse = 1 if loopback else 0
        if reuse != 1 or not entry.ts_ok:
            return False
        heard = entry.expiry - self.host.config.timewait_len_us
        return self.host.now - heard > REUSE_AFTER_US
