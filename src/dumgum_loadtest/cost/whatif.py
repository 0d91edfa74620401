"""What-ifs: change one distribution of a scenario (``--set PATH=VALUE``), or put two scenarios
side by side, and read the cost difference per month and per answer.

PATH is a dotted path into the scenario file. A mix field keeps its own dots:
``mix.fields.replyParameters.generatePersonality`` and
``mix.by_model.chat-2-smart.replyParameters.shareablePictures`` name one field each. VALUE is
YAML: ``{true: 0.5, false: 0.5}``, ``120``, ``[1, 2]``. The value replaces the whole entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dumgum_loadtest.cost.projection import Projection, project_cost
from dumgum_loadtest.cost.rules import (
    DAYS_PER_MONTH,
    REPLIES,
    SOULENGINE,
    VISION,
    eur_str,
    rate_str,
)
from dumgum_loadtest.cost.sheet import PriceSheet, load_price_sheet, resolve_price_sheet
from dumgum_loadtest.cost.syntax import SET_SYNTAX
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.model import Scenario, load_scenario, parse_scenario

_PERIODS = {"day": 1.0, "month": float(DAYS_PER_MONTH)}
MAX_VOLUME_PER_DAY = 1e10
"""The largest volume a projection accepts: 10 billion requests a day (about 116,000/s,
far beyond any customer); larger numbers are typing mistakes that print meaningless bills."""


def parse_volume(text: str) -> float:
    """``N/day`` or ``N/month`` (enqueue requests) as requests per day."""
    number, _, period = text.replace(",", "").replace("_", "").partition("/")
    try:
        count = float(number)
    except ValueError:
        count = -1.0
    if period.strip() not in _PERIODS or not count >= 0:
        raise ConfigError(
            f"--volume {text!r}: give enqueue requests per day or per month, e.g. 50000/day or"
            " 1500000/month"
        )
    per_day = count / _PERIODS[period.strip()]
    if not 0 < per_day <= MAX_VOLUME_PER_DAY:
        raise ConfigError(
            f"--volume {text!r}: must be more than 0 and at most {MAX_VOLUME_PER_DAY:,.0f}/day"
            f" ({MAX_VOLUME_PER_DAY * DAYS_PER_MONTH:,.0f}/month)"
        )
    return per_day


def _path(text: str) -> list[str]:
    if text.startswith("mix.fields."):
        return ["mix", "fields", text.removeprefix("mix.fields.")]
    if text.startswith("mix.by_model."):
        model, _, field = text.removeprefix("mix.by_model.").partition(".")
        return ["mix", "by_model", model, field] if field else ["mix", "by_model", model]
    return text.split(".")


def parse_setting(text: str) -> tuple[list[str], Any]:
    """``PATH=VALUE`` as (path parts, parsed YAML value)."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip() or any(not part for part in _path(path.strip())):
        raise ConfigError(f"--set {text!r}: expected {SET_SYNTAX}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML: {exc}") from exc
    return _path(path.strip()), parsed


def apply_settings(scenario: Scenario, settings: Sequence[str], source: str) -> Scenario:
    """The scenario with each ``PATH=VALUE`` applied, validated again (errors name the path)."""
    if not settings:
        return scenario
    data = scenario.model_dump(mode="json")
    for text in settings:
        parts, value = parse_setting(text)
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"--set {text!r}: {where} is {child!r}, not a mapping")
            node = child
        node[parts[-1]] = value
    shown = " ".join(f"--set {s}" for s in settings)
    return parse_scenario(data, f"{source} with {shown}")


@dataclass(frozen=True, slots=True)
class CostStudy:
    """What ``dumgum-loadtest cost`` shows: one projection, or a base and a what-if."""

    base: Projection
    other: Projection | None = None
    other_label: str = ""

    def difference(self) -> dict[str, Any] | None:
        return compare(self.base, self.other) if self.other is not None else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base": self.base.to_json()}
        if self.other is not None:
            out["what_if"] = {"label": self.other_label, **self.other.to_json()}
            out["difference"] = self.difference()
        return out


def compare(base: Projection, other: Projection) -> dict[str, Any]:
    """``other`` minus ``base``: per month by group, first month, and per answer."""
    groups = {
        g: eur_str(other.group_eur(g) - base.group_eur(g)) for g in (REPLIES, VISION, SOULENGINE)
    }
    return {
        "monthly_eur": eur_str(other.monthly_eur - base.monthly_eur),
        "by_group_monthly_eur": groups,
        "first_month_eur": eur_str(
            other.monthly_eur + other.one_off_eur - base.monthly_eur - base.one_off_eur
        ),
        "billable_monthly_eur": eur_str(other.billable_monthly_eur - base.billable_monthly_eur),
        "per_answer_eur": rate_str(other.per_answer_eur - base.per_answer_eur),
        "relative_monthly": (
            round(float((other.monthly_eur - base.monthly_eur) / base.monthly_eur), 6)
            if base.monthly_eur
            else None
        ),
    }


def _sheet(scenario: Scenario, path: Path, pricing: Path | None) -> PriceSheet:
    if pricing is not None:
        return load_price_sheet(pricing)
    return resolve_price_sheet(scenario.pricing, path)


def study_cost(
    scenario_path: Path,
    volume: str,
    *,
    pricing: Path | None = None,
    settings: Sequence[str] = (),
    compare_path: Path | None = None,
    dropped_share: float = 0.0,
) -> CostStudy:
    """The projection behind ``cost SCENARIO``: the scenario as it is, and, with ``settings``
    or ``compare_path``, the what-if (the other scenario, or this one, with the settings)."""
    per_day = parse_volume(volume)
    if not 0 <= dropped_share < 1:
        raise ConfigError(f"--dropped-share {dropped_share}: give a share in [0, 1)")
    scenario = load_scenario(scenario_path)
    base = project_cost(
        scenario,
        _sheet(scenario, scenario_path, pricing),
        per_day,
        dropped_share=dropped_share,
    )
    if not settings and compare_path is None:
        return CostStudy(base)
    other_path = compare_path or scenario_path
    other = load_scenario(other_path) if compare_path is not None else scenario
    other = apply_settings(other, settings, str(other_path))
    label = other.name + "".join(f" --set {s}" for s in settings)
    projection = project_cost(
        other, _sheet(other, other_path, pricing), per_day, dropped_share=dropped_share
    )
    return CostStudy(base, projection, label)
