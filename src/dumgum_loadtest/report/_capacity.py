"""The capacity section: the headline, the curve, one row per plateau and how it is judged.

The rows and the definitions are shared by the HTML page and the Markdown summary, so both
say the same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dumgum_loadtest.report import _format as f
from dumgum_loadtest.report._html import Markup, badge, figure, paragraph, section, table, tag
from dumgum_loadtest.report.plots import Plot

PLATEAU_HEADERS = (
    "plateau",
    "offered",
    "answers received",
    "backlog change",
    "p99 first answer",
    "drop rate",
    "sustainable",
    "why not",
)
DEFINITIONS = (
    "Answers are first answer.created received per second in each plateau's steady window: "
    "the plateau's span on the clock less a transition at its start (its own p99 time to "
    "first answer, at most a quarter of the plateau), while answers still belong to the "
    "plateau before and the backlog settles. The backlog is what was sent and awaits an "
    "answer or a drop. A plateau keeps up unless its answers fall short of the replies it "
    "owes by more than 3 √owed, or its backlog grows by more than 3 √(backlog at start + at "
    "end): three standard deviations of Poisson counts. It is sustainable when it keeps up "
    "and meets the SLOs that apply per plateau (p50 and p99 time to first answer, drop and "
    "loss rates), whatever its latency. The maximum sustainable rate is the last sustainable "
    "plateau counting up from the lowest; the knee is the first plateau that does not keep "
    "up or whose p99 is at least twice the lowest plateau's."
)


def plateau_cells(plateau: Mapping[str, Any]) -> list[str]:
    """The figures of one plateau, formatted, in ``PLATEAU_HEADERS`` order (name to drops)."""
    growth = f.number(plateau.get("backlog_growth"))
    return [
        f.plain(plateau.get("stage")),
        f.rate_rps(plateau.get("offered_rps")),
        f.rate_rps(plateau.get("answers_rps")),
        f.DASH if growth is None else f"{growth:+,.0f}",
        f.seconds(plateau.get("p99_s")),
        f.percent(plateau.get("drop_rate")),
    ]


def is_sustainable(plateau: Mapping[str, Any]) -> bool:
    """Summaries written before ``sustainable`` existed judged by ``meets_slos`` alone."""
    return bool(plateau.get("sustainable", plateau.get("meets_slos")))


def plateaus(capacity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in capacity.get("plateaus") or [] if isinstance(p, Mapping)]


def capacity_html(summary: Mapping[str, Any], plot: Plot | None, title: str) -> Markup:
    capacity = summary.get("capacity")
    if not isinstance(capacity, Mapping):
        return section(
            "capacity",
            title,
            paragraph(
                "Not a stepped run: fewer than two load plateaus, no capacity curve.", "muted"
            ),
        )
    rows = [
        [
            *plateau_cells(p),
            badge(is_sustainable(p), "yes", "no"),
            "; ".join(p.get("reasons") or []) or f.DASH,
        ]
        for p in plateaus(capacity)
    ]
    return section(
        "capacity",
        title,
        tag("p", str(capacity.get("sentence") or f.DASH), class_="capacity"),
        figure(plot, "No plateau had data to plot."),
        table(
            list(PLATEAU_HEADERS),
            rows,
            numeric_to=6,
            caption="Per plateau, ordered by offered rate (warm-up excluded)",
        ),
        paragraph(
            f"Knee: {f.rate_rps(capacity.get('knee_rps'))}. Maximum sustainable rate "
            f"({capacity.get('judged_by') or 'under the SLOs'}): "
            f"{f.rate_rps(capacity.get('max_sustainable_rps'))}. {DEFINITIONS}",
            "muted",
        ),
    )
