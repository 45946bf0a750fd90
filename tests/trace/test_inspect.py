"""ss and nstat views show what a user of the Linux tools would read there."""

from __future__ import annotations

import pytest

from synack.api.socket import SHUT_WR
from synack.scenarios.catalog import Options, find
from synack.scenarios.lifecycle import connected_pair, serve
from synack.scenarios.world import World
from synack.stack import STANDARD_COUNTERS
from synack.trace.inspect import ms_timer, nstat, ss


def _rows(text: str) -> list[dict[str, str]]:
    """ss output as dicts keyed by column, the way a reader scans it."""
    lines = text.splitlines()
    assert lines[0].split() == [
        "State",
        "Recv-Q",
        "Send-Q",
        "Local",
        "Address:Port",
        "Peer",
        "Address:Port",
    ]
    keys = ("state", "recv_q", "send_q", "local", "peer", "timer")
    return [dict(zip(keys, line.split(), strict=False)) for line in lines[1:]]


def _counters(text: str) -> dict[str, int]:
    lines = text.splitlines()
    assert lines[0] == "#kernel"
    return {name: int(value) for name, value in (line.split() for line in lines[1:])}


def test_server_that_closes_first_sits_in_time_wait() -> None:
    world = World()
    cli, conn, _srv = connected_pair(world)
    port = cli.getsockname()[1]
    conn.shutdown(SHUT_WR)
    assert cli.recv(10) == b""
    cli.close()
    conn.close()
    world.run(1)  # the FIN exchange is over; B waits 60 s in TIME-WAIT
    rows = _rows(ss(world.stack("B"), timers=True, now=world.now))
    assert rows[0] == {
        "state": "LISTEN",
        "recv_q": "0",
        "send_q": "16",
        "local": "198.18.0.2:80",
        "peer": "0.0.0.0:*",
    }
    assert rows[1] == {
        "state": "TIME-WAIT",
        "recv_q": "0",
        "send_q": "0",
        "local": "198.18.0.2:80",
        "peer": f"198.18.0.1:{port}",
        "timer": "timer:(timewait,59sec,0)",
    }
    assert len(rows) == 2
    assert _rows(ss(world.stack("A"))) == []  # A went through LAST-ACK to CLOSED
    world.run(60)
    assert [r["state"] for r in _rows(ss(world.stack("B")))] == ["LISTEN"]


def test_listener_queues_are_accept_queue_and_backlog() -> None:
    world = World()
    serve(world, backlog=5)
    clients = [world.socket("A") for _ in range(2)]
    for cli in clients:
        cli.connect((world.address("B"), 80))
    world.run(0.1)
    rows = _rows(ss(world.stack("B")))
    assert rows[0]["state"] == "LISTEN" and (rows[0]["recv_q"], rows[0]["send_q"]) == ("2", "5")
    # The two connections nobody accepted yet are established all the same.
    assert [r["state"] for r in rows[1:]] == ["ESTAB", "ESTAB"]
    ports = {f"198.18.0.1:{c.getsockname()[1]}" for c in clients}
    assert {r["peer"] for r in rows[1:]} == ports


def test_queues_count_unread_and_unacknowledged_bytes() -> None:
    world = World()
    cli, conn, _srv = connected_pair(world)
    cli.sendall(b"x" * 1000)  # B does not read it
    world.run(0.5)
    b_rows = _rows(ss(world.stack("B")))
    assert (b_rows[1]["state"], b_rows[1]["recv_q"], b_rows[1]["send_q"]) == ("ESTAB", "1000", "0")
    world.net.partition(world.hosts["A"], world.hosts["B"])
    cli.sendall(b"y" * 300)  # never acknowledged: it stays in the send queue
    world.run(0.1)
    row = _rows(ss(world.stack("A"), timers=True, now=world.now))[0]
    assert (row["state"], row["recv_q"], row["send_q"]) == ("ESTAB", "0", "300")
    assert row["timer"].startswith("timer:(on,") and row["timer"].endswith(",0)")
    conn.close()


def test_syn_sent_counts_its_syn_and_shows_backoff() -> None:
    world = World()
    world.net.partition(world.hosts["A"], world.hosts["B"])
    world.stack("A").connect(world.address("B"), 80)
    world.net.kick(world.hosts["A"])
    world.run(1.5)  # the first retransmission went at 1 s; the next is due at 3 s
    row = _rows(ss(world.stack("A"), timers=True, now=world.now))[0]
    assert (row["state"], row["recv_q"], row["send_q"]) == ("SYN-SENT", "0", "1")
    assert row["peer"] == "198.18.0.2:80"
    assert row["timer"] == "timer:(on,1.500ms,1)"


def test_ipv6_addresses_are_bracketed() -> None:
    world = World()
    srv = world.socket("B", v6=True)
    srv.bind((world.address("B", v6=True), 443))
    srv.listen(8)
    cli = world.socket("A", v6=True)
    cli.connect((world.address("B", v6=True), 443))
    world.run(0.1)
    rows = _rows(ss(world.stack("B")))
    assert rows[0]["local"] == "[2001:db8::2]:443" and rows[0]["peer"] == "[::]:*"
    assert rows[1]["peer"] == f"[2001:db8::1]:{cli.getsockname()[1]}"


def test_refused_connection_counts_the_reset() -> None:
    world = find("refused").run(Options())
    b = _counters(nstat(world.stack("B")))
    assert b["TcpOutRsts"] == 1
    assert b["TcpInSegs"] == 1 and b["TcpPassiveOpens"] == 0
    a = _counters(nstat(world.stack("A")))
    assert (a["TcpActiveOpens"], a["TcpAttemptFails"], a["TcpOutRsts"]) == (1, 1, 0)
    # -z: every standard counter is listed, zeros too; -a: absolute values.
    assert set(STANDARD_COUNTERS) <= set(a)


def test_nstat_groups_counters_in_kernel_order() -> None:
    world = World()
    stack = world.stack("A")
    stack.receive(b"\x45" + b"\x00" * 10, 0)  # too short for an IP header
    names = list(_counters(nstat(stack)))
    assert "IpInHdrErrors" in names
    groups = [
        "Ip" if n.startswith("Ip") else "TcpExt" if n.startswith("TcpExt") else n[:3] for n in names
    ]
    assert groups.index("Ip") < groups.index("Tcp") < groups.index("TcpExt")
    assert groups == sorted(groups, key=["Ip", "Tcp", "TcpExt"].index)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (200, "200ms"),
        (1500, "1.500ms"),
        (9999, "9.999ms"),
        (10_500, "10sec"),
        (59_960, "59sec"),
        (90_000, "1min30sec"),
        (600_000, "10min"),
        (7_140_000, "119min"),
    ],
)
def test_timers_read_like_ss(ms: int, text: str) -> None:
    assert ms_timer(ms) == text
