"""The report's figures as PNG bytes: latency CDFs, the run over time, outcomes, models, capacity.

Every figure is drawn on the ``Agg`` backend and closed once saved. Nothing is plotted per
request: CDFs come from sorted samples reduced to about 2,000 points, everything else from the
per-second frame or from the summary, so a 10-million-request run draws as fast as a small one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter

from dumgum_loadtest.analysis.analyse import Analysis
from dumgum_loadtest.analysis.latency import (
    STAGES,
    numeric_values,
    stage_views_s,
)
from dumgum_loadtest.analysis.outcomes import outcome_codes
from dumgum_loadtest.analysis.timeseries import first_and_last, stage_codes
from dumgum_loadtest.report._charts import (
    capacity_curve,
    cost_features,
    model_latency,
    outcomes_bar,
)
from dumgum_loadtest.report._figure import RC, STAGE_COLOURS, percent_axis, plt, to_png
from dumgum_loadtest.report._format import STAGE_LABELS, number

# Every figure the report may hold, in report order (also the file names under plots/).
PLOT_NAMES = ("capacity", "outcomes", "latency-cdf", "over-time", "model-latency", "cost")
CDF_POINTS = 2000
EXACT_SAMPLES = 1_000_000
BODY_SAMPLES = 200_000
TAIL_SHARE = 0.01


@dataclass(frozen=True)
class Plot:
    """One figure: a file-friendly name, what it shows, the PNG, or why it could not be drawn."""

    name: str
    title: str
    png: bytes = b""
    error: str = ""


def cdf_points(values_s: np.ndarray, points: int = CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(latency, cumulative share)`` at about ``points`` quantiles; NaN and inf left out.

    Half the points are spread evenly over the distribution, half over the tail on a log
    scale of ``1 - p``, so p99.9 and the maximum are drawn exactly. Up to ``EXACT_SAMPLES``
    values every point is exact (one sort). Beyond, the top ``TAIL_SHARE`` is still exact
    (linear time, see ``_largest_sorted``) and the body below it comes from a seeded sample of
    ``BODY_SAMPLES`` values, whose error is far below a pixel: on 10 million rows a full
    sort per stage and view would cost seconds. The tables carry the exact percentiles.
    """
    finite = np.asarray(values_s, dtype="float64")
    finite = finite[np.isfinite(finite)]  # a copy: sorting it in place is safe
    n = finite.size
    if n == 0:
        return np.empty(0), np.empty(0)
    tail_decades = max(np.log10(n), 1.0)
    levels = np.concatenate(
        [np.linspace(0.0, 1.0, points // 2), 1.0 - np.logspace(0.0, -tail_decades, points // 2)]
    )
    ranks = np.unique(np.clip(np.ceil(levels * n).astype("int64") - 1, 0, n - 1))
    share = (ranks + 1) / n
    if n <= EXACT_SAMPLES:
        finite.sort()
        return finite[ranks], share
    body_sample = np.random.default_rng(0).choice(finite, BODY_SAMPLES)
    body_sample.sort()
    tail_from = int(n * (1.0 - TAIL_SHARE))
    tail = _largest_sorted(finite, n - tail_from, body_sample)
    in_body = ranks < tail_from
    values = np.empty(ranks.size)
    values[~in_body] = tail[ranks[~in_body] - tail_from]
    sample_ranks = (ranks[in_body] * BODY_SAMPLES) // n
    values[in_body] = np.minimum(body_sample[sample_ranks], tail[0])  # stays monotonic
    return values, share


def _largest_sorted(values: np.ndarray, count: int, sample_sorted: np.ndarray) -> np.ndarray:
    """The ``count`` largest of ``values``, ascending (may reorder ``values``).

    A threshold read off the sorted random sample a little below the share wanted catches
    all of them in one pass, but for a sample far off the values; then a partition does
    (exact either way, several times slower on 10 M values).
    """
    margin_share = 1.5 * count / values.size
    threshold = sample_sorted[int(sample_sorted.size * max(0.0, 1.0 - margin_share))]
    above: np.ndarray = values[values >= threshold]
    if above.size < count:
        values.partition(values.size - count)
        above = values[values.size - count :]
    above.sort()
    return above[above.size - count :]


def _cdf_curves(analysis: Analysis) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per view (answered, censored) and stage: CDF points of the seconds from the intended
    send time, from the same arrays as the summary's ``latency_s`` (one stage at a time)."""
    scale = number(analysis.summary.get("time_scale")) or 1.0
    codes = outcome_codes(analysis.outcome)
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"answered": {}, "censored": {}}
    for stage, answered_s, second_s in stage_views_s(
        analysis.requests, analysis.stamps, codes, scale, "intended"
    ):
        curves["answered"][stage] = cdf_points(answered_s)
        curves["censored"][stage] = cdf_points(second_s)  # enqueue: every request, uncensored
    return curves


_TAIL_TICKS = {0.0: "p0", 0.5: "p50", 0.9: "p90", 0.99: "p99", 0.999: "p99.9", 0.9999: "p99.99"}


def latency_cdf(analysis: Analysis) -> bytes | None:
    """CDF and percentile spectrum of every stage, answered-only next to censored."""
    if analysis.requests.empty:
        return None
    curves = _cdf_curves(analysis)
    if not any(x.size for view in curves.values() for x, _ in view.values()):
        return None
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.2), layout="constrained", sharey="row")
    for column, (view, title) in enumerate(
        (
            ("answered", "Answered only"),
            ("censored", "Censored: dropped and lost count as their deadline"),
        )
    ):
        cdf_ax, tail_ax = axes[0][column], axes[1][column]
        for stage in STAGES:
            x, p = curves[view][stage]
            keep = x > 0  # log axis: a zero or negative latency is a clock artefact
            x, p = x[keep], p[keep]
            if x.size == 0:
                continue
            label = STAGE_LABELS[stage] + (" (all sent)" if stage == "enqueue" else "")
            # Without split replies the last message is the first: dashed, so both show.
            style = {"color": STAGE_COLOURS[stage], "linewidth": 1.4, "label": label}
            style["linestyle"] = "--" if stage == "last_message" else "-"
            cdf_ax.plot(x, p, **style)
            spectrum = p < 1.0
            tail_ax.plot(1.0 / (1.0 - p[spectrum]), x[spectrum], **style)
        cdf_ax.set_xscale("log")
        cdf_ax.set_title(f"{title}: CDF")
        cdf_ax.set_xlabel("latency from intended send time (s, log scale)")
        percent_axis(cdf_ax.yaxis)
        tail_ax.set_xscale("log")
        tail_ax.set_yscale("log")
        tail_ax.set_title(f"{title}: tail")
        tail_ax.set_xlabel("percentile")
        ticks = [t for t in _TAIL_TICKS if 1 / (1 - t) <= max(tail_ax.get_xlim()[1], 2)]
        tail_ax.xaxis.set_major_locator(FixedLocator([1 / (1 - t) for t in ticks]))
        tail_ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _pos: _TAIL_TICKS.get(round(1 - 1 / v, 6), ""))
        )
        tail_ax.xaxis.set_minor_locator(FixedLocator([]))
    axes[0][0].set_ylabel("share of requests at or below")
    axes[1][0].set_ylabel("latency (s, log scale)")
    handles, labels = axes[0][1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=len(handles))
    fig.suptitle("Latency per stage, from the intended send time")
    return to_png(fig)


