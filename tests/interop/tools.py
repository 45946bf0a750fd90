"""What the interop tests share: starting ``synack serve`` in a namespace, hashing files.

The tests run the kernel's own tools (curl, ping, Python's socket module) and synack's
command line inside one namespace each: synack owns 198.18.0.2 / 2001:db8::2 on TUN
``syn0``, the kernel's side of the device is 198.18.0.1 / 2001:db8::1.
"""

from __future__ import annotations

import hashlib
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from netns import Namespace

SYNACK = str(Path(sys.executable).parent / "synack")
TUN = "syn0"
V4 = {"addr": "198.18.0.2/24", "host": "198.18.0.1/24", "url_host": "198.18.0.2"}
V6 = {"addr": "2001:db8::2/64", "host": "2001:db8::1/64", "url_host": "[2001:db8::2]"}
READY_S = 30.0


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def random_file(path: Path, size: int, seed: int = 1) -> Path:
    """``size`` bytes that no compression or pattern could fake, reproducibly."""
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    rotating = bytearray()
    with path.open("wb") as f:
        written = 0
        n = 0
        while written < size:
            rotating[:] = block[n % 997 :] + block[: n % 997]
            piece = rotating[: size - written]
            f.write(piece)
            written += len(piece)
            n += 1
    return path


def wait_for_line(proc: subprocess.Popen[Any], prefix: str, timeout: float = READY_S) -> str:
    """The first line of ``proc``'s stdout starting with ``prefix`` (bounded wait)."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    try:
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith(prefix):
                return line.strip()
    finally:
        selector.close()
    err = proc.stderr.read() if proc.stderr is not None and proc.poll() is not None else ""
    raise AssertionError(f"no {prefix!r} line from synack within {timeout} s: {seen} {err}")


def serve(ns: Namespace, kind: str, *extra: str, family: dict[str, str] = V4) -> str:
    """Start ``synack serve KIND`` in ``ns``; return its ``listening on`` line."""
    proc = ns.popen(
        SYNACK,
        "serve",
        kind,
        "--tun",
        TUN,
        "--addr",
        family["addr"],
        "--host-addr",
        family["host"],
        *extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return wait_for_line(proc, "listening on ")


def run_python(ns: Namespace, code: str, timeout: float = 120.0) -> str:
    """Run Python ``code`` in the namespace (the kernel's sockets); its stdout, or fail."""
    done = ns.exec(sys.executable, "-c", code, timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def kernel_http_server(ns: Namespace, root: Path, port: int) -> None:
    """Python's http.server for ``root`` on the kernel's side, once it accepts connections.

    It listens on the wildcard address: the kernel's address on the TUN device may not
    exist yet when it starts.
    """
    ns.popen(
        sys.executable, "-m", "http.server", str(port), "--bind", "0.0.0.0",
        "--directory", str(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    run_python(
        ns,
        f"""
import socket, time
deadline = time.monotonic() + 20
while True:
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        break
    except OSError:
        assert time.monotonic() < deadline, "the kernel's HTTP server never started"
        time.sleep(0.1)
""",
    )
