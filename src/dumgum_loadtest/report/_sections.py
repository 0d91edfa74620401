"""The report page's later sections: breakdowns, endpoints, hygiene, cost, health, setup."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dumgum_loadtest.report import _format as f
from dumgum_loadtest.report._cost import designed_cost, is_designed
from dumgum_loadtest.report._html import (
    REDACTED,
    Markup,
    details,
    esc,
    figure,
    join,
    nested,
    paragraph,
    section,
    table,
    tag,
)
from dumgum_loadtest.report.plots import Plot

FEATURE_LABELS = {
    "chat_model": "chatModel",
    "language": "language",
    "generate_personality": "generatePersonality",
    "vision": "vision (any analysis)",
    "multiple_messages": "multipleMessagesPerReply",
    "engage": "engage type",
    "typing_delay": "replyTypingDelay",
    "test_mode": "testMode",
}
HYGIENE_DEFINITIONS = {
    "events": "events received in all",
    "duplicates": "answer.created delivered more than once (same answer id)",
    "out_of_order": "a request's first answer.created arrived before its answer.processing",
    "unmatched": "conversation events no request of this run claims",
    "late": "terminal events after their request's deadline (counted as lost)",
    "lost_after_stop": (
        "lost requests sent to a conversation DumGum had stopped (a stop reason received"
        " before the send, within its conversationStoppedUntil): expect no answer"
    ),
    "invalid_cost": (
        "answer.created whose answer.cost is missing or not a finite decimal from 0 to the"
        " plausible maximum (Infinity, NaN, negative, absurd, not a number): in no total"
    ),
}
# Shown within the row of the count they illustrate, not as a row of their own.
_HYGIENE_EXAMPLES = {"invalid_cost_examples": "invalid_cost"}
# Environment keys that could hold the process environment: never dumped.
_ENV_DUMP_KEYS = {"env", "environ", "environment", "env_vars", "environment_variables"}
_SECRET_LINE = re.compile(
    r"^(\W*[\w.-]*?(token|secret|password|api[_-]?key|authori[sz]ation)\s*[:=]).*$", re.I | re.M
)


def breakdown_section(summary: Mapping[str, Any], model_plot: Plot | None) -> Markup:
    """One table, a group of rows per feature; features with one value throughout in a line."""
    breakdowns = summary.get("breakdowns")
    groups = dict(breakdowns) if isinstance(breakdowns, Mapping) else {}
    rows: list[list[Any]] = []
    starts: set[int] = set()
    constant: list[str] = []
    for feature, values in groups.items():
        label = FEATURE_LABELS.get(str(feature), str(feature))
        values = [row for row in values or [] if isinstance(row, Mapping)]
        if len(values) == 1:
            constant.append(f"{label} = {f.plain(values[0].get('value'))}")
            continue
        starts.add(len(rows))
        for row in values:
            rows.append(
                [
                    label if len(rows) in starts else "",
                    row.get("value"),
                    f.count(row.get("requests")),
                    *(f.count(f.dig(row, "outcomes", name)) for name in f.OUTCOME_ORDER),
                    f.interval_short(row.get("drop_rate")),
                    f.seconds(f.dig(row, "first_answer_s", "p50")),
                    f.seconds(f.dig(row, "first_answer_s", "p99")),
                ]
            )
    headers = [
        "feature", "value", "requests", *(name.replace("_", " ") for name in f.OUTCOME_ORDER),
        "drop rate (95 % CI)", "first answer p50", "p99",
    ]  # fmt: skip
    parts: list[Any] = [
        paragraph(
            "Latency: time to first answer from the intended send time, answered requests. "
            "Drop rate of answered, dropped and lost, with its 95 % CI.",
            "muted",
        ),
        figure(model_plot, "No chat model had answers to plot."),
        table(headers, rows, numeric_from=2, group_starts=frozenset(starts)),
    ]
    if constant:
        parts.append(paragraph("The same for every request: " + "; ".join(constant) + ".", "muted"))
    return section("breakdowns", "Breakdowns by model and feature", *parts)


def endpoints_section(summary: Mapping[str, Any]) -> Markup:
    endpoints = summary.get("customer_endpoints")
    rows = []
    for kind, data in dict(endpoints).items() if isinstance(endpoints, Mapping) else []:
        if not isinstance(data, Mapping):
            continue
        rows.append(
            [
                str(kind).replace("_", " "),
                f.count(data.get("calls")),
                f.plain(f.number(data.get("per_enqueue"))),
                f.count(data.get("errors")),
                f.seconds(f.dig(data, "handler_s", "p50")),
                f.seconds(f.dig(data, "handler_s", "p99")),
                f.seconds(f.dig(data, "handler_s", "max")),
                f.count(f.dig(data, "response_bytes", "p50")),
                f.count(f.dig(data, "response_bytes", "max")),
            ]
        )
    headers = [
        "endpoint", "calls", "per accepted enqueue", "errors", "handler p50", "handler p99",
        "handler max", "response bytes p50", "max",
    ]  # fmt: skip
    return section(
        "endpoints",
        "Customer-endpoint load",
        paragraph(
            "The calls DumGum made to the customer's chat-history and profile endpoints while "
            "it worked (served by the harness's receiver), and how long each took to serve.",
            "muted",
        ),
        table(headers, rows),
    )


def hygiene_section(summary: Mapping[str, Any]) -> Markup:
    found = summary.get("hygiene")
    hygiene: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    keys = [*HYGIENE_DEFINITIONS, *(k for k in hygiene if k not in HYGIENE_DEFINITIONS)]
    examples = {
        counted: hygiene[key]
        for key, counted in _HYGIENE_EXAMPLES.items()
        if isinstance(hygiene.get(key), list) and hygiene[key]
    }
    rows = []
    for key in keys:
        if key in _HYGIENE_EXAMPLES:
            continue
        meaning = HYGIENE_DEFINITIONS.get(key, "")
        if key in examples:  # escaped as any cell: a hostile value is text, never markup
            meaning += "; e.g. " + ", ".join(repr(str(value)) for value in examples[key])
        rows.append([key.replace("_", " "), f.count(hygiene.get(key)), meaning])
    return section(
        "hygiene", "Event hygiene", table(["check", "count", "meaning"], rows, numeric_to=2)
    )


_ROW_NAMES = ("name", "key", "group", "detail", "model", "item", "line")


def _placeholder_paths(value: Any, path: str = "") -> list[str]:
    """What a section flags as resting on a placeholder: the items of any key naming
    placeholders, and the rows that carry a true placeholder flag (named by their own fields)."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "placeholder" not in str(key).lower():
                found.extend(_placeholder_paths(item, here))
            elif isinstance(item, list | tuple):
                found.extend(f.plain(v) for v in item)
            elif isinstance(item, str) and item:
                found.append(f"{here}: {item}")
            elif item is True:
                names = [f.plain(value[n]) for n in _ROW_NAMES if value.get(n) not in (None, "")]
                found.append(" / ".join(names) if names else path or here)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(_placeholder_paths(item, f"{path}[{index}]"))
    return list(dict.fromkeys(found))  # each once, in order


