"""The cost of a run: the price sheet applied to what the run did, next to what it was charged.

Projected: every answered request is one billed reply (merged enqueues and split follow-ups
free), testMode requests priced as if live (and shown apart), pictures once per URL and
SoulEngine once per persona. Measured: the sum of ``answer.cost`` received. The difference
is broken into named reasons that add up to it. ``run_cost`` returns a JSON-ready dict, the
``cost`` section of summary.json; money is a Decimal string everywhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from dumgum_loadtest.analysis.load import RawRecords
from dumgum_loadtest.cost.measured import Measured, measure
from dumgum_loadtest.cost.pictures import count_pictures
from dumgum_loadtest.cost.rules import (
    DROPPED,
    ENGAGE,
    MERGED,
    REPLIES,
    RULES,
    RUN_VISION_RULE,
    SOULENGINE,
    SPLIT,
    TEST_MODE,
    VISION,
    eur_str,
    rate_str,
    times,
)
from dumgum_loadtest.cost.sheet import REPLY_KEY, SOULENGINE_KEY, VISION_KEY, PriceSheet
from dumgum_loadtest.scenarios.model import Scenario
from dumgum_loadtest.schema.enums import ChatModel

COST_SCHEMA_VERSION = 1
_MODELS = frozenset(m.value for m in ChatModel)


def _priced(frame: pd.DataFrame, sheet: PriceSheet) -> tuple[Decimal, dict[str, int]]:
    """Replies of ``frame`` (one per row) at their chat model's price; counts by model."""
    counts = {str(k): int(v) for k, v in frame["chat_model"].value_counts().items() if v}
    total = sum(
        (sheet.reply_price(model) * n for model, n in counts.items() if model in _MODELS),
        Decimal(0),
    )
    return total, counts


def _personas(answered: pd.DataFrame) -> dict[str, str]:
    """Persona -> chat model of its first answered generatePersonality request."""
    asked = answered[answered["generate_personality"].astype(bool)]
    first = asked.sort_values("sent_ns", kind="stable").drop_duplicates("persona_id")
    return {str(p): str(m) for p, m in zip(first["persona_id"], first["chat_model"], strict=True)}


def _cost_parts(
    answered: pd.DataFrame,
    sheet: PriceSheet,
    scenario: Scenario | None,
    time_scale: float,
    origin_ns: int,
) -> dict[str, Any]:
    replies_eur, replies_by_model = _priced(answered, sheet)
    pictures = count_pictures(answered, scenario, time_scale, origin_ns)
    personas = _personas(answered)
    vision_eur = times(pictures.pictures, sheet.vision_per_picture)
    soul_eur = sheet.soulengine_per_persona * len(personas)
    return {
        "replies": replies_by_model,
        "replies_eur": replies_eur,
        "pictures": pictures,
        "vision_eur": vision_eur,
        "personas": personas,
        "soulengine_eur": soul_eur,
        "total_eur": replies_eur + vision_eur + soul_eur,
    }


def _money_block(parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "billed_replies": sum(parts["replies"].values()),
        "vision_analyses": _count(parts["pictures"].pictures),
        "soulengine_personas": len(parts["personas"]),
        "replies_eur": eur_str(parts["replies_eur"]),
        "vision_eur": eur_str(parts["vision_eur"]),
        "soulengine_eur": eur_str(parts["soulengine_eur"]),
        "total_eur": eur_str(parts["total_eur"]),
    }


