"""synack on a real TUN device against the Linux kernel's TCP, inside a test namespace.

Each test runs tests/tun/interop.py in a fresh namespace (the TUN device, synack and the
kernel peer all live there) and checks what the scenario saw from both ends.
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from netns import Namespace

SCRIPT = Path(__file__).with_name("interop.py")
KERNEL = {4: "198.18.0.1", 6: "2001:db8::1"}
SYNACK = {4: "198.18.0.2", 6: "2001:db8::2"}
ONE_MB = 1 << 20

families = pytest.mark.parametrize("v", [4, 6], ids=["ipv4", "ipv6"])


def run(ns: Namespace, scenario: str, v: int) -> dict[str, Any]:
    done = ns.exec(sys.executable, str(SCRIPT), scenario, str(v), timeout=120)
    assert done.returncode == 0, f"{scenario} failed:\n{done.stdout}\n{done.stderr}"
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert found.pop("internal_errors") == 0
    return found


@families
def test_kernel_client_gets_its_megabyte_echoed_by_synack(netns: Namespace, v: int) -> None:
    found = run(netns, "echo", v)
    assert found["synack_echoed"] == ONE_MB
    assert found["echoed_bytes"] == ONE_MB
    assert found["echoed_sha256"] == found["sent_sha256"]
    assert found["synack_peer"] == found["kernel_name"]
    assert found["kernel_name"][0] == KERNEL[v]


@families
def test_synack_connects_out_to_a_kernel_listener_and_closes_first(
    netns: Namespace, v: int
) -> None:
    found = run(netns, "connect-out", v)
    assert found["kernel_got_sha256"] == found["sent_sha256"] == found["reply"]
    assert found["kernel_peer"] == found["synack_name"]
    assert found["synack_name"][0] == SYNACK[v]
    assert found["kernel_saw_eof"]
    assert found["synack_final_state"] == "TIME_WAIT"  # the side that closed first waits


@families
def test_kernel_closes_first_and_synack_follows(netns: Namespace, v: int) -> None:
    found = run(netns, "kernel-closes", v)
    assert found["first"] == "last words"
    assert found["eof"]
    assert found["state_after_eof"] == "CLOSE_WAIT"
    assert found["state_after_close"] == "LAST_ACK"
    assert found["final_state"] == "CLOSED"


@families
def test_kernel_gets_connection_refused_from_a_closed_synack_port(netns: Namespace, v: int) -> None:
    found = run(netns, "refused", v)
    assert found["error"] == "ConnectionRefusedError"
    assert found["errno"] == errno.ECONNREFUSED
