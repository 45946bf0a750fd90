"""The packetdrill script parser: each construct, errors, and the shared corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from synack.packetdrill import (
    Call,
    Eol,
    FastOpen,
    Field,
    Icmp,
    Md5,
    Mss,
    Nop,
    Or,
    Packet,
    PythonBlock,
    Sack,
    SackOK,
    ScriptError,
    Shell,
    Struct,
    Symbol,
    Syscall,
    Time,
    Timestamp,
    UnknownOption,
    WScale,
    parse,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "packetdrill"

# Upstream files that are not valid packetdrill (packetdrill itself rejects them).
KNOWN_MALFORMED = {
    # line 1 is a stray "s//" (an editor accident) before the copyright comment
    "freebsd-net+tcp-testsuite/fast-open/client/client-handle-cookie-update-of-length-17.pkt",
}


def one(text: str) -> object:
    events = parse(text).events
    assert len(events) == 1, events
    return events[0]


def rel(value: float) -> Time:
    return Time("relative", value, relative=True)


# ---------------------------------------------------------------- options and times


def test_options_at_top() -> None:
    script = parse("--ip_version=ipv4\n--tolerance_usecs=50000\n--tcp_ts_ecr_scaled // c\n")
    assert script.options == {
        "ip_version": "ipv4",
        "tolerance_usecs": "50000",
        "tcp_ts_ecr_scaled": None,
    }
    assert script.events == []


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("0.1", Time("absolute", 0.1)),
        ("0", Time("absolute", 0.0)),
        ("+.1", rel(0.1)),
        ("+0.00", rel(0.0)),
        ("+ 0.00", rel(0.0)),
        ("*", Time("any")),
        ("0.1~0.2", Time("range", 0.1, 0.2)),
        ("+1~+2", Time("range", 1.0, 2.0, relative=True)),
    ],
)
def test_times(text: str, time: Time) -> None:
    event = one(f"{text} close(3) = 0")
    assert isinstance(event, Syscall)
    assert event.time == time
    assert event.blocking_end is None


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("+0...0.2", rel(0.0), Time("absolute", 0.2)),
        ("+.002 ... 0.004", rel(0.002), Time("absolute", 0.004)),
        ("0.1...+.2", Time("absolute", 0.1), rel(0.2)),
    ],
)
def test_blocking_times(text: str, start: Time, end: Time) -> None:
    event = one(f"{text} accept(3, ..., ...) = 4")
    assert isinstance(event, Syscall)
    assert (event.time, event.blocking_end) == (start, end)


def test_line_numbers_and_comments() -> None:
    script = parse(
        "// header\n/* block\n comment */\n"
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing\n"
        "\n+0 close(3) = 0\n"
    )
    assert [e.line for e in script.events] == [4, 6]


# ---------------------------------------------------------------- syscalls


def test_syscall_flags_and_ellipsis() -> None:
    event = one("0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3")
    assert event == Syscall(
        Time("absolute", 0.0),
        "socket",
        [..., Or((Symbol("SOCK_STREAM"), Symbol("SOCK_NONBLOCK"))), Symbol("IPPROTO_TCP")],
        3,
        line=1,
    )


def test_syscall_struct_calls_and_strings() -> None:
    event = one(
        '+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")},'
        " 16) = 0"
    )
    assert isinstance(event, Syscall)
    assert event.args == [
        3,
        Struct(
            (
                Field("sa_family", Symbol("AF_INET")),
                Field("sin_port", Call("htons", (8080,))),
                Field("sin_addr", Call("inet_addr", ("192.0.2.1",))),
            )
        ),
        16,
    ]
    struct = event.args[1]
    assert isinstance(struct, Struct)
    assert struct.get("sin_port") == Call("htons", (8080,))


def test_syscall_lists_and_counted_fields() -> None:
    event = one(
        "+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{iov_base=..., iov_len=1000}],"
        " msg_flags=0}, 0) = 1000"
    )
    assert isinstance(event, Syscall)
    msg = event.args[1]
    assert msg == Struct(
        (
            Field("msg_name", ..., count=...),
            Field("msg_iov", [Struct((Field("iov_base", ...), Field("iov_len", 1000)))], count=1),
            Field("msg_flags", 0),
        )
    )
    event = one("+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0")
    assert isinstance(event, Syscall)
    assert event.args[3:] == [[0], [4]]


def test_syscall_errno_note_and_hex() -> None:
    event = one("+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)")
    assert isinstance(event, Syscall)
    assert (event.result, event.errno, event.note) == (
        -1,
        "EINPROGRESS",
        "Operation now in progress",
    )
    event = one('+0 open("/x", O_RDONLY) = -1 ENOENT (No such file or directory)')
    assert isinstance(event, Syscall)
    assert (event.args, event.errno) == (["/x", Symbol("O_RDONLY")], "ENOENT")
    event = one("+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)")
    assert isinstance(event, Syscall)
    assert (event.result, event.errno, event.note) == (2, None, "flags O_RDWR")
    event = one("+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0")
    assert isinstance(event, Syscall)
    assert event.args[2] == Or((Symbol("O_RDWR"), Symbol("O_NONBLOCK")))


def test_syscall_no_args() -> None:
    event = one("+0 pipe() = 0")
    assert isinstance(event, Syscall)
    assert (event.name, event.args) == ("pipe", [])


# ---------------------------------------------------------------- packets


def test_inbound_syn() -> None:
    event = one("+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>")
    assert event == Packet(
        rel(0.1),
        "<",
        "S",
        0,
        0,
        0,
        win=32792,
        options=[Mss(1000), SackOK(), Nop(), Nop(), Nop(), WScale(7)],
        line=1,
    )


def test_outbound_synack_and_any_options() -> None:
    event = one("+0 > S. 0:0(0) ack 1 <...>")
    assert isinstance(event, Packet)
    assert (event.direction, event.flags, event.ack, event.win) == (">", "S.", 1, None)
    assert event.options is None
    assert event.any_options


def test_no_option_list() -> None:
    event = one("+0 > . 1:1(0) ack 1")
    assert isinstance(event, Packet)
    assert (event.flags, event.options, event.any_options) == (".", None, False)


@pytest.mark.parametrize("flags", ["S", "F.", "R", "R.", "P.", "U.", "SEW", "SE.", "FP.", "SF"])
def test_flag_letters(flags: str) -> None:
    event = one(f"+0 < {flags} 1:1(0) win 100")
    assert isinstance(event, Packet)
    assert event.flags == flags


def test_no_flags_and_split_flags() -> None:
    event = one("+0 < - 1:1001(1000) win 20000")
    assert isinstance(event, Packet)
    assert (event.flags, event.seq_start, event.seq_end, event.payload_len) == (None, 1, 1001, 1000)
    event = one("+0 < F  . 1:1(0) ack 101 win 65535")
    assert isinstance(event, Packet)
    assert event.flags == "F."


def test_ack_win_urg_and_all_options() -> None:
    event = one(
        "+0 < P. 1:11(10) ack 5 win 257 urg 3 <nop,eol,sack 1:2 3:4,TS val 5 ecr 6,"
        "FO abcd1234,FOEXP,FO,md5 valid,exp 9>"
    )
    assert isinstance(event, Packet)
    assert (event.ack, event.win, event.urg) == (5, 257, 3)
    assert event.options == [
        Nop(),
        Eol(),
        Sack(((1, 2), (3, 4))),
        Timestamp(5, 6),
        FastOpen("abcd1234"),
        FastOpen(None, experimental=True),
        FastOpen(None),
        Md5(("valid",)),
        UnknownOption("exp", ("9",)),
    ]
    assert event.unsupported == ()


def test_option_value_names_are_kept() -> None:
    event = one("+0 > S. 0:0(0) ack 1 <mss MSS,nop,wscale 8>")
    assert isinstance(event, Packet)
    assert event.options == [Mss("MSS"), Nop(), WScale(8)]


def test_any_sequence_number() -> None:
    event = one("+0 > S. ...(0) ack 4 win 65535 <mss 1452>")
    assert isinstance(event, Packet)
    assert (event.seq_start, event.seq_end, event.payload_len, event.ack) == (None, None, 0, 4)


def test_ip_headers_encapsulations_and_unknown_ecn_marks_are_reported_unsupported() -> None:
    event = one("+0 < [ect0] (tos 0x28, ttl 64) P. 1:11(10) ack 1 win 257 <nop>/udp(1 > 9811)")
    assert isinstance(event, Packet)
    assert (event.ecn, event.ip_fields, event.udp_encap) == (
        "ect0",
        {"tos": 40, "ttl": 64},
        (1, 9811),
    )
    assert event.unsupported == (
        "IP header fields tos, ttl",
        "TCP over UDP encapsulation",
    )
    event = one("+0 < [ect2] . 1:1(0) ack 1")
    assert isinstance(event, Packet)
    assert event.unsupported == ("ECN mark [ect2]",)  # no such mark in packetdrill
    event = one("+0 > encap psp spi 23 F. 1:1(0) ack 2")
    assert isinstance(event, Packet)
    assert (event.encap, event.flags, event.ack) == ("psp spi 23", "F.", 2)
    event = one("+0 > R. 0:0(0)! ack 2 win 0")
    assert isinstance(event, Packet)
    assert event.bad_checksum
    assert event.unsupported == ("bad checksum marker '!'",)


def test_icmp_and_udp() -> None:
    event = one("+0 < icmp unreachable frag_needed mtu 1234 [0:0(0)]")
    assert isinstance(event, Packet)
    assert event.protocol == "icmp"
    assert event.icmp == Icmp("unreachable", "frag_needed", 1234, (0, 0, 0))
    event = one("0.250 < [1:1461(1460)] icmp unreachable frag_needed mtu 1200")
    assert isinstance(event, Packet)
    assert event.icmp == Icmp("unreachable", "frag_needed", 1200, (1, 1461, 1460))
    event = one("+0 < icmp echo_request")
    assert isinstance(event, Packet)
    assert event.icmp == Icmp("echo_request")
    event = one("+0 < icmp packet_too_big mtu 1300 [udp(1400)]")
    assert isinstance(event, Packet)
    assert event.icmp == Icmp("packet_too_big", None, 1300, None, 1400)
    event = one("+0 < icmp unreachable port_unreachable [0:0(0)/udp(9812 > 1)]")
    assert isinstance(event, Packet)
    assert event.icmp == Icmp("unreachable", "port_unreachable", None, (0, 0, 0), None, True)
    assert event.unsupported == ("ICMP quoting a UDP-encapsulated packet",)


# ---------------------------------------------------------------- shell and python


def test_shell_commands() -> None:
    event = one("+0.00 `sysctl -w net.inet.tcp.rfc1323=1`")
    assert event == Shell(rel(0.0), "sysctl -w net.inet.tcp.rfc1323=1", line=1)
    script = parse("--x=1\n`kldload a; echo 'x ;\n  y' | setkey -c`\n0 close(3) = 0\n`setkey -F`\n")
    setup, _, cleanup = script.events
    assert setup == Shell(None, "kldload a; echo 'x ;\n  y' | setkey -c", line=2)
    assert cleanup == Shell(None, "setkey -F", line=5)


def test_python_block() -> None:
    event = one("+0.10 %{\nassert tcpi_state == TCPI_SYN_SENT\n}%")
    assert event == PythonBlock(rel(0.1), "\nassert tcpi_state == TCPI_SYN_SENT\n", line=1)


def test_ifdef() -> None:
    text = (
        "#ifdef A\n0 close(3) = 0\n#else\n0 close(4) = 0\n#endif\n"
        "#ifndef A\n0 close(5) = 0\n#endif\n"
    )
    closed = [e.args[0] for e in parse(text).events if isinstance(e, Syscall)]
    assert closed == [4, 5]
    with_a = parse(text, defines=frozenset({"A"}))
    assert [e.args[0] for e in with_a.events if isinstance(e, Syscall)] == [3]
    assert with_a.events[0].line == 2


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("0 close(3) = 0\n+0 < S 0:0 win 5\n", 2, 12, "unexpected 'win'"),
        ("0 close(3) = 0\n  +0 close(3 = 0\n", 2, 14, "unexpected '='"),
        ("0 close(3) = 0\n\n+0 > S 0:0(0) $\n", 3, 15, "unexpected character '$'"),
        ("0 close(3)", 1, 11, "end of script"),
        ("0 close(3) = 0\nclose(3) = 0\n", 2, 1, "unexpected 'close'"),
        ("0 > S. 0:0(0) ack 1 <mss x y>\n", 1, 22, "malformed TCP option 'mss'"),
        ("+0 `true`\n+0...1 < S 0:0(0) win 1\n", 2, 1, "blocking time"),
        ("#ifdef A\n0 close(3) = 0\n", 1, 1, "#ifdef without #endif"),
        ("0 close(3) = 0\n#endif\n", 2, 1, "#endif without #ifdef"),
    ],
)
def test_errors_name_line_and_column(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse(text, "t.pkt")
    err = info.value
    assert (err.filename, err.line, err.column) == ("t.pkt", line, column), err
    assert words in err.message
    assert str(err).startswith(f"t.pkt:{line}:{column}: ")


# ---------------------------------------------------------------- corpus


def test_corpus_parses() -> None:
    if not CORPUS.is_dir():
        pytest.fail(f"packetdrill corpus not found at {CORPUS} (expected beside the repository)")
    total: Counter[str] = Counter()
    good: Counter[str] = Counter()
    failures: list[str] = []
    for path in sorted(CORPUS.rglob("*.pkt")):
        name = path.relative_to(CORPUS).as_posix()
        folder = name.split("/", 1)[0]
        total[folder] += 1
        try:
            parse(path.read_text(encoding="utf-8", errors="replace"), name)
        except ScriptError as exc:
            if name not in KNOWN_MALFORMED:
                failures.append(str(exc))
            continue
        good[folder] += 1
        assert name not in KNOWN_MALFORMED, f"{name} now parses: drop it from KNOWN_MALFORMED"
    report = "\n".join(f"{f}: {good[f]}/{total[f]}" for f in sorted(total))
    print("packetdrill corpus parse rates (parsed/total):\n" + report)
    assert total, f"no *.pkt files under {CORPUS}"
    freebsd = "freebsd-net+tcp-testsuite"
    freebsd_ok = good[freebsd] + len(KNOWN_MALFORMED) == total[freebsd]
    overall = sum(good.values()) / sum(total.values())
    detail = report + "\nfailures:\n" + "\n".join(failures)
    assert freebsd_ok, f"{freebsd} must parse completely\n{detail}"
    assert overall >= 0.90, f"overall parse rate {overall:.1%} < 90 %\n{detail}"
    assert not failures, detail
