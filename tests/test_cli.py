"""The ``synack`` command as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from synack.cli import main
from synack.scenarios.catalog import SCENARIOS
from synack.stack import STANDARD_COUNTERS


def test_demo_draws_the_life_of_a_connection(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for label in ("SYN seq=0", "SYN,ACK seq=0 ack=1", "FIN,ACK", "TIME_WAIT", "CLOSE_WAIT"):
        assert label in out
    # The client's states, in order, end with TIME_WAIT expiring 60 s after it began.
    assert "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] != ["|"]]
    closed = [r[0] for r in rows if r[1:2] == ["CLOSED"] and r[0][0].isdigit()]
    assert closed[-1] == "60370.000"  # TIME_WAIT began at 370 ms


def test_demo_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for sc in SCENARIOS.values():
        assert sc.name in out
    ids = {line.split()[0] for line in out.splitlines()}
    wanted = {f"S{n:02d}" for n in [*range(1, 16), 18, 19, *range(21, 28), *range(29, 33)]}
    assert wanted - {"S28"} <= ids


def test_demo_replays_on_a_worse_network(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "S05", "--loss", "0.2", "--seed", "3", "--delay", "5"]) == 0
    out = capsys.readouterr().out
    assert "(lost)" in out and "rtx" in out
    assert main(["demo", "S05", "--loss", "0.2", "--seed", "3", "--delay", "5"]) == 0
    assert capsys.readouterr().out == out  # the same seed replays bit for bit


def test_unknown_scenario_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "no-such-thing"]) == 2
    assert "no scenario 'no-such-thing'" in capsys.readouterr().err


def _section(out: str, title: str) -> list[str]:
    """The lines of one --ss/--nstat section, from its title to the next blank line."""
    lines = out.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_demo_writes_a_pcap_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    path = tmp_path / "life.pcap"
    assert main(["demo", "--pcap", str(path)]) == 0
    out = capsys.readouterr().out
    packets = rdpcap(str(path))
    assert f"{len(packets)} packets written to {path}" in out
    assert [str(p[TCP].flags) for p in packets[:3]] == ["S", "SA", "A"]
    assert main(["demo"]) == 0  # capturing changes nothing in the run itself
    assert out.startswith(capsys.readouterr().out)


def test_demo_pcap_to_an_unwritable_place_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--pcap", str(tmp_path / "no" / "such" / "dir.pcap")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_demo_ss_shows_each_host_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "close-server-first", "--ss"]) == 0
    out = capsys.readouterr().out
    # TIME-WAIT is over by the end of the run: B only listens, A holds nothing.
    assert _section(out, "host A: ss -tan") == [
        "State Recv-Q Send-Q Local Address:Port Peer Address:Port"
    ]
    b = [line.split() for line in _section(out, "host B: ss -tan")]
    assert b[1:] == [["LISTEN", "0", "16", "198.18.0.2:80", "0.0.0.0:*"]]


def test_demo_ss_at_a_moment_shows_time_wait(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "S03", "--ss", "-o", "--at", "600"]) == 0
    out = capsys.readouterr().out
    b = [line.split() for line in _section(out, "host B at 600.000 ms: ss -tano")]
    assert b[2][:4] == ["TIME-WAIT", "0", "0", "198.18.0.2:80"]
    assert b[2][4].startswith("198.18.0.1:") and b[2][5] == "timer:(timewait,59sec,0)"
    assert main(["demo", "S03"]) == 0  # the snapshot changes nothing in the run itself
    assert out.startswith(capsys.readouterr().out)


def test_demo_at_needs_a_view(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "S03", "--at", "600"])
    assert exc.value.code == 2
    assert "--at needs --ss or --nstat" in capsys.readouterr().err


def test_demo_nstat_lists_every_counter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "refused", "--nstat"]) == 0
    out = capsys.readouterr().out
    b = dict(line.split() for line in _section(out, "host B: nstat -az")[1:])
    assert b["TcpOutRsts"] == "1" and b["TcpPassiveOpens"] == "0"
    assert set(STANDARD_COUNTERS) <= set(b)
    a = dict(line.split() for line in _section(out, "host A: nstat -az")[1:])
    assert a["TcpAttemptFails"] == "1"


def test_demo_draws_svg_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    svg, html = tmp_path / "life.svg", tmp_path / "life.html"
    assert main(["demo", "life", "--svg", str(svg), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert f"ladder written to {svg}" in out and f"ladder written to {html}" in out
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "SYN seq=0" in "".join(root.itertext())
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and "DEMO life" in page and "http:" not in page


@pytest.mark.parametrize("option", ["--svg", "--html"])
def test_demo_drawing_to_an_unwritable_place_is_a_clear_error(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", option, str(tmp_path / "no" / "such" / "dir.svg")]) == 2
    captured = capsys.readouterr()
    assert "cannot write" in captured.err
    assert captured.out == ""  # refused before the scenario ran


def test_demo_trace_feeds_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from synack.trace.jsonl import read_trace

    trace = tmp_path / "s26.jsonl"
    assert main(["demo", "lost-data", "--trace", str(trace)]) == 0
    assert f"trace written to {trace}" in capsys.readouterr().out
    lines = list(read_trace(trace))
    hosts = {line["host"] for line in lines[1:]}
    assert hosts == {"A", "B"}
    assert any(line["ev"] == "seg" and line.get("rtx") for line in lines)  # the repair
    assert any(line["ev"] == "timer" and line["action"] == "set" for line in lines)
    for kind in ("tsg", "cwnd", "rtt"):
        out = tmp_path / f"{kind}.svg"
        assert main(["plot", str(trace), "--kind", kind, "-o", str(out)]) == 0
        assert out.read_text().startswith("<?xml")
