"""The packetdrill runner: small inline scripts against one stack in virtual time."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from synack.packetdrill import command
from synack.packetdrill.profiles import (
    FREEBSD_PROFILE,
    LINUX_LEGACY_PROFILE,
    LINUX_PROFILE,
    LINUX_SYSCTLS,
    pick_profile,
)
from synack.packetdrill.runner import Result, run_script

SERVER = """\
--tolerance_usecs=10000
0.000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0.1 < S 0:0(0) win 32767 <mss 1460>
+0 > S. 0:0(0) ack 1 win 65535 <mss 1460>
+0.1 < . 1:1(0) ack 1 win 32767
+0 accept(3, ..., ...) = 4
+0 < P. 1:11(10) ack 1 win 32767
+0 > . 1:1(0) ack 11 win 65535
+0 read(4, ..., 100) = 10
+0 write(4, ..., 5) = 5
+0 > P. 1:6(5) ack 11 win 65535
+0.1 < . 11:11(0) ack 6 win 32767
+0 close(4) = 0
+0 > F. 6:6(0) ack 11 win 65535
+0.1 < F. 11:11(0) ack 7 win 32767
+0 > . 7:7(0) ack 12 win 65535
"""


def test_a_server_conversation_passes() -> None:
    assert run_script(SERVER, LINUX_PROFILE) == Result("pass")


def test_a_wrong_flag_fails_naming_the_line_and_both_packets() -> None:
    script = SERVER.replace("> F. 6:6(0)", "> R. 6:6(0)")
    result = run_script(script, LINUX_PROFILE)
    assert result.status == "fail"
    assert result.line == 17
    assert "expected > R. 6:6(0) ack 11 win 65535" in result.message
    assert "got F. 6:6(0) ack 11" in result.message
    assert str(result).startswith("fail: 17: expected")


def test_a_packet_sent_at_the_wrong_time_fails() -> None:
    # The SYN,ACK leaves at once, not 0.5 s after the SYN.
    script = SERVER.replace("+0 > S. 0:0(0)", "+0.5 > S. 0:0(0)")
    result = run_script(script, LINUX_PROFILE)
    assert result.status == "fail"
    assert result.line == 7
    assert "at 0.600000 s got it at 0.100000 s" in result.message


def test_an_unsupported_syscall_is_reported_as_unsupported() -> None:
    script = SERVER.replace("+0 read(4, ..., 100) = 10", "+0 sendfile(4, 5, ..., 10) = 10")
    result = run_script(script, LINUX_PROFILE)
    assert result == Result("unsupported", "system call sendfile()")


def test_a_wrong_return_value_fails() -> None:
    script = SERVER.replace("read(4, ..., 100) = 10", "read(4, ..., 100) = 7")
    result = run_script(script, LINUX_PROFILE)
    assert result.status == "fail" and result.line == 12
    assert "expected read() = 7 got 10" in result.message


def test_errno_is_checked() -> None:
    script = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) <...>
+0.1 < R. 0:0(0) ack 1 win 0
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0
+0 read(3, ..., 10) = -1 ENOTCONN
"""
    result = run_script(script, LINUX_PROFILE)
    assert result.status == "fail" and result.line == 7
    assert "expected read() = -1 ENOTCONN" in result.message


def test_a_blocking_accept_returns_when_a_later_packet_completes_the_handshake() -> None:
    script = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0...0.3 accept(3, ..., ...) = 4
+0.1 < S 0:0(0) win 32767 <mss 1460>
+0 > S. 0:0(0) ack 1 <...>
+0.2 < . 1:1(0) ack 1 win 32767
+0 close(4) = 0
+0 > F. 1:1(0) ack 1 <...>
"""
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    late = script.replace("+0...0.3 accept", "+0...0.9 accept")
    result = run_script(late, LINUX_PROFILE)
    assert result.status == "fail" and result.line == 4
    assert "to return at 0.900000 s got 0.300000 s" in result.message


def test_a_blocking_connect_plays_the_handshake() -> None:
    script = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0...0.05 connect(4, ..., ...) = 0
+0 > S 0:0(0) <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 8>
+0.05 < S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 700 ecr 0,nop,wscale 7>
+0 > . 1:1(0) ack 1 <nop,nop,TS val 50 ecr 700>
+0 write(4, ..., 1000) = 1000
+0 > P. 1:1001(1000) ack 1 <nop,nop,TS val 50 ecr 700>
"""
    assert run_script(script, LINUX_PROFILE) == Result("pass")


def test_retransmissions_fire_in_virtual_time() -> None:
    script = """\
--tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS
+0 > S 0:0(0) <...>
+1 > S 0:0(0) <...>
+2 > S 0:0(0) <...>
"""
    assert run_script(script, LINUX_PROFILE) == Result("pass")


