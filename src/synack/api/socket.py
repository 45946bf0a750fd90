"""Objects shaped like the standard ``socket.socket``, over a synack stack.

Errors are Python's own exceptions with errno set, as the standard module raises them:
``ConnectionRefusedError``, ``ConnectionResetError``, ``TimeoutError``,
``BrokenPipeError``, ``OSError(EADDRINUSE)``... A timeout set with ``settimeout`` raises
``TimeoutError("timed out")`` like ``socket.timeout``.
"""

from __future__ import annotations

import errno
import io
import os
import socket as _std
import struct
from collections.abc import Callable
from typing import Any, cast

from synack.api.driver import Driver
from synack.stack import Binding, format_address, pack_address
from synack.tcp.config import MILLISECOND, SECOND
from synack.tcp.connection import Connection
from synack.tcp.listener import Listener
from synack.tcp.state import State

AF_INET = _std.AF_INET
AF_INET6 = _std.AF_INET6
SOCK_STREAM = _std.SOCK_STREAM
SHUT_RD, SHUT_WR, SHUT_RDWR = _std.SHUT_RD, _std.SHUT_WR, _std.SHUT_RDWR
SOL_SOCKET, IPPROTO_TCP = _std.SOL_SOCKET, _std.IPPROTO_TCP
SO_REUSEADDR, SO_KEEPALIVE, SO_LINGER = _std.SO_REUSEADDR, _std.SO_KEEPALIVE, _std.SO_LINGER
SO_RCVBUF, SO_SNDBUF, SO_ERROR = _std.SO_RCVBUF, _std.SO_SNDBUF, _std.SO_ERROR
TCP_NODELAY = _std.TCP_NODELAY
TCP_KEEPIDLE = getattr(_std, "TCP_KEEPIDLE", 4)
TCP_KEEPINTVL = getattr(_std, "TCP_KEEPINTVL", 5)
TCP_KEEPCNT = getattr(_std, "TCP_KEEPCNT", 6)
TCP_USER_TIMEOUT = getattr(_std, "TCP_USER_TIMEOUT", 18)
#: synack's own option (no kernel has it): seconds without data, in either direction,
#: after which the connection is closed (FIN). Set on a listening socket, every accepted
#: connection inherits it.
TCP_IDLE_TIMEOUT = 0x5A01
TCP_DEFER_ACCEPT = getattr(_std, "TCP_DEFER_ACCEPT", 9)
TCP_LINGER2 = getattr(_std, "TCP_LINGER2", 8)
TCP_MAXSEG = getattr(_std, "TCP_MAXSEG", 2)
#: FreeBSD's TCP_NOOPT (8 there, which Linux uses for TCP_LINGER2, hence synack's own
#: number): the SYN or SYN,ACK carries no TCP option at all, so none is negotiated.
TCP_NOOPT = 0x5A02
#: Linux's bounds on TCP_MAXSEG (TCP_MIN_MSS and MAX_TCP_WINDOW).
MAXSEG_MIN, MAXSEG_MAX = 88, 32767
#: What TCP_MAXSEG reads before a connection has learnt its MSS (Linux's TCP_MSS_DEFAULT).
MSS_DEFAULT = 536
#: Linux's TCP_FIN_TIMEOUT_MAX: the longest TCP_LINGER2 it keeps, in seconds.
LINGER2_MAX_S = 120

