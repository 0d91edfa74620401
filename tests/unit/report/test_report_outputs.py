"""report.html, report.md and the plot files, from synthetic run directories: they open, they
say what the run was (verdict, warnings, SLOs, every section), and they survive odd runs."""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib.image
import pandas as pd
import pytest

from dumgum_loadtest.analysis.analyse import Analysis, analyse
from dumgum_loadtest.report import rebuild, render_html, render_markdown, write_reports
from dumgum_loadtest.report.html import SECTIONS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}


class PageChecker(HTMLParser):
    """Collects headings, images, text and any tag that opens or closes out of turn."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag in {"link", "script"} or (tag == "a" and (values.get("href") or "#")[0] != "#"):
            self.links.append(tag)
        if tag == "h2":
            self._heading = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)


def check_page(page: str) -> PageChecker:
    checker = PageChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def check_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[0] > 100 and image.shape[1] > 100


def embedded_pngs(checker: PageChecker) -> list[bytes]:
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in checker.images)
    return [base64.b64decode(src[len(prefix) :], validate=True) for src in checker.images]


def test_reports_of_a_finished_run(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(reject_every=30)
    written = write_reports(run_dir, analyse(run_dir))
    assert run_dir / "report.html" in written and run_dir / "report.md" in written
    page = (run_dir / "report.html").read_text()
    checker = check_page(page)
    assert checker.headings == [title for _, title in SECTIONS]
    assert checker.links == []  # self-contained: no stylesheet, script or outside link
    text = " ".join(checker.text)
    assert '<div class="verdict pass"><span class="word">PASS</span>' in page
    assert "first_answer_p99_s" in text and "drop_rate_max" in text
    assert "the harness itself was the bottleneck" not in text.lower()
    assert "cut short" not in text
    pngs = embedded_pngs(checker)
    assert len(pngs) >= 4
    for png in pngs:
        check_png(png)
    for path in written:
        if path.suffix == ".png":
            check_png(path.read_bytes())
    markdown = (run_dir / "report.md").read_text()
    assert "| objective | target | measured | result |" in markdown
    assert "| outcome | requests | share |" in markdown
    assert "**✅ PASS**" in markdown
    assert "](plots/latency-cdf.png)" in markdown


def test_a_failed_slo_fails_the_verdict_and_shows_the_rate_with_its_ci(
    make_run: Callable[..., Path],
) -> None:
    run_dir = make_run(drop_every=4)  # 10 of 40 dropped
    rebuild(run_dir)
    page = (run_dir / "report.html").read_text()
    assert '<div class="verdict fail"><span class="word">FAIL</span>' in page
    assert "25.00 % [14.19 %, 40.19 %] (10 of 40)" in page
    markdown = (run_dir / "report.md").read_text()
    assert "**❌ FAIL**" in markdown
    assert "| drop rate | 25.00 % [14.19 %, 40.19 %] (10 of 40) |" in markdown


def test_outcomes_add_up_and_are_defined(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(drop_every=10, lost_every=7, reject_every=9)
    analysis = analyse(run_dir)
    text = " ".join(check_page(render_html(analysis, run_dir)).text)
    scheduled = analysis.summary["requests"]["scheduled"]
    assert f"The outcomes add up to the {scheduled:,} scheduled requests." in text
    for outcome in ("answered", "merged", "dropped", "rejected", "not_sent", "lost"):
        assert outcome in text


def test_a_run_cut_short_says_so_at_the_top(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(status="running", notes=["stopped by SIGINT"])
    analysis = rebuild(run_dir)  # no Parquet tables: the raw shards alone
    assert analysis.summary["interrupted"] is True
    page = (run_dir / "report.html").read_text()
    first_banner = page.index('class="banner')
    assert "This run was cut short" in page[first_banner : page.index("<h1")]
    assert "stopped by SIGINT" in page
    assert "cut short" in (run_dir / "report.md").read_text().split("## SLOs")[0]
    assert json.loads((run_dir / "summary.json").read_text())["interrupted"] is True


def test_a_harness_bottleneck_is_the_first_thing_said(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(cpu_pct=99.0)
    rebuild(run_dir)
    page = (run_dir / "report.html").read_text()
    body = page[page.index("<body>") :]
    assert body.index("The harness itself was the bottleneck") < body.index("<h1")
    assert "99 % CPU" in body[: body.index("<h1")]
    markdown = (run_dir / "report.md").read_text()
    assert markdown.index("bottleneck") < markdown.index("PASS")


def test_rebuild_after_a_kill_from_raw_shards_only(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(name="killed", status="completed")
    first = rebuild(run_dir)
    for table in run_dir.glob("*.parquet"):
        table.unlink()
    (run_dir / "run-meta.json").write_text(json.dumps({"run_id": "synthetic-run"}))
    with (run_dir / "raw" / "events-1.jsonl").open("a") as shard:
        shard.write('{"recv_ns": 1, "endpoint": "incom')  # the line a kill cut in half
    second = rebuild(run_dir)
    assert second.summary["interrupted"] is True
    assert second.summary["unreadable_lines"] == 1
    assert second.summary["outcomes"] == first.summary["outcomes"]
    check_page((run_dir / "report.html").read_text())


def test_zero_answers(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(answers=False)
    analysis = rebuild(run_dir)
    assert analysis.summary["outcomes"]["answered"] == 0
    checker = check_page((run_dir / "report.html").read_text())
    assert "FAIL" in " ".join(checker.text)
    for png in embedded_pngs(checker):
        check_png(png)
    assert "❌ fail" in (run_dir / "report.md").read_text()


def test_zero_requests(tmp_path: Path, make_run: Callable[..., Path]) -> None:
    run_dir = make_run(stages=())
    analysis = rebuild(run_dir)
    assert analysis.summary["requests"]["scheduled"] == 0
    checker = check_page((run_dir / "report.html").read_text())
    assert checker.headings == [title for _, title in SECTIONS]
    assert "| **scheduled** | **0** |" in (run_dir / "report.md").read_text()


def _poison(value: Any, replacement: Any) -> Any:
    if isinstance(value, dict):
        return {k: _poison(v, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, replacement) for v in value]
    return replacement


@pytest.mark.parametrize("replacement", [None, math.nan, "n/a"])
def test_every_figure_missing_still_renders(
    make_run: Callable[..., Path], replacement: Any
) -> None:
    analysis = analyse(make_run(drop_every=5))
    poisoned = Analysis(
        _poison(analysis.summary, replacement),
        analysis.requests,
        analysis.stamps,
        analysis.outcome,
        analysis.seconds,
    )
    check_page(render_html(poisoned))
    assert "| objective |" in render_markdown(poisoned)


def test_an_empty_analysis_renders() -> None:
    empty = Analysis({}, pd.DataFrame(), pd.DataFrame(), pd.Series(dtype="object"), pd.DataFrame())
    checker = check_page(render_html(empty))
    assert "NO SLOS" in " ".join(checker.text)
    assert render_markdown(empty).startswith("# Load test report")


def test_text_from_data_is_escaped(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(status="killed", notes=["<script>alert(1)</script> | `x`"])
    analysis = analyse(run_dir)
    page = render_html(analysis, run_dir)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    note_line = next(line for line in render_markdown(analysis).splitlines() if "alert" in line)
    assert "<script>" not in note_line and "\\|" in note_line


def test_cost_section_renders_generically_and_flags_placeholders(
    make_run: Callable[..., Path],
) -> None:
    analysis = analyse(make_run())
    analysis.summary["cost"] = {
        "total_eur": "12.3400",
        "per_model": [{"model": "dating-smart-1", "replies": 10, "eur": "0.2500"}],
        "placeholders": ["price_per_reply_eur"],
    }
    page = render_html(analysis)
    cost = page[page.index('id="cost"') : page.index('id="health"')]
    assert "12.3400" in cost and "dating-smart-1" in cost
    assert "Placeholder prices" in cost and "price_per_reply_eur" in cost


def test_nothing_token_like_reaches_the_page(make_run: Callable[..., Path]) -> None:
    run_dir = make_run()
    environment = json.loads((run_dir / "environment.json").read_text())
    environment.update(
        api_token="sk-proj-abcdefghijklmnop", env={"HOME": "/root"}, note="Bearer abc.def"
    )
    (run_dir / "environment.json").write_text(json.dumps(environment))
    with (run_dir / "scenario.yaml").open("a") as scenario:
        scenario.write("# api_key: sk-live-1234567890abcdef\n")
    page = render_html(analyse(run_dir), run_dir)
    assert "sk-proj-abcdefghijklmnop" not in page and "sk-live-1234567890abcdef" not in page
    assert "Bearer abc" not in page and "/root" not in page
    assert "[redacted]" in page


def test_rebuild_rewrites_the_summary_and_drops_stale_plots(
    make_run: Callable[..., Path],
) -> None:
    run_dir = make_run()
    stale = run_dir / "plots" / "capacity.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    (run_dir / "summary.json").write_text("{}")
    analysis = rebuild(run_dir)
    assert json.loads((run_dir / "summary.json").read_text()) == json.loads(
        json.dumps(analysis.summary, default=str)
    )
    assert analysis.summary["capacity"] is None and not stale.exists()
