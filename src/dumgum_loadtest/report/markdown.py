"""``render_markdown(analysis)``: the report's essentials for a pull request or a chat message.

Warnings, verdict, SLOs, capacity, outcomes, key latencies and the drop and loss rates with
their confidence intervals, as GitHub-flavoured Markdown tables; figures only by reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dumgum_loadtest.analysis.analyse import Analysis
from dumgum_loadtest.report import _format as f
from dumgum_loadtest.report._capacity import (
    PLATEAU_HEADERS,
    is_sustainable,
    plateau_cells,
    plateaus,
)

_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]<>|#"})


def md(value: Any) -> str:
    """Text from data, safe inside a table cell: no markup, no line breaks, pipes escaped."""
    text = value if isinstance(value, str) else f.plain(value)
    return " ".join(text.split()).translate(_MD_SPECIAL)


def code(value: Any) -> str:
    """Text from data as a code span: no backticks or line breaks inside, pipes escaped."""
    text = " ".join(f.plain(value).replace("`", "'").split())
    return f"`{text}`".replace("|", "\\|")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """A GitHub table; cells are already formatted (and escaped with ``md`` where from data)."""
    align = ["---:" if i >= numeric_from else ":---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if not rows:
        lines.append("| " + " | ".join(["no data", *[""] * (len(headers) - 1)]) + " |")
    return "\n".join(lines)


def _slo_table(summary: Mapping[str, Any]) -> str:
    rows = []
    for row in summary.get("slo") or []:
        if isinstance(row, Mapping):
            name = str(row.get("objective"))
            rows.append(
                [
                    code(name),
                    f.slo_value(name, row.get("target")),
                    f.slo_value(name, row.get("measured")),
                    "✅ pass" if row.get("pass") else "❌ fail",
                    md(row.get("view") or f.DASH),
                ]
            )
    if not rows:
        return "The scenario sets no service-level objectives: nothing is judged."
    return md_table(["objective", "target", "measured", "result", "counts"], rows)


def _outcome_table(summary: Mapping[str, Any]) -> str:
    rows, scheduled = f.outcome_rows(summary)
    body = [[md(name), f.count(n), f.percent(share, 1)] for name, n, share in rows]
    body.append(["**scheduled**", f"**{f.count(scheduled)}**", ""])
    return md_table(["outcome", "requests", "share"], body)


def _latency_table(summary: Mapping[str, Any]) -> str:
    latency = summary.get("latency_s")
    rows = []
    for stage, label in f.STAGE_LABELS.items():
        views = f.dig(latency, stage, "from_intended")
        if not isinstance(views, Mapping):
            continue
        second = "censored" if "censored" in views else "all_sent"
        per_message = views.get("per_message") if isinstance(views, Mapping) else None
        rows.append(
            [
                label,
                f.seconds(f.dig(views, "answered", "p50")),
                f.seconds(f.dig(views, "answered", "p99")),
                f.seconds(f.dig(views, second, "p50")),
                f.seconds(f.dig(views, second, "p99")),
                f.count(f.dig(views, second, "count")),
                f.seconds(f.dig(per_message, "p50")),
                f.seconds(f.dig(per_message, "p99")),
            ]
        )
    headers = ["stage (from intended send)", "answered p50", "answered p99", "censored p50",
               "censored p99", "n", "per message p50", "per message p99"]  # fmt: skip
    return md_table(headers, rows)


def _capacity_table(capacity: Mapping[str, Any]) -> str:
    rows = [
        [
            *(md(text) for text in plateau_cells(p)),
            "✅" if is_sustainable(p) else "❌",
            md("; ".join(p.get("reasons") or []) or f.DASH),
        ]
        for p in plateaus(capacity)
    ]
    return md_table(list(PLATEAU_HEADERS), rows)


def _cost_lines(summary: Mapping[str, Any], figures: Mapping[str, str]) -> list[str]:
    """Projected vs measured, the difference and the unit cost; the rest is in report.html."""
    cost = summary.get("cost")
    if not isinstance(cost, Mapping) or "projected" not in cost:
        return []
    found = cost.get("currency")
    currency = found if isinstance(found, str) and found else "EUR"
    rows = [
        ["projected (every reply as if live)", f.dig(cost, "projected", "total_eur"), 4],
        ["measured (sum of answer.cost)", f.dig(cost, "measured", "total_eur"), 4],
        ["projected minus measured", f.dig(cost, "difference", "projected_minus_measured_eur"), 4],
        ["per 1,000 conversations (projected)", cost.get("per_1000_conversations_eur"), 2],
    ]
    rows = [
        [name, f.eur(amount, places, currency, sign=name.startswith("projected minus"))]
        for name, amount, places in rows
    ]
    out = ["## Cost", "", md_table(["figure", "amount"], [[md(a), md(b)] for a, b in rows]), ""]
    if "cost" in figures:
        out += [f"![Cost per feature, per 1,000 conversations]({figures['cost']})", ""]
    return out


def render_markdown(analysis: Analysis, figures: Mapping[str, str] | None = None) -> str:
    """The Markdown report; ``figures`` maps plot names to relative PNG paths to link."""
    summary = analysis.summary
    figures = figures or {}
    word, reason = f.verdict(summary)
    icon = {"PASS": "✅", "FAIL": "❌"}.get(word, "\u2796")
    out = [f"# Load test report: {md(summary.get('scenario') or 'unnamed scenario')}", ""]
    for message, reasons in f.warnings(summary):
        out.append(f"> **⚠️ {md(message)}**")
        out += [f"> - {md(r)}" for r in reasons]
        out.append("")
    out += [
        f"**{icon} {word}**: {md(reason)}",
        "",
        f"Run {code(summary.get('run_id'))} · target {md(summary.get('target'))} · "
        f"{md(f.load_span(summary))} · status {md(summary.get('status'))}",
        "",
    ]
    capacity = summary.get("capacity")
    if isinstance(capacity, Mapping):
        out += ["## Capacity", "", f"**{md(capacity.get('sentence') or f.DASH)}**", ""]
        if "capacity" in figures:
            out += [f"![Capacity curve]({figures['capacity']})", ""]
        out += [_capacity_table(capacity), ""]
    out += ["## SLOs", "", _slo_table(summary), ""]
    out += ["## Outcomes", "", _outcome_table(summary), ""]
    out += [
        "## Rates (95 % CI)",
        "",
        md_table(
            ["rate", "value [95 % CI] (count of trials)"],
            [
                ["drop rate", f.interval(summary.get("drop_rate"))],
                ["loss rate", f.interval(summary.get("loss_rate"))],
                ["rejected rate", f.interval(summary.get("rejected_rate"))],
                ["goodput", f.rate_rps(summary.get("goodput_rps"))],
            ],
        ),
        "",
        "## Latency",
        "",
        md(f.time_scale_note(summary)),
        "",
        _latency_table(summary),
        "",
    ]
    for name, title in (("latency-cdf", "Latency CDF"), ("over-time", "Over time")):
        if name in figures:
            out += [f"![{title}]({figures[name]})", ""]
    out += _cost_lines(summary, figures)
    out.append("_Full report with every table and plot: `report.html` in the run directory._")
    return "\n".join(out) + "\n"
