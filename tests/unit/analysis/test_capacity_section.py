"""The capacity headline follows what the target answered on the clock.

Synthetic stepped runs with a known capacity: a target that answers at most ``capacity_rps``
in arrival order, each answer at least ``latency_s`` after its send. Offered rates stepping
past that capacity must give answer throughput flat at it, those plateaus not sustainable,
the maximum sustainable rate the last plateau below it, and a knee where the answers stop
following the offered rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dumgum_loadtest.analysis.capacity import capacity_lines, capacity_section
from dumgum_loadtest.analysis.outcomes import OUTCOME_DTYPE
from dumgum_loadtest.analysis.timeseries import stage_table
from dumgum_loadtest.scenarios.model import Slos

S = 1_000_000_000
T0_NS = 1_800_000_000 * S
WARMUP_S = 3.0
Step = tuple[str, float, float]  # name, duration_s, rate_rps
Run = tuple[pd.DataFrame, pd.DataFrame, pd.Series]


def _arrivals(steps: Sequence[Step], rng: np.random.Generator | None) -> tuple[np.ndarray, list]:
    """Intended send times (s from the start) and stage names, evenly spaced or Poisson."""
    times: list[np.ndarray] = []
    names: list[str] = []
    start_s = 0.0
    for name, duration_s, rate_rps in steps:
        if rng is None:
            offsets = np.arange(int(duration_s * rate_rps)) / rate_rps
        else:
            offsets = np.sort(rng.uniform(0, duration_s, rng.poisson(duration_s * rate_rps)))
        times.append(start_s + offsets)
        names += [name] * offsets.size
        start_s += duration_s
    times_s = np.concatenate(times)
    stage = ["warmup" if t < WARMUP_S else n for t, n in zip(times_s, names, strict=True)]
    return times_s, stage


def _frames(times_s: np.ndarray, stage: list, answer_s: np.ndarray, drop_s: np.ndarray) -> Run:
    sent_ns = T0_NS + (times_s * S).astype("int64") + 1_000_000
    requests = pd.DataFrame(
        {
            "intended_ns": T0_NS + (times_s * S).astype("int64"),
            "sent_ns": sent_ns.astype("float64"),
            "stage": pd.Series(stage, dtype="category"),
        }
    )
    stamps = pd.DataFrame(
        {
            "first_answer_ns": T0_NS + answer_s * S,
            "dropped_ns": T0_NS + drop_s * S,
        }
    )
    outcome = np.where(
        ~np.isnan(answer_s), "answered", np.where(~np.isnan(drop_s), "dropped", "lost")
    )
    return requests, stamps, pd.Series(pd.Categorical(outcome, dtype=OUTCOME_DTYPE))


def queued_run(
    steps: Sequence[Step],
    *,
    capacity_rps: float,
    latency_s: float,
    queue_limit: int | None = None,
    rng: np.random.Generator | None = None,
) -> Run:
    """A target that answers at most ``capacity_rps``, first come first served, each answer at
    least ``latency_s`` after the send; past ``queue_limit`` waiting it drops at once."""
    times_s, stage = _arrivals(steps, rng)
    answer_s = np.full(times_s.size, np.nan)
    drop_s = np.full(times_s.size, np.nan)
    next_free_s = -np.inf  # when the target can give its next answer
    for i, t in enumerate(times_s):
        waiting = (next_free_s - (t + latency_s)) * capacity_rps
        if queue_limit is not None and waiting >= queue_limit:
            drop_s[i] = t + 0.01
            continue
        answer_s[i] = max(t + latency_s, next_free_s)
        next_free_s = answer_s[i] + 1.0 / capacity_rps
    return _frames(times_s, stage, answer_s, drop_s)


def unbounded_run(steps: Sequence[Step], rng: np.random.Generator) -> Run:
    """Poisson arrivals, every request answered after its own lognormal time: never behind."""
    times_s, stage = _arrivals(steps, rng)
    answer_s = times_s + rng.lognormal(np.log(0.3), 0.3, times_s.size)
    return _frames(times_s, stage, answer_s, np.full(times_s.size, np.nan))


def slower_run(steps: Sequence[Step], latency_s: Sequence[float]) -> Run:
    """Evenly spaced arrivals, every request answered after its stage's constant latency."""
    times_s, stage = _arrivals(steps, None)
    ends_s = np.cumsum([duration_s for _, duration_s, _ in steps])
    answer_s = times_s + np.asarray(latency_s)[np.searchsorted(ends_s, times_s, side="right")]
    return _frames(times_s, stage, answer_s, np.full(times_s.size, np.nan))


