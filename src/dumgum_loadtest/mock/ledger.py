"""What DumGum would bill and do: counters the mock keeps and ``GET /_mock/ledger`` returns.

Money is Decimal; the snapshot prints it as strings so no float ever touches a price.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dumgum_loadtest.schema.enums import ChatModel, StopReason

CENT_4 = Decimal("0.0001")


def money(value: Decimal) -> str:
    """DumGum's cost format: a decimal string with four places (``0.0250``)."""
    return str(value.quantize(CENT_4))


@dataclass
class Ledger:
    """Counters only grow; sets hold what is billed once (picture URLs, personas)."""

    enqueues_received: int = 0
    enqueues_accepted: int = 0
    enqueues_rejected: Counter[int] = field(default_factory=Counter)  # by HTTP status
    merged: int = 0
    coalesced_into_inflight: int = 0
    ignored_while_inflight: int = 0
    suppressed_banned: int = 0
    suppressed_paused: int = 0
    replies: int = 0
    billed_replies: int = 0
    test_mode_replies: int = 0
    billed_replies_by_model: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    split_replies: int = 0
    followup_messages: int = 0
    split_messages_abandoned: int = 0
    engage_replies: Counter[str] = field(default_factory=Counter)
    pauses: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # by cause
    stops: Counter[str] = field(default_factory=Counter)  # by conversationStopReason
    vision_analysed_urls: set[str] = field(default_factory=set)
    vision_ignored_requests: int = 0
    images_rejected: int = 0
    soulengine_personas: set[str] = field(default_factory=set)
    chat_history_calls: int = 0
    profile_calls: int = 0
    customer_call_failures: int = 0
    deliveries: int = 0
    delivery_attempts: int = 0
    delivery_attempts_failed: int = 0
    deliveries_retried: int = 0
    deliveries_given_up: int = 0
    deliveries_undeliverable: int = 0
    duplicates_sent: int = 0
    out_of_order_replies: int = 0
    memory_events: int = 0

    def record_stop(self, reason: StopReason) -> None:
        self.stops[reason.value] += 1

    def record_billed_reply(self, model: ChatModel) -> None:
        self.billed_replies += 1
        self.billed_replies_by_model[model.value] += 1

    def cost_eur(
        self, reply_price_eur: dict[str, Decimal], vision_eur: Decimal, soulengine_eur: Decimal
    ) -> dict[str, str]:
        replies_eur = sum(
            (
                reply_price_eur[model] * count
                for model, count in self.billed_replies_by_model.items()
            ),
            Decimal(0),
        )
        vision_total = vision_eur * len(self.vision_analysed_urls)
        soul_total = soulengine_eur * len(self.soulengine_personas)
        return {
            "replies_eur": money(replies_eur),
            "vision_eur": money(vision_total),
            "soulengine_eur": money(soul_total),
            "total_eur": money(replies_eur + vision_total + soul_total),
        }

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON: counters as numbers, sets as their sizes."""
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, set):
                out[_SET_NAMES[name]] = len(value)
            elif isinstance(value, Counter):
                out[name] = {str(key): count for key, count in sorted(value.items())}
            else:
                out[name] = value
        return out


_SET_NAMES = {
    "vision_analysed_urls": "vision_analyses",
    "soulengine_personas": "soulengine_activations",
}
