"""Number formatting and safe look-ups shared by the HTML and the Markdown reports.

Every value comes from ``summary.json``, where a figure may be missing, ``None`` or NaN; each
formatter returns a readable dash for those instead of raising.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

DASH = "\u2013"  # en dash: a missing figure
OUTCOME_ORDER = (
    "answered",
    "merged",
    "dropped",
    "rejected",
    "not_sent",
    "send_failed",
    "unresolved",
    "lost",
)
# One line each, as the analysis classifies (analysis/outcomes.py).
OUTCOME_DEFINITIONS = {
    "answered": "a first answer.created carried this request's correlation tag",
    "merged": "no reply of its own, but its pair's reply covered it: it sat in the same buffer "
    "batch as the request that reply names (the merge rules of the target), and the reply "
    "arrived after it was sent",
    "dropped": "DumGum sent conversation.dropped for it",
    "rejected": "the enqueue itself answered 4xx/5xx",
    "not_sent": "never sent: the generator fell too far behind its schedule, or the run ended",
    "send_failed": "the send did not complete (connection error, timeout, stopped before the "
    "response) and no event names it; not in the loss rate",
    "unresolved": "accepted, no reply yet when the observation ended, before its deadline "
    "(the run stopped early or settling hit its bound); not in the loss rate",
    "lost": "accepted, and no reply covered it although the observation outlived its deadline "
    "(or the target confirmed nothing was pending)",
}
STAGE_LABELS = {
    "enqueue": "enqueue round trip",
    "processing": "to answer.processing",
    "first_answer": "to first answer.created",
    "last_message": "to last message",
}
PERCENTILE_KEYS = ("p50", "p90", "p95", "p99", "p999", "max")
PERCENTILE_LABELS = {"p999": "p99.9"}
# Keys whose values must never reach a report, whatever a section holds.
# A key that names a credential ends in one of these words ("api_token", not "input_tokens").
_SECRET_KEY = re.compile(
    r"(^|[_\-.])(token|secret|password|passwd|api[_-]?key|apikey|authori[sz]ation|cookie|"
    r"credentials?)$",
    re.I,
)
_SECRET_VALUE = re.compile(r"^(sk|pk|rk)[-_][A-Za-z0-9_-]{8,}|^Bearer\s", re.I)
# The same shapes anywhere inside free text (a scenario file's comments, a note).
SECRET_WORD = re.compile(r"\b(sk|pk|rk)[-_][A-Za-z0-9_-]{8,}|\bBearer\s+\S+", re.I)


def number(value: Any) -> float | None:
    """A finite float, or None for anything missing, NaN, infinite or not numeric."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def money(value: Any) -> Decimal | None:
    """A finite Decimal amount from summary.json's money strings ("0.0250"), or None.

    Money stays Decimal from the summary to the page; only a chart turns it into floats."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def eur(value: Any, places: int = 4, currency: str = "EUR", sign: bool = False) -> str:
    """Money with its currency: ``1,234.5600 EUR``; ``sign`` writes a + before gains."""
    amount = money(value)
    if amount is None:
        return DASH
    text = f"{amount:{'+' if sign else ''},.{places}f}"
    return f"{text.replace('-', MINUS)} {currency}"


MINUS = "\u2212"  # a real minus sign: a loss reads as negative at a glance


def dig(data: Any, *path: str) -> Any:
    """``data[a][b]...``, or None as soon as a level is missing or not a mapping."""
    node = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def seconds(value: Any) -> str:
    """A duration with a unit that suits its size: µs, ms or s."""
    v = number(value)
    if v is None:
        return DASH
    size = abs(v)
    if size == 0:
        return "0 s"
    if size < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if size < 1:
        return f"{v * 1e3:.1f} ms"
    if size < 100:
        return f"{v:.2f} s"
    return f"{v:.0f} s"


def count(value: Any) -> str:
    v = number(value)
    if v is None:
        return DASH
    return f"{v:,.0f}" if v == int(v) else f"{v:,.3f}"


def quantity(value: Any) -> str:
    v = number(value)
    return DASH if v is None else f"{v:,.1f}"


def rate_rps(value: Any) -> str:
    v = number(value)
    return DASH if v is None else f"{v:,.1f} req/s"


def percent(value: Any, digits: int = 2) -> str:
    v = number(value)
    return DASH if v is None else f"{v * 100:.{digits}f} %"


def plain(value: Any) -> str:
    """Any scalar as text: numbers compact, None as a dash."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else DASH
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def interval(section: Any) -> str:
    """A rate with its 95 % CI and the counts behind it: ``0.50 % [0.2 %, 1.1 %] (3 of 600)``."""
    if not isinstance(section, Mapping) or number(section.get("rate")) is None:
        of = section.get("of") if isinstance(section, Mapping) else None
        return f"{DASH} (nothing to count: {plain(of or 0)} awaited)"
    return (
        f"{percent(section.get('rate'))} [{percent(section.get('low'))}, "
        f"{percent(section.get('high'))}] ({count(section.get('count'))} of "
        f"{count(section.get('of'))})"
    )


