"""A hand-computed run, reproduced to the cent by ``run_cost``.

The example, with a sheet whose prices differ per model so every attribution shows:
dating-smart-1 0.025, dating-pro-1 0.04, chat-2-smart 0.05, chat-2-pro 0.06 per reply,
0.015 per analysed picture, 0.10 per SoulEngine persona.

  r1, r2  u1/p1 dating-smart-1, 2 s apart (buffer 5 s): one burst, one reply echoing r2.
          r2 asks generatePersonality: p1 is new                → reply 0.025, SoulEngine 0.10
          r1 is merged: free (saving 0.025)
  r3      u1/p1 dating-smart-1, a later turn, split in 3 messages, asks generatePersonality
          again: p1 is known, follow-ups free                   → reply 0.025
  r4      u2/p2 chat-2-smart in testMode: free, projected live  → reply 0.05 (as if live)
  r5      u3/p3 chat-2-smart, vision: u3's and p3's main pictures are new
                                                                → reply 0.05, 2 pictures 0.03
  r6      u3/p3 chat-2-smart, vision again: both pictures repeat → reply 0.05, no picture
  r7      u4/p3 chat-2-pro, vision, 2 shareable pictures: u4's main picture and p3's two
          shareable pictures are new, p3's main picture repeats → reply 0.06, 3 pictures 0.045
  r8      u5/p4 dating-pro-1, dropped: not billed               → would cost 0.04

Projected (as if live): replies 0.025 + 0.025 + 0.05 + 0.05 + 0.05 + 0.06 = 0.26;
vision 5 x 0.015 = 0.075; SoulEngine 1 x 0.10 = 0.10; total 0.435.
Billable (testMode free): replies 0.26 - 0.05 = 0.21; total 0.385.
Measured answer.cost: 0.025 + 0.025 + 0.0000 + 0.05 + 0.05 + 0.06 = 0.21 (follow-ups 0.0000;
r5's answer delivered twice is counted once).
Difference 0.435 - 0.21 = 0.225 = test mode 0.05 + vision 0.075 + SoulEngine 0.10.
Per answered request 0.435 / 6 = 0.0725; 5 conversations: 87.0 per 1,000 conversations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.unit.cost.cost_helpers import (
    answer,
    event,
    example_sheet,
    outcomes_of,
    raw_records,
    request,
)
from tests.unit.scenarios.scenario_helpers import make_scenario

from dumgum_loadtest.analysis.tables import RunTables
from dumgum_loadtest.cost import cost_section, run_cost


def _example() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    requests = [
        request("r1", 10.0, "c1", "u1", "p1", "dating-smart-1"),
        request("r2", 12.0, "c1", "u1", "p1", "dating-smart-1", generate_personality=True),
        request("r3", 60.0, "c1", "u1", "p1", "dating-smart-1", generate_personality=True),
        request("r4", 100.0, "c2", "u2", "p2", "chat-2-smart", test_mode=True),
        request("r5", 200.0, "c3", "u3", "p3", "chat-2-smart", vision=True),
        request("r6", 300.0, "c3", "u3", "p3", "chat-2-smart", vision=True),
        request("r7", 400.0, "c4", "u4", "p3", "chat-2-pro", vision=True, shareable_pictures=2),
        request("r8", 500.0, "c5", "u5", "p4", "dating-pro-1"),
    ]
    events = [
        event("answer.processing", "r2", 18.0),
        answer("a2", "r2", 20.0, "0.0250"),
        answer("a3", "r3", 70.0, "0.0250"),
        answer("a3b", "r3", 70.1, "0.0000", sequence=1, parent="a3"),
        answer("a3c", "r3", 70.2, "0.0000", sequence=2, parent="a3"),
        answer("a4", "r4", 110.0, "0.0000"),
        answer("a5", "r5", 210.0, "0.0500"),
        answer("a5", "r5", 210.5, "0.0500"),  # delivered twice (at least once)
        answer("a6", "r6", 310.0, "0.0500"),
        answer("a7", "r7", 410.0, "0.0600"),
        event("conversation.dropped", "r8", 800.0),
    ]
    return requests, events


def _cost(**extra: Any) -> dict[str, Any]:
    requests, events = _example()
    raw = raw_records(requests, events)
    outcome = outcomes_of(raw)
    assert list(outcome) == ["merged", *["answered"] * 6, "dropped"]
    return run_cost(RunTables.from_raw(raw), outcome, example_sheet(), **extra)


def test_projection_step_by_step() -> None:
    cost = _cost()
    projected = cost["projected"]
    # Replies: one per answered request, priced by its model; r1 merged is free.
    assert projected["billed_replies"] == 6
    assert Decimal(projected["replies_eur"]) == Decimal("0.025") * 2 + Decimal("0.05") * 3 + (
        Decimal("0.06")
    )
    # Vision: u3 + p3 (r5), nothing new (r6), u4 + p3's 2 shareable pictures (r7).
    assert projected["vision_analyses"] == 5
    assert projected["vision_eur"] == "0.0750"
    # SoulEngine: p1 once, although r2 and r3 both ask.
    assert projected["soulengine_personas"] == 1
    assert projected["soulengine_eur"] == "0.1000"
    assert projected["total_eur"] == "0.4350"
    billable = cost["projected_billable"]
    assert billable["replies_eur"] == "0.2100"  # r4's 0.05 is free in testMode
    assert billable["total_eur"] == "0.3850"
    assert cost["per_answered_request_eur"] == "0.072500"
    assert cost["counts"]["conversations"] == 5
    assert cost["per_1000_conversations_eur"] == "87.000000"


def test_measured_and_the_difference_explained() -> None:
    cost = _cost()
    measured = cost["measured"]
    assert measured["answers"] == 8  # a5 once
    assert measured["split_followups"] == 2
    assert measured["split_followups_eur"] == "0.0000"
    assert measured["total_eur"] == "0.2100"
    difference = cost["difference"]
    assert difference["projected_minus_measured_eur"] == "0.2250"
    reasons = {r["reason"]: r["eur"] for r in difference["reasons"]}
    assert reasons == {
        "test_mode": "0.0500",
        "reply_price": "0.0000",
        "vision": "0.0750",
        "soulengine": "0.1000",
        "split_followups": "0.0000",
        "unmatched_answers": "0.0000",
    }
    assert difference["unexplained_eur"] == "0.0000"


def test_features_and_models_carry_their_rules() -> None:
    cost = _cost()
    features = {f["feature"]: f for f in cost["features"]}
    assert features["merged"]["count"] == 1 and features["merged"]["saving_eur"] == "0.0250"
    assert features["test_mode"]["projected_eur"] == "0.0500"
    assert features["test_mode"]["measured_eur"] == "0.0000"
    assert features["split_followups"]["count"] == 2
    assert features["dropped"]["would_cost_eur"] == "0.0400"
    assert features["dropped"]["share_of_replies"] == round(1 / 7, 6)
    assert features["vision"]["estimate"] == "upper bound"
    assert all(f["rule"] for f in cost["features"])
    models = cost["by_chat_model"]
    assert models["dating-smart-1"]["total_eur"] == "0.1500"  # 2 replies + SoulEngine
    assert models["chat-2-smart"]["total_eur"] == "0.1800"  # 3 replies + 2 pictures
    assert models["chat-2-pro"]["total_eur"] == "0.1050"  # 1 reply + 3 pictures
    total = sum(Decimal(m["total_eur"]) for m in models.values())
    assert total == Decimal(cost["projected"]["total_eur"])
    assert models["chat-2-smart"]["measured_eur"] == "0.1000"


def test_placeholders_are_named() -> None:
    cost = _cost()
    assert cost["placeholders_used"] == [
        "reply_per_model.dating-smart-1",
        "reply_per_model.chat-2-smart",
        "reply_per_model.chat-2-pro",
        "soulengine_per_persona",
    ]


def test_mock_ledger_priced_by_the_same_sheet_equals_the_billable_projection() -> None:
    ledger = {
        "billed_replies_by_model": {"dating-smart-1": 2, "chat-2-smart": 2, "chat-2-pro": 1},
        "vision_analyses": 5,
        "soulengine_activations": 1,
    }
    cost = _cost(mock_ledger=ledger)
    assert cost["mock_ledger"]["priced_by_sheet_eur"]["total_eur"] == "0.3850"
    assert cost["mock_ledger"]["projected_billable_minus_ledger_eur"] == "0.0000"


def test_the_summary_section_uses_the_scenario_s_pricing_and_mix() -> None:
    requests, events = _example()
    raw = raw_records(requests, events)
    scenario = make_scenario(
        {"replyParameters.vision.userProfilePictureAnalysis": {True: 1.0}}, pricing="default"
    )
    section = cost_section(
        RunTables.from_raw(raw), outcomes_of(raw), time_scale=1.0, scenario=scenario
    )
    assert section["price_sheet"]["source"].endswith("default.yaml")
    vision = next(f for f in section["features"] if f["feature"] == "vision")
    # the mix analyses only user main pictures: u3 and u4
    assert vision["estimate"] == "expected (scenario mix)"
    assert vision["count"] == 2
    assert section["projected"]["total_eur"] == "0.2800"  # 6 x 0.025 + 2 x 0.015 + 0.10
