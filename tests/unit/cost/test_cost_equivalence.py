"""The fast ``run_cost`` (integer positions, cost codes, packed string keys) gives exactly the
figures of the row-by-row implementation it replaced (``legacy_cost``), on a synthetic run
of a few thousand requests full of awkward cases, for every way a run's columns can come:
raw-shard strings, Arrow-backed strings in several chunks (Parquet), categoricals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from tests.unit.cost import legacy_cost
from tests.unit.cost.cost_helpers import S, answer, event, example_sheet, raw_records, request
from tests.unit.scenarios.scenario_helpers import make_scenario

from dumgum_loadtest.analysis.columns import count_distinct, first_occurrences
from dumgum_loadtest.analysis.load import RawRecords
from dumgum_loadtest.analysis.tables import RunTables
from dumgum_loadtest.cost.runs import run_cost
from dumgum_loadtest.scenarios.model import Scenario

MODELS = ("dating-smart-1", "dating-pro-1", "chat-2-smart", "chat-2-pro")
PRICES = {"dating-smart-1": "0.0250", "dating-pro-1": "0.0400", "chat-2-smart": "0.0500"}
TIME_SCALE = 0.05


def _requests(rng: np.random.Generator, size: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(size):
        sent_s = 1000.0 + round(float(rng.uniform(0, 3000)) * 2) / 2  # ties on the half second
        vision = bool(rng.random() < 0.5)
        # a few requests without a model, a user or a persona (the row-by-row count failed
        # on a vision request without a persona)
        model: Any = MODELS[int(rng.integers(len(MODELS)))] if rng.random() > 0.01 else None
        user: Any = f"u{int(rng.integers(300))}" if rng.random() > 0.01 else None
        persona: Any = f"p{int(rng.integers(40))}" if vision or rng.random() > 0.02 else None
        rows.append(
            request(
                f"r{i}" if i % 700 != 699 else f"r{i - 350}",  # a few repeated request ids
                sent_s,
                f"c{int(rng.integers(size // 4))}",
                user,
                persona,
                model,
                intended_ns=int((sent_s - float(rng.uniform(0, 0.2))) * S),
                test_mode=bool(rng.random() < 0.4),
                vision=vision,
                shareable_pictures=int(rng.integers(0, 5)),
                generate_personality=bool(rng.random() < 0.3),
                engage="AUTO" if rng.random() < 0.1 else None,
                status=int(rng.choice([204, 204, 204, 204, 429, 500])),
            )
        )
    return rows


def _events(
    rng: np.random.Generator, requests: list[dict[str, Any]], outcome: list[str]
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    answer_ids = 0

    def next_id() -> str:
        nonlocal answer_ids
        answer_ids += 1
        return f"a{answer_ids}" if rng.random() > 0.02 else "a-shared"  # ids under two tags

    for record, kind in zip(requests, outcome, strict=True):
        tag, sent_s = record["request_id"], record["sent_ns"] / S
        if kind == "dropped":
            events.append(event("conversation.dropped", tag, sent_s + 5))
        if kind != "answered":
            continue
        events.append(event("answer.processing", tag, sent_s + 1))
        price = "0.0000" if record["test_mode"] else PRICES.get(record["chat_model"], "0.0600")
        cost = (
            str(rng.choice([price, price, price, "0.05", "n/a"])) if rng.random() < 0.05 else price
        )
        first = next_id() if rng.random() > 0.03 else None  # a few answers without an id
        at = sent_s + 2 + round(float(rng.uniform(0, 4)))  # ties between requests
        events.append(answer(first, tag, at, cost))  # type: ignore[arg-type]
        if rng.random() < 0.1:  # delivered twice (at least once)
            events.append(answer(first, tag, at + 1, cost))  # type: ignore[arg-type]
        if rng.random() < 0.05:  # an extra reply: a second first message
            events.append(answer(next_id(), tag, at - 0.5, "0.0300"))
        for sequence in range(1, int(rng.integers(0, 3)) + 1):
            followup_cost = "0.0000" if rng.random() > 0.1 else "0.0100"
            events.append(answer(next_id(), tag, at + sequence, followup_cost, sequence=sequence))
    for i in range(60):  # foreign tags, untagged answers, missing and unreadable costs
        events.append(answer(f"f{i}", f"foreign-{i % 7}", 1500.0 + i, "0.0250"))
        events.append(answer(f"g{i}", None, 1600.0 + i, "0.0250"))  # type: ignore[arg-type]
        events.append(answer(f"h{i}", f"r{i * 13}", 1700.0 + i, None))  # type: ignore[arg-type]
        events.append(answer(f"k{i}", f"r{i * 17}", 1800.0 + i, "0.01", sequence=-1))
    for late in events[-40::4]:
        late["recv_ns"] = None  # no receive time: sorts last
    order = rng.permutation(len(events))  # not in arrival order
    return [events[i] for i in order]


def _run(seed: int, size: int = 3000) -> tuple[RawRecords, pd.Series]:
    rng = np.random.default_rng(seed)
    requests = _requests(rng, size)
    outcome = list(
        rng.choice(
            ["answered", "merged", "dropped", "lost", "rejected"],
            size,
            p=[0.7, 0.1, 0.1, 0.05, 0.05],
        )
    )
    raw = raw_records(requests, _events(rng, requests, outcome))
    return raw, pd.Series(outcome, dtype=object)


def _scenario() -> Scenario:
    return make_scenario(
        {
            "replyParameters.chatModel": {m: 0.25 for m in MODELS},
            "replyParameters.vision.userProfilePictureAnalysis": {True: 0.6, False: 0.4},
            "replyParameters.vision.personaProfilePictureAnalysis": {True: 0.3, False: 0.7},
            "replyParameters.vision.shareablePicturesAnalysis": {True: 0.5, False: 0.5},
            "replyParameters.shareablePictures": {0: 0.2, 2: 0.4, 3: 0.4},
            "replyParameters.shareablePictureCaptioned": {0: 0.5, 0.5: 0.5},
        },
        by_model={"chat-2-pro": {"replyParameters.vision.userProfilePictureAnalysis": {True: 1.0}}},
        population={
            "users": 300,
            "personas": 40,
            "pictures_per_persona": 3,
            "picture_url_changes_per_day": 40,
        },
    )


def _strings(raw: RawRecords) -> RawRecords:
    return raw  # as the raw shards load: pandas strings, nullable integers


def _arrow(raw: RawRecords) -> RawRecords:
    """As the Parquet tables load: Arrow-backed text in several chunks, numpy numbers."""

    def convert(frame: pd.DataFrame) -> pd.DataFrame:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        third = len(frame) // 3
        table = pa.concat_tables([table.slice(0, third), table.slice(third)])
        table = pa.concat_tables([table.slice(0, 2 * third), table.slice(2 * third)])
        mapper: Callable[[pa.DataType], Any] = lambda kind: (  # noqa: E731
            pd.ArrowDtype(kind) if pa.types.is_string(kind) else None
        )
        out: pd.DataFrame = table.to_pandas(types_mapper=mapper)
        return out

    return RawRecords(convert(raw.requests), convert(raw.events), raw.calls, 0)


def _categories(raw: RawRecords) -> RawRecords:
    """Low-cardinality text as categories (the earlier Parquet loader)."""
    requests = raw.requests.astype(
        {c: "category" for c in ("user_id", "persona_id", "chat_model", "engage", "run_id")}
    )
    events = raw.events.astype({c: "category" for c in ("event", "cost", "tag_run")})
    return RawRecords(requests, events, raw.calls, 0)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("columns", [_strings, _arrow, _categories])
@pytest.mark.parametrize("with_scenario", [False, True])
def test_the_fast_cost_section_equals_the_row_by_row_one(
    seed: int, columns: Callable[[RawRecords], RawRecords], with_scenario: bool
) -> None:
    raw, outcome = _run(seed)
    raw = columns(raw)
    scenario = _scenario() if with_scenario else None
    options: dict[str, Any] = {"time_scale": TIME_SCALE, "scenario": scenario}
    # The row-by-row version takes an answer id's first delivery in row order, so it gets the
    # events in receive order; the fast one gets them shuffled and must order them itself.
    received = raw.events.sort_values("recv_ns", kind="stable", na_position="last")
    in_order = RawRecords(raw.requests, received.reset_index(drop=True), raw.calls, 0)
    expected = legacy_cost.run_cost(in_order, outcome, example_sheet(), **options)
    # the run is full of what the cost must handle: check the example exercises it
    assert expected["measured"]["unreadable_costs"] > 0
    assert expected["projected"]["vision_analyses"] > 0
    assert "(no request)" in expected["by_chat_model"]
    assert run_cost(RunTables.from_raw(raw), outcome, example_sheet(), **options) == expected


@pytest.mark.parametrize(
    "values",
    [
        ["a", "b", "a", None, "", "b", "ab", "a\0", "a"],
        ["x" * 40, "y", "x" * 40, None, "y" * 9, "y" * 9, "y" * 10],  # longer than packed words
        [f"answer_{i % 997}" for i in range(5000)],
        ["", "", None, None],
        [f"u{i}" for i in range(100)],  # nothing repeats
        ["only"],
        [],
    ],
)
def test_string_keys_are_exact(values: list[str | None]) -> None:
    series = pd.Series(values, dtype=object)
    expected_first = (series.notna() & ~series.duplicated()).to_numpy()
    rows = np.arange(len(values))[::-1].copy()  # any order of rows
    for dtype in ("str", pd.ArrowDtype(pa.string()), pd.ArrowDtype(pa.large_string())):
        typed = series.astype(dtype)
        assert (first_occurrences(typed) == expected_first).all()
        taken = series.take(rows).reset_index(drop=True)
        assert (
            first_occurrences(typed, rows) == (taken.notna() & ~taken.duplicated()).to_numpy()
        ).all()
        assert count_distinct(typed) == series.nunique()
        assert count_distinct(typed, rows[::2]) == series.take(rows[::2]).nunique()
