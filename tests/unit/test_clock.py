"""``iso_from_ns``: DumGum's date format, identical to formatting a ``datetime`` each time."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest

from dumgum_loadtest.clock import iso_from_ns, ns_from_iso

SECOND_NS = 1_000_000_000


def _by_datetime(epoch_ns: int) -> str:
    """The formatting ``iso_from_ns`` replaced (``strftime`` on every call)."""
    dt = datetime.fromtimestamp(epoch_ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@pytest.mark.parametrize(
    ("epoch_ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_699_335_116_123_000_000, "2023-11-07T05:31:56.123Z"),
        (1_699_335_116_999_999_999, "2023-11-07T05:31:57.000Z"),  # rounds into the next second
        (1_699_335_116_000_999_999, "2023-11-07T05:31:56.001Z"),
    ],
)
def test_known_dates(epoch_ns: int, text: str) -> None:
    assert iso_from_ns(epoch_ns) == text


def test_same_text_as_datetime_at_every_rounding_edge() -> None:
    rng = random.Random(7)
    now_s = time.time_ns() // SECOND_NS
    edges = (0, 1, 500, 999_499, 999_500, 999_999_499, 999_999_500, 999_999_501, SECOND_NS - 1)
    values = [
        second * SECOND_NS + edge
        for second in (now_s + rng.randrange(-(10**7), 10**7) for _ in range(500))
        for edge in edges
    ]
    values += [rng.randrange(0, 4 * 10**18) for _ in range(20_000)]
    # In time order too, as the mock stamps them: the cached second must roll over correctly.
    start_ns = time.time_ns()
    values += [start_ns + step * 333_333_333 for step in range(100)]
    assert [iso_from_ns(v) for v in values] == [_by_datetime(v) for v in values]


def test_round_trip_to_the_millisecond() -> None:
    epoch_ns = 1_765_000_000_123_456_789
    assert ns_from_iso(iso_from_ns(epoch_ns)) == 1_765_000_000_123_000_000
