"""Service-level objectives: each objective, its target, the measured value, pass or fail."""

from __future__ import annotations

from typing import Any

from dumgum_loadtest.scenarios.model import Slos


def _get(summary: dict[str, Any], *path: str) -> Any:
    node: Any = summary
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


_CENSORED = (
    "answered, dropped and lost requests from their intended send; a reply that never came"
    " counts as at least its deadline (merged, unresolved and send_failed left out)"
)
_RATE = "over the requests that awaited a reply: answered, dropped and lost"
# Per objective: which requests its figure counts, for the SLO table.
VIEWS = {
    "first_answer_p99_s": _CENSORED,
    "first_answer_p50_s": _CENSORED,
    "drop_rate_max": _RATE,
    "loss_rate_max": _RATE,
    "enqueue_p99_ms": "every sent request's enqueue round trip, from its actual send",
    "rejected_rate_max": "over the sent requests",
}
# objective -> (where in summary.json, how it compares, unit factor into the target's unit)
_OBJECTIVES: dict[str, tuple[tuple[str, ...], str, float]] = {
    "first_answer_p99_s": (
        ("latency_s", "first_answer", "from_intended", "censored", "p99"),
        "max",
        1.0,
    ),
    "first_answer_p50_s": (
        ("latency_s", "first_answer", "from_intended", "censored", "p50"),
        "max",
        1.0,
    ),
    "drop_rate_max": (("drop_rate", "rate"), "max", 1.0),
    "loss_rate_max": (("loss_rate", "rate"), "max", 1.0),
    "enqueue_p99_ms": (("latency_s", "enqueue", "from_sent", "all_sent", "p99"), "max", 1000.0),
    "rejected_rate_max": (("rejected_rate", "rate"), "max", 1.0),
}


def evaluate_slos(slos: Slos, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per objective the scenario sets; a missing measurement fails (no data, no pass)."""
    rows = []
    for name, target in slos.model_dump().items():
        if target is None:
            continue
        path, _, factor = _OBJECTIVES[name]
        raw = _get(summary, *path)
        measured = None if raw is None else round(float(raw) * factor, 6)
        rows.append(
            {
                "objective": name,
                "target": target,
                "measured": measured,
                "pass": measured is not None and measured <= target,
                "source": ".".join(path),
                "view": VIEWS[name],
            }
        )
    return rows
