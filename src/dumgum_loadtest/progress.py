"""Live progress of a run: what the generator workers and the target report every second."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from dumgum_loadtest.cost.rules import answer_cost_eur
from dumgum_loadtest.records import RAW_DIR


def read_worker_progress(run_dir: Path) -> dict[str, float]:
    """Counters summed over every worker's ``progress-<worker>.json`` (missing: empty)."""
    totals: dict[str, float] = {}
    for path in (run_dir / RAW_DIR).glob("progress-*.json"):
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # being rewritten right now: next tick
        for key, value in data.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                if key.endswith(("_ms", "_pct")):
                    totals[key] = max(totals.get(key, 0.0), float(value))
                else:
                    totals[key] = totals.get(key, 0.0) + float(value)
    return totals


# Answer ids EventTail remembers to count each answer once: two generations of up to this
# many each, about 100 MB apiece. DumGum redelivers an answer within minutes of the first
# delivery (its retry back-off), far fewer answers apart than this even at 1,000 answers/s.
ANSWER_IDS_KEPT = 1_000_000


class EventTail:
    """Follows the receiver's event shards: terminal events so far and the cost received.

    DumGum delivers at least once: an answer id repeated is counted, and charged, once (as
    the analysis does). The ids are remembered in two generations of ``answer_ids_kept``
    each, so memory stays bounded on a long run; a repeat arriving after more distinct
    answers than that would be counted again.
    """

    def __init__(self, run_dir: Path, *, answer_ids_kept: int = ANSWER_IDS_KEPT) -> None:
        self._dir = run_dir / RAW_DIR
        self._offsets: dict[Path, int] = {}
        self.answers = 0
        self.dropped = 0
        self.events = 0
        self.cost_eur = Decimal(0)
        self._ids_kept = answer_ids_kept
        self._recent_ids: set[str] = set()
        self._older_ids: set[str] = set()
        self.last_reply_ns: dict[tuple[str, str], int] = {}  # per (user, persona)

    def poll(self) -> None:
        for path in self._dir.glob("events-*.jsonl"):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except OSError:
                continue
            complete = chunk.rfind(b"\n") + 1  # leave a half-written line for the next poll
            self._offsets[path] = offset + complete
            for line in chunk[:complete].splitlines():
                self._count(line)

    def _count(self, line: bytes) -> None:
        try:
            record: Any = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        body = record.get("body") if isinstance(record, dict) else None
        if not isinstance(body, dict):
            return
        self.events += 1
        event = body.get("event")
        # anything may arrive: a part that is not an object is as good as absent
        data = body.get("data")
        data = data if isinstance(data, dict) else {}
        if event == "conversation.dropped":
            self.dropped += 1
            self._replied(data, record.get("recv_ns"))
        elif event == "answer.created":
            answer = data.get("answer")
            if not isinstance(answer, dict):
                answer = {}
            if self._repeated(answer.get("id")):
                return
            if answer.get("sequenceNumber", 0) == 0:
                self.answers += 1
                self._replied({**data, **answer}, record.get("recv_ns"))
            cost = answer_cost_eur(answer.get("cost"))
            if cost is not None:  # Infinity, NaN, negative or absurd: not money (see rules)
                self.cost_eur += cost

    def _replied(self, data: dict[str, Any], recv_ns: Any) -> None:
        pair = (data.get("userProfileId"), data.get("personaProfileId"))
        if isinstance(pair[0], str) and isinstance(pair[1], str) and isinstance(recv_ns, int):
            key = (pair[0], pair[1])
            self.last_reply_ns[key] = max(self.last_reply_ns.get(key, 0), recv_ns)

    def _repeated(self, answer_id: Any) -> bool:
        """Whether this answer id was delivered before; remembers it. An answer without an id
        counts at each delivery: nothing tells its repeats apart."""
        if not isinstance(answer_id, str) or not answer_id:
            return False
        if answer_id in self._recent_ids:
            return True
        seen = answer_id in self._older_ids
        if len(self._recent_ids) >= self._ids_kept:
            self._older_ids, self._recent_ids = self._recent_ids, set()  # the oldest go
        self._recent_ids.add(answer_id)  # a repeat from the older ones is kept another round
        return seen

    def answer_ids_held(self) -> int:
        """How many answer ids are remembered (at most twice ``answer_ids_kept``)."""
        return len(self._recent_ids) + len(self._older_ids)


class RequestTail:
    """Follows the generator's request shards: per (user, persona), the last accepted send.

    With ``EventTail.last_reply_ns`` it tells how many conversations await a reply right now,
    which the HTTP requests in flight do not (a 204 comes back at once; the reply seconds
    later). Both are per pair, so a burst merged into one reply counts once.
    """

    def __init__(self, run_dir: Path) -> None:
        self._dir = run_dir / RAW_DIR
        self._offsets: dict[Path, int] = {}
        self.last_sent_ns: dict[tuple[str, str], int] = {}

    def poll(self) -> None:
        for path in self._dir.glob("requests-*.jsonl"):
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except OSError:
                continue
            complete = chunk.rfind(b"\n") + 1
            self._offsets[path] = offset + complete
            for line in chunk[:complete].splitlines():
                self._note(line)

    def _note(self, line: bytes) -> None:
        try:
            record: Any = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        status, sent_ns = record.get("status"), record.get("sent_ns")
        user, persona = record.get("user_id"), record.get("persona_id")
        if not (isinstance(status, int) and 200 <= status < 300 and isinstance(sent_ns, int)):
            return
        if isinstance(user, str) and isinstance(persona, str):
            key = (user, persona)
            self.last_sent_ns[key] = max(self.last_sent_ns.get(key, 0), sent_ns)

    def awaiting(self, events: EventTail) -> int:
        """Conversations whose last accepted request was sent after their last reply."""
        replies = events.last_reply_ns
        return sum(1 for key, sent in self.last_sent_ns.items() if sent > replies.get(key, 0))
