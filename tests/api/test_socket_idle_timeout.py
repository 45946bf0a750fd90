"""TCP_IDLE_TIMEOUT through the socket API: set on a listener, inherited by accept() (S20)."""

from __future__ import annotations

import pytest

from synack.api.socket import IPPROTO_TCP, TCP_IDLE_TIMEOUT
from synack.scenarios.world import World
from synack.tcp.config import LINUX
from synack.tcp.state import State


def test_accepted_connections_inherit_the_idle_timeout_and_talkers_survive() -> None:
    world = World(seed=2, config=LINUX.with_changes(fin_timeout=20))
    srv = world.socket("B")
    srv.bind((world.address("B"), 80))
    srv.setsockopt(IPPROTO_TCP, TCP_IDLE_TIMEOUT, 30)
    assert srv.getsockopt(IPPROTO_TCP, TCP_IDLE_TIMEOUT) == 30
    srv.listen(8)
    silent = world.socket("A")
    silent.connect((world.address("B"), 80))  # an attacker: connects, then says nothing
    idle_conn, _ = srv.accept()
    talker = world.socket("A")
    talker.connect((world.address("B"), 80))
    busy_conn, _ = srv.accept()
    for _ in range(8):  # a request every 10 s for 80 s
        talker.sendall(b"ping")
        assert busy_conn.recv(10) == b"ping"
        world.run(10)
    assert busy_conn.state is State.ESTABLISHED
    b = world.stack("B")
    assert b.snapshot_counters()["SynackIdleTimeouts"] == 1
    # The silent one got a FIN; its peer never closes, so B's side waits in FIN_WAIT_2
    # no longer than fin_timeout before it is reaped.
    assert silent.recv(10) == b""
    reaped = idle_conn.connection
    assert reaped is not None and reaped.state is State.CLOSED
    assert reaped.key not in b.connections and reaped.key not in b.time_wait


def test_a_negative_idle_timeout_is_rejected() -> None:
    world = World(seed=2)
    sock = world.socket("B")
    with pytest.raises(OSError):
        sock.setsockopt(IPPROTO_TCP, TCP_IDLE_TIMEOUT, -1)
