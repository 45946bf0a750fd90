"""``synack plot``: pictures of hand-made traces, and clear errors for bad input."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

from synack.trace.plot import RETRANSMISSION_COLOUR, add_parser, run

A4, B4 = "198.18.0.1", "198.18.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
DELAY_US = 10_000
MSS = 1000
WRAP = 1 << 32


class TraceBuilder:
    """Writes trace lines as docs/trace-format.md describes them."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = [
            {
                "t": 0,
                "host": "",
                "ev": "header",
                "conn": None,
                "format": "synack-trace",
                "version": 1,
                "clock": "virtual",
            }
        ]

    def event(self, t: int, host: str, ev: str, conn: list[Any] | None, **extra: Any) -> None:
        """One line; sequence numbers may be given past 2**32 and are wrapped here."""
        for name in ("seq", "ack", "iss", "irs", "snd_una", "snd_nxt"):
            if name in extra:
                extra[name] %= WRAP
        if "sack" in extra:
            extra["sack"] = [[left % WRAP, right % WRAP] for left, right in extra["sack"]]
        self.lines.append({"t": t, "host": host, "ev": ev, "conn": conn, **extra})

    def send(
        self,
        t: int,
        src: tuple[str, str, int],
        dst: tuple[str, str, int],
        lost: bool = False,
        rtx: bool = False,
        **seg: Any,
    ) -> None:
        """One segment: "out" on the sender and, unless lost, "in" on the receiver."""
        (src_host, src_addr, src_port), (dst_host, dst_addr, dst_port) = src, dst
        fields = {"win": 65535, "len": 0, **seg}
        self.event(
            t,
            src_host,
            "seg",
            [src_addr, src_port, dst_addr, dst_port],
            dir="out",
            rtx=rtx,
            **fields,
        )
        if not lost:
            self.event(
                t + DELAY_US,
                dst_host,
                "seg",
                [dst_addr, dst_port, src_addr, src_port],
                dir="in",
                **fields,
            )

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines), encoding="utf-8")
        return path