def test_options_are_checked_in_order_and_absent_options_mean_none() -> None:
    base = SERVER.replace("<mss 1460>\n+0 > S.", "<mss 1460>\n+0 > S.", 1)
    reordered = base.replace("> S. 0:0(0) ack 1 win 65535 <mss 1460>", "> S. 0:0(0) ack 1")
    result = run_script(reordered, LINUX_PROFILE)
    assert result.status == "fail" and "(options)" in result.message


def test_sysctls_map_to_settings_or_are_unsupported() -> None:
    head = "0 `sysctl -w net.ipv4.tcp_syn_retries=1`\n"
    script = head + (
        "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n"
        "+0 connect(3, ..., ...) = -1 EINPROGRESS\n"
        "+0 > S 0:0(0) <...>\n"
        "+1 > S 0:0(0) <...>\n"
        "+2 getsockopt(3, SOL_SOCKET, SO_ERROR, [ETIMEDOUT], [4]) = 0\n"
    )
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    odd = "0 `sysctl -w net.ipv4.tcp_no_such_thing=1`\n"
    assert run_script(odd, LINUX_PROFILE) == Result(
        "unsupported", "sysctl net.ipv4.tcp_no_such_thing"
    )


def test_python_blocks_beyond_tcpi_state_are_unsupported() -> None:
    script = SERVER + "+0 %{ assert tcpi_rto == 200000 }%\n"
    assert run_script(script, LINUX_PROFILE).status == "unsupported"
    state = SERVER.replace(
        "+0 accept(3, ..., ...) = 4\n",
        "+0 accept(3, ..., ...) = 4\n+0 %{ assert tcpi_state == TCPI_ESTABLISHED }%\n",
    )
    assert run_script(state, LINUX_PROFILE) == Result("pass")


def test_a_malformed_script_is_an_error() -> None:
    result = run_script("0 socket(..., SOCK_STREAM\n", LINUX_PROFILE)
    assert result.status == "error" and "parse error at" in result.message


def test_auto_profile_picks_by_path_and_content() -> None:
    assert pick_profile("auto", "x/freebsd-net+tcp-testsuite/a.pkt") is FREEBSD_PROFILE
    assert pick_profile("auto", None, "`sysctl -w net.inet.tcp.rfc1323=1`") is FREEBSD_PROFILE
    assert pick_profile("auto", "gtests/net/tcp/a.pkt") is LINUX_PROFILE
    with pytest.raises(ValueError, match="unknown profile"):
        pick_profile("solaris")


def test_command_prints_one_line_per_script_and_fails_on_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.pkt").write_text(SERVER)
    (tmp_path / "bad.pkt").write_text(SERVER.replace("> F. 6:6(0)", "> R. 6:6(0)"))
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    out_json = tmp_path / "out.json"
    args = parser.parse_args(
        ["packetdrill", str(tmp_path), "--profile", "linux", "--json", str(out_json)]
    )
    assert args.func(args) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{tmp_path / 'bad.pkt'}: fail: 17: " + lines[0].split(": fail: 17: ")[1]
    assert lines[1] == f"{tmp_path / 'good.pkt'}: pass"
    assert lines[2] == f"{tmp_path}: 1 pass, 1 fail"
    rows = json.loads(out_json.read_text())
    assert [r["status"] for r in rows] == ["fail", "pass"]


def test_the_scripts_own_isn_is_mapped_onto_the_stacks() -> None:
    script = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 999000:999000(0) win 32792 <mss 1460>
+0 > S. 1234:1234(0) ack 999001 <mss 1460>
+0 < . 999001:999001(0) ack 1235 win 100
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 10) = 10
+0 > P. 1235:1245(10) ack 999001
"""
    assert run_script(script, LINUX_PROFILE) == Result("pass")


def test_linux_scripts_see_one_segment_per_write_as_through_segmentation_offload() -> None:
    script = """\
`../common/defaults.sh
sysctl -q net.ipv4.tcp_timestamps=0  # no TS option below
`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+0 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 write(4, ..., 3000) = 3000
+0 > P. 1:3001(3000) ack 1
"""
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    split = script.replace("> P. 1:3001(3000) ack 1", "> . 1:1001(1000) ack 1")
    result = run_script(split, LINUX_PROFILE)
    assert result.status == "fail" and "got P. 1:3001(3000) ack 1" in result.message


def test_freebsd_rfc5961_switches_map_to_settings() -> None:
    rules = FREEBSD_PROFILE.sysctls
    config = FREEBSD_PROFILE.config
    assert not (config.insecure_rst or config.insecure_syn or config.drop_synfin)
    for name, field in [
        ("net.inet.tcp.insecure_rst", "insecure_rst"),
        ("net.inet.tcp.insecure_syn", "insecure_syn"),
        ("net.inet.tcp.drop_synfin", "drop_synfin"),
    ]:
        on = rules[name](config, "1")
        assert getattr(on, field) is True
        assert getattr(rules[name](on, "0"), field) is False


def test_freebsd_profile_reports_the_receive_buffer_rounded_to_the_mss() -> None:
    script = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
+0.1 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>
+0 > . 1:1(0) ack 1 win 65535
+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65700], [4]) = 0
"""
    assert run_script(script, FREEBSD_PROFILE) == Result("pass")
    assert run_script(script, LINUX_PROFILE).status == "fail"


