"""SVG and HTML ladders: well-formed, in time order, losses crossed, bulk data folded."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from synack.scenarios.catalog import Options, find
from synack.trace.ladder_svg import render_html, render_svg
from synack.trace.recorder import Trace

NS = {"svg": "http://www.w3.org/2000/svg"}


def _trace(name: str) -> Trace:
    return find(name).run(Options()).trace


def _texts(root: ET.Element) -> list[tuple[float, str]]:
    """Every text element as (y, text), without tooltips."""
    out = []
    for el in root.iter(f"{{{NS['svg']}}}text"):
        text = "".join(t for t in [el.text, *(c.tail for c in el)] if t)
        out.append((float(el.get("y", "0")), text))
    return out


def _y_of(texts: list[tuple[float, str]], label: str, after: float = -1.0) -> float:
    """The y of the first text at or below ``after`` that starts with ``label``."""
    return min(y for y, t in texts if t.startswith(label) and y > after)


def _timeline_x(root: ET.Element) -> dict[str, float]:
    return {
        str(el.get("data-host")): float(el.get("x1", "0"))
        for el in root.iter(f"{{{NS['svg']}}}line")
        if el.get("data-host")
    }


def test_handshake_labels_read_top_to_bottom() -> None:
    root = ET.fromstring(render_svg(_trace("handshake")))
    texts = _texts(root)
    y = -1.0
    for label in ("SYN seq=0 win=65535 mss=1460", "SYN,ACK seq=0 ack=1", "ACK seq=1 ack=1"):
        y = _y_of(texts, label, after=y)
    hosts = _timeline_x(root)
    assert set(hosts) == {"A", "B"} and hosts["A"] < hosts["B"]
    # The SYN slants down from A's line to B's, where it arrives 10 ms later.
    syn = next(
        line
        for g in root.iter(f"{{{NS['svg']}}}g")
        if "SYN seq=0" in "".join(g.itertext())
        for line in g.iter(f"{{{NS['svg']}}}line")
    )
    assert float(syn.get("x1", "0")) == hosts["A"] and float(syn.get("x2", "0")) == hosts["B"]
    assert float(syn.get("y2", "0")) > float(syn.get("y1", "0"))


def test_life_reads_in_order_with_states_and_the_idle_gap() -> None:
    texts = _texts(ET.fromstring(render_svg(_trace("life"))))
    y = -1.0
    for label in (
        "SYN_SENT",
        "SYN seq=0",
        "SYN_RCVD",
        "SYN,ACK seq=0 ack=1",
        "ESTABLISHED",
        "PSH,ACK seq=1 ack=1 len=18",
        "FIN_WAIT_1",
        "FIN,ACK seq=19 ack=25",
        "CLOSE_WAIT",
        "TIME_WAIT",
        "ACK seq=20 ack=26",
        "⋯ 60 s ⋯",
        "CLOSED",
        "time-wait timer",
    ):
        y = _y_of(texts, label, after=y)
    # The 60 s of TIME_WAIT take a short break, not 60 s worth of page.
    gap = _y_of(texts, "CLOSED", after=_y_of(texts, "⋯ 60 s ⋯")) - _y_of(texts, "TIME_WAIT")
    assert gap < 150


def test_a_lost_segment_stops_half_way_with_a_cross() -> None:
    root = ET.fromstring(render_svg(_trace("lost-last-ack")))
    hosts = _timeline_x(root)
    lost = [g for g in root.iter(f"{{{NS['svg']}}}g") if "lost" in g.get("class", "").split()]
    assert len(lost) == 1
    assert "ACK seq=2 ack=2" in "".join(lost[0].itertext())
    assert [p.get("class") for p in lost[0].iter(f"{{{NS['svg']}}}path")] == ["cross"]
    (line,) = lost[0].iter(f"{{{NS['svg']}}}line")
    assert float(line.get("x1", "0")) == hosts["A"]
    assert hosts["A"] < float(line.get("x2", "0")) < hosts["B"] - 100
    assert line.get("marker-end") is None
    # The retransmitted FIN is drawn in another colour and marked.
    rtx = [g for g in root.iter(f"{{{NS['svg']}}}g") if "rtx" in g.get("class", "").split()]
    assert len(rtx) == 1 and "rtx FIN,ACK" in "".join(rtx[0].itertext())
    normal_stroke = root.find(".//svg:g[@class='segment normal']/svg:line", NS)
    rtx_line = rtx[0].find("svg:line", NS)
    assert normal_stroke is not None and rtx_line is not None
    assert rtx_line.get("stroke") != normal_stroke.get("stroke")


def test_injected_segments_are_marked() -> None:
    root = ET.fromstring(render_svg(_trace("old-duplicate-syn")))
    injected = [g for g in root.iter(f"{{{NS['svg']}}}g") if "injected" in g.get("class", "")]
    assert injected and all("injected SYN" in "".join(g.itertext()) for g in injected)


def test_a_megabyte_folds_into_a_band() -> None:
    trace = _trace("half-close")
    root = ET.fromstring(render_svg(trace))
    texts = _texts(root)
    assert len(trace.segments) > 1000
    assert len(texts) < 60
    band = [t for _, t in texts if "data segments" in t]
    assert len(band) == 1
    assert re.fullmatch(r"\d+ data segments, seq 1\.\.1048577", band[0])
    # The close after the data is still drawn segment by segment, below the band.
    assert _y_of(texts, "FIN,ACK seq=1048577") > _y_of(texts, band[0])


def test_a_syn_flood_folds_but_the_real_handshake_stays() -> None:
    trace = _trace("syn-flood")
    texts = _texts(ET.fromstring(render_svg(trace)))
    assert len(texts) < 60
    assert any(re.fullmatch(r"\d+ injected SYN A → B", t) for _, t in texts)
    assert any(t.startswith("SYN,ACK seq=0 ack=1") for _, t in texts)


@pytest.mark.parametrize("name", ["handshake", "lost-last-ack", "half-close"])
def test_the_html_page_is_self_contained(name: str) -> None:
    page = render_html(_trace(name), title=f"<{name}>")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "</svg>" in page and "<style>" in page
    assert "&lt;" + name + "&gt;" in page  # the title is escaped
    assert "http:" not in page and "https:" not in page
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "<script" not in page and "@import" not in page and "url(http" not in page
    # The embedded drawing is the same as the standalone one, bar the XML namespace.
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    assert svg == render_svg(_trace(name)).replace(' xmlns="http://www.w3.org/2000/svg"', "")
    ET.fromstring(svg)  # and well-formed on its own


def test_an_ack_war_folds_with_its_numbers() -> None:
    texts = _texts(ET.fromstring(render_svg(_trace("urgent"))))
    assert any(re.fullmatch(r"\d+ ACK A → B, all seq=8 ack=1", t) for _, t in texts)
    assert _y_of(texts, "injected PSH,ACK,URG") < _y_of(texts, "25 ACK A → B")