def transfer(
    builder: TraceBuilder,
    segments: int = 8,
    lose: int | None = 3,
    port: int = 40000,
    v6: bool = False,
    iss: int = 1_000_000,
    start_us: int = 0,
) -> None:
    """A sends ``segments`` full segments to B and closes; segment ``lose`` (if any) is
    lost once, B answers with duplicate ACKs carrying SACK, A retransmits it."""
    a = ("A", A6 if v6 else A4, port)
    b = ("B", B6 if v6 else B4, 80)
    conn_a = [a[1], port, b[1], 80]
    irs = 5_000_000
    t = start_us
    builder.send(t, a, b, seq=iss, ack=0, flags="S", opts="mss 1000,sackOK", iss=iss)
    builder.send(t + DELAY_US, b, a, seq=irs, ack=iss + 1, flags="SA", iss=irs, irs=iss)
    t += 2 * DELAY_US
    builder.send(t, a, b, seq=iss + 1, ack=irs + 1, flags="A", iss=iss, irs=irs)
    cwnd, rto = 10 * MSS, 210_000
    builder.event(
        t,
        "A",
        "cc",
        conn_a,
        cwnd=cwnd,
        ssthresh=None,
        rto=rto,
        srtt=20_000,
        rttvar=10_000,
        snd_una=iss + 1,
        snd_nxt=iss + 1,
        snd_wnd=65535,
        rcv_wnd=65535,
        inflight=0,
    )
    builder.event(t, "A", "rtt", conn_a, sample=20_000, srtt=20_000, rttvar=10_000, rto=rto)
    builder.event(t, "A", "timer", conn_a, name="rtx", action="set", at=t + rto)
    hole = iss + 1 + (lose - 1) * MSS if lose is not None else None
    highest_ack = iss + 1
    for n in range(segments):
        seq = iss + 1 + n * MSS
        lost = seq == hole
        builder.send(t + n * 100, a, b, lost=lost, seq=seq, ack=irs + 1, flags="PA", len=MSS)
        builder.event(t + n * 100, "A", "cc", conn_a, inflight=(n + 1) * MSS, snd_nxt=seq + MSS)
        if lost:
            builder.event(
                t + n * 100 + DELAY_US, "B", "drop", [B4, 80, A4, port], reason="lost on the link"
            )
            continue
        sack: dict[str, Any] = {}
        if hole is not None and seq > hole:
            sack = {"sack": [[hole + MSS, seq + MSS]]}
        else:
            highest_ack = seq + MSS
        builder.send(
            t + n * 100 + DELAY_US,
            b,
            a,
            seq=irs + 1,
            ack=highest_ack,
            flags="A",
            win=65535 - MSS,
            **sack,
        )
    t += 2 * DELAY_US + segments * 100
    end = iss + 1 + segments * MSS
    if hole is not None:
        builder.event(t, "A", "cc", conn_a, cwnd=cwnd // 2, ssthresh=cwnd // 2, rto=2 * rto)
        builder.event(t, "A", "timer", conn_a, name="rtx", action="fire")
        builder.send(t, a, b, rtx=True, seq=hole, ack=irs + 1, flags="PA", len=MSS)
        builder.send(t + DELAY_US, b, a, seq=irs + 1, ack=end, flags="A")
        builder.event(
            t + 2 * DELAY_US,
            "A",
            "rtt",
            conn_a,
            sample=21_000,
            srtt=20_125,
            rttvar=8_000,
            rto=205_000,
        )
        t += 2 * DELAY_US
    builder.event(t, "A", "cc", conn_a, inflight=0, snd_una=end)
    builder.send(t, a, b, seq=end, ack=irs + 1, flags="FA")
    builder.send(t + DELAY_US, b, a, seq=irs + 1, ack=end + 1, flags="FA")


def make_trace(tmp_path: Path, name: str = "run.jsonl", **kwargs: Any) -> Path:
    builder = TraceBuilder()
    transfer(builder, **kwargs)
    return builder.write(tmp_path / name)


def synack_plot(argv: Sequence[str]) -> int:
    """``synack plot ARGV`` through the same parser the command uses."""
    parser = argparse.ArgumentParser(prog="synack")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plot", *argv])
    result: int = args.func(args)
    return result


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("kind", ["tsg", "cwnd", "rtt"])
def test_each_kind_draws_a_png_that_is_not_blank(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"{kind}.png"
    assert synack_plot([str(make_trace(tmp_path)), "--kind", kind, "-o", str(out)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > 10  # lines, text and legend, not a single fill


@pytest.mark.parametrize(
    ("kind", "labels"),
    [
        (
            "tsg",
            [
                "time (ms)",
                "relative sequence number (bytes)",
                "data sent",
                "ACK",
                "window edge (ACK + win)",
                "SACK block",
                "SYN",
                "FIN",
                "drop",
                "time-sequence graph: A 198.18.0.1:40000-198.18.0.2:80",
            ],
        ),
        (
            "cwnd",
            [
                "time (ms)",
                "bytes",
                "cwnd",
                "ssthresh",
                "inflight",
                "RTO",
                "RTO (ms)",
                "retransmission timeout",
                "congestion window: A 198.18.0.1:40000-198.18.0.2:80",
            ],
        ),
        (
            "rtt",
            [
                "time (ms)",
                "RTT sample",
                "srtt",
                "RTO",
                "round-trip time: A 198.18.0.1:40000-198.18.0.2:80",
            ],
        ),
    ],
)
def test_svg_carries_axis_labels_legend_and_title(
    tmp_path: Path, kind: str, labels: list[str]
) -> None:
    out = tmp_path / f"{kind}.svg"
    assert synack_plot([str(make_trace(tmp_path)), "--kind", kind, "-o", str(out)]) == 0
    texts = svg_texts(out)
    for label in labels:
        assert label in texts


def test_retransmissions_have_their_own_colour_and_legend(tmp_path: Path) -> None:
    lossy, clean = tmp_path / "lossy.svg", tmp_path / "clean.svg"
    assert synack_plot([str(make_trace(tmp_path, "l.jsonl")), "-o", str(lossy)]) == 0
    assert synack_plot([str(make_trace(tmp_path, "c.jsonl", lose=None)), "-o", str(clean)]) == 0
    assert "retransmission" in svg_texts(lossy)
    assert RETRANSMISSION_COLOUR in lossy.read_text()
    assert "retransmission" not in svg_texts(clean)
    assert RETRANSMISSION_COLOUR not in clean.read_text()
    assert "SACK block" not in svg_texts(clean) and "drop" not in svg_texts(clean)


def test_sequence_numbers_are_relative_across_the_wrap(tmp_path: Path) -> None:
    """An ISN just below 2**32: the axis still runs from 0 to the bytes sent."""
    out = tmp_path / "wrap.svg"
    trace = make_trace(tmp_path, iss=(1 << 32) - 2500)
    assert synack_plot([trace.as_posix(), "-o", str(out)]) == 0
    ticks = [int(t.replace("\N{MINUS SIGN}", "-")) for t in svg_texts(out) if t.isdigit()]
    assert ticks and max(ticks) < 100_000  # bytes sent plus one window, not 2**32


def test_the_busiest_connection_is_drawn_unless_conn_says_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builder = TraceBuilder()
    transfer(builder, segments=2, lose=None, port=40001)
    transfer(builder, segments=8, port=40002, start_us=100_000)
    trace = str(builder.write(tmp_path / "two.jsonl"))
    out = str(tmp_path / "tsg.svg")
    assert synack_plot([trace, "-o", out]) == 0
    assert "A 198.18.0.1:40002-198.18.0.2:80" in capsys.readouterr().out
    assert synack_plot([trace, "-o", out, "--conn", "1"]) == 0
    assert "A 198.18.0.1:40001-198.18.0.2:80" in capsys.readouterr().out
    assert synack_plot([trace, "-o", out, "--conn", "198.18.0.1:40001-198.18.0.2:80"]) == 0
    assert "time-sequence graph: A 198.18.0.1:40001-198.18.0.2:80" in svg_texts(Path(out))


def test_ipv6_connections_are_named_with_brackets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = str(make_trace(tmp_path, v6=True))
    out = str(tmp_path / "v6.png")
    conn = "[2001:db8::1]:40000-[2001:db8::2]:80"
    assert synack_plot([trace, "-o", out, "--conn", conn, "--host", "A"]) == 0
    assert f"A {conn}" in capsys.readouterr().out


def error_of(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The message of a command that must fail cleanly (exit 2, no traceback)."""
    assert synack_plot(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("synack plot: ") and "Traceback" not in err
    return err


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.png")
    trace = str(make_trace(tmp_path))
    assert "no such file" in error_of([str(tmp_path / "missing.jsonl"), "-o", out], capsys)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    assert "not a synack trace" in error_of([str(text), "-o", out], capsys)
    binary = tmp_path / "pic.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    assert "not a synack trace" in error_of([str(binary), "-o", out], capsys)
    (tmp_path / "empty.jsonl").write_text("")
    assert "not a synack trace" in error_of([str(tmp_path / "empty.jsonl"), "-o", out], capsys)
    assert "cannot read" in error_of([str(tmp_path), "-o", out], capsys)
    newer = TraceBuilder()
    newer.lines[0]["version"] = 2
    transfer(newer)
    err = error_of([str(newer.write(tmp_path / "v2.jsonl")), "-o", out], capsys)
    assert "version 2 is newer" in err
    assert ".png or .svg" in error_of([trace, "-o", str(tmp_path / "x.jpg")], capsys)
    assert "cannot write" in error_of([trace, "-o", str(tmp_path / "no" / "dir.png")], capsys)
    assert not (tmp_path / "x.png").exists()


def test_unknown_kind_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = str(make_trace(tmp_path))
    with pytest.raises(SystemExit) as exc:
        synack_plot([trace, "--kind", "pie", "-o", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "invalid choice: 'pie'" in capsys.readouterr().err
    args = argparse.Namespace(trace=trace, kind="pie", output="x.png", conn=None, host=None)
    assert run(args) == 2
    assert "unknown kind 'pie'" in capsys.readouterr().err


def test_conn_that_matches_nothing_lists_the_connections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, out = str(make_trace(tmp_path)), str(tmp_path / "x.png")
    with_listener = TraceBuilder()
    with_listener.event(0, "B", "state", [B4, 80, "*", 0], old="CLOSED", new="LISTEN")
    with_listener.event(
        1, "B", "seg", [B4, 80, "*", 0], dir="in", seq=1, ack=0, flags="S", win=65535, len=0
    )
    transfer(with_listener)
    trace = str(with_listener.write(tmp_path / "listener.jsonl"))
    err = error_of([trace, "-o", out, "--conn", "198.18.0.9:1-198.18.0.2:80"], capsys)
    assert "*:0" not in err and len(err.splitlines()) == 3
    assert "matches no connection" in err
    assert "A 198.18.0.1:40000-198.18.0.2:80  (9000 payload bytes sent)" in err
    assert "B 198.18.0.2:80-198.18.0.1:40000  (0 payload bytes sent)" in err
    assert "matches no connection" in error_of([trace, "-o", out, "--conn", "7"], capsys)
    assert "bad --conn" in error_of([trace, "-o", out, "--conn", "nonsense"], capsys)
    assert "no host 'C'" in error_of([trace, "-o", out, "--host", "C"], capsys)


def test_a_trace_without_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.png")
    handshake_only = TraceBuilder()
    transfer(handshake_only, segments=0, lose=None)
    trace = str(handshake_only.write(tmp_path / "hs.jsonl"))
    err = error_of([trace, "-o", out], capsys)
    assert "no data segments" in err
    assert "1  A 198.18.0.1:40000-198.18.0.2:80  (0 payload bytes sent)" in err
    # A trace of many connections (a SYN flood) lists only the first few.
    many = TraceBuilder()
    for port in range(1000, 1060):
        transfer(many, segments=0, lose=None, port=port)
    err = error_of([str(many.write(tmp_path / "many.jsonl")), "-o", out], capsys)
    assert "... and 70 more (use --host to narrow)" in err and len(err.splitlines()) == 52
    # The receiving side of a transfer sent nothing either.
    lossy = str(make_trace(tmp_path))
    assert "no data segments sent on B" in error_of(
        [lossy, "-o", out, "--host", "B", "--conn", "1"], capsys
    )
    header_only = TraceBuilder().write(tmp_path / "empty.jsonl")
    assert "no connections" in error_of([str(header_only), "-o", out], capsys)


def test_broken_lines_are_named_and_a_cut_off_last_line_is_forgiven(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.png")
    good = make_trace(tmp_path).read_text()
    lines = good.splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join([*lines[:3], "{not json\n", *lines[3:]]))
    assert "broken.jsonl:4: not a JSON line" in error_of([str(broken), "-o", out], capsys)
    wrong = tmp_path / "wrong.jsonl"
    bad_seg = json.loads(lines[1]) | {"seq": "zero"}
    wrong.write_text("".join([lines[0], json.dumps(bad_seg) + "\n", *lines[2:]]))
    assert "wrong.jsonl:2: bad trace line" in error_of([str(wrong), "-o", out], capsys)
    odd_cc = TraceBuilder()
    transfer(odd_cc)
    odd_cc.event(5, "A", "cc", [A4, 40000, B4, 80], cwnd="lots")
    odd = str(odd_cc.write(tmp_path / "odd.jsonl"))
    assert "bad cc line" in error_of([odd, "--kind", "cwnd", "-o", out], capsys)
    cut = tmp_path / "cut.jsonl"
    cut.write_text(good + '{"t": 99999999, "host": "A", "ev": "se')
    assert synack_plot([str(cut), "-o", out]) == 0
    assert "cut.jsonl" in capsys.readouterr().err and Path(out).exists()


def test_unknown_events_and_keys_are_ignored(tmp_path: Path) -> None:
    builder = TraceBuilder()
    transfer(builder)
    builder.event(1, "A", "novelty", ["x", 1, "y", 2], colour="blue")
    builder.lines[3]["future_key"] = {"nested": [1, 2]}
    out = tmp_path / "x.svg"
    assert synack_plot([str(builder.write(tmp_path / "t.jsonl")), "-o", str(out)]) == 0
    assert "data sent" in svg_texts(out)


def test_the_core_does_not_import_the_plotter() -> None:
    code = (
        "import sys, synack.wire, synack.tcp, synack.stack\n"
        "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'synack.trace'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_trace_of_a_simulated_lossy_transfer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end: the stacks write the trace (synack.trace.jsonl), plot draws it."""
    from synack.scenarios.world import World
    from synack.sim.link import LinkConfig
    from synack.trace.jsonl import JsonlTrace

    world = World(seed=3, link=LinkConfig(delay_us=10_000, loss=0.03), record=False)
    path = tmp_path / "sim.jsonl"
    size = 300_000
    with JsonlTrace(path) as trace:
        trace.attach_world(world)
        server = world.socket("B")
        server.bind(("198.18.0.2", 80))
        server.listen()
        client = world.socket("A")
        client.connect(("198.18.0.2", 80))
        conn, _ = server.accept()
        payload, sent, got = bytes(size), 0, 0
        for _ in range(10_000):
            if got >= size:
                break
            if sent < size:
                sent += conn.send(payload[sent : sent + 65536])
            got += len(client.recv(1 << 20))
        assert got == size
        conn.close()
        client.close()
        world.run(1)
    for kind in ("tsg", "cwnd", "rtt"):
        out = tmp_path / f"{kind}.svg"
        assert synack_plot([str(path), "--kind", kind, "-o", str(out)]) == 0
        assert f"{kind} of B 198.18.0.2:80-198.18.0.1:" in capsys.readouterr().out
    texts = svg_texts(tmp_path / "tsg.svg")
    assert {"data sent", "retransmission", "ACK", "SYN", "FIN"} <= set(texts)
    assert "ssthresh" in svg_texts(tmp_path / "cwnd.svg")
