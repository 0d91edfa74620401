"""The mock app standing in for the real DumGum API in the real-URL end-to-end tests."""

from __future__ import annotations

from typing import Any

from dumgum_loadtest.mock import MockConfig


def stand_in_config(receiver_url: str, changes: dict[str, Any] | None = None) -> MockConfig:
    """A fast mock (time scale 0.01) whose dashboard points at the run's receiver, as a
    customer configures DumGum's; ``changes`` are merged over it (a JSON merge patch)."""
    return MockConfig().patched(
        {
            "time_scale": 0.01,
            "endpoints": {
                "incoming_content_url": f"{receiver_url}/incoming",
                "profile_url": f"{receiver_url}/profile",
                "chat_history_url": f"{receiver_url}/chat-history",
            },
            **(changes or {}),
        }
    )
