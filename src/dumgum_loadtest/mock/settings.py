"""How ``dumgum-loadtest mock`` is started: command line, then environment, then config file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from dumgum_loadtest.limit_settings import LimitSettings
from dumgum_loadtest.mock.auth import DEFAULT_TOKEN
from dumgum_loadtest.mock.config import MockConfig, load_mock_config


class MockSettings(LimitSettings):
    """Environment variables: ``DUMGUM_MOCK_<FIELD>``; ``DUMGUM_MOCK_TOKENS`` is comma-separated."""

    model_config = SettingsConfigDict(env_prefix="DUMGUM_MOCK_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    control_token: str | None = Field(
        default=None,
        description="Bearer token of /_mock/ledger and /_mock/config [default: the project"
        " token when there is exactly one; with several, the control API is closed].",
    )
    config: Path | None = None
    time_scale: float | None = Field(default=None, gt=0)
    seed: int | None = None
    incoming_content_url: str | None = None
    profile_url: str | None = None
    chat_history_url: str | None = None
    memory_webhook_url: str | None = None

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @property
    def accepted_tokens(self) -> list[str]:
        """The tokens given, or the documented local default when none is."""
        return self.tokens or [DEFAULT_TOKEN]

    def mock_config(self) -> MockConfig:
        endpoints = {
            name: getattr(self, name)
            for name in (
                "incoming_content_url",
                "profile_url",
                "chat_history_url",
                "memory_webhook_url",
            )
            if getattr(self, name) is not None
        }
        config = load_mock_config(self.config, time_scale=self.time_scale, seed=self.seed)
        if endpoints:
            config = config.patched({"endpoints": endpoints}, source="mock endpoint options")
        return config
