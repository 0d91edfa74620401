"""``project_cost``: the expected monthly bill of a scenario's mix at a given volume, without load.

Volume is enqueue requests. From the scenario: billed replies per request (bursts merged by
bufferSeconds, engage turns, split follow-ups free), the chat-model mix, the testMode share,
and the one-off items (pictures analysed once per URL, SoulEngine once per persona) from the
population's sizes and rates. Each line has a steady-state monthly amount, the extra a cold
start pays once (the pictures and personas that exist at the start), and a 95 % range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dumgum_loadtest.cost.lines import CostLine, one_off_lines, reply_lines
from dumgum_loadtest.cost.mix import reply_shape
from dumgum_loadtest.cost.rules import (
    DAYS_PER_MONTH,
    PROJECTION_UNCERTAINTY,
    REPLIES,
    RULES,
    SOULENGINE,
    VISION,
    eur_str,
    rate_str,
)
from dumgum_loadtest.cost.sheet import PriceSheet
from dumgum_loadtest.scenarios.model import Scenario

Z95 = 1.959963984540054

ASSUMPTIONS = (
    f"A month is {DAYS_PER_MONTH} days; volume counts valid enqueue requests"
    " (mix.invalid_share, requests made invalid on purpose, is left out: never billed).",
    "Turns of a conversation are further apart than bufferSeconds (only a burst merges).",
    "A new profile version brings a new main-picture URL (analysed again when asked).",
    "Every request is answered unless a dropped share is given; dropped replies cost nothing.",
    "answer.cost carries the reply price only; vision and SoulEngine are billed apart.",
    "Shared chat pictures (sharedPicturesAnalysis) are not modelled: the generator sends none.",
)


@dataclass(frozen=True, slots=True)
class Projection:
    """A scenario's expected bill over ``days`` (a month): lines by feature, with their means,
    one-off parts and variances; money as Decimal, counts as expected values."""

    scenario: str
    sheet: PriceSheet
    days: int
    requests_per_month: float
    replies_per_request: float
    billed_replies_per_month: float
    conversations_per_month: float
    test_mode_share: float  # of billed replies
    engage_share: float  # of billed replies
    dropped_share: float
    lines: tuple[CostLine, ...]
    assumptions: tuple[str, ...] = field(default=ASSUMPTIONS)

    def group_eur(self, group: str) -> Decimal:
        return sum((line.monthly_eur for line in self.lines if line.group == group), Decimal(0))

    @property
    def monthly_eur(self) -> Decimal:
        return sum((line.monthly_eur for line in self.lines), Decimal(0))

    @property
    def one_off_eur(self) -> Decimal:
        return sum((line.one_off_eur for line in self.lines), Decimal(0))

    @property
    def billable_monthly_eur(self) -> Decimal:
        return sum((line.billable_monthly_eur for line in self.lines), Decimal(0))

    @property
    def billable_one_off_eur(self) -> Decimal:
        return sum((line.billable_one_off_eur for line in self.lines), Decimal(0))

    @property
    def sd_eur(self) -> Decimal:
        return Decimal(repr(math.sqrt(sum(line.variance_eur2 for line in self.lines))))

    @property
    def billable_sd_eur(self) -> Decimal:
        variance = sum(line.billable_variance_eur2 for line in self.lines)
        return Decimal(repr(math.sqrt(variance)))

    def range_eur(self) -> tuple[Decimal, Decimal]:
        half = self.sd_eur * Decimal(repr(Z95))
        return max(Decimal(0), self.monthly_eur - half), self.monthly_eur + half

    def billable_range_eur(self) -> tuple[Decimal, Decimal]:
        half = self.billable_sd_eur * Decimal(repr(Z95))
        mean = self.billable_monthly_eur
        return max(Decimal(0), mean - half), mean + half

    @property
    def per_answer_eur(self) -> Decimal:
        if self.billed_replies_per_month <= 0:
            return Decimal(0)
        return self.monthly_eur / Decimal(repr(self.billed_replies_per_month))

    @property
    def per_1000_conversations_eur(self) -> Decimal:
        if self.conversations_per_month <= 0:
            return Decimal(0)
        return self.monthly_eur * 1000 / Decimal(repr(self.conversations_per_month))

    def placeholders_used(self) -> list[str]:
        used = [line.price_key for line in self.lines if line.monthly_count + line.one_off_count]
        return self.sheet.placeholders_among(used)

    def to_json(self) -> dict[str, Any]:
        low, high = self.range_eur()
        groups = {g: eur_str(self.group_eur(g)) for g in (REPLIES, VISION, SOULENGINE)}
        return {
            "scenario": self.scenario,
            "price_sheet": self.sheet.describe(),
            "placeholders_used": self.placeholders_used(),
            "days_per_month": self.days,
            "requests_per_month": round(self.requests_per_month, 3),
            "replies_per_request": round(self.replies_per_request, 6),
            "billed_replies_per_month": round(self.billed_replies_per_month, 3),
            "conversations_per_month": round(self.conversations_per_month, 3),
            "test_mode_share": round(self.test_mode_share, 6),
            "engage_share": round(self.engage_share, 6),
            "dropped_share": self.dropped_share,
            "monthly_eur": eur_str(self.monthly_eur),
            "monthly_range_eur": [eur_str(low), eur_str(high)],
            "one_off_eur": eur_str(self.one_off_eur),
            "first_month_eur": eur_str(self.monthly_eur + self.one_off_eur),
            "billable_monthly_eur": eur_str(self.billable_monthly_eur),
            "billable_monthly_range_eur": [eur_str(v) for v in self.billable_range_eur()],
            "billable_first_month_eur": eur_str(
                self.billable_monthly_eur + self.billable_one_off_eur
            ),
            "by_group_monthly_eur": groups,
            "per_answer_eur": rate_str(self.per_answer_eur),
            "per_1000_conversations_eur": rate_str(self.per_1000_conversations_eur),
            "lines": [line.to_json(self.sheet) for line in self.lines],
            "rules": {g: RULES[g] for g in (REPLIES, VISION, SOULENGINE)},
            "uncertainty": PROJECTION_UNCERTAINTY,
            "assumptions": list(self.assumptions),
        }


def project_cost(
    scenario: Scenario,
    sheet: PriceSheet,
    requests_per_day: float,
    *,
    dropped_share: float = 0.0,
    days: int = DAYS_PER_MONTH,
) -> Projection:
    """The expected bill of ``days`` days (a month) at ``requests_per_day`` enqueue requests."""
    if requests_per_day < 0:
        raise ValueError(f"requests_per_day must be >= 0, got {requests_per_day}")
    if not 0 <= dropped_share < 1:
        raise ValueError(f"dropped_share must be in [0, 1), got {dropped_share}")
    shape = reply_shape(scenario)
    answered = 1.0 - dropped_share
    requests = requests_per_day * days
    replies = requests * shape.replies_per_request * answered
    turns = requests / shape.turn.requests_per_turn
    conversations = turns / shape.turn.turns_per_conversation
    lines = list(reply_lines(shape, sheet, requests, answered))
    lines.extend(one_off_lines(scenario, shape, sheet, conversations / days, answered, days))
    reply_weights = [(shape.reply_share(m), m) for m in shape.mixes]
    return Projection(
        scenario=scenario.name,
        sheet=sheet,
        days=days,
        requests_per_month=requests,
        replies_per_request=shape.replies_per_request,
        billed_replies_per_month=replies,
        conversations_per_month=conversations,
        test_mode_share=sum(w * m.test_mode for w, m in reply_weights),
        engage_share=shape.turn.engage_share * shape.turn.last_in_turn / shape.replies_per_request,
        dropped_share=dropped_share,
        lines=tuple(lines),
    )
