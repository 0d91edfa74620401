"""The page's and the figures' small rules: units, tick labels, anchors."""

from __future__ import annotations

from dumgum_loadtest.trends.page import value_text
from dumgum_loadtest.trends.plots import tick_positions, unit_of


def test_values_carry_the_unit_their_name_ends_in() -> None:
    assert value_text("drop_rate", 0.0123) == "1.230 %"
    assert value_text("first_answer_s.from_intended.censored.p99", 1.5) == "1.50 s"
    assert value_text("goodput_rps", 12.34) == "12.3 req/s"
    assert value_text("cost_per_answered_request_eur", 0.0412) == "0.0412 EUR"
    assert value_text("drop_rate", None) == "\u2013"
    assert unit_of("enqueue_s.from_intended.all_sent.p99") == "seconds"
    assert unit_of("outcomes.answered") == "outcomes"


def test_ticks_are_thinned_and_give_way_to_change_points() -> None:
    assert tick_positions(5, []) == [0, 1, 2, 3, 4]
    ticks = tick_positions(120, [41])
    assert 41 in ticks and 0 in ticks and 119 in ticks
    assert len(ticks) <= 14
    assert all(abs(t - 41) >= 5 for t in ticks if t != 41)  # no label over the change's
    assert tick_positions(0, []) == []
