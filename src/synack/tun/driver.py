"""Run a synack Stack on a TUN device, on an asyncio event loop.

The loop owns the device: a reader drains every ready packet (a bounded batch) into the
stack, then due timers fire, then everything the stack queued is written out. One
``threading.RLock`` guards the stack, taken once per batch; blocking sockets on other
threads take it for each call and wait on a ``Condition`` that every batch notifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from synack.api import driver as api_driver
from synack.stack import Stack
from synack.trace.pcap import PcapFile

#: Packets read per reader callback: bounds the time the stack holds the lock.
BATCH = 256

PacketHook = Callable[[str, bytes], None]


class PacketDevice(Protocol):
    """What the driver needs from a device (a TunDevice, or a stand-in in tests)."""

    @property
    def name(self) -> str: ...

    def fileno(self) -> int: ...

    def read_ready(self, max_packets: int) -> list[bytes]: ...

    def write(self, packet: bytes) -> None: ...

    def close(self) -> None: ...


class TunDriver:
    """Drives one stack from a packet device and the monotonic clock."""

    def __init__(self, stack: Stack, device: PacketDevice, batch: int = BATCH) -> None:
        self._stack = stack
        self.device = device
        self.batch = batch
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._origin_ns = time.monotonic_ns()
        self._last_us = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._own_thread: threading.Thread | None = None
        self._loop_offset = 0.0  # loop.time() minus stack seconds
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: int | None = None
        self._rearm_pending = False
        self._closed = False
        #: ``hook(direction, packet)`` with direction "in" or "out" (a pcap writer).
        self.on_packet: list[PacketHook] = []
        self._captures: list[PcapFile] = []
        #: Writes the device refused with an error other than a full queue.
        self.write_errors = 0
        #: Why the device stopped being read (it went away under us), if it did.
        self.read_error: OSError | None = None
        stack.now = 0

    def __repr__(self) -> str:
        return f"<TunDriver {self.device.name} {self._stack!r}>"

    def __enter__(self) -> TunDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ Driver protocol

    @property
    def stack(self) -> Stack:
        return self._stack

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the TUN driver is not running: call start() or attach()")
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    def guard(self) -> AbstractContextManager[object]:
        return self._lock

    def now_us(self) -> int:
        """Stack time: microseconds since the driver started, never going back."""
        now = (time.monotonic_ns() - self._origin_ns) // 1000
        if now < self._last_us:
            return self._last_us
        self._last_us = now
        return now

    def sync(self) -> None:
        self._stack.now = self.now_us()

    def kick(self) -> None:
        """Write out what a user call queued; re-arm the timer if it must fire sooner."""
        self._flush()
        deadline = self._stack.next_deadline()
        current = self._timer_deadline
        if deadline is not None and (current is None or deadline < current):
            loop = self._loop
            if loop is not None:
                if threading.get_ident() == self._loop_thread:
                    self._arm(deadline)
                elif not self._rearm_pending:
                    self._rearm_pending = True
                    loop.call_soon_threadsafe(self._rearm)
        self._cond.notify_all()

    def wait(self, ready: Callable[[], bool], timeout_us: int | None) -> bool:
        if ready():
            return True
        if self._loop_thread is not None and threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "a blocking synack socket call on the TUN driver's event loop would stop the"
                " loop it waits for: use synack.asyncio on the loop thread"
            )
        if self._loop is None and not self._closed:
            raise RuntimeError("the TUN driver is not running: call start() or attach()")
        closed = self._closed_check
        timeout = None if timeout_us is None else timeout_us / 1_000_000
        self._cond.wait_for(lambda: ready() or closed(), timeout)
        if ready():
            return True
        if self._closed:
            raise OSError(errno.ENETDOWN, f"{os.strerror(errno.ENETDOWN)}: TUN driver closed")
        return False

    def _closed_check(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ lifecycle

    def attach(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run on ``loop`` (default: the running loop); call from the loop's thread."""
        if self._closed:
            raise RuntimeError("the TUN driver is closed")
        if self._loop is not None:
            raise RuntimeError("the TUN driver is already running")
        self._install(loop if loop is not None else asyncio.get_running_loop())

    def start(self) -> None:
        """Run on a daemon thread with its own event loop (for blocking programs)."""
        if self._closed:
            raise RuntimeError("the TUN driver is closed")
        if self._loop is not None:
            raise RuntimeError("the TUN driver is already running")
        loop = asyncio.new_event_loop()
        installed = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._install(loop)
            except BaseException as exc:
                failure.append(exc)
                installed.set()
                loop.close()
                return
            installed.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"synack-{self.device.name}", daemon=True)
        self._own_thread = thread
        thread.start()
        installed.wait()
        if failure:
            self._own_thread = None
            raise failure[0]

    def write_pcap(self, path: str | Path) -> PcapFile:
        """Capture every packet in and out, from now until `close`, into a pcap file.

        Packets are stamped with the wall clock, as a capture on the device would be.
        """
        pcap = PcapFile(path)
        self.on_packet.append(lambda _direction, packet: pcap.write(time.time_ns() // 1000, packet))
        self._captures.append(pcap)
        return pcap

    def close(self) -> None:
        """Stop the loop work (and the thread, if ours), close the device, wake waiters."""
        if self._closed:
            return
        loop, thread = self._loop, self._own_thread
        if loop is not None:
            if thread is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(self._uninstall_and_stop)
                if thread is not threading.current_thread():
                    thread.join(timeout=5.0)
            elif threading.get_ident() == self._loop_thread or not loop.is_running():
                self._uninstall()
            else:
                done = threading.Event()

                def detach() -> None:
                    self._uninstall()
                    done.set()

                loop.call_soon_threadsafe(detach)
                done.wait(timeout=5.0)
        with self._lock:
            self._closed = True
            self._loop = None
            self._loop_thread = None
            self.device.close()
            self._cond.notify_all()
        for pcap in self._captures:
            pcap.close()
        with contextlib.suppress(RuntimeError):  # no default driver at all
            if api_driver.default_driver() is self:
                api_driver.set_default_driver(None)

    def _install(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loop_offset = loop.time() - self.now_us() / 1_000_000
            loop.add_reader(self.device.fileno(), self._on_readable)
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self.sync()
            self._flush()
            self._arm(self._stack.next_deadline())

    def _uninstall(self) -> None:
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_deadline = None
        if not getattr(self.device, "closed", False):
            loop.remove_reader(self.device.fileno())

    def _uninstall_and_stop(self) -> None:
        loop = self._loop
        self._uninstall()
        if loop is not None:
            loop.stop()

    # ------------------------------------------------------------------ on the loop

    def _on_readable(self) -> None:
        try:
            packets = self.device.read_ready(self.batch)
        except OSError as exc:
            self._device_failed(exc)
            return
        if not packets:
            return
        stack = self._stack
        with self._lock:
            if self.on_packet:
                for packet in packets:
                    for hook in self.on_packet:
                        hook("in", packet)
            now = self.now_us()
            receive = stack.receive
            stack.begin_batch()  # one ACK for a burst of data, as after GRO
            try:
                for packet in packets:
                    receive(packet, now)
            finally:
                stack.end_batch()
            stack.advance(now)
            self._flush()
            deadline = stack.next_deadline()
            if deadline != self._timer_deadline:
                self._arm(deadline)
            self._cond.notify_all()

    def _device_failed(self, exc: OSError) -> None:
        """The device cannot be read any more: stop reading rather than spin on it."""
        with self._lock:
            self.read_error = exc
            if self._loop is not None:
                self._loop.remove_reader(self.device.fileno())
            self._cond.notify_all()

    def _on_timer(self) -> None:
        stack = self._stack
        with self._lock:
            fired = self._timer_deadline
            self._timer = None
            self._timer_deadline = None
            now = self.now_us()
            if fired is not None and fired > now:
                # The loop's float clock woke us a hair early: the deadline is due.
                self._last_us = now = fired
            stack.advance(now)
            self._flush()
            self._arm(stack.next_deadline())
            self._cond.notify_all()

    def _rearm(self) -> None:
        with self._lock:
            self._rearm_pending = False
            if self._loop is None:
                return
            deadline = self._stack.next_deadline()
            if deadline != self._timer_deadline:
                self._arm(deadline)

    def _arm(self, deadline: int | None) -> None:
        """Point the one loop timer at ``deadline`` (loop thread, lock held)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        loop = self._loop
        if deadline is not None and loop is not None:
            when = self._loop_offset + deadline / 1_000_000
            self._timer = loop.call_at(when, self._on_timer)

    def _flush(self) -> None:
        """Write out what the stack queued (lock held)."""
        packets = self._stack.transmit()
        if not packets:
            return
        if self.on_packet:
            for packet in packets:
                for hook in self.on_packet:
                    hook("out", packet)
        if self._closed:
            return
        write = self.device.write
        try:
            for packet in packets:
                write(packet)
        except OSError:
            # The device is going away (or refused a packet): TCP treats it as loss.
            self.write_errors += 1
