"""Ladders drawn from trace files: a simulated run's file gives the ladder the demo drew
from its own recorder, losses included; a one-sided (TUN) file is drawn against the peer's
address; bad files and bad --conn give a clear error and exit status 2."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from synack.cli import main
from synack.trace import ladder_command
from synack.trace.from_trace import build, choose, load
from synack.trace.ladder import render_ladder, state_summary

Line = dict[str, Any]


def _ladder_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="synack")
    ladder_command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ladder", *argv])
    result: int = args.func(args)
    return result


def _demo(name: str, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The ladder (and state summaries) the demo printed, from its header line on."""
    main(["demo", name, "--trace", str(path)])
    out = capsys.readouterr().out
    start = out.index("   time ms")
    return out[start : out.index("\ntrace written")]


def _labels(ladder: str) -> list[str]:
    """Each row as words: arrows, labels and states, whatever the drawing's width; every
    fate of an undelivered segment reads "lost"."""
    rows = []
    for row in ladder.splitlines():
        row = re.sub(r"\((dropped|queue-full|too-big|no-route)\)", "(lost)", row)
        rows.append(" ".join(re.sub(r"[-|<>X]+", " ", row).split()))
    return [row for row in rows if row]


def test_life_from_trace_is_the_ladder_the_demo_drew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "life.jsonl"
    printed = _demo("life", path, capsys)
    data = load(path)
    trace, left, right = build(data, choose(data))
    assert (left, right) == ("A", "B")
    mine = render_ladder(trace, left, right) + "\n\n"
    mine += "\n".join(state_summary(trace, host) for host in (left, right))
    assert mine == printed.rstrip("\n")
    assert "ACK seq=1 ack=19 win=32763" in mine  # window as the header carries it


def test_lost_segment_is_drawn_lost_and_its_retransmission_delivered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lost.jsonl"
    printed = _demo("lost-data", path, capsys)
    data = load(path)
    trace, left, right = build(data, choose(data))
    lost = [rec for rec in trace.segments if rec.fate == "lost"]
    assert [(trace.relative(rec), rec.length, rec.arrive_us) for rec in lost] == [
        ((1449, 1), 1448, None)
    ]
    again = [rec for rec in trace.segments if rec.retransmission]
    assert [(trace.relative(rec)[0], rec.fate) for rec in again] == [(1449, "delivered")]
    mine = render_ladder(trace, left, right)
    assert "seq=1449 ack=1 len=1448 win=32768 (lost)-X" in mine
    assert _labels(mine) == _labels(printed.split("\n\n")[0])


def _line(t: int, ev: str, conn: list[Any] | None, **extra: Any) -> str:
    return json.dumps({"t": t, "host": "syn0", "ev": ev, "conn": conn, **extra})


SERVER = ["198.18.0.2", 80, "198.18.0.1", 40000]
LISTENER = ["198.18.0.2", 80, "*", 0]


def _seg(t: int, direction: str, seq: int, ack: int, flags: str, length: int = 0) -> str:
    extra: dict[str, Any] = {"opts": "mss 1460,sackOK,TS,wscale 7"} if "S" in flags else {}
    return _line(
        t,
        "seg",
        SERVER,
        dir=direction,
        seq=seq,
        ack=ack,
        flags=flags,
        win=64240,
        len=length,
        **extra,
    )


