"""The harness's exception tree; every message names the bad value and the fix.

HarnessError            anything the harness reports to a user as a clean error
├── ConfigError         a file or option is invalid (names file, field path, value, valid choices)
├── TargetError         a server (mock, receiver, real API) could not be started or reached
└── SafetyError         a run was refused to protect the user (token, billing, spend cap)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# What ``run`` (and ``report``) exit with; CI tells the cases apart by these alone.
EXIT_SLOS_HOLD = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2  # a usage or setup error: nothing was measured
EXIT_INTERRUPTED = 3  # the run was cut short: the figures are incomplete, whatever they say


class HarnessError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with ``exit_code``."""

    exit_code = EXIT_USAGE


class ConfigError(HarnessError):
    """A configuration file or option is invalid."""


class TargetError(HarnessError):
    """A server could not be started or reached."""


class SafetyError(HarnessError):
    """The harness refused to act because it could cost money or leak a secret."""


def _loc_to_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def describe_validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Turn pydantic's error list into ``{"field", "value", "problem"}`` records."""
    out: list[dict[str, str]] = []
    for err in errors:
        value = err.get("input")
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        out.append(
            {
                "field": _loc_to_path(err.get("loc", ())),
                "value": shown,
                "problem": str(err.get("msg", "invalid")),
            }
        )
    return out


def config_error_from_validation(
    source: str | Path, errors: Iterable[Mapping[str, Any]]
) -> ConfigError:
    """A ConfigError whose message lists every offending field of ``source``."""
    lines = [f"{source}: invalid configuration"]
    for item in describe_validation_errors(errors):
        lines.append(f"  {item['field']} = {item['value']}: {item['problem']}")
    return ConfigError("\n".join(lines))
