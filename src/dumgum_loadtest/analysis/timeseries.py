"""The run over time: 1 s buckets and load stages, warm-up trimmed, and a Little's-law check.

Everything runs on numpy arrays of the columns (outcome codes, stage codes, nanosecond
stamps): on 10 million requests pandas groupbys and object arrays cost seconds each.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.latency import (
    numeric_values,
    reply_masks,
    seconds_between,
)
from dumgum_loadtest.analysis.outcomes import OUTCOMES, outcome_codes
from dumgum_loadtest.analysis.stats import percentiles_in_place_s, wilson_interval
from dumgum_loadtest.analysis.steady import SteadyCounts, steady_counts, transition_ns

BUCKET_NS = 1_000_000_000
WARMUP_STAGE = "warmup"  # the generator's name for requests inside the warm-up
UNNAMED_STAGE = "run"  # the stage of requests that name none
SECOND_QUANTILES = {"latency_p50_s": 0.5, "latency_p99_s": 0.99}


def bucket_of(times_ns: np.ndarray, origin_ns: int, out: np.ndarray | None = None) -> np.ndarray:
    """The 1 s bucket of each time, counted from ``origin_ns``, as floats (NaN: no time).

    ``floor((t - origin) / 1e9)`` in float64: for whole nanoseconds within weeks of the
    origin the same as the floor division ``(t - origin) // 1e9``, at a quarter of its cost.
    Into ``out`` when given.
    """
    seconds: np.ndarray = np.subtract(times_ns, origin_ns, out=out, dtype="float64")
    seconds /= BUCKET_NS
    np.floor(seconds, out=seconds)
    return seconds


def _bucket_counts(seconds: np.ndarray, buckets: int) -> np.ndarray:
    inside = (seconds >= 0) & (seconds < buckets)
    return np.bincount(seconds[inside].astype(np.intp), minlength=buckets)


def group_order(groups: np.ndarray, group_count: int) -> tuple[np.ndarray, np.ndarray]:
    """A stable order bringing equal ``groups`` (whole numbers in ``[0, group_count)``, of any
    numeric dtype) together, and each group's place in it: ``order[bounds[g]:bounds[g + 1]]``.

    On the smallest unsigned type numpy radix-sorts up to 65,536 groups: linear time.
    """
    small = groups.astype(np.min_scalar_type(max(group_count - 1, 0)))
    order = np.argsort(small, kind="stable")
    bounds = np.zeros(group_count + 1, dtype=np.intp)
    np.cumsum(np.bincount(small, minlength=group_count), out=bounds[1:])
    return order, bounds


def _quantiles_per_second(
    seconds: np.ndarray, values_s: np.ndarray, buckets: int
) -> dict[str, np.ndarray]:
    """Per bucket, ``SECOND_QUANTILES`` of its values (NaN when it has none).

    Interpolated as pandas' ``groupby().quantile()`` does (up from the lower neighbour), so
    the figures stay those it gave; one partition per second instead of a global sort.
    """
    inside = ~np.isnan(values_s) & (seconds >= 0) & (seconds < buckets)
    order, bounds = group_order(seconds[inside], buckets)
    grouped_s = values_s[inside][order]
    counts = np.diff(bounds)
    filled = np.flatnonzero(counts)
    starts, ends = bounds[filled], bounds[filled + 1]
    # Per filled second and quantile: where it falls in the second's sorted values.
    positions = np.multiply.outer(counts[filled] - 1, list(SECOND_QUANTILES.values()))
    lower = positions.astype(np.intp)  # positions >= 0: truncation is the floor
    upper = np.minimum(lower + 1, counts[filled, None] - 1)
    for start, end, kth in zip(starts, ends, np.hstack([lower, upper]), strict=True):
        grouped_s[start:end].partition(kth)
    low, high = grouped_s[starts[:, None] + lower], grouped_s[starts[:, None] + upper]
    fraction = positions % 1
    found = np.full((buckets, len(SECOND_QUANTILES)), np.nan)
    found[filled] = np.where(fraction == 0, low, low + (high - low) * fraction)
    return {name: found[:, column] for column, name in enumerate(SECOND_QUANTILES)}


def per_second(
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    outcome: pd.Series,
    origin_ns: int,
    end_ns: int,
) -> pd.DataFrame:
    """One row per second of the run: offered, sent, answers, drops, in flight, latency."""
    buckets = max(1, int((end_ns - origin_ns) // BUCKET_NS) + 1)
    answered, unanswered = reply_masks(outcome_codes(outcome))
    awaited = answered | unanswered
    intended_ns = numeric_values(requests["intended_ns"])
    sent_ns = numeric_values(requests["sent_ns"])
    first_answer_ns = stamps["first_answer_ns"].to_numpy(dtype="float64")
    dropped_ns = stamps["dropped_ns"].to_numpy(dtype="float64")
    frame = pd.DataFrame({"second": np.arange(buckets)})
    second = np.empty(len(requests))  # one column's buckets at a time
    for column, times_ns in (
        ("offered_rps", intended_ns),
        ("sent_rps", sent_ns),
        ("answers_rps", first_answer_ns),
        ("drops_rps", dropped_ns),
    ):
        frame[column] = _bucket_counts(bucket_of(times_ns, origin_ns, out=second), buckets)
    latency = _quantiles_per_second(
        bucket_of(intended_ns, origin_ns, out=second),
        seconds_between(first_answer_ns, intended_ns),
        buckets,
    )
    del second  # 80 MB per 10 M requests, not needed for the spans in flight
    # Replies awaited: from the send until the answer or the drop (lost: until the end).
    finish_ns = first_answer_ns[awaited]
    np.copyto(finish_ns, dropped_ns[awaited], where=np.isnan(finish_ns))
    np.copyto(finish_ns, float(end_ns), where=np.isnan(finish_ns))
    frame["in_flight"] = _in_flight(sent_ns[awaited], finish_ns, origin_ns, buckets)
    for name, values in latency.items():
        frame[name] = values
    return frame


def _in_flight(
    start_ns: np.ndarray, finish_ns: np.ndarray, origin_ns: int, buckets: int
) -> np.ndarray:
    """Per bucket, the spans started in it or before and not finished in it or before (one
    sent before the origin counts from bucket 0; one finishing after the run never ends)."""
    sent = ~np.isnan(start_ns)
    if not sent.all():
        start_ns, finish_ns = start_ns[sent], finish_ns[sent]
    changes = _clipped_counts(start_ns, origin_ns, buckets)
    changes -= _clipped_counts(finish_ns, origin_ns, buckets)
    return np.cumsum(changes)[:buckets].astype("float64")


def _clipped_counts(times_ns: np.ndarray, origin_ns: int, buckets: int) -> np.ndarray:
    seconds = bucket_of(times_ns, origin_ns)
    np.clip(seconds, 0, buckets, out=seconds)
    return np.bincount(seconds.astype(np.intp), minlength=buckets + 1)


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
    answered, _ = reply_masks(outcome_codes(outcome))
    first_answer_ns = stamps["first_answer_ns"].to_numpy(dtype="float64")[answered]
    time_s = seconds_between(first_answer_ns, numeric_values(requests["sent_ns"])[answered])
    missing = np.isnan(time_s)
    # As pandas' mean: NaN skipped by summing zeros in their place, in the same order.
    time_s[missing] = 0.0
    count = time_s.size - int(missing.sum())
    mean_time_s = float(time_s.sum() / count) if count else 0.0
    arrival_rps = float(window["answers_rps"].mean() + window["drops_rps"].mean())
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


def stage_codes(stage: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each request's load stage as a position in the returned names (-1: none)."""
    if isinstance(stage.dtype, pd.CategoricalDtype):
        return stage.cat.codes.to_numpy(), [str(name) for name in stage.cat.categories]
    codes, names = pd.factorize(stage, use_na_sentinel=True)
    return codes, [str(name) for name in names]


