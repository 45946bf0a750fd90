"""Side by side over real TUN devices: synack, pmd-pytcp and the kernel, the kernel as client.

One run on one machine, so the ratios mean something even where absolute figures are noisy.
Each server runs inside a network namespace this script creates and deletes:

- synack: ``synack serve bench`` on TUN ``sbt0`` (198.18.0.2), the kernel's side 198.18.0.1;
- pmd_pytcp: the peer's server (../shared/peers/peer_pytcp_server.py) on its own TUN,
  installed into ``.venv-peer`` (pmd-pytcp==0.3.8) on first use;
- kernel: the kernel's own server and client in two namespaces joined by a veth pair.

The client is always ../shared/peers/kernel_client.py. Results go to bench/results/tun.json
as ``{"mtu1500": {"synack": {...}, "pmd_pytcp": {...}, "kernel": {...}}, ...}``.

    .venv/bin/python bench/tun.py                      # every MTU, every stack
    .venv/bin/python bench/tun.py --mtus 1500 --stacks synack --quick
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PEERS = Path(os.environ.get("SYNACK_PEERS", REPO.parent / "shared" / "peers"))
PEER_VENV = REPO / ".venv-peer"
PEER_PACKAGE = "pmd-pytcp==0.3.8"
STACKS = ("synack", "pmd_pytcp", "kernel")
MTUS = (1500, 9000, 65000)
STACK_ADDR, HOST_ADDR = "198.18.0.2", "198.18.0.1"
VETH_CLIENT, VETH_SERVER = "198.18.1.1", "198.18.1.2"
# What the README's table shows, in kernel_client.py's names (without the label prefix).
METRICS = (
    ("upload_throughput", "MiB/s", True),
    ("download_throughput", "MiB/s", True),
    ("echo_rtt_median", "ms", False),
    ("echo_rtt_p99", "ms", False),
    ("conn_rate", "/s", True),
    ("conc_time_all_connected", "s", False),
    ("conc_server_rss_per_conn", "KiB", False),
)
CLIENT_TIMEOUT_S = 900
READY_TIMEOUT_S = 30


def note(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, timeout=30)


@contextlib.contextmanager
def namespaces(*names: str) -> Iterator[list[str]]:
    """Fresh namespaces with ``lo`` up and no IPv6 chatter; deleted on the way out, always."""
    made: list[str] = []
    try:
        for name in names:
            ns = f"{name}-{secrets.token_hex(3)}"
            ip("netns", "add", ns)
            made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        yield made
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], check=True, timeout=60, capture_output=True, text=True
    )


@contextlib.contextmanager
def server(ns: str, argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in ``ns``; stop it by its own PID (TERM, then KILL) on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_for_link(ns: str, dev: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["ip", "-n", ns, "link", "show", dev], capture_output=True, timeout=10, check=False
        )
        if probe.returncode == 0:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"TUN {dev} never appeared:\n{log.read_text()}")


def run_client(
    ns: str, host: str, label: str, pid: int, args: argparse.Namespace
) -> dict[str, float]:
    client = str(PEERS / "kernel_client.py")
    ready = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, client, "--host", host, "--wait-ready", "30"],
        timeout=60,
        check=False,
    )
    if ready.returncode != 0:
        raise RuntimeError(f"{label}: the server never answered on port 7")
    argv = [sys.executable, client, "--host", host, "--label", label, "--server-pid", str(pid)]
    if args.quick:
        argv += ["--bulk-mib", "5", "--bulk-repeat", "1", "--rtt-count", "50", "--conn-count", "50"]
    else:
        argv += ["--bulk-repeat", str(args.bulk_repeat)]
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "timeout", "-k", "10", str(CLIENT_TIMEOUT_S), *argv],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S + 30,
        check=False,
    )
    sys.stderr.write(done.stderr)
    figures: dict[str, float] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(label + "."):
            with contextlib.suppress(ValueError):
                figures[parts[0][len(label) + 1 :]] = float(parts[1])
    if done.returncode != 0:
        note(f"{label}: client exited with {done.returncode}")
    return figures


def bench_synack(mtu: int, args: argparse.Namespace, logs: Path) -> dict[str, float]:
    synack = REPO / ".venv" / "bin" / "synack"
    log = logs / f"synack-{mtu}.log"
    with namespaces("sabench-synack") as (ns,):
        argv = [str(synack), "serve", "bench", "--tun", "sbt0", "--addr", f"{STACK_ADDR}/24"]
        argv += ["--host-addr", f"{HOST_ADDR}/24", "--mtu", str(mtu)]
        with server(ns, argv, log) as proc:
            wait_for_link(ns, "sbt0", proc, log)
            return run_client(ns, STACK_ADDR, "synack", proc.pid, args)


def peer_python() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        note(f"installing {PEER_PACKAGE} into {PEER_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", PEER_PACKAGE], check=True, timeout=600
        )
    return python


def bench_peer(mtu: int, args: argparse.Namespace, logs: Path) -> dict[str, float]:
    log = logs / f"pmd_pytcp-{mtu}.log"
    with namespaces("sabench-peer") as (ns,):
        argv = [str(peer_python()), str(PEERS / "peer_pytcp_server.py"), "--ifname", "tunpy0"]
        argv += ["--ip4", f"{STACK_ADDR}/24", "--lifetime", "3000", "--rcv-wnd-max", "4194304"]
        with server(ns, argv, log) as proc:
            wait_for_link(ns, "tunpy0", proc, log)
            ip("-n", ns, "addr", "add", f"{HOST_ADDR}/24", "dev", "tunpy0")
            ip("-n", ns, "link", "set", "tunpy0", "mtu", str(mtu), "up")
            return run_client(ns, STACK_ADDR, "pmd_pytcp", proc.pid, args)


def bench_kernel(mtu: int, args: argparse.Namespace, logs: Path) -> dict[str, float]:
    log = logs / f"kernel-{mtu}.log"
    with namespaces("sabench-kc", "sabench-ks") as (client_ns, server_ns):
        ip("-n", client_ns, "link", "add", "veth_kc", "type", "veth", "peer", "name", "veth_ks")
        ip("-n", client_ns, "link", "set", "veth_ks", "netns", server_ns)
        ip("-n", client_ns, "addr", "add", f"{VETH_CLIENT}/24", "dev", "veth_kc")
        ip("-n", server_ns, "addr", "add", f"{VETH_SERVER}/24", "dev", "veth_ks")
        ip("-n", client_ns, "link", "set", "veth_kc", "mtu", str(mtu), "up")
        ip("-n", server_ns, "link", "set", "veth_ks", "mtu", str(mtu), "up")
        argv = [sys.executable, str(PEERS / "kernel_server.py"), "--addr", VETH_SERVER]
        argv += ["--lifetime", "3000"]
        with server(server_ns, argv, log) as proc:
            return run_client(client_ns, VETH_SERVER, "kernel", proc.pid, args)


RUNNERS = {"synack": bench_synack, "pmd_pytcp": bench_peer, "kernel": bench_kernel}


def ratio(a: float | None, b: float | None, higher_is_better: bool) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}" if higher_is_better else f"{b / a:.2f}"


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one block per MTU, ratios oriented so that above 1 means synack is better."""
    lines = []
    for mtu_key, by_stack in results.items():
        lines.append(f"\n{mtu_key}\n")
        lines.append("| metric | synack | pmd-pytcp | kernel | synack/pmd-pytcp | synack/kernel |")
        lines.append("|---|---|---|---|---|---|")
        for metric, unit, higher in METRICS:
            s, p, k = (by_stack.get(name, {}).get(metric) for name in STACKS)
            cells = [f"{v:g}" if v is not None else "-" for v in (s, p, k)]
            lines.append(
                f"| {metric} ({unit}) | {' | '.join(cells)} | {ratio(s, p, higher)}"
                f" | {ratio(s, k, higher)} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtus", default=",".join(map(str, MTUS)))
    parser.add_argument("--stacks", default=",".join(STACKS))
    parser.add_argument("--bulk-repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small runs, results not written")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench/tun.py needs root and iproute2 (network namespaces, TUN)", file=sys.stderr)
        return 2
    if not (PEERS / "kernel_client.py").exists():
        print(f"no kernel_client.py in {PEERS}: set SYNACK_PEERS", file=sys.stderr)
        return 2
    logs = Path(os.environ.get("SYNACK_BENCH_LOGS", "/tmp/synack-bench-logs"))
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for mtu in (int(m) for m in args.mtus.split(",")):
        by_stack = results.setdefault(f"mtu{mtu}", {})
        for name in args.stacks.split(","):
            note(f"mtu {mtu}: {name}")
            try:
                by_stack[name] = RUNNERS[name](mtu, args, logs)
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                note(f"mtu {mtu}: {name} failed: {exc}")
                by_stack[name] = {}
    print(table(results))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "tun.json").write_text(json.dumps(results, indent=2) + "\n")
        note(f"written {RESULTS / 'tun.json'} on {datetime.date.today().isoformat()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
