"""``dumgum-loadtest cost``: both forms of the projection, calibration, help and clean errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dumgum_loadtest.cost.commands import cost

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
SMOKE = str(SCENARIOS / "smoke.yaml")
GENERATE = "mix.fields.replyParameters.generatePersonality"


@pytest.mark.parametrize("args", [["--help"], ["project", "--help"], ["calibrate", "--help"]])
def test_every_command_has_help(args: list[str]) -> None:
    result = CliRunner().invoke(cost, args)
    assert result.exit_code == 0
    assert "Usage:" in result.output


@pytest.mark.parametrize("form", [[SMOKE], ["project", SMOKE]])
def test_cost_scenario_prints_the_table_by_feature(form: list[str]) -> None:
    result = CliRunner().invoke(cost, [*form, "--volume", "50000/day"])
    assert result.exit_code == 0, result.output
    output = result.output
    for expected in ("replies", "vision", "SoulEngine", "total", "95% range"):
        assert expected in output
    assert "* placeholder prices (the docs give none): reply_per_model.dating-smart-1" in output
    assert "How each feature is billed:" in output


def test_chart_and_json_are_written_only_when_asked(tmp_path: Path) -> None:
    chart, figures = tmp_path / "cost.png", tmp_path / "cost.json"
    args = [SMOKE, "--volume", "1500000/month", "--chart", str(chart), "--json", str(figures)]
    result = CliRunner().invoke(cost, [*args, "--set", f"{GENERATE}={{true: 0.9, false: 0.1}}"])
    assert result.exit_code == 0, result.output
    assert "difference" in result.output
    assert chart.read_bytes().startswith(b"\x89PNG")
    data = orjson.loads(figures.read_bytes())
    assert set(data) == {"base", "what_if", "difference"}
    assert float(data["difference"]["by_group_monthly_eur"]["soulengine"]) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cost.json", "cost.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SMOKE, "--volume", "5/week"], "error: --volume '5/week'"),
        ([SMOKE, "--volume", "5/day", "--set", "population.users=0"], "population.users = 0"),
        (["nope.yaml", "--volume", "5/day"], "nope.yaml: cannot read the scenario"),
        ([SMOKE, "--volume", "5/day", "--set", "oops"], "expected PATH=VALUE"),
        (["calibrate", "no-such-run"], "no-such-run: no such run directory"),
    ],
)
def test_errors_are_one_clean_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cost, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
