"""The ledgers of several mock processes merged into one (``mock-ledger.json``)."""

from __future__ import annotations

from typing import Any

import pytest

from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.mock.ledger_merge import merge_ledgers

ONE: dict[str, Any] = {
    "enqueues_received": 10,
    "enqueues_accepted": 9,
    "enqueues_rejected": {"422": 1},
    "replies": 7,
    "dropped": {"overload": 2},
    "billed_replies_by_model": {"dating-smart-1": 7},
    "vision_analyses": 1,
    "cost": {
        "replies_eur": "0.0700",
        "vision_eur": "0.0100",
        "soulengine_eur": "0.0000",
        "total_eur": "0.0800",
    },
    "gauges": {
        "pairs": 5,
        "replies_in_progress": 0,
        "generating": {"dating-smart-1": 1, "chat-2-pro": 0},
        "loop_lag_ms": {"p50": 0.2, "p99": 3.0, "max": 9.5, "samples": 100},
    },
}
TWO: dict[str, Any] = {
    "enqueues_received": 5,
    "enqueues_accepted": 5,
    "enqueues_rejected": {"401": 0, "429": 3},
    "replies": 5,
    "dropped": {"timeout_queued": 1},
    "billed_replies_by_model": {"dating-smart-1": 2, "chat-2-pro": 3},
    "vision_analyses": 2,
    "cost": {
        "replies_eur": "0.1001",
        "vision_eur": "0.0200",
        "soulengine_eur": "0.0500",
        "total_eur": "0.1701",
    },
    "gauges": {
        "pairs": 4,
        "replies_in_progress": 1,
        "generating": {"dating-smart-1": 0, "chat-2-pro": 2},
        "loop_lag_ms": {"p50": 0.4, "p99": 2.0, "max": 12.0, "samples": 80},
    },
}


def test_counters_add_up_key_by_key_and_money_exactly() -> None:
    merged = merge_ledgers([ONE, TWO])
    assert merged["enqueues_received"] == 15
    assert merged["enqueues_rejected"] == {"422": 1, "401": 0, "429": 3}
    assert merged["dropped"] == {"overload": 2, "timeout_queued": 1}
    assert merged["billed_replies_by_model"] == {"dating-smart-1": 9, "chat-2-pro": 3}
    assert merged["vision_analyses"] == 3
    assert merged["cost"] == {
        "replies_eur": "0.1701",
        "vision_eur": "0.0300",
        "soulengine_eur": "0.0500",
        "total_eur": "0.2501",
    }
    gauges = merged["gauges"]
    assert gauges["pairs"] == 9
    assert gauges["generating"] == {"dating-smart-1": 1, "chat-2-pro": 2}


def test_loop_lag_is_the_worst_process() -> None:
    lag = merge_ledgers([ONE, TWO])["gauges"]["loop_lag_ms"]
    assert lag == {"p50": 0.4, "p99": 3.0, "max": 12.0, "samples": 180}
    empty = {"p50": None, "p99": None, "max": None, "samples": 0}
    assert (
        merge_ledgers([{"gauges": {"loop_lag_ms": empty}}, ONE])["gauges"]["loop_lag_ms"]
        == (ONE["gauges"]["loop_lag_ms"])
    )


def test_one_ledger_is_itself_and_the_inputs_stay_untouched() -> None:
    assert merge_ledgers([ONE]) == ONE
    before = repr(ONE)
    merge_ledgers([ONE, TWO, ONE])
    assert repr(ONE) == before


def test_a_real_snapshot_merges_with_itself() -> None:
    from dumgum_loadtest.mock.app import MockState

    snapshot = MockState(MockConfig(), ["sk-proj-x"]).ledger_snapshot()
    merged = merge_ledgers([snapshot, snapshot])
    assert merged.keys() == snapshot.keys()
    assert merged["cost"]["total_eur"] == "0.0000"


def test_what_does_not_merge_is_named() -> None:
    with pytest.raises(ValueError, match=r"at gauges\.pairs: 1 and 'x'"):
        merge_ledgers([{"gauges": {"pairs": 1}}, {"gauges": {"pairs": "x"}}])