def capacity_of(run: Run, slos: Slos | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stage table by name, and the capacity section."""
    table = stage_table(*run, T0_NS + int(WARMUP_S * S))
    section = capacity_section(table, slos or Slos())
    assert section is not None
    return {row["stage"]: row for row in table}, section


def _plateau(section: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in section["plateaus"] if p["stage"] == name)


STEPS_PAST_100: list[Step] = [("50", 20, 50), ("80", 20, 80), ("150", 20, 150), ("200", 20, 200)]


def test_answers_plateau_past_capacity_and_those_stages_are_not_sustainable() -> None:
    stages, section = capacity_of(queued_run(STEPS_PAST_100, capacity_rps=100, latency_s=0.4))
    for stage in stages.values():
        # Answers received per second in the steady window: the offered rate up to 100/s.
        assert stage["answers_rps"] == pytest.approx(min(stage["offered_rps"], 100), rel=0.02)
    assert [p["keeps_up"] for p in section["plateaus"]] == [True, True, False, False]
    assert [p["sustainable"] for p in section["plateaus"]] == [True, True, False, False]
    for name in ("150", "200"):  # the backlog grows by the excess over the steady window
        window_s = stages[name]["steady_to_s"] - stages[name]["steady_from_s"]
        excess = (stages[name]["offered_rps"] - 100) * window_s
        assert _plateau(section, name)["backlog_growth"] == pytest.approx(excess, rel=0.02)
    assert section["max_sustainable_rps"] == stages["80"]["offered_rps"]
    assert section["knee_rps"] == stages["150"]["offered_rps"]
    assert section["sentence"].startswith("No SLOs set: ")
    assert "under the SLOs" not in section["sentence"]
    assert "80.0 requests/s" in section["sentence"] and "150.1" in section["sentence"]


def test_a_backlog_growing_within_the_answers_noise_is_not_sustainable() -> None:
    # 5 % over capacity: 150 answers short in 30 s, under 3 sqrt(3150) = 168 of Poisson noise,
    # but the backlog grows from about 40 to 190, far past its own noise.
    steps: list[Step] = [("50", 30, 50), ("105", 30, 105)]
    _, section = capacity_of(queued_run(steps, capacity_rps=100, latency_s=0.4))
    over = _plateau(section, "105")
    assert not over["sustainable"]
    assert over["reasons"] and all("backlog grew" in reason for reason in over["reasons"])
    assert section["max_sustainable_rps"] == _plateau(section, "50")["offered_rps"]


def test_shedding_the_excess_at_once_is_not_sustainable_though_the_backlog_stays_flat() -> None:
    steps: list[Step] = [("50", 20, 50), ("200", 20, 200)]
    stages, section = capacity_of(
        queued_run(steps, capacity_rps=100, latency_s=0.4, queue_limit=20)
    )
    shed = _plateau(section, "200")
    assert stages["200"]["answers_rps"] == pytest.approx(100, rel=0.02)
    assert stages["200"]["drops_rps"] == pytest.approx(100, rel=0.05)
    assert not shed["sustainable"]
    assert [reason for reason in shed["reasons"] if "backlog" in reason] == []
    assert any("short of" in reason for reason in shed["reasons"])
    assert section["max_sustainable_rps"] == stages["50"]["offered_rps"]


@pytest.mark.parametrize("seed", range(8))
def test_random_load_that_never_queues_is_sustainable_at_every_plateau(seed: int) -> None:
    steps: list[Step] = [("20", 15, 20), ("60", 15, 60), ("120", 15, 120), ("240", 15, 240)]
    stages, section = capacity_of(unbounded_run(steps, np.random.default_rng(seed)))
    assert [p["reasons"] for p in section["plateaus"]] == [[]] * 4
    assert section["max_sustainable_rps"] == stages["240"]["offered_rps"]
    assert section["knee_rps"] is None
    assert "every plateau was sustainable" in section["sentence"]
    assert "at least" in section["sentence"]


def test_slos_judge_the_plateaus_and_the_sentence_says_so() -> None:
    run = queued_run(STEPS_PAST_100, capacity_rps=100, latency_s=0.4)
    stages, loose = capacity_of(run, Slos(first_answer_p99_s=1.0))
    assert "under the SLOs" in loose["sentence"] and "no SLOs set" not in loose["sentence"]
    assert loose["max_sustainable_rps"] == stages["80"]["offered_rps"]
    _, tight = capacity_of(run, Slos(first_answer_p99_s=0.3))
    assert tight["max_sustainable_rps"] is None
    lowest = tight["plateaus"][0]
    assert lowest["keeps_up"] and not lowest["meets_slos"] and not lowest["sustainable"]
    assert tight["sentence"].startswith("No plateau was sustainable under the SLOs")
    assert "above the 0.3 s SLO" in tight["sentence"]
    _, other = capacity_of(run, Slos(enqueue_p99_ms=50))
    assert other["sentence"].startswith("None of the SLOs applies per plateau: ")


def test_the_terminal_lines_carry_the_sentence_and_every_plateau() -> None:
    _, section = capacity_of(queued_run(STEPS_PAST_100, capacity_rps=100, latency_s=0.4))
    lines = capacity_lines(section)
    assert lines[0] == f"capacity: {section['sentence']}"
    assert len(lines) == 1 + len(section["plateaus"])
    assert "150: offered" in lines[3] and "NOT sustainable" in lines[3]
    assert "80: offered" in lines[2] and "NOT" not in lines[2]
    assert capacity_lines(None) == []


def test_a_slower_plateau_that_keeps_up_is_the_knee_and_still_sustainable() -> None:
    # Latency triples at 80/s: the backlog rises from 20 to 120 (Little's law) within the
    # transition, then holds; answers keep up. Slower, not behind.
    steps: list[Step] = [("50", 20, 50), ("80", 20, 80)]
    stages, section = capacity_of(slower_run(steps, [0.4, 1.5]))
    slower = _plateau(section, "80")
    assert stages["80"]["backlog_start"] == pytest.approx(120, abs=2)
    assert slower["keeps_up"] and slower["sustainable"]
    assert section["knee_rps"] == section["max_sustainable_rps"] == stages["80"]["offered_rps"]
