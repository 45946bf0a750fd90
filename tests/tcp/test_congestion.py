"""The congestion-control interface: NewReno, picking an algorithm, and the window after
an idle period, as a sender on the wire shows them."""

from __future__ import annotations

import hashlib

import pytest

from synack.packetdrill.profiles import LINUX_SYSCTLS, UnsupportedSetting
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.config import LINUX, RFC, TcpConfig
from synack.tcp.congestion import NewReno, new_congestion_control, restarted_cwnd
from synack.tcp.cubic import Cubic

from .harness import MS, MSS_500, RCV_NXT, SECOND, SND_NXT, Harness, established_active

MSS = 1000


def test_newreno_halves_on_loss_and_grows_one_segment_per_rtt_after() -> None:
    cc = NewReno(MSS, 10)
    cc.on_ack(MSS, 9 * MSS, 0, None, None)
    assert cc.cwnd == 11 * MSS  # slow start: one segment per ACK
    cc.enter_recovery(20 * MSS, 0)
    assert (cc.ssthresh, cc.cwnd) == (10 * MSS, 13 * MSS)
    cc.inflate()
    assert cc.cwnd == 14 * MSS
    cc.exit_recovery()
    assert cc.cwnd == 10 * MSS
    for _ in range(10):  # one window of ACKs
        cc.on_ack(MSS, 10 * MSS, 0, None, None)
    assert 10 * MSS < cc.cwnd <= 11 * MSS
    cc.on_timeout(10 * MSS, 0)
    assert (cc.ssthresh, cc.cwnd) == (5 * MSS, MSS)


def test_newreno_halves_on_an_ecn_echo_with_nothing_to_inflate() -> None:
    cc = NewReno(MSS, 10)
    cc.on_ecn_echo(20 * MSS, 0)
    assert (cc.ssthresh, cc.cwnd) == (10 * MSS, 10 * MSS)
    cc.on_ecn_echo(3 * MSS, 0)
    assert (cc.ssthresh, cc.cwnd) == (2 * MSS, 2 * MSS)  # never below two segments


def test_the_config_picks_the_algorithm() -> None:
    assert LINUX.congestion_control == "cubic"
    assert RFC.congestion_control == "newreno"  # RFC 5681, which RFC 9293 requires
    assert isinstance(new_congestion_control(LINUX, MSS), Cubic)
    reno = new_congestion_control(RFC, MSS)
    assert isinstance(reno, NewReno) and not isinstance(reno, Cubic)
    assert reno.cwnd == 10 * MSS


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"congestion_control": "bbr"}, "congestion_control"),
        ({"congestion_control": "Cubic"}, "congestion_control"),
        ({"slow_start_after_idle": 2}, "slow_start_after_idle"),
    ],
)
def test_bad_settings_are_refused_by_name(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TcpConfig(**changes)  # type: ignore[arg-type]


def test_linux_sysctls_choose_the_algorithm_and_the_idle_restart() -> None:
    cc_rule = LINUX_SYSCTLS["net.ipv4.tcp_congestion_control"]
    assert cc_rule(LINUX, "reno").congestion_control == "newreno"  # Linux's name for it
    assert cc_rule(RFC, "cubic").congestion_control == "cubic"
    with pytest.raises(UnsupportedSetting, match="bbr"):
        cc_rule(LINUX, "bbr")
    idle_rule = LINUX_SYSCTLS["net.ipv4.tcp_slow_start_after_idle"]
    assert idle_rule(LINUX, "0").slow_start_after_idle == 0


@pytest.mark.parametrize(
    ("cwnd", "idle_rtos", "expected"),
    [
        (40, 0.5, 40),  # idle for less than an RTO: the window is still good
        (40, 1.5, 20),
        (40, 2.5, 10),
        (40, 9.0, 10),  # never below the initial window
        (6, 9.0, 6),  # nor raised to it
    ],
)
def test_an_idle_window_is_halved_per_rto(cwnd: int, idle_rtos: float, expected: int) -> None:
    rto = 200 * MS
    assert restarted_cwnd(cwnd * MSS, 10 * MSS, int(idle_rtos * rto), rto) == expected * MSS


def sent_after_idle(config: TcpConfig, idle_us: int) -> int:
    """Segments a sender puts out at once when it writes again after ``idle_us``, its
    window having grown to 20 segments before (MSS 500, RTO 300 ms)."""
    h = Harness(config)
    conn = established_active(h, MSS_500)
    conn.send(b"a" * 5000)
    assert len(h.tx()) == 10  # the initial window
    for n in range(1, 11):  # each segment ACKed: slow start to 20 segments
        h.inject(".", RCV_NXT, SND_NXT + 500 * n, at=h.now + 1)
    h.tx()
    assert conn.cc.cwnd == 20 * 500
    h.advance(h.now + idle_us)
    conn.send(b"b" * 20_000)
    return len(h.tx())


def test_after_an_idle_period_the_sender_restarts_with_a_smaller_window() -> None:
    assert sent_after_idle(LINUX, 100 * MS) == 20  # less than the RTO: the window holds
    assert sent_after_idle(LINUX, 500 * MS) == 10  # more: halved (to the initial window)
    assert sent_after_idle(LINUX.with_changes(slow_start_after_idle=0), 5 * SECOND) == 20
    assert sent_after_idle(RFC, 5 * SECOND) == 10  # NewReno restarts the same way


def transfer(congestion: str, rtt_ms: int, size: int) -> int:
    """A loss-free transfer over 100 Mbit/s with a drop-tail queue of one bandwidth-delay
    product: the retransmissions it took."""
    bdp_packets = 100_000_000 * rtt_ms // 1000 // 8 // 1500
    link = LinkConfig(
        delay_us=rtt_ms * 500, bandwidth_bps=100_000_000, queue_packets=bdp_packets, mtu=1500
    )
    config = LINUX.with_changes(rmem=4 << 20, wmem=4 << 20, congestion_control=congestion)
    world = World(1, link, config=config, record=False)
    srv = world.socket("B")
    srv.bind((world.address("B"), 5001))
    srv.listen(1)
    cli = world.socket("A")
    cli.connect((world.address("B"), 5001))
    conn, _ = srv.accept()
    payload = bytes(range(256)) * (size // 256)
    cli.sendall(payload)
    cli.close()
    received = bytearray()
    while chunk := conn.recv(1 << 20):
        received += chunk
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    return sum(stack.counters["TcpRetransSegs"] for stack in world.stacks.values())


def test_cubic_leaves_slow_start_before_the_queue_overflows() -> None:
    """HyStart: on a 20 ms path slow start ends near the path's size, with no loss; NewReno
    (no HyStart) doubles on until a burst of drops."""
    assert transfer("cubic", 20, 3_000_000) == 0
    assert transfer("newreno", 20, 3_000_000) > 50