Address = tuple[str, int]


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class Socket:
    """A TCP socket on a synack stack; blocking by default, like the standard one."""

    def __init__(self, driver: Driver, family: int = AF_INET, type: int = SOCK_STREAM) -> None:
        if family not in (AF_INET, AF_INET6):
            raise _error(errno.EAFNOSUPPORT)
        if type != SOCK_STREAM:
            raise _error(errno.EPROTONOSUPPORT)
        self.driver = driver
        self.family = family
        self.type = type
        self._timeout: float | None = None
        self._binding: Binding | None = None
        self._listener: Listener | None = None
        self._conn: Connection | None = None
        self._closed = False  # really closed: the stack's side is released
        self._close_requested = False  # close() called; makefile() objects may hold it open
        self._io_refs = 0
        self._reuseaddr = False
        self._opts: dict[tuple[int, int], int | bytes] = {}

    # ---------------------------------------------------------------- plumbing

    def __repr__(self) -> str:
        state = self._conn.state if self._conn else "LISTEN" if self._listener else "unconnected"
        return f"<synack.Socket fd={id(self) & 0xFFFF} {state}>"

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timeout_us(self) -> int | None:
        return None if self._timeout is None else int(self._timeout * SECOND)

    def _block(self, ready: Callable[[], bool]) -> None:
        """Wait for ``ready`` as the socket's mode says, or raise the right error."""
        if ready():
            return
        if self._timeout == 0.0:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        if not self.driver.wait(ready, self._timeout_us()):
            raise TimeoutError("timed out")

    def _check_open(self) -> None:
        if self._closed:
            raise _error(errno.EBADF)

    def _require_conn(self) -> Connection:
        self._check_open()
        if self._conn is None:
            raise _error(errno.ENOTCONN)
        return self._conn

    def _address(self, address: Address | tuple[str, int, int, int]) -> tuple[bytes, int]:
        host, port = address[0], address[1]
        packed = pack_address(host) if host not in ("", "0.0.0.0", "::") else b""
        if packed and len(packed) != (4 if self.family == AF_INET else 16):
            raise _error(errno.EAFNOSUPPORT)
        return packed, port

    # ---------------------------------------------------------------- options

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        with self.driver.guard():
            self._setsockopt(level, option, value)

    def _setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        self._check_open()
        if (level, option) == (SOL_SOCKET, SO_REUSEADDR):
            self._reuseaddr = bool(value)
            if self._binding is not None:
                self._binding.reuseaddr = self._reuseaddr
        elif (level, option) not in (
            (SOL_SOCKET, SO_KEEPALIVE),
            (SOL_SOCKET, SO_LINGER),
            (SOL_SOCKET, SO_RCVBUF),
            (SOL_SOCKET, SO_SNDBUF),
            (IPPROTO_TCP, TCP_NODELAY),
            (IPPROTO_TCP, TCP_KEEPIDLE),
            (IPPROTO_TCP, TCP_KEEPINTVL),
            (IPPROTO_TCP, TCP_KEEPCNT),
            (IPPROTO_TCP, TCP_USER_TIMEOUT),
            (IPPROTO_TCP, TCP_IDLE_TIMEOUT),
            (IPPROTO_TCP, TCP_DEFER_ACCEPT),
            (IPPROTO_TCP, TCP_LINGER2),
            (IPPROTO_TCP, TCP_MAXSEG),
            (IPPROTO_TCP, TCP_NOOPT),
        ):
            raise _error(errno.ENOPROTOOPT)
        if option == TCP_MAXSEG and level == IPPROTO_TCP:
            mss = _int(value)
            if mss and not MAXSEG_MIN <= mss <= MAXSEG_MAX:
                raise _error(errno.EINVAL)
        if isinstance(value, int) and value < 0 and option != TCP_LINGER2:
            raise _error(errno.EINVAL)
        self._opts[(level, option)] = value
        if (level, option) == (IPPROTO_TCP, TCP_DEFER_ACCEPT) and self._listener is not None:
            self._listener.set_defer_accept(_int(value))
        if self._listener is not None:
            self._configure_listener(self._listener)
        if self._conn is not None:
            self._apply_options(self._conn)
            self.driver.kick()

    def getsockopt(self, level: int, option: int, buflen: int = 0) -> int | bytes:
        self._check_open()
        if (level, option) == (SOL_SOCKET, SO_ERROR):
            with self.driver.guard():
                conn = self._conn
                if conn is not None and conn.error is not None:
                    err, conn.error = conn.error, None
                    return err.errno or 0
            return 0
        if (level, option) == (SOL_SOCKET, SO_REUSEADDR):
            return int(self._reuseaddr)
        if (level, option) == (SOL_SOCKET, SO_LINGER):
            return self._opts.get((level, option), struct.pack("ii", 0, 0))
        if (level, option) in ((SOL_SOCKET, SO_RCVBUF), (SOL_SOCKET, SO_SNDBUF)):
            return self._buffer_size(option == SO_RCVBUF)
        if level == IPPROTO_TCP and option in (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT):
            return self._keepalive_setting(option)
        if (level, option) == (IPPROTO_TCP, TCP_DEFER_ACCEPT) and self._listener is not None:
            return self._listener.defer_accept_seconds()  # rounded to whole timeouts
        if (level, option) == (IPPROTO_TCP, TCP_MAXSEG):
            return self._maxseg()
        if (level, option) == (IPPROTO_TCP, TCP_LINGER2):
            linger2 = _opt_int(self._opts, (level, option))
            if linger2 is None or linger2 == 0:
                return self.driver.stack.config.fin_timeout
            return -1 if linger2 < 0 else min(linger2, LINGER2_MAX_S)
        return self._opts.get((level, option), 0)

    def _maxseg(self) -> int:
        """Linux's answer: the MSS the connection sends with (less the timestamp option;
        536 until the peer has told its own), but the TCP_MAXSEG set while closed."""
        user_mss = _opt_int(self._opts, (IPPROTO_TCP, TCP_MAXSEG))
        if not self.driver.stack.config.maxseg_reads_user_mss:
            user_mss = None
        with self.driver.guard():
            conn = self._conn
            if conn is not None and not (user_mss and conn.state is State.CLOSED):
                return conn.snd_mss
        return user_mss or MSS_DEFAULT

    def _keepalive_setting(self, option: int) -> int:
        """Keepalive settings in force: the connection's, else what was set, else the
        stack's defaults (the sysctls), as a kernel reports them."""
        with self.driver.guard():
            conn = self._conn
            if conn is not None:
                if option == TCP_KEEPCNT:
                    return conn.keepcnt
                return (conn.keepidle_us if option == TCP_KEEPIDLE else conn.keepintvl_us) // SECOND
        raw = self._opts.get((IPPROTO_TCP, option))
        if raw is not None:
            return _int(raw)
        config = self.driver.stack.config
        if option == TCP_KEEPCNT:
            return config.keepalive_probes
        return config.keepalive_time if option == TCP_KEEPIDLE else config.keepalive_intvl

    def _buffer_size(self, receive: bool) -> int:
        """What the buffer really holds: the stack may round it (and has a default)."""
        with self.driver.guard():
            conn = self._conn
            if conn is not None:
                return conn.rcv_capacity if receive else conn.snd_capacity
        raw = self._opts.get((SOL_SOCKET, SO_RCVBUF if receive else SO_SNDBUF))
        if raw is not None:
            return max(_int(raw), 256)
        config = self.driver.stack.config
        return config.rmem if receive else config.wmem

    def _configure_listener(self, listener: Listener) -> None:
        """What a SYN,ACK sent from the SYN cache needs of the socket's options."""
        listener.user_mss = _opt_int(self._opts, (IPPROTO_TCP, TCP_MAXSEG)) or 0
        rcvbuf = _opt_int(self._opts, (SOL_SOCKET, SO_RCVBUF))
        listener.rcvbuf = None if rcvbuf is None else max(rcvbuf, 256)
        listener.noopt = bool(_opt_int(self._opts, (IPPROTO_TCP, TCP_NOOPT)))

    def _apply_options(self, conn: Connection) -> None:
        opts = self._opts
        conn.reuseaddr = self._reuseaddr
        if (SOL_SOCKET, SO_LINGER) in opts:
            raw = opts[(SOL_SOCKET, SO_LINGER)]
            onoff, seconds = struct.unpack("ii", raw) if isinstance(raw, bytes) else (1, raw)
            conn.linger = seconds if onoff else None
        if (IPPROTO_TCP, TCP_NODELAY) in opts:
            conn.nodelay = bool(opts[(IPPROTO_TCP, TCP_NODELAY)])
        if (SOL_SOCKET, SO_RCVBUF) in opts:
            conn.set_rcvbuf(max(int(_int(opts[(SOL_SOCKET, SO_RCVBUF)])), 256))
        if (SOL_SOCKET, SO_SNDBUF) in opts:
            conn.snd_capacity = max(int(_int(opts[(SOL_SOCKET, SO_SNDBUF)])), 256)
        if (IPPROTO_TCP, TCP_USER_TIMEOUT) in opts:
            conn.user_timeout_us = _int(opts[(IPPROTO_TCP, TCP_USER_TIMEOUT)]) * MILLISECOND
        if (IPPROTO_TCP, TCP_IDLE_TIMEOUT) in opts:
            conn.set_idle_timeout(_int(opts[(IPPROTO_TCP, TCP_IDLE_TIMEOUT)]))
        if (IPPROTO_TCP, TCP_MAXSEG) in opts and conn.state in (State.CLOSED, State.LISTEN):
            conn.set_user_mss(_int(opts[(IPPROTO_TCP, TCP_MAXSEG)]))  # before the SYN only
        if (IPPROTO_TCP, TCP_NOOPT) in opts and conn.state in (State.CLOSED, State.LISTEN):
            conn.noopt = bool(_int(opts[(IPPROTO_TCP, TCP_NOOPT)]))  # SYNs are yet to come
        if (IPPROTO_TCP, TCP_LINGER2) in opts:
            # Seconds an orphan may stay in FIN_WAIT_2; 0 means the sysctl, a negative
            # value no time at all (where Linux also resets the peer, synack just closes).
            linger2 = _int(opts[(IPPROTO_TCP, TCP_LINGER2)])
            conn.linger2_us = None if linger2 == 0 else max(min(linger2, LINGER2_MAX_S), 0) * SECOND
        keep = (SOL_SOCKET, SO_KEEPALIVE) in opts or any(
            (IPPROTO_TCP, o) in opts for o in (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT)
        )
        if keep:
            conn.set_keepalive(
                bool(opts.get((SOL_SOCKET, SO_KEEPALIVE), conn.keepalive)),
                _opt_int(opts, (IPPROTO_TCP, TCP_KEEPIDLE)),
                _opt_int(opts, (IPPROTO_TCP, TCP_KEEPINTVL)),
                _opt_int(opts, (IPPROTO_TCP, TCP_KEEPCNT)),
            )

    def settimeout(self, timeout: float | None) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError("Timeout value out of range")
        self._timeout = None if timeout is None else float(timeout)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # ---------------------------------------------------------------- names

    def getsockname(self) -> Address:
        with self.driver.guard():
            return self._getsockname()

    def _getsockname(self) -> Address:
        self._check_open()
        if self._conn is not None:
            return format_address(self._conn.key[0]), self._conn.key[1]
        if self._listener is not None:
            return self._wild(self._listener.address), self._listener.port
        if self._binding is not None:
            return self._wild(self._binding.address), self._binding.port
        return ("0.0.0.0" if self.family == AF_INET else "::"), 0

    def getpeername(self) -> Address:
        with self.driver.guard():
            conn = self._require_conn()
            return format_address(conn.key[2]), conn.key[3]

    def _wild(self, address: bytes) -> str:
        if address:
            return format_address(address)
        return "0.0.0.0" if self.family == AF_INET else "::"

    # ---------------------------------------------------------------- setup

    def bind(self, address: Address) -> None:
        self._check_open()
        if self._binding is not None or self._conn is not None or self._listener is not None:
            raise _error(errno.EINVAL)
        packed, port = self._address(address)
        with self.driver.guard():
            self.driver.sync()
            self._binding = self.driver.stack.bind(packed or None, port, self._reuseaddr)

    def listen(self, backlog: int = 128, *, max_per_peer: int | None = None) -> None:
        """listen(); ``max_per_peer`` (synack's own) caps connections per remote address."""
        if max_per_peer is not None and max_per_peer < 1:
            raise ValueError("max_per_peer must be at least 1")
        with self.driver.guard():
            self._listen(backlog, max_per_peer)

    def _listen(self, backlog: int, max_per_peer: int | None = None) -> None:
        self._check_open()
        if self._listener is not None:
            self._listener.backlog = max(0, min(backlog, self._listener.config.somaxconn))
            if max_per_peer is not None:
                self._listener.max_per_peer = max_per_peer
            return
        if self._conn is not None:
            raise _error(errno.EINVAL)
        self.driver.sync()
        if self._binding is None:
            self._binding = self.driver.stack.bind(None, 0, self._reuseaddr)
        self._listener = self.driver.stack.listen(self._binding, backlog, max_per_peer)
        self._listener.setup = self._apply_options
        self._configure_listener(self._listener)
        self._binding = None
        defer = self._opts.get((IPPROTO_TCP, TCP_DEFER_ACCEPT))
        if defer is not None:
            self._listener.set_defer_accept(_int(defer))

    def accept(self) -> tuple[Socket, Address]:
        with self.driver.guard():
            return self._accept()

    def _accept(self) -> tuple[Socket, Address]:
        self._check_open()
        listener = self._listener
        if listener is None:
            raise _error(errno.EINVAL)
        self._block(lambda: bool(listener.accept_queue) or listener.state is State.CLOSED)
        self.driver.sync()
        conn = listener.accept()
        if conn is None:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        child = Socket(self.driver, self.family, self.type)
        child._conn = conn
        child._opts = dict(self._opts)
        child._reuseaddr = self._reuseaddr
        child._timeout = self._timeout
        child._apply_options(conn)
        self.driver.kick()
        return child, (format_address(conn.key[2]), conn.key[3])

    def connect(self, address: Address) -> None:
        err = self.connect_ex(address)
        if err:
            raise _error(err)  # OSError picks the subclass: ConnectionRefusedError...

    def connect_ex(self, address: Address) -> int:
        """connect() returning an errno instead of raising (0 on success)."""
        with self.driver.guard():
            return self._connect_ex(address)

    def _connect_ex(self, address: Address) -> int:
        self._check_open()
        if self._listener is not None:
            return errno.EINVAL
        if self._conn is None:
            packed, port = self._address(address)
            if not packed:
                packed = pack_address("127.0.0.1" if self.family == AF_INET else "::1")
            self.driver.sync()
            binding, self._binding = self._binding, None
            self._conn = self.driver.stack.connect(
                packed, port, binding=binding, setup=self._apply_options
            )
            self.driver.kick()
        elif self._conn.state not in (State.SYN_SENT, State.SYN_RCVD) and self._conn.error is None:
            return errno.EISCONN  # connected once already, even if closing since
        conn = self._conn
        try:
            self._block(lambda: conn.state not in (State.SYN_SENT, State.SYN_RCVD))
        except BlockingIOError:
            return errno.EINPROGRESS
        if conn.error is not None:
            err, conn.error = conn.error, None
            self._conn = None
            return err.errno or errno.ECONNABORTED
        return 0

    # ---------------------------------------------------------------- data

    def send(self, data: bytes | bytearray | memoryview, flags: int = 0) -> int:
        with self.driver.guard():
            return self._send(data, flags)

    def _send(self, data: bytes | bytearray | memoryview, flags: int) -> int:
        self._check_open()
        if self._conn is None:
            raise _error(errno.EPIPE)  # Linux: sending on an unconnected TCP socket
        conn = self._conn
        if flags:
            raise _error(errno.EOPNOTSUPP)
        if not data:
            return 0

        def ready() -> bool:
            return (
                conn.send_space() > 0
                or conn.error is not None
                or conn.fin_queued
                or conn.state not in (State.ESTABLISHED, State.CLOSE_WAIT, State.SYN_SENT)
            )

        self._block(ready)
        self.driver.sync()
        sent = conn.send(data)  # raises a pending error, or EPIPE after shutdown
        self.driver.kick()
        return sent

    def sendall(self, data: bytes | bytearray | memoryview, flags: int = 0) -> None:
        view = memoryview(data)
        while view:
            sent = self.send(view, flags)
            view = view[sent:]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        with self.driver.guard():
            return self._recv(bufsize, flags)

    def _recv(self, bufsize: int, flags: int) -> bytes:
        conn = self._require_conn()
        if flags:
            raise _error(errno.EOPNOTSUPP)
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        self._block(
            lambda: bool(conn.rcv_buf) or conn.at_eof or conn.error is not None or conn.rcv_shut
        )
        self.driver.sync()
        data = conn.recv(bufsize)
        self.driver.kick()
        return data

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer)
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def urgent_mark(self) -> int | None:
        """Sequence offset of the urgent pointer the peer last sent (SIOCATMARK-like)."""
        with self.driver.guard():
            conn = self._require_conn()
            if conn.urgent_mark is None:
                return None
            return (conn.urgent_mark - conn.irs - 1) & 0xFFFFFFFF

    def pending(self) -> int:
        """Bytes received and not yet read (FIONREAD)."""
        with self.driver.guard():
            return self._require_conn().readable_bytes()

    @property
    def state(self) -> State:
        """The TCP state of the socket's connection (LISTEN for a listener)."""
        if self._conn is not None:
            return self._conn.state
        if self._listener is not None:
            return self._listener.state
        return State.CLOSED

    @property
    def connection(self) -> Connection | None:
        return self._conn

    # ---------------------------------------------------------------- teardown

    def shutdown(self, how: int) -> None:
        with self.driver.guard():
            self._shutdown(how)

    def _shutdown(self, how: int) -> None:
        conn = self._require_conn()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise _error(errno.EINVAL)
        self.driver.sync()
        if conn.state is State.CLOSED:
            raise _error(errno.ENOTCONN)
        if how in (SHUT_RD, SHUT_RDWR):
            conn.shutdown_read()
        if how in (SHUT_WR, SHUT_RDWR):
            conn.shutdown_write()
        self.driver.kick()

    def close(self) -> None:
        """Close the socket; the connection is released once no makefile() holds it."""
        self._close_requested = True
        if self._io_refs <= 0:
            with self.driver.guard():
                self._real_close()

    def _real_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.driver.sync()
        if self._listener is not None:
            self._listener.close()
        elif self._conn is not None:
            conn = self._conn
            conn.wake = None
            conn.close()
            if conn.linger and conn.state not in (State.CLOSED, State.TIME_WAIT):
                # SO_LINGER {1, t}: close() waits up to t seconds for the FIN's ACK.
                self.driver.kick()
                self.driver.wait(
                    lambda: conn.state in (State.CLOSED, State.TIME_WAIT, State.FIN_WAIT_2),
                    conn.linger * SECOND,
                )
        elif self._binding is not None:
            self.driver.stack.unbind(self._binding)
        self.driver.kick()

    def fileno(self) -> int:
        return -1 if self._closed else id(self) & 0x7FFFFFFF

    def detach(self) -> None:
        raise _error(errno.EOPNOTSUPP)

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object over the socket, as ``socket.socket.makefile`` returns."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        self._check_open()
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        rawmode = ("r" if reading else "") + ("w" if writing else "")
        # SocketIO needs only recv_into, send, fileno and _decref_socketios.
        raw = _std.SocketIO(cast(Any, self), cast(Any, rawmode))
        self._io_refs += 1
        if buffering is None or buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: io.BufferedIOBase
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = io.TextIOWrapper(cast(Any, buffer), io.text_encoding(encoding), errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    def _decref_socketios(self) -> None:
        """A makefile() object closed: finish a close() that waited for it."""
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._close_requested:
            self.close()


def _int(value: int | bytes) -> int:
    return value if isinstance(value, int) else int.from_bytes(value[:4], "little", signed=True)


def _opt_int(opts: dict[tuple[int, int], int | bytes], key: tuple[int, int]) -> int | None:
    return _int(opts[key]) if key in opts else None
