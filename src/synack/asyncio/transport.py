"""An ``asyncio.Transport`` over one synack connection.

The core calls ``conn.wake`` from inside its own call stack, possibly on another thread
(a TUN driver's), so the transport never reacts there: the wake only schedules one
coalesced ``_service`` on the event loop, which then talks to the core under
``driver.guard()`` and calls the protocol with the guard released (a protocol that
writes from ``data_received`` must not find the stack held).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from synack.api.driver import Driver
from synack.stack import Stack, format_address
from synack.tcp.connection import Connection
from synack.tcp.state import State

if TYPE_CHECKING:
    from synack.asyncio.server import SynackServer

#: Largest chunk handed to ``data_received`` at once.
READ_CHUNK = 256 * 1024


@contextmanager
def core(driver: Driver) -> Iterator[Stack]:
    """One user call on the stack: hold it, bring its clock up to date, send what it queued."""
    with driver.guard():
        driver.sync()
        try:
            yield driver.stack
        finally:
            driver.kick()


class LoopWaker:
    """A ``wake`` callback: runs ``fn`` soon on ``loop``, from whatever thread calls it.

    Wakes coalesce: however often the core calls it before ``fn`` runs, ``fn`` runs once
    (and then sees every change). It never raises into the core: a closed loop just
    means nobody listens any more.
    """

    __slots__ = ("fn", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
        self.loop = loop
        self.fn = fn
        self.pending = False

    def __call__(self) -> None:
        if self.pending:
            return
        loop = self.loop
        if loop.is_closed():
            return
        self.pending = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is loop:
                loop.call_soon(self._run)
            else:
                loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # closed between the check and the call
            pass

    def _run(self) -> None:
        self.pending = False
        self.fn()


def socket_address(address: bytes, port: int) -> tuple[Any, ...]:
    """An address tuple shaped as the standard socket module gives it (4-tuple for IPv6)."""
    if len(address) == 16:
        return (format_address(address), port, 0, 0)
    return (format_address(address) if address else "0.0.0.0", port)


class SynackTransport(asyncio.Transport):
    """A stream transport over a synack ``Connection``, with real TCP flow control.

    Writes go into the connection's send buffer as far as it has room; the rest waits in
    the transport (``get_write_buffer_size``) and moves on each wake. Reading paused means
    the received bytes stay in the connection, so its advertised window closes.

    ``get_extra_info("connection")`` is the synack ``Connection`` itself, for inspection
    (under ``driver.guard()`` where the stack runs on another thread).
    """

    # Slots, not a __dict__: a server holds one of these per connection.
    __slots__ = (
        "_buffer",
        "_closing",
        "_conn",
        "_driver",
        "_eof",
        "_eof_received",
        "_eof_sent",
        "_high_water",
        "_loop",
        "_lost",
        "_low_water",
        "_protocol",
        "_reading_paused",
        "_server",
        "_wake",
        "_writing_paused",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        driver: Driver,
        conn: Connection,
        protocol: asyncio.BaseProtocol,
        server: SynackServer | None = None,
    ) -> None:
        super().__init__(extra=None)  # get_extra_info builds the names only when asked
        self._loop = loop
        self._driver = driver
        self._conn = conn
        self._protocol = protocol
        self._server = server
        self._buffer = bytearray()
        self._closing = False  # close() or abort() called, or the connection failed
        self._eof = False  # write_eof() called
        self._eof_sent = False
        self._eof_received = False
        self._lost = False
        self._reading_paused = False
        self._writing_paused = False  # protocol.pause_writing() in effect
        self._high_water = 64 * 1024
        self._low_water = 16 * 1024
        self._wake = LoopWaker(loop, self._service)
        if server is not None:
            server._attach()
        with core(driver):
            conn.wake = self._wake
        try:
            protocol.connection_made(self)
        except Exception as exc:
            self._protocol_failed(exc, "connection_made")
            return
        self._schedule()

    def __repr__(self) -> str:
        state = "closed" if self._lost else "closing" if self._closing else self._conn.state
        peer = self.get_extra_info("peername")
        return f"<SynackTransport {state} peer={peer[0]}:{peer[1]}>"

    # ------------------------------------------------------------- BaseTransport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        key = self._conn.key
        if name == "peername":
            return socket_address(key[2], key[3])
        if name == "sockname":
            return socket_address(key[0], key[1])
        if name == "socket":
            return None
        if name == "connection":
            return self._conn
        return default

    def is_closing(self) -> bool:
        return self._closing

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def close(self) -> None:
        """Graceful: the buffered bytes go out first, then the FIN; reading stops now."""
        if self._closing:
            return
        self._closing = True
        self._reading_paused = True
        if not self._buffer:
            self._finish_close()
        else:
            self._schedule()

    def abort(self) -> None:
        """Reset the connection (RST) and drop whatever was not sent."""
        if self._lost:
            return
        self._closing = True
        self._buffer.clear()
        with core(self._driver):
            self._conn.wake = None
            self._conn.abort()
        self._lose(None)

    # ------------------------------------------------------------- ReadTransport

    def is_reading(self) -> bool:
        return not (self._reading_paused or self._closing)

    def pause_reading(self) -> None:
        """Leave received bytes in the connection: its window closes and the peer stalls."""
        if self._closing or self._reading_paused:
            return
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._closing or not self._reading_paused:
            return
        self._reading_paused = False
        self._schedule()

    # ------------------------------------------------------------- WriteTransport

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data or self._lost:
            return
        if self._buffer:
            self._buffer += data
        else:
            try:
                with core(self._driver):
                    taken = self._conn.send(data)
            except OSError as exc:
                self._fail(exc)
                return
            if taken < len(data):
                self._buffer += memoryview(data)[taken:]
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        """Half-close: the FIN follows the buffered bytes; reading goes on."""
        if self._eof or self._closing:
            return
        self._eof = True
        if not self._buffer:
            self._send_fin()

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low_water, self._high_water

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water, self._low_water = high, low
        self._maybe_pause_protocol()

    # ------------------------------------------------------------- the loop side

    def _schedule(self) -> None:
        if not self._lost:
            self._wake()

    def _service(self) -> None:
        """React to whatever changed in the connection (runs on the loop, never in the core)."""
        if self._lost:
            return
        conn = self._conn
        data = b""
        eof = False
        error: OSError | None = None
        with core(self._driver):
            if self._buffer:
                try:
                    taken = conn.send(self._buffer)
                except OSError as exc:
                    error = exc
                else:
                    del self._buffer[:taken]
            if error is None and not self._buffer and self._eof and not self._eof_sent:
                self._eof_sent = True
                if conn.state is not State.CLOSED:
                    conn.shutdown_write()
            if not self._reading_paused and conn.rcv_buf:
                data = conn.recv(READ_CHUNK)
            more = bool(conn.rcv_buf) and not self._reading_paused
            if error is None and conn.error is not None and not more:
                error, conn.error = conn.error, None
            if (
                not self._reading_paused
                and not self._eof_received
                and not more
                and error is None
                and conn.at_eof
            ):
                eof = self._eof_received = True
        if data:
            try:
                self._protocol.data_received(data)  # type: ignore[attr-defined]
            except Exception as exc:
                self._protocol_failed(exc, "data_received")
                return
            if more:
                self._schedule()
        if error is not None:
            self._fail(error)
            return
        if eof and not self._closing:
            try:
                keep_open = self._protocol.eof_received()  # type: ignore[attr-defined]
            except Exception as exc:
                self._protocol_failed(exc, "eof_received")
                return
            if not keep_open:
                self.close()
        if self._closing and not self._buffer and not self._lost:
            self._finish_close()
            return
        self._maybe_resume_protocol()

    def _protocol_failed(self, exc: Exception, method: str) -> None:
        """A protocol callback raised: report it as asyncio does and reset the connection."""
        self._loop.call_exception_handler(
            {
                "message": f"Fatal error: protocol.{method}() call failed.",
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            }
        )
        self._fail(exc)

    def _send_fin(self) -> None:
        self._eof_sent = True
        try:
            with core(self._driver):
                if self._conn.state is not State.CLOSED:
                    self._conn.shutdown_write()
        except OSError as exc:
            self._fail(exc)

    def _finish_close(self) -> None:
        """Everything written is in the connection: hand it over to finish on its own."""
        with core(self._driver):
            conn = self._conn
            conn.wake = None
            if conn.rcv_buf:  # unread bytes would turn the close into a reset
                conn.recv(len(conn.rcv_buf))
            conn.close()
        self._lose(None)

    def _fail(self, exc: Exception) -> None:
        if self._lost:
            return
        self._closing = True
        self._buffer.clear()
        with core(self._driver):
            self._conn.wake = None
            if self._conn.state is not State.CLOSED:
                self._conn.abort()
        self._lose(exc)

    def _lose(self, exc: Exception | None) -> None:
        """Call ``connection_lost`` once, soon, as asyncio's own transports do."""
        self._lost = True
        if not self._loop.is_closed():  # else nobody is left to tell
            self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            if self._server is not None:
                self._server._detach()
                self._server = None

    def _maybe_pause_protocol(self) -> None:
        if self._writing_paused or len(self._buffer) <= self._high_water:
            return
        self._writing_paused = True
        self._protocol.pause_writing()

    def _maybe_resume_protocol(self) -> None:
        if self._writing_paused and len(self._buffer) <= self._low_water:
            self._writing_paused = False
            self._protocol.resume_writing()


def os_error(code: int, detail: str = "") -> OSError:
    """An OSError of the right subclass, with a message like the standard library's."""
    message = os.strerror(code)
    return OSError(code, f"{detail}: {message.lower()}" if detail else message)
