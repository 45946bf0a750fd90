"""``synack serve`` and ``synack fetch``: services and an HTTP client on a TUN device.

Both create the TUN device in the current network namespace, give the kernel's side its
address, and run synack on an asyncio loop in this process; the services are the plain
stream handlers of `synack.apps`, carried by `synack.asyncio`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from synack.apps import PROTOCOL_SERVICES, StreamHandler
from synack.control import ControlError, ControlServer, default_path, respond
from synack.tcp.config import LINUX, RFC, TcpConfig
from synack.tun import TunDriver, open_tun

PROFILES: dict[str, TcpConfig] = {"linux": LINUX, "rfc": RFC}
CLOSE_GRACE_S = 5.0
BACKLOG = 1024  # as the benchmark peers use: 500 clients may connect at once
STREAM_LIMIT = 1 << 20  # lets the services' 256 KiB reads fill


def add_tun_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tun", required=True, metavar="NAME", help="TUN device to create")
    parser.add_argument(
        "--addr", required=True, metavar="ADDR/PREFIX", help="synack's address on the device"
    )
    parser.add_argument(
        "--host-addr", required=True, metavar="ADDR/PREFIX", help="the kernel's address on it"
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="linux")
    parser.add_argument("--mtu", type=int, default=1500, help="the device's MTU (68..65535)")
    parser.add_argument("--pcap", metavar="FILE", help="write every packet to a pcap file")
    parser.add_argument(
        "--trace", metavar="FILE", help="write every event as JSON lines (docs/trace-format.md)"
    )


def _interfaces(args: argparse.Namespace) -> tuple[str, str]:
    """Check --addr and --host-addr early, with errors that name the option."""
    try:
        addr = ipaddress.ip_interface(args.addr)
        host = ipaddress.ip_interface(args.host_addr)
    except ValueError as exc:
        raise SystemExit(f"synack: {exc}") from None
    if addr.version != host.version:
        raise SystemExit("synack: --addr and --host-addr must be of the same IP version")
    if not 68 <= args.mtu <= 65535:
        raise SystemExit("synack: --mtu must be 68..65535")
    return str(addr), str(host)


@contextlib.contextmanager
def _tun(args: argparse.Namespace) -> Iterator[TunDriver]:
    addr, host = _interfaces(args)
    family: dict[str, str | None] = {"addr": addr, "host_addr": host}
    if ipaddress.ip_interface(addr).version == 6:
        family = {"addr": None, "host_addr": None, "addr6": addr, "host_addr6": host}
    try:
        driver = open_tun(
            args.tun, **family, mtu=args.mtu, config=PROFILES[args.profile], start=False
        )
    except (OSError, ValueError) as exc:
        raise SystemExit(f"synack: cannot open TUN device {args.tun}: {exc}") from None
    pcap = driver.write_pcap(args.pcap) if args.pcap is not None else None
    trace = None
    if args.trace is not None:
        from synack.trace.jsonl import JsonlTrace

        trace = JsonlTrace(args.trace, clock="monotonic")
        with driver.guard():
            trace.attach(driver.stack, host=args.tun)
    try:
        yield driver
    finally:
        # A second SIGINT or SIGTERM (a shell's ^C reaches the whole process group) must
        # not cut the closing short: the trace and the pcap are written out here.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        driver.close()  # closes the pcap file too
        if trace is not None:
            trace.close()
        if pcap is not None:
            print(f"{pcap.packets} packets written to {pcap.path}", file=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    from synack.apps import ServiceOptions, listeners

    try:
        services = listeners(args.kind, ServiceOptions(root=args.root), args.port)
    except ValueError as exc:
        print(f"synack serve: {exc}", file=sys.stderr)
        return 2
    with _tun(args) as driver:
        return asyncio.run(_serve(driver, services, args))


def _control(driver: TunDriver, args: argparse.Namespace) -> ControlServer:
    """The control socket that ``synack ss`` and ``synack nstat`` ask."""

    def answer(request: str) -> str:
        with driver.guard():
            return respond(driver.stack, request, now=driver.now_us())

    path = getattr(args, "control", None) or default_path(args.tun)
    return ControlServer(path, answer)


async def _serve(
    driver: TunDriver, services: list[tuple[int, StreamHandler]], args: argparse.Namespace
) -> int:
    loop = asyncio.get_running_loop()
    driver.attach(loop)
    control = _control(driver, args)
    try:
        await control.start()
    except ControlError as exc:
        print(f"synack serve: {exc}", file=sys.stderr)
        return 1
    try:
        return await _serve_until_signal(driver, services, args)
    finally:
        await control.close()


async def _serve_until_signal(
    driver: TunDriver, services: list[tuple[int, StreamHandler]], args: argparse.Namespace
) -> int:
    import synack.asyncio as sa

    loop = asyncio.get_running_loop()
    own = str(ipaddress.ip_interface(args.addr).ip)
    servers = []
    protocols = dict(PROTOCOL_SERVICES.get(args.kind, []))
    for port, handler in services:
        try:
            if port in protocols and args.port is None:
                server = await sa.create_server(
                    protocols[port], own, port, driver=driver, backlog=BACKLOG
                )
            else:
                server = await sa.start_server(
                    handler, own, port, driver=driver, backlog=BACKLOG, limit=STREAM_LIMIT
                )
            servers.append(server)
        except OSError as exc:
            print(f"synack serve: cannot listen on port {port}: {exc}", file=sys.stderr)
            return 1
    shown = f"[{own}]" if ":" in own else own
    for port, _ in services:
        print(f"listening on {shown}:{port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(s.wait_closed() for s in servers)), timeout=CLOSE_GRACE_S
        )
    return 0


def fetch(args: argparse.Namespace) -> int:
    with _tun(args) as driver:
        return asyncio.run(_fetch(driver, args))


async def _fetch(driver: TunDriver, args: argparse.Namespace) -> int:
    import synack.asyncio as sa
    from synack.apps.fetch import FetchError, fetch

    driver.attach(asyncio.get_running_loop())
    out_path = Path(args.output) if args.output else None
    try:
        with out_path.open("wb") if out_path else contextlib.nullcontext(sys.stdout.buffer) as out:
            result = await asyncio.wait_for(
                fetch(
                    args.url, open_connection=partial(sa.open_connection, driver=driver), out=out
                ),
                timeout=args.timeout,
            )
    except (FetchError, OSError, TimeoutError) as exc:
        print(f"synack fetch: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"{result.status} {result.body_bytes} bytes", file=sys.stderr)
    return 0 if 200 <= result.status < 300 else 1
