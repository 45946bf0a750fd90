"""The HTML ladder page as a reader sees it: rendered by a real headless Chromium.

The SVG tests check the markup; these check what only a browser can tell: that the labels
are laid out with real fonts inside the drawing, visible, state names clear of each other,
and that a long ladder makes a page that scrolls to its end. Chromium and its driver come
from Debian's packages (``make sysdeps`` installs them); without them the tests fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from synack.scenarios.catalog import Options, find
from synack.trace.ladder_svg import render_html

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)

#: Every text of the drawing (without tooltips), where the browser put it, and whether
#: it is shown at all; then the drawing's box, the page's size and the viewport's.
LAYOUT_JS = """
const texts = [];
for (const el of document.querySelectorAll('svg text')) {
  const r = el.getBoundingClientRect();
  const own = Array.from(el.childNodes).filter(n => n.nodeType === Node.TEXT_NODE);
  texts.push({
    text: own.map(n => n.data).join(''), cls: el.getAttribute('class') || '',
    left: r.left + scrollX, top: r.top + scrollY, right: r.right + scrollX,
    bottom: r.bottom + scrollY,
    shown: el.checkVisibility({opacityProperty: true, visibilityProperty: true})
      && getComputedStyle(el).fill !== 'none',
  });
}
const svg = document.querySelector('svg');
const s = svg.getBoundingClientRect();
return {
  texts: texts,
  svg: {left: s.left + scrollX, top: s.top + scrollY, right: s.right + scrollX,
        bottom: s.bottom + scrollY, width: s.width, height: s.height,
        declared: [Number(svg.getAttribute('width')), Number(svg.getAttribute('height'))]},
  page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
  viewport: [innerWidth, innerHeight],
  heading: document.querySelector('h1').textContent,
  legend: document.querySelector('.legend').textContent,
};
"""


@dataclass
class Box:
    text: str
    cls: str
    left: float
    top: float
    right: float
    bottom: float
    shown: bool

    def overlaps(self, other: Box, slack: float = 0.5) -> bool:
        return (
            self.left < other.right - slack
            and other.left < self.right - slack
            and self.top < other.bottom - slack
            and other.top < self.bottom - slack
        )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.fail(
            "Chromium and its driver are needed: apt-get install -y chromium chromium-driver"
            " (make sysdeps does it)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: webdriver.Chrome, tmp_path: Path, name: str, seed: int = 0) -> dict[str, Any]:
    """Render scenario ``name``'s HTML page in the browser; its layout (LAYOUT_JS)."""
    sc = find(name)
    title = f"{sc.ident} {sc.name}: {sc.summary}"
    page = tmp_path / f"{sc.name}.html"
    page.write_text(render_html(sc.run(Options(seed=seed)).trace, title=title), "utf-8")
    browser.get(page.as_uri())
    layout: dict[str, Any] = browser.execute_script(LAYOUT_JS)
    layout["boxes"] = [Box(**t) for t in layout.pop("texts")]
    assert layout["heading"] == title
    return layout


def _check_drawn(layout: dict[str, Any]) -> None:
    """The drawing has its declared size, and every text is shown inside it."""
    svg = layout["svg"]
    assert [svg["width"], svg["height"]] == svg["declared"]
    for box in layout["boxes"]:
        assert box.shown, box
        assert box.right > box.left and box.bottom > box.top, box
        assert svg["left"] <= box.left and box.right <= svg["right"], box
        assert svg["top"] <= box.top and box.bottom <= svg["bottom"], box


def _check_states_apart(boxes: list[Box]) -> None:
    """No state name is drawn over another state name, nor over a timer's."""
    beside = [b for b in boxes if b.cls in ("state", "timer")]
    for i, one in enumerate(beside):
        for other in beside[i + 1 :]:
            assert not one.overlaps(other), (one, other)


def test_life_page_shows_the_handshake_and_the_close(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    layout = _open(browser, tmp_path, "life")
    _check_drawn(layout)
    boxes: list[Box] = layout["boxes"]
    texts = [b.text for b in boxes]
    assert [b.text for b in boxes if b.cls == "host"] == ["A", "B"]
    hosts = {b.text: b for b in boxes if b.cls == "host"}
    assert hosts["A"].right < hosts["B"].left
    segments = [b for b in boxes if b.cls == "label"]
    expected = ["SYN seq=0 win=65535 mss=1460", "SYN,ACK seq=0 ack=1 win=65535 mss=1460"]
    expected += ["ACK seq=1 ack=1 win=32768"]
    assert [b.text for b in segments[:3]] == expected
    assert [b.text.split()[0] for b in segments[-3:]] == ["ACK", "FIN,ACK", "ACK"]
    # Labels read top to bottom in the order the segments were sent.
    assert [b.top for b in segments] == sorted(b.top for b in segments)
    # Each segment's label sits between the two timelines.
    for box in segments:
        assert hosts["A"].right < box.left and box.right < hosts["B"].left + 40, box
    for state in ("SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"):
        left_of_a = [b for b in boxes if b.cls == "state" and b.text == state]
        assert left_of_a and left_of_a[0].right <= hosts["A"].right + 40, state
    for state in ("LISTEN", "SYN_RCVD", "CLOSE_WAIT", "LAST_ACK"):
        assert any(b.cls == "state" and b.left >= hosts["B"].left - 40 for b in boxes
                   if b.text == state), state  # fmt: skip
    assert texts.count("CLOSED") == 2  # B after LAST_ACK, A when TIME_WAIT ends
    _check_states_apart(boxes)


def test_long_page_keeps_its_labels_apart_and_scrolls_to_the_end(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    layout = _open(browser, tmp_path, "integrity", seed=20)
    segments = int(layout["legend"].split()[0])
    assert segments >= 200, f"the integrity run for seed 20 has {segments} segments"
    _check_drawn(layout)
    boxes: list[Box] = layout["boxes"]
    assert sum(b.cls == "label" for b in boxes) >= 100
    _check_states_apart(boxes)
    width, height = layout["page"]
    viewport_w, viewport_h = layout["viewport"]
    assert height > 3 * viewport_h and width <= viewport_w
    # Scrolled to the bottom, the last state change is on screen.
    browser.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    last = max((b for b in boxes if b.cls == "state"), key=lambda b: b.bottom)
    assert last.text == "CLOSED"
    scrolled, inner = browser.execute_script("return [scrollY, innerHeight]")
    assert scrolled > 0
    assert scrolled <= last.top and last.bottom <= scrolled + inner
