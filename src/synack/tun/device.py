"""A Linux TUN device: raw IP packets in and out of one file descriptor.

The fd is non-blocking so that one event-loop reader can drain every packet that is
ready and hand the whole batch to the stack at once.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import struct
import subprocess
from collections.abc import Iterable, Sequence

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFNAMSIZ = 16

#: Reads are sized for the largest packet the kernel may hand us on a link of this MTU.
DEFAULT_MTU = 1500


class TunError(OSError):
    """The TUN device could not be created or configured."""


class TunDevice:
    """One TUN interface (IFF_TUN | IFF_NO_PI): each read or write is one whole IP packet."""

    def __init__(self, name: str, path: str = "/dev/net/tun") -> None:
        encoded = name.encode()
        if not encoded or len(encoded) >= IFNAMSIZ or "/" in name or any(c.isspace() for c in name):
            raise ValueError(f"invalid interface name {name!r} (1-15 characters, no '/' or space)")
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(exc.errno, f"cannot open {path}: {exc.strerror}") from exc
        try:
            request = struct.pack(f"{IFNAMSIZ}sH22x", encoded, IFF_TUN | IFF_NO_PI)
            answer = fcntl.ioctl(fd, TUNSETIFF, request)
        except OSError as exc:
            os.close(fd)
            raise TunError(exc.errno, f"TUNSETIFF {name!r} failed: {exc.strerror}") from exc
        self.fd = fd
        self.name = answer[:IFNAMSIZ].rstrip(b"\0").decode()
        self.mtu = DEFAULT_MTU
        #: Packets the kernel would not take (queue full): TCP recovers them like a loss.
        self.drops = 0
        self._read_size = DEFAULT_MTU

    def __repr__(self) -> str:
        return f"<TunDevice {self.name} fd={self.fd}>"

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def configure(self, host_addrs: Iterable[str], mtu: int = DEFAULT_MTU) -> None:
        """Give the kernel's end its addresses and bring the link up."""
        configure(self.name, host_addrs, mtu)
        self.mtu = mtu
        self._read_size = mtu

    def read_ready(self, max_packets: int) -> list[bytes]:
        """Every packet ready now, up to ``max_packets`` (the rest wait for the next call)."""
        packets: list[bytes] = []
        read, fd, size = os.read, self.fd, self._read_size
        append = packets.append
        try:
            for _ in range(max_packets):
                append(read(fd, size))
        except BlockingIOError:
            pass
        except OSError:
            if not packets:
                raise  # reported on the next call when some packets came first
        return packets

    def write(self, packet: bytes) -> None:
        """Send one packet; a full queue drops it (counted), as a congested link would."""
        try:
            os.write(self.fd, packet)
        except BlockingIOError:
            self.drops += 1
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            self.drops += 1

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def configure(name: str, host_addrs: Iterable[str], mtu: int = DEFAULT_MTU) -> None:
    """Address the kernel's side of ``name`` (IPv4 and/or IPv6, with prefix) and set it up.

    IPv6 addresses are added with ``nodad``: duplicate address detection would leave
    them unusable ("tentative") for a second or more.
    """
    commands: list[list[str]] = [["ip", "link", "set", "dev", name, "mtu", str(mtu)]]
    for text in host_addrs:
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError as exc:
            raise ValueError(f"invalid host address {text!r}: {exc}") from None
        command = ["ip", "addr", "add", str(iface), "dev", name]
        if iface.version == 6:
            command.append("nodad")
        commands.append(command)
    commands.append(["ip", "link", "set", "dev", name, "up"])
    for command in commands:
        _run(command)


def _run(command: Sequence[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise TunError(errno.ENOENT, "the `ip` command (iproute2) is not installed") from exc
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip()
        raise TunError(
            errno.EINVAL, f"`{' '.join(command)}` failed (exit {exc.returncode}): {detail}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise TunError(errno.ETIMEDOUT, f"`{' '.join(command)}` did not finish") from exc
