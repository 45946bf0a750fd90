"""The SYN cache of RFC 4987 section 3.5: half-open connections as small entries.

A SYN costs the listener one `SynEntry` (the handful of numbers the third ACK needs),
not a whole `Connection`; the connection object is built only when the handshake can go
on. Entries live in a hash table whose bucket is chosen by a keyed hash of the 4-tuple,
so a flood from spoofed addresses cannot aim at one bucket, and each bucket holds at most
``bucket_limit`` entries and the whole cache ``limit``: when full, the bucket (or the
cache) gives up its oldest entry, unless SYN cookies answer the new SYN statelessly.

Timers cost no heap entry per entry. Every SYN,ACK timeout doubles from the same initial
value, so the entries waiting for their ``r``-th timeout expire in the order they were
made: one FIFO list per retransmission count holds them, and the listener needs a single
heap entry at the earliest front of those lists. The lists are doubly linked through the
entries, so an entry leaves in O(1) and nothing stale stays behind.

Everything here is bookkeeping: the listener decides, the stack sends.
"""

from __future__ import annotations

import hashlib

from synack.tcp.events import ConnKey
from synack.tcp.timewait import pack_key, unpack_key

__all__ = [
    "ACKED",
    "ECN_OK",
    "SACK_NEGOTIATED",
    "SACK_OK",
    "TS_OK",
    "WS_OK",
    "SynCache",
    "SynEntry",
    "timeout_offsets",
]

#: `SynEntry.flags` bits.
TS_OK = 1  # timestamps negotiated
WS_OK = 2  # window scaling negotiated
SACK_OK = 4  # we may send SACK blocks (RFC 2018)
SACK_OFFERED = 8  # the first SYN,ACK offered SACK-permitted
ACKED = 16  # TCP_DEFER_ACCEPT: a bare third ACK came and was dropped
SACK_NEGOTIATED = 32  # both sides permit SACK: the sender uses its blocks (RFC 6675)
ECN_OK = 64  # the SYN asked for ECN and our SYN,ACK agreed (RFC 3168 6.1.1)

# Bit layout of `SynEntry.fields`.
_IRS, _WINDOW, _MSS, _WSCALE, _TS_RECENT, _BORN = 32, 64, 80, 96, 100, 132
_U32 = 0xFFFFFFFF


class SynEntry:
    """One half-open connection: what its SYN said and what our SYN,ACK promised.

    A flood makes one of these per spoofed SYN, so everything that never changes is
    packed: the 4-tuple into one bytes object (`pack_key`) and the sequence numbers,
    window, MSS, window-scale shift, TSval and birth time into one int. An entry is then
    three small objects, under 300 bytes with its place in the cache (bench/memory.py).
    """

    __slots__ = ("fields", "flags", "newer", "older", "packed_key", "retries")

    def __init__(
        self,
        key: ConnKey,
        iss: int,
        irs: int,
        window: int,
        mss: int,
        wscale: int,
        flags: int,
        ts_recent: int,
        born: int,
    ) -> None:
        self.packed_key = pack_key(key)
        self.fields = (
            iss
            | irs << _IRS
            | window << _WINDOW
            | mss << _MSS
            | wscale << _WSCALE
            | ts_recent << _TS_RECENT
            | born << _BORN  # when the first SYN,ACK went out; unbounded, so on top
        )
        self.flags = flags
        self.retries = 0  # SYN,ACK timeouts so far (Linux: num_timeout); -1 once removed
        self.older: SynEntry | None = None  # neighbours in this retry count's FIFO
        self.newer: SynEntry | None = None

    @property
    def key(self) -> ConnKey:
        return unpack_key(self.packed_key)

    @property
    def iss(self) -> int:
        return self.fields & _U32

    @property
    def irs(self) -> int:
        return self.fields >> _IRS & _U32

    @property
    def window(self) -> int:
        return self.fields >> _WINDOW & 0xFFFF

    @property
    def mss(self) -> int:
        return self.fields >> _MSS & 0xFFFF

    @property
    def wscale(self) -> int:
        return self.fields >> _WSCALE & 0xF

    @property
    def ts_recent(self) -> int:
        return self.fields >> _TS_RECENT & _U32

    @property
    def born(self) -> int:
        return self.fields >> _BORN

    def __repr__(self) -> str:
        return f"<SynEntry iss={self.iss} irs={self.irs} retries={self.retries}>"


