"""Receiver app pieces that need no socket: settings and query-parameter parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dumgum_loadtest.clock import ns_from_iso
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.receiver.app import parse_last_message_date


def test_settings_defaults() -> None:
    settings = ReceiverSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8090)
    assert settings.out_dir == Path("reports/receiver")
    assert (settings.max_messages_per_pair, settings.max_pairs) == (50, 200_000)
    assert (settings.profile_seed, settings.fsync) == (0, False)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUMGUM_RECEIVER_PORT", "9123")
    monkeypatch.setenv("DUMGUM_RECEIVER_OUT_DIR", str(tmp_path))
    monkeypatch.setenv("DUMGUM_RECEIVER_FSYNC", "true")
    settings = ReceiverSettings()
    assert (settings.port, settings.out_dir, settings.fsync) == (9123, tmp_path, True)


def test_settings_reject_a_bad_bound() -> None:
    with pytest.raises(ValueError, match="max_pairs"):
        ReceiverSettings(max_pairs=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        ("2025-01-01T01:00:00.250+01:00", "2025-01-01T00:00:00.250Z"),
        # an unencoded "+" arrives as a space
        ("2025-01-01T01:00:00.250 01:00", "2025-01-01T00:00:00.250Z"),
    ],
)
def test_last_message_date_parsing(text: str, expected: str) -> None:
    assert parse_last_message_date(text) == ns_from_iso(expected)


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01T00:00:00Z", " 01:00"])
def test_last_message_date_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_last_message_date(text)


def test_app_does_not_touch_the_disk_before_it_starts(tmp_path: Path) -> None:
    create_receiver_app(ReceiverSettings(out_dir=tmp_path / "never"))
    assert not (tmp_path / "never").exists()
