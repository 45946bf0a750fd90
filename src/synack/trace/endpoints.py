"""Connection endpoints as trace files and the ``--conn`` option spell them."""

from __future__ import annotations

import functools
import ipaddress

Endpoint = tuple[str, int]


def endpoint_text(endpoint: Endpoint) -> str:
    """``ADDR:PORT``, with IPv6 addresses in brackets."""
    addr, port = endpoint
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


@functools.lru_cache(maxsize=4096)
def norm_addr(addr: str) -> str:
    """One spelling per address, so that --conn and every line of a trace compare equal."""
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return addr


def parse_conn(text: str) -> tuple[Endpoint, Endpoint]:
    """``ADDR:PORT-ADDR:PORT`` (IPv6 addresses in brackets) as two endpoints."""

    def endpoint(part: str) -> Endpoint:
        addr, sep, port = part.rpartition(":")
        addr = addr.removeprefix("[").removesuffix("]")
        if not sep or not addr or not port.isdigit() or int(port) > 0xFFFF:
            raise ValueError(f"bad endpoint {part!r}: expected ADDR:PORT")
        return norm_addr(addr), int(port)

    # IPv6 addresses hold no "-", so the first one splits local from remote.
    local, sep, remote = text.partition("-")
    if not sep:
        raise ValueError(f"bad connection {text!r}: expected ADDR:PORT-ADDR:PORT")
    return endpoint(local), endpoint(remote)
