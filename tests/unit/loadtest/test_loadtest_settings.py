"""Resolving the generator's options: scenario, target, test mode, and the token (env only)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from dumgum_loadtest.errors import ConfigError, SafetyError
from dumgum_loadtest.loadtest.command import TOKEN_ENV
from dumgum_loadtest.loadtest.settings import resolve_options
from dumgum_loadtest.mock import DEFAULT_TOKEN

SECRET = "sk-proj-very-secret"


def scenario_file(tmp_path: Path, **data: Any) -> Path:
    base: dict[str, Any] = {"name": "opts", "arrival": {"model": "open", "rate_rps": 5}}
    base.update(data)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def parsed(path: Path | str, **options: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "scenario": str(path),
        "run_dir": "",
        "run_id": "",
        "target_url": "",
        "receiver_url": "",
        "force_test_mode": False,
        "allow_billable": False,
    }
    values.update(options)
    return SimpleNamespace(**values)


def test_mock_target_defaults(tmp_path: Path) -> None:
    options = resolve_options(parsed(scenario_file(tmp_path)), "http://127.0.0.1:8080/", {})
    assert options.target_url == "http://127.0.0.1:8080"
    assert options.token == DEFAULT_TOKEN  # the mock's well-known local key
    assert (options.run_id, options.run_dir, options.receiver_url) == ("opts", Path(), None)
    assert options.force_test_mode is False


def test_the_token_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, target="https://api.example.com")
    options = resolve_options(parsed(path), None, {TOKEN_ENV: f" {SECRET} "})
    assert options.token == SECRET
    assert options.target_url == "https://api.example.com"
    assert SECRET not in repr(options) and SECRET not in str(options)


def test_a_real_url_without_a_token_is_refused(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, target="https://api.example.com")
    with pytest.raises(SafetyError, match=TOKEN_ENV):
        resolve_options(parsed(path), None, {})


@pytest.mark.parametrize(
    ("target", "force", "allow", "expected"),
    [
        ("mock", False, False, False),
        ("mock", True, False, True),
        ("https://api.example.com", False, False, True),  # forced on a real URL
        ("https://api.example.com", False, True, False),
        ("https://api.example.com", True, True, True),
    ],
)
def test_test_mode(tmp_path: Path, target: str, force: bool, allow: bool, expected: bool) -> None:
    path = scenario_file(tmp_path, target=target)
    namespace = parsed(path, force_test_mode=force, allow_billable=allow)
    options = resolve_options(namespace, "http://127.0.0.1:1", {TOKEN_ENV: SECRET})
    assert options.force_test_mode is expected


def test_no_scenario_or_no_target(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--scenario is required"):
        resolve_options(parsed(""), None, {})
    with pytest.raises(ConfigError, match="--target-url"):
        resolve_options(parsed(scenario_file(tmp_path)), None, {})
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_options(parsed(tmp_path / "missing.yaml"), "http://x", {})


def test_a_closed_model_needs_the_receiver(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, arrival={"model": "closed", "users": 2})
    with pytest.raises(ConfigError, match="--receiver-url"):
        resolve_options(parsed(path), "http://127.0.0.1:8080", {})
    namespace = parsed(path, receiver_url="http://127.0.0.1:8090/")
    options = resolve_options(namespace, "http://127.0.0.1:8080", {})
    assert options.receiver_url == "http://127.0.0.1:8090"


def test_mock_urls_route_pairs_to_the_mock_processes(tmp_path: Path) -> None:
    path = scenario_file(tmp_path)
    urls = "http://127.0.0.1:1/, http://127.0.0.1:2"
    options = resolve_options(parsed(path, mock_urls=urls), "http://127.0.0.1:1", {})
    assert options.mock_urls == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    one = resolve_options(parsed(path, mock_urls="http://127.0.0.1:1"), "http://127.0.0.1:1", {})
    assert one.mock_urls == ()  # a single process: no routing
    assert resolve_options(parsed(path), "http://127.0.0.1:1", {}).mock_urls == ()


def test_mock_urls_against_a_real_url_are_refused(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, target="https://api.example.com")
    with pytest.raises(ConfigError, match=r"--mock-urls .* routes pairs to the mock's processes"):
        resolve_options(
            parsed(path, mock_urls="http://127.0.0.1:1,http://127.0.0.1:2"),
            None,
            {TOKEN_ENV: SECRET},
        )