def interval_short(section: Any) -> str:
    """A rate and its 95 % CI in few characters, for wide tables: ``0.50 % (0.20-1.10 %)``."""
    if not isinstance(section, Mapping) or number(section.get("rate")) is None:
        return DASH
    low, high = number(section.get("low")), number(section.get("high"))
    bounds = "" if low is None or high is None else f" ({low * 100:.2f}\u2013{high * 100:.2f} %)"
    return f"{percent(section.get('rate'))}{bounds}"


def cpu_pct(value: Any) -> str:
    v = number(value)
    return DASH if v is None else f"{v:.0f} %"


def slo_value(objective: str, value: Any) -> str:
    """An SLO figure in the unit its name carries (``_s``, ``_ms``, rates as percent)."""
    v = number(value)
    if v is None:
        return DASH
    if objective.endswith("_ms"):
        return f"{v:,.1f} ms"
    if objective.endswith("_s"):
        return seconds(v)
    if "rate" in objective:
        return percent(v)
    return plain(v)


def load_span(summary: Mapping[str, Any]) -> str:
    """How long the load was: as planned, or for a run cut short, how long it actually ran
    (``health.load_ran_s``, from the records)."""
    planned, warmup = plain(summary.get("duration_s")), plain(summary.get("warmup_s"))
    ran_s = number(dig(summary, "health", "load_ran_s"))
    if summary.get("interrupted") and ran_s is not None:
        return f"{plain(ran_s)} s of load ran (of {planned} s planned, {warmup} s warm-up)"
    return f"{planned} s of load ({warmup} s warm-up)"


def verdict(summary: Mapping[str, Any]) -> tuple[str, str]:
    """``("PASS"|"FAIL"|"NO SLOS", one-line reason)`` from the summary's SLO rows."""
    rows = [row for row in summary.get("slo") or [] if isinstance(row, Mapping)]
    if not rows:
        return "NO SLOS", "The scenario sets no service-level objectives: nothing to judge."
    failed = [str(row.get("objective")) for row in rows if not row.get("pass")]
    caveat = ""
    if dig(summary, "health", "harness_bottleneck"):
        caveat += " Not a valid measurement of the target: the harness was the bottleneck."
    if summary.get("interrupted"):
        caveat += " The run was cut short: this judges only the part that ran."
    if calibration_failed(summary):
        caveat += " Not a valid measurement: the harness failed its calibration."
    if failed:
        return "FAIL", f"{len(failed)} of {len(rows)} SLOs failed: {', '.join(failed)}.{caveat}"
    return "PASS", f"All {len(rows)} SLOs hold.{caveat}"


def calibration_failed(summary: Mapping[str, Any]) -> bool:
    calibration = summary.get("calibration")
    return isinstance(calibration, Mapping) and calibration.get("passed") is False


def warnings(summary: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The warnings that belong above everything else, each with its reasons."""
    found: list[tuple[str, list[str]]] = []
    health = summary.get("health") if isinstance(summary.get("health"), Mapping) else {}
    if health and health.get("harness_bottleneck"):
        reasons = [str(r) for r in health.get("bottleneck_reasons") or []]
        found.append(
            (
                "The harness itself was the bottleneck: these figures measure the load "
                "generator or the receiver, not the target.",
                reasons,
            )
        )
    if summary.get("interrupted"):
        status = summary.get("status") or "unknown"
        found.append(
            (
                f"This run was cut short (status: {status}): the figures cover only what ran "
                "before it stopped.",
                [str(note) for note in summary.get("notes") or []],
            )
        )
    if calibration_failed(summary):
        checks = dig(summary, "calibration", "checks") or []
        found.append(
            (
                "The harness failed its calibration against the embedded mock (run"
                " --calibrate): it did not recover figures known in advance, so this run is"
                " invalid.",
                [
                    str(check.get("rule"))
                    for check in checks
                    if isinstance(check, Mapping) and not check.get("passed")
                ],
            )
        )
    unreadable = number(summary.get("unreadable_lines"))
    if unreadable:
        found.append((f"Raw record lines unreadable and skipped: {unreadable:.0f}.", []))
    return found


def outcome_rows(summary: Mapping[str, Any]) -> tuple[list[tuple[str, int, float | None]], int]:
    """``[(outcome, count, share of scheduled)]`` in the canonical order, and the scheduled."""
    outcomes = summary.get("outcomes") if isinstance(summary.get("outcomes"), Mapping) else {}
    scheduled = int(number(dig(summary, "requests", "scheduled")) or 0)
    names = [*OUTCOME_ORDER, *(k for k in outcomes or {} if k not in OUTCOME_ORDER)]
    rows = []
    for name in names:
        n = int(number((outcomes or {}).get(name)) or 0)
        rows.append((name, n, n / scheduled if scheduled else None))
    return rows, scheduled


def time_scale_note(summary: Mapping[str, Any]) -> str:
    scale = number(summary.get("time_scale"))
    if scale is None or scale == 1:
        return "Latencies are wall-clock seconds as the harness measured them."
    return (
        f"Latencies are wall-clock seconds as the harness measured them; the mock ran at time "
        f"scale {scale:g}, so 1 s here is {1 / scale:g} s of simulated DumGum time."
    )


def is_secret(key: str, value: Any) -> bool:
    """A key or a value that looks like a credential: redacted, never printed."""
    return bool(_SECRET_KEY.search(key)) or (
        isinstance(value, str) and bool(_SECRET_VALUE.search(value.strip()))
    )
