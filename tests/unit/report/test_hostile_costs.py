"""Hostile or broken ``answer.cost`` values: counted as invalid in the summary's hygiene,
kept in events.parquet as received, never in a total, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.unit.report.conftest import T0_NS, S

from dumgum_loadtest.analysis.summary_schema import Summary
from dumgum_loadtest.records import RAW_DIR, TAG_REQUEST, TAG_RUN
from dumgum_loadtest.report import rebuild
from dumgum_loadtest.rundir import write_tables

# As they appear in the JSON body: strings, and numbers where DumGum sends a string.
HOSTILE_COSTS = (
    b'"Infinity"',
    b'"-Infinity"',
    b'"1e308"',
    b'"NaN"',
    b'"sNaN"',
    b'"-5.0000"',
    b'"not a number"',
    b'"1234567890123456789012345"',
    b'"1000.0001"',  # above the plausible bound of one message
    b'""',
    b"1e308",
    b"123456789012345678901234567",
    b"1e400",  # beyond a double
    b"-0.0250",
    b"true",
    b'{"eur": "0.0250"}',
)
# What events.parquet keeps of each (numbers as the text received).
KEPT_AS = [
    "Infinity",
    "-Infinity",
    "1e308",
    "NaN",
    "sNaN",
    "-5.0000",
    "not a number",
    "1234567890123456789012345",
    "1000.0001",
    "",
    "1e308",
    "123456789012345678901234567",
    "1e400",
    "-0.0250",
    "true",
    '{"eur":"0.0250"}',
]


def _answer_line(request_id: str, answer_id: str, cost: bytes, recv_s: float) -> bytes:
    """An extra answer.created for ``request_id``, written byte for byte as a receiver would
    (no JSON library writes 1e400 or a 27-digit integer back unchanged)."""
    tags = json.dumps({TAG_RUN: "synthetic-run", TAG_REQUEST: request_id}).encode()
    return (
        b'{"recv_ns":%d,"endpoint":"incoming","status":204,"body":{"event":"answer.created",'
        b'"data":{"projectId":"proj_test","answer":{"id":"%s","userProfileId":"u",'
        b'"sequenceNumber":0,"cost":%s,"tags":%s}}}}\n'
        % (T0_NS + int(recv_s * S), answer_id.encode(), cost, tags)
    )


def _append(run_dir: Path, lines: list[bytes]) -> None:
    with (run_dir / RAW_DIR / "events-1.jsonl").open("ab") as handle:
        handle.write(b"".join(lines))


def _runs(make_run: Callable[..., Path], as_tables: bool) -> tuple[Path, Path]:
    """The same run twice, with one valid extra answer each; the second also has an answer
    with each hostile cost, for requests of both chat models."""
    valid = [_answer_line("0-1", "answer_extra", b'"0.0250"', 9.0)]
    hostile = [
        _answer_line(f"0-{2 + n % 2}", f"answer_hostile_{n}", cost, 9.5)
        for n, cost in enumerate(HOSTILE_COSTS)
    ]
    clean, dirty = make_run("clean"), make_run("dirty")
    _append(clean, valid)
    _append(dirty, valid + hostile)
    if as_tables:  # a finished run's Parquet tables, else an interrupted run's shards
        assert write_tables(clean) == 0
        assert write_tables(dirty) == 0  # every line read, none skipped
    return clean, dirty


def _measured_by_model(summary: dict[str, Any]) -> dict[str, str]:
    return {model: row["measured_eur"] for model, row in summary["cost"]["by_chat_model"].items()}


@pytest.mark.parametrize("as_tables", [False, True], ids=["raw-shards", "parquet"])
def test_hostile_costs_are_counted_as_invalid_and_stay_out_of_every_total(
    make_run: Callable[..., Path], as_tables: bool
) -> None:
    clean_dir, dirty_dir = _runs(make_run, as_tables)
    clean, dirty = rebuild(clean_dir).summary, rebuild(dirty_dir).summary  # no exception
    assert dirty["cost"]["measured"]["total_eur"] == clean["cost"]["measured"]["total_eur"]
    assert clean["cost"]["measured"]["total_eur"] == "0.0250"
    for key in ("first_messages_eur", "split_followups_eur"):
        assert dirty["cost"]["measured"][key] == clean["cost"]["measured"][key]
    assert _measured_by_model(dirty) == _measured_by_model(clean)
    assert dirty["cost"]["difference"] == clean["cost"]["difference"]
    # each one counted, the values shown cut short, none in the clean run
    assert dirty["hygiene"]["invalid_cost"] == len(HOSTILE_COSTS)
    assert clean["hygiene"]["invalid_cost"] == 0
    assert dirty["cost"]["measured"]["unreadable_costs"] == len(HOSTILE_COSTS)
    examples = dirty["hygiene"]["invalid_cost_examples"]
    assert "Infinity" in examples and "NaN" in examples
    assert 0 < len(examples) <= 5 and all(len(value) <= 40 for value in examples)
    assert dirty["unreadable_lines"] == 0
    # the summary written is the summary the schema describes
    written = json.loads((dirty_dir / "summary.json").read_text())
    Summary.model_validate(written)
    assert written["hygiene"]["invalid_cost"] == len(HOSTILE_COSTS)
    page = (dirty_dir / "report.html").read_text()
    assert "invalid cost" in page and "&#x27;Infinity&#x27;" in page


def test_events_parquet_keeps_hostile_costs_as_received(make_run: Callable[..., Path]) -> None:
    _, dirty_dir = _runs(make_run, as_tables=True)
    events = pq.read_table(dirty_dir / "events.parquet", columns=["answer_id", "cost"])
    ids, costs = (events.column(name).to_pylist() for name in ("answer_id", "cost"))
    cost_of = dict(zip(ids, costs, strict=True))
    kept = [cost_of[f"answer_hostile_{n}"] for n in range(len(HOSTILE_COSTS))]
    assert kept == KEPT_AS