def _stage_starts(analysis: Analysis) -> list[tuple[float, str]]:
    """Seconds from the first intended send to each stage's first one, in time order."""
    requests = analysis.requests
    if requests.empty:
        return []
    codes, names = stage_codes(requests["stage"])
    named = codes >= 0
    first_ns, _ = first_and_last(
        codes[named].astype(np.intp), numeric_values(requests["intended_ns"])[named], len(names)
    )
    origin_ns = float(requests["intended_ns"].min())
    seen = np.flatnonzero(np.bincount(codes[named], minlength=len(names)))
    ordered = sorted((float(first_ns[i] - origin_ns) / 1e9, names[i]) for i in seen)
    return ordered if len(ordered) > 1 else []


def _mark_run(ax: Axes, summary: Mapping[str, Any], stages: list[tuple[float, str]]) -> None:
    warmup_s = number(summary.get("warmup_s"))
    if warmup_s:
        ax.axvspan(0, warmup_s, color="#bbbbbb", alpha=0.35, linewidth=0, label="warm-up")
    end_s = number(summary.get("duration_s"))
    ran_s = number((summary.get("health") or {}).get("load_ran_s"))
    if summary.get("interrupted") and ran_s is not None:
        end_s = ran_s  # a run cut short: where its load actually ended
    if end_s:
        ax.axvline(end_s, color="black", linestyle=":", linewidth=1, label="load ends")
    for start_s, _name in stages[1:]:
        ax.axvline(start_s, color="#999999", linestyle="--", linewidth=0.6)


def _mark_steady_answers(ax: Axes, summary: Mapping[str, Any]) -> None:
    """Each stage's answers per second over its steady window: the figure the capacity
    section judges, drawn on the per-second curve it summarises."""
    rows = [
        (number(s.get("steady_from_s")), number(s.get("steady_to_s")), number(s.get("answers_rps")))
        for s in summary.get("stages") or []
        if isinstance(s, Mapping)
    ]
    spans = [(start, end, rate) for start, end, rate in rows if None not in (start, end, rate)]
    if spans:
        starts, ends, levels = zip(*spans, strict=True)
        ax.hlines(
            levels, starts, ends, colors="#0b4f1c", linewidth=2.4, zorder=3,
            label="answers/s over each stage's steady window",
        )  # fmt: skip