def first_and_last(
    groups: np.ndarray, times_ns: np.ndarray, group_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The earliest and the latest time of each group, as float64 (NaN times ignored).

    Accumulated in the times' own dtype: ``ufunc.at`` is twenty times slower when it has to
    convert, and converting the extremes after is the same (the conversion keeps order).
    """
    limits = np.iinfo(times_ns.dtype) if times_ns.dtype.kind in "iu" else np.finfo(times_ns.dtype)
    first = np.full(group_count, limits.max, dtype=times_ns.dtype)
    last = np.full(group_count, limits.min, dtype=times_ns.dtype)
    np.fmin.at(first, groups, times_ns)
    np.fmax.at(last, groups, times_ns)
    return first.astype("float64"), last.astype("float64")


def stage_table(
    requests: pd.DataFrame, stamps: pd.DataFrame, outcome: pd.Series, warmup_end_ns: int
) -> list[dict[str, Any]]:
    """Per load stage (warm-up trimmed): offered rate, answer throughput, backlog, latency.

    Stages in the order they first appear after the warm-up. The counts come from one
    ``bincount`` over (stage, outcome, sent) cells, the time spans from ``ufunc.at``, the
    latency from one grouping of the answered requests by stage. Answers, drops and the
    backlog are counted on the clock in each stage's steady window (``analysis.steady``):
    ``answers_rps`` is answers received per second there, not the stage's requests answered
    some time later.
    """
    codes, names = stage_codes(requests["stage"])
    if (codes < 0).any():
        if UNNAMED_STAGE not in names:
            names.append(UNNAMED_STAGE)
        codes = np.where(codes < 0, names.index(UNNAMED_STAGE), codes)
    stages = len(names)
    group = codes.astype(np.min_scalar_type(stages))  # one byte a request, for a few stages
    intended_ns = numeric_values(requests["intended_ns"])
    steady = intended_ns >= float(warmup_end_ns)  # compared as floats, as ever
    if WARMUP_STAGE in names:
        steady &= group != names.index(WARMUP_STAGE)
    group[~steady] = stages  # one more group, for the rows the table leaves out
    outcomes = outcome_codes(outcome)
    sent_ns = numeric_values(requests["sent_ns"])
    # Each request's (stage, outcome, sent or not) cell, numbered so one bincount counts all.
    cell = np.multiply(group, len(OUTCOMES), dtype=np.intp)
    cell += outcomes
    cell *= 2
    cell += ~np.isnan(sent_ns)
    cells = np.bincount(cell, minlength=(stages + 1) * len(OUTCOMES) * 2)
    counts = cells.reshape(stages + 1, len(OUTCOMES), 2)  # stage, outcome, sent or not
    answered = steady & (outcomes == OUTCOMES.index("answered"))
    del cell
    # A stage first appears on the first row or where the stage changes from the row before.
    is_change = np.ones(len(group), dtype=bool)
    np.not_equal(group[1:], group[:-1], out=is_change[1:])
    changes = np.flatnonzero(is_change)
    first_row = np.full(stages + 1, len(requests))
    np.minimum.at(first_row, group[changes], changes)
    first_ns, last_ns = first_and_last(group, intended_ns, stages + 1)
    first_answer_ns = stamps["first_answer_ns"].to_numpy(dtype="float64")
    latency_s = seconds_between(first_answer_ns, intended_ns)
    answered &= ~np.isnan(latency_s)
    order, bounds = group_order(group[answered], stages + 1)
    latency_s = latency_s[answered][order]
    shown = [
        index
        for index in sorted(range(stages), key=lambda i: first_row[i])
        if counts[index].sum() > 0
    ]
    latency = {
        index: percentiles_in_place_s(latency_s[bounds[index] : bounds[index + 1]])
        for index in shown
    }
    span_ns = np.maximum(last_ns[:stages] - first_ns[:stages], 1.0)
    # Each stage's own p99 time to first answer is its transition (see analysis.steady).
    settle_s = np.zeros(stages)
    for index in shown:
        settle_s[index] = latency[index]["p99"] or 0.0
    start_ns = first_ns[:stages] + transition_ns(span_ns, settle_s)
    window = _steady_counts(
        stamps, outcomes, group, intended_ns, sent_ns, start_ns, last_ns[:stages]
    )
    origin_ns = float(np.nanmin(intended_ns)) if len(intended_ns) else 0.0
    table = []
    for index in shown:
        requests_n = int(counts[index].sum())
        span_s = span_ns[index] / 1e9
        window_s = max((window.end_ns[index] - window.start_ns[index]) / 1e9, 1e-9)
        count = dict(zip(OUTCOMES, (int(n) for n in counts[index].sum(axis=1)), strict=True))
        awaited = count["answered"] + count["dropped"] + count["lost"]
        table.append(
            {
                "stage": names[index],
                "requests": requests_n,
                "offered_rps": round(requests_n / span_s, 3),
                "sent_rps": round(int(counts[index, :, 1].sum()) / span_s, 3),
                "steady_from_s": round((window.start_ns[index] - origin_ns) / 1e9, 3),
                "steady_to_s": round((window.end_ns[index] - origin_ns) / 1e9, 3),
                "owed": int(window.owed[index]),
                "answers": int(window.answers[index]),
                "drops": int(window.drops[index]),
                "answers_rps": round(int(window.answers[index]) / window_s, 3),
                "drops_rps": round(int(window.drops[index]) / window_s, 3),
                "backlog_start": int(window.backlog_start[index]),
                "backlog_end": int(window.backlog_end[index]),
                # Answered directly or inside a merged burst, of what the target accepted.
                "covered_share": round(
                    (count["answered"] + count["merged"]) / max(awaited + count["merged"], 1), 6
                ),
                "drop_rate": wilson_interval(count["dropped"], awaited),
                "loss_rate": wilson_interval(count["lost"], awaited),
                "first_answer_s": latency[index],
            }
        )
    return table


def _steady_counts(
    stamps: pd.DataFrame,
    outcomes: np.ndarray,
    group: np.ndarray,
    intended_ns: np.ndarray,
    sent_ns: np.ndarray,
    start_ns: np.ndarray,
    end_ns: np.ndarray,
) -> SteadyCounts:
    """``steady_counts`` of the stage table's windows, from the request columns."""
    answered, unanswered = reply_masks(outcomes)
    awaited = answered | unanswered
    first_answer_ns = stamps["first_answer_ns"].to_numpy(dtype="float64")
    dropped_ns = stamps["dropped_ns"].to_numpy(dtype="float64")
    # A reply awaited ends with its first answer or its drop, whichever came first.
    finish_ns = np.fmin(first_answer_ns[awaited], dropped_ns[awaited])
    return steady_counts(
        start_ns,
        end_ns,
        owed_group=group[awaited],
        owed_intended_ns=intended_ns[awaited],
        first_answer_ns=first_answer_ns,
        dropped_ns=dropped_ns,
        awaited_sent_ns=sent_ns[awaited],
        awaited_finish_ns=finish_ns,
    )
