"""The mock's model of DumGum: latency, capacity, faults, prices and every undocumented assumption.

Each field is a named option with a default the README states; a YAML file (``--config``)
overrides any subset, and ``PATCH /_mock/config`` changes it while the mock runs.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dumgum_loadtest.errors import ConfigError, config_error_from_validation
from dumgum_loadtest.mock.distributions import Constant, Distribution, Lognormal, Uniform
from dumgum_loadtest.schema.enums import ChatModel, MultipleMessagesFrequency, StopReason


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelProfile(_Section):
    """Latency and capacity of one chat model."""

    generation_s: Distribution = Field(
        description="Time to generate one reply (real seconds before --time-scale)."
    )
    concurrency: int = Field(
        default=256, ge=1, description="Replies generated at once; the rest wait in a queue."
    )
    queue_limit: int | None = Field(
        default=None,
        ge=0,
        description="Replies allowed to wait for a slot; past it, drop at once (None: no limit).",
    )
    price_eur: Decimal = Field(
        default=Decimal("0.025"),
        ge=0,
        description="Cost of one billed reply. Placeholder: the docs show only 0.025.",
    )


def _default_models() -> dict[ChatModel, ModelProfile]:
    # Placeholders: DumGum publishes no latency figures (dumgum-api.md §5.1).
    return {
        ChatModel.DATING_SMART_1: ModelProfile(generation_s=Lognormal(median_s=3.0, p99_s=9.0)),
        ChatModel.DATING_PRO_1: ModelProfile(generation_s=Lognormal(median_s=4.5, p99_s=13.0)),
        ChatModel.CHAT_2_SMART: ModelProfile(generation_s=Lognormal(median_s=4.0, p99_s=12.0)),
        ChatModel.CHAT_2_PRO: ModelProfile(generation_s=Lognormal(median_s=6.0, p99_s=18.0)),
    }


class InflightPolicy(StrEnum):
    """What an enqueue does while a reply for the same pair is being generated (undocumented)."""

    QUEUE = "queue"  # buffer it; generate the next reply once the current one is delivered
    COALESCE = "coalesce"  # fold it into the reply being generated (counted as merged)
    IGNORE = "ignore"  # accept with 204 and never answer it


class MergedTags(StrEnum):
    """Whose tags a merged reply echoes (undocumented)."""

    LATEST = "latest"
    FIRST = "first"


class BufferModel(_Section):
    merge: bool = Field(
        default=True,
        description="Enqueues inside bufferSeconds of the previous one merge into one reply.",
    )
    inflight_policy: InflightPolicy = InflightPolicy.QUEUE
    merged_tags: MergedTags = MergedTags.LATEST


def _default_split_probability() -> dict[MultipleMessagesFrequency, float]:
    return {
        MultipleMessagesFrequency.VERY_FREQUENT: 0.8,
        MultipleMessagesFrequency.FREQUENT: 0.6,
        MultipleMessagesFrequency.OCCASIONAL: 0.35,
        MultipleMessagesFrequency.RARE: 0.15,
    }


class SplitModel(_Section):
    """Multiple messages per reply: how often, and into how many messages (undocumented)."""

    probability_by_frequency: dict[MultipleMessagesFrequency, float] = Field(
        default_factory=_default_split_probability
    )
    default_probability: float = Field(
        default=0.5, ge=0, le=1, description="When multipleMessagesPerReplyFrequency is null."
    )
    three_message_share: float = Field(
        default=0.4, ge=0, le=1, description="Of split replies, the share with 3 messages (else 2)."
    )


class TypingModel(_Section):
    """Pause between answer.processing and answer.created per replyTypingDelay (undocumented)."""

    fast_s: Distribution = Field(default_factory=lambda: Uniform(low_s=1.0, high_s=3.0))
    normal_s: Distribution = Field(default_factory=lambda: Uniform(low_s=3.0, high_s=8.0))


def _default_stop_rates() -> dict[StopReason, float]:
    return {
        StopReason.USER_MESSAGE_REPETITION: 0.002,
        StopReason.UNKNOWN_LANGUAGE: 0.001,
        StopReason.USER_HOSTILE: 0.002,
        StopReason.AI_SUSPICION: 0.003,
        StopReason.USER_UNDERAGE: 0.0005,
        StopReason.USER_SUSPICIOUS: 0.0005,
        StopReason.MALICIOUS_CONTENT: 0.0002,
    }


class GuardrailModel(_Section):
    stop_rates: dict[StopReason, float] = Field(
        default_factory=_default_stop_rates,
        description="Chance that a reply carries this stop reason (when its guardrail is on).",
    )
    ban_ladder_s: list[float | None] = Field(
        default_factory=lambda: [7200.0, 43200.0, 86400.0, 172800.0, None],
        description="Progressive bans 2 h → 12 h → 24 h → 48 h → permanent (None).",
    )
    ban_durations_unit_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds per unit of a request's banDurations (undocumented; seconds).",
    )
    run_in_test_mode: bool = Field(
        default=True, description="Whether guardrails fire on testMode requests (undocumented)."
    )


class FaultModel(_Section):
    enqueue_5xx_rate: float = Field(default=0.0, ge=0, le=1)
    enqueue_429_rate: float = Field(default=0.0, ge=0, le=1)
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After header on a 429.")
    enqueue_added_latency_s: Distribution | None = Field(
        default=None, description="Extra time before the enqueue answers (not time-scaled)."
    )
    generation_failure_rate: float = Field(
        default=0.0, ge=0, le=1, description="Replies that fail and end in conversation.dropped."
    )
    delivery_failure_rate: float = Field(
        default=0.0, ge=0, le=1, description="Webhook attempts that fail before reaching the wire."
    )
    delivery_added_latency_s: Distribution | None = Field(
        default=None, description="Extra time before each webhook attempt (slow DumGum side)."
    )
    duplicate_delivery_rate: float = Field(default=0.0, ge=0, le=1)
    out_of_order_rate: float = Field(
        default=0.0, ge=0, le=1, description="Replies whose answer.processing arrives last."
    )


class DeliveryModel(_Section):
    """Webhook delivery: any 2xx is delivered; otherwise retry with bounded backoff (assumed)."""

    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=10.0, ge=0)
    connection_limit: int = Field(default=256, ge=1)
    http_client: Literal["fast", "aiohttp"] = Field(
        default="fast",
        description=(
            "Client for the mock's outbound calls (webhooks, chat history, profiles): 'fast' is"
            " the lean keep-alive HTTP/1.1 client for http:// URLs (https:// still goes through"
            " aiohttp); 'aiohttp' sends every call through aiohttp. Read at startup."
        ),
    )


class PriceModel(_Section):
    vision_eur_per_picture: Decimal = Field(default=Decimal("0.015"), ge=0)
    soulengine_eur_per_persona: Decimal = Field(
        default=Decimal("0.10"), ge=0, description="Placeholder: the docs give no price."
    )


class BehaviourModel(_Section):
    """Other undocumented behaviour the mock has to choose."""

    engage_nudge_below_s: float = Field(
        default=6 * 3600.0, description="engage AUTO: NUDGE below this silence, REVIVE above."
    )
    memory_update_rate: float = Field(
        default=0.3, ge=0, le=1, description="Replies that change the memory (memory webhook)."
    )
    memory_mode: str = Field(default="FULL_STATE", pattern="^(FULL_STATE|CHANGES_ONLY)$")
    icebreaker_without_engage: str = Field(
        default="reject",
        pattern="^(reject|ignore)$",
        description="icebreakerType without engage AUTO/ICEBREAKER: 422, or accept and ignore.",
    )
    pictures_on_dating_models: str = Field(
        default="ignore",
        pattern="^(reject|ignore)$",
        description="vision / shareablePictures on dating-* models: ignored (counted) or 422.",
    )
    picture_share_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Chat-2 replies with shareablePictures that attach one (Smart Share).",
    )
    image_rejection_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Newly analysed user-shared pictures that get chat.image.rejected.",
    )
    pair_idle_ttl_s: float = Field(
        default=3600.0, gt=0, description="Forget an idle, unbanned pair after this (memory bound)."
    )
    profile_cache_size: int = Field(default=1_000_000, ge=1)


class EndpointsModel(_Section):
    """The customer's endpoints, as configured in DumGum's dashboard (None: not called)."""

    incoming_content_url: str | None = None
    profile_url: str | None = None
    chat_history_url: str | None = None
    memory_webhook_url: str | None = None


class MockConfig(_Section):
    time_scale: float = Field(
        default=1.0, gt=0, description="Multiplies every simulated delay (buffer, generation...)."
    )
    seed: int | None = None
    endpoints: EndpointsModel = Field(default_factory=EndpointsModel)
    models: dict[ChatModel, ModelProfile] = Field(default_factory=_default_models)
    buffer: BufferModel = Field(default_factory=BufferModel)
    split: SplitModel = Field(default_factory=SplitModel)
    typing: TypingModel = Field(default_factory=TypingModel)
    guardrails: GuardrailModel = Field(default_factory=GuardrailModel)
    faults: FaultModel = Field(default_factory=FaultModel)
    delivery: DeliveryModel = Field(default_factory=DeliveryModel)
    prices: PriceModel = Field(default_factory=PriceModel)
    behaviour: BehaviourModel = Field(default_factory=BehaviourModel)

    def model_profile(self, model: ChatModel) -> ModelProfile:
        return self.models.get(model) or _default_models()[model]

    def patched(self, changes: dict[str, Any], source: str = "PATCH /_mock/config") -> MockConfig:
        """A new config with ``changes`` merged in (JSON merge patch); raises ConfigError."""
        merged = _merge(self.model_dump(mode="json"), changes)
        try:
            return MockConfig.model_validate(merged)
        except ValidationError as exc:
            raise config_error_from_validation(
                source, exc.errors(), data=merged, model=MockConfig
            ) from exc


def _merge(base: Any, patch: Any) -> Any:
    # A distribution given with its "kind" replaces the old one whole: fields differ by kind.
    if not isinstance(patch, dict) or not isinstance(base, dict) or "kind" in patch:
        return patch
    out = dict(base)
    for key, value in patch.items():
        if value is None and key in out and isinstance(out[key], dict):
            out.pop(key)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def merge_patch(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` over ``base`` as ``PATCH /_mock/config`` merges it (a distribution given with
    its ``kind`` replaces the old one whole; null removes a section), unvalidated."""
    merged: dict[str, Any] = _merge(base, patch)
    return merged


def load_mock_config(path: Path | None, **overrides: Any) -> MockConfig:
    """Defaults, then the YAML file, then command-line ``overrides`` (those not None)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the mock config: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the mock config must be a mapping, got {loaded!r}")
        data = loaded or {}
    data.update({key: value for key, value in overrides.items() if value is not None})
    # The file overrides the defaults key by key, so a model can change one number only.
    return MockConfig().patched(data, source=str(path or "mock options"))


__all__ = ["Constant", "Lognormal", "MockConfig", "ModelProfile", "Uniform", "load_mock_config"]
