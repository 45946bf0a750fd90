"""The SYN cache as a data structure: entry size, buckets, eviction, timeout order."""

from __future__ import annotations

import tracemalloc

from synack.tcp.syncache import TS_OK, WS_OK, SynCache, SynEntry, timeout_offsets

SECRET = bytes(range(32))
LOCAL = bytes([198, 18, 0, 2])


def entry(port: int, born: int = 0, address: bytes = bytes([198, 19, 0, 1])) -> SynEntry:
    return SynEntry(
        (LOCAL, 80, address, port),
        3_000_000_000 + port,
        2_000_000_000 + port,
        65535,
        1460,
        7,
        TS_OK | WS_OK,
        4_000_000_000,
        born,
    )


def test_an_entry_takes_under_300_bytes() -> None:
    """What one half-open connection costs, its 4-tuple included: each entry has its
    own peer address and port, and numbers as large as real ones (32-bit sequence
    numbers and timestamps, a clock in microseconds after an hour)."""
    count = 10_000
    keys = [(LOCAL, 80, bytes([198, 19, i >> 8, i & 0xFF]), 40_000 + i) for i in range(count)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [
            SynEntry(
                key,
                3_000_000_000 + i,
                2_000_000_000 + i,
                65535 - i,
                1460,
                7,
                TS_OK | WS_OK,
                4_000_000_000 + i,
                3_600_000_000 + i,
            )
            for i, key in enumerate(keys)
        ]
        per_entry = (tracemalloc.get_traced_memory()[0] - before - 8 * count) / count
    finally:
        tracemalloc.stop()
    assert len(held) == count
    assert per_entry < 200, f"{per_entry:.0f} bytes per entry"


def test_packed_fields_come_back_out() -> None:
    v6 = bytes(range(16))
    e = SynEntry((v6, 80, v6[::-1], 1), 3_000_000_001, 2_000_000_001, 65535, 1460, 7, 0, 0, 0)
    assert e.key == (v6, 80, v6[::-1], 1)
    e = entry(1, born=3_600_000_000_000)
    assert (e.iss, e.irs) == (3_000_000_001, 2_000_000_001)
    assert (e.window, e.mss, e.wscale) == (65535, 1460, 7)
    assert (e.ts_recent, e.born, e.flags) == (4_000_000_000, 3_600_000_000_000, TS_OK | WS_OK)


def test_lookup_finds_each_entry_by_its_4_tuple() -> None:
    cache = SynCache(SECRET, 16, 30, 1000)
    entries = [entry(port) for port in range(100)]
    for e in entries:
        assert cache.add(e) is None
    assert len(cache) == 100
    assert all(cache.get(e.key) is e for e in entries)
    assert cache.get((LOCAL, 80, bytes([198, 19, 0, 1]), 5000)) is None


def test_a_full_bucket_gives_up_its_oldest_entry() -> None:
    cache = SynCache(SECRET, 1, 3, 1000)  # one bucket: every key shares it
    first, second, third, fourth = (entry(port, born=port) for port in range(4))
    for e in (first, second, third):
        assert cache.add(e) is None
    assert cache.full_for(fourth.key)
    assert cache.add(fourth) is first
    assert cache.get(first.key) is None
    assert [e.key[3] for e in cache.entries()] == [1, 2, 3]
    assert len(cache) == 3


def test_a_full_cache_gives_up_its_oldest_entry_whatever_the_bucket() -> None:
    cache = SynCache(SECRET, 64, 30, 3)
    made = [entry(port, born=port) for port in range(3)]
    for e in made:
        cache.add(e)
    cache.retried(made[1])  # one timeout more: made earlier than those with fewer
    assert cache.add(entry(9, born=9)) is made[1]
    assert len(cache) == 3


def test_the_bucket_hash_is_keyed() -> None:
    """Another secret scatters the same keys differently, so an attacker who cannot
    read the secret cannot aim his SYNs at one bucket."""
    keys = [entry(port).packed_key for port in range(64)]
    a, b = SynCache(SECRET, 64, 30, 1000), SynCache(bytes(32), 64, 30, 1000)
    assert [a._index(k) for k in keys] != [b._index(k) for k in keys]


def test_each_retry_count_is_a_fifo_in_birth_order() -> None:
    cache = SynCache(SECRET, 8, 30, 1000)
    made = [entry(port, born=port) for port in range(5)]
    for e in made:
        cache.add(e)
    assert cache.heads() == [made[0]]
    cache.retried(made[0])
    cache.retried(made[1])
    assert cache.heads_by_retries() == [made[2], made[0]]
    cache.remove(made[2])  # from the middle of nothing: the head itself
    cache.remove(made[3])
    assert cache.heads_by_retries() == [made[4], made[0]]
    cache.remove(made[0])
    assert cache.heads() == [made[4], made[1]]
    assert made[0].retries == -1 and cache.get(made[0].key) is None


def test_clear_returns_everything() -> None:
    cache = SynCache(SECRET, 8, 30, 1000)
    for port in range(10):
        cache.add(entry(port))
    assert len(cache.clear()) == 10
    assert len(cache) == 0 and cache.heads() == []


def test_timeouts_double_from_one_second_up_to_the_cap() -> None:
    offsets = timeout_offsets(1_000_000, 120_000_000, 9)
    seconds = [o // 1_000_000 for o in offsets]
    assert seconds == [1, 3, 7, 15, 31, 63, 127, 247, 367]
