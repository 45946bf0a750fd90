"""synack on a Linux TUN device: talk TCP with the kernel (or anything routed to it).

``open_tun`` is the one call most programs need::

    with open_tun("synack0") as driver:        # synack is 198.18.0.2, the kernel 198.18.0.1
        srv = synack.socket.create_server(("198.18.0.2", 8080))
        conn, peer = srv.accept()

Creating a TUN device needs CAP_NET_ADMIN (root).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os

from synack.api.driver import set_default_driver
from synack.stack import Stack
from synack.tcp.config import LINUX, TcpConfig
from synack.tun.device import TunDevice, TunError, configure
from synack.tun.driver import TunDriver

__all__ = ["TunDevice", "TunDriver", "TunError", "configure", "open_tun"]


def open_tun(
    name: str,
    addr: str | None = "198.18.0.2/24",
    host_addr: str | None = "198.18.0.1/24",
    *,
    addr6: str | None = None,
    host_addr6: str | None = None,
    mtu: int = 1500,
    config: TcpConfig = LINUX,
    start: bool = True,
) -> TunDriver:
    """Create TUN device ``name``, give the kernel ``host_addr`` (and ``host_addr6``),
    and run a synack stack that owns ``addr`` (and ``addr6``) behind it. For IPv6 only,
    pass ``addr=None, host_addr=None``.

    synack's addresses must lie in the kernel's prefixes so that the kernel routes them
    to the device. The driver becomes the default one for ``synack.socket`` until closed.
    """
    if (addr is None) != (host_addr is None):
        raise ValueError("give both addr and host_addr, or neither")
    if (addr6 is None) != (host_addr6 is None):
        raise ValueError("give both addr6 and host_addr6, or neither")
    if addr is None and addr6 is None:
        raise ValueError("synack needs an address: give addr (IPv4), addr6 (IPv6) or both")
    own: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    host: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    if addr is not None and host_addr is not None:
        own.append(_interface(addr, 4, "addr"))
        host.append(_interface(host_addr, 4, "host_addr"))
    if addr6 is not None and host_addr6 is not None:
        own.append(_interface(addr6, 6, "addr6"))
        host.append(_interface(host_addr6, 6, "host_addr6"))
    for mine, theirs in zip(own, host, strict=True):
        if mine.ip == theirs.ip:
            raise ValueError(f"synack and the kernel cannot both be {mine.ip}")
        if mine.ip not in theirs.network:
            raise ValueError(
                f"{mine.ip} is outside the kernel's prefix {theirs.network}: "
                "the kernel would not route it to the device"
            )
    if config.mtu != mtu:
        config = dataclasses.replace(config, mtu=mtu)
    device = TunDevice(name)
    try:
        device.configure([str(h) for h in host], mtu)
        stack = Stack(
            [i.ip.packed for i in own],
            config,
            seed=int.from_bytes(os.urandom(8), "big"),
            isn_key=os.urandom(32),
            name=device.name,
        )
        driver = TunDriver(stack, device)
        if start:
            driver.start()
    except BaseException:
        device.close()
        raise
    set_default_driver(driver)
    return driver


def _interface(
    text: str, version: int, what: str
) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if iface.version != version:
        raise ValueError(f"{what} must be an IPv{version} address, got {text!r}")
    return iface