def _by_model(
    parts: dict[str, Any], sheet: PriceSheet, measured: Measured
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    pictures = parts["pictures"].by_model
    souls: dict[str, int] = {}
    for model in parts["personas"].values():
        souls[model] = souls.get(model, 0) + 1
    models = sorted(set(parts["replies"]) | set(pictures) | set(souls) | set(measured.by_model))
    for model in models:
        replies = parts["replies"].get(model, 0)
        price = sheet.reply_price(model) if model in _MODELS else Decimal(0)
        replies_eur = price * replies
        vision_eur = times(pictures.get(model, 0.0), sheet.vision_per_picture)
        soul_eur = sheet.soulengine_per_persona * souls.get(model, 0)
        out[model] = {
            "billed_replies": replies,
            "replies_eur": eur_str(replies_eur),
            "vision_eur": eur_str(vision_eur),
            "soulengine_eur": eur_str(soul_eur),
            "total_eur": eur_str(replies_eur + vision_eur + soul_eur),
            "measured_eur": eur_str(measured.by_model.get(model, Decimal(0))),
        }
    return out


def _feature(
    name: str, count: float, eur: Decimal, counted_in: str | None, **extra: Any
) -> dict[str, Any]:
    """``counted_in``: "total" (a part of the bill), "replies" (a share of the replies line,
    not added again) or None (not billed: shown for what it would have cost)."""
    return {
        "feature": name,
        "count": count,
        "projected_eur": eur_str(eur),
        "counted_in": counted_in,
        "rule": RULES[name],
        **extra,
    }


def _placeholders(sheet: PriceSheet, parts: dict[str, Any]) -> list[str]:
    used = [f"{REPLY_KEY}.{m}" for m, n in parts["replies"].items() if n and m in _MODELS]
    if parts["pictures"].pictures:
        used.append(VISION_KEY)
    if parts["personas"]:
        used.append(SOULENGINE_KEY)
    return sheet.placeholders_among(used)


def run_cost(
    raw: RawRecords,
    outcome: pd.Series,
    sheet: PriceSheet,
    *,
    time_scale: float = 1.0,
    scenario: Scenario | None = None,
    mock_ledger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``cost`` section of summary.json for a run's records and their outcomes."""
    requests = raw.requests.reset_index(drop=True)
    if len(outcome) != len(requests):
        raise ValueError(f"{len(outcome)} outcomes for {len(requests)} requests")
    outcome = pd.Series(outcome.to_numpy(), index=requests.index)
    answered = requests[outcome == "answered"]
    live = answered[~answered["test_mode"].astype(bool)]
    test = answered[answered["test_mode"].astype(bool)]
    origin_ns = int(requests["intended_ns"].min()) if len(requests) else 0
    projected = _cost_parts(answered, sheet, scenario, time_scale, origin_ns)
    billable = _cost_parts(live, sheet, scenario, time_scale, origin_ns)
    measured = measure(raw.events, requests, answered)
    test_eur, _ = _priced(test, sheet)
    engage_eur, _ = _priced(answered[answered["engage"].notna()], sheet)
    merged = requests[outcome == "merged"]
    merged_eur, _ = _priced(merged, sheet)
    dropped = requests[outcome == "dropped"]
    dropped_eur, _ = _priced(dropped, sheet)
    conversations = int(
        requests.loc[requests["status"].between(200, 299), "conversation_id"].nunique()
    )
    total = projected["total_eur"]
    pictures = projected["pictures"]
    return {
        "schema_version": COST_SCHEMA_VERSION,
        "currency": sheet.currency,
        "price_sheet": sheet.describe(),
        "placeholders_used": _placeholders(sheet, projected),
        "basis": (
            "projected: the price sheet applied to what the run did, every request as if live;"
            " projected_billable: the same with testMode requests free; measured: the sum of"
            " answer.cost received"
        ),
        "counts": {
            "answered": len(answered),
            "answered_test_mode": len(test),
            "merged": len(merged),
            "dropped": len(dropped),
            "split_followups": measured.followups,
            "conversations": conversations,
        },
        "projected": _money_block(projected),
        "projected_billable": _money_block(billable),
        "measured": measured.to_json(),
        "difference": measured.explain(total, projected, billable, test_eur, sheet),
        "mock_ledger": _ledger(mock_ledger, billable, sheet),
        "per_answered_request_eur": rate_str(total / len(answered)) if len(answered) else None,
        "per_1000_conversations_eur": (
            rate_str(total * 1000 / conversations) if conversations else None
        ),
        "by_chat_model": _by_model(projected, sheet, measured),
        "features": [
            _feature(REPLIES, len(answered), projected["replies_eur"], "total"),
            _feature(TEST_MODE, len(test), test_eur, REPLIES, measured_eur=measured.test_mode_str),
            _feature(ENGAGE, int(answered["engage"].notna().sum()), engage_eur, REPLIES),
            _feature(MERGED, len(merged), merged_eur, None, saving_eur=eur_str(merged_eur)),
            _feature(
                SPLIT, measured.followups, Decimal(0), REPLIES, measured_eur=measured.followups_str
            ),
            _feature(
                VISION,
                _count(pictures.pictures),
                projected["vision_eur"],
                "total",
                estimate="expected (scenario mix)" if pictures.weighted else "upper bound",
                run_rule=RUN_VISION_RULE,
            ),
            _feature(SOULENGINE, len(projected["personas"]), projected["soulengine_eur"], "total"),
            _feature(
                DROPPED,
                len(dropped),
                dropped_eur,
                None,
                would_cost_eur=eur_str(dropped_eur),
                share_of_replies=_share(len(dropped), len(dropped) + len(answered)),
                share_of_projected=_share(dropped_eur, dropped_eur + total),
            ),
        ],
    }


def _count(value: float) -> float | int:
    """A count: whole when it is one (upper-bound rule), else an expected value."""
    return int(value) if float(value).is_integer() else round(value, 3)


def _share(part: float | Decimal, whole: float | Decimal) -> float:
    return round(float(part) / float(whole), 6) if whole else 0.0


def _ledger(
    ledger: dict[str, Any] | None, billable: dict[str, Any], sheet: PriceSheet
) -> dict[str, Any] | None:
    """The mock's own counts priced by this sheet, next to the billable projection."""
    if not ledger:
        return None
    by_model = {str(k): int(v) for k, v in (ledger.get("billed_replies_by_model") or {}).items()}
    replies_eur = sum(
        (sheet.reply_price(m) * n for m, n in by_model.items() if m in _MODELS), Decimal(0)
    )
    pictures = int(ledger.get("vision_analyses") or 0)
    personas = int(ledger.get("soulengine_activations") or 0)
    vision_eur = sheet.vision_per_picture * pictures
    soul_eur = sheet.soulengine_per_persona * personas
    priced = replies_eur + vision_eur + soul_eur
    return {
        "billed_replies": sum(by_model.values()),
        "vision_analyses": pictures,
        "soulengine_activations": personas,
        "priced_by_sheet_eur": {
            "replies_eur": eur_str(replies_eur),
            "vision_eur": eur_str(vision_eur),
            "soulengine_eur": eur_str(soul_eur),
            "total_eur": eur_str(priced),
        },
        "projected_billable_minus_ledger_eur": eur_str(billable["total_eur"] - priced),
        "mock_cost_eur": ledger.get("cost"),
    }
