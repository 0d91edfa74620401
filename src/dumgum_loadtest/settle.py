"""Settling: after the load, keep recording until the target is done and the receiver is quiet.

The target saying "done" is not enough on its own: a real API's split reply sends its next
message seconds after the first (NORMAL typing: 3-8 s each), and the mock's ledger can be
unreadable when it is saturated. Settling ends only when the target says it is idle AND
nothing was recorded for a quiet period; a failed check of the target is never "idle". All of
it is bounded, and a stop request (a signal, a dead child) ends it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from dumgum_loadtest.records import RAW_DIR

SettleEnd = Literal["quiet", "all_resolved", "bound", "interrupted", "receiver_died"]
"""How settling ended: the mock's gauges idle and quiet (``quiet``); every request of a real
URL resolved and quiet (``all_resolved``); the time bound; a signal or a dead mock
(``interrupted``); the receiver died (``receiver_died``)."""

QUIET_PERIOD_S = 10.0
"""Seconds with nothing recorded before settling may end, in DumGum's time (x time scale for
the mock): above the longest typing pause between two messages of a reply (NORMAL: 8 s)."""


@dataclass(frozen=True)
class SettleReport:
    """What run-meta.json's ``settle`` holds (``possibly_receiving`` is filled in later)."""

    ended_by: SettleEnd
    waited_s: float
    bound_s: float
    quiet_period_s: float
    possibly_receiving: int = 0
    target_unreadable: int = 0  # checks where the target could not tell (ledger unreadable)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["waited_s"] = round(self.waited_s, 3)
        data["bound_s"] = round(self.bound_s, 3)
        data["quiet_period_s"] = round(self.quiet_period_s, 3)
        return data


def settle(
    *,
    bound_s: float,
    quiet_period_s: float,
    target_idle: Callable[[], bool | None],
    recorded: Callable[[], int],
    stop: Callable[[], SettleEnd | None],
    idle_ends_as: Literal["quiet", "all_resolved"],
    interval_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SettleReport:
    """Wait until ``target_idle()`` is True and ``recorded()`` has not changed for
    ``quiet_period_s``, or ``stop()`` names a reason, or ``bound_s`` has passed.

    ``target_idle`` returns None when it cannot tell (a ledger fetch failed): counted, and
    treated as "still working". ``recorded`` is anything that grows while the receiver
    records (bytes of its shards); the quiet period starts when settling starts, since the
    load has only just ended.
    """
    started_s = clock()
    deadline_s = started_s + bound_s
    last_recorded = recorded()
    last_change_s = started_s
    unreadable = 0

    def report(ended_by: SettleEnd) -> SettleReport:
        waited_s = clock() - started_s
        return SettleReport(ended_by, waited_s, bound_s, quiet_period_s, 0, unreadable)

    while True:
        reason = stop()
        if reason is not None:
            return report(reason)
        now_s = clock()
        current = recorded()
        if current != last_recorded:
            last_recorded, last_change_s = current, now_s
        # The target is asked only once the receiver is quiet: that check can be costly (a
        # real URL's check reads every record), and only both together end settling.
        if now_s - last_change_s >= quiet_period_s:
            idle = target_idle()
            if idle is None:
                unreadable += 1
            elif idle and recorded() == last_recorded:  # nothing arrived while it answered
                return report(idle_ends_as)
        if clock() >= deadline_s:
            return report("bound")
        sleep(max(min(interval_s, deadline_s - clock()), 0.0))


class RecordedBytes:
    """Bytes in the receiver's shards (events and customer-endpoint calls): a counter that
    grows whenever the receiver records anything. Cheaper than reading them: one stat each."""

    def __init__(self, run_dir: Path) -> None:
        self._dir = run_dir / RAW_DIR

    def __call__(self) -> int:
        total = 0
        for pattern in ("events-*.jsonl", "calls-*.jsonl"):
            for path in self._dir.glob(pattern):
                try:
                    total += path.stat().st_size
                except OSError:
                    continue  # listed, then gone: nothing recorded there
        return total


def possibly_receiving(run_dir: Path, observed_until_ns: int, quiet_period_s: float) -> int:
    """Conversations (user, persona pairs) that may still have been receiving when the
    receiver stopped: their latest event arrived within the last quiet period, or was an
    ``answer.processing`` that no message followed (a reply, or a split reply's next message,
    on its way). Read from the events table when it exists, else from the raw shards."""
    import pyarrow.parquet as pq

    from dumgum_loadtest.analysis.load import read_shards
    from dumgum_loadtest.analysis.shards import EVENTS, LineCount

    columns = ["recv_ns", "event", "user_id", "persona_id"]
    table_path = run_dir / "events.parquet"
    if table_path.is_file():
        events = pq.read_table(table_path, columns=columns)
    else:
        events = read_shards(run_dir, EVENTS, LineCount()).select(columns)
    if events.num_rows == 0:
        return 0
    frame = events.to_pandas()
    latest = frame.sort_values("recv_ns", kind="stable").drop_duplicates(
        ["user_id", "persona_id"], keep="last"
    )
    recent = latest["recv_ns"] >= observed_until_ns - int(quiet_period_s * 1e9)
    waiting = latest["event"] == "answer.processing"
    return int((recent | waiting).sum())


__all__ = [
    "QUIET_PERIOD_S",
    "RecordedBytes",
    "SettleEnd",
    "SettleReport",
    "possibly_receiving",
    "settle",
]
