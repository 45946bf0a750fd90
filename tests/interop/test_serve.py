"""``synack serve`` and ``synack fetch`` on a TUN device, against the kernel's own tools."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from netns import Namespace
from synack.trace.jsonl import read_trace

from .tools import (
    SYNACK,
    TUN,
    V4,
    V6,
    kernel_http_server,
    random_file,
    run_python,
    serve,
    sha256,
    wait_for_line,
)

MB = 1 << 20


@pytest.mark.parametrize("family", [V4, V6], ids=["ipv4", "ipv6"])
def test_curl_downloads_20_mb_from_synack_http(
    netns: Namespace, tmp_path: Path, family: dict[str, str]
) -> None:
    root = tmp_path / "www"
    root.mkdir()
    original = random_file(root / "big.bin", 20 * MB)
    line = serve(netns, "http", "--root", str(root), family=family)
    assert line.endswith(":80")
    got = tmp_path / "got.bin"
    url = f"http://{family['url_host']}/big.bin"
    done = netns.exec(
        "curl", "-sS", "--fail", "--max-time", "120", "-o", str(got), url, timeout=150
    )
    assert done.returncode == 0, done.stderr
    assert sha256(got) == sha256(original)


def test_http_keep_alive_and_not_found(netns: Namespace, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "b.txt").write_text("second\n")
    serve(netns, "http", "--root", str(tmp_path))
    base = f"http://{V4['url_host']}"
    done = netns.exec(
        "curl", "-sS", "--max-time", "30", "-w", "%{http_code} %{num_connects}\\n",
        f"{base}/a.txt", f"{base}/b.txt", f"{base}/missing", timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == ["first", "200 1", "second", "200 0"]  # one connection for all
    assert lines[-1] == "404 0"


def test_kernel_uploads_20_mb_to_discard_and_the_count_comes_back(netns: Namespace) -> None:
    serve(netns, "bench")
    out = run_python(
        netns,
        f"""
import socket, struct
s = socket.create_connection(("198.18.0.2", 9), timeout=60)
block = bytes(range(256)) * 4096
for _ in range({20 * MB} // len(block)):
    s.sendall(block)
s.shutdown(socket.SHUT_WR)
count = b""
while len(count) < 8:
    more = s.recv(8 - len(count))
    assert more, "closed before the count"
    count += more
assert s.recv(1) == b""
print(struct.unpack("!Q", count)[0])
""",
    )
    assert int(out) == 20 * MB


def test_kernel_uploads_to_plain_discard(netns: Namespace) -> None:
    line = serve(netns, "discard")
    assert line == "listening on 198.18.0.2:9"
    out = run_python(
        netns,
        f"""
import socket
s = socket.create_connection(("198.18.0.2", 9), timeout=60)
s.sendall(b"x" * {20 * MB})
s.shutdown(socket.SHUT_WR)
s.settimeout(30)
print(repr(s.recv(10)))  # discard sends nothing, and closes once we have
""",
    )
    assert out.strip() == "b''"


def test_echo_returns_1_mb_intact(netns: Namespace) -> None:
    serve(netns, "echo")
    out = run_python(
        netns,
        f"""
import hashlib, os, socket, threading
data = os.urandom({MB})
s = socket.create_connection(("198.18.0.2", 7), timeout=60)
def writer():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=writer)
t.start()
got = bytearray()
while chunk := s.recv(65536):
    got += chunk
t.join(60)
print(hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), len(got))
""",
    )
    assert out.split() == ["True", str(MB)]


def test_chargen_streams_rfc_864_lines(netns: Namespace) -> None:
    serve(netns, "chargen")
    out = run_python(
        netns,
        """
import socket
s = socket.create_connection(("198.18.0.2", 19), timeout=30)
got = b""
while len(got) < 74 * 3:
    got += s.recv(4096)
s.close()
print(got[:74 * 3].decode("ascii"), end="")
""",
    )
    lines = out.splitlines()  # the CRLF of each line arrives as a newline (text mode)
    assert lines[0] == "".join(chr(33 + i) for i in range(72))
    assert lines[1] == "".join(chr(33 + (1 + i) % 95) for i in range(72))


@pytest.mark.parametrize("family", [V4, V6], ids=["ipv4", "ipv6"])
def test_ping_is_answered(netns: Namespace, family: dict[str, str]) -> None:
    serve(netns, "echo", family=family)
    target = family["addr"].split("/")[0]
    done = netns.exec("ping", "-c", "3", "-i", "0.2", "-W", "2", target, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 received" in done.stdout


def test_connection_to_a_closed_synack_port_is_refused(netns: Namespace) -> None:
    serve(netns, "echo")
    out = run_python(
        netns,
        """
import socket
try:
    socket.create_connection(("198.18.0.2", 8080), timeout=10)
except ConnectionRefusedError:
    print("refused")
""",
    )
    assert out.strip() == "refused"


def test_synack_fetch_downloads_from_a_kernel_http_server(netns: Namespace, tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    original = random_file(root / "file.bin", 5 * MB, seed=7)
    got = tmp_path / "got.bin"
    kernel_http_server(netns, root, 8080)
    done = netns.exec(
        SYNACK, "fetch", "http://198.18.0.1:8080/file.bin", "--tun", TUN,
        "--addr", V4["addr"], "--host-addr", V4["host"], "-o", str(got), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert sha256(got) == sha256(original)


def test_serve_writes_a_pcap_and_a_trace_and_stops_cleanly_on_sigterm(
    netns: Namespace, tmp_path: Path
) -> None:
    from scapy.all import IP, TCP, rdpcap  # an independent decoder

    pcap = tmp_path / "serve.pcap"
    proc = netns.popen(
        SYNACK, "serve", "echo", "--tun", TUN, "--addr", V4["addr"], "--host-addr", V4["host"],
        "--pcap", str(pcap), "--trace", str(tmp_path / "serve.jsonl"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_line(proc, "listening on ")
    run_python(
        netns,
        """
import socket
with socket.create_connection(("198.18.0.2", 7), timeout=10) as s:
    s.sendall(b"hello")
    assert s.recv(5) == b"hello"
""",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    packets = [p for p in rdpcap(str(pcap)) if IP in p and TCP in p]  # not the RS and MLD
    segments = [(p[IP].src, str(p[TCP].flags), bytes(p[TCP].payload)) for p in packets]
    kernel, synack = "198.18.0.1", "198.18.0.2"
    assert segments[0] == (kernel, "S", b"")
    assert segments[1] == (synack, "SA", b"")
    assert (kernel, "PA", b"hello") in segments
    assert (synack, "PA", b"hello") in segments
    assert any(src == synack and "F" in flags for src, flags, _ in segments)
    lines = list(read_trace(tmp_path / "serve.jsonl"))
    assert lines[0]["clock"] == "monotonic"
    conns = {tuple(line["conn"]) for line in lines if line["ev"] == "seg"}
    assert [c for c in conns if c[2] == kernel and c[1] == 7]  # our side of the connection
    kinds = {(line["ev"], line.get("dir")) for line in lines}
    assert {("seg", "in"), ("seg", "out"), ("state", None), ("cc", None)} <= kinds
    states = [line["new"] for line in lines if line["ev"] == "state" and line["conn"][3] != 0]
    assert states[:2] == ["SYN_RCVD", "ESTABLISHED"]
