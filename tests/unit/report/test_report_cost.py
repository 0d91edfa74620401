"""The cost section of report.html reads as a designed section: projected vs measured first,
the difference by its named reasons, a per-feature chart per 1,000 conversations, feature and
model tables, and the attribution rules as short numbered footnotes (not the raw JSON)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from tests.unit.report.test_report_outputs import check_page, check_png

from dumgum_loadtest.analysis.analyse import analyse
from dumgum_loadtest.cost.rules import RULES, SHORT_RULES
from dumgum_loadtest.report import rebuild, render_html
from dumgum_loadtest.report._charts import cost_bars, cost_features
from dumgum_loadtest.report._format import DASH


def _live_run(make_run: Callable[..., Path], **plan: Any) -> Path:
    """Live replies charged 0.0250 each (the sheet's price), SoulEngine on, three personas."""
    return make_run(
        test_mode=False, answer_cost="0.0250", generate_personality=True, personas=3, **plan
    )


def _cost_text(page: str) -> str:
    """The cost section's visible text, whitespace collapsed."""
    block = page[page.index('<section id="cost">') : page.index('<section id="health">')]
    text = html.unescape(re.sub(r"<[^>]+>", " ", block))
    return re.sub(r"\s+", " ", text)


def test_projected_and_measured_lead_with_the_difference_and_its_reasons(
    make_run: Callable[..., Path],
) -> None:
    analysis = analyse(_live_run(make_run, drop_every=9))
    cost = analysis.summary["cost"]
    page = render_html(analysis)
    check_page(page)
    text = _cost_text(page)
    projected = Decimal(cost["projected"]["total_eur"])
    measured = Decimal(cost["measured"]["total_eur"])
    assert measured > 0 and projected > measured
    figures = text[: text.index("Why projected and measured differ")]
    assert f"{projected:,.4f} EUR" in figures and f"{measured:,.4f} EUR" in figures
    assert f"+{projected - measured:,.4f} EUR projected minus measured" in figures
    per_1000 = Decimal(cost["per_1000_conversations_eur"])
    assert f"{per_1000:,.2f} EUR per 1,000 conversations" in figures
    # Live replies are charged what the sheet says: the difference is vision and SoulEngine.
    soulengine = Decimal(cost["projected"]["soulengine_eur"])
    vision = Decimal(cost["projected"]["vision_eur"])
    assert soulengine > 0 and vision > 0
    assert f"SoulEngine fees +{soulengine:,.4f} EUR" in text
    assert f"vision analyses +{vision:,.4f} EUR" in text
    assert "No part in the difference: testMode priced as if live" in text
    # The raw JSON is gone: no key/value dump of the section.
    for raw_key in ("schema_version", "projected_billable", "per_answered_request_eur", "basis"):
        assert raw_key not in text


def test_the_rules_are_short_footnotes_the_feature_rows_point_to(
    make_run: Callable[..., Path],
) -> None:
    analysis = analyse(_live_run(make_run))
    page = render_html(analysis)
    text = _cost_text(page)
    for name, rule in SHORT_RULES.items():
        assert f'<li id="cost-rule-{name}">' in page
        assert html.unescape(rule) in text
        assert f'href="#cost-rule-{name}"' in page
    # The long texts stay available, folded away below the footnotes.
    folded = page[page.index("The attribution rules in full") :]
    assert html.escape(RULES["vision"], quote=True) in folded
    notes = text.index("How each euro is attributed")
    assert text.index("Per feature") < notes and text.index("Per chat model") < notes


def test_the_feature_chart_is_per_1000_conversations_in_exact_decimals(
    make_run: Callable[..., Path],
) -> None:
    run_dir = _live_run(make_run)
    analysis = rebuild(run_dir)
    cost = analysis.summary["cost"]
    conversations = cost["counts"]["conversations"]
    features = {row["feature"]: row for row in cost["features"]}
    bars = {name: per_1000 for name, _, per_1000 in cost_bars(analysis.summary)}
    assert list(bars) == ["replies", "vision", "soulengine", "merged"]
    for name, per_1000 in bars.items():
        assert isinstance(per_1000, Decimal)
        assert per_1000 == Decimal(features[name]["projected_eur"]) * 1000 / conversations
    assert bars["soulengine"] == Decimal("0.10") * 3 * 1000 / conversations
    # Written with the other plots, embedded in the cost section, and closed once drawn.
    check_png((run_dir / "plots" / "cost.png").read_bytes())
    page = (run_dir / "report.html").read_text()
    cost_block = page[page.index('<section id="cost">') : page.index('<section id="health">')]
    assert 'alt="Cost per feature, per 1,000 conversations"' in cost_block
    markdown = (run_dir / "report.md").read_text()
    assert "![Cost per feature, per 1,000 conversations](plots/cost.png)" in markdown
    per_1000 = Decimal(cost["per_1000_conversations_eur"])
    assert f"| per 1,000 conversations (projected) | {per_1000:,.2f} EUR |" in markdown
    open_before = plt.get_fignums()
    assert cost_features(analysis.summary) is not None
    assert plt.get_fignums() == open_before


def test_no_conversation_means_no_chart_and_no_per_1000_figure(
    make_run: Callable[..., Path],
) -> None:
    analysis = analyse(make_run(reject_every=1))  # every enqueue refused: nothing accepted
    assert analysis.summary["cost"]["counts"]["conversations"] == 0
    assert cost_bars(analysis.summary) == [] and cost_features(analysis.summary) is None
    page = render_html(analysis)
    check_page(page)
    text = _cost_text(page)
    assert "No conversation was accepted" in text
    assert f"{DASH} per 1,000 conversations" in text


def test_every_table_scrolls_in_its_own_box(make_run: Callable[..., Path]) -> None:
    """A table wider than the page scrolls inside its box (the browser test checks the
    layout); a table nested in a cell lives in its parent's box."""
    run_dir = _live_run(make_run)
    page = render_html(analyse(run_dir), run_dir)
    before = re.findall(r"(<[^<]*>)<table", page)
    assert len(before) > 10
    assert set(before) <= {'<div class="scroll">', "<td>"}
