"""The analytic projection: small cases by hand, the one-off counting, and agreement with a long
Monte-Carlo month drawn request by request with RequestFactory."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal
from typing import Any

import pytest
from tests.unit.scenarios.scenario_helpers import make_scenario

from dumgum_loadtest.cost import default_price_sheet, project_cost, simulate_cost
from dumgum_loadtest.cost.projection import Projection
from dumgum_loadtest.cost.rules import REPLIES, SOULENGINE, VISION, eur
from dumgum_loadtest.cost.unique import Touches, expected_unique
from dumgum_loadtest.scenarios.model import Scenario

SHEET = default_price_sheet()
ONE_TURN = {"burst_size": {1: 1.0}, "turns": {1: 1.0}, "engage_share": 0.0}


def _scenario(fields: dict[str, Any] | None = None, **extra: Any) -> Scenario:
    conversation = {**ONE_TURN, **extra.pop("conversation", {})}
    return make_scenario(fields, conversation=conversation, **extra)


def test_one_request_one_reply() -> None:
    projection = project_cost(_scenario(), SHEET, 1000)
    assert projection.requests_per_month == 30_000
    assert projection.billed_replies_per_month == 30_000
    assert projection.monthly_eur == Decimal("750.0000")  # 30,000 x 0.025
    assert projection.per_answer_eur == Decimal("0.025")
    assert projection.conversations_per_month == 30_000
    assert projection.group_eur(VISION) == projection.group_eur(SOULENGINE) == 0
    assert projection.placeholders_used() == ["reply_per_model.dating-smart-1"]


@pytest.mark.parametrize(
    ("buffers", "replies_per_request"),
    [
        ({"5": 1.0}, 0.5),  # gaps of 0.5-3 s always inside a 5 s window: 2 messages, 1 reply
        ({"0": 1.0}, 1.0),  # no window: every message is its own reply
        ({"0": 0.5, "5": 0.5}, 0.75),  # half the first messages close the window: 1.5 per turn
    ],
)
def test_bursts_merge_inside_the_buffer_window(
    buffers: dict[str, float], replies_per_request: float
) -> None:
    scenario = _scenario(
        {"replyParameters.bufferSeconds": buffers}, conversation={"burst_size": {2: 1.0}}
    )
    projection = project_cost(scenario, SHEET, 1000)
    assert projection.replies_per_request == pytest.approx(replies_per_request)


def test_engage_turns_and_test_mode_and_drops() -> None:
    scenario = _scenario(
        {"testMode": {True: 0.25, False: 0.75}},
        conversation={"burst_size": {3: 1.0}, "engage_share": 0.5},
    )
    projection = project_cost(scenario, SHEET, 1000, dropped_share=0.1)
    # a turn: engage (1 request, 1 reply) or a burst of 3 (1 reply): 2 requests per reply
    assert projection.replies_per_request == pytest.approx(0.5)
    assert projection.engage_share == pytest.approx(0.5)
    assert projection.billed_replies_per_month == pytest.approx(30_000 * 0.5 * 0.9)
    assert projection.monthly_eur == Decimal("337.5000")  # 13,500 x 0.025
    assert projection.billable_monthly_eur == Decimal("253.1250")  # testMode free
    assert projection.test_mode_share == pytest.approx(0.25)


def test_soulengine_once_per_persona_from_a_cold_start() -> None:
    # 10 personas, one conversation per day, each asks for SoulEngine: a persona is paid for
    # when it gets its first conversation: 10 x (1 - exp(-30 days x 1/10 per day)).
    scenario = _scenario(
        {"replyParameters.generatePersonality": {True: 1.0}},
        population={"users": 100, "personas": 10},
    )
    projection = project_cost(scenario, SHEET, 1)
    (line,) = [line for line in projection.lines if line.group == SOULENGINE]
    assert line.one_off_count == pytest.approx(10 * (1 - math.exp(-3.0)))
    assert line.monthly_count == 0  # no new personas: nothing recurs
    assert eur(line.one_off_eur) == Decimal("0.9502")


def test_new_personas_get_their_first_conversation_at_once() -> None:
    # 5 new personas a day, far fewer than the 1,000 conversations a day: each is paid for.
    scenario = _scenario(
        {"replyParameters.generatePersonality": {True: 1.0}},
        population={"users": 10_000, "personas": 50, "new_personas_per_day": 5},
    )
    lines = project_cost(scenario, SHEET, 1000).lines
    (line,) = [line for line in lines if line.group == SOULENGINE]
    assert line.monthly_count == pytest.approx(150, rel=1e-6)
    assert line.one_off_count == pytest.approx(50, rel=1e-6)


def test_unique_counts_match_the_closed_forms() -> None:
    touches = Touches(conversations_per_day=2.0, initial=1.0)  # hazard 2 per day
    hit = 0.5
    days = 30.0
    steady = expected_unique(touches, hit, 0.0, days)
    assert steady.one_off == pytest.approx(1 - math.exp(-1.0 * days))
    # URL rotating every 4 days: initial version 1 - (nu/h)(1 - e^(-h/nu)); later versions
    # nu(D - 1/nu)(1 - e^(-h/nu)) + nu(L - (1 - e^(-hL))/h) with L = 1/nu, h = 1 per day
    nu, h = 0.25, 1.0
    rotating = expected_unique(touches, hit, nu, days)
    assert rotating.one_off == pytest.approx(1 - nu / h * (1 - math.exp(-h / nu)), rel=1e-3)
    later = nu * (days - 1 / nu) * (1 - math.exp(-h / nu)) + nu * (
        1 / nu - (1 - math.exp(-h / nu)) / h
    )
    assert rotating.recurring == pytest.approx(later, rel=1e-3)


# A scenario that exercises every rule at once: bursts that merge or split by buffer (a
# by-model buffer too), engage turns, testMode, four chat models, vision flags and captions,
# picture and profile-version rotation, new personas, SoulEngine, invalid requests.
COVERAGE: dict[str, Any] = {
    "seed": 5,
    "population": {
        "users": 400,
        "personas": 40,
        "pictures_per_persona": 4,
        "user_picture_share": 0.7,
        "new_personas_per_day": 3,
        "picture_url_changes_per_day": 0.2,
        "profile_version_changes_per_day": 0.1,
    },
    "conversation": {
        "burst_size": {1: 0.5, 2: 0.3, 4: 0.2},
        "burst_gap_s": {"kind": "uniform", "low_s": 1, "high_s": 9},
        "turns": {1: 0.4, 3: 0.4, 8: 0.2},
        "engage_share": 0.15,
    },
}
COVERAGE_MIX: dict[str, Any] = {
    "testMode": {True: 0.2, False: 0.6, "omit": 0.2},
    "replyParameters.chatModel": {
        "dating-smart-1": 0.4,
        "dating-pro-1": 0.1,
        "chat-2-smart": 0.3,
        "chat-2-pro": 0.2,
    },
    "replyParameters.bufferSeconds": {"5": 0.6, 0: 0.2, 15: 0.2},
    "replyParameters.generatePersonality": {True: 0.05, "omit": 0.95},
    "replyParameters.shareablePictures": {0: 0.3, 2: 0.3, 4: 0.4},
    "replyParameters.shareablePictureCaptioned": {0: 0.6, 0.5: 0.4},
    "replyParameters.vision.userProfilePictureAnalysis": {True: 0.3, False: 0.7},
    "replyParameters.vision.personaProfilePictureAnalysis": {True: 0.2, "omit": 0.8},
    "replyParameters.vision.shareablePicturesAnalysis": {True: 0.5, False: 0.5},
}


def _coverage() -> Scenario:
    return make_scenario(
        COVERAGE_MIX,
        by_model={"chat-2-pro": {"replyParameters.bufferSeconds": {"5": 1.0}}},
        invalid_share=0.02,
        **COVERAGE,
    )


def _first_month(projection: Projection, group: str) -> tuple[float, float]:
    lines = [line for line in projection.lines if line.group == group]
    mean = float(sum((line.monthly_eur + line.one_off_eur for line in lines), Decimal(0)))
    return mean, math.sqrt(sum(line.variance_eur2 for line in lines))


def test_a_long_simulated_month_agrees_with_the_projection_within_its_range() -> None:
    scenario = _coverage()
    per_day, days = 3000, 10  # 30,000 requests drawn one by one
    projection = project_cost(scenario, SHEET, per_day, days=days)
    month = simulate_cost(scenario, per_day, days=days, seed=1)
    assert month.requests == per_day * days
    simulated = month.group_eur(SHEET)
    for group in (REPLIES, VISION, SOULENGINE):
        mean, sd = _first_month(projection, group)
        assert sd > 0
        assert abs(float(simulated[group]) - mean) <= 3 * sd, (group, simulated[group], mean, sd)
    total = float(sum(simulated.values()))
    expected = float(projection.monthly_eur + projection.one_off_eur)
    assert abs(total - expected) <= 3 * float(projection.sd_eur)
    live = float(sum(month.group_eur(SHEET, live_only=True).values()))
    billable = float(projection.billable_monthly_eur + projection.billable_one_off_eur)
    assert abs(live - billable) <= 3 * float(projection.billable_sd_eur)


def test_the_stated_spread_matches_the_spread_of_simulated_months() -> None:
    scenario = _coverage()
    projection = project_cost(scenario, SHEET, 300, days=10)
    totals = [
        float(sum(simulate_cost(scenario, 300, days=10, seed=seed).group_eur(SHEET).values()))
        for seed in range(40)
    ]
    expected = float(projection.monthly_eur + projection.one_off_eur)
    stated_sd = float(projection.sd_eur)
    # the mean of 40 months within 3 standard errors, and a spread of the stated size
    assert abs(statistics.mean(totals) - expected) <= 3 * stated_sd / math.sqrt(len(totals))
    assert 0.6 * stated_sd <= statistics.stdev(totals) <= 1.6 * stated_sd
