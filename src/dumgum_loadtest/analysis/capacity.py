"""Capacity of a stepped run: per plateau, the knee, and the maximum sustainable rate.

A plateau (a load stage, warm-up left out) *keeps up* when, in its steady window (see
``analysis.steady``), neither of these holds:

- its answers fall short of the replies it owes by more than the noise of a Poisson count:
  ``owed - answers > NOISE_Z * sqrt(owed)``;
- its backlog (sent, awaiting a reply) grows by more than the noise of the two Poisson
  counts at the window's edges: ``end - start > NOISE_Z * sqrt(start + end)``.

The first catches a target that answers at a flat rate below the offered one, even when it
sheds the excess (drops at once: the backlog then stays flat); the second catches a queue
that grows slowly, within the first test's noise. A plateau is *sustainable* when it keeps
up and meets the scenario's SLOs that apply per plateau, whatever its latency.

The maximum sustainable rate is the highest offered rate of the plateaus, taken from the
lowest up, before the first one that is not sustainable; the knee is the first plateau, from
the lowest up, that does not keep up or whose p99 time to first answer is
``KNEE_LATENCY_FACTOR`` times the lowest plateau's.
"""

from __future__ import annotations

import math
from typing import Any

from dumgum_loadtest.scenarios.model import Slos

# The knee, unless a plateau falls behind first: p99 this many times the lowest plateau's.
KNEE_LATENCY_FACTOR = 2.0
# Standard deviations of the Poisson noise a shortfall or a backlog growth must exceed: one-
# sided, a plateau that keeps up is called short about once in 740 (normal approximation).
NOISE_Z = 3.0
# The SLOs a plateau can be judged by, from its own latency and drop and loss rates.
PLATEAU_SLOS = ("first_answer_p99_s", "first_answer_p50_s", "drop_rate_max", "loss_rate_max")


def shortfall_noise(owed: int) -> float:
    """How far answers may fall below the replies owed by chance alone (Poisson)."""
    return NOISE_Z * math.sqrt(max(owed, 1))


def backlog_noise(start: int, end: int) -> float:
    """How far the backlog may grow across a window by chance alone: a steady backlog is
    about Poisson at each edge, so the difference has a variance of about ``start + end``."""
    return NOISE_Z * math.sqrt(max(start + end, 1))


def keeping_up_reasons(stage: dict[str, Any]) -> list[str]:
    """Why a stage did not keep up (empty: it did), from its steady-window counts."""
    reasons = []
    window_s = max(stage["steady_to_s"] - stage["steady_from_s"], 1e-9)
    owed, answers = stage["owed"], stage["answers"]
    if owed - answers > shortfall_noise(owed):
        reasons.append(
            f"answers {answers / window_s:,.1f}/s short of the {owed / window_s:,.1f}/s owed"
        )
    growth = stage["backlog_end"] - stage["backlog_start"]
    if growth > backlog_noise(stage["backlog_start"], stage["backlog_end"]):
        reasons.append(f"backlog grew by {growth:,} ({stage['backlog_end']:,} in flight)")
    return reasons


def slo_reasons(stage: dict[str, Any], slos: Slos) -> list[str]:
    """Which of the SLOs that apply per plateau the stage misses (empty: none)."""
    latency = stage.get("first_answer_s") or {}
    reasons = []
    for name, key in (("first_answer_p99_s", "p99"), ("first_answer_p50_s", "p50")):
        target = getattr(slos, name)
        measured = latency.get(key)
        if target is not None and (measured is None or measured > target):
            shown = "none" if measured is None else f"{measured:.3f} s"
            reasons.append(f"{key} first answer {shown} above the {target:g} s SLO")
    for name, key in (("drop_rate_max", "drop_rate"), ("loss_rate_max", "loss_rate")):
        target = getattr(slos, name)
        rate = (stage.get(key) or {}).get("rate") or 0.0
        if target is not None and rate > target:
            reasons.append(f"{key.replace('_', ' ')} {rate:.2%} above the {target:.2%} SLO")
    return reasons


