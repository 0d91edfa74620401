"""The report page's cost section, designed for a reader rather than dumped from the JSON.

Top down: projected vs measured as big figures with the difference and its named reasons,
the per-feature chart (per 1,000 conversations), the features and chat models as tables that
scroll in their own box, the cross-checks, and the attribution rules as numbered footnotes
(the full texts folded below them). Every amount stays a Decimal until it is text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeGuard

from dumgum_loadtest.cost.rules import RULES, RUN_VISION_RULE, SHORT_RULES
from dumgum_loadtest.report import _format as f
from dumgum_loadtest.report._html import Markup, details, esc, figure, join, paragraph, table, tag
from dumgum_loadtest.report.plots import Plot

FEATURE_NAMES = {
    "replies": "Replies",
    "test_mode": "testMode replies",
    "engage": "Engage (proactive) replies",
    "merged": "Merged enqueues",
    "split_followups": "Split follow-up messages",
    "vision": "Vision analyses",
    "soulengine": "SoulEngine personas",
    "dropped": "Dropped conversations",
}
COUNTED_IN = {
    "total": "in the total",
    "replies": "part of replies, not added again",
    None: "not billed",
}
REASON_NAMES = {
    "test_mode": "testMode priced as if live",
    "reply_price": "sheet price vs answer.cost",
    "vision": "vision analyses",
    "soulengine": "SoulEngine fees",
    "split_followups": "split follow-ups charged",
    "unmatched_answers": "answers matched to no request",
}


def _rows(value: Any) -> list[Mapping[str, Any]]:
    return [row for row in value or [] if isinstance(row, Mapping)] if _is_list(value) else []


def _is_list(value: Any) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def per_thousand(amount: Any, conversations: Any) -> Decimal | None:
    """``amount`` per 1,000 conversations (Decimal), or None without both figures."""
    money = f.money(amount)
    n = f.number(conversations)
    if money is None or not n or n < 0 or n != int(n):
        return None
    return money * 1000 / int(n)


def _figures(cost: Mapping[str, Any], currency: str) -> Markup:
    """Projected and measured side by side, the difference, and the two unit costs."""
    difference = f.money(f.dig(cost, "difference", "projected_minus_measured_eur"))
    cells = [
        (
            "projected",
            f.eur(f.dig(cost, "projected", "total_eur"), currency=currency),
            "the price sheet applied to what the run did, every reply as if live",
        ),
        (
            "measured",
            f.eur(f.dig(cost, "measured", "total_eur"), currency=currency),
            "the sum of answer.cost received",
        ),
        (
            "difference",
            f.eur(difference, currency=currency, sign=True),
            "projected minus measured, explained below",
        ),
        (
            "billable",
            f.eur(f.dig(cost, "projected_billable", "total_eur"), currency=currency),
            "projected with testMode replies free, as DumGum bills them",
        ),
        (
            "per1000",
            f.eur(cost.get("per_1000_conversations_eur"), 2, currency),
            "per 1,000 conversations (projected)",
        ),
        (
            "per-answer",
            f.eur(cost.get("per_answered_request_eur"), 6, currency),
            "per answered request (projected)",
        ),
    ]
    html = "".join(
        f'<div class="{css}"><b>{esc(value)}</b><span>{esc(label)}</span></div>'
        for css, value, label in cells
    )
    return Markup(f'<div class="costfigs">{html}</div>')


def _reasons(cost: Mapping[str, Any], currency: str) -> list[Any]:
    """The difference as named amounts that add up to it; reasons worth nothing in one line."""
    difference = _mapping(cost.get("difference"))
    rows: list[list[Any]] = []
    idle: list[str] = []
    for reason in _rows(difference.get("reasons")):
        name = str(reason.get("reason"))
        label = REASON_NAMES.get(name, name.replace("_", " "))
        amount = f.money(reason.get("eur"))
        if amount == 0:
            idle.append(label)
            continue
        rows.append([label, f.eur(amount, currency=currency, sign=True), reason.get("note") or ""])
    unexplained = f.money(difference.get("unexplained_eur"))
    if unexplained:
        rows.append(
            [
                "unexplained",
                f.eur(unexplained, currency=currency, sign=True),
                "what the named reasons do not account for",
            ]
        )
    total = f.eur(difference.get("projected_minus_measured_eur"), currency=currency, sign=True)
    rows.append([Markup("<b>projected &minus; measured</b>"), Markup(f"<b>{esc(total)}</b>"), ""])
    parts: list[Any] = [
        tag("h3", "Why projected and measured differ"),
        table(["reason", "amount", "why"], rows, numeric_to=2, css="reasons"),
    ]
    if idle:
        parts.append(paragraph("No part in the difference: " + ", ".join(idle) + ".", "muted"))
    return parts


def _footnotes(features: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int], Markup]:
    """A number per feature that has a rule, and the footnotes as an ordered list."""
    numbers: dict[str, int] = {}
    items = []
    for row in features:
        name = str(row.get("feature"))
        text = SHORT_RULES.get(name)
        if text is None or name in numbers:
            continue
        numbers[name] = len(numbers) + 1
        estimate = row.get("estimate")
        if name == "vision" and isinstance(estimate, str) and estimate:
            text = f"{text} Count: {estimate}."
        items.append(f'<li id="cost-rule-{esc(name)}">{esc(text)}</li>')
    return numbers, Markup(f'<ol class="footnotes">{"".join(items)}</ol>')


def _note_ref(name: str, numbers: Mapping[str, int]) -> Markup:
    number = numbers.get(name)
    if number is None:
        return Markup("")
    return Markup(f'<sup><a href="#cost-rule-{esc(name)}">{number}</a></sup>')


def _feature_rows(
    features: Sequence[Mapping[str, Any]],
    numbers: Mapping[str, int],
    conversations: Any,
    currency: str,
) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for row in features:
        name = str(row.get("feature"))
        # What a row that is not billed stands for: the saving, or what it would have cost.
        amount = row.get("saving_eur") or row.get("would_cost_eur") or row.get("projected_eur")
        label = FEATURE_NAMES.get(name, name.replace("_", " "))
        measured = row.get("measured_eur")
        rows.append(
            [
                Markup(f"{esc(label)}{_note_ref(name, numbers)}"),
                f.count(row.get("count")),
                f.eur(amount, currency=currency),
                f.eur(per_thousand(amount, conversations), 2, currency),
                f.eur(measured, currency=currency) if measured is not None else f.DASH,
                COUNTED_IN.get(row.get("counted_in"), f.plain(row.get("counted_in"))),
            ]
        )
    return rows


def _model_rows(cost: Mapping[str, Any], currency: str) -> list[list[Any]]:
    models = _mapping(cost.get("by_chat_model"))
    return [
        [
            model,
            f.count(row.get("billed_replies")),
            f.eur(row.get("replies_eur"), currency=currency),
            f.eur(row.get("vision_eur"), currency=currency),
            f.eur(row.get("soulengine_eur"), currency=currency),
            f.eur(row.get("total_eur"), currency=currency),
            f.eur(row.get("measured_eur"), currency=currency),
        ]
        for model, row in models.items()
        if isinstance(row, Mapping)
    ]


def _checks(cost: Mapping[str, Any], currency: str) -> list[Any]:
    """What the measured total rests on, and the mock's own ledger priced by the same sheet."""
    counts = _mapping(cost.get("counts"))
    measured = _mapping(cost.get("measured"))
    rows = [
        ["answers with a cost received", f.count(measured.get("answers"))],
        ["of which first messages", f.eur(measured.get("first_messages_eur"), currency=currency)],
        [
            f"split follow-ups ({f.count(measured.get('split_followups'))})",
            f.eur(measured.get("split_followups_eur"), currency=currency),
        ],
        ["answers whose cost was missing or invalid (summed as 0)", f.count(
            measured.get("unreadable_costs")
        )],
        ["conversations (accepted)", f.count(counts.get("conversations"))],
        ["answered requests (of which testMode)", (
            f"{f.count(counts.get('answered'))} ({f.count(counts.get('answered_test_mode'))})"
        )],
    ]  # fmt: skip
    ledger = cost.get("mock_ledger")
    if isinstance(ledger, Mapping):
        rows += [
            ["mock ledger: billed replies", f.count(ledger.get("billed_replies"))],
            [
                "mock ledger priced by this sheet",
                f.eur(f.dig(ledger, "priced_by_sheet_eur", "total_eur"), currency=currency),
            ],
            [
                "billable projection minus the ledger",
                f.eur(ledger.get("projected_billable_minus_ledger_eur"), currency=currency),
            ],
        ]
    return [tag("h3", "Cross-checks"), table(["figure", "value"], rows)]


