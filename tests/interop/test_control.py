"""``synack ss`` and ``synack nstat`` on a running ``synack serve``, in a namespace."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

from netns import Namespace

from .tools import SYNACK, TUN, V4, wait_for_line

#: A kernel client that fills both directions of an echo connection and never reads:
#: synack's echo then has data queued for a zero window, so a timer runs on its side.
STUCK_CLIENT = """
import select, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(10)
s.connect(("198.18.0.2", 7))
s.setblocking(False)
block, sent, deadline, blocked_since = b"x" * 65536, 0, time.monotonic() + 20, None
while time.monotonic() < deadline and sent < 64 << 20:
    try:
        sent += s.send(block)
        blocked_since = None
    except BlockingIOError:
        blocked_since = blocked_since or time.monotonic()
        if time.monotonic() - blocked_since > 1.0:
            break
        time.sleep(0.02)
print(s.getsockname()[1], sent, flush=True)
select.select([sys.stdin], [], [], 60)  # hold the connection until told to go
"""


def test_ss_and_nstat_answer_while_a_kernel_client_is_connected(netns: Namespace) -> None:
    server = netns.popen(
        SYNACK, "serve", "echo", "--tun", TUN, "--addr", V4["addr"], "--host-addr", V4["host"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert wait_for_line(server, "listening on ") == "listening on 198.18.0.2:7"
    path = Path(f"/run/synack/{TUN}@{netns.name}.sock")  # this namespace's, by default
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    client = netns.popen(
        sys.executable, "-c", STUCK_CLIENT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    port, sent = wait_for_line(client, "").split()
    assert int(sent) > 0

    listing = netns.exec(SYNACK, "ss", "--tun", TUN)
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()]
    assert rows[0][0] == "State"
    assert ["LISTEN", "0", "1024", "198.18.0.2:7", "0.0.0.0:*"] in rows
    estab = [row for row in rows if row[0] == "ESTAB"]
    assert len(estab) == 1 and estab[0][3:] == ["198.18.0.2:7", f"198.18.0.1:{port}"]
    assert int(estab[0][2]) > 0  # echoed data waits for the client's window

    timed = netns.exec(SYNACK, "ss", "-o", "--tun", TUN)
    assert timed.returncode == 0, timed.stderr
    estab_line = next(line for line in timed.stdout.splitlines() if line.startswith("ESTAB"))
    assert " timer:(on," in estab_line or " timer:(persist," in estab_line, estab_line

    counters = netns.exec(SYNACK, "nstat", "--tun", TUN)
    assert counters.returncode == 0, counters.stderr
    values = dict(line.split() for line in counters.stdout.splitlines()[1:])
    assert values["TcpPassiveOpens"] == "1"
    assert values["TcpCurrEstab"] == "1"

    # A second server may not take over the socket the first one answers on.
    second = netns.exec(
        SYNACK, "serve", "discard", "--tun", "syn1", "--addr", "198.18.1.2/24",
        "--host-addr", "198.18.1.1/24", "--control", str(path), timeout=30,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"already answers on {path}" in second.stderr

    assert client.stdin is not None
    client.stdin.close()
    client.wait(timeout=30)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    assert not path.exists()
    gone = netns.exec(SYNACK, "nstat", "--tun", TUN)
    assert gone.returncode == 1
    assert "nothing answers on" in gone.stderr
