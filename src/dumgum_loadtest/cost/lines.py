"""The lines of a projected bill: billed replies per chat model, and the things paid once
(pictures per URL, SoulEngine per persona), each with its mean and variance."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dumgum_loadtest.cost.mix import ModelMix, ReplyShape
from dumgum_loadtest.cost.rules import REPLIES, SOULENGINE, VISION, eur_str, times
from dumgum_loadtest.cost.sheet import REPLY_KEY, SOULENGINE_KEY, VISION_KEY, PriceSheet
from dumgum_loadtest.cost.unique import Touches, UniqueHits, expected_unique
from dumgum_loadtest.scenarios.model import Scenario


@dataclass(frozen=True, slots=True)
class CostLine:
    """One line of the bill: ``group`` is replies, vision or soulengine; ``detail`` says which."""

    group: str
    detail: str
    unit: str
    monthly_count: float  # steady state, per month
    one_off_count: float  # paid once on a cold start (first month), on top
    price_key: str
    monthly_eur: Decimal
    one_off_eur: Decimal
    billable_monthly_eur: Decimal  # testMode requests free, as DumGum would invoice the mix
    billable_one_off_eur: Decimal
    variance_eur2: float
    billable_variance_eur2: float

    def to_json(self, sheet: PriceSheet) -> dict[str, Any]:
        return {
            "group": self.group,
            "detail": self.detail,
            "unit": self.unit,
            "monthly_count": round(self.monthly_count, 3),
            "one_off_count": round(self.one_off_count, 3),
            "price_eur": str(sheet.price(self.price_key)),
            "placeholder_price": sheet.is_placeholder(self.price_key),
            "monthly_eur": eur_str(self.monthly_eur),
            "one_off_eur": eur_str(self.one_off_eur),
            "billable_monthly_eur": eur_str(self.billable_monthly_eur),
            "billable_one_off_eur": eur_str(self.billable_one_off_eur),
            "sd_eur": eur_str(Decimal(repr(math.sqrt(self.variance_eur2)))),
        }


def _reply_variance_eur2(
    shape: ReplyShape,
    prices: dict[str, float],
    charged: Callable[[ModelMix], float],
    requests: float,
) -> float:
    """Variance of the month's reply cost for a fixed number of requests (ratio over turns).

    A reply of model m costs its price with probability ``charged(m)`` (answered, and live
    when only live replies are billed), else nothing.
    """
    options = [
        (shape.reply_share(m) * chance, price)
        for m in shape.mixes
        for chance, price in (
            (charged(m), prices[m.model.value]),
            (1.0 - charged(m), 0.0),
        )
    ]
    mean_price = sum(w * price for w, price in options)
    price_var = sum(w * price**2 for w, price in options) - mean_price**2
    outcomes = shape.turn.turn_outcomes()
    mean_q = sum(p * q for p, q, _ in outcomes)
    mean_r = sum(p * r for p, _, r in outcomes)
    ratio = mean_r * mean_price / mean_q
    spread = sum(p * (mean_price * r - ratio * q) ** 2 for p, q, r in outcomes)
    turns = requests / mean_q
    return turns * (mean_r * max(price_var, 0.0) + spread)


def reply_lines(
    shape: ReplyShape, sheet: PriceSheet, requests: float, answered: float
) -> list[CostLine]:
    prices = {m.model.value: float(sheet.reply_price(m.model)) for m in shape.mixes}
    variance = _reply_variance_eur2(shape, prices, lambda m: answered, requests)
    billable_variance = _reply_variance_eur2(
        shape, prices, lambda m: answered * (1.0 - m.test_mode), requests
    )
    counts = {
        m.model.value: requests * m.request_share * shape.ends_turn[m.model.value] * answered
        for m in shape.mixes
    }
    total_mean = sum(counts[k] * prices[k] for k in counts)
    billable_mean = sum(
        counts[m.model.value] * prices[m.model.value] * (1 - m.test_mode) for m in shape.mixes
    )
    lines = []
    for mix in shape.mixes:
        count = counts[mix.model.value]
        price = sheet.reply_price(mix.model)
        mean = count * float(price)
        live = mean * (1.0 - mix.test_mode)
        lines.append(
            CostLine(
                group=REPLIES,
                detail=mix.model.value,
                unit="billed replies",
                monthly_count=count,
                one_off_count=0.0,
                price_key=f"{REPLY_KEY}.{mix.model.value}",
                monthly_eur=times(count, price),
                one_off_eur=Decimal(0),
                billable_monthly_eur=times(count * (1.0 - mix.test_mode), price),
                billable_one_off_eur=Decimal(0),
                # the totals' variances, shared out in proportion to each model's mean
                variance_eur2=variance * mean / total_mean if total_mean else 0.0,
                billable_variance_eur2=(
                    billable_variance * live / billable_mean if billable_mean else 0.0
                ),
            )
        )
    return lines


def _correlated(hits: list[UniqueHits]) -> float:
    """The variance of a sum of items that share their profiles' conversations, added as if
    fully correlated (the square of the summed standard deviations): an upper bound."""
    return sum(math.sqrt(h.variance) for h in hits) ** 2


@dataclass(frozen=True, slots=True)
class _Item:
    """One kind of thing paid once: who touches it, how often a reply asks for it, its URL
    rotation, and the share of profiles that have it at all."""

    touches: Touches
    asked: Callable[[ModelMix], float]  # P(a reply of this model asks for it)
    change_rate_per_day: float
    share: float = 1.0


def one_off_lines(
    scenario: Scenario,
    shape: ReplyShape,
    sheet: PriceSheet,
    conversations_per_day: float,
    answered: float,
    days: int,
) -> list[CostLine]:
    population = scenario.population
    users = Touches(conversations_per_day, population.users)
    personas = Touches(conversations_per_day, population.personas, population.new_personas_per_day)
    profile_rate = population.profile_version_changes_per_day
    picture_rate = population.picture_url_changes_per_day

    def hits(item: _Item, live_only: bool) -> UniqueHits:
        per_reply = answered * sum(
            shape.reply_share(m) * item.asked(m) * ((1.0 - m.test_mode) if live_only else 1.0)
            for m in shape.mixes
        )
        miss = shape.turn.conversation_miss(per_reply)
        found = expected_unique(item.touches, 1.0 - miss, item.change_rate_per_day, days)
        return found.scaled(item.share)

    def line(group: str, detail: str, unit: str, key: str, items: list[_Item]) -> CostLine:
        price = sheet.price(key)
        live = [hits(item, False) for item in items]
        one_off = sum(h.one_off for h in live)
        recurring = sum(h.recurring for h in live)
        billable = [hits(item, True) for item in items]
        return CostLine(
            group=group,
            detail=detail,
            unit=unit,
            monthly_count=recurring,
            one_off_count=one_off,
            price_key=key,
            monthly_eur=times(recurring, price),
            one_off_eur=times(one_off, price),
            billable_monthly_eur=times(sum(h.recurring for h in billable), price),
            billable_one_off_eur=times(sum(h.one_off for h in billable), price),
            variance_eur2=_correlated(live) * float(price) ** 2,
            billable_variance_eur2=_correlated(billable) * float(price) ** 2,
        )

    def shareable(k: int) -> _Item:
        return _Item(personas, lambda m: m.shareable_uncaptioned[k], picture_rate)

    pictures = "analysed pictures"
    return [
        line(
            VISION,
            "user main pictures",
            pictures,
            VISION_KEY,
            # only users with a main picture can have it analysed
            [_Item(users, lambda m: m.user_picture, profile_rate, population.user_picture_share)],
        ),
        line(
            VISION,
            "persona main pictures",
            pictures,
            VISION_KEY,
            [_Item(personas, lambda m: m.persona_picture, profile_rate)],
        ),
        line(
            VISION,
            "shareable pictures",
            pictures,
            VISION_KEY,
            [shareable(k) for k in range(population.pictures_per_persona)],
        ),
        line(
            SOULENGINE,
            "personas",
            "SoulEngine personas",
            SOULENGINE_KEY,
            [_Item(personas, lambda m: m.generate_personality, 0.0)],
        ),
    ]
