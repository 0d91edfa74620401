"""The mock's model: defaults, YAML overrides, merge patches, clear errors."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.mock.config import MockConfig, load_mock_config
from dumgum_loadtest.mock.distributions import Lognormal
from dumgum_loadtest.mock.settings import MockSettings
from dumgum_loadtest.schema.enums import ChatModel

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_example_config_loads() -> None:
    config = load_mock_config(ROOT / "scenarios" / "mock" / "example.yaml")
    assert config.time_scale == 0.1
    assert config.model_profile(ChatModel.DATING_SMART_1).concurrency == 32
    # Models the file does not name keep their defaults.
    assert config.model_profile(ChatModel.DATING_PRO_1).concurrency == 256


def test_yaml_overrides_one_field_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("models:\n  chat-2-pro:\n    concurrency: 3\n")
    config = load_mock_config(path)
    profile = config.model_profile(ChatModel.CHAT_2_PRO)
    assert profile.concurrency == 3
    assert isinstance(profile.generation_s, Lognormal)


def test_bad_file_names_file_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("faults:\n  enqueue_429_rate: 1.5\nbuffer: {inflight_policy: later}\n")
    with pytest.raises(ConfigError) as caught:
        load_mock_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "faults.enqueue_429_rate = 1.5" in message
    assert "buffer.inflight_policy = 'later'" in message
    assert "'queue', 'coalesce' or 'ignore'" in message


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_mock_config(tmp_path / "missing.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_mock_config(listed)


def test_patch_replaces_a_distribution_of_another_kind() -> None:
    patched = MockConfig().patched(
        {"models": {"dating-smart-1": {"generation_s": {"kind": "constant", "value_s": 2}}}}
    )
    assert patched.model_profile(ChatModel.DATING_SMART_1).generation_s.mean_s == 2


def test_lognormal_matches_its_median_and_p99() -> None:
    dist = Lognormal(median_s=3.0, p99_s=9.0)
    rng = random.Random(1)
    samples = sorted(dist.sample_s(rng) for _ in range(40_000))
    assert statistics.median(samples) == pytest.approx(3.0, rel=0.03)
    assert samples[int(0.99 * len(samples))] == pytest.approx(9.0, rel=0.06)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUMGUM_MOCK_TOKENS", "sk-proj-a, sk-proj-b")
    monkeypatch.setenv("DUMGUM_MOCK_TIME_SCALE", "0.5")
    settings = MockSettings()
    assert settings.accepted_tokens == ["sk-proj-a", "sk-proj-b"]
    assert settings.mock_config().time_scale == 0.5
    # The command line wins over the environment.
    assert MockSettings(time_scale=2.0).mock_config().time_scale == 2.0


def test_default_token_when_none_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUMGUM_MOCK_TOKENS", raising=False)
    assert MockSettings().accepted_tokens == ["sk-proj-mock-local"]
