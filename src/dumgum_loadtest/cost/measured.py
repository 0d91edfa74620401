"""What a run was charged: the sum of ``answer.cost`` over the answers received, and why it
differs from the projection, in named amounts that add up to the difference."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from dumgum_loadtest.cost.rules import eur_str
from dumgum_loadtest.cost.sheet import REPLY_KEY, PriceSheet


def parse_costs(values: Iterable[Any]) -> tuple[list[Decimal], int]:
    """``answer.cost`` strings as Decimal; unreadable ones count as 0 and are counted."""
    out: list[Decimal] = []
    bad = 0
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            out.append(Decimal(0))
            bad += 1
            continue
        try:
            out.append(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            out.append(Decimal(0))
            bad += 1
    return out, bad


def _total(values: Iterable[Any]) -> tuple[Decimal, int]:
    """Exact Decimal sum; each distinct cost string is parsed once (a run has a handful)."""
    counts = pd.Series(list(values) if not isinstance(values, pd.Series) else values)
    total, bad = Decimal(0), 0
    for value, count in counts.value_counts(dropna=False).items():
        (cost,), unreadable = parse_costs([value])
        total += cost * int(count)
        bad += unreadable * int(count)
    return total, bad


@dataclass
class Measured:
    """Charged amounts: first messages, follow-ups, and the first messages of answered
    requests (by testMode) matched through the correlation tag."""

    answers: int = 0
    first_eur: Decimal = Decimal(0)
    followups: int = 0
    followups_eur: Decimal = Decimal(0)
    live_matched_eur: Decimal = Decimal(0)
    test_matched_eur: Decimal = Decimal(0)
    unreadable_costs: int = 0
    by_model: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total_eur(self) -> Decimal:
        return self.first_eur + self.followups_eur

    @property
    def unmatched_eur(self) -> Decimal:
        """First messages not matched to an answered request (extra replies, foreign tags)."""
        return self.first_eur - self.live_matched_eur - self.test_matched_eur

    @property
    def test_mode_str(self) -> str:
        return eur_str(self.test_matched_eur)

    @property
    def followups_str(self) -> str:
        return eur_str(self.followups_eur)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": "answer.cost of answer.created events, each answer id once",
            "answers": self.answers,
            "first_messages_eur": eur_str(self.first_eur),
            "split_followups": self.followups,
            "split_followups_eur": eur_str(self.followups_eur),
            "total_eur": eur_str(self.total_eur),
            "unreadable_costs": self.unreadable_costs,
        }

    def explain(
        self,
        projected_eur: Decimal,
        projected: dict[str, Any],
        billable: dict[str, Any],
        test_mode_eur: Decimal,
        sheet: PriceSheet,
    ) -> dict[str, Any]:
        """Projected minus measured, as reasons that add up to it (``unexplained`` is the rest)."""
        placeholders = [
            key
            for key in sheet.placeholders_among(
                [f"{REPLY_KEY}.{m}" for m in billable["replies"] if billable["replies"][m]]
            )
        ]
        reasons = [
            (
                "test_mode",
                test_mode_eur - self.test_matched_eur,
                "testMode replies are priced as if live; DumGum charges them 0.0000",
            ),
            (
                "reply_price",
                billable["replies_eur"] - self.live_matched_eur,
                "sheet price minus the answer.cost of each live reply"
                + (f" (placeholder prices: {', '.join(placeholders)})" if placeholders else ""),
            ),
            (
                "vision",
                projected["vision_eur"],
                "picture analyses are not part of answer.cost (assumed: the docs do not say)",
            ),
            (
                "soulengine",
                projected["soulengine_eur"],
                "SoulEngine fees are not part of answer.cost (assumed: the docs do not say)",
            ),
            (
                "split_followups",
                -self.followups_eur,
                "follow-up messages are free in the projection; this is what they carried",
            ),
            (
                "unmatched_answers",
                -self.unmatched_eur,
                "first messages matched to no answered request (extra replies, foreign tags)",
            ),
        ]
        difference = projected_eur - self.total_eur
        explained = sum((amount for _, amount, _ in reasons), Decimal(0))
        return {
            "projected_minus_measured_eur": eur_str(difference),
            "reasons": [
                {"reason": name, "eur": eur_str(amount), "note": note}
                for name, amount, note in reasons
            ],
            "unexplained_eur": eur_str(difference - explained),
        }


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
