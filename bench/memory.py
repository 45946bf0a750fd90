"""`make bench`: memory a server stack holds per connection, measured with tracemalloc.

Three figures, each the growth of traced memory over 10,000 of a kind divided by 10,000,
measured on one `Stack` fed crafted packets (no simulator, no sockets, no tracer):

- idle_conn_bytes: an ESTABLISHED connection with empty buffers, accepted and held by the
  application: the `Connection` and everything the stack keeps for it (table slot, timer
  heap entries, the key);
- syncache_entry_bytes: a half-open connection, by behaviour: a listener whose SYN
  cache takes them all receives SYNs from 10,000 distinct addresses, and
  whatever the stack keeps for them (half-open objects, tables, timers) is counted,
  whatever form it takes;
- timewait_entry_bytes: a connection the server closed first, once it sits in TIME-WAIT
  and the application has let go of it (the tables a connection passes through before,
  such as the connection table, are grown by an earlier round and not counted).

The SYNs carry what a Linux client sends (MSS, SACK-permitted, timestamps, window scale),
so timestamps are on. Timers that went stale are let run out (1.5 virtual seconds, well
inside TIME-WAIT and before any retransmission of a SYN,ACK matters) before measuring.

    .venv/bin/python bench/memory.py           # writes bench/results/memory.json
    .venv/bin/python bench/memory.py --count 1000 --no-write
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from synack.stack import Stack, pack_address
from synack.tcp.config import LINUX, SECOND
from synack.tcp.connection import Connection
from synack.wire.ip import PROTO_TCP, build_ip, parse_ip
from synack.wire.tcp import ACK, FIN, SYN, TcpOptions, TcpSegment, build_tcp, parse_tcp

SERVER = pack_address("198.18.0.2")
PORT = 80
RESULTS = Path(__file__).parent / "results" / "memory.json"
CLIENT_ISN = 1_000_000
GOALS = {"idle_conn_bytes": 2048, "syncache_entry_bytes": 300, "timewait_entry_bytes": 300}


def client(i: int) -> tuple[bytes, int]:
    """The i-th client: a distinct address in 198.18.0.0/15 (never the server's)."""
    n = 256 + i  # 198.18.1.0 onwards
    return bytes((198, 18 + (n >> 16 & 1), n >> 8 & 0xFF, n & 0xFF)), 40000 + i % 20000


def packet(src: bytes, sport: int, seq: int, ack: int, flags: int, ts: int) -> bytes:
    options = TcpOptions(timestamp=(ts, 0))
    if flags & SYN:
        options = TcpOptions(mss=1460, sack_permitted=True, timestamp=(ts, 0), wscale=7)
    seg = TcpSegment(sport, PORT, seq, ack, flags, 502, 0, options)
    return build_ip(src, SERVER, PROTO_TCP, build_tcp(seg, src, SERVER))


def server_isns(stack: Stack) -> dict[tuple[bytes, int], int]:
    """The ISS of each SYN,ACK the stack sent, by client."""
    out = {}
    for raw in stack.transmit():
        _src, dst, _proto, payload = parse_ip(raw)
        seg = parse_tcp(payload, SERVER, dst)
        if seg.flags & SYN:
            out[(dst, seg.dst_port)] = seg.seq
    return out


def new_server(count: int) -> tuple[Stack, Callable[[], Connection | None]]:
    # Enough SYN-cache buckets that no bucket's limit evicts one of the ``count`` entries.
    config = LINUX.with_changes(
        max_syn_backlog=2 * count,
        somaxconn=2 * count,
        syncookies=0,
        syncache_buckets=max(512, count // 4),
    )
    stack = Stack([SERVER], config, seed=1)
    listener = stack.listen(stack.bind(None, PORT), backlog=2 * count)
    return stack, listener.accept


def measure(build: Callable[[], object], count: int) -> float:
    """Traced bytes that ``build`` leaves behind, per item."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    del kept
    return (after - before) / count


def syncache(count: int) -> float:
    stack, _accept = new_server(count)

    def build() -> object:
        for i in range(count):
            src, sport = client(i)
            stack.receive(packet(src, sport, CLIENT_ISN, 0, SYN, 1000), 0)
        stack.transmit()
        return None

    return measure(build, count)


def handshakes(
    stack: Stack, accept: Callable[[], Connection | None], count: int, now: int = 0
) -> list[Connection]:
    """``count`` connections from distinct clients, ESTABLISHED and accepted at ``now``."""
    for i in range(count):
        src, sport = client(i)
        stack.receive(packet(src, sport, CLIENT_ISN, 0, SYN, 1000), now)
    isns = server_isns(stack)
    conns = []
    for i in range(count):
        src, sport = client(i)
        ack = isns[(src, sport)] + 1
        stack.receive(packet(src, sport, CLIENT_ISN + 1, ack, ACK, 1001), now + 1000)
        conn = accept()
        assert conn is not None, "the handshake did not complete"
        conns.append(conn)
    stack.transmit()
    return conns


def idle(count: int) -> float:
    stack, accept = new_server(count)

    def build() -> object:
        conns = handshakes(stack, accept, count)
        stack.advance(int(1.5 * SECOND))  # stale timer entries run out
        stack.transmit()
        return conns

    return measure(build, count)


def time_wait(count: int) -> float:
    stack, accept = new_server(count)
    # A first round of connections, aborted (no TIME-WAIT), grows the tables that
    # connections pass through on their way, so that only what TIME-WAIT holds is counted.
    for conn in handshakes(stack, accept, count):
        conn.abort()
    stack.transmit()
    stack.advance(int(1.5 * SECOND))

    def build() -> object:
        conns = handshakes(stack, accept, count, 2 * SECOND)
        for conn in conns:
            conn.close()  # the server closes first: its FIN goes out
        now = 3 * SECOND
        for i, conn in enumerate(conns):
            src, sport = client(i)
            fin_ack = conn.snd_max
            stack.receive(
                packet(src, sport, CLIENT_ISN + 1, fin_ack, FIN | ACK, 1002), now
            )  # the client's FIN, acknowledging ours: TIME-WAIT
        del conns, conn
        stack.transmit()
        stack.advance(5 * SECOND)
        stack.transmit()
        assert len(stack.time_wait) == count and not stack.connections
        return None

    return measure(build, count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    tracemalloc.start()
    results = {
        "idle_conn_bytes": round(idle(args.count)),
        "syncache_entry_bytes": round(syncache(args.count)),
        "timewait_entry_bytes": round(time_wait(args.count)),
    }
    tracemalloc.stop()
    for name, value in results.items():
        verdict = "ok" if value < GOALS[name] else f"over the goal of {GOALS[name]}"
        print(f"{name:24} {value:6d} bytes  ({verdict})")
    out = {
        **results,
        "count": args.count,
        "python": sys.version.split()[0],
        "how": (
            "tracemalloc growth of one Stack fed crafted packets, per item, over "
            f"{args.count} of each: idle ESTABLISHED connections accepted and held "
            "(Connection plus what the stack keeps); half-open connections from SYNs of "
            "distinct addresses (whatever the listener keeps); TIME-WAIT entries after "
            "the server closed first and let go, the connection table grown beforehand by "
            "an aborted round. SYNs carry MSS, SACK-permitted, timestamps and window "
            "scale; for idle and TIME-WAIT, stale timers run out first (bench/memory.py)."
        ),
    }
    if not args.no_write:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
