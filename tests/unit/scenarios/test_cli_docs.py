"""What the command line says about the repository's files matches the files: ``mock --help``
names an example that exists, and ``scenarios`` tells mock models and price sheets from
broken scenarios."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dumgum_loadtest.cli import main

REPO = Path(__file__).resolve().parents[3]


def test_mock_help_names_an_example_config_that_exists() -> None:
    result = CliRunner().invoke(main, ["mock", "--help"], terminal_width=200)
    assert result.exit_code == 0
    named = re.findall(r"[\w./-]+\.ya?ml", result.output)
    assert named, "mock --help names no example config"
    for path in named:
        assert (REPO / path).is_file(), f"mock --help names {path}, which does not exist"
    assert "scenarios/mock/example.yaml" in named


def test_scenarios_lists_mock_models_as_such_not_as_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["scenarios", "scenarios/mock"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "INVALID" not in result.output
    assert "mock     scenarios/mock/example.yaml" in result.output
    assert "mock --config scenarios/mock/example.yaml" in result.output


def test_scenarios_lists_price_sheets_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["scenarios", "scenarios/pricing"])
    assert result.exit_code == 0, result.output
    assert "prices   scenarios/pricing/default.yaml" in result.output


def test_a_broken_scenario_is_still_invalid(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: x\narrival: {model: open}\nbogus: 1\n")
    (tmp_path / "empty.yaml").write_text("")
    result = CliRunner().invoke(main, ["scenarios", str(tmp_path)])
    assert result.exit_code == 1
    assert f"INVALID  {tmp_path / 'broken.yaml'}" in result.output
    assert f"INVALID  {tmp_path / 'empty.yaml'}" in result.output
