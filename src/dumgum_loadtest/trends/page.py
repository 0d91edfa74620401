"""``trends.html``: the change points first, then one figure per series with its runs.

Self-contained like ``report.html`` (same stylesheet and HTML helpers; figures are data URIs):
a table of every change point at the top, each linking to its figure; then per scenario one
section, per series a figure and, collapsed under it, the table of its runs (version, commit,
value, valid) with the runs after a change marked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from dumgum_loadtest.report import _format as f
from dumgum_loadtest.report._html import (
    CSS,
    Markup,
    details,
    esc,
    figure,
    join,
    paragraph,
    section,
    table,
    tag,
)
from dumgum_loadtest.report.plots import Plot
from dumgum_loadtest.trends.series import ChangePoint, Series, Trends

EXTRA_CSS = """
td.change, tr.change td { color: var(--fail); font-weight: 600; }
tr.invalid td { color: var(--muted); }
"""


def value_text(metric: str, value: float | None) -> str:
    """A metric's value with the unit its name ends in (``_s``, ``_rate``, ``_eur``, ``_rps``)."""
    if value is None:
        return f.DASH
    head = metric.split(".")[0]
    if head.endswith("_rate"):
        return f.percent(value, 3)
    if head.endswith("_s"):
        return f.seconds(value)
    if head.endswith("_eur"):
        return f"{value:,.6g} EUR"
    if head.endswith("_rps"):
        return f.rate_rps(value)
    return f"{value:,.6g}"


def change_text(cp: ChangePoint) -> str:
    if cp.relative_change is None:
        return "from 0"
    return f"{cp.relative_change:+.1%}".replace("-", f.MINUS)


def anchor(series: Series) -> str:
    return "s-" + _slug(f"{series.scenario}-{series.metric}-{series.scope}-{series.scope_value}")


def _slug(text: str) -> str:
    """``text`` fit for an id attribute and a #fragment."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def code(version: str | None, commit: str | None) -> str:
    parts = [part for part in (version, (commit or "")[:10]) if part]
    return " ".join(parts) or f.DASH


def render_page(trends: Trends, plots: Sequence[Plot], generated_at: datetime | None = None) -> str:
    """The page; ``plots[i]`` is the figure of ``trends.series[i]``."""
    generated_at = generated_at or datetime.now(UTC)
    runs = {p.run_id for one in trends.series for p in one.points}
    settings = trends.settings
    intro = paragraph(
        f"{len(runs)} runs, {len(trends.scenarios)} scenario(s), {len(trends.series)} series;"
        f" generated {generated_at:%Y-%m-%d %H:%M} UTC. A change point is kept when a Welch"
        f" t-test between its neighbouring segments gives p < {settings.max_pvalue:g} and the"
        f" means differ by at least {settings.min_magnitude:.1%}, with at least"
        f" {settings.min_segment_runs} valid runs on each side (candidates by ruptures'"
        " binary segmentation). Invalid or interrupted runs are drawn grey and not judged.",
        "muted",
    )
    notes = join(paragraph(note, "warn") for note in trends.notes)
    body = join(
        [
            tag("h1", "dumgum-loadtest · trends"),
            intro,
            notes,
            _change_table(trends),
            *(_scenario_section(trends, plots, scenario) for scenario in trends.scenarios),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc('dumgum-loadtest · trends')}</title><style>{CSS}{EXTRA_CSS}</style>"
        f"</head><body>{body}</body></html>\n"
    )


def _change_table(trends: Trends) -> Markup:
    by_key = {(s.scenario, s.metric, s.scope, s.scope_value): s for s in trends.series}
    rows = []
    for cp in trends.change_points:
        series = by_key[(cp.scenario, cp.metric, cp.scope, cp.scope_value)]
        scope = "" if cp.scope == "overall" else f" [{cp.scope} = {cp.scope_value}]"
        name = esc(cp.metric + scope).replace(".", ".<wbr>")  # long names break at dots
        link = Markup(f'<a href="#{esc(anchor(series))}">{name}</a>')
        rows.append(
            [
                cp.scenario,
                link,
                cp.run_id,
                f"{code(cp.previous_version, cp.previous_commit)} → {code(cp.version, cp.commit)}",
                value_text(cp.metric, cp.before),
                value_text(cp.metric, cp.after),
                change_text(cp),
                f"{cp.pvalue:.2g}",
                f"{cp.runs_before} / {cp.runs_after}",
                "yes" if cp.scenario_changed else "",
            ]
        )
    headers = [
        "scenario", "metric", "first run after", "code before → after", "mean before",
        "mean after", "change", "p-value", "runs before / after", "scenario changed",
    ]  # fmt: skip
    summary = (
        f"{len(rows)} change point(s) found."
        if rows
        else "No change point: every series is level within its noise (or too short to judge)."
    )
    return section(
        "change-points",
        "Change points",
        paragraph(summary),
        table(headers, rows, numeric_from=4, numeric_to=9, css="change-points"),
    )


def _scenario_section(trends: Trends, plots: Sequence[Plot], scenario: str) -> Markup:
    parts: list[Markup] = []
    members = [(s, p) for s, p in zip(trends.series, plots, strict=True) if s.scenario == scenario]
    nav = join(Markup(f'<a href="#{esc(anchor(s))}">{esc(s.name)}</a>') for s, _ in members)
    parts.append(Markup(f"<nav>{nav}</nav>"))
    for series, plot in members:
        parts.append(_series_block(series, plot))
    return section(f"scenario-{_slug(scenario)}", f"Scenario {scenario}", *parts)


def _series_block(series: Series, plot: Plot) -> Markup:
    note = paragraph(series.note, "muted") if series.note else Markup("")
    counts = f"{len(series.points)} runs, {series.used_count} judged"
    return Markup(
        f'<div id="{esc(anchor(series))}">{tag("h3", series.title)}'
        f"{figure(plot, 'no figure')}{note}"
        f"{details(f'Runs: the version and commit of each ({counts})', _runs_table(series))}"
        "</div>"
    )


def _runs_table(series: Series) -> Markup:
    """Every run of the series; the first run after a change in red, invalid runs grey."""
    starts = {cp.index for cp in series.change_points}
    headers = ["#", "run id", "started (UTC)", "value", "valid", "version", "commit", "target"]
    head = join(tag("th", h, class_="num" if h in ("#", "value") else "") for h in headers)
    body = []
    for i, point in enumerate(series.points):
        cells = [
            tag("td", str(i), class_="num"),
            tag("td", point.run_id),
            tag("td", f"{point.started_at:%Y-%m-%d %H:%M}"),
            tag("td", value_text(series.metric, point.value), class_="num"),
            tag("td", "yes" if point.valid else f"no ({point.status})"),
            tag("td", point.version or f.DASH),
            tag("td", (point.commit or f.DASH)[:12]),
            tag("td", point.target),
        ]
        css = "change" if i in starts else ("invalid" if not point.valid else "")
        attribute = f' class="{css}"' if css else ""
        body.append(f"<tr{attribute}>{join(cells)}</tr>")
    return Markup(
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