def _not_sustainable(summary: Mapping[str, Any]) -> set[str]:
    capacity = summary.get("capacity")
    if not isinstance(capacity, Mapping):
        return set()
    return {
        str(p.get("stage"))
        for p in capacity.get("plateaus") or []
        if isinstance(p, Mapping) and p.get("sustainable") is False
    }


def over_time(analysis: Analysis) -> bytes | None:
    """Rates, latency percentiles and conversations in flight, one point per second."""
    frame = analysis.seconds
    if frame.empty or "second" not in frame:
        return None
    summary = analysis.summary
    stages = _stage_starts(analysis)
    x = frame["second"].to_numpy(dtype="float64")
    edges = np.append(x, x[-1] + 1.0)  # bucket i covers [i, i + 1) seconds
    fig, (rates, latency, flight) = plt.subplots(
        3, 1, figsize=(10, 8), sharex=True, layout="constrained"
    )
    outside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
    for column, label, colour, width in (
        ("offered_rps", "offered (scheduled)", "#1f77b4", 2.6),  # wide: sent usually covers it
        ("sent_rps", "sent", "#17becf", 1.2),
        ("answers_rps", "answers (first answer.created)", "#2ca02c", 1.2),
        ("drops_rps", "drops (conversation.dropped)", "#d62728", 1.2),
    ):
        if column in frame:
            values = frame[column].to_numpy(dtype="float64")
            rates.stairs(values, edges, label=label, color=colour, linewidth=width)
    _mark_run(rates, summary, stages)
    _mark_steady_answers(rates, summary)
    rates.set_ylabel("requests per second")
    rates.set_title("Throughput: offered vs sent vs answers, per second")
    if stages:
        top = rates.secondary_xaxis("top")
        top.set_xticks([start for start, _ in stages], [name for _, name in stages])
        top.tick_params(labelsize=7, labelrotation=30, colors="#555555")
        behind = _not_sustainable(summary)
        for text in top.get_xticklabels():
            text.set_horizontalalignment("left")
            if text.get_text() in behind:  # the capacity table's verdict, on the clock
                text.set_color("#d62728")
                text.set_fontweight("bold")
    rates.legend(**outside)
    for column, label, colour in (
        ("latency_p50_s", "p50", "#1f77b4"),
        ("latency_p99_s", "p99", "#d62728"),
    ):
        if column in frame:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
            latency.plot(x + 0.5, values, marker=".", markersize=3, label=label, color=colour)
    _mark_run(latency, summary, [])
    latency.set_ylabel("seconds")
    latency.set_ylim(bottom=0)
    latency.set_title("Time to first answer from the intended send time, by second of sending")
    latency.legend(**outside)
    if "in_flight" in frame:
        in_flight = frame["in_flight"].to_numpy(dtype="float64")
        flight.stairs(in_flight, edges, color="#9467bd", label="in flight")
    _mark_run(flight, summary, stages)
    flight.set_ylabel("conversations awaiting an answer")
    flight.set_title("In flight: sent, no answer or drop yet")
    flight.set_xlabel("seconds since the first intended send")
    flight.set_ylim(bottom=0)
    flight.legend(**outside)
    return to_png(fig)


def render_plots(analysis: Analysis) -> list[Plot]:
    """Every figure this run has data for, in report order.

    A figure that fails to draw becomes a ``Plot`` with its error: the rest of the report is
    worth more than one broken chart.
    """
    summary = analysis.summary
    makers: list[tuple[str, str, Callable[[], bytes | None]]] = [
        ("capacity", "Capacity curve", lambda: capacity_curve(summary)),
        ("outcomes", "Outcomes", lambda: outcomes_bar(summary)),
        ("latency-cdf", "Latency CDF per stage", lambda: latency_cdf(analysis)),
        ("over-time", "Over time", lambda: over_time(analysis)),
        ("model-latency", "Latency per chat model", lambda: model_latency(summary)),
        ("cost", "Cost per feature, per 1,000 conversations", lambda: cost_features(summary)),
    ]
    plots = []
    with matplotlib.rc_context(RC):
        for name, title, make in makers:
            open_before = set(plt.get_fignums())
            try:
                png = make()
            except Exception as exc:  # reported in the page, not swallowed
                for number_ in set(plt.get_fignums()) - open_before:
                    plt.close(number_)
                plots.append(Plot(name, title, error=f"{type(exc).__name__}: {exc}"))
                continue
            if png is not None:
                plots.append(Plot(name, title, png))
    return plots
