"""The standard ``socket`` module's TCP calls, over a synack stack.

Code written for the standard module runs over synack by changing its import::

    from synack import socket
    with socket.create_connection(("198.18.0.1", 80), timeout=5) as sock: ...

With no ``driver=``, calls use the default driver (``synack.tun.open_tun()`` sets one).
"""

from __future__ import annotations

import ipaddress
import socket as _std

from synack.api.driver import Driver, default_driver
from synack.api.socket import (
    AF_INET,
    AF_INET6,
    IPPROTO_TCP,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_DEFER_ACCEPT,
    TCP_IDLE_TIMEOUT,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
    TCP_NOOPT,
    TCP_USER_TIMEOUT,
    Socket,
)

__all__ = [
    "AF_INET",
    "AF_INET6",
    "IPPROTO_TCP",
    "SHUT_RD",
    "SHUT_RDWR",
    "SHUT_WR",
    "SOCK_STREAM",
    "SOL_SOCKET",
    "SO_ERROR",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_RCVBUF",
    "SO_REUSEADDR",
    "SO_SNDBUF",
    "TCP_DEFER_ACCEPT",
    "TCP_IDLE_TIMEOUT",
    "TCP_KEEPCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_NODELAY",
    "TCP_NOOPT",
    "TCP_USER_TIMEOUT",
    "SocketType",
    "create_connection",
    "create_server",
    "error",
    "gaierror",
    "has_ipv6",
    "socket",
    "timeout",
]

SocketType = Socket
error = OSError
timeout = TimeoutError
gaierror = _std.gaierror
has_ipv6 = True


def socket(
    family: int = AF_INET, type: int = SOCK_STREAM, *, driver: Driver | None = None
) -> Socket:
    """A new TCP socket on ``driver`` (default: the registered default driver)."""
    return Socket(driver if driver is not None else default_driver(), family, type)


def create_connection(
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    *,
    driver: Driver | None = None,
) -> Socket:
    """Connect to ``address`` (a literal IPv4 or IPv6 address: synack has no resolver)."""
    host, port = address[0], address[1]
    sock = socket(_family_of(host), SOCK_STREAM, driver=driver)
    try:
        if timeout is not None:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def create_server(
    address: tuple[str, int],
    *,
    family: int = AF_INET,
    backlog: int | None = None,
    reuse_port: bool = False,
    driver: Driver | None = None,
) -> Socket:
    """A listening socket bound to ``address``, with SO_REUSEADDR as on POSIX."""
    if reuse_port:
        raise ValueError("SO_REUSEPORT not supported on this platform")
    sock = socket(family, SOCK_STREAM, driver=driver)
    try:
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        sock.bind(address)
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _family_of(host: str) -> int:
    if host in ("", "localhost"):
        raise gaierror(_std.EAI_NONAME, "synack has no resolver: give a literal address")
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        raise gaierror(
            _std.EAI_NONAME, f"synack has no resolver: {host!r} is not a literal address"
        ) from None
    return AF_INET if parsed.version == 4 else AF_INET6
