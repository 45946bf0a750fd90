"""What a network carried (simulated or a TUN device), as a pcap file for Wireshark.

The file is the classic libpcap format (https://www.tcpdump.org/manpages/pcap-savefile.5.html,
IETF draft-ietf-opsawg-pcap): a 24-byte global header, then per packet a 16-byte record
header (seconds, microseconds, captured length, original length) and the packet bytes.
Packets are raw IP with no link-layer header, LINKTYPE_RAW (101), so IPv4 and IPv6 may
share one file; the version nibble tells a reader which each packet is.

Why not a library: the whole format is the two ``struct`` layouts below, written once per
packet with no state to keep. dpkt's ``pcap.Writer`` would add a runtime dependency to
write those same 40 bytes (scapy, a test dependency here, is far too heavy for runtime),
so the writer is ``struct`` alone, and the tests read the files back with scapy's
independent decoder.

What is captured: each packet once, as it leaves its sender, stamped with the virtual
send time -- like a capture on the sender's interface. So packets the network then loses,
drops or refuses (too big, queue full, no route) are in the file; the extra copy a link
delivers when it duplicates a packet is not (the sender never sent it). Two departures
from a real capture, both because the network reports only one set of bytes per packet:
a packet the link corrupts is written as it arrived, with its flipped bit (Wireshark then
flags the bad checksum), and a crafted packet injected by a test or scenario is written
at its arrival time, as if its invented sender had just sent it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

from synack.sim.events import DUPLICATE, PacketEvent
from synack.sim.network import Network

PCAP_MAGIC: Final = 0xA1B2C3D4
"""Magic of a microsecond-resolution pcap file (nanosecond files use 0xA1B23C4D)."""
VERSION: Final = (2, 4)
LINKTYPE_RAW: Final = 101
"""Raw IPv4 or IPv6 packets, no link-layer header (the on-disk value; DLT_RAW varies)."""
SNAPLEN: Final = 262_144
"""Longest packet written whole (tcpdump's default); longer ones are truncated."""

_GLOBAL_HEADER: Final = struct.Struct("<IHHiIII")
_RECORD_HEADER: Final = struct.Struct("<IIII")


def global_header(linktype: int = LINKTYPE_RAW, snaplen: int = SNAPLEN) -> bytes:
    """The 24 bytes that open a little-endian, microsecond pcap file."""
    return _GLOBAL_HEADER.pack(PCAP_MAGIC, *VERSION, 0, 0, snaplen, linktype)


def record(time_us: int, packet: bytes, snaplen: int = SNAPLEN) -> bytes:
    """One packet record: its 16-byte header (timestamp in microseconds) and its bytes."""
    if time_us < 0:
        raise ValueError(f"pcap timestamps cannot be negative, got {time_us}")
    seconds, micros = divmod(time_us, 1_000_000)
    captured = packet[:snaplen]
    return _RECORD_HEADER.pack(seconds, micros, len(captured), len(packet)) + captured


class PcapFile:
    """A pcap file being written: packets go in with their time, in the order given.

    Use it as a context manager, or call `close` at the end (records are buffered:
    `flush` makes what was written so far readable by others).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.packets = 0
        self._file: BinaryIO | None = self.path.open("wb")
        self._file.write(global_header())

    def write(self, time_us: int, packet: bytes) -> None:
        """Add one packet; ignored once the file is closed."""
        if self._file is None:
            return
        self._file.write(record(time_us, packet))
        self.packets += 1

    @property
    def closed(self) -> bool:
        return self._file is None

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Finish the file; packets reported afterwards are ignored."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> PcapFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else "open"
        return f"<{type(self).__name__} {str(self.path)!r} {self.packets} packets, {state}>"


class PcapRecorder(PcapFile):
    """Write every packet a simulated network carries to ``path``, in send order.

    Attaches itself with ``network.observe`` on construction, so build it before the
    traffic starts.
    """

    def __init__(self, network: Network, path: str | Path) -> None:
        super().__init__(path)
        network.observe(self._on_packet)

    def _on_packet(self, event: PacketEvent) -> None:
        if event.fate != DUPLICATE:
            self.write(event.sent_us, event.packet)
