"""The run over time: 1 s buckets and load stages, warm-up trimmed, and a Little's-law check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.stats import percentiles_s, wilson_interval

BUCKET_NS = 1_000_000_000
WARMUP_STAGE = "warmup"  # the generator's name for requests inside the warm-up


def _bucket_counts(times_ns: pd.Series, origin_ns: int, buckets: int) -> np.ndarray:
    values = times_ns.dropna().to_numpy(dtype="float64")
    index = ((values - origin_ns) // BUCKET_NS).astype("int64")
    index = index[(index >= 0) & (index < buckets)]
    return np.bincount(index, minlength=buckets)


def per_second(
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    outcome: pd.Series,
    origin_ns: int,
    end_ns: int,
) -> pd.DataFrame:
    """One row per second of the run: offered, sent, answers, drops, in flight, latency."""
    buckets = max(1, int((end_ns - origin_ns) // BUCKET_NS) + 1)
    frame = pd.DataFrame({"second": np.arange(buckets)})
    frame["offered_rps"] = _bucket_counts(requests["intended_ns"], origin_ns, buckets)
    frame["sent_rps"] = _bucket_counts(requests["sent_ns"], origin_ns, buckets)
    frame["answers_rps"] = _bucket_counts(stamps["first_answer_ns"], origin_ns, buckets)
    frame["drops_rps"] = _bucket_counts(stamps["dropped_ns"], origin_ns, buckets)
    # Replies awaited: from the send until the answer or the drop (lost: until the end).
    awaited = outcome.isin(["answered", "dropped", "lost"])
    start = requests.loc[awaited, "sent_ns"].astype("float64")
    finish = stamps.loc[awaited, "first_answer_ns"].fillna(stamps.loc[awaited, "dropped_ns"])
    finish = finish.fillna(float(end_ns))
    delta = np.zeros(buckets + 1)
    np.add.at(delta, np.clip(((start - origin_ns) // BUCKET_NS).astype("int64"), 0, buckets), 1)
    np.add.at(delta, np.clip(((finish - origin_ns) // BUCKET_NS).astype("int64"), 0, buckets), -1)
    frame["in_flight"] = np.cumsum(delta)[:buckets]
    latency_s = (stamps["first_answer_ns"] - requests["intended_ns"].astype("float64")) / 1e9
    second = ((requests["intended_ns"].astype("float64") - origin_ns) // BUCKET_NS).astype("Int64")
    grouped = latency_s.groupby(second.to_numpy())
    frame["latency_p50_s"] = frame["second"].map(grouped.quantile(0.5))
    frame["latency_p99_s"] = frame["second"].map(grouped.quantile(0.99))
    return frame


def littles_law(
    series: pd.DataFrame,
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    outcome: pd.Series,
    steady: slice,
) -> dict[str, Any]:
    """In flight ≈ rate x mean time to answer, over the steady part of the run."""
    window = series.iloc[steady]
    if window.empty:
        return {"in_flight_mean": None, "predicted": None, "deviation": None}
    answered = outcome == "answered"
    time_s = (stamps.loc[answered, "first_answer_ns"] - requests.loc[answered, "sent_ns"]) / 1e9
    arrival_rps = float(window["answers_rps"].mean() + window["drops_rps"].mean())
    mean_time_s = float(time_s.mean()) if len(time_s) else 0.0
    measured = float(window["in_flight"].mean())
    predicted = arrival_rps * mean_time_s
    deviation = (measured - predicted) / predicted if predicted > 0 else None
    return {
        "in_flight_mean": round(measured, 3),
        "rate_rps": round(arrival_rps, 3),
        "mean_time_to_answer_s": round(mean_time_s, 6),
        "predicted": round(predicted, 3),
        "deviation": None if deviation is None else round(deviation, 4),
    }


def stage_table(
    requests: pd.DataFrame, stamps: pd.DataFrame, outcome: pd.Series, warmup_end_ns: int
) -> list[dict[str, Any]]:
    """Per load stage (warm-up trimmed): offered and achieved rates, drops, latency."""
    rows = []
    stage_names = requests["stage"].fillna("run").to_numpy(dtype=object)
    intended = requests["intended_ns"].to_numpy(dtype="float64", na_value=np.nan)
    sent = ~np.isnan(requests["sent_ns"].to_numpy(dtype="float64", na_value=np.nan))
    first_answer = stamps["first_answer_ns"].to_numpy()
    outcomes = outcome.to_numpy()
    steady = (intended >= warmup_end_ns) & (stage_names != WARMUP_STAGE)
    for name in pd.unique(stage_names[steady]):
        mask = steady & (stage_names == name)
        times = intended[mask]
        span_s = max((times.max() - times.min()) / 1e9, 1e-9)
        part = outcomes[mask]
        answered = part == "answered"
        awaited = int(np.isin(part, ["answered", "dropped", "lost"]).sum())
        covered = int(np.isin(part, ["answered", "merged"]).sum())
        rows.append(
            {
                "stage": str(name),
                "requests": int(mask.sum()),
                "offered_rps": round(times.size / span_s, 3),
                "sent_rps": round(int(sent[mask].sum()) / span_s, 3),
                "answers_rps": round(int(answered.sum()) / span_s, 3),
                # Answered directly or inside a merged burst, of what the target accepted.
                "covered_share": round(
                    covered / max(awaited + int((part == "merged").sum()), 1), 6
                ),
                "drop_rate": wilson_interval(int((part == "dropped").sum()), awaited),
                "loss_rate": wilson_interval(int((part == "lost").sum()), awaited),
                "first_answer_s": percentiles_s(((first_answer[mask] - times) / 1e9)[answered]),
            }
        )
    return rows
