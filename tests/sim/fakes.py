"""Small stacks and raw IP helpers for the simulator tests (no dependency on synack.wire)."""

from __future__ import annotations

import ipaddress
import struct

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")


def addr(text: str) -> bytes:
    """Packed form of an IPv4 or IPv6 address."""
    return ipaddress.ip_address(text).packed


def ip4(src: str, dst: str, payload: bytes = b"") -> bytes:
    """A minimal IPv4 packet: 20-byte header (protocol 253, checksum left 0) + payload."""
    header = _IPV4.pack(0x45, 0, 20 + len(payload), 0, 0, 64, 253, 0, addr(src), addr(dst))
    return header + payload


def ip6(src: str, dst: str, payload: bytes = b"") -> bytes:
    """A minimal IPv6 packet: 40-byte header (next header 253) + payload."""
    return _IPV6.pack(6 << 28, len(payload), 253, 64, addr(src), addr(dst)) + payload


def payload4(packet: bytes) -> bytes:
    return packet[20:]


class SinkStack:
    """Records what arrives and sends what the test queues with `send`."""

    def __init__(self) -> None:
        self.received: list[tuple[int, bytes]] = []
        self.outbox: list[bytes] = []

    def send(self, packet: bytes) -> None:
        self.outbox.append(packet)

    def receive(self, packet: bytes, now: int) -> None:
        self.received.append((now, packet))

    def transmit(self) -> list[bytes]:
        out, self.outbox = self.outbox, []
        return out

    def next_deadline(self) -> int | None:
        return None

    def advance(self, now: int) -> None:
        pass

    @property
    def payloads(self) -> list[bytes]:
        return [payload4(p) for _, p in self.received]


class EchoStack(SinkStack):
    """Answers each IPv4 packet `processing_us` after it arrived, using a deadline.

    Replies carry b"re:" + the payload and are not answered again, so two echo stacks
    do not ping-pong forever.
    """

    def __init__(self, processing_us: int = 0) -> None:
        super().__init__()
        self.processing_us = processing_us
        self.pending: list[tuple[int, bytes]] = []

    def receive(self, packet: bytes, now: int) -> None:
        super().receive(packet, now)
        if len(packet) < 20 or packet[0] >> 4 != 4 or packet[20:].startswith(b"re:"):
            return
        reply = packet[:12] + packet[16:20] + packet[12:16] + b"re:" + packet[20:]
        reply = reply[:2] + struct.pack("!H", len(reply)) + reply[4:]
        if self.processing_us:
            self.pending.append((now + self.processing_us, reply))
        else:
            self.outbox.append(reply)

    def next_deadline(self) -> int | None:
        return min(t for t, _ in self.pending) if self.pending else None

    def advance(self, now: int) -> None:
        due = [p for t, p in self.pending if t <= now]
        self.pending = [(t, p) for t, p in self.pending if t > now]
        self.outbox.extend(due)


class TimerStack(SinkStack):
    """Holds a set of deadlines; records (now, deadline) for each one that fires.

    With `period`, each firing arms the next deadline `period` later, `repeats` times.
    """

    def __init__(
        self, deadlines: list[int] | None = None, period: int = 0, repeats: int = 0
    ) -> None:
        super().__init__()
        self.deadlines = sorted(deadlines or [])
        self.fired: list[tuple[int, int]] = []
        self.advance_calls: list[int] = []
        self.period = period
        self.repeats = repeats

    def next_deadline(self) -> int | None:
        return self.deadlines[0] if self.deadlines else None

    def advance(self, now: int) -> None:
        self.advance_calls.append(now)
        while self.deadlines and self.deadlines[0] <= now:
            deadline = self.deadlines.pop(0)
            self.fired.append((now, deadline))
            if self.repeats > 0:
                self.repeats -= 1
                self.deadlines.append(deadline + self.period)
                self.deadlines.sort()


class BusyStack(SinkStack):
    """A broken stack whose deadline is always due and never consumed: a livelock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0

    def next_deadline(self) -> int | None:
        return self.now

    def advance(self, now: int) -> None:
        self.now = now
