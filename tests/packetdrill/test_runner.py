"""The packetdrill runner: small inline scripts against one stack in virtual time."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from synack.packetdrill import command
from synack.packetdrill.profiles import (
    FREEBSD_LEGACY_PROFILE,
    FREEBSD_PROFILE,
    FREEBSD_SYSCTLS,
    LINUX_LEGACY_PROFILE,
    LINUX_PROFILE,
    LINUX_SYSCTLS,
    Profile,
    UnsupportedSetting,
    pick_profile,
)
from synack.packetdrill.runner import Result, run_script
from synack.tcp.config import LINUX

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
    # Like packetdrill, the runner joins segments only up to the length expected.
    split = script.replace(
        "> P. 1:3001(3000) ack 1", "> . 1:1001(1000) ack 1\n+0 > P. 1001:3001(2000) ack 1"
    )
    assert run_script(split, LINUX_PROFILE) == Result("pass")
    longer = script.replace("write(4, ..., 3000) = 3000", "write(4, ..., 2000) = 2000")
    result = run_script(longer, LINUX_PROFILE)
    assert result.status == "fail" and "got P. 1:2001(2000) ack 1" in result.message


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


ACCEPTED = """\
`../common/defaults.sh
sysctl -q net.ipv4.tcp_timestamps=0
`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 32792 <mss 1460,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
"""


def test_icmp_frag_needed_is_injected_quoting_our_segment_and_echo_replies_go_unseen() -> None:
    script = (
        ACCEPTED
        + """\
+0 write(4, ..., 1460) = 1460
+0 > P. 1:1461(1460) ack 1
+.05 < icmp echo_request
+0 < [1:1461(1460)] icmp unreachable frag_needed mtu 1200
+0 > . 1:1161(1160) ack 1
+0 > P. 1161:1461(300) ack 1
"""
    )
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    unknown = ACCEPTED + "+0 < icmp router_advertisement\n"
    assert run_script(unknown, LINUX_PROFILE).status == "unsupported"


def test_ioctl_siocinq_reports_the_bytes_ready_to_read() -> None:
    script = (
        ACCEPTED
        + """\
+0 < P. 1:1001(1000) ack 1 win 257
+0 > . 1:1(0) ack 1001
+0 ioctl(4, SIOCINQ, [1000]) = 0
+0 read(4, ..., 400) = 400
+0 ioctl(4, FIONREAD, [600]) = 0
"""
    )
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    wrong = script.replace("[600]", "[0]")
    result = run_script(wrong, LINUX_PROFILE)
    assert result.status == "fail" and "ioctl(SIOCINQ) value 0 got 600" in result.message


def test_an_ack_without_a_number_acknowledges_script_sequence_zero() -> None:
    # packetdrill's default ack is 0, which maps onto our ISN: an old ACK, whose data
    # is still taken (RFC 9293 ignores the duplicate ACK, not the segment)
    script = (
        ACCEPTED
        + """\
+0 < . 1:1001(1000) win 257
+0 > . 1:1(0) ack 1001
"""
    )
    assert run_script(script, LINUX_PROFILE) == Result("pass")


def test_ts_vals_are_checked_when_the_script_gives_their_tick() -> None:
    script = """\
--tcp_ts_tick_usecs=1000
`../common/defaults.sh`
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 20000 <mss 1000,sackOK,TS val 100 ecr 0>
+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 100>
+.1 < . 1:1(0) ack 1 win 20000 <nop,nop,TS val 200 ecr 100>
+0 accept(3, ..., ...) = 4
+1 close(4) = 0
+0 > F. 1:1(0) ack 1 <nop,nop,TS val 1200 ecr 200>
"""
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    wrong = script.replace("TS val 1200", "TS val 1100")
    result = run_script(wrong, LINUX_PROFILE)
    assert result.status == "fail" and "(timestamp value)" in result.message
    unchecked = wrong.replace("--tcp_ts_tick_usecs=1000\n", "")
    assert run_script(unchecked, LINUX_PROFILE) == Result("pass")


def test_older_option_spellings_and_settings_synack_already_has_are_accepted() -> None:
    linger = (
        ACCEPTED.replace("`../common", "--mss=1000\n`../common")
        + """\