def _prices(cost: Mapping[str, Any], currency: str) -> Markup:
    sheet = _mapping(cost.get("price_sheet"))
    prices = _mapping(sheet.get("prices_eur"))
    rows = [[key, f.eur(value, currency=currency)] for key, value in prices.items()]
    source = f"Price sheet: {f.plain(sheet.get('source'))}, valid from " + (
        f"{f.plain(sheet.get('valid_from'))}."
    )
    return details("Prices used", paragraph(source, "muted"), table(["price", "amount"], rows))


def _placeholders(cost: Mapping[str, Any]) -> list[Any]:
    used = cost.get("placeholders_used")
    flagged = [f.plain(item) for item in used] if _is_list(used) else []
    if not flagged:
        return []
    items = join(tag("li", item) for item in flagged)
    return [
        Markup(
            '<div class="warn"><b>Placeholder prices:</b> these figures rest on prices '
            f"DumGum does not publish; treat them as estimates.<ul>{items}</ul></div>"
        )
    ]


def is_designed(cost: Any) -> bool:
    """A cost section as ``cost.runs.run_cost`` builds it (else it is shown generically)."""
    return isinstance(cost, Mapping) and "features" in cost and "projected" in cost


def designed_cost(cost: Mapping[str, Any], plot: Plot | None) -> list[Any]:
    """The parts of the cost section, from summary.json's ``cost``."""
    currency = cost.get("currency")
    currency = currency if isinstance(currency, str) and currency else "EUR"
    features = _rows(cost.get("features"))
    numbers, notes = _footnotes(features)
    conversations = f.dig(cost, "counts", "conversations")
    full_rules = [
        tag("li", Markup(f"<b>{esc(FEATURE_NAMES.get(name, name))}</b>: {esc(text)}"))
        for name, text in RULES.items()
    ]
    full_rules.append(tag("li", Markup(f"<b>Vision in a run</b>: {esc(RUN_VISION_RULE)}")))
    feature_headers = [
        "feature", "count", "projected", "per 1,000 conversations", "measured", "in the bill",
    ]  # fmt: skip
    model_headers = [
        "chat model", "billed replies", "replies", "vision", "SoulEngine", "projected", "measured",
    ]  # fmt: skip
    return [
        *_placeholders(cost),
        _figures(cost, currency),
        *_reasons(cost, currency),
        figure(plot, "No conversation was accepted: nothing to draw per 1,000 conversations."),
        tag("h3", "Per feature"),
        table(
            feature_headers,
            _feature_rows(features, numbers, conversations, currency),
            numeric_to=5,
        ),
        paragraph(
            "Not-billed rows show what they would have cost (merged: the saving from "
            "bufferSeconds). The numbers refer to the attribution rules below.",
            "muted",
        ),
        tag("h3", "Per chat model"),
        table(model_headers, _model_rows(cost, currency)),
        *_checks(cost, currency),
        tag("h3", "How each euro is attributed"),
        notes,
        _prices(cost, currency),
        details("The attribution rules in full", Markup(f"<ul>{join(full_rules)}</ul>")),
    ]
