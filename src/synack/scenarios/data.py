"""Moving bytes: S26, S27, S29-S32 of SCENARIOS.md."""

from __future__ import annotations

from synack.scenarios.craft import decode, flip_bit, segment_bytes
from synack.scenarios.lifecycle import PORT, connected_pair, pump, serve
from synack.scenarios.registry import Options, scenario
from synack.scenarios.world import World
from synack.tcp.config import LINUX
from synack.wire.tcp import ACK, PSH, RST, SYN, URG, TcpOptions

PAYLOAD = bytes(range(256)) * 64  # 16 KiB


def _is_rst(packet: bytes) -> bool:
    seg = decode(packet)
    return seg is not None and bool(seg.flags & RST)


def _is_data(src: str, wanted: str, packet: bytes) -> bool:
    seg = decode(packet)
    return src == wanted and seg is not None and bool(seg.payload)


@scenario("S26", "lost-data", "a data segment is lost and retransmitted; the stream is intact")
def lost_data(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    count = {"n": 0}

    def second_data_segment(src: str, dst: str, packet: bytes) -> bool:
        if _is_data(src, "A", packet):
            count["n"] += 1
            return count["n"] == 2
        return False

    world.net.drop(second_data_segment)
    got = pump(world, cli, conn, PAYLOAD)
    if got != PAYLOAD:
        raise AssertionError("lost-data: the stream arrived damaged")
    world.run(1)
    return world


@scenario("S27", "bad-checksum", "a corrupted segment is dropped and counted; data recovered")
def bad_checksum(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    corrupted = {"done": False}

    def corrupt_first(src: str, dst: str, packet: bytes) -> bool:
        if corrupted["done"] or not _is_data(src, "A", packet):
            return False
        corrupted["done"] = True
        bad = flip_bit(packet, len(packet) - 1)
        world.net.inject(world.now + world.link.delay_us, "A", world.hosts["B"], bad)
        return True

    world.net.drop(corrupt_first)
    got = pump(world, cli, conn, b"checksummed payload " * 50)
    if got != b"checksummed payload " * 50:
        raise AssertionError("bad-checksum: the stream arrived damaged")
    world.run(1)
    return world


@scenario("S29", "mss", "segments never exceed the MSS the peer announced")
def mss(opts: Options) -> World:
    small = LINUX.with_changes(mtu=576)  # B announces MSS 536
    world = World(opts.seed, opts.link(), config_b=small)
    cli, conn, _ = connected_pair(world)
    pump(world, cli, conn, PAYLOAD)
    pump(world, conn, cli, PAYLOAD)
    # A SYN without an MSS option: B must assume 536 bytes. (A's stack, which never sent
    # it, answers the SYN,ACK with RST; that RST is dropped so the half-open entry stays
    # for inspection.)
    raw = segment_bytes(world.address("A"), 42000, world.address("B"), PORT, 77, 0, SYN)
    world.net.drop(lambda src, dst, packet: src == "A" and _is_rst(packet))
    world.net.inject(world.now + 1, "A", world.hosts["B"], raw)
    world.run(0.1)
    return world


@scenario("S30", "seq-wrap", "ISNs just below 2**32: 10 MB cross the wrap both ways")
def seq_wrap(opts: Options) -> World:
    world = World(opts.seed, opts.link(), record=False)
    world.stack("A").isn_hook = lambda key: 2**32 - 1000
    world.stack("B").isn_hook = lambda key: 2**32 - 5000
    cli, conn, _ = connected_pair(world)
    data = bytes(range(256)) * (10 * 4096)
    if pump(world, cli, conn, data) != data or pump(world, conn, cli, data) != data:
        raise AssertionError("seq-wrap: data damaged across the wrap")
    return world


@scenario("S31", "urgent", "a segment with URG: data in order, urgent mark reported")
def urgent(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    cli.sendall(b"normal ")
    assert conn.recv(100) == b"normal "
    world.run(0.5)
    a = cli.connection
    assert a is not None
    b = conn.connection
    assert b is not None
    # A's clock as B last saw it: an older TSval would be dropped by PAWS (RFC 7323).
    options = TcpOptions(timestamp=(b.ts_recent, a.ts_recent)) if a.ts_ok else None
    urg = segment_bytes(
        world.address("A"),
        a.key[1],
        world.address("B"),
        PORT,
        a.snd_nxt,
        a.rcv_nxt,
        URG | ACK | PSH,
        payload=b"URGENT",
        urgent=6,
        options=options,
    )
    world.net.inject(world.now + 1, "A", world.hosts["B"], urg)
    got = conn.recv(100)
    if got != b"URGENT":
        raise AssertionError(f"urgent data not delivered in order: {got!r}")
    world.run(0.5)
    return world


@scenario("S32", "push", "data sent with PSH is handed to the reader at once")
def push(opts: Options) -> World:
    world = World(opts.seed, opts.link())
    cli, conn, _ = connected_pair(world)
    world.run(1)
    sent_at = world.now
    cli.sendall(b"ping")
    conn.recv(100)
    delay = world.now - sent_at
    if delay > world.link.delay_us + 1000:
        raise AssertionError(f"PSH data held back for {delay} us")
    world.run(1)
    return world


_ = serve