def _one_sided(path: Path) -> Path:
    """What ``synack serve`` on a TUN device writes for one short request (by hand)."""
    lines = [
        json.dumps(
            {
                "t": 0,
                "host": "",
                "ev": "header",
                "conn": None,
                "format": "synack-trace",
                "version": 1,
                "clock": "monotonic",
            }
        ),
        _line(5, "state", LISTENER, old="CLOSED", new="LISTEN", reason="listen"),
        _seg(1000, "in", 7000, 0, "S"),
        _line(1001, "state", SERVER, old="LISTEN", new="SYN_RCVD", reason="syn"),
        _seg(1002, "out", 90000, 7001, "SA"),
        _line(1002, "timer", SERVER, name="rtx", action="set", at=1_001_002),
        _seg(1150, "in", 7001, 90001, "A"),
        _line(1151, "state", SERVER, old="SYN_RCVD", new="ESTABLISHED", reason="ack"),
        _seg(1200, "in", 7001, 90001, "PA", 5),
        _line(1200, "future-kind", SERVER, anything=1),
        _line(41200, "timer", SERVER, name="delack", action="fire"),
        _seg(41201, "out", 90001, 7006, "A"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_sided_trace_is_drawn_against_the_peer_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _one_sided(tmp_path / "tun.jsonl")
    svg, html = tmp_path / "tun.svg", tmp_path / "tun.html"
    assert _ladder_command([str(path), "--svg", str(svg), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    header = next(row for row in out.splitlines() if "time ms" in row)
    assert header.split() == ["time", "ms", "syn0", "198.18.0.1"]
    rows = _labels(out)
    assert rows[2] == "0.005 LISTEN"  # the listener's state comes along
    arrows = [row for row in rows if "seq=" in row]
    assert arrows == [
        "0.999 SYN seq=0 win=64240 mss=1460",
        "1.002 SYN,ACK seq=0 ack=1 win=64240 mss=1460",
        "1.149 ACK seq=1 ack=1 win=501",  # 64240 bytes in the header, shifted by 7
        "1.199 PSH,ACK seq=1 ack=1 len=5 win=501",
        "41.201 ACK seq=1 ack=6 win=501",
    ]
    # Received segments point at syn0, just before the state changes they cause.
    assert "|<" in next(row for row in out.splitlines() if "0.999 " in row)
    assert rows.index("1.149 ACK seq=1 ack=1 win=501") + 1 == rows.index("1.151 ESTABLISHED")
    assert "syn0:80 <-> :40000  LISTEN > SYN_RCVD > ESTABLISHED" in out
    data = load(path)
    trace, _, _ = build(data, choose(data))
    assert [(rec.src, rec.sent_us, rec.arrive_us) for rec in trace.segments][:2] == [
        ("198.18.0.1", 999, 1000),
        ("syn0", 1002, 1003),
    ]
    assert [(tm.time_us, tm.timer) for tm in trace.timers] == [(41200, "delayed-ack")]
    for drawing in (svg, html):
        text = drawing.read_text(encoding="utf-8")
        assert "198.18.0.1" in text and "syn0" in text and "ESTABLISHED" in text
        assert "(lost)" not in text


def test_conn_picks_a_connection_and_lists_them_when_none_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s09.jsonl"
    main(["demo", "S09", "--trace", str(path)])
    capsys.readouterr()
    assert _ladder_command([str(path), "--conn", "198.18.0.2:80-198.18.0.1:49220"]) == 0
    assert "connection 198.18.0.1:49220-198.18.0.2:80" in capsys.readouterr().out
    assert _ladder_command([str(path), "--conn", "2"]) == 0
    assert "connection 198.18.0.1:49220-198.18.0.2:80" in capsys.readouterr().out
    assert _ladder_command([str(path), "--conn", "198.18.0.9:1-198.18.0.2:80"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "matches no connection" in captured.err
    assert "1  198.18.0.2:80-198.18.0.1:40000" in captured.err
    assert "2  198.18.0.1:49220-198.18.0.2:80" in captured.err
    assert _ladder_command([str(path), "--conn", "nonsense"]) == 2
    assert "bad --conn 'nonsense'" in capsys.readouterr().err


def _replace_line(path: Path, number: int, line: Line) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"flags": "SX"}, ":3: 'flags' must be letters"),
        ({"seq": "7000"}, ":3: 'seq' must be an integer"),
        ({"len": 1 << 40}, ":3: 'len' must be an integer"),
        ({"dir": "sideways"}, ":3: 'dir' must be 'in' or 'out'"),
        ({"opts": "mss lots"}, ":3: bad option 'mss lots'"),
        ({"sack": [[1, 2, 3]]}, ":3: bad SACK block"),
        ({"seq": None, "ack": None, "flags": None}, ":3: 'seq' must be an integer"),
    ],
)
def test_malformed_segment_lines_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Line, message: str
) -> None:
    path = _one_sided(tmp_path / "bad.jsonl")
    line = json.loads(path.read_text(encoding="utf-8").splitlines()[2])
    _replace_line(path, 3, {**line, **change})
    assert _ladder_command([str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""


def test_bad_state_name_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _one_sided(tmp_path / "bad.jsonl")
    _replace_line(
        path, 4, json.loads(_line(1001, "state", SERVER, old="LISTEN", new="DAZED", reason="?"))
    )
    assert _ladder_command([str(path)]) == 2
    assert ":4: unknown state 'LISTEN' or 'DAZED'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"", "empty file"),
        (b"not json\n", ":1: not a JSON line"),
        (b'{"t":0,"host":"","ev":"header"}\n', "not a synack-trace file"),
        (b"\xff\xfe\x00garbage\n", "not a text file"),
        (
            b'{"t":0,"host":"","ev":"header","conn":null,"format":"synack-trace",'
            b'"version":1,"clock":"virtual"}\n',
            "no TCP segments in the trace",
        ),
    ],
)
def test_unreadable_files_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "trace.jsonl"
    if content is not None:
        path.write_bytes(content)
    assert _ladder_command([str(path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.err.startswith("synack ladder: ")


def test_unwritable_svg_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _one_sided(tmp_path / "tun.jsonl")
    assert _ladder_command([str(path), "--svg", str(tmp_path / "missing" / "x.svg")]) == 2
    assert "cannot write" in capsys.readouterr().err
