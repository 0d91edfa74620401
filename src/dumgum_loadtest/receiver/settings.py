"""Receiver settings, read from ``DUMGUM_RECEIVER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dumgum_loadtest.limit_settings import LimitSettings
from dumgum_loadtest.limits import MIB
from dumgum_loadtest.receiver.gate import ReceiverSecret, parse_secret


class ReceiverSettings(LimitSettings):
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
    # Events with long histories or shared pictures run larger than enqueues.
    max_body_bytes: int = Field(
        default=4 * MIB, ge=1, description="Largest request body; a larger one is answered 413."
    )
    state: str = Field(
        default="memory",
        description="Where chat history, profile versions and turn ends live: 'memory' (this"
        " process) or redis://HOST:PORT/DB (Redis or Valkey, shared by several processes).",
    )
    state_ttl_s: int = Field(
        default=86_400,
        ge=1,
        description="Redis state only: a pair's keys expire after this long unused.",
    )
    secret_path: str | None = Field(
        default=None,
        description="Serve every endpoint under /<secret>/ only; anything else is a 404.",
    )
    require_header: str | None = Field(
        default=None, description="NAME:VALUE every request must carry; else 401."
    )

    def secret(self) -> ReceiverSecret:
        return parse_secret(self.secret_path, self.require_header)
