"""``analyse(run_dir)``: every figure of a run from its raw records, as the summary dict.

The summary is the authoritative record (``summary.json``, schema in
``schemas/summary.schema.json``); the reports are rebuilt from it and from the tables.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dumgum_loadtest.analysis.capacity import capacity_section
from dumgum_loadtest.analysis.hygiene import (
    customer_endpoint_load,
    event_hygiene,
    invalid_costs,
    lost_after_stop,
)
from dumgum_loadtest.analysis.latency import latency_section, request_timestamps
from dumgum_loadtest.analysis.merging import MergeRules
from dumgum_loadtest.analysis.outcomes import (
    AWAITED,
    DEADLINE_GRACE_S,
    OUTCOMES,
    OutcomeRules,
    count_outcomes,
    outcome_codes,
    resolve,
)
from dumgum_loadtest.analysis.slo import evaluate_slos
from dumgum_loadtest.analysis.stats import percentiles_s, wilson_interval
from dumgum_loadtest.analysis.tables import RunTables, load_run_tables
from dumgum_loadtest.analysis.timeseries import littles_law, per_second, stage_table
from dumgum_loadtest.calibration import read_result as read_calibration
from dumgum_loadtest.records import NOT_SENT, TRANSPORT_ERROR
from dumgum_loadtest.scenarios import Scenario, load_scenario

SUMMARY_SCHEMA_VERSION = 2
BREAKDOWN_FEATURES = (
    "chat_model",
    "language",
    "generate_personality",
    "vision",
    "multiple_messages",
    "engage",
    "typing_delay",
    "test_mode",
)
# The harness is the bottleneck when it sends this late, or leaves requests unsent.
HARNESS_LATE_P99_S = 0.05
HARNESS_CPU_PCT = 90.0


@dataclass
class Analysis:
    """The summary plus the frames the report plots from."""

    summary: dict[str, Any]
    requests: pd.DataFrame
    stamps: pd.DataFrame
    outcome: pd.Series
    seconds: pd.DataFrame


def outcome_rules(
    run_dir: Path, scenario: Scenario, meta: dict[str, Any], time_scale: float
) -> OutcomeRules:
    """The merge rules of the run's target and how its observation ended, from its files.

    The mock's model is the one the run wrote (``mock-config.yaml``), else the scenario's; a
    real URL gets DumGum's inferred rules (the mock's defaults). A completed run whose
    settling did not stop at its bound saw everything it waited for: nothing is unresolved.
    """
    config: Any = scenario.mock_model if scenario.target == "mock" else {}
    kept = run_dir / "mock-config.yaml"
    if scenario.target == "mock" and kept.is_file():
        with contextlib.suppress(OSError, yaml.YAMLError):  # else the scenario's copy
            config = yaml.safe_load(kept.read_text()) or {}
    lag = (read_json(run_dir / "mock-ledger.json").get("gauges") or {}).get("loop_lag_ms")
    lag_p99_ms = lag.get("p99") if isinstance(lag, dict) else None
    settle = meta.get("settle")
    settle = settle if isinstance(settle, dict) else {}
    observed = meta.get("observed_until_ns")
    return OutcomeRules(
        merge=MergeRules.from_mock_config(
            config if isinstance(config, dict) else {},
            time_scale,
            float(lag_p99_ms) if isinstance(lag_p99_ms, int | float) else None,
        ),
        observed_until_ns=float(observed) if isinstance(observed, int | float) else None,
        nothing_pending=meta.get("status") == "completed" and settle.get("ended_by") != "bound",
    )


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _breakdowns(
    requests: pd.DataFrame, outcomes: np.ndarray, first_answer_s: pd.Series
) -> dict[str, list[dict[str, Any]]]:
    """Per value of each feature: outcomes, drop rate, first-answer percentiles."""
    tables: dict[str, list[dict[str, Any]]] = {}
    latency_s = first_answer_s.to_numpy(dtype="float64")
    answered = np.flatnonzero((outcomes == OUTCOMES.index("answered")) & ~np.isnan(latency_s))
    answered_s = latency_s[answered]
    for feature in BREAKDOWN_FEATURES:
        codes, values = pd.factorize(requests[feature], use_na_sentinel=True)
        labels = [str(value) for value in values]
        if (codes < 0).any():
            codes = np.where(codes < 0, len(labels), codes)
            labels.append("none")
        # One pass counts every (value, outcome) cell; one stable sort of the answered rows by
        # value puts each value's latencies side by side for its percentiles.
        cells = np.bincount(codes * len(OUTCOMES) + outcomes, minlength=len(labels) * len(OUTCOMES))
        table = cells.reshape(len(labels), len(OUTCOMES))
        answered_codes = codes[answered].astype(np.min_scalar_type(len(labels)))  # radix sort
        grouped_s = answered_s[np.argsort(answered_codes, kind="stable")]
        ends = np.cumsum(np.bincount(answered_codes, minlength=len(labels)))
        rows = []
        for index, label in enumerate(labels):
            counts = {name: int(n) for name, n in zip(OUTCOMES, table[index], strict=True)}
            awaited = sum(counts[name] for name in AWAITED)
            start = int(ends[index - 1]) if index else 0
            rows.append(
                {
                    "value": label,
                    "requests": int(table[index].sum()),
                    "outcomes": counts,
                    "drop_rate": wilson_interval(counts["dropped"], awaited),
                    "first_answer_s": percentiles_s(grouped_s[start : int(ends[index])]),
                }
            )
        tables[feature] = sorted(rows, key=lambda row: -row["requests"])
    return tables


def _health(requests: pd.DataFrame, run_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    servers = meta.get("servers", {})
    sent = requests["sent_ns"].notna()
    lateness_s = (requests.loc[sent, "sent_ns"] - requests.loc[sent, "intended_ns"]) / 1e9
    progress = [read_json(p) for p in sorted((run_dir / "raw").glob("progress-*.json"))]
    # The run's own tick-by-tick maximum when it kept one; else each worker's last sample.
    cpu = [float(p.get("cpu_pct", 0.0)) for p in progress]
    if meta.get("generator_cpu_max_pct") is not None:
        cpu.append(float(meta["generator_cpu_max_pct"]))
    lateness = percentiles_s(lateness_s)
    not_sent = int((requests["send_state"] == NOT_SENT).sum())
    reasons = []
    if (lateness["p99"] or 0) > HARNESS_LATE_P99_S:
        reasons.append(f"the generator sent late (p99 {lateness['p99']:.3f} s behind schedule)")
    if not_sent:
        reasons.append(f"{not_sent} requests were never sent (generator behind schedule)")
    if cpu and max(cpu) > HARNESS_CPU_PCT:
        reasons.append(f"a generator worker ran at {max(cpu):.0f} % CPU")
    for name, info in servers.items():
        lag = (info or {}).get("loop_lag_ms", {}) if isinstance(info, dict) else {}
        if isinstance(lag, dict) and (lag.get("p99") or 0) > 100:
            reasons.append(f"the {name}'s event loop lagged (p99 {lag['p99']:.0f} ms)")
    # The mock's view of the customer side (the receiver): what it could not hand over there
    # is lost through the harness, not the target (None: no mock ledger, e.g. a real URL).
    ledger = read_json(run_dir / "mock-ledger.json")
    given_up = _ledger_count(ledger, "deliveries_given_up")
    call_failures = _ledger_count(ledger, "customer_call_failures")
    if given_up:
        reasons.append(
            f"the mock gave up delivering {given_up} webhook events: the receiver (customer"
            " side) failed"
        )
    if call_failures:
        reasons.append(
            f"{call_failures} calls to the customer endpoints (profile, chat history) failed:"
            " the receiver (customer side) failed"
        )
    # How long the load ran by the records (a run cut short ran less than its scenario).
    load_ran_s = None
    if len(requests):
        first_ns = requests["intended_ns"].min()
        last_ns = max(
            v for v in (requests["intended_ns"].max(), requests["sent_ns"].max()) if pd.notna(v)
        )
        load_ran_s = round(float(last_ns - first_ns) / 1e9, 1)
    return {
        "schedule_lateness_s": lateness,
        "not_sent": not_sent,
        "generator_cpu_pct": {"max": max(cpu) if cpu else None, "workers": len(progress)},
        "servers": servers,
        "harness_bottleneck": bool(reasons),
        "bottleneck_reasons": reasons,
        "load_ran_s": load_ran_s,
        "deliveries_given_up": given_up,
        "customer_call_failures": call_failures,
    }


def _ledger_count(ledger: dict[str, Any], key: str) -> int | None:
    value = ledger.get(key) if ledger else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def analyse(run_dir: Path, scenario: Scenario | None = None) -> Analysis:
    """Everything the summary and the reports say, from the run directory alone."""
    scenario = scenario or load_scenario(run_dir / "scenario.yaml")
    meta = read_json(run_dir / "run-meta.json")
    environment = read_json(run_dir / "environment.json")
    time_scale = float(environment.get("time_scale") or scenario.mock.get("time_scale", 1.0))
    tables = load_run_tables(run_dir, meta.get("run_id"))
    requests, joined = tables.requests, tables.events
    stamps = request_timestamps(requests, joined)
    rules = outcome_rules(run_dir, scenario, meta, time_scale)
    resolution = resolve(requests, stamps, rules)
    outcome = resolution.outcome
    stamps["covering_reply_ns"] = resolution.covering_reply_ns
    codes = outcome_codes(outcome)
    status = requests["status"]
    awaited = int(outcome.isin(AWAITED).sum())
    sent = int((requests["send_state"] != NOT_SENT).sum())
    origin_ns = int(requests["intended_ns"].min()) if len(requests) else 0
    last_event_ns = np.nanmax(joined.recv_ns) if np.isfinite(joined.recv_ns).any() else np.nan
    end_candidates = [requests["intended_ns"].max(), last_event_ns]
    end_ns = int(max(v for v in end_candidates if pd.notna(v))) if len(requests) else 0
    seconds = per_second(requests, stamps, outcome, origin_ns, end_ns)
    warmup_s = int(scenario.warmup_s)
    load_end_s = int(scenario.run_duration_s)
    steady = slice(warmup_s, max(load_end_s, warmup_s + 1))
    deadline_ns = requests["intended_ns"].to_numpy(dtype="float64") + 1e9 * (
        requests["max_processing_s"].to_numpy(dtype="float64") * time_scale + DEADLINE_GRACE_S
    )
    first_answer_s = (stamps["first_answer_ns"] - requests["intended_ns"].astype("float64")) / 1e9
    stages = stage_table(requests, stamps, outcome, origin_ns + warmup_s * 1_000_000_000)
    goodput = None
    if scenario.slos.first_answer_p99_s is not None:
        within = (outcome == "answered") & (first_answer_s <= scenario.slos.first_answer_p99_s)
        span_s = max(load_end_s - warmup_s, 1)
        steady_mask = requests["intended_ns"] >= origin_ns + warmup_s * 1_000_000_000
        goodput = round(int((within & steady_mask).sum()) / span_s, 3)
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "run_id": meta.get("run_id") or environment.get("run_id"),
        "scenario": scenario.name,
        "target": "mock" if scenario.target == "mock" else "url",
        "status": meta.get("status", "unknown"),
        "interrupted": meta.get("status") != "completed",
        "notes": [*meta.get("notes", []), *tables.notes],
        "time_scale": time_scale,
        "duration_s": scenario.run_duration_s,
        "warmup_s": scenario.warmup_s,
        "workers": environment.get("workers"),
        "requests": {
            "scheduled": len(requests),
            "sent": sent,
            "accepted": int(status.between(200, 299).sum()),
            "rejected": int((status >= 400).sum()),
            "not_sent": int((requests["send_state"] == NOT_SENT).sum()),
            "transport_errors": int((requests["send_state"] == TRANSPORT_ERROR).sum()),
        },
        "outcomes": count_outcomes(codes),
        "rejected_by_status": {
            str(code): int(n)
            for code, n in status[status >= 400].astype("int64").value_counts().sort_index().items()
        },
        "drop_rate": wilson_interval(int((outcome == "dropped").sum()), awaited),
        "loss_rate": wilson_interval(int((outcome == "lost").sum()), awaited),
        "rejected_rate": wilson_interval(int((status >= 400).sum()), sent),
        "latency_s": latency_section(requests, stamps, outcome, time_scale),
        "goodput_rps": goodput,
        "little": littles_law(seconds, requests, stamps, outcome, steady),
        "stages": stages,
        "capacity": capacity_section(stages, scenario.slos),
        "breakdowns": _breakdowns(requests, codes, first_answer_s),
        "customer_endpoints": customer_endpoint_load(
            tables.calls, int(status.between(200, 299).sum())
        ),
        "hygiene": {
            **event_hygiene(joined, stamps, deadline_ns),
            "lost_after_stop": lost_after_stop(requests, codes, joined),
            **invalid_costs(joined),
        },
        "health": _health(requests, run_dir, meta),
        "unreadable_lines": tables.unreadable_lines,
    }
    summary["slo"] = evaluate_slos(scenario.slos, summary)
    summary["passed"] = all(row["pass"] for row in summary["slo"])
    ledger = read_json(run_dir / "mock-ledger.json")
    if ledger:
        summary["mock_ledger"] = ledger
    summary["cost"] = _cost(run_dir, tables, outcome, time_scale, scenario, ledger)
    calibration = read_calibration(run_dir)
    if calibration is not None:
        summary["calibration"] = calibration
    return Analysis(summary, requests, stamps, outcome, seconds)


def _cost(
    run_dir: Path,
    tables: RunTables,
    outcome: pd.Series,
    time_scale: float,
    scenario: Scenario,
    ledger: dict[str, Any],
) -> dict[str, Any]:
    from dumgum_loadtest.cost.section import RUN_PRICE_SHEET, cost_section
    from dumgum_loadtest.cost.sheet import load_price_sheet

    kept = run_dir / RUN_PRICE_SHEET
    return cost_section(
        tables,
        outcome,
        time_scale=time_scale,
        sheet=load_price_sheet(kept) if kept.is_file() else None,
        scenario=scenario,
        mock_ledger=ledger or None,
    )
