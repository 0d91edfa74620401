"""Events joined to requests: the same compact arrays from a DataFrame and from Parquet row
groups, with the documented rules for tags, repeats, costs and other runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dumgum_loadtest.analysis.join import (
    DROPPED,
    FIRST_ANSWER,
    FOLLOW_UP,
    OTHER,
    PROCESSING,
    join_events,
    read_joined_events,
    request_ids,
)
from dumgum_loadtest.analysis.load import EVENT_COLUMNS
from dumgum_loadtest.analysis.tables import RunTables, load_run_tables, read_table

S = 1_000_000_000


def _event(name: str | None, tag: str | None, recv_s: float | None, **extra: Any) -> dict:
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(
        event=name,
        tag_request=tag,
        tag_run=extra.pop("run", "run-1"),
        recv_ns=None if recv_s is None else int(recv_s * S),
        **extra,
    )
    return row


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    requests = pd.DataFrame({"request_id": ["r0", "r1", "r2", None, "r1"]})
    events = pd.DataFrame(
        [
            _event("answer.processing", "r0", 1.0),
            _event("answer.created", "r0", 2.0, answer_id="a0", cost="0.0250", sequence_number=0),
            _event("answer.created", "r0", 3.0, answer_id="a0", cost="0.0250", sequence_number=0),
            _event("answer.created", "r0", 4.0, answer_id="a1", cost="0.0000", sequence_number=1),
            _event("conversation.dropped", "r1", 5.0),
            _event("answer.created", "r2", None, answer_id=None, cost="n/a", sequence_number=0),
            _event("answer.created", "r2", 6.0, answer_id=None, cost=None, sequence_number=0),
            _event("answer.created", "elsewhere", 7.0, answer_id="a9", cost="0.0250"),
            _event("answer.created", "r2", 8.0, answer_id="a8", sequence_number=-1, run="run-0"),
            _event("memory.updated", None, 9.0),
            _event(None, None, 10.0),
        ],
        columns=list(EVENT_COLUMNS),
    )
    events["recv_ns"] = events["recv_ns"].astype("Int64")
    return requests, events


def test_each_event_gets_its_request_kind_and_delivery() -> None:
    requests, events = _frames()
    joined = join_events(requests, events, run_id="run-1")
    # a tag names the first request with that id; a missing tag names no request, even one
    # without an id
    assert joined.request_pos.tolist() == [0, 0, 0, 0, 1, 2, 2, -1, 2, -1, -1]
    assert joined.kind.tolist() == [
        PROCESSING,
        FIRST_ANSWER,
        FIRST_ANSWER,
        FOLLOW_UP,
        DROPPED,
        FIRST_ANSWER,
        FIRST_ANSWER,
        FIRST_ANSWER,
        FIRST_ANSWER,
        OTHER,
        OTHER,
    ]
    assert joined.sequence_sign.tolist() == [0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 0]
    # the second delivery of a0 repeats it; answers without an id count every time
    assert joined.first_delivery.tolist() == [True, True, False, True] + [True] * 7
    assert joined.other_run.tolist() == [False] * 8 + [True, False, False]
    assert np.isnan(joined.recv_ns[5]) and joined.recv_ns[6] == 6.0 * S
    costs = [None if code < 0 else joined.cost_values[code] for code in joined.cost_code.tolist()]
    assert costs == [None, "0.0250", "0.0250", "0.0000", None, "n/a", None, "0.0250"] + [None] * 3
    assert joined.created.sum() == 7


def test_parquet_row_groups_give_the_same_arrays(tmp_path: Path) -> None:
    requests, events = _frames()
    path = tmp_path / "events.parquet"
    # several row groups, so the costs and the repeats are followed across them
    pq.write_table(pa.Table.from_pandas(events, preserve_index=False), path, row_group_size=3)
    from_parquet = read_joined_events(path, request_ids(requests), "run-1")
    from_frame = join_events(requests, events, "run-1")
    for field in ("request_pos", "kind", "sequence_sign", "first_delivery", "other_run"):
        assert getattr(from_parquet, field).tolist() == getattr(from_frame, field).tolist(), field
    assert np.array_equal(from_parquet.recv_ns, from_frame.recv_ns, equal_nan=True)
    as_text = [
        [None if c < 0 else joined.cost_values[c] for c in joined.cost_code.tolist()]
        for joined in (from_parquet, from_frame)
    ]
    assert as_text[0] == as_text[1]


def test_no_run_id_claims_every_tag_as_this_runs() -> None:
    requests, events = _frames()
    assert not join_events(requests, events).other_run.any()


def test_the_request_table_is_read_compactly(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "request_id": ["r0", "r1", "r2"],
            "user_id": ["u1", "u2", "u1"],
            "chat_model": ["dating-smart-1", None, "dating-smart-1"],
            "status": [204, 429, 204],
            "sent_ns": pa.array([1, None, 3], pa.int64()).to_pandas(),
            "intended_ns": [1, 2, 3],
            "test_mode": [True, False, True],
            "error": ["x", None, None],  # not read: no part of the analysis uses it
        }
    )
    path = tmp_path / "requests.parquet"
    frame.to_parquet(path, index=False)
    table = read_table(path, ("request_id", "user_id", "chat_model", "status", "sent_ns"))
    assert list(table.columns) == ["request_id", "user_id", "chat_model", "status", "sent_ns"]
    assert isinstance(table["chat_model"].dtype, pd.CategoricalDtype)
    assert isinstance(table["user_id"].dtype, pd.ArrowDtype)  # ids: hashed only where needed
    assert table["chat_model"].isna().tolist() == [False, True, False]
    assert table["status"].dtype == np.dtype("int32")
    assert np.isnan(table["sent_ns"][1])
    whole = read_table(path, None)
    assert whole["intended_ns"].dtype == np.dtype("int64")  # times keep their 64 bits
    assert whole["test_mode"].dtype == np.dtype("bool")


def test_an_interrupted_run_joins_from_its_raw_shards(tmp_path: Path) -> None:
    # no Parquet tables: the raw shards, read and joined the same way
    (tmp_path / "raw").mkdir()
    tables = load_run_tables(tmp_path, "run-1")
    assert isinstance(tables, RunTables)
    assert len(tables.requests) == 0 and len(tables.events) == 0


def test_lost_requests_sent_into_a_stopped_conversation_are_counted() -> None:
    from dumgum_loadtest.analysis.hygiene import lost_after_stop
    from dumgum_loadtest.analysis.outcomes import OUTCOMES

    def request(request_id: str, user: str, sent_s: float) -> dict[str, Any]:
        return {"request_id": request_id, "user_id": user, "persona_id": "p1", "sent_ns": sent_s}

    requests = pd.DataFrame(
        [
            request("stopper", "u1", 1.0),  # its answer stops u1 x p1 until 100 s
            request("inside", "u1", 5.0 * S),  # lost, sent while stopped: counted
            request("after", "u1", 150.0 * S),  # lost, sent after the ban ended
            request("before", "u1", 1.5 * S),  # lost, sent before the stop arrived
            request("elsewhere", "u2", 5.0 * S),  # lost, another conversation
            request("forever", "u3", 1.0),  # its answer stops u3 x p1 for good
            request("later", "u3", 900.0 * S),  # lost, sent after a permanent stop: counted
        ]
    )
    requests["sent_ns"] = requests["sent_ns"].astype("float64")
    until = pd.Timestamp(100 * S, tz="UTC").isoformat()
    events = pd.DataFrame(
        [
            _event("answer.created", "stopper", 2.0, stop_reason="HOSTILE", stopped_until=until),
            _event("answer.created", "forever", 2.0, stop_reason="UNDERAGE"),
        ],
        columns=list(EVENT_COLUMNS),
    )
    joined = join_events(requests, events, run_id="run-1")
    assert joined.stop_rows.tolist() == [0, 1]
    assert joined.stopped_until_ns.tolist() == [100.0 * S, np.inf]
    answered, lost = OUTCOMES.index("answered"), OUTCOMES.index("lost")
    codes = np.array([answered, lost, lost, lost, lost, answered, lost])
    assert lost_after_stop(requests, codes, joined) == 2
    assert lost_after_stop(requests, np.full(7, answered), joined) == 0
