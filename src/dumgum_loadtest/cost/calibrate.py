"""``calibrate``: a price sheet from the ``answer.cost`` values a run actually received.

Per chat model, the first messages of live replies (testMode answers cost 0.0000 and say
nothing about prices; split follow-ups are free), joined to the request's chat model through
the correlation tag. The most frequent value becomes the price. Models the run did not
answer keep the base sheet's price and are marked as placeholders; vision and SoulEngine
are not in ``answer.cost`` and keep the base sheet's values.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pandas as pd

from dumgum_loadtest.cost.rules import answer_cost_eur
from dumgum_loadtest.cost.sheet import (
    REPLY_KEY,
    SOULENGINE_KEY,
    VISION_KEY,
    PriceSheet,
    default_price_sheet,
    parse_price_sheet,
)
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.schema.enums import ChatModel


def observed_prices(requests: pd.DataFrame, events: pd.DataFrame) -> dict[str, list[Decimal]]:
    """Valid costs of live first messages per chat model (each answer id once)."""
    created = events[(events["event"] == "answer.created") & events["tag_request"].notna()]
    created = created[created["sequence_number"].fillna(0) == 0]
    created = pd.concat(
        [
            created[created["answer_id"].notna()].drop_duplicates("answer_id"),
            created[created["answer_id"].isna()],
        ]
    )
    unique = requests.drop_duplicates("request_id")
    live = unique[~unique["test_mode"].astype(bool)]
    model_of = pd.Series(
        live["chat_model"].astype(str).to_numpy(), index=live["request_id"].astype(str).to_numpy()
    )
    models = created["tag_request"].astype(str).map(model_of)
    out: dict[str, list[Decimal]] = {}
    for model, value in zip(models, created["cost"], strict=True):
        cost = answer_cost_eur(value)
        # a missing or invalid cost says nothing about the price (it is not 0.0000)
        if isinstance(model, str) and cost is not None:
            out.setdefault(model, []).append(cost)
    return out


def _first_day(events: pd.DataFrame) -> dt.date:
    stamps = events["recv_ns"].dropna()
    if stamps.empty:
        return dt.datetime.now(dt.UTC).date()
    return dt.datetime.fromtimestamp(int(stamps.min()) / 1e9, dt.UTC).date()


def calibrated_sheet(
    observed: dict[str, list[Decimal]], base: PriceSheet, valid_from: dt.date, source: str
) -> tuple[PriceSheet, dict[str, str]]:
    """The sheet, and a comment per reply price saying what it rests on."""
    prices: dict[str, Decimal] = {}
    notes: dict[str, str] = {}
    placeholders = [k for k in base.placeholders if not k.startswith(f"{REPLY_KEY}.")]
    for model in ChatModel:
        values = observed.get(model.value, [])
        key = f"{REPLY_KEY}.{model.value}"
        if not values:
            prices[model.value] = base.reply_price(model)
            placeholders.append(key)
            notes[model.value] = "not observed in the run: base sheet's price, a placeholder"
            continue
        counts = Counter(values)
        price, seen = counts.most_common(1)[0]
        prices[model.value] = price
        spread = "" if len(counts) == 1 else f"; values from {min(values)} to {max(values)}"
        notes[model.value] = f"observed {len(values)} times, {seen} at this value{spread}"
    data = {
        "currency": "EUR",
        "valid_from": valid_from,
        "description": f"Calibrated from the answer.cost values of {source}.",
        "reply_per_model": prices,
        "vision_per_picture": base.vision_per_picture,
        "soulengine_per_persona": base.soulengine_per_persona,
        "placeholders": [k for k in _ordered(placeholders)],
        "sources": {
            REPLY_KEY: f"answer.cost of live first messages in {source}",
            VISION_KEY: base.sources.get(VISION_KEY, f"from {base.source}"),
            SOULENGINE_KEY: base.sources.get(SOULENGINE_KEY, f"from {base.source}"),
        },
    }
    return parse_price_sheet(data, f"calibrated from {source}"), notes


def _ordered(keys: list[str]) -> list[str]:
    order = [f"{REPLY_KEY}.{m.value}" for m in ChatModel] + [VISION_KEY, SOULENGINE_KEY]
    wanted = set(keys)
    return [key for key in order if key in wanted]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sheet_yaml(sheet: PriceSheet, notes: dict[str, str]) -> str:
    """The sheet as a commented YAML file that ``load_price_sheet`` reads back unchanged."""
    lines = [
        "# Written by `dumgum-loadtest cost calibrate`; see scenarios/pricing/default.yaml.",
        f"currency: {sheet.currency}",
        f"valid_from: {sheet.valid_from.isoformat()}",
        f"description: {_quote(sheet.description)}",
        "",
        "# Per billed reply (first message), from the run's answer.cost values.",
        f"{REPLY_KEY}:",
    ]
    for model in ChatModel:
        note = notes.get(model.value, "")
        lines.append(f"  {model.value}: {sheet.reply_price(model)}  # {note}")
    lines += [
        "",
        "# Not in answer.cost: kept from the base sheet.",
        f"{VISION_KEY}: {sheet.vision_per_picture}",
        f"{SOULENGINE_KEY}: {sheet.soulengine_per_persona}",
        "",
        "placeholders:" + ("" if sheet.placeholders else " []"),
        *(f"  - {key}" for key in sheet.placeholders),
        "",
        "sources:",
        *(f"  {key}: {_quote(text)}" for key, text in sheet.sources.items()),
    ]
    return "\n".join(lines) + "\n"


def calibrate(run_dir: Path, base: PriceSheet | None = None) -> str:
    """A price sheet (YAML text) from ``run_dir``'s received ``answer.cost`` values."""
    from dumgum_loadtest.analysis.tables import load_records

    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    raw = load_records(run_dir)
    observed = observed_prices(raw.requests, raw.events)
    if not observed:
        raise ConfigError(
            f"{run_dir}: no answer.cost of a live reply to calibrate from (testMode answers"
            " cost 0.0000 and say nothing about prices); run with billable traffic"
            " (--allow-billable) against the real API, or against the mock"
        )
    base = base or default_price_sheet()
    sheet, notes = calibrated_sheet(observed, base, _first_day(raw.events), f"run {run_dir.name}")
    return sheet_yaml(sheet, notes)
