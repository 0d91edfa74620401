"""What a run was charged: the sum of ``answer.cost`` over the answers received, and why it
differs from the projection, in named amounts that add up to the difference.

Events are matched to requests by row position (``JoinedEvents.request_pos`` when the
analysis has it, else one Arrow join here); costs are integer codes into the run's handful
of distinct cost strings, each parsed once, so every sum is a few counts times a Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dumgum_loadtest.cost.columns import encode, first_occurrences, numbers, stable_order
from dumgum_loadtest.cost.rules import eur_str
from dumgum_loadtest.cost.sheet import REPLY_KEY, PriceSheet

CREATED = "answer.created"
NO_REQUEST = "(no request)"


def parse_costs(values: Iterable[Any]) -> tuple[list[Decimal], int]:
    """``answer.cost`` strings as Decimal; unreadable ones count as 0 and are counted."""
    out: list[Decimal] = []
    bad = 0
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            out.append(Decimal(0))
            bad += 1
            continue
        try:
            out.append(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            out.append(Decimal(0))
            bad += 1
    return out, bad


@dataclass(frozen=True, slots=True)
class CostCodes:
    """``answer.cost`` per row as a code into its distinct values, each parsed once."""

    codes: np.ndarray  # per row, int32; missing: the last code
    values: list[Decimal]  # per code; the last, missing: 0
    unreadable: np.ndarray  # per code; the last, missing: True

    @classmethod
    def of(cls, costs: pd.Series, rows: np.ndarray) -> CostCodes:
        """The costs at ``rows`` of the column ``costs``."""
        encoded = encode(costs, rows)
        values, unreadable = [], []
        for value in encoded.values:
            (cost,), bad = parse_costs([value])
            values.append(cost)
            unreadable.append(bool(bad))
        codes = encoded.codes.astype("int32")
        codes[codes < 0] = len(values)
        return cls(codes, [*values, Decimal(0)], np.array([*unreadable, True]))

    def total_of(self, counts: np.ndarray) -> tuple[Decimal, int]:
        """Exact Decimal sum for ``counts[k]`` rows of code k (the last: missing)."""
        total = Decimal(0)
        for code in np.argsort(-counts, kind="stable").tolist():
            count = int(counts[code])
            if count:
                total += self.values[code] * count
        return total, int(counts[self.unreadable].sum())

    def counts(self, codes: np.ndarray) -> np.ndarray:
        """Rows per code among ``codes``."""
        return np.bincount(codes, minlength=len(self.values))

    def total(self, rows: np.ndarray) -> tuple[Decimal, int]:
        """The sum over ``rows`` (indexes or a mask of ``codes``) and its unreadable rows."""
        return self.total_of(self.counts(self.codes[rows]))


@dataclass
class Measured:
    """Charged amounts: first messages, follow-ups, and the first messages of answered
    requests (by testMode) matched through the correlation tag."""

    answers: int = 0
    first_eur: Decimal = Decimal(0)
    followups: int = 0
    followups_eur: Decimal = Decimal(0)
    live_matched_eur: Decimal = Decimal(0)
    test_matched_eur: Decimal = Decimal(0)
    unreadable_costs: int = 0
    by_model: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total_eur(self) -> Decimal:
        return self.first_eur + self.followups_eur

    @property
    def unmatched_eur(self) -> Decimal:
        """First messages not matched to an answered request (extra replies, foreign tags)."""
        return self.first_eur - self.live_matched_eur - self.test_matched_eur

    @property
    def test_mode_str(self) -> str:
        return eur_str(self.test_matched_eur)

    @property
    def followups_str(self) -> str:
        return eur_str(self.followups_eur)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": "answer.cost of answer.created events, each answer id once",
            "answers": self.answers,
            "first_messages_eur": eur_str(self.first_eur),
            "split_followups": self.followups,
            "split_followups_eur": eur_str(self.followups_eur),
            "total_eur": eur_str(self.total_eur),
            "unreadable_costs": self.unreadable_costs,
        }

    def explain(
        self,
        projected_eur: Decimal,
        projected: dict[str, Any],
        billable: dict[str, Any],
        test_mode_eur: Decimal,
        sheet: PriceSheet,
    ) -> dict[str, Any]:
        """Projected minus measured, as reasons that add up to it (``unexplained`` is the rest)."""
        placeholders = [
            key
            for key in sheet.placeholders_among(
                [f"{REPLY_KEY}.{m}" for m in billable["replies"] if billable["replies"][m]]
            )
        ]
        reasons = [
            (
                "test_mode",
                test_mode_eur - self.test_matched_eur,
                "testMode replies are priced as if live; DumGum charges them 0.0000",
            ),
            (
                "reply_price",
                billable["replies_eur"] - self.live_matched_eur,
                "sheet price minus the answer.cost of each live reply"
                + (f" (placeholder prices: {', '.join(placeholders)})" if placeholders else ""),
            ),
            (
                "vision",
                projected["vision_eur"],
                "picture analyses are not part of answer.cost (assumed: the docs do not say)",
            ),
            (
                "soulengine",
                projected["soulengine_eur"],
                "SoulEngine fees are not part of answer.cost (assumed: the docs do not say)",
            ),
            (
                "split_followups",
                -self.followups_eur,
                "follow-up messages are free in the projection; this is what they carried",
            ),
            (
                "unmatched_answers",
                -self.unmatched_eur,
                "first messages matched to no answered request (extra replies, foreign tags)",
            ),
        ]
        difference = projected_eur - self.total_eur
        explained = sum((amount for _, amount, _ in reasons), Decimal(0))
        return {
            "projected_minus_measured_eur": eur_str(difference),
            "reasons": [
                {"reason": name, "eur": eur_str(amount), "note": note}
                for name, amount, note in reasons
            ],
            "unexplained_eur": eur_str(difference - explained),
        }


def _text(series: pd.Series) -> pa.Array:
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array if pa.types.is_string(array.type) else array.cast(pa.string())


def request_positions(requests: pd.DataFrame, tags: pd.Series) -> np.ndarray:
    """The row of the first request whose ``request_id`` is each tag (-1: none)."""
    if not len(tags) or not len(requests):
        return np.full(len(tags), -1, dtype="int64")
    found = pc.index_in(_text(tags), value_set=_text(requests["request_id"]))
    positions: np.ndarray = found.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    return positions


def _first_by_position(positions: np.ndarray, size: int) -> np.ndarray:
    """Per request row: the index of its first entry in ``positions`` (all >= 0; ``len``:
    none)."""
    kind = "int32" if len(positions) < 2**31 else "int64"
    first = np.full(size, len(positions), dtype=kind)
    np.minimum.at(first, positions, np.arange(len(positions), dtype=kind))
    return first


def _duplicate_ids(requests: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """For ``rows``: the first row with the same ``request_id`` (-1: none or itself missing)."""
    ids = requests["request_id"]
    first = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    first = first[~first.index.duplicated()]
    found = first.reindex(pd.Index(ids.take(rows))).to_numpy(dtype="float64", na_value=-1.0)
    return np.where(ids.take(rows).isna().to_numpy(), -1, found.astype("int64"))


def measure(
    events: pd.DataFrame,
    requests: pd.DataFrame,
    answered: np.ndarray,
    test_mode: np.ndarray,
    models: tuple[np.ndarray, list[str]],
    request_pos: np.ndarray | None = None,
) -> Measured:
    """Sum ``answer.cost`` over the answers received, each answer id once.

    ``answered`` and ``test_mode``: masks over ``requests``; ``models``: the requests' chat
    model codes (-1: none) and each code's name; ``request_pos``: per event, the row of the
    request its tag names (-1: none), as ``analysis.join.join_events`` gives it.
    """
    created = np.flatnonzero(
        (events["event"] == CREATED).to_numpy(dtype=bool, na_value=False)
        if len(events)
        else np.zeros(0, dtype=bool)
    )
    # each answer id once (its first delivery), then the answers without an id
    no_id = events["answer_id"].isna().to_numpy()[created]
    rows = np.concatenate(
        [created[first_occurrences(events["answer_id"], created)], created[no_id]]
    )
    del created, no_id  # (the arrays of 10 M-row runs: freed as soon as done with)
    sequence = numbers(events["sequence_number"], rows, 0.0)
    followup, first_message = sequence > 0, sequence == 0
    del sequence
    costs = CostCodes.of(events["cost"], rows)
    first_eur, bad_first = costs.total(~followup)
    followups_eur, bad_followups = costs.total(followup)
    measured = Measured(
        answers=len(rows),
        first_eur=first_eur,
        followups=int(followup.sum()),
        followups_eur=followups_eur,
        unreadable_costs=bad_first + bad_followups,
    )
    # per answer: the request its tag names (-1: none; an answer without a tag names none,
    # and a request without an id is named by none)
    tagged = events["tag_request"].notna().to_numpy()[rows]
    if request_pos is None:
        positions = np.full(len(rows), -1, dtype="int64")
        positions[tagged] = request_positions(requests, events["tag_request"].take(rows[tagged]))
    else:
        if len(request_pos) != len(events):
            raise ValueError(f"{len(request_pos)} joined positions for {len(events)} events")
        positions = np.asarray(request_pos[rows], dtype="int64")
        positions[~tagged | (positions < 0)] = -1
    del tagged
    if len(requests) and requests["request_id"].hasnans:
        unnamed = np.append(requests["request_id"].isna().to_numpy(), True)
        positions[unnamed[positions]] = -1
    _match_first_answers(
        measured,
        requests,
        answered,
        test_mode,
        costs,
        positions,
        events["recv_ns"],
        rows,
        first_message,
    )
    measured.by_model = _by_model(costs, positions, models)
    return measured


def _match_first_answers(
    measured: Measured,
    requests: pd.DataFrame,
    answered: np.ndarray,
    test_mode: np.ndarray,
    costs: CostCodes,
    positions: np.ndarray,
    recv_ns: pd.Series,
    rows: np.ndarray,
    first_message: np.ndarray,
) -> None:
    """The cost of the first message of each answered request's first reply (by arrival).

    Per answer (the events at ``rows``): ``positions``, the request its tag names (-1: none),
    and ``first_message``, whether it is the first message of its reply.
    """
    firsts = np.flatnonzero(first_message & (positions >= 0))
    if not len(firsts):
        return
    firsts = firsts[stable_order(recv_ns, rows[firsts])]
    first_of = _first_by_position(positions[firsts], len(requests))
    matched = first_of < len(firsts)
    terminal = np.full(len(requests), -1, dtype="int32")  # -1: no first message
    terminal[matched] = costs.codes[firsts[first_of[matched]]]
    lonely = np.flatnonzero(answered & ~matched)
    if len(lonely):
        # a repeated request id: its events went to the first request of that id
        same = _duplicate_ids(requests, lonely)
        known = same >= 0
        terminal[lonely[known]] = terminal[same[known]]
    found = answered & (terminal >= 0)
    measured.live_matched_eur, _ = costs.total_of(costs.counts(terminal[found & ~test_mode]))
    measured.test_matched_eur, _ = costs.total_of(costs.counts(terminal[found & test_mode]))


def _by_model(
    costs: CostCodes, positions: np.ndarray, models: tuple[np.ndarray, list[str]]
) -> dict[str, Decimal]:
    """Measured cost per chat model of the request each answer names."""
    codes, names = models
    # per request its model's code + 1 (0: none), and 0 last for the answers naming none
    model = np.append(codes + 1, 0).astype(np.min_scalar_type(len(names) + 1))[positions]
    width = len(costs.values)
    cells = model.astype("int32") * width + costs.codes
    counts = np.bincount(cells, minlength=(len(names) + 1) * width).reshape(-1, width)
    out: dict[str, Decimal] = {}
    for code in np.flatnonzero(counts.sum(axis=1)).tolist():
        name = NO_REQUEST if code == 0 else names[code - 1]
        out[name] = out.get(name, Decimal(0)) + costs.total_of(counts[code])[0]
    return dict(sorted(out.items()))
