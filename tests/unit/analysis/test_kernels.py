"""The numeric kernels give exactly the figures of plain numpy and pandas.

``percentiles_s`` against ``np.percentile``; ``per_second``, ``stage_table``,
``latency_section`` and ``littles_law`` against straightforward pandas versions of the same
definitions, written here, on small random runs with every outcome and missing values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from dumgum_loadtest.analysis.latency import latency_section
from dumgum_loadtest.analysis.outcomes import OUTCOMES
from dumgum_loadtest.analysis.stats import PERCENTILES, percentiles_s, wilson_interval
from dumgum_loadtest.analysis.timeseries import littles_law, per_second, stage_table

S = 1_000_000_000
T0_NS = 1_800_000_000 * S
STAGE_NAMES = ("warmup", "ramp", "steady", "spike")


def _reference_percentiles(values: np.ndarray) -> dict[str, Any]:
    clean = values[~np.isnan(values)]
    if clean.size == 0:
        return {**dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    found = np.percentile(clean, list(PERCENTILES.values()))
    result: dict[str, Any] = {
        name: round(float(v), 6) for name, v in zip(PERCENTILES, found, strict=True)
    }
    return {**result, "max": round(float(clean.max()), 6), "count": int(clean.size)}


@pytest.mark.parametrize("size", [0, 1, 2, 3, 10, 101, 1000, 12_345])
@pytest.mark.parametrize("shift", [0.0, -1.0])  # all >= 0 (integer-view partition) or mixed
def test_percentiles_equal_numpy_percentile(size: int, shift: float) -> None:
    rng = np.random.default_rng(size)
    values = rng.lognormal(0.0, 1.5, size) + shift
    values[rng.random(size) < 0.2] = np.nan
    values[: size // 10] = np.round(values[: size // 10], 1)  # ties
    original = values.copy()
    assert percentiles_s(values) == _reference_percentiles(values)
    np.testing.assert_array_equal(values, original)  # the caller's array is left alone


def test_percentiles_of_nothing_but_nan() -> None:
    assert percentiles_s(np.array([np.nan, np.nan]))["count"] == 0
    assert percentiles_s(pd.Series([], dtype="float64"))["p50"] is None


def _random_run(
    size: int, seed: int, outcome_dtype: str, stage_dtype: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Requests, stamps and outcomes shaped as the analysis produces them."""
    rng = np.random.default_rng(seed)
    intended_ns = T0_NS + rng.integers(0, 40 * S, size)
    outcome = rng.choice(OUTCOMES, size, p=[0.6, 0.05, 0.1, 0.1, 0.05, 0.02, 0.02, 0.06])
    sent = outcome != "not_sent"
    sent_ns = np.where(sent, intended_ns + rng.integers(0, S // 10, size), -1).astype("float64")
    sent_ns[~sent] = np.nan
    response_ns = sent_ns + rng.integers(1, S // 5, size)
    answer_ns = sent_ns + rng.integers(S // 2, 30 * S, size)
    answered = outcome == "answered"
    processing_ns = np.where(answered | (rng.random(size) < 0.3), answer_ns - S // 4, np.nan)
    processing_ns[rng.random(size) < 0.05] = np.nan
    last_ns = np.where(answered, answer_ns + rng.integers(0, 3 * S, size), np.nan)
    dropped_ns = np.where(outcome == "dropped", sent_ns + rng.integers(S, 20 * S, size), np.nan)
    stage = pd.Series(rng.choice([*STAGE_NAMES, None], size), dtype="object")
    stage[intended_ns < T0_NS + 5 * S] = "warmup"
    requests = pd.DataFrame(
        {
            "intended_ns": intended_ns,
            "sent_ns": sent_ns,
            "response_ns": response_ns,
            "max_processing_s": rng.integers(5, 60, size),
            "stage": stage.astype(stage_dtype),
        }
    )
    stamps = pd.DataFrame(
        {
            "processing_ns": processing_ns,
            "first_answer_ns": np.where(answered, answer_ns, np.nan),
            "last_message_ns": last_ns,
            "dropped_ns": dropped_ns,
        }
    )
    categories = pd.CategoricalDtype(list(OUTCOMES))
    codes = pd.Series(outcome, dtype="object")
    return requests, stamps, codes.astype(categories if outcome_dtype == "category" else object)


RUNS = [
    (2_000, 1, "category", "string[pyarrow]"),
    (2_000, 2, "object", "category"),
    (500, 3, "category", "object"),
]


def _reference_per_second(
    requests: pd.DataFrame, stamps: pd.DataFrame, outcome: pd.Series, origin_ns: int, end_ns: int
) -> pd.DataFrame:
    buckets = max(1, int((end_ns - origin_ns) // S) + 1)

    def counts(times_ns: pd.Series) -> np.ndarray:
        index = ((times_ns.dropna().astype("float64") - origin_ns) // S).astype("int64")
        return np.bincount(index[(index >= 0) & (index < buckets)], minlength=buckets)

    frame = pd.DataFrame({"second": np.arange(buckets)})
    frame["offered_rps"] = counts(requests["intended_ns"])
    frame["sent_rps"] = counts(requests["sent_ns"])
    frame["answers_rps"] = counts(stamps["first_answer_ns"])
    frame["drops_rps"] = counts(stamps["dropped_ns"])
    awaited = outcome.astype(object).isin(["answered", "dropped", "lost"])
    start = requests.loc[awaited, "sent_ns"].astype("float64")
    finish = stamps.loc[awaited, "first_answer_ns"].fillna(stamps.loc[awaited, "dropped_ns"])
    finish = finish.fillna(float(end_ns))
    delta = np.zeros(buckets + 1)
    np.add.at(delta, np.clip(((start - origin_ns) // S).astype("int64"), 0, buckets), 1)
    np.add.at(delta, np.clip(((finish - origin_ns) // S).astype("int64"), 0, buckets), -1)
    frame["in_flight"] = np.cumsum(delta)[:buckets]
    intended = requests["intended_ns"].astype("float64")
    latency_s = (stamps["first_answer_ns"] - intended) / 1e9
    grouped = latency_s.groupby(((intended - origin_ns) // S).astype("int64").to_numpy())
    frame["latency_p50_s"] = frame["second"].map(grouped.quantile(0.5))
    frame["latency_p99_s"] = frame["second"].map(grouped.quantile(0.99))
    return frame


@pytest.mark.parametrize(("size", "seed", "outcome_dtype", "stage_dtype"), RUNS)
def test_per_second_equals_the_pandas_reference(
    size: int, seed: int, outcome_dtype: str, stage_dtype: str
) -> None:
    requests, stamps, outcome = _random_run(size, seed, outcome_dtype, stage_dtype)
    origin_ns = int(requests["intended_ns"].min())
    end_ns = int(stamps["last_message_ns"].max())
    frame = per_second(requests, stamps, outcome, origin_ns, end_ns)
    expected = _reference_per_second(requests, stamps, outcome, origin_ns, end_ns)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["latency_p99_s"].notna().sum() > 30  # the comparison covered real figures


def _reference_stage_table(
    requests: pd.DataFrame, stamps: pd.DataFrame, outcome: pd.Series, warmup_end_ns: int
) -> list[dict[str, Any]]:
    names = requests["stage"].astype(object).fillna("run").to_numpy(dtype=object)
    intended = requests["intended_ns"].to_numpy(dtype="float64")
    sent_ns = requests["sent_ns"].to_numpy(dtype="float64")
    sent = requests["sent_ns"].notna().to_numpy()
    first_answer = stamps["first_answer_ns"].to_numpy()
    dropped = stamps["dropped_ns"].to_numpy()
    outcomes = outcome.astype(object).to_numpy()
    awaited_all = np.isin(outcomes, ["answered", "dropped", "lost"])
    finish = np.fmin(first_answer, dropped)
    steady = (intended >= warmup_end_ns) & (names != "warmup")
    stages = list(pd.unique(names[steady]))
    spans, p99s = {}, {}
    for name in stages:
        mask = steady & (names == name)
        spans[name] = max(intended[mask].max() - intended[mask].min(), 1.0)
        answered = (outcomes[mask] == "answered") & ~np.isnan(first_answer[mask])
        latency = (first_answer[mask] - intended[mask]) / 1e9
        p99s[name] = _reference_percentiles(latency[answered])["p99"]

    def in_flight(at_ns: float) -> int:
        return int((awaited_all & (sent_ns < at_ns)).sum() - (awaited_all & (finish < at_ns)).sum())

    rows = []
    for name in stages:
        mask = steady & (names == name)
        times = intended[mask]
        span_s = spans[name] / 1e9
        # The transition: the stage's own p99 time to first answer, at most a quarter stage.
        start = times.min() + min((p99s[name] or 0.0) * 1e9, 0.25 * spans[name])
        end = times.max()
        window_s = max((end - start) / 1e9, 1e-9)
        answers = int(((first_answer >= start) & (first_answer < end)).sum())
        drops = int(((dropped >= start) & (dropped < end)).sum())
        part = outcomes[mask]
        answered = part == "answered"
        awaited = int(np.isin(part, ["answered", "dropped", "lost"]).sum())
        merged = int((part == "merged").sum())
        rows.append(
            {
                "stage": str(name),
                "requests": int(mask.sum()),
                "offered_rps": round(times.size / span_s, 3),
                "sent_rps": round(int(sent[mask].sum()) / span_s, 3),
                "steady_from_s": round((start - intended.min()) / 1e9, 3),
                "steady_to_s": round((end - intended.min()) / 1e9, 3),
                "owed": int((awaited_all & mask & (intended >= start)).sum()),
                "answers": answers,
                "drops": drops,
                "answers_rps": round(answers / window_s, 3),
                "drops_rps": round(drops / window_s, 3),
                "backlog_start": in_flight(start),
                "backlog_end": in_flight(end),
                "covered_share": round(
                    (int(answered.sum()) + merged) / max(awaited + merged, 1), 6
                ),
                "drop_rate": wilson_interval(int((part == "dropped").sum()), awaited),
                "loss_rate": wilson_interval(int((part == "lost").sum()), awaited),
                "first_answer_s": _reference_percentiles(
                    ((first_answer[mask] - times) / 1e9)[answered]
                ),
            }
        )
    return rows


@pytest.mark.parametrize(("size", "seed", "outcome_dtype", "stage_dtype"), RUNS)
def test_stage_table_equals_the_pandas_reference(
    size: int, seed: int, outcome_dtype: str, stage_dtype: str
) -> None:
    requests, stamps, outcome = _random_run(size, seed, outcome_dtype, stage_dtype)
    warmup_end_ns = T0_NS + 8 * S
    table = stage_table(requests, stamps, outcome, warmup_end_ns)
    assert table == _reference_stage_table(requests, stamps, outcome, warmup_end_ns)
    assert [row["stage"] for row in table if row["stage"] == "run"] == ["run"]  # missing names


def test_stage_table_of_unnamed_stages_without_a_run_category() -> None:
    requests, stamps, outcome = _random_run(300, 4, "category", "category")
    requests["stage"] = pd.Categorical([None] * 300, categories=["steady"])
    table = stage_table(requests, stamps, outcome, T0_NS)
    assert [row["stage"] for row in table] == ["run"]
    assert table[0]["requests"] == 300


def _reference_latency_section(
    requests: pd.DataFrame, stamps: pd.DataFrame, outcome: pd.Series, time_scale: float
) -> dict[str, Any]:
    labels = outcome.astype(object)
    answered = (labels == "answered").to_numpy()
    unanswered = labels.isin(["dropped", "lost"]).to_numpy()
    deadline_s = requests["max_processing_s"].astype("float64").to_numpy() * time_scale
    ends = {
        "enqueue": requests["response_ns"],
        "processing": stamps["processing_ns"],
        "first_answer": stamps["first_answer_ns"],
        "last_message": stamps["last_message_ns"],
    }
    section: dict[str, Any] = {}
    for stage, end in ends.items():
        section[stage] = {}
        for origin in ("intended", "sent"):
            start = requests[f"{origin}_ns"].astype("float64")
            values = ((end.astype("float64") - start) / 1e9).to_numpy()
            view = {"answered": _reference_percentiles(values[answered])}
            if stage == "enqueue":
                view["all_sent"] = _reference_percentiles(values)
            else:
                censored = np.where(unanswered, np.fmax(values, deadline_s), values)
                view["censored"] = _reference_percentiles(censored[answered | unanswered])
            section[stage][f"from_{origin}"] = view
    return section


@pytest.mark.parametrize(("size", "seed", "outcome_dtype", "stage_dtype"), RUNS)
def test_latency_section_equals_the_pandas_reference(
    size: int, seed: int, outcome_dtype: str, stage_dtype: str
) -> None:
    requests, stamps, outcome = _random_run(size, seed, outcome_dtype, stage_dtype)
    section = latency_section(requests, stamps, outcome, 0.05)
    assert section == _reference_latency_section(requests, stamps, outcome, 0.05)
    assert list(section["first_answer"]) == ["from_intended", "from_sent"]


@pytest.mark.parametrize(("size", "seed", "outcome_dtype", "stage_dtype"), RUNS)
def test_littles_law_equals_the_pandas_reference(
    size: int, seed: int, outcome_dtype: str, stage_dtype: str
) -> None:
    requests, stamps, outcome = _random_run(size, seed, outcome_dtype, stage_dtype)
    origin_ns = int(requests["intended_ns"].min())
    series = per_second(requests, stamps, outcome, origin_ns, int(stamps["last_message_ns"].max()))
    little = littles_law(series, requests, stamps, outcome, slice(5, 40))
    answered = outcome.astype(object) == "answered"
    time_s = (stamps.loc[answered, "first_answer_ns"] - requests.loc[answered, "sent_ns"]) / 1e9
    window = series.iloc[5:40]
    rate_rps = float(window["answers_rps"].mean() + window["drops_rps"].mean())
    assert little["mean_time_to_answer_s"] == round(float(time_s.mean()), 6)
    assert little["rate_rps"] == round(rate_rps, 3)
    assert little["predicted"] == round(rate_rps * float(time_s.mean()), 3)
    assert little["in_flight_mean"] == round(float(window["in_flight"].mean()), 3)
