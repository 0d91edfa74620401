"""Calibration: a sheet from observed answer.cost values that loads back with those prices."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.unit.cost.cost_helpers import S, request

from dumgum_loadtest.cost import default_price_sheet, load_price_sheet
from dumgum_loadtest.cost.calibrate import calibrate
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.records import RAW_DIR, TAG_REQUEST, TAG_RUN


def _answer(tag: str, recv_s: float, cost: str, answer_id: str, sequence: int = 0) -> bytes:
    answer = {
        "id": answer_id,
        "cost": cost,
        "sequenceNumber": sequence,
        "tags": {TAG_RUN: "run", TAG_REQUEST: tag},
    }
    record = {
        "recv_ns": int(recv_s * S),
        "endpoint": "incoming",
        "status": 200,
        "body": {"event": "answer.created", "data": {"answer": answer}},
    }
    return orjson.dumps(record) + b"\n"


def _run_dir(tmp_path: Path, requests: list[dict[str, Any]], events: list[bytes]) -> Path:
    raw = tmp_path / "run-1" / RAW_DIR
    raw.mkdir(parents=True)
    (raw / "requests-0.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    (raw / "events-1.jsonl").write_bytes(b"".join(events))
    return raw.parent


def test_calibrated_sheet_round_trips_with_the_observed_prices(tmp_path: Path) -> None:
    requests = [
        request("a", 1.0, "c1", "u1", "p1", "chat-2-pro"),
        request("b", 2.0, "c2", "u2", "p1", "chat-2-pro"),
        request("c", 3.0, "c3", "u3", "p1", "chat-2-pro"),
        request("d", 4.0, "c4", "u4", "p2", "dating-smart-1"),
        request("e", 5.0, "c5", "u5", "p2", "chat-2-smart", test_mode=True),
    ]
    events = [
        _answer("a", 10.0, "0.0310", "x1"),
        _answer("a", 10.1, "0.0000", "x1b", sequence=1),  # a follow-up: free, ignored
        _answer("b", 11.0, "0.0310", "x2"),
        _answer("b", 11.5, "0.0310", "x2"),  # delivered twice: counted once
        _answer("c", 12.0, "0.0290", "x3"),
        _answer("d", 13.0, "0.0200", "x4"),
        _answer("e", 14.0, "0.0000", "x5"),  # testMode: says nothing about the price
    ]
    run_dir = _run_dir(tmp_path, requests, events)
    text = calibrate(run_dir)
    assert "observed 3 times, 2 at this value; values from 0.0290 to 0.0310" in text
    path = tmp_path / "calibrated.yaml"
    path.write_text(text)
    sheet = load_price_sheet(path)
    assert sheet.reply_price("chat-2-pro") == Decimal("0.0310")  # the most frequent value
    assert sheet.reply_price("dating-smart-1") == Decimal("0.0200")
    assert not sheet.is_placeholder("reply_per_model.chat-2-pro")
    default = default_price_sheet()
    for unseen in ("chat-2-smart", "dating-pro-1"):
        assert sheet.is_placeholder(f"reply_per_model.{unseen}")
        assert sheet.reply_price(unseen) == default.reply_price(unseen)
    assert sheet.vision_per_picture == default.vision_per_picture
    assert sheet.is_placeholder("soulengine_per_persona")
    assert sheet.valid_from.isoformat() == "1970-01-01"  # the day of the first event
    # Calibrating again from the same run gives the same file.
    assert calibrate(run_dir) == text


def test_a_run_without_live_answers_cannot_be_calibrated(tmp_path: Path) -> None:
    requests = [request("e", 5.0, "c5", "u5", "p2", "chat-2-smart", test_mode=True)]
    run_dir = _run_dir(tmp_path, requests, [_answer("e", 14.0, "0.0000", "x5")])
    with pytest.raises(ConfigError, match=r"no answer\.cost of a live reply"):
        calibrate(run_dir)
    with pytest.raises(ConfigError, match="no such run directory"):
        calibrate(tmp_path / "missing")


def test_hostile_costs_do_not_move_the_calibrated_price(tmp_path: Path) -> None:
    """Infinity, NaN, negative, absurd or missing costs say nothing about a price: the sheet
    rests on the valid values alone, and calibrating does not crash on them."""
    requests = [request(f"r{n}", float(n), f"c{n}", f"u{n}", "p1", "chat-2-pro") for n in range(9)]
    hostile = ["Infinity", "NaN", "-5.0000", "1e308", "not a number", "1000.0001", None, ""]
    events = [_answer("r0", 10.0, "0.0310", "ok")]
    events += [
        _answer(f"r{n + 1}", 11.0 + n, cost, f"bad{n}")  # type: ignore[arg-type]
        for n, cost in enumerate(hostile)
    ]
    text = calibrate(_run_dir(tmp_path, requests, events))
    assert "chat-2-pro: 0.0310  # observed 1 times, 1 at this value\n" in text