FREEBSD_CLIENT = """\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>
+0.1 < S. 0:0(0) ack 1 win 32767 <mss 1460,sackOK,eol,eol>
+0 > . 1:1(0) ack 1 win 65535
"""


def test_a_switch_read_on_every_segment_may_change_mid_script() -> None:
    reset = (
        "+0 < R 5:5(0) win 32767\n+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0\n"
    )
    live = FREEBSD_CLIENT + "+0 `sysctl -w net.inet.tcp.insecure_rst=1`\n" + reset
    assert run_script(live, FREEBSD_PROFILE) == Result("pass")
    secure = FREEBSD_CLIENT + "+0 < R 5:5(0) win 32767\n+0 > . 1:1(0) ack 1 win 65535\n"
    assert run_script(secure, FREEBSD_PROFILE) == Result("pass")
    other = FREEBSD_CLIENT + "+0 `sysctl -w net.inet.tcp.recvspace=1000`\n"
    assert run_script(other, FREEBSD_PROFILE) == Result(
        "unsupported", "sysctl net.inet.tcp.recvspace changed after the first socket"
    )


def test_any_setting_may_change_once_no_connection_holds_the_old_one() -> None:
    script = (
        "0 `sysctl -w net.inet.tcp.keepcnt=8`\n"
        "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 getsockopt(3, IPPROTO_TCP, TCP_KEEPCNT, [8], [4]) = 0\n"
        "+0 close(3) = 0\n"
        "+0 `sysctl -w net.inet.tcp.keepcnt=2`\n"
        "+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 getsockopt(3, IPPROTO_TCP, TCP_KEEPCNT, [2], [4]) = 0\n"
    )
    assert run_script(script, FREEBSD_PROFILE) == Result("pass")


def test_recv_with_msg_peek_leaves_the_data_and_reports_sack_blocks() -> None:
    script = FREEBSD_CLIENT + (
        "+0 < . 1:100(99) ack 1 win 32767\n"
        "+0 recv(3, ..., 1024, MSG_PEEK) = 99\n"
        "+0 < . 200:300(100) ack 1 win 32767\n"
        "+0 > . 1:1(0) ack 100 win 65535 <nop,nop,sack 200:300>\n"
        "+0 recv(3, ..., 1024, MSG_PEEK) = 99\n"
        "+0 recv(3, ..., 1024, 0) = 99\n"
        "+0 recv(3, ..., 1024, MSG_PEEK) = -1 EAGAIN (Resource temporarily unavailable)\n"
    )
    assert run_script(script, FREEBSD_PROFILE) == Result("pass")


def test_the_nplab_corpus_gets_the_legacy_linux_profile_with_wscale_6() -> None:
    chosen = pick_profile("auto", "x/nplab+packetdrill/gtests/net/packetdrill/tests/linux/a.pkt")
    assert chosen is LINUX_LEGACY_PROFILE
    assert chosen.config.wscale == 6
    assert LINUX_PROFILE.config.wscale == 8


@pytest.mark.parametrize(
    ("value", "rmem", "wscale"),
    [("4096 87380 4194304", 87380, 7), ("4096 87380 3000000", 87380, 6), ("65535", 65535, 8)],
)
def test_tcp_rmem_max_sets_the_window_scale_as_linux_derives_it(
    value: str, rmem: int, wscale: int
) -> None:
    config = LINUX_SYSCTLS["net.ipv4.tcp_rmem"](LINUX_PROFILE.config, value)
    assert (config.rmem, config.wscale) == (rmem, wscale)


@pytest.mark.parametrize(("mss", "status"), [(1100, "pass"), (1000, "fail")])
def test_getsockopt_tcp_maxseg_reports_the_send_mss(tmp_path: Path, mss: int, status: str) -> None:
    script = tmp_path / "maxseg.pkt"
    script.write_text(
        """
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1100,nop,wscale 8>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
+0 getsockopt(4, SOL_TCP, TCP_MAXSEG, [MSS], [4]) = 0
""".replace("MSS", str(mss))
    )
    assert run_script(script, "linux").status == status
