"""What a run was charged: the sum of ``answer.cost`` over the answers received, and why it
differs from the projection, in named amounts that add up to the difference.

Events come joined to the requests by row position (``analysis.join.JoinedEvents``), with
their costs as integer codes into the run's handful of distinct cost strings, each parsed
once, so every sum is a few counts times a Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.join import FOLLOW_UP, JoinedEvents
from dumgum_loadtest.cost.rules import answer_cost_eur, eur_str
from dumgum_loadtest.cost.sheet import REPLY_KEY, PriceSheet

NO_REQUEST = "(no request)"


def parse_costs(values: Iterable[Any]) -> tuple[list[Decimal], int]:
    """``answer.cost`` values as Decimal; missing or invalid ones (``answer_cost_eur``: not
    a finite decimal from 0 to the plausible maximum) count as 0 and are counted."""
    out: list[Decimal] = []
    bad = 0
    for value in values:
        cost = answer_cost_eur(value)
        if cost is None:
            out.append(Decimal(0))
            bad += 1
        else:
            out.append(cost)
    return out, bad


@dataclass(frozen=True, slots=True)
class CostCodes:
    """``answer.cost`` per row as a code into its distinct values, each parsed once."""

    codes: np.ndarray  # per row, int32; missing: the last code
    values: list[Decimal]  # per code; the last, missing: 0; an invalid cost: 0
    unreadable: np.ndarray  # per code: missing or invalid (never summed); the last: True

    @classmethod
    def of_codes(cls, codes: np.ndarray, texts: list[Any]) -> CostCodes:
        """Costs given as codes into ``texts`` (-1: missing), each text parsed once."""
        values, unreadable = [], []
        for text in texts:
            (cost,), bad = parse_costs([text])
            values.append(cost)
            unreadable.append(bool(bad))
        codes = codes.astype("int32")
        codes[codes < 0] = len(values)
        return cls(codes, [*values, Decimal(0)], np.array([*unreadable, True], dtype=bool))

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
    unreadable_costs: int = 0  # answers whose cost was missing or invalid: summed as 0
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
            "source": (
                "answer.cost of answer.created events, each answer id once; a missing or"
                " invalid cost (unreadable_costs, hygiene.invalid_cost) counts as 0"
            ),
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
    joined: JoinedEvents,
    requests: pd.DataFrame,
    answered: np.ndarray,
    test_mode: np.ndarray,
    models: tuple[np.ndarray, list[str]],
) -> Measured:
    """Sum ``answer.cost`` over the answers received, each answer id once.

    ``joined``: the events joined to ``requests`` (``analysis.join``); ``answered`` and
    ``test_mode``: masks over ``requests``; ``models``: the requests' chat model codes (-1:
    none) and each code's name.
    """
    # each answer id once (its first delivery; an answer without an id, every time)
    rows = np.flatnonzero(joined.created & joined.first_delivery)
    followup = joined.kind[rows] == FOLLOW_UP
    first_message = joined.sequence_sign[rows] == 0
    costs = CostCodes.of_codes(joined.cost_code[rows], joined.cost_values)
    first_eur, bad_first = costs.total(~followup)
    followups_eur, bad_followups = costs.total(followup)
    measured = Measured(
        answers=len(rows),
        first_eur=first_eur,
        followups=int(followup.sum()),
        followups_eur=followups_eur,
        unreadable_costs=bad_first + bad_followups,
    )
    # per answer: the request its tag names (-1: none)
    positions = joined.request_pos[rows]
    _match_first_answers(
        measured,
        requests,
        answered,
        test_mode,
        costs,
        positions,
        joined.recv_ns,
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
    recv_ns: np.ndarray,
    rows: np.ndarray,
    first_message: np.ndarray,
) -> None:
    """The cost of the first message of each answered request's first reply (by arrival).

    Per answer (the events at ``rows``, received at ``recv_ns[rows]``): ``positions``, the
    request its tag names (-1: none), and ``first_message``, whether it is the first message
    of its reply.
    """
    firsts = np.flatnonzero(first_message & (positions >= 0))
    if not len(firsts):
        return
    firsts = firsts[np.argsort(recv_ns[rows[firsts]], kind="stable")]  # NaN (no time) last
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
