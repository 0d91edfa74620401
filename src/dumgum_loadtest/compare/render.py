"""The comparison as people and CI read it: a table on the terminal, Markdown for a CI comment,
and the JUnit verdicts (one test case per compared figure and per SLO of the current run)."""

from __future__ import annotations

from dumgum_loadtest.compare.gate import REGRESSION, Comparison, Row, Thresholds
from dumgum_loadtest.compare.samples import Slo
from dumgum_loadtest.junit import Verdict

COLUMNS = (
    "metric",
    "baseline",
    "current",
    "change",
    "99 % interval of the change",
    "p-value",
    "Holm p",
    "verdict",
)


def cells(row: Row) -> tuple[str, ...]:
    """The row's table cells, in ``COLUMNS`` order."""
    if row.group == "rank":
        shown = f"P(current > baseline) = {row.current:.3f}" if row.current is not None else "-"
        return (row.metric, "-", shown, "-", "-", _p(row.p_value), "-", row.verdict)
    return (
        row.metric,
        _value(row, row.baseline),
        _value(row, row.current),
        _change(row),
        _interval(row),
        _p(row.p_value),
        _p(row.p_adjusted),
        row.verdict,
    )


def _value(row: Row, value: float | None) -> str:
    if value is None:
        return "-"
    if row.group == "latency":
        return f"{value:.4f} s"
    if row.group == "rate":
        return f"{100 * value:.3f} %"
    return f"{value:.6f} EUR"


def _change(row: Row) -> str:
    change = row.change
    if change is None:
        return "-"
    relative = row.relative
    percent = f" ({100 * relative:+.1f} %)" if relative is not None else ""
    if row.group == "latency":
        return f"{change:+.4f} s{percent}"
    if row.group == "rate":
        return f"{100 * change:+.3f} pp{percent}"
    return f"{change:+.6f} EUR{percent}"


def _interval(row: Row) -> str:
    if row.low is None or row.high is None:
        return "-"
    if row.group == "latency":
        return f"[{row.low:+.4f}, {row.high:+.4f}] s"
    if row.group == "rate":
        return f"[{100 * row.low:+.3f}, {100 * row.high:+.3f}] pp"
    return f"[{row.low:+.6f}, {row.high:+.6f}]"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def headline(comparison: Comparison) -> str:
    if comparison.passed:
        return "PASS: no significant regression and the current run's SLOs hold"
    parts = [f"regression in {row.metric}" for row in comparison.regressions]
    parts += [f"SLO {slo.objective} failed" for slo in comparison.failed_slos]
    return "FAIL: " + ", ".join(parts)


def rules(thresholds: Thresholds) -> str:
    return (
        f"A regression is significant (Holm-adjusted p < {thresholds.alpha:g} across the tested"
        f" metrics) and beyond the threshold ({100 * thresholds.relative:g} % of the baseline, at"
        f" least {1000 * thresholds.latency_floor_s:g} ms for latency and"
        f" {100 * thresholds.rate_floor:g} pp for rates). Latency: censored per-request samples,"
        " bootstrap intervals and p-values of the quantile differences; rates: Fisher's exact"
        " test, Newcombe interval; cost: threshold only (no test). Maxima are never gated."
    )


def text_table(comparison: Comparison) -> str:
    """The terminal view: which runs, the table, the SLOs, the verdict."""
    table = [COLUMNS, *(cells(row) for row in comparison.rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(COLUMNS))]
    lines = [
        f"current:  {comparison.current_run_id} ({comparison.current_dir})",
        f"baseline: {comparison.baseline.how}",
        *(f"note: {note}" for note in comparison.notes),
        "",
    ]
    for index, line in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append("")
    for slo in comparison.slos:
        lines.append(f"SLO {slo.objective}: {slo.measured} vs {slo.target:g} {_pass(slo)}")
    lines.append(rules(comparison.thresholds))
    lines.append(headline(comparison))
    return "\n".join(lines)


def markdown(comparison: Comparison) -> str:
    """A CI comment: the verdict first, then the table, the SLOs and how it was judged."""
    icon = "✅" if comparison.passed else "❌"
    lines = [
        f"### {icon} {headline(comparison)}",
        "",
        f"Current run `{comparison.current_run_id}`; baseline: {comparison.baseline.how}.",
        "",
        *(f"> {note}" for note in comparison.notes),
        *([""] if comparison.notes else []),
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in COLUMNS) + "|",
    ]
    for row in comparison.rows:
        shown = list(cells(row))
        if row.gated and row.verdict == REGRESSION:
            shown[-1] = f"**{shown[-1]}**"
        lines.append("| " + " | ".join(_escape(cell) for cell in shown) + " |")
    if comparison.slos:
        lines += [
            "",
            "| SLO of the current run | target | measured | result |",
            "|---|---|---|---|",
        ]
        for slo in comparison.slos:
            lines.append(f"| {slo.objective} | {slo.target:g} | {slo.measured} | {_pass(slo)} |")
    lines += ["", rules(comparison.thresholds), ""]
    return "\n".join(lines)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def _pass(slo: Slo) -> str:
    return "pass" if slo.passed else "FAIL"


def verdicts(comparison: Comparison) -> list[Verdict]:
    """One JUnit case per compared figure (a regression fails it; an untested one is skipped)
    and one per SLO of the current run."""
    out = []
    for row in comparison.rows:
        shown = dict(zip(COLUMNS, cells(row), strict=True))
        message = (
            f"{row.verdict}: baseline {shown['baseline']}, current {shown['current']}, change"
            f" {shown['change']}, 99 % interval {shown['99 % interval of the change']}, p"
            f" {shown['p-value']} (Holm {shown['Holm p']})"
        )
        if row.group == "rank":
            message = f"{row.verdict}: {row.note}, p {shown['p-value']}"
        passed: bool | None = not (row.gated and row.verdict == REGRESSION)
        if not row.gated and row.group != "rank":
            passed = None
            message = f"not tested: {row.note or 'no figure on a side'}"
        details = f"{message}\nbaseline: {comparison.baseline.how}\n{row.note}".strip()
        out.append(Verdict(row.metric, row.group, passed, message, details))
    for slo in comparison.slos:
        message = f"{slo.objective}: measured {slo.measured} vs target {slo.target:g}"
        out.append(Verdict(slo.objective, "slo", slo.passed, message))
    return out
