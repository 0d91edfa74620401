"""Wall-clock epoch nanoseconds for records, ISO-8601 strings for DumGum payloads."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ns() -> int:
    """Epoch nanoseconds: every record the harness writes carries this clock."""
    return time.time_ns()


def iso_from_ns(epoch_ns: int) -> str:
    """``2023-11-07T05:31:56.123Z``: the format DumGum uses (``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``)."""
    dt = datetime.fromtimestamp(epoch_ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def ns_from_iso(text: str) -> int:
    """Parse an ISO-8601 date-time (``Z`` or offset) into epoch nanoseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000) * 1000
