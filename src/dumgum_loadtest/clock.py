"""Wall-clock epoch nanoseconds for records, ISO-8601 strings for DumGum payloads."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime


def now_ns() -> int:
    """Epoch nanoseconds: every record the harness writes carries this clock."""
    return time.time_ns()


_MICROSECONDS_PER_SECOND = 1_000_000
_second_prefix: tuple[int, str] = (-1, "")  # (epoch second, its "yyyy-MM-ddTHH:mm:ss.")


def iso_from_ns(epoch_ns: int) -> str:
    """``2023-11-07T05:31:56.123Z``: the format DumGum uses (``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``).

    The same string as ``datetime.fromtimestamp(epoch_ns / 1e9, tz=UTC)`` formatted with
    ``strftime``, rounding included (to the microsecond, half to even, then truncated to the
    millisecond), but the date and time of day are formatted once per second: the mock
    stamps every answer, and ``strftime`` on each was 2-3 % of its CPU.
    """
    global _second_prefix
    fraction, whole = math.modf(epoch_ns / 1e9)
    microseconds = round(fraction * _MICROSECONDS_PER_SECOND)
    seconds = int(whole)
    if microseconds >= _MICROSECONDS_PER_SECOND:  # as datetime carries a rounded-up fraction
        microseconds -= _MICROSECONDS_PER_SECOND
        seconds += 1
    elif microseconds < 0:  # before 1970
        microseconds += _MICROSECONDS_PER_SECOND
        seconds -= 1
    cached_second, prefix = _second_prefix
    if seconds != cached_second:
        prefix = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second_prefix = (seconds, prefix)
    return f"{prefix}{microseconds // 1000:03d}Z"


def ns_from_iso(text: str) -> int:
    """Parse an ISO-8601 date-time (``Z`` or offset) into epoch nanoseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000) * 1000
