"""Receiver settings, read from ``DUMGUM_RECEIVER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReceiverSettings(BaseSettings):
    """One receiver process: where it listens, where it records, how much history it holds."""

    model_config = SettingsConfigDict(env_prefix="DUMGUM_RECEIVER_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    out_dir: Path = Field(
        default=Path("reports/receiver"),
        description="Where events-<pid>.jsonl and calls-<pid>.jsonl are appended.",
    )
    max_messages_per_pair: int = Field(
        default=50, ge=1, description="Newest messages kept per (user, persona) pair."
    )
    max_pairs: int = Field(
        default=200_000, ge=1, description="Pairs held; the least recently used one is evicted."
    )
    profile_seed: int = Field(default=0, description="Same seed and id, same synthetic profile.")
    fsync: bool = Field(
        default=False, description="fdatasync after every record: durable, and much slower."
    )
