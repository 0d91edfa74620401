"""The figures: CDF points stay few and exact in the tail, figures agree with the summary, a
stepped run gets its capacity curve, and no figure is left open."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dumgum_loadtest.analysis.analyse import analyse
from dumgum_loadtest.report import plots, render_html, render_markdown, render_plots
from dumgum_loadtest.report.plots import CDF_POINTS, EXACT_SAMPLES, TAIL_SHARE, cdf_points

CAPACITY_STAGES = (("40 rps", 6.0, 4.0), ("80 rps", 6.0, 8.0), ("160 rps", 6.0, 16.0))


def test_cdf_points_are_few_and_exact_for_a_small_sample() -> None:
    values = np.random.default_rng(1).lognormal(0.0, 1.0, 50_000)
    values[::1000] = np.nan
    x, share = cdf_points(values)
    finite = np.sort(values[np.isfinite(values)])
    assert x.size <= CDF_POINTS
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(share) > 0)
    assert x[-1] == finite[-1] and share[-1] == 1.0
    p999 = int(np.ceil(0.999 * finite.size)) - 1
    assert finite[p999] in x


def test_cdf_points_of_a_huge_sample_keep_the_tail_exact() -> None:
    values = np.random.default_rng(2).exponential(1.0, EXACT_SAMPLES * 2)
    x, share = cdf_points(values)
    ordered = np.sort(values)
    n = ordered.size
    ranks = np.round(share * n).astype("int64") - 1
    tail = ranks >= int(n * (1 - TAIL_SHARE))
    assert np.array_equal(x[tail], ordered[ranks[tail]])
    assert np.all(np.diff(x) >= 0)
    median = x[np.searchsorted(share, 0.5)]
    assert median == pytest.approx(np.log(2), rel=0.02)


def test_cdf_points_of_nothing() -> None:
    x, share = cdf_points(np.array([np.nan, np.inf]))
    assert x.size == 0 and share.size == 0


def test_cdf_points_of_a_huge_sample_whose_tail_the_sample_misses() -> None:
    values = np.random.default_rng(3).exponential(1.0, EXACT_SAMPLES * 2)
    count = values.size // 100
    misleading = np.sort(values)[-1000:]  # a "sample" of the very top: too high a threshold
    tail = plots._largest_sorted(values.copy(), count, misleading)
    np.testing.assert_array_equal(tail, np.sort(values)[-count:])


def test_the_cdf_curves_match_the_summary_percentiles(make_run: Callable[..., Path]) -> None:
    analysis = analyse(make_run(drop_every=6, lost_every=11))
    curves = plots._cdf_curves(analysis)
    latency = analysis.summary["latency_s"]
    for stage in ("processing", "first_answer", "last_message"):
        for view in ("answered", "censored"):
            expected = latency[stage]["from_intended"][view]
            values, share = curves[view][stage]  # a small run: every value is a point
            assert values.size == expected["count"] and share[-1] == 1.0
            assert np.percentile(values, 99) == pytest.approx(expected["p99"], abs=1e-6)
            assert values[-1] == pytest.approx(expected["max"], abs=1e-6)
    assert curves["censored"]["first_answer"][0].max() == pytest.approx(300 * 0.05)


def test_a_stepped_run_gets_its_capacity_curve(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(stages=CAPACITY_STAGES)
    analysis = analyse(run_dir)
    capacity = analysis.summary["capacity"]
    assert capacity is not None and len(capacity["plateaus"]) == 3
    names = [plot.name for plot in render_plots(analysis)]
    assert names[0] == "capacity" and "latency-cdf" in names and "over-time" in names
    page = render_html(analysis, run_dir)
    section = page[page.index('id="capacity"') : page.index('id="outcomes"')]
    assert capacity["sentence"] in section
    assert section.index(capacity["sentence"]) < section.index("data:image/png;base64,")
    markdown = render_markdown(analysis)
    assert "## Capacity" in markdown and capacity["sentence"] in markdown
    assert "| 160 rps |" in markdown


def test_the_capacity_section_names_the_plateau_that_fell_behind_and_why(
    make_run: Callable[..., Path],
) -> None:
    # Answers capped at 8.5/s: the 16/s plateau falls behind, the 8/s one keeps up.
    run_dir = make_run(stages=CAPACITY_STAGES, capacity_rps=8.5)
    analysis = analyse(run_dir)
    capacity = analysis.summary["capacity"]
    plateaus = {p["stage"]: p for p in capacity["plateaus"]}
    assert plateaus["80 rps"]["sustainable"] and not plateaus["160 rps"]["keeps_up"]
    assert plateaus["160 rps"]["answers_rps"] == pytest.approx(8.5, rel=0.1)
    assert capacity["max_sustainable_rps"] == plateaus["80 rps"]["offered_rps"]
    assert "under the SLOs" in capacity["sentence"]  # smoke.yaml's SLOs judge the plateaus
    page = render_html(analysis, run_dir)
    section = page[page.index('id="capacity"') : page.index('id="outcomes"')]
    for reason in plateaus["160 rps"]["reasons"]:
        assert html.escape(reason) in section
    markdown = render_markdown(analysis)
    assert all(reason in markdown for reason in plateaus["160 rps"]["reasons"])


def test_every_figure_is_closed(make_run: Callable[..., Path]) -> None:
    plt.close("all")
    render_plots(analyse(make_run(stages=CAPACITY_STAGES)))
    assert plt.get_fignums() == []


def test_a_figure_that_fails_is_named_in_the_page(
    make_run: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_analysis: object) -> bytes:
        plt.figure()
        raise ValueError("no such axis")

    monkeypatch.setattr(plots, "latency_cdf", broken)
    analysis = analyse(make_run())
    drawn = {plot.name: plot for plot in render_plots(analysis)}
    assert drawn["latency-cdf"].error == "ValueError: no such axis"
    assert drawn["over-time"].png.startswith(b"\x89PNG")
    assert plt.get_fignums() == []
    assert "could not be drawn: ValueError: no such axis" in render_html(analysis)