def timeout_offsets(initial_us: int, max_us: int, count: int) -> tuple[int, ...]:
    """Microseconds from the first SYN,ACK to each timeout: 1, 3, 7, 15 ... s for a
    1-second initial timeout that doubles up to ``max_us`` (RFC 6298 5.5)."""
    offsets = []
    total = 0
    for retry in range(count):
        total += min(initial_us << retry, max_us) if retry < 64 else max_us
        offsets.append(total)
    return tuple(offsets)


class SynCache:
    """Entries by 4-tuple in keyed buckets, plus one FIFO per retransmission count."""

    __slots__ = (
        "_buckets",
        "_newest",
        "_oldest",
        "_secret",
        "bucket_limit",
        "count",
        "limit",
    )

    def __init__(self, secret: bytes, buckets: int, bucket_limit: int, limit: int) -> None:
        self._secret = secret
        self._buckets: list[list[SynEntry] | None] = [None] * buckets
        self.bucket_limit = bucket_limit
        self.limit = limit  # entries in all (the listener sets it: Listener.half_open_limit)
        self.count = 0
        self._oldest: list[SynEntry | None] = []  # per retry count: FIFO head and tail
        self._newest: list[SynEntry | None] = []

    def __len__(self) -> int:
        return self.count

    def _index(self, packed_key: bytes) -> int:
        digest = hashlib.blake2s(packed_key, key=self._secret, digest_size=4).digest()
        return int.from_bytes(digest, "big") % len(self._buckets)

    def get(self, key: ConnKey) -> SynEntry | None:
        packed = pack_key(key)
        bucket = self._buckets[self._index(packed)]
        if bucket is not None:
            for entry in bucket:
                if entry.packed_key == packed:
                    return entry
        return None

    def full_for(self, key: ConnKey) -> bool:
        """No room for ``key`` without evicting: its bucket, or the whole cache, is full."""
        if self.count >= self.limit:
            return True
        bucket = self._buckets[self._index(pack_key(key))]
        return bucket is not None and len(bucket) >= self.bucket_limit

    def add(self, entry: SynEntry) -> SynEntry | None:
        """Insert a new entry; returns the oldest entry of its bucket if it had to go."""
        index = self._index(entry.packed_key)
        bucket = self._buckets[index]
        if bucket is None:
            bucket = self._buckets[index] = []
        evicted = None
        if len(bucket) >= self.bucket_limit or self.count >= self.limit:
            victim = bucket[0] if bucket else self._oldest_anywhere()
            if victim is not None:
                self.remove(victim)
                evicted = victim
        bucket.append(entry)
        self.count += 1
        entry.retries = 0
        self._link(entry)
        return evicted

    def _oldest_anywhere(self) -> SynEntry | None:
        for head in reversed(self._oldest):  # more timeouts: made earlier
            if head is not None:
                return head
        return None

    def remove(self, entry: SynEntry) -> None:
        if entry.retries < 0:
            return
        bucket = self._buckets[self._index(entry.packed_key)]
        if bucket is not None:
            bucket.remove(entry)
        self.count -= 1
        self._unlink(entry)
        entry.retries = -1

    def retried(self, entry: SynEntry) -> None:
        """One more timeout: move the entry to the next count's FIFO."""
        self._unlink(entry)
        entry.retries += 1
        self._link(entry)

    def _link(self, entry: SynEntry) -> None:
        level = entry.retries
        while len(self._oldest) <= level:
            self._oldest.append(None)
            self._newest.append(None)
        tail = self._newest[level]
        entry.older, entry.newer = tail, None
        if tail is None:
            self._oldest[level] = entry
        else:
            tail.newer = entry
        self._newest[level] = entry

    def _unlink(self, entry: SynEntry) -> None:
        level = entry.retries
        older, newer = entry.older, entry.newer
        if older is None:
            self._oldest[level] = newer
        else:
            older.newer = newer
        if newer is None:
            self._newest[level] = older
        else:
            newer.older = older
        entry.older = entry.newer = None

    def heads_by_retries(self) -> list[SynEntry | None]:
        """The oldest entry of each retry count's FIFO, indexed by the count (live view)."""
        return self._oldest

    def heads(self) -> list[SynEntry]:
        """The entry next due in each retry count's FIFO (the earliest deadlines)."""
        return [head for head in self._oldest if head is not None]

    def entries(self) -> list[SynEntry]:
        """Every entry, oldest first within each bucket."""
        return [entry for bucket in self._buckets if bucket for entry in bucket]

    def clear(self) -> list[SynEntry]:
        """Empty the cache; returns what it held."""
        held = self.entries()
        for entry in held:
            self.remove(entry)
        return held
