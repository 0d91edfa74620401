"""Capacity of a stepped run: per plateau, the knee, and the maximum sustainable rate."""

from __future__ import annotations

from typing import Any

from dumgum_loadtest.scenarios.model import Slos

# The knee: the first plateau whose p99 is this many times the first plateau's.
KNEE_LATENCY_FACTOR = 2.0
# Below this share of accepted requests answered (alone or merged), a plateau falls behind.
KEEPING_UP_SHARE = 0.95


def _plateau_ok(stage: dict[str, Any], slos: Slos) -> bool:
    p99 = (stage.get("first_answer_s") or {}).get("p99")
    drop = (stage.get("drop_rate") or {}).get("rate") or 0.0
    loss = (stage.get("loss_rate") or {}).get("rate") or 0.0
    if slos.first_answer_p99_s is not None and (p99 is None or p99 > slos.first_answer_p99_s):
        return False
    if slos.drop_rate_max is not None and drop > slos.drop_rate_max:
        return False
    if slos.loss_rate_max is not None and loss > slos.loss_rate_max:
        return False
    return bool(stage.get("covered_share", 1.0) >= KEEPING_UP_SHARE)


def capacity_section(stages: list[dict[str, Any]], slos: Slos) -> dict[str, Any] | None:
    """None for a run with fewer than two plateaus."""
    if len(stages) < 2:
        return None
    ordered = sorted(stages, key=lambda s: s["offered_rps"])
    baseline = (ordered[0].get("first_answer_s") or {}).get("p99")
    knee = None
    for stage in ordered:
        p99 = (stage.get("first_answer_s") or {}).get("p99")
        if baseline and p99 and p99 > KNEE_LATENCY_FACTOR * baseline:
            knee = stage["offered_rps"]
            break
    sustainable = [s["offered_rps"] for s in ordered if _plateau_ok(s, slos)]
    best = max(sustainable) if sustainable else None
    if best is None:
        sentence = "No plateau met the SLOs: the system did not keep up at any offered rate."
    else:
        sentence = f"The maximum sustainable rate under the SLOs is {best:g} requests/s" + (
            f"; latency turns up (the knee) at {knee:g} requests/s." if knee else "."
        )
    return {
        "plateaus": [
            {
                "stage": s["stage"],
                "offered_rps": s["offered_rps"],
                "answers_rps": s["answers_rps"],
                "p99_s": (s.get("first_answer_s") or {}).get("p99"),
                "drop_rate": (s.get("drop_rate") or {}).get("rate"),
                "meets_slos": _plateau_ok(s, slos),
            }
            for s in ordered
        ],
        "knee_rps": knee,
        "max_sustainable_rps": best,
        "sentence": sentence,
    }
