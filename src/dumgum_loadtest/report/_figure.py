"""The matplotlib set-up every report figure shares: the ``Agg`` backend, style, colours, PNG.

Importing this module selects ``Agg`` before pyplot is imported anywhere in the report, so a
figure never needs a display; ``to_png`` closes each figure once it is saved.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit, safe in any process

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

__all__ = ["OUTCOME_COLOURS", "RC", "STAGE_COLOURS", "percent_axis", "plt", "to_png"]

DPI = 100
STAGE_COLOURS = {
    "enqueue": "#7f7f7f",
    "processing": "#1f77b4",
    "first_answer": "#d62728",
    "last_message": "#9467bd",
}
OUTCOME_COLOURS = {
    "answered": "#2ca02c",
    "merged": "#98df8a",
    "dropped": "#d62728",
    "rejected": "#ff7f0e",
    "not_sent": "#8c564b",
    "send_failed": "#e377c2",
    "unresolved": "#c7c7c7",
    "lost": "#7f7f7f",
}
RC: dict[Any, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def to_png(fig: Figure) -> bytes:
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def percent_axis(axis: Any) -> None:
    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
