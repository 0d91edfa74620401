"""One ledger for a mock served by several processes: the per-process ledgers merged.

Each process keeps the ledger of the pairs routed to it (``loadtest.routing``); the run writes
their merge to ``mock-ledger.json``, in the shape of one mock's ledger, so the analysis and the
reports read it as they read a single mock's. The rules:

- counters (numbers) and counters by key (``dropped``, ``enqueues_rejected``, the gauges by
  model, ...) are summed, key by key;
- ``cost`` (decimal strings of euros) is summed exactly, in ``Decimal``;
- ``gauges.loop_lag_ms`` keeps the worst process: the largest p50, p99 and max (a lag is not
  additive, and the worst loop is the one that delays answers), with the samples summed;
- ``vision_analyses`` and ``soulengine_activations`` are summed: each process bills what it
  saw, so a picture or a persona that two processes met counts twice, as two DumGum shards
  without a shared cache would bill it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dumgum_loadtest.mock.ledger import money

LOOP_LAG_KEY = "loop_lag_ms"
COST_KEY = "cost"


def merge_ledgers(ledgers: list[dict[str, Any]]) -> dict[str, Any]:
    """The merge of ``GET /_mock/ledger`` snapshots of several processes (one: itself)."""
    if not ledgers:
        raise ValueError("no ledger to merge")
    merged: dict[str, Any] = {}
    for ledger in ledgers:
        merged = _merge_dicts(merged, ledger, ())
    return merged


def _merge_dicts(
    into: dict[str, Any], other: dict[str, Any], path: tuple[str, ...]
) -> dict[str, Any]:
    out = dict(into)
    for key, value in other.items():
        where = (*path, key)
        if key not in out:
            out[key] = _copy(value)
        elif key == LOOP_LAG_KEY and isinstance(value, dict):
            out[key] = _worst_lag(out[key], value)
        else:
            out[key] = _merge_values(out[key], value, where)
    return out


def _merge_values(left: Any, right: Any, where: tuple[str, ...]) -> Any:
    if isinstance(left, dict) and isinstance(right, dict):
        return _merge_dicts(left, right, where)
    if where[0] == COST_KEY and isinstance(left, str) and isinstance(right, str):
        return money(Decimal(left) + Decimal(right))
    if _number(left) and _number(right):
        return left + right
    if left is None:
        return right
    if right is None:
        return left
    raise ValueError(
        f"cannot merge the mock ledgers at {'.'.join(where)}: {left!r} and {right!r}"
        " (numbers, decimal strings under cost and mappings of them merge)"
    )


def _worst_lag(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in {**left, **right}:
        a, b = left.get(key), right.get(key)
        if key == "samples":
            out[key] = (a or 0) + (b or 0)
        elif a is None or b is None:
            out[key] = b if a is None else a
        else:
            out[key] = max(a, b)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _copy(value: Any) -> Any:
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else value


__all__ = ["merge_ledgers"]
