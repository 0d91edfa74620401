"""The cost of a run: the price sheet applied to what the run did, next to what it was charged.

Projected: every answered request is one billed reply (merged enqueues and split follow-ups
free), testMode requests priced as if live (and shown apart), pictures once per URL and
SoulEngine once per persona. Measured: the sum of ``answer.cost`` received. The difference
is broken into named reasons that add up to it. ``run_cost`` returns a JSON-ready dict, the
``cost`` section of summary.json; money is a Decimal string everywhere.

At 10 M requests nothing here goes row by row or joins strings: the requests are masks and
integer codes over their rows, the events are matched to them by row position (the
analysis' ``JoinedEvents``), and text columns become codes once (``analysis.columns``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.columns import count_distinct, encode, stable_order
from dumgum_loadtest.analysis.tables import RunTables
from dumgum_loadtest.cost.measured import Measured, measure
from dumgum_loadtest.cost.pictures import (
    PICTURE_COLUMNS,
    VISION_MODELS,
    PictureCount,
    PictureRules,
    picture_count,
)
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


class _Requests:
    """The request columns the cost reads, once, as arrays over the rows of ``frame``."""

    def __init__(self, frame: pd.DataFrame, outcome: pd.Series) -> None:
        self.frame = frame
        self.answered = (outcome == "answered").to_numpy(dtype=bool)
        self.merged = (outcome == "merged").to_numpy(dtype=bool)
        self.dropped = (outcome == "dropped").to_numpy(dtype=bool)
        self.test_mode = frame["test_mode"].astype(bool).to_numpy()
        model = encode(frame["chat_model"])
        self.model_codes = model.codes
        self.model_names = [str(v) for v in model.values]
        self.origin_ns = int(frame["intended_ns"].min()) if len(frame) else 0
        vision_model = np.array([name in VISION_MODELS for name in self.model_names] + [False])
        self.vision = frame["vision"].astype(bool).to_numpy() & vision_model[self.model_codes]
        # generatePersonality requests by send time, and their personas
        asked = np.flatnonzero(frame["generate_personality"].astype(bool).to_numpy())
        self.asked = asked[stable_order(frame["sent_ns"], asked)]
        self.personas = encode(frame["persona_id"].take(self.asked)).codes

    def priced(self, rows: np.ndarray, sheet: PriceSheet) -> tuple[Decimal, dict[str, int]]:
        """Replies of ``rows`` (a mask, one reply each) at their chat model's price."""
        codes = self.model_codes[rows]
        tally = np.bincount(codes[codes >= 0], minlength=len(self.model_names))
        counts: dict[str, int] = {}
        for code in np.argsort(-tally, kind="stable").tolist():
            if tally[code]:
                counts[self.model_names[code]] = int(tally[code])
        total = sum(
            (sheet.reply_price(model) * n for model, n in counts.items() if model in _MODELS),
            Decimal(0),
        )
        return total, counts

    def vision_rows(self, rows: np.ndarray) -> np.ndarray:
        """Of ``rows``, the chat-2 requests with vision on."""
        out: np.ndarray = rows & self.vision
        return out

    def take(self, rows: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
        """The ``columns`` of ``rows`` (a mask): a small frame."""
        return self.frame[list(columns)].take(np.flatnonzero(rows))


def _personas(requests: _Requests, rows: np.ndarray) -> dict[str, str]:
    """Persona -> chat model of its first (by send time) generatePersonality request of ``rows``."""
    picked = rows[requests.asked]
    first = requests.asked[picked][~pd.Series(requests.personas[picked]).duplicated().to_numpy()]
    personas = requests.frame["persona_id"].take(first).tolist()
    models = requests.frame["chat_model"].take(first).tolist()
    return {str(p): str(m) for p, m in zip(personas, models, strict=True)}


def _cost_parts(
    requests: _Requests, rows: np.ndarray, sheet: PriceSheet, rules: PictureRules
) -> dict[str, Any]:
    replies_eur, replies_by_model = requests.priced(rows, sheet)
    candidates = requests.take(requests.vision_rows(rows), PICTURE_COLUMNS)
    pictures = picture_count(candidates, rules, requests.origin_ns)
    personas = _personas(requests, rows)
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
    tables: RunTables,
    outcome: pd.Series,
    sheet: PriceSheet,
    *,
    time_scale: float = 1.0,
    scenario: Scenario | None = None,
    mock_ledger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``cost`` section of summary.json for a run's tables and their outcomes."""
    frame = tables.requests
    if len(outcome) != len(frame):
        raise ValueError(f"{len(outcome)} outcomes for {len(frame)} requests")
    requests = _Requests(frame, outcome)
    answered = requests.answered
    live = answered & ~requests.test_mode
    test = answered & requests.test_mode
    rules = PictureRules.of(scenario, time_scale)
    projected = _cost_parts(requests, answered, sheet, rules)
    billable = _cost_parts(requests, live, sheet, rules)
    measured = measure(
        tables.events,
        frame,
        answered,
        requests.test_mode,
        (requests.model_codes, requests.model_names),
    )
    test_eur, _ = requests.priced(test, sheet)
    engaged = answered & frame["engage"].notna().to_numpy()
    engage_eur, _ = requests.priced(engaged, sheet)
    merged_eur, _ = requests.priced(requests.merged, sheet)
    dropped_eur, _ = requests.priced(requests.dropped, sheet)
    status = frame["status"].to_numpy(dtype="float64", na_value=np.nan)
    accepted = np.flatnonzero((status >= 200) & (status <= 299))
    conversations = count_distinct(frame["conversation_id"], accepted)
    n_answered, n_test = int(answered.sum()), int(test.sum())
    n_merged, n_dropped = int(requests.merged.sum()), int(requests.dropped.sum())
    total = projected["total_eur"]
    pictures: PictureCount = projected["pictures"]
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
            "answered": n_answered,
            "answered_test_mode": n_test,
            "merged": n_merged,
            "dropped": n_dropped,
            "split_followups": measured.followups,
            "conversations": conversations,
        },
        "projected": _money_block(projected),
        "projected_billable": _money_block(billable),
        "measured": measured.to_json(),
        "difference": measured.explain(total, projected, billable, test_eur, sheet),
        "mock_ledger": _ledger(mock_ledger, billable, sheet),
        "per_answered_request_eur": rate_str(total / n_answered) if n_answered else None,
        "per_1000_conversations_eur": (
            rate_str(total * 1000 / conversations) if conversations else None
        ),
        "by_chat_model": _by_model(projected, sheet, measured),
        "features": [
            _feature(REPLIES, n_answered, projected["replies_eur"], "total"),
            _feature(TEST_MODE, n_test, test_eur, REPLIES, measured_eur=measured.test_mode_str),
            _feature(ENGAGE, int(engaged.sum()), engage_eur, REPLIES),
            _feature(MERGED, n_merged, merged_eur, None, saving_eur=eur_str(merged_eur)),
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
                n_dropped,
                dropped_eur,
                None,
                would_cost_eur=eur_str(dropped_eur),
                share_of_replies=_share(n_dropped, n_dropped + n_answered),
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
