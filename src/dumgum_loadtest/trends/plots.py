"""One figure per series: the value of each run in start order, change points marked.

Valid runs are dark dots joined by a line, the mean of each segment between change points a
horizontal line; invalid or interrupted runs are grey crosses (drawn, not judged). Each
change point is a red dashed line labelled with its relative change and the code (version,
commit) of the first run after it. The x axis is the run's position; its tick labels give the
start date and the code of a run, thinned to stay legible on a long history.
"""

from __future__ import annotations

import itertools

from dumgum_loadtest.report._figure import RC, percent_axis, plt, to_png
from dumgum_loadtest.report.plots import Plot
from dumgum_loadtest.trends.series import Series

MAX_TICKS = 12
VALID_COLOUR = "#1f77b4"
INVALID_COLOUR = "#b0b0b0"
CHANGE_COLOUR = "#d62728"
SEGMENT_COLOUR = "#ff7f0e"


def render_series(series: Series, number: int) -> Plot:
    """The series as a PNG; an error drawing it is kept in ``Plot.error``, not raised."""
    name = f"trend-{number:03d}"
    try:
        return Plot(name, series.title, _draw(series))
    except (ValueError, RuntimeError, OverflowError) as exc:  # matplotlib's failures
        return Plot(name, series.title, error=str(exc))


def tick_positions(count: int, must: list[int], max_ticks: int = MAX_TICKS) -> list[int]:
    """About ``max_ticks`` evenly spread positions of ``count`` plus every one in ``must``;
    an even tick too close to a ``must`` one gives way, so labels do not overlap."""
    if count <= 0:
        return []
    step = max(1, -(-count // max_ticks))
    even = set(range(0, count, step)) | {count - 1}
    spaced = {i for i in even if all(abs(i - m) * 2 >= step for m in must)}
    return sorted(spaced | set(must))


def unit_of(metric: str) -> str:
    """The y axis label from the unit the metric's name ends in."""
    head = metric.split(".")[0]
    for suffix, unit in (
        ("_rate", "share of requests"),
        ("_s", "seconds"),
        ("_eur", "EUR"),
        ("_rps", "requests/s"),
    ):
        if head.endswith(suffix):
            return unit
    return head


def _draw(series: Series) -> bytes:
    points = series.points
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(10, 3.6))
        used = [(i, p.value) for i, p in enumerate(points) if p.used and p.value is not None]
        grey = [(i, p.value) for i, p in enumerate(points) if not p.valid and p.value is not None]
        if used:
            xs, ys = zip(*used, strict=True)
            ax.plot(xs, ys, "-o", color=VALID_COLOUR, markersize=3.5, linewidth=1, label="run")
        if grey:
            xs, ys = zip(*grey, strict=True)
            ax.plot(xs, ys, "x", color=INVALID_COLOUR, markersize=6, label="invalid (not judged)")
        bounds = [0, *(cp.index for cp in series.change_points), len(points)]
        label = "segment mean"
        for start, end in itertools.pairwise(bounds):
            judged = [p.value for p in points[start:end] if p.used and p.value is not None]
            if judged:
                mean = sum(judged) / len(judged)
                ax.hlines(
                    mean, start - 0.4, end - 0.6, colors=SEGMENT_COLOUR, linewidth=1.5, label=label
                )
                label = "_nolegend_"  # one legend entry for all segments
        for cp in series.change_points:
            ax.axvline(cp.index - 0.5, color=CHANGE_COLOUR, linestyle="--", linewidth=1.2)
            change = "" if cp.relative_change is None else f"{cp.relative_change:+.1%} "
            code = points[cp.index].label
            ax.annotate(
                f"{change}{code}",
                xy=(cp.index - 0.5, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -3),
                textcoords="offset points",
                va="top",
                fontsize=8,
                color=CHANGE_COLOUR,
            )
        ticks = tick_positions(len(points), [cp.index for cp in series.change_points])
        ax.set_xticks(ticks)
        ax.set_xticklabels(
            [f"{points[i].started_at:%m-%d}\n{points[i].label}" for i in ticks],
            fontsize=7,
            rotation=30,
            ha="right",
        )
        ax.set_xlim(-0.8, max(len(points) - 0.2, 0.2))
        ax.set_ylabel(unit_of(series.metric))
        if series.metric.split(".")[0].endswith("_rate"):
            percent_axis(ax.yaxis)
        ax.set_title(series.title)
        if used or grey:
            ax.legend(loc="best")
        fig.tight_layout()
        return to_png(fig)
