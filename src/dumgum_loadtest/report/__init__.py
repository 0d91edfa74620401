"""The human reports of a run, rebuilt from its authoritative summary and tables.

``write_reports(run_dir, analysis)`` writes ``report.html`` (self-contained), ``report.md`` and
the figures as ``plots/*.png``; ``rebuild(run_dir)`` re-analyses the raw records first and
rewrites ``summary.json`` too (what ``dumgum-loadtest report RUN_DIR`` does).
"""

from __future__ import annotations

import json
from pathlib import Path

from dumgum_loadtest.analysis.analyse import Analysis, analyse
from dumgum_loadtest.report.html import render_html
from dumgum_loadtest.report.markdown import render_markdown
from dumgum_loadtest.report.plots import PLOT_NAMES, Plot, render_plots
from dumgum_loadtest.rundir import mark_abandoned

__all__ = ["Plot", "rebuild", "render_html", "render_markdown", "render_plots", "write_reports"]

PLOTS_DIR = "plots"


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers never see half a file: write beside it, then rename over it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def write_reports(run_dir: Path, analysis: Analysis) -> list[Path]:
    """``report.html``, ``report.md`` and ``plots/<name>.png``; returns the paths written."""
    plots = render_plots(analysis)
    plot_dir = run_dir / PLOTS_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    figures: dict[str, str] = {}
    for plot in plots:
        if plot.png:
            path = plot_dir / f"{plot.name}.png"
            _write_atomic(path, plot.png)
            written.append(path)
            figures[plot.name] = f"{PLOTS_DIR}/{path.name}"
    for name in set(PLOT_NAMES) - set(figures):
        # A figure from an earlier build that this one has no data for would mislead.
        (plot_dir / f"{name}.png").unlink(missing_ok=True)
    html_path = run_dir / "report.html"
    _write_atomic(html_path, render_html(analysis, run_dir, plots).encode("utf-8"))
    md_path = run_dir / "report.md"
    _write_atomic(md_path, render_markdown(analysis, figures).encode("utf-8"))
    return [html_path, md_path, *written]


def rebuild(run_dir: Path) -> Analysis:
    """Analyse the run directory again, rewrite ``summary.json`` and every report from it.

    A run killed outright still says ``running`` in run-meta.json: it is marked interrupted
    first (``rundir.mark_abandoned``), so the summary and the reports say it was cut short.
    """
    mark_abandoned(run_dir)
    analysis = analyse(run_dir)
    summary = json.dumps(analysis.summary, indent=2, default=str) + "\n"
    _write_atomic(run_dir / "summary.json", summary.encode("utf-8"))
    write_reports(run_dir, analysis)
    return analysis
