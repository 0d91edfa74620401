"""report.html in a real browser (headless Chromium) at 1400 px: every section shows, nothing
runs past the right edge (a wide table scrolls in its own box), no console error, and every
plot image loads.

Chromium is Debian's package, installed by ``make browser`` (which ``make test`` runs); when it
is missing these tests fail and say so, they never skip.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.chromium import INSTALL_HINT, Chromium, chromium, find_chromium

from dumgum_loadtest.report import rebuild
from dumgum_loadtest.report.html import SECTIONS

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[3]
WIDTH_PX = 1400
CAPACITY_STAGES = (("40 rps", 6.0, 4.0), ("80 rps", 6.0, 8.0), ("160 rps", 6.0, 16.0))

# Opens every folded block, waits for every image, then reports what a reader would notice.
LAYOUT = """
(async () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  await Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(done => { img.onload = img.onerror = done; })));
  const width = document.documentElement.clientWidth;
  const inScrollBox = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className ? '.' + String(el.className).split(' ').join('.') : '');
  const cut = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if ((box.width === 0 && box.height === 0) || inScrollBox(el)) continue;
    if (box.right > width + 0.5 || box.left < -0.5) {
      const section = el.closest('section');
      cut.push(`${section ? section.id : 'top'}: ${name(el)} spans ${box.left}..${box.right}`);
    }
  }
  const scrolling = [...document.querySelectorAll('.scroll')]
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => (box.closest('section') || {}).id);
  return {
    width,
    pageWidth: document.documentElement.scrollWidth,
    cut,
    scrolling,
    images: [...document.images].map(img => ({
      alt: img.alt, natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
      section: (img.closest('section') || {}).id })),
    sections: [...document.querySelectorAll('section')].map(s => ({
      id: s.id, title: s.querySelector('h2').textContent,
      height: s.getBoundingClientRect().height })),
  };
})()
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Chromium]:
    """The browser, installed first by ``make browser`` when it is missing (pytest run
    directly rather than through ``make test``); a failure, never a skip, when it cannot be."""
    binary = find_chromium()
    if binary is None:
        installed = subprocess.run(
            ["make", "-C", str(REPO), "browser"], capture_output=True, text=True, check=False
        )
        binary = find_chromium()
        if binary is None:
            pytest.fail(f"{INSTALL_HINT}\n{installed.stdout}{installed.stderr}")
    with chromium(binary) as running:
        yield running


def render(browser: Chromium, report: Path) -> tuple[dict[str, Any], list[str]]:
    page = browser.new_page()
    try:
        page.open(report.as_uri(), WIDTH_PX)
        layout = page.evaluate(LAYOUT)
        return layout, page.collect_errors()
    finally:
        browser.send("Target.closeTarget", {"targetId": page.target_id})


def check_report(browser: Chromium, run_dir: Path) -> dict[str, Any]:
    layout, errors = render(browser, run_dir / "report.html")
    assert errors == []
    assert layout["width"] == WIDTH_PX
    assert layout["cut"] == []
    assert layout["pageWidth"] <= layout["width"]  # no sideways scrolling of the page itself
    assert [s["title"] for s in layout["sections"]] == [title for _, title in SECTIONS]
    assert all(s["height"] > 0 for s in layout["sections"])
    assert layout["images"], "the report shows no plot"
    for image in layout["images"]:
        assert image["natural"] > 0, f"plot {image['alt']!r} did not load"
        assert 0 < image["shown"] <= layout["width"]
    return layout


def test_a_smoke_report_reads_in_a_browser(
    browser: Chromium, make_run: Callable[..., Path]
) -> None:
    run_dir = make_run(
        "smoke", drop_every=9, lost_every=13, reject_every=11, test_mode=False,
        answer_cost="0.0250", generate_personality=True, personas=3,
    )  # fmt: skip
    rebuild(run_dir)
    layout = check_report(browser, run_dir)
    cost_plots = [image for image in layout["images"] if image["section"] == "cost"]
    assert len(cost_plots) == 1
    assert "cost" not in layout["scrolling"]  # the cost section reads without scrolling sideways


def test_a_capacity_report_reads_in_a_browser(
    browser: Chromium, make_run: Callable[..., Path]
) -> None:
    run_dir = make_run("capacity", stages=CAPACITY_STAGES, capacity_rps=8.5, drop_every=17)
    analysis = rebuild(run_dir)
    assert analysis.summary["capacity"]
    layout = check_report(browser, run_dir)
    assert any(image["section"] == "capacity" for image in layout["images"])


def test_text_too_wide_for_the_page_stays_inside_it(
    browser: Chromium, make_run: Callable[..., Path]
) -> None:
    """Long unbroken words (a path, an id) wrap in text and scroll in tables; none widens
    the page."""
    long_word = "x" * 400
    run_dir = make_run("wide", notes=[f"note {long_word}"], status="killed")
    scenario = run_dir / "scenario.yaml"
    scenario.write_text(scenario.read_text().replace("name: synthetic", f"name: {long_word}"))
    environment = json.loads((run_dir / "environment.json").read_text())
    (run_dir / "environment.json").write_text(json.dumps({**environment, "host": long_word}))
    rebuild(run_dir)
    layout = check_report(browser, run_dir)
    assert "setup" in layout["scrolling"]  # the environment table scrolls in its own box
