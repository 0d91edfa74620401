"""Figures drawn from the summary alone: outcomes, latency per chat model, the capacity curve,
cost per feature."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from dumgum_loadtest.report._figure import OUTCOME_COLOURS, percent_axis, plt, to_png
from dumgum_loadtest.report._format import dig, money, number


def outcomes_bar(summary: Mapping[str, Any]) -> bytes | None:
    """One bar per outcome, with its count and share of the scheduled requests."""
    outcomes = summary.get("outcomes")
    if not isinstance(outcomes, Mapping):
        return None
    names = list(OUTCOME_COLOURS) + [k for k in outcomes if k not in OUTCOME_COLOURS]
    counts = [number(outcomes.get(n)) or 0.0 for n in names]
    total = sum(counts)
    if total == 0:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
    y = np.arange(len(names))
    ax.barh(y, counts, color=[OUTCOME_COLOURS.get(n, "#bcbd22") for n in names])
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    for index, value in enumerate(counts):
        share = f" ({value / total:.1%})" if total else ""
        ax.annotate(
            f"{value:,.0f}{share}", (value, index), xytext=(3, 0), textcoords="offset points",
            va="center", fontsize=8,
        )  # fmt: skip
    ax.set_xlim(0, max(max(counts) * 1.25, 1))
    ax.set_xlabel("requests")
    ax.set_title(f"Outcome of each of the {total:,.0f} scheduled requests")
    return to_png(fig)


def model_latency(summary: Mapping[str, Any]) -> bytes | None:
    """First-answer p50, p90 and p99 per chat model (answered, from the intended send time)."""
    rows = [
        row
        for row in dig(summary, "breakdowns", "chat_model") or []
        if isinstance(row, Mapping) and number(dig(row, "first_answer_s", "p50")) is not None
    ]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.55 * len(rows)), layout="constrained")
    y = np.arange(len(rows))
    height = 0.26
    for offset, (key, colour) in enumerate(
        (("p50", "#1f77b4"), ("p90", "#ff7f0e"), ("p99", "#d62728"))
    ):
        values = [number(dig(row, "first_answer_s", key)) or 0.0 for row in rows]
        ax.barh(y + (offset - 1) * height, values, height=height, color=colour, label=key)
    labels = [
        f"{row.get('value')}\n{number(dig(row, 'first_answer_s', 'count')) or 0:,.0f} answered"
        for row in rows
    ]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("time to first answer from the intended send time (s)")
    ax.set_title("First-answer latency per chat model (answered requests)")
    fig.legend(loc="outside right upper")
    return to_png(fig)


def capacity_curve(summary: Mapping[str, Any]) -> bytes | None:
    """Answers, p99 latency and drop rate against the offered rate, knee and limit marked."""
    plateaus = [p for p in dig(summary, "capacity", "plateaus") or [] if isinstance(p, Mapping)]
    if not plateaus:
        return None
    offered = np.array([number(p.get("offered_rps")) or np.nan for p in plateaus])
    # Summaries from before ``sustainable`` judged a plateau by ``meets_slos`` alone.
    ok = np.array([bool(p.get("sustainable", p.get("meets_slos"))) for p in plateaus])
    panels: list[tuple[str, str, np.ndarray]] = [
        (
            "answers received per second",
            "Answers vs offered rate (steady window)",
            _column(plateaus, "answers_rps"),
        ),
        ("p99 time to first answer (s)", "p99 latency vs offered rate", _column(plateaus, "p99_s")),
        ("drop rate", "Drop rate vs offered rate", _column(plateaus, "drop_rate")),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), layout="constrained")
    knee = number(dig(summary, "capacity", "knee_rps"))
    best = number(dig(summary, "capacity", "max_sustainable_rps"))
    for ax, (ylabel, title, values) in zip(axes, panels, strict=True):
        ax.plot(offered, values, color="#555555", linewidth=1, zorder=1)
        ax.scatter(offered[ok], values[ok], color="#2ca02c", zorder=2, label="sustainable")
        ax.scatter(offered[~ok], values[~ok], color="#d62728", zorder=2, label="not sustainable")
        if knee is not None:
            ax.axvline(knee, color="#ff7f0e", linestyle="--", label=f"knee {knee:,.1f} req/s")
        if best is not None:
            label = f"max sustainable {best:,.1f} req/s"
            ax.axvline(best, color="#2ca02c", linestyle="-.", label=label)
        ax.set_xlabel("offered rate (requests/s)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_ylim(bottom=0)
    top = np.nanmax(offered) if np.isfinite(offered).any() else 1.0
    axes[0].plot([0, top], [0, top], color="#bbbbbb", linestyle=":", label="answers = offered")
    percent_axis(axes[2].yaxis)
    axes[0].legend(loc="upper left")
    fig.suptitle("Capacity: one point per load plateau (warm-up excluded)")
    return to_png(fig)


def _column(rows: list[Mapping[str, Any]], key: str) -> np.ndarray:
    values = [number(row.get(key)) for row in rows]
    return np.array([np.nan if v is None else v for v in values], dtype="float64")


# The cost chart's bars, top down: (feature, label, colour); the saving is drawn below zero.
COST_BARS = (
    ("replies", "Replies", "#1f77b4"),
    ("vision", "Vision analyses", "#9467bd"),
    ("soulengine", "SoulEngine personas", "#ff7f0e"),
    ("merged", "Merged enqueues\n(saved by bufferSeconds)", "#2ca02c"),
)


def cost_bars(summary: Mapping[str, Any]) -> list[tuple[str, str, Decimal]]:
    """The cost chart's bars: (feature, label, projected amount per 1,000 conversations), the
    amounts exact Decimals; the merged saving is positive here (it is drawn below zero)."""
    cost = summary.get("cost")
    if not isinstance(cost, Mapping):
        return []
    conversations = number(dig(cost, "counts", "conversations"))
    if not conversations or conversations < 0 or conversations != int(conversations):
        return []
    features = {
        str(row.get("feature")): row
        for row in cost.get("features") or []
        if isinstance(row, Mapping)
    }
    bars = []
    for name, label, _ in COST_BARS:
        amount = money(dig(features, name, "projected_eur"))
        if amount is not None:
            bars.append((name, label, amount * 1000 / Decimal(int(conversations))))
    return bars


def cost_features(summary: Mapping[str, Any]) -> bytes | None:
    """Projected cost per feature per 1,000 conversations, the bufferSeconds saving below zero.

    The amounts are Decimal strings in the summary; they become floats here, for drawing only.
    """
    bars = cost_bars(summary)
    if not bars:
        return None
    cost = summary["cost"]
    currency = cost.get("currency") if isinstance(cost.get("currency"), str) else "EUR"
    conversations = number(dig(cost, "counts", "conversations")) or 0.0
    colour_of = {name: colour for name, _, colour in COST_BARS}
    labels = [label for _, label, _ in bars]
    values = [-float(v) if name == "merged" else float(v) for name, _, v in bars]
    colours = [colour_of[name] for name, _, _ in bars]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.6 * len(values)), layout="constrained")
    y = np.arange(len(values))
    ax.barh(y, values, color=colours)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.axvline(0, color="#555555", linewidth=0.8)
    span = max(abs(v) for v in values) or 1.0
    for index, (value, (_, _, exact)) in enumerate(zip(values, bars, strict=True)):
        text = f"{exact:,.2f} {currency}" + (" saved" if value < 0 else "")
        # A saving's label sits right of zero, clear of the feature names on the left.
        ax.annotate(
            text, (max(value, 0.0), index), xytext=(4, 0), textcoords="offset points",
            va="center", ha="left", fontsize=8,
        )  # fmt: skip
    left = min(values) * 1.1 if min(values) < 0 else 0.0
    ax.set_xlim(left, max(max(values), 0.0) * 1.35 + 0.1 * span)
    ax.set_xlabel(
        f"{currency} per 1,000 conversations (projected, every reply as if live;"
        " savings left of zero)"
    )
    ax.set_title(f"Cost per feature, per 1,000 conversations ({conversations:,.0f} in this run)")
    return to_png(fig)
