"""What the seeds warn about, done for real to ``synack serve`` while curl downloads.

Both attackers are raw sockets inside the namespace: the packets they forge reach synack
through the kernel's route to the TUN device. Spoofed sources lie in 198.19.0.0/16, which
the namespace has no route for, so synack's answers to them die in the kernel.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from netns import Namespace

from .tools import V4, random_file, serve, sha256

MB = 1 << 20

SYN_FLOOD = """
import os, random, socket, struct, sys, time
count, seconds = int(sys.argv[1]), float(sys.argv[2])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rng = random.Random(5)
dst = socket.inet_aton("198.18.0.2")
sent, deadline = 0, time.monotonic() + seconds
while sent < count and time.monotonic() < deadline:
    src = bytes([198, 19, rng.randrange(256), rng.randrange(1, 255)])
    sport = rng.randrange(1024, 65536)
    # MSS, SACK-permitted, timestamps, window scale: the options a kernel's SYN carries.
    opts = b"\\x02\\x04\\x05\\xb4\\x04\\x02\\x08\\x0a" + os.urandom(4) + b"\\x00" * 4
    opts += b"\\x01\\x03\\x03\\x07"
    tcp = struct.pack("!HHIIBBHHH", sport, 80, rng.getrandbits(32), 0, (5 + 5) << 4, 0x02,
                      64240, 0, 0) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    data = pseudo + tcp
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    tcp = tcp[:16] + struct.pack("!H", ~total & 0xFFFF) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), sent & 0xFFFF, 0, 64, 6, 0,
                     src, dst)
    try:
        raw.sendto(ip + tcp, ("198.18.0.2", 0))
        sent += 1
    except BlockingIOError:
        time.sleep(0.001)
    except OSError:  # ENOBUFS: the device queue is full; the flood goes on
        time.sleep(0.001)
print(sent)
"""

GARBAGE = """
import random, socket, struct, sys, time
count, seconds = int(sys.argv[1]), float(sys.argv[2])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rng = random.Random(11)
dst = socket.inet_aton("198.18.0.2")
sent, deadline = 0, time.monotonic() + seconds
while sent < count and time.monotonic() < deadline:
    kind = rng.randrange(4)
    body = rng.randbytes(rng.randrange(0, 120))
    if kind == 0:  # a TCP header with every field random, aimed at the HTTP port
        body = struct.pack("!HHIIBBHHH", rng.randrange(65536), 80, rng.getrandbits(32),
                           rng.getrandbits(32), rng.randrange(256), rng.randrange(256),
                           rng.randrange(65536), rng.randrange(65536),
                           rng.randrange(65536)) + body
    proto = (6, 1, 17, rng.randrange(256))[kind]
    src = bytes([198, 18, 0, 1]) if rng.random() < 0.5 else bytes([198, 19, 1, 1])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, rng.randrange(256), 20 + len(body),
                     rng.randrange(65536), 0, rng.randrange(1, 256), proto, 0, src, dst)
    try:
        raw.sendto(ip + body, ("198.18.0.2", 0))
        sent += 1
    except OSError:
        time.sleep(0.001)
print(sent)
"""


def _download_under_fire(
    netns: Namespace, tmp_path: Path, attacker: str, count: int
) -> tuple[int, bool]:
    root = tmp_path / "www"
    root.mkdir()
    original = random_file(root / "big.bin", 20 * MB, seed=3)
    serve(netns, "http", "--root", str(root), family=V4)
    attack = netns.popen(
        sys.executable, "-c", attacker, str(count), "90",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)  # curl connects while the attack is under way
    got = tmp_path / "got.bin"
    curl = netns.exec(
        "curl", "-sS", "--fail", "--max-time", "150", "--retry", "0", "-o", str(got),
        f"http://{V4['url_host']}/big.bin", timeout=180,
    )  # fmt: skip
    out, err = attack.communicate(timeout=120)
    assert attack.returncode == 0, err
    assert curl.returncode == 0, curl.stderr
    return int(out), sha256(got) == sha256(original)


def test_a_syn_flood_does_not_stop_curl_being_served(netns: Namespace, tmp_path: Path) -> None:
    sent, intact = _download_under_fire(netns, tmp_path, SYN_FLOOD, 20_000)
    assert sent > 1000  # the flood really ran (and overflowed the 128-entry SYN queue)
    assert intact


def test_100k_random_packets_do_not_wedge_the_stack(netns: Namespace, tmp_path: Path) -> None:
    sent, intact = _download_under_fire(netns, tmp_path, GARBAGE, 100_000)
    assert sent == 100_000
    assert intact
