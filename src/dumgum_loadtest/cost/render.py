"""Views of a projection: a plain-text table by feature and a PNG bar chart.

Money stays Decimal until here; the chart converts to float. The chart draws on a bare
``Figure`` with the Agg canvas (no pyplot state, nothing to close in a global registry).
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dumgum_loadtest.cost.lines import CostLine
from dumgum_loadtest.cost.projection import Z95, Projection
from dumgum_loadtest.cost.rules import PROJECTION_UNCERTAINTY, REPLIES, RULES, SOULENGINE, VISION
from dumgum_loadtest.cost.whatif import CostStudy, compare
from dumgum_loadtest.errors import ConfigError

GROUPS = (REPLIES, VISION, SOULENGINE)
_LABELS = {REPLIES: "replies", VISION: "vision", SOULENGINE: "SoulEngine"}


def _money(value: Decimal, places: int = 2) -> str:
    return f"{value:,.{places}f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _group_sd(projection: Projection, group: str) -> Decimal:
    variance = sum(line.variance_eur2 for line in projection.lines if line.group == group)
    return Decimal(repr(math.sqrt(variance)))


def _row(label: str, count: str, monthly: str, band: str, one_off: str) -> str:
    return f"{label:<30}{count:>14}{monthly:>14}{band:>26}{one_off:>14}"


def _band(mean: Decimal, sd: Decimal) -> str:
    half = sd * Decimal(repr(Z95))
    return f"{_money(max(Decimal(0), mean - half))}-{_money(mean + half)}"


def _line_label(line: CostLine, projection: Projection) -> str:
    mark = " *" if projection.sheet.is_placeholder(line.price_key) else ""
    return f"  {line.detail}{mark}"


def projection_table(projection: Projection) -> str:
    """The projection by feature: count and EUR per month, its 95 % range, the one-off part."""
    sheet = projection.sheet
    per_day = projection.requests_per_month / projection.days
    out = [
        f"{projection.scenario}: {_count(projection.requests_per_month)} requests/month"
        f" ({_count(per_day)}/day), {_count(projection.billed_replies_per_month)} billed replies,"
        f" {_count(projection.conversations_per_month)} conversations",
        f"price sheet {sheet.source} ({sheet.currency}, valid from {sheet.valid_from})",
        "",
        _row("feature", "count/month", "EUR/month", "95% range EUR/month", "one-off EUR"),
    ]
    for group in GROUPS:
        lines = [line for line in projection.lines if line.group == group]
        mean = projection.group_eur(group)
        count = sum(line.monthly_count for line in lines)
        one_off = sum((line.one_off_eur for line in lines), Decimal(0))
        band = _band(mean, _group_sd(projection, group))
        out.append(_row(_LABELS[group], _count(count), _money(mean), band, _money(one_off)))
        for line in lines:
            if line.monthly_count or line.one_off_count:
                out.append(
                    _row(
                        _line_label(line, projection),
                        _count(line.monthly_count),
                        _money(line.monthly_eur),
                        "",
                        _money(line.one_off_eur) if line.one_off_count else "",
                    )
                )
    low, high = projection.range_eur()
    out += [
        _row(
            "total",
            "",
            _money(projection.monthly_eur),
            f"{_money(low)}-{_money(high)}",
            _money(projection.one_off_eur),
        ),
        "",
        f"first month from a cold start: {_money(projection.monthly_eur + projection.one_off_eur)}"
        f" EUR; billable with testMode free: {_money(projection.billable_monthly_eur)} EUR/month"
        f" (testMode share of replies {projection.test_mode_share:.1%})",
        f"per answered request: {_money(projection.per_answer_eur, 6)} EUR;"
        f" per 1,000 conversations: {_money(projection.per_1000_conversations_eur)} EUR",
    ]
    note = _placeholder_note([projection])
    if note:
        out.append(note)
    return "\n".join(out)


def comparison_table(study: CostStudy) -> str:
    """Base and what-if side by side, EUR per month by feature, and their difference."""
    base, other = study.base, study.other
    assert other is not None
    difference = compare(base, other)

    def row(label: str, left: str, right: str, delta: str) -> str:
        return f"{label:<30}{left:>16}{right:>16}{delta:>16}"

    def first(p: Projection) -> Decimal:
        return p.monthly_eur + p.one_off_eur

    out = [
        f"base: {base.scenario} (price sheet {base.sheet.source})",
        f"what-if: {study.other_label} (price sheet {other.sheet.source})",
        f"{_count(base.requests_per_month)} requests/month",
        "",
        row("EUR per month", "base", "what-if", "difference"),
    ]
    for group in GROUPS:
        left, right = base.group_eur(group), other.group_eur(group)
        out.append(row(_LABELS[group], _money(left), _money(right), _money(right - left)))
    pairs = [
        ("total", base.monthly_eur, other.monthly_eur, 2),
        ("first month (cold start)", first(base), first(other), 2),
        ("billable (testMode free)", base.billable_monthly_eur, other.billable_monthly_eur, 2),
        ("per answered request", base.per_answer_eur, other.per_answer_eur, 6),
    ]
    for label, left, right, places in pairs:
        out.append(
            row(label, _money(left, places), _money(right, places), _money(right - left, places))
        )
    low, high = base.range_eur()
    other_low, other_high = other.range_eur()
    out.append(
        row(
            "95% range of the total",
            f"{_money(low, 0)}-{_money(high, 0)}",
            f"{_money(other_low, 0)}-{_money(other_high, 0)}",
            "",
        )
    )
    relative = difference["relative_monthly"]
    if relative is not None:
        out.append(f"the what-if changes the monthly cost by {relative:+.2%}")
    return "\n".join(out)


def _placeholder_note(projections: list[Projection]) -> str | None:
    used: dict[str, Decimal] = {}
    for projection in projections:
        for key in projection.placeholders_used():
            used[key] = projection.sheet.price(key)
    if not used:
        return None
    prices = ", ".join(f"{key} = {price}" for key, price in used.items())
    return f"* placeholder prices (the docs give none): {prices}"


def study_text(study: CostStudy, *, rules: bool = True) -> str:
    """What ``dumgum-loadtest cost`` prints: the table (or the comparison), then the rules."""
    if study.other is None:
        parts = [projection_table(study.base)]
    else:
        parts = [comparison_table(study)]
        note = _placeholder_note([study.base, study.other])
        parts += [note] if note else []
    if rules:
        parts += ["", "How each feature is billed:"]
        parts += [f"- {_LABELS[g]}: {RULES[g]}" for g in GROUPS]
        parts += ["", f"Range: {PROJECTION_UNCERTAINTY}", "Assumptions:"]
        parts += [f"- {text}" for text in study.base.assumptions]
    return "\n".join(parts)


def write_chart(study: CostStudy, path: Path) -> Path:
    """Monthly cost by feature (bars, 95 % range as error bars), base and what-if side by side."""
    projections = [study.base] + ([study.other] if study.other is not None else [])
    labels = [study.base.scenario] + ([study.other_label] if study.other is not None else [])
    figure = Figure(figsize=(8.0, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(projections)
    for index, (projection, label) in enumerate(zip(projections, labels, strict=True)):
        means = [float(projection.group_eur(g)) for g in GROUPS]
        errors = [float(_group_sd(projection, g)) * Z95 for g in GROUPS]
        positions = [g + (index - (len(projections) - 1) / 2) * width for g in range(len(GROUPS))]
        name = ("base: " if index == 0 else "what-if: ") + label if len(projections) > 1 else label
        axes.bar(positions, means, width, yerr=errors, capsize=4, label=name[:80])
    axes.set_xticks(range(len(GROUPS)), [_LABELS[g] for g in GROUPS])
    axes.set_ylabel(f"{study.base.sheet.currency} per month")
    axes.set_title(f"Projected monthly cost, {_count(study.base.requests_per_month)} requests")
    axes.legend(fontsize="small")
    figure.tight_layout()
    from dumgum_loadtest.outputs import check_output_file

    check_output_file(path, "--chart")  # never creates directories (at the root, say)
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise ConfigError(f"--chart {path}: cannot write: {exc.strerror or exc}") from exc
    figure.clear()
    return path
