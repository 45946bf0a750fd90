"""JSON-lines trace files: a lossy transfer traced to a file and read back, checked against
the recorder's independent view of the same run; tracing leaves the wire untouched."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from synack.scenarios.catalog import Options, find
from synack.scenarios.lifecycle import PORT, connected_pair, pump
from synack.scenarios.world import World
from synack.sim.events import DELIVERED
from synack.sim.link import LinkConfig
from synack.tcp.config import LINUX
from synack.trace.jsonl import JsonlTrace, event_to_dict, read_trace
from synack.trace.pcap import PcapRecorder
from synack.wire.tcp import SYN, flag_names

Line = dict[str, Any]
#: Seed 0 on this link loses enough to show both fast retransmits and timeouts.
LOSSY = LinkConfig(delay_us=5_000, loss=0.05)
DATA = bytes(range(256)) * 1200


def _transfer(world: World) -> None:
    cli, conn, _ = connected_pair(world)
    assert pump(world, cli, conn, DATA) == DATA
    cli.close()
    conn.close()
    world.run()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, list[Line]]:
    path = tmp_path_factory.mktemp("jsonl") / "lossy.jsonl"
    world = World(0, LOSSY)
    with JsonlTrace(path) as trace:
        trace.attach_world(world)
        _transfer(world)
    return world, list(read_trace(path))


def _letters(flags: int) -> str:
    return "".join(name[0] for name in flag_names(flags).split(",") if name)


def _of(lines: list[Line], ev: str, host: str | None = None) -> list[Line]:
    return [x for x in lines if x["ev"] == ev and (host is None or x["host"] == host)]


def test_every_line_parses_and_starts_with_the_header(traced: tuple[World, list[Line]]) -> None:
    _, lines = traced
    head = lines[0]
    assert (head["ev"], head["format"], head["version"], head["clock"]) == (
        "header",
        "synack-trace",
        1,
        "virtual",
    )
    assert {x["host"] for x in lines[1:]} == {"A", "B"}
    for host in ("A", "B"):
        times = [x["t"] for x in lines if x["host"] == host]
        assert times == sorted(times)
    kinds = {x["ev"] for x in lines}
    assert kinds == {"header", "seg", "state", "timer", "cc", "rtt"}


def test_segments_out_match_what_the_network_carried(traced: tuple[World, list[Line]]) -> None:
    world, lines = traced
    for host in ("A", "B"):
        ours = [
            (x["t"], x["seq"], x["ack"], x["flags"], x["len"], x["rtx"])
            for x in _of(lines, "seg", host)
            if x["dir"] == "out"
        ]
        carried = [
            (
                r.sent_us,
                r.segment.seq,
                r.segment.ack,
                _letters(r.segment.flags),
                r.length,
                r.retransmission,
            )
            for r in world.trace.segments
            if r.src == host
        ]
        assert ours == carried
        assert any(rtx for *_, rtx in ours) or host == "B"


def test_segments_in_match_what_the_network_delivered(traced: tuple[World, list[Line]]) -> None:
    world, lines = traced
    for host in ("A", "B"):
        ours = sorted(
            (x["t"], x["seq"], x["ack"], x["flags"], x["len"], x["win"])
            for x in _of(lines, "seg", host)
            if x["dir"] == "in"
        )
        delivered = [r for r in world.trace.segments if r.dst == host and r.fate == DELIVERED]
        scale = 0
        expected = []
        for r in sorted(delivered, key=lambda r: r.arrive_us or 0):
            seg = r.segment
            if seg.flags & SYN and seg.options is not None and seg.options.wscale is not None:
                scale = seg.options.wscale  # both sides offer scaling here
            shift = 0 if seg.flags & SYN else scale
            expected.append(
                (r.arrive_us, seg.seq, seg.ack, _letters(seg.flags), r.length, seg.window << shift)
            )
        assert ours == sorted(expected)
        assert len(delivered) < len([r for r in world.trace.segments if r.dst == host])  # losses


def test_segments_carry_the_connection_and_its_isns(traced: tuple[World, list[Line]]) -> None:
    world, lines = traced
    data = [x for x in _of(lines, "seg", "A") if x["dir"] == "out" and x["len"]]
    assert data[0]["conn"][0] == world.address("A") and data[0]["conn"][2:] == [
        world.address("B"),
        PORT,
    ]
    assert data[0]["iss"] == world.trace.isn("A") and data[0]["irs"] == world.trace.isn("B")
    assert data[0]["opts"] == "TS"
    syn = next(x for x in _of(lines, "seg", "A") if x["flags"] == "S")
    assert syn["opts"].startswith("mss 1460")


def test_cwnd_drops_after_a_loss(traced: tuple[World, list[Line]]) -> None:
    _, lines = traced
    first_rtx = min(x["t"] for x in _of(lines, "seg", "A") if x.get("rtx"))
    cc = _of(lines, "cc", "A")
    drops = [(a, b) for a, b in itertools.pairwise(cc) if b["cwnd"] < a["cwnd"]]
    assert drops
    before, after = drops[0]
    assert after["t"] >= first_rtx
    assert before["ssthresh"] is None  # slow start until the loss
    assert after["ssthresh"] is not None and after["ssthresh"] < before["cwnd"]


def test_an_rtx_timer_is_set_then_fires_at_its_deadline_with_a_retransmission(
    traced: tuple[World, list[Line]],
) -> None:
    _, lines = traced
    timers = [x for x in _of(lines, "timer", "A") if x["name"] == "rtx"]
    fired = [i for i, x in enumerate(timers) if x["action"] == "fire"]
    assert fired
    for i in fired:
        armed = timers[i - 1]
        assert (armed["action"], armed["at"]) == ("set", timers[i]["t"])
    fire_times = {timers[i]["t"] for i in fired}
    resent = {x["t"] for x in _of(lines, "seg", "A") if x.get("rtx")}
    assert fire_times <= resent


def test_rtt_samples_and_srtt(traced: tuple[World, list[Line]]) -> None:
    _, lines = traced
    samples = _of(lines, "rtt", "A")
    assert samples and all(x["sample"] >= 10_000 for x in samples)  # 2 x 5 ms at least
    assert samples[0]["srtt"] == samples[0]["sample"]


def test_state_lines_give_the_full_state_path(traced: tuple[World, list[Line]]) -> None:
    world, lines = traced
    for host in ("A", "B"):
        states = _of(lines, "state", host)
        path = [states[0]["old"]] + [x["new"] for x in states]
        assert path == [str(s) for s in world.trace.state_path(host)]
    a = _of(lines, "state", "A")
    assert [x["new"] for x in a][:2] == ["SYN_SENT", "ESTABLISHED"]
    assert [x["new"] for x in a][-2:] == ["TIME_WAIT", "CLOSED"]


def test_time_wait_timer_lasts_its_full_length(traced: tuple[World, list[Line]]) -> None:
    _, lines = traced
    entered = next(x["t"] for x in _of(lines, "state", "A") if x["new"] == "TIME_WAIT")
    timers = [x for x in _of(lines, "timer", "A") if x["name"] == "time_wait"]
    assert [(x["action"], x["t"], x.get("at")) for x in timers] == [
        ("set", entered, entered + LINUX.timewait_len_us),
        ("fire", entered + LINUX.timewait_len_us, None),
    ]


def test_time_wait_restarts_when_the_fin_comes_again(tmp_path: Path) -> None:
    """S08: the last ACK is lost, B resends its FIN, A re-ACKs and starts TIME_WAIT over."""
    path = tmp_path / "s08.jsonl"
    with JsonlTrace(path) as trace, World.watch(trace.attach_world):
        find("S08").run(Options())
    lines = list(read_trace(path))
    timers = [x for x in _of(lines, "timer", "A") if x["name"] == "time_wait"]
    assert [x["action"] for x in timers] == ["set", "set", "fire"]
    assert timers[1]["at"] > timers[0]["at"] and timers[2]["t"] == timers[1]["at"]
    b_rtx = [x["action"] for x in _of(lines, "timer", "B") if x["name"] == "rtx"]
    assert "fire" in b_rtx


def _pcap_bytes(path: Path, tracer_path: Path | None) -> bytes:
    world = World(0, LOSSY, record=False)
    capture = PcapRecorder(world.net, path)
    trace = None
    if tracer_path is not None:
        trace = JsonlTrace(tracer_path)
        trace.attach_world(world)
    _transfer(world)
    capture.close()
    if trace is not None:
        trace.close()
        assert trace.lines > 1000
    return path.read_bytes()


def test_tracing_changes_nothing_on_the_wire(tmp_path: Path) -> None:
    plain = _pcap_bytes(tmp_path / "plain.pcap", None)
    traced = _pcap_bytes(tmp_path / "traced.pcap", tmp_path / "t.jsonl")
    assert len(plain) > 100_000
    assert traced == plain


def test_close_detaches_and_later_events_are_not_written(tmp_path: Path) -> None:
    world = World(1)
    recorder_tracer = world.stack("A").tracer
    trace = JsonlTrace(tmp_path / "t.jsonl")
    trace.attach_world(world)
    cli, conn, _ = connected_pair(world)
    trace.close()
    assert world.stack("A").tracer is recorder_tracer
    written = (tmp_path / "t.jsonl").read_text().count("\n")
    assert written == trace.lines
    cli.sendall(b"more")
    assert conn.recv(10) == b"more"
    assert (tmp_path / "t.jsonl").read_text().count("\n") == written
    assert len(world.trace.states) >= 3  # the recorder saw everything throughout


def test_an_open_file_is_written_and_left_open() -> None:
    out = io.StringIO()
    world = World(2, record=False)
    with JsonlTrace(out, clock="monotonic") as trace:
        trace.attach(world.stack("A"))
        trace.attach(world.stack("B"), host="server")
        connected_pair(world)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines[0]["clock"] == "monotonic"
    assert {x["host"] for x in lines[1:]} == {"A", "server"}
    assert not out.closed


class _FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_write_error_stops_the_trace_not_the_stacks() -> None:
    world = World(3)
    trace = JsonlTrace(_FullDisk())
    trace.attach_world(world)
    cli, conn, _ = connected_pair(world)
    payload = bytes(200_000)
    assert pump(world, cli, conn, payload) == payload  # far more lines than one batch
    with pytest.raises(OSError, match="No space"):
        trace.close()
    assert world.stack("A").counters["SynackInternalErrors"] == 0


def test_bad_clock_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clock"):
        JsonlTrace(tmp_path / "x.jsonl", clock="wall")


def test_converters_give_the_lines_the_file_holds(tmp_path: Path) -> None:
    events: list[tuple[str, Any]] = []
    world = World(4, record=False)
    world.stack("A").tracer = lambda e: events.append(("A", e))
    path = tmp_path / "t.jsonl"
    with JsonlTrace(path) as trace:
        trace.attach(world.stack("A"))
        connected_pair(world)
    lines = list(read_trace(path))[1:]
    assert len(lines) == len(events)
    for (host, event), line in zip(events, lines, strict=True):
        expected = event_to_dict(event, host)
        assert {k: v for k, v in line.items() if k not in ("iss", "irs")} == expected


def _good_file(tmp_path: Path) -> list[str]:
    path = tmp_path / "good.jsonl"
    world = World(5, record=False)
    with JsonlTrace(path) as trace:
        trace.attach_world(world)
        connected_pair(world)
    return path.read_text().splitlines(keepends=True)


@pytest.mark.parametrize(
    ("line_number", "replacement", "message"),
    [
        (5, '{"t": 10, "host": "A", "ev": "seg", "conn"', "not a JSON line"),
        (4, "[1, 2, 3]\n", "not a JSON object"),
        (6, '{"t": -1, "host": "A", "ev": "drop", "conn": null, "reason": "x"}\n', "'t'"),
        (3, '{"t": 1, "host": "A", "ev": "state", "conn": null}\n', "lacks old, new, reason"),
        (7, '{"t": 1, "host": "A", "ev": "drop", "conn": ["a", 1]}\n', "'conn'"),
        (
            2,
            '{"t": 1, "host": "A", "ev": "timer", "conn": null, "name": "rtx", "action": "set"}\n',
            "'at'",
        ),
        (1, '{"t": 0, "host": "", "ev": "seg", "conn": null}\n', "not a synack-trace file"),
    ],
)
def test_read_trace_names_the_broken_line(
    tmp_path: Path, line_number: int, replacement: str, message: str
) -> None:
    lines = _good_file(tmp_path)
    lines[line_number - 1] = replacement
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(lines))
    with pytest.raises(ValueError, match=rf"broken\.jsonl:{line_number}: .*{message}"):
        list(read_trace(broken))


def test_read_trace_refuses_a_newer_version_and_an_empty_file(tmp_path: Path) -> None:
    lines = _good_file(tmp_path)
    newer = tmp_path / "newer.jsonl"
    newer.write_text(lines[0].replace('"version":1', '"version":2') + "".join(lines[1:]))
    with pytest.raises(ValueError, match=r"newer\.jsonl:1: unsupported synack-trace version 2"):
        list(read_trace(newer))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.jsonl:1: empty file"):
        list(read_trace(empty))


def test_read_trace_passes_unknown_kinds_and_keys_through(tmp_path: Path) -> None:
    lines = _good_file(tmp_path)
    lines.append('{"t": 9, "host": "A", "ev": "future", "conn": null, "extra": [1]}\n')
    path = tmp_path / "grown.jsonl"
    path.write_text("".join(lines))
    assert list(read_trace(path))[-1]["extra"] == [1]
