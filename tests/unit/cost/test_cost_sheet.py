"""Price sheets: the shipped ones load, money is exact, and a broken sheet names what is wrong."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from dumgum_loadtest.cost.sheet import (
    DEFAULT_SHEET_PATH,
    PRICING_DIR,
    builtin_price_sheet,
    default_price_sheet,
    load_price_sheet,
    price_keys,
    resolve_price_sheet,
)
from dumgum_loadtest.errors import ConfigError

SHIPPED = sorted(PRICING_DIR.glob("*.yaml"))

VALID = """\
currency: EUR
valid_from: 2025-01-01
reply_per_model:
  dating-smart-1: 0.025
  dating-pro-1: 0.03
  chat-2-smart: 0.05
  chat-2-pro: 0.07
vision_per_picture: 0.015
soulengine_per_persona: 0.10
placeholders: [soulengine_per_persona]
"""


def _write(tmp_path: Path, text: str, name: str = "sheet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_sheet_loads(path: Path) -> None:
    sheet = load_price_sheet(path)
    assert sheet.currency == "EUR"
    assert all(sheet.price(key) >= 0 for key in price_keys())


def test_default_sheet_has_the_documented_and_placeholder_values() -> None:
    sheet = default_price_sheet()
    assert sheet.vision_per_picture == Decimal("0.015")  # documented: never a placeholder
    assert not sheet.is_placeholder("vision_per_picture")
    assert all(sheet.reply_price(m) == Decimal("0.025") for m in sheet.reply_per_model)
    assert sheet.is_placeholder("soulengine_per_persona")
    assert all(sheet.is_placeholder(f"reply_per_model.{m.value}") for m in sheet.reply_per_model)


def test_builtin_sheet_equals_the_shipped_default() -> None:
    shipped = load_price_sheet(DEFAULT_SHEET_PATH)
    builtin = builtin_price_sheet()
    for key in price_keys():
        assert shipped.price(key) == builtin.price(key)
    assert shipped.placeholders == builtin.placeholders


def test_money_is_read_from_the_text_never_through_a_float(tmp_path: Path) -> None:
    sheet = load_price_sheet(_write(tmp_path, VALID.replace("0.015", "0.0150")))
    assert str(sheet.vision_per_picture) == "0.0150"
    assert sheet.reply_price("chat-2-pro") == Decimal("0.07")
    assert sheet.placeholders_among(["vision_per_picture", "soulengine_per_persona"]) == [
        "soulengine_per_persona"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("currency: EUR", "currency: USD"), ["currency = 'USD'", "give EUR"]),
        (("valid_from: 2025-01-01", "valid_from: soon"), ["valid_from = 'soon'"]),
        (("  chat-2-pro: 0.07\n", ""), ["reply_per_model", "missing: chat-2-pro"]),
        (("chat-2-pro:", "chat-3:"), ["chat-3", "'chat-2-pro'"]),
        (("vision_per_picture: 0.015", "vision_per_picture: -1"), ["vision_per_picture = "]),
        (("vision_per_picture: 0.015", "vision_per_picture: cheap"), ["'cheap'", "decimal"]),
        (
            ("[soulengine_per_persona]", "[soulengine]"),
            ["placeholders", "unknown price 'soulengine'", "valid: reply_per_model.dating-smart-1"],
        ),
        (
            ("soulengine_per_persona: 0.10", "soulengine: 0.10"),
            ["soulengine", "unknown key; valid keys: currency, valid_from"],
        ),
    ],
)
def test_a_broken_sheet_names_file_field_value_and_what_is_valid(
    tmp_path: Path, change: tuple[str, str], expected: list[str]
) -> None:
    path = _write(tmp_path, VALID.replace(*change))
    with pytest.raises(ConfigError) as error:
        load_price_sheet(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert all(line.startswith(f"{path}: ") for line in message.splitlines())  # one a line
    for part in expected:
        assert part in message


def test_unreadable_and_non_mapping_sheets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the price sheet"):
        load_price_sheet(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_price_sheet(_write(tmp_path, "currency: [EUR"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_price_sheet(_write(tmp_path, "- 0.025"))


def test_scenario_pricing_is_found_beside_the_scenario_then_in_the_pricing_dir(
    tmp_path: Path,
) -> None:
    own = _write(tmp_path, VALID, "mine.yaml")
    scenario_path = tmp_path / "scenario.yaml"
    assert resolve_price_sheet("mine", scenario_path).source == str(own)
    assert resolve_price_sheet("mine.yaml", scenario_path).reply_price("chat-2-pro") == Decimal(
        "0.07"
    )
    assert resolve_price_sheet("default", scenario_path).vision_per_picture == Decimal("0.015")
    assert resolve_price_sheet(None, scenario_path).source.endswith("default.yaml")
    override = resolve_price_sheet("does-not-matter", scenario_path, override=own)
    assert override.source == str(own)


def test_an_unknown_pricing_lists_what_was_tried_and_the_shipped_sheets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_price_sheet("nope", tmp_path / "scenario.yaml")
    message = str(error.value)
    assert "pricing = 'nope'" in message
    assert str(tmp_path / "nope.yaml") in message
    assert "shipped sheets: default" in message