def cost_section(summary: Mapping[str, Any], plot: Plot | None = None) -> Markup:
    """The designed section for a cost section as the run builds it; any other shape (an
    older summary, a hand-made one) as generic tables, its placeholders flagged."""
    cost = summary.get("cost")
    if cost is None:
        return section(
            "cost", "Cost", paragraph("This run's summary has no cost section.", "muted")
        )
    if is_designed(cost):
        return section("cost", "Cost", *designed_cost(cost, plot))
    flagged = _placeholder_paths(cost)
    parts: list[Any] = []
    if flagged:
        items = join(tag("li", item) for item in flagged)
        parts.append(
            Markup(
                '<div class="warn"><b>Placeholder prices:</b> these figures rest on prices '
                f"DumGum does not publish; treat them as estimates.<ul>{items}</ul></div>"
            )
        )
    parts.append(nested(cost))
    return section("cost", "Cost", *parts)


def health_section(summary: Mapping[str, Any]) -> Markup:
    health = summary.get("health") if isinstance(summary.get("health"), Mapping) else {}
    health = health or {}
    lateness = health.get("schedule_lateness_s")
    lateness_row = [
        "schedule lateness (sent - intended)",
        *(f.seconds(f.dig(lateness, key)) for key in ("p50", "p99", "max")),
    ]
    bottleneck = bool(health.get("harness_bottleneck"))
    reasons = [str(r) for r in health.get("bottleneck_reasons") or []]
    verdict = (
        "The harness was the bottleneck: " + "; ".join(reasons) + "."
        if bottleneck
        else "The harness kept up: it sent on schedule and its servers did not lag."
    )
    cpu = health.get("generator_cpu_pct")
    rows = [
        ["requests never sent", f.count(health.get("not_sent"))],
        ["generator CPU, busiest worker", f.cpu_pct(f.dig(cpu, "max"))],
        ["generator workers reporting", f.count(f.dig(cpu, "workers"))],
        ["unreadable raw lines", f.count(summary.get("unreadable_lines"))],
    ]
    parts: list[Any] = [
        paragraph(verdict, "warn" if bottleneck else ""),
        table(["", "p50", "p99", "max"], [lateness_row]),
        table(["figure", "value"], rows),
    ]
    servers = health.get("servers")
    if isinstance(servers, Mapping) and servers:
        parts += [tag("h3", "Mock and receiver"), nested(servers)]
    notes = [str(n) for n in summary.get("notes") or []]
    if notes:
        parts += [
            tag("h3", "Notes from the run"),
            Markup(f"<ul>{join(tag('li', n) for n in notes)}</ul>"),
        ]
    return section("health", "Run health", *parts)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _environment(run_dir: Path) -> dict[str, Any] | None:
    text = _read_text(run_dir / "environment.json")
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if str(k).lower() not in _ENV_DUMP_KEYS}


def setup_section(run_dir: Path | None) -> Markup:
    title = "Scenario and environment"
    if run_dir is None:
        return section("setup", title, paragraph("Rendered without the run directory.", "muted"))
    parts: list[Any] = [paragraph(f"Run directory: {run_dir}", "muted")]
    environment = _environment(run_dir)
    parts.append(tag("h3", "Environment"))
    parts.append(nested(environment) if environment else paragraph("No environment.json.", "muted"))
    scenario = _read_text(run_dir / "scenario.yaml")
    if scenario is None:
        parts.append(paragraph("No scenario.yaml.", "muted"))
    else:
        redacted = _SECRET_LINE.sub(lambda m: f"{m.group(1)} {REDACTED}", scenario)
        redacted = f.SECRET_WORD.sub(REDACTED, redacted)
        parts.append(
            details("Scenario, as run (scenario.yaml)", Markup(f"<pre>{esc(redacted)}</pre>"))
        )
    return section("setup", title, *parts)