def _judged_by(slos: Slos) -> str:
    """How the sentence names what the plateaus were judged by."""
    if not any(getattr(slos, name) is not None for name in Slos.model_fields):
        return "no SLOs set"
    if not any(getattr(slos, name) is not None for name in PLATEAU_SLOS):
        return "none of the SLOs applies per plateau"
    return "under the SLOs"


def _sentence(
    plateaus: list[dict[str, Any]], best: float | None, knee: float | None, slos: Slos
) -> str:
    judged = _judged_by(slos)
    under = judged == "under the SLOs"
    # "under the SLOs" reads inside the sentence; the other two open it.
    opening = "" if under else f"{judged}: "
    within = " under the SLOs" if under else ""
    knee_text = (
        f"; latency turns up or answers stop keeping up (the knee) at {knee:,.1f} requests/s"
        if knee is not None
        else ""
    )
    if best is None:
        lowest = plateaus[0]
        text = (
            f"{opening}no plateau was sustainable{within}: even the lowest, "
            f"{lowest['offered_rps']:,.1f} requests/s, failed ({'; '.join(lowest['reasons'])})."
        )
    elif all(plateau["sustainable"] for plateau in plateaus):
        text = (
            f"{opening}every plateau was sustainable{within}: the maximum sustainable rate is at "
            f"least {best:,.1f} requests/s, the highest offered{knee_text}."
        )
    else:
        text = (
            f"{opening}the maximum sustainable rate{within} is {best:,.1f} requests/s (answers "
            f"keep up with the offered rate, backlog steady){knee_text}."
        )
    return text[0].upper() + text[1:]


def capacity_section(stages: list[dict[str, Any]], slos: Slos) -> dict[str, Any] | None:
    """None for a run with fewer than two plateaus."""
    if len(stages) < 2:
        return None
    ordered = sorted(stages, key=lambda s: s["offered_rps"])
    plateaus = []
    for stage in ordered:
        window_s = max(stage["steady_to_s"] - stage["steady_from_s"], 1e-9)
        behind = keeping_up_reasons(stage)
        missed = slo_reasons(stage, slos)
        plateaus.append(
            {
                "stage": stage["stage"],
                "offered_rps": stage["offered_rps"],
                "owed_rps": round(stage["owed"] / window_s, 3),
                "answers_rps": stage["answers_rps"],
                "drops_rps": stage["drops_rps"],
                "backlog_growth": stage["backlog_end"] - stage["backlog_start"],
                "p99_s": (stage.get("first_answer_s") or {}).get("p99"),
                "drop_rate": (stage.get("drop_rate") or {}).get("rate"),
                "keeps_up": not behind,
                "meets_slos": not missed,
                "sustainable": not behind and not missed,
                "reasons": behind + missed,
            }
        )
    baseline = plateaus[0]["p99_s"]
    knee = None
    for plateau in plateaus:
        p99 = plateau["p99_s"]
        slower = bool(baseline and p99 and p99 > KNEE_LATENCY_FACTOR * baseline)
        if slower or not plateau["keeps_up"]:
            knee = plateau["offered_rps"]
            break
    best = None
    for plateau in plateaus:  # from the lowest up, to the first that is not sustainable
        if not plateau["sustainable"]:
            break
        best = plateau["offered_rps"]
    return {
        "plateaus": plateaus,
        "knee_rps": knee,
        "max_sustainable_rps": best,
        "judged_by": _judged_by(slos),
        "sentence": _sentence(plateaus, best, knee, slos),
    }


def capacity_lines(capacity: dict[str, Any] | None) -> list[str]:
    """The capacity section as terminal lines: the sentence, then one line per plateau."""
    if not capacity:
        return []
    lines = [f"capacity: {capacity['sentence']}"]
    for plateau in capacity["plateaus"]:
        verdict = "sustainable" if plateau["sustainable"] else "NOT sustainable"
        reasons = "; ".join(plateau.get("reasons") or [])
        lines.append(
            f"  {plateau['stage']}: offered {plateau['offered_rps']:,.1f}/s,"
            f" answers {plateau['answers_rps']:,.1f}/s,"
            f" backlog {plateau['backlog_growth']:+,}: {verdict}"
            + (f" ({reasons})" if reasons else "")
        )
    return lines
