"""``render_html(analysis)``: the run as one self-contained page that reads like a capacity report.

Top down: warnings (harness bottleneck, cut short), the verdict, SLOs, capacity, outcomes,
latency, the run over time, rates, breakdowns, the customer's endpoints, hygiene, cost, run
health, scenario and environment. Figures are embedded as data URIs; the page loads nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dumgum_loadtest.analysis.analyse import Analysis
from dumgum_loadtest.report import _format as f
from dumgum_loadtest.report._capacity import capacity_html
from dumgum_loadtest.report._html import (
    CSS,
    Markup,
    badge,
    details,
    esc,
    figure,
    join,
    nested,
    paragraph,
    section,
    table,
    tag,
)
from dumgum_loadtest.report._sections import (
    breakdown_section,
    cost_section,
    endpoints_section,
    health_section,
    hygiene_section,
    setup_section,
)
from dumgum_loadtest.report.plots import Plot, render_plots

SECTIONS = (
    ("slo", "Service-level objectives"),
    ("capacity", "Capacity"),
    ("outcomes", "Outcomes"),
    ("latency", "Latency"),
    ("over-time", "Over time"),
    ("rates", "Drops, losses, goodput"),
    ("stages", "Load stages"),
    ("breakdowns", "Breakdowns by model and feature"),
    ("endpoints", "Customer-endpoint load"),
    ("hygiene", "Event hygiene"),
    ("cost", "Cost"),
    ("health", "Run health"),
    ("setup", "Scenario and environment"),
)
TITLES = dict(SECTIONS)


def _banners(summary: Mapping[str, Any]) -> Markup:
    parts = []
    for message, reasons in f.warnings(summary):
        css = "alarm" if "bottleneck" in message else "cut"
        items = join(tag("li", reason) for reason in reasons)
        listing = f"<ul>{items}</ul>" if reasons else ""
        parts.append(f'<div class="banner {css}" role="alert">{esc(message)}{listing}</div>')
    return Markup("".join(parts))


def _key_figures(summary: Mapping[str, Any]) -> Markup:
    figures = [
        ("scheduled requests", f.count(f.dig(summary, "requests", "scheduled"))),
        ("answered", f.count(f.dig(summary, "outcomes", "answered"))),
        ("drop rate", f.percent(f.dig(summary, "drop_rate", "rate"))),
        ("loss rate", f.percent(f.dig(summary, "loss_rate", "rate"))),
        (
            "first answer p99 (censored)",
            f.seconds(
                f.dig(summary, "latency_s", "first_answer", "from_intended", "censored", "p99")
            ),
        ),
        ("goodput", f.rate_rps(summary.get("goodput_rps"))),
    ]
    best = f.dig(summary, "capacity", "max_sustainable_rps")
    if summary.get("capacity"):
        figures.append(("max sustainable rate", f.rate_rps(best)))
    cells = "".join(f"<div><b>{esc(v)}</b><span>{esc(k)}</span></div>" for k, v in figures)
    return Markup(f'<div class="keyfigs">{cells}</div>')


def _header(summary: Mapping[str, Any]) -> Markup:
    word, reason = f.verdict(summary)
    css = {"PASS": "pass", "FAIL": "fail"}.get(word, "none")
    title = f"Load test report: {summary.get('scenario') or 'unnamed scenario'}"
    meta = (
        f"run {f.plain(summary.get('run_id'))} · target {f.plain(summary.get('target'))} · "
        f"{f.load_span(summary)} · {f.plain(summary.get('workers'))} worker(s) · status "
        f"{f.plain(summary.get('status'))}"
    )
    nav = join(tag("a", title_, href=f"#{anchor}") for anchor, title_ in SECTIONS)
    return Markup(
        f"<header>{tag('h1', title)}{paragraph(meta, 'muted')}"
        f'<div class="verdict {css}"><span class="word">{esc(word)}</span>'
        f"<span>{esc(reason)}</span></div>{_key_figures(summary)}<nav>{nav}</nav></header>"
    )


def _slo_section(summary: Mapping[str, Any]) -> Markup:
    rows = []
    for row in summary.get("slo") or []:
        if not isinstance(row, Mapping):
            continue
        name = str(row.get("objective"))
        rows.append(
            [
                name,
                f.slo_value(name, row.get("target")),
                f.slo_value(name, row.get("measured")),
                badge(bool(row.get("pass"))),
                row.get("view") or f.DASH,
                tag("code", row.get("source") or f.DASH),
            ]
        )
    if not rows:
        return section(
            "slo",
            TITLES["slo"],
            paragraph("The scenario sets no service-level objectives: nothing is judged."),
        )
    note = paragraph(
        "A missing measurement fails: no data, no pass. Latency objectives are judged on the "
        "censored view from the intended send time, so losses never make latency look better. "
        + f.time_scale_note(summary),
        "muted",
    )
    return section(
        "slo",
        TITLES["slo"],
        table(
            ["objective", "target", "measured", "result", "counts", "summary.json field"],
            rows,
            numeric_to=3,
        ),
        note,
    )


def _outcomes_section(summary: Mapping[str, Any], plots: Mapping[str, Plot]) -> Markup:
    rows, scheduled = f.outcome_rows(summary)
    total = sum(n for _, n, _ in rows)
    body = [[name, f.count(n), f.percent(share, 1)] for name, n, share in rows]
    body.append([Markup("<b>total</b>"), f.count(total), f.percent(1.0 if total else None, 1)])
    check = (
        f"The outcomes add up to the {scheduled:,} scheduled requests."
        if total == scheduled
        else f"Warning: the outcomes add up to {total:,}, not to the {scheduled:,} scheduled."
    )
    definitions = join(
        Markup(f"<dt>{esc(name)}</dt><dd>{esc(text)}</dd>")
        for name, text in f.OUTCOME_DEFINITIONS.items()
    )
    by_status = summary.get("rejected_by_status") or {}
    status_rows = [[code, f.count(n)] for code, n in dict(by_status).items()]
    requests = summary.get("requests") if isinstance(summary.get("requests"), Mapping) else {}
    request_rows = [[k.replace("_", " "), f.count(v)] for k, v in dict(requests or {}).items()]
    parts: list[Any] = [
        table(["outcome", "requests", "share of scheduled"], body),
        paragraph(check, "" if total == scheduled else "warn"),
        Markup(f'<dl class="defs">{definitions}</dl>'),
        figure(plots.get("outcomes"), "No outcomes to plot."),
        table(["requests", "count"], request_rows, caption="What the generator did"),
    ]
    if status_rows:
        parts.append(table(["HTTP status", "rejected"], status_rows, caption="Rejected, by status"))
    ledger = summary.get("mock_ledger")
    if isinstance(ledger, Mapping):
        parts.append(
            details("The mock's own ledger (cross-check of the counts above)", nested(ledger))
        )
    return section("outcomes", TITLES["outcomes"], *parts)


def _latency_rows(
    summary: Mapping[str, Any], origin: str
) -> tuple[list[list[Any]], frozenset[int]]:
    rows: list[list[Any]] = []
    starts: set[int] = set()
    latency = summary.get("latency_s") if isinstance(summary.get("latency_s"), Mapping) else {}
    for stage, label in f.STAGE_LABELS.items():
        views = f.dig(latency, stage, f"from_{origin}")
        if not isinstance(views, Mapping):
            continue
        starts.add(len(rows))
        for view in ("answered", "censored", "per_message", "all_sent"):
            stats = views.get(view)
            if not isinstance(stats, Mapping):
                continue
            rows.append(
                [
                    label if len(rows) in starts else "",
                    view.replace("_", " "),
                    *(f.seconds(stats.get(key)) for key in f.PERCENTILE_KEYS),
                    f.count(stats.get("count")),
                ]
            )
    return rows, frozenset(starts)


def _latency_table(summary: Mapping[str, Any], origin: str, caption: str) -> Markup:
    headers = ["stage", "view", *(f.PERCENTILE_LABELS.get(k, k) for k in f.PERCENTILE_KEYS), "n"]
    rows, starts = _latency_rows(summary, origin)
    return table(headers, rows, numeric_from=2, caption=caption, group_starts=starts)


def _latency_section(summary: Mapping[str, Any], plots: Mapping[str, Plot]) -> Markup:
    return section(
        "latency",
        TITLES["latency"],
        paragraph(
            "Exact percentiles from raw timestamps. Answered: replies that came. Censored: "
            "dropped and lost requests count as at least their deadline. Per message: "
            "answered and merged requests, each from its own send to the answer that covered "
            "it, so the messages a reply answered together count with their own wait. "
            + f.time_scale_note(summary),
            "muted",
        ),
        _latency_table(summary, "intended", "From the intended send time (what a user waits)"),
        _latency_table(summary, "sent", "From the actual send time (what the target took)"),
        figure(plots.get("latency-cdf"), "No latency samples to plot."),
    )


def _over_time_section(plots: Mapping[str, Plot]) -> Markup:
    return section(
        "over-time",
        TITLES["over-time"],
        paragraph(
            "One point per second since the first intended send; the warm-up is shaded, the "
            "dotted line marks the end of the load (after it, in-flight replies settle). The "
            "dark bars are each stage's answers per second over its steady window, the "
            "capacity table's figure; stages named in red are not sustainable.",
            "muted",
        ),
        figure(plots.get("over-time"), "No per-second data to plot."),
    )


def _rates_section(summary: Mapping[str, Any]) -> Markup:
    little = summary.get("little") if isinstance(summary.get("little"), Mapping) else {}
    rows = [
        ["drop rate (of answered, dropped, lost)", f.interval(summary.get("drop_rate"))],
        ["loss rate (of answered, dropped, lost)", f.interval(summary.get("loss_rate"))],
        ["rejected rate (of sent)", f.interval(summary.get("rejected_rate"))],
    ]
    deviation = f.number((little or {}).get("deviation"))
    goodput = (
        f.rate_rps(summary.get("goodput_rps"))
        if f.number(summary.get("goodput_rps")) is not None
        else "not computed (the scenario sets no first-answer p99 objective)"
    )
    little_rows = [
        ["mean in flight (measured)", f.quantity((little or {}).get("in_flight_mean"))],
        ["rate of answers and drops", f.rate_rps((little or {}).get("rate_rps"))],
        ["mean time to answer from send", f.seconds((little or {}).get("mean_time_to_answer_s"))],
        ["predicted in flight (rate x time)", f.quantity((little or {}).get("predicted"))],
        ["deviation (measured vs predicted)", f.percent(deviation, 1)],
    ]
    verdict = (
        "Little's law holds within 10 %: the in-flight count and the latencies agree."
        if deviation is not None and abs(deviation) <= 0.1
        else "Little's law is off by more than 10 % (or could not be checked): look for "
        "requests that never finished, or a window too short to be steady."
    )
    return section(
        "rates",
        TITLES["rates"],
        table(["rate", "value [95 % CI] (count of trials)"], rows, numeric_from=1),
        paragraph(
            f"Goodput (answers within the first-answer p99 objective, per second of "
            f"steady load): {goodput}."
        ),
        tag("h3", "Little's-law check (steady part of the run)"),
        table(["figure", "value"], little_rows),
        paragraph(verdict, "muted"),
    )


def _stages_section(summary: Mapping[str, Any]) -> Markup:
    rows = [
        [
            s.get("stage"),
            f.count(s.get("requests")),
            f.rate_rps(s.get("offered_rps")),
            f.rate_rps(s.get("sent_rps")),
            f.rate_rps(s.get("answers_rps")),
            f.percent(s.get("covered_share"), 1),
            f.interval_short(s.get("drop_rate")),
            f.percent(f.dig(s, "loss_rate", "rate")),
            f.seconds(f.dig(s, "first_answer_s", "p50")),
            f.seconds(f.dig(s, "first_answer_s", "p99")),
        ]
        for s in summary.get("stages") or []
        if isinstance(s, Mapping)
    ]
    headers = [
        "stage", "requests", "offered", "sent", "answers received", "answered or merged",
        "drop rate (95 % CI)", "loss rate", "first answer p50", "p99",
    ]  # fmt: skip
    return section(
        "stages",
        TITLES["stages"],
        table(headers, rows),
        paragraph(
            "Warm-up trimmed; answers received per second in the stage's steady window (see "
            "Capacity); the share answered or merged and the latency are of the stage's own "
            "requests, latency from the intended send time, answered only.",
            "muted",
        ),
    )


def render_html(
    analysis: Analysis, run_dir: Path | None = None, plots: Sequence[Plot] | None = None
) -> str:
    """The report page. ``run_dir`` adds the scenario and environment files; ``plots`` reuses
    figures already drawn (else they are drawn here)."""
    summary = analysis.summary
    by_name = {plot.name: plot for plot in (render_plots(analysis) if plots is None else plots)}
    body = join(
        [
            _banners(summary),
            _header(summary),
            _slo_section(summary),
            capacity_html(summary, by_name.get("capacity"), TITLES["capacity"]),
            _outcomes_section(summary, by_name),
            _latency_section(summary, by_name),
            _over_time_section(by_name),
            _rates_section(summary),
            _stages_section(summary),
            breakdown_section(summary, by_name.get("model-latency")),
            endpoints_section(summary),
            hygiene_section(summary),
            cost_section(summary, by_name.get("cost")),
            health_section(summary),
            setup_section(run_dir),
        ]
    )
    title = f"dumgum-loadtest · {summary.get('scenario') or 'run'} · {f.verdict(summary)[0]}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
