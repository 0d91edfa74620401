"""``run --mock-set PATH=VALUE``: change the embedded mock's model, not the scenario.

A change on the target's side (DumGum got slower, say) is what ``compare`` exists to catch.
To inject one on purpose without touching the scenario (whose hash decides which runs are
comparable), ``run`` applies these settings to the mock's model only: they go into the run's
``mock-config.yaml`` (what the mock really ran) and ``environment.json`` (``mock_overrides``),
never into ``scenario.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.mock.config import MockConfig

MOCK_SET_SYNTAX = (
    "PATH=VALUE, a YAML value at a dotted path of the mock's model, e.g."
    " models.dating-smart-1.generation_s='{kind: lognormal, median_s: 3.9, p99_s: 11.7}'"
)


def parse_mock_setting(text: str) -> tuple[list[str], Any]:
    """``PATH=VALUE`` as (path parts, parsed YAML value); ConfigError naming the setting."""
    path, sep, value = text.partition("=")
    parts = path.strip().split(".")
    if not sep or any(not part.strip() for part in parts):
        raise ConfigError(f"--mock-set {text!r}: expected {MOCK_SET_SYNTAX}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--mock-set {text!r}: the value is not valid YAML: {exc}") from exc
    return [part.strip() for part in parts], parsed


def apply_mock_settings(config: dict[str, Any], settings: Sequence[str]) -> dict[str, Any]:
    """``config`` (the scenario's ``mock:`` block) with every setting applied, validated as a
    mock model; the input is not changed."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(config))  # a deep copy
    for text in settings:
        parts, value = parse_mock_setting(text)
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"--mock-set {text!r}: {where} is {child!r}, not a mapping")
            node = child
        node[parts[-1]] = value
    if settings:
        shown = " ".join(f"--mock-set {text}" for text in settings)
        MockConfig().patched(out, source=f"the scenario's mock model with {shown}")
    return out
