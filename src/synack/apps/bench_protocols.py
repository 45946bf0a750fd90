"""The benchmark protocol again, as asyncio protocols rather than stream handlers.

Same behaviour as `synack.apps.bench` (see there), at a fraction of the cost per
connection: no task, no StreamReader or StreamWriter, only one small object. The side
by side benchmark holds 500 idle connections and measures the server's memory per
connection, and makes thousands of short connections a second; `synack serve bench`
uses these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from synack.apps.bench import COUNT

CHUNK = 64 * 1024
SOURCE_CHUNK = bytes(CHUNK)


class BenchEcho(asyncio.Protocol):
    """Port 7: echo until EOF, then close; reading pauses while the peer is not reading."""

    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        self.transport.close()  # after what is buffered has gone
        return True

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


class BenchDiscard(asyncio.Protocol):
    """Port 9: count the bytes up to EOF, answer with the count, close."""

    __slots__ = ("count", "transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.count = 0

    def data_received(self, data: bytes) -> None:
        self.count += len(data)

    def eof_received(self) -> bool:
        self.transport.write(COUNT.pack(self.count))
        self.transport.close()
        return True


class BenchSource(asyncio.Protocol):
    """Port 19: read an 8-byte big-endian N, send N bytes, close."""

    __slots__ = ("paused", "remaining", "request", "transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.request = b""
        self.remaining: int | None = None  # until the request is complete
        self.paused = False

    def data_received(self, data: bytes) -> None:
        if self.remaining is not None:
            return  # anything after the request is ignored
        self.request += data
        if len(self.request) >= COUNT.size:
            (self.remaining,) = COUNT.unpack_from(self.request)
            self.request = b""
            self._send()

    def eof_received(self) -> bool:
        if self.remaining is None:
            self.transport.close()  # closed before asking for anything
        return True

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._send()

    def _send(self) -> None:
        transport, remaining = self.transport, self.remaining
        if remaining is None:
            return
        while remaining > 0 and not self.paused:
            n = min(remaining, CHUNK)
            transport.write(SOURCE_CHUNK if n == CHUNK else SOURCE_CHUNK[:n])
            remaining -= n
        self.remaining = remaining
        if remaining == 0 and not transport.is_closing():
            transport.close()  # after the buffer drains


BENCH_PROTOCOLS: list[tuple[int, Callable[[], asyncio.Protocol]]] = [
    (9, BenchDiscard),
    (7, BenchEcho),
    (19, BenchSource),
]
