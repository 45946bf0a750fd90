"""The README's TUN examples, run as written against the kernel in a namespace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from netns import Namespace

from .tools import kernel_http_server, run_python

README = Path(__file__).resolve().parents[2] / "README.md"


def _examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return [b for b in blocks if "open_tun" in b]


def test_the_blocking_server_example_answers_the_kernel(netns: Namespace) -> None:
    server = next(b for b in _examples() if "create_server" in b)
    proc = netns.popen(sys.executable, "-c", server, stderr=subprocess.PIPE, text=True)
    out = run_python(
        netns,
        """
import socket, time
deadline = time.monotonic() + 20
while True:
    try:
        s = socket.create_connection(("198.18.0.2", 8080), timeout=5)
        break
    except OSError:
        assert time.monotonic() < deadline
        time.sleep(0.1)
s.sendall(b"hello")
print(s.recv(100).decode())
""",
    )
    assert out.strip() == "HELLO"
    assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""


def test_the_asyncio_client_example_reads_a_kernel_page(netns: Namespace, tmp_path: Path) -> None:
    client = next(b for b in _examples() if "open_connection" in b)
    (tmp_path / "index.html").write_text("<p>from the kernel</p>")
    kernel_http_server(netns, tmp_path, 8000)
    out = run_python(netns, client)
    assert out.startswith("b'HTTP/1.0 200 OK")
    assert "from the kernel" in out
