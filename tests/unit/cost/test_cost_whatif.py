"""What-ifs: the volume and --set syntax, and comparisons that give the difference."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from dumgum_loadtest.cost.whatif import apply_settings, parse_setting, parse_volume, study_cost
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.model import load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
SOULENGINE = SCENARIOS / "soulengine-whatif.yaml"
GENERATE = "mix.fields.replyParameters.generatePersonality"


@pytest.mark.parametrize(
    ("text", "per_day"),
    [("50000/day", 50_000), ("1,500,000/month", 50_000), ("3_000/day", 3000), ("1/day", 1)],
)
def test_volume(text: str, per_day: float) -> None:
    assert parse_volume(text) == per_day


@pytest.mark.parametrize("text", ["50000", "50000/week", "many/day", "-5/day"])
def test_a_bad_volume_says_what_to_give(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("per day or per month, e.g. 50000/day")):
        parse_volume(text)


@pytest.mark.parametrize("text", ["0/day", "0/month", "1e99/day", "inf/day"])
def test_a_volume_of_nothing_or_beyond_any_customer_is_refused(text: str) -> None:
    # 0/day printed a bill of 0 and 1e99/day one of 10^95 EUR, both without a word.
    with pytest.raises(ConfigError, match=r"must be more than 0 and at most 10,000,000,000/day"):
        parse_volume(text)


def test_paths_keep_the_dots_of_a_mix_field() -> None:
    assert parse_setting(f"{GENERATE}={{true: 0.5, false: 0.5}}") == (
        ["mix", "fields", "replyParameters.generatePersonality"],
        {True: 0.5, False: 0.5},
    )
    assert parse_setting("mix.by_model.chat-2-pro.replyParameters.shareablePictures={4: 1}") == (
        ["mix", "by_model", "chat-2-pro", "replyParameters.shareablePictures"],
        {4: 1},
    )
    assert parse_setting("population.new_personas_per_day=50") == (
        ["population", "new_personas_per_day"],
        50,
    )


@pytest.mark.parametrize("text", ["population.users", "=5", "population..users=5"])
def test_a_setting_without_path_or_value_shows_the_syntax(text: str) -> None:
    with pytest.raises(ConfigError, match="expected PATH=VALUE"):
        parse_setting(text)


def test_settings_change_one_distribution_and_are_validated() -> None:
    scenario = load_scenario(SOULENGINE)
    changed = apply_settings(scenario, [f"{GENERATE}={{true: 0.5, false: 0.5}}"], str(SOULENGINE))
    assert changed.mix.fields["replyParameters.generatePersonality"] == {True: 0.5, False: 0.5}
    assert changed.mix.fields["language"] == scenario.mix.fields["language"]
    with pytest.raises(ConfigError) as error:
        apply_settings(scenario, [f"{GENERATE}={{maybe: 1}}"], str(SOULENGINE))
    assert str(error.value).startswith(f"{SOULENGINE} with --set {GENERATE}")
    assert f"{GENERATE} = 'maybe': not a valid value; valid: true, false, null, omit" in str(
        error.value
    )
    with pytest.raises(ConfigError, match=re.escape("population.users = -5")):
        apply_settings(scenario, ["population.users=-5"], str(SOULENGINE))
    with pytest.raises(ConfigError, match=re.escape("population.users is 10000, not a mapping")):
        apply_settings(scenario, ["population.users.count=1"], str(SOULENGINE))


def test_a_what_if_on_soulengine_changes_only_soulengine() -> None:
    study = study_cost(SOULENGINE, "10000/day", settings=[f"{GENERATE}={{false: 1.0}}"])
    assert study.other is not None
    difference = study.difference()
    assert difference is not None
    base_soul = study.base.group_eur("soulengine")
    assert base_soul > 0
    assert Decimal(difference["by_group_monthly_eur"]["soulengine"]) == -base_soul.quantize(
        Decimal("0.0001")
    )
    assert difference["by_group_monthly_eur"]["replies"] == "0.0000"
    assert Decimal(difference["per_answer_eur"]) < 0
    assert study.to_json()["what_if"]["label"].endswith(f"--set {GENERATE}={{false: 1.0}}")


def test_two_scenarios_side_by_side_with_their_own_price_sheets(tmp_path: Path) -> None:
    sheet = yaml.safe_load((SCENARIOS / "pricing" / "default.yaml").read_text())
    sheet["reply_per_model"] = dict.fromkeys(sheet["reply_per_model"], "0.05")
    (tmp_path / "double.yaml").write_text(yaml.safe_dump(sheet))
    data = yaml.safe_load(SOULENGINE.read_text())
    data["pricing"] = "double"
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(data))
    study = study_cost(SOULENGINE, "1000/day", compare_path=other)
    assert study.other is not None
    assert study.other.group_eur("replies") == 2 * study.base.group_eur("replies")
    assert study.other.sheet.source.endswith("double.yaml")


def test_a_shared_pricing_override_applies_to_both_sides(tmp_path: Path) -> None:
    study = study_cost(
        SOULENGINE,
        "1000/day",
        pricing=SCENARIOS / "pricing" / "default.yaml",
        compare_path=SCENARIOS / "smoke.yaml",
    )
    assert study.other is not None
    assert study.base.sheet.source == study.other.sheet.source
    with pytest.raises(ConfigError, match=re.escape("--dropped-share 1.5")):
        study_cost(SOULENGINE, "1000/day", dropped_share=1.5)
