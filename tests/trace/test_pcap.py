"""pcap files hold what the network carried, as an independent decoder (scapy) reads them.

Each file is read back with scapy's ``rdpcap`` and checked segment by segment against the
recorder's trace: count, order, timestamps, addresses, ports, flags, seq/ack, window,
payload, and (for packets no one tampered with) the TCP checksum as Wireshark would
verify it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet
from scapy.utils import PcapReader, rdpcap

from synack.scenarios.catalog import Options, find
from synack.scenarios.lifecycle import connected_pair, pump
from synack.scenarios.world import ADDRESSES, World
from synack.sim.events import CORRUPTED, DUPLICATE, PacketEvent
from synack.sim.link import LinkConfig
from synack.trace.pcap import LINKTYPE_RAW, PcapRecorder, global_header, record
from synack.trace.recorder import SegmentRecord


def _run_captured(name: str, path: Path) -> tuple[World, PcapRecorder]:
    recorders: list[PcapRecorder] = []

    def attach(world: World) -> None:
        recorders.append(PcapRecorder(world.net, path))

    with World.watch(attach):
        world = find(name).run(Options())
    assert len(recorders) == 1
    recorders[0].close()
    return world, recorders[0]


def _time_us(pkt: Packet) -> int:
    return int(pkt.time * 1_000_000)


def _ip(pkt: Packet) -> Packet:
    layer: Packet = pkt[IPv6] if IPv6 in pkt else pkt[IP]
    return layer


def _checksum_ok(pkt: Packet) -> bool:
    ip = _ip(pkt)
    fresh = ip.__class__(bytes(ip))
    del fresh[TCP].chksum
    if IP in fresh:
        del fresh[IP].chksum
    return bytes(fresh.__class__(bytes(fresh))) == bytes(ip)


def _assert_matches(pkt: Packet, rec: SegmentRecord) -> None:
    seg = rec.segment
    assert _time_us(pkt) == rec.sent_us
    ip = _ip(pkt)
    if rec.src in ADDRESSES:
        assert ip.src in ADDRESSES[rec.src]
    if rec.dst in ADDRESSES:
        assert ip.dst in ADDRESSES[rec.dst]
    tcp = pkt[TCP]
    assert (tcp.sport, tcp.dport) == (seg.src_port, seg.dst_port)
    assert (tcp.seq, tcp.ack) == (seg.seq, seg.ack)
    assert int(tcp.flags) == seg.flags
    assert tcp.window == seg.window
    assert bytes(tcp.payload) == seg.payload
    if not rec.injected and rec.fate != CORRUPTED:
        assert _checksum_ok(pkt), f"bad checksum on {pkt.summary()}"


@pytest.mark.parametrize(
    "name", ["life", "lost-last-ack", "lost-data", "bad-checksum", "blind-rst", "refused"]
)
def test_every_segment_of_a_scenario_is_in_the_file(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.pcap"
    world, recorder = _run_captured(name, path)
    expected = [rec for rec in world.trace.segments if rec.fate != DUPLICATE]
    packets = rdpcap(str(path))
    assert len(packets) == len(expected) == recorder.packets
    for pkt, rec in zip(packets, expected, strict=True):
        _assert_matches(pkt, rec)
    times = [_time_us(p) for p in packets]
    assert times == sorted(times)


def test_lost_and_injected_packets_are_captured(tmp_path: Path) -> None:
    # lost-last-ack drops one ACK in the network: the sender's capture still shows it.
    world, _ = _run_captured("lost-last-ack", tmp_path / "lost.pcap")
    dropped = [rec for rec in world.trace.segments if rec.fate == "dropped"]
    assert len(dropped) == 1
    times = {_time_us(p) for p in rdpcap(str(tmp_path / "lost.pcap"))}
    assert dropped[0].sent_us in times
    # blind-rst injects RSTs and SYNs that no stack sent: they are there too.
    world, _ = _run_captured("blind-rst", tmp_path / "inj.pcap")
    injected = [rec for rec in world.trace.segments if rec.injected]
    flags = [str(p[TCP].flags) for p in rdpcap(str(tmp_path / "inj.pcap"))]
    assert injected and flags.count("R") == sum(rec.flags == "RST" for rec in injected)


def test_the_file_is_raw_ip_with_microsecond_stamps(tmp_path: Path) -> None:
    path = tmp_path / "hs.pcap"
    _run_captured("handshake", path)
    with PcapReader(str(path)) as reader:
        assert reader.linktype == LINKTYPE_RAW
        first = next(iter(reader))
    assert IP in first and str(first[TCP].flags) == "S"
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", path.read_bytes()[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 101)
    assert snaplen >= 65535


def test_ipv6_with_loss_and_duplicates(tmp_path: Path) -> None:
    """Impairments: lost packets are in the file, the link's duplicate copies are not."""
    path = tmp_path / "v6.pcap"
    world = World(seed=5, link=LinkConfig(delay_us=3000, loss=0.05, duplicate=0.2))
    events: list[PacketEvent] = []
    world.net.observe(events.append)
    with PcapRecorder(world.net, path) as recorder:
        srv = world.socket("B", v6=True)
        srv.bind((world.address("B", v6=True), 8080))
        srv.listen(4)
        cli = world.socket("A", v6=True)
        cli.connect((world.address("B", v6=True), 8080))
        conn, _ = srv.accept()
        data = bytes(range(256)) * 200
        assert pump(world, cli, conn, data) == data
        cli.close()
        conn.close()
        world.run()
    assert recorder.closed
    fates = {e.fate for e in events}
    assert {"lost", DUPLICATE} <= fates, fates  # the seed gives both impairments
    sent = [e for e in events if e.fate != DUPLICATE]
    packets = rdpcap(str(path))
    assert [bytes(p) for p in packets] == [e.packet for e in sent]
    assert [_time_us(p) for p in packets] == [e.sent_us for e in sent]
    expected = [rec for rec in world.trace.segments if rec.fate != DUPLICATE]
    assert len(expected) == len(packets)
    for pkt, rec in zip(packets, expected, strict=True):
        assert IPv6 in pkt
        _assert_matches(pkt, rec)


def test_a_corrupted_packet_is_written_as_it_arrived(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pcap"
    world = World(seed=1, link=LinkConfig(delay_us=1000, corrupt=1.0))
    events: list[PacketEvent] = []
    world.net.observe(events.append)
    with PcapRecorder(world.net, path):
        world.stack("A").connect(world.address("B"), 80)
        world.net.kick(world.hosts["A"])
        world.run(0.5)
    assert events and all(e.fate == CORRUPTED for e in events)
    assert [bytes(p) for p in rdpcap(str(path))] == [e.packet for e in events]


def test_closing_stops_the_capture(tmp_path: Path) -> None:
    path = tmp_path / "part.pcap"
    world = World()
    recorder = PcapRecorder(world.net, path)
    cli, _conn, _srv = connected_pair(world)
    recorder.close()
    recorder.close()  # idempotent
    cli.sendall(b"after the capture")
    world.run(1)
    packets = rdpcap(str(path))
    assert len(packets) == recorder.packets == 3  # the handshake only
    assert [str(p[TCP].flags) for p in packets] == ["S", "SA", "A"]


def test_records_truncate_at_the_snap_length() -> None:
    rec = record(1_500_000, b"x" * 100, snaplen=60)
    assert struct.unpack("<IIII", rec[:16]) == (1, 500_000, 60, 100)
    assert rec[16:] == b"x" * 60
    assert len(global_header()) == 24
    with pytest.raises(ValueError):
        record(-1, b"")
