"""The cost section as the project computed it before it worked on integer positions: row by
row, joined through strings. Kept only to check that the fast ``run_cost`` gives the same
figures (``test_cost_equivalence.py``); not used by the project."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.load import RawRecords
from dumgum_loadtest.cost.measured import Measured, parse_costs
from dumgum_loadtest.cost.mix import ModelMix, model_mix
from dumgum_loadtest.cost.pictures import VISION_MODELS, PictureCount
from dumgum_loadtest.cost.rules import (
    DROPPED,
    ENGAGE,
    MERGED,
    REPLIES,
    RUN_VISION_RULE,
    SOULENGINE,
    SPLIT,
    TEST_MODE,
    VISION,
    eur_str,
    rate_str,
    times,
)
from dumgum_loadtest.cost.runs import (
    COST_SCHEMA_VERSION,
    _by_model,
    _count,
    _feature,
    _ledger,
    _money_block,
    _placeholders,
    _share,
)
from dumgum_loadtest.cost.sheet import PriceSheet
from dumgum_loadtest.scenarios.model import Scenario
from dumgum_loadtest.scenarios.population import ScenarioPopulation
from dumgum_loadtest.schema.enums import ChatModel

_MODELS = frozenset(m.value for m in ChatModel)


def _touches(
    requests: pd.DataFrame,
    mixes: dict[str, ModelMix] | None,
    population: ScenarioPopulation | None,
    origin_ns: int,
) -> pd.DataFrame:
    """One row per (request, picture it may analyse): key, probability, send time, model."""
    rows: list[tuple[str, float, int, str]] = []
    columns = zip(
        requests["chat_model"].astype(str).to_numpy(),
        requests["user_id"].astype(str).to_numpy(),
        requests["persona_id"].astype(str).to_numpy(),
        requests["sent_ns"].to_numpy(dtype="float64", na_value=0.0),
        requests["intended_ns"].to_numpy(dtype="float64", na_value=0.0),
        requests["shareable_pictures"].to_numpy(dtype="float64", na_value=0.0),
        strict=True,
    )
    for model, user, persona, sent, intended, offered_pictures in columns:
        mix = mixes.get(model) if mixes is not None else None
        sent_ns = int(sent)
        any_vision = mix.any_vision if mix is not None else 1.0
        if mix is not None and any_vision <= 0:
            continue
        user_p = mix.user_picture / any_vision if mix is not None else 1.0
        persona_p = mix.persona_picture / any_vision if mix is not None else 1.0
        rows.append((f"user/{user}", user_p, sent_ns, model))
        rows.append((f"persona/{persona}", persona_p, sent_ns, model))
        offered = int(offered_pictures)
        elapsed_s = (intended - origin_ns) / 1e9
        for picture in range(1, offered + 1):
            probability = 1.0
            if mix is not None:
                flag = mix.shareable_pictures / any_vision
                probability = flag * mix.uncaptioned_given_offered(picture, offered)
            turn = (
                population.picture_rotation(persona, picture, elapsed_s)
                if population is not None and population.spec.pictures_per_persona >= picture
                else 0
            )
            rows.append((f"shareable/{persona}/{picture}/r{turn}", probability, sent_ns, model))
    return pd.DataFrame.from_records(rows, columns=["key", "probability", "sent_ns", "model"])


def count_pictures(
    answered: pd.DataFrame,
    scenario: Scenario | None = None,
    time_scale: float = 1.0,
    origin_ns: int | None = None,
) -> PictureCount:
    """Pictures analysed for ``answered`` requests (filter testMode out before, for billing).

    ``origin_ns``: the run's start (its earliest intended send), from which picture URLs rotate.
    """
    candidates = answered[
        answered["vision"].astype(bool) & answered["chat_model"].isin(VISION_MODELS)
    ]
    mixes = population = None
    if scenario is not None:
        # every model, drawn by the mix or not: the records say which one each request used
        mixes = {m.value: model_mix(scenario, m) for m in ChatModel}
        population = ScenarioPopulation(
            scenario.population, seed=scenario.seed, time_scale=time_scale
        )
    if origin_ns is None:
        origin_ns = int(answered["intended_ns"].min()) if len(answered) else 0
    touches = _touches(candidates, mixes, population, origin_ns)
    touches = touches[touches["probability"] > 0]
    if touches.empty:
        return PictureCount(0.0, {}, scenario is not None)
    touches = touches.sort_values("sent_ns", kind="stable")
    miss = np.log1p(-touches["probability"].clip(upper=1.0 - 1e-12))
    grouped = pd.DataFrame({"key": touches["key"], "miss": miss, "model": touches["model"]})
    per_key = grouped.groupby("key", sort=False).agg(miss=("miss", "sum"), model=("model", "first"))
    if scenario is None:
        expected = pd.Series(1.0, index=per_key.index)
    else:
        expected = 1.0 - np.exp(per_key["miss"])
    by_model = expected.groupby(per_key["model"]).sum()
    return PictureCount(
        float(expected.sum()),
        {str(model): float(value) for model, value in by_model.items()},
        scenario is not None,
    )


def _total(values: Iterable[Any]) -> tuple[Decimal, int]:
    """Exact Decimal sum; each distinct cost string is parsed once (a run has a handful)."""
    counts = pd.Series(list(values) if not isinstance(values, pd.Series) else values)
    total, bad = Decimal(0), 0
    for value, count in counts.value_counts(dropna=False).items():
        (cost,), unreadable = parse_costs([value])
        total += cost * int(count)
        bad += unreadable * int(count)
    return total, bad


def first_answer_costs(created: pd.DataFrame) -> pd.Series:
    """The cost of the first message of the first reply per request tag (by arrival)."""
    first = created[(created["sequence_number"].fillna(0) == 0) & created["tag_request"].notna()]
    first = first.sort_values("recv_ns", kind="stable").drop_duplicates("tag_request")
    return pd.Series(
        first["cost"].astype(object).to_numpy(), index=first["tag_request"].astype(str).to_numpy()
    )


def measure(events: pd.DataFrame, requests: pd.DataFrame, answered: pd.DataFrame) -> Measured:
    """Sum ``answer.cost`` over the answers received, each answer id once."""
    created = events[events["event"] == "answer.created"]
    with_id = created[created["answer_id"].notna()].drop_duplicates("answer_id")
    created = pd.concat([with_id, created[created["answer_id"].isna()]])
    followup = created["sequence_number"].fillna(0) > 0
    terminal = first_answer_costs(created)
    first_eur, bad_first = _total(created.loc[~followup, "cost"])
    followups_eur, bad_followups = _total(created.loc[followup, "cost"])
    measured = Measured(
        answers=len(created),
        first_eur=first_eur,
        followups=int(followup.sum()),
        followups_eur=followups_eur,
        unreadable_costs=bad_first + bad_followups,
    )
    if len(terminal):
        first_cost = answered["request_id"].astype(str).map(terminal)
        is_test = answered["test_mode"].astype(bool)
        measured.live_matched_eur, _ = _total(first_cost[~is_test])
        measured.test_matched_eur, _ = _total(first_cost[is_test])
    unique = requests.drop_duplicates("request_id")
    model_of = pd.Series(
        unique["chat_model"].astype(object).to_numpy(), index=unique["request_id"].astype(str)
    )
    models = created["tag_request"].astype(object).map(model_of).fillna("(no request)")
    for model, costs in pd.Series(created["cost"].to_numpy()).groupby(models.to_numpy()):
        measured.by_model[str(model)] = _total(costs)[0]
    return measured


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