+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
+0 close(4) = 0
+0 > R. 1:1(0) ack 1
"""
    )
    assert run_script(linger, LINUX_PROFILE) == Result("pass")
    rule = LINUX_SYSCTLS["net.ipv4.tcp_tso_win_divisor"]
    assert rule(LINUX_PROFILE.config, "100") == LINUX_PROFILE.config
    with pytest.raises(UnsupportedSetting):
        rule(LINUX_PROFILE.config, "3")


def test_packetdrills_own_bsd_examples_get_the_freebsd_of_their_time() -> None:
    path = "x/nplab+packetdrill/gtests/net/packetdrill/tests/bsd/tcp/listen/a.pkt"
    assert pick_profile("auto", path) is FREEBSD_LEGACY_PROFILE
    assert FREEBSD_LEGACY_PROFILE.config.listen_rst_synack
    assert not FREEBSD_PROFILE.config.listen_rst_synack
    assert not FREEBSD_PROFILE.config.psh_on_tso_frames


def test_tcp_info_asserts_read_the_connection_under_test() -> None:
    script = (
        ACCEPTED
        + """\
+0 close(3) = 0
+0 %{
TCP_INFINITE_SSTHRESH = 0x7fffffff
assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd
assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH
assert tcpi_state == TCPI_ESTABLISHED and tcpi_snd_mss == 1460
}%
"""
    )
    assert run_script(script, LINUX_PROFILE) == Result("pass")
    wrong = script.replace("tcpi_snd_cwnd == 10", "tcpi_snd_cwnd == 11")
    result = run_script(wrong, LINUX_PROFILE)
    assert result.status == "fail" and "tcpi_snd_cwnd=10" in result.message


@pytest.mark.parametrize(
    ("profile", "before"), [(LINUX_PROFILE, 1100), (LINUX_LEGACY_PROFILE, 536)]
)
def test_tcp_maxseg_set_before_connect_reads_back_as_the_kernel_of_the_corpus_did(
    profile: Profile, before: int
) -> None:
    script = f"""\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], 4) = 0
+0 getsockopt(3, SOL_TCP, TCP_MAXSEG, [{before}], [4]) = 0
"""
    assert run_script(script, profile) == Result("pass")


ECN_CLIENT = """\
0 `sysctl -w net.ipv4.tcp_ecn=1`
+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 connect(3, ..., ...) = -1 EINPROGRESS
+0 > SEW 0:0(0) <...>
+0.1 < SE. 0:0(0) ack 1 win 32767 <mss 1000>
+0 > . 1:1(0) ack 1
+0 write(3, ..., 100) = 100
+0 > [ect0] P. 1:101(100) ack 1
+0.1 < [ce] P. 1:11(10) ack 101 win 32767
+0 > [noecn] E. 101:101(0) ack 11
+0 %{ assert tcpi_options & TCPI_OPT_ECN }%
"""


def test_ecn_marks_are_injected_and_checked() -> None:
    assert run_script(ECN_CLIENT, LINUX_PROFILE) == Result("pass")
    wrong = ECN_CLIENT.replace("> [ect0] P.", "> [noecn] P.")
    result = run_script(wrong, LINUX_PROFILE)
    assert result.status == "fail" and "IP ECN field 10" in result.message
    either = ECN_CLIENT.replace("> [ect0] P.", "> [ect01] P.")
    assert run_script(either, LINUX_PROFILE) == Result("pass")


def test_ecn_sysctls_take_modes_0_to_2_only() -> None:
    off = ECN_CLIENT.replace("tcp_ecn=1", "tcp_ecn=0")
    result = run_script(off, LINUX_PROFILE)
    assert result.status == "fail" and "got S 0:0(0)" in result.message
    accecn = ECN_CLIENT.replace("tcp_ecn=1", "tcp_ecn=3")
    assert run_script(accecn, LINUX_PROFILE).status == "unsupported"
    assert FREEBSD_SYSCTLS["net.inet.tcp.ecn.enable"](LINUX, "1").ecn == 1
    assert FREEBSD_SYSCTLS["net.inet.tcp.ecn.maxretries"](LINUX, "2").ecn_syn_retries == 2
    strict = FREEBSD_SYSCTLS["net.inet.tcp.tolerate_missing_ts"](LINUX, "0")
    assert not strict.tolerate_missing_ts
