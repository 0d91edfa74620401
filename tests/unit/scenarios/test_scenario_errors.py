"""A broken scenario file gives a ConfigError naming the file, the field path, the bad value
and what would be valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.scenarios.scenario_helpers import SCENARIOS_DIR

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.model import load_scenario


def _smoke() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS_DIR / "smoke.yaml").read_text("utf-8"))
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split("/")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


# (what is broken, where to put it, the value, texts the message must contain)
CASES: list[tuple[str, str, Any, tuple[str, ...]]] = [
    (
        "unknown mix field",
        "mix/fields/replyParameters.bufferSecs",
        {"5": 1.0},
        ("mix.fields", "'replyParameters.bufferSecs'", "replyParameters.bufferSeconds"),
    ),
    (
        "negative weight",
        "mix/fields/language",
        {"EN": 0.5, "FR": -0.2},
        ("mix.fields.language.FR = -0.2", "a weight must be a number >= 0"),
    ),
    (
        "unknown language value",
        "mix/fields/language",
        {"EN": 0.5, "EN_UK": 0.5},
        ("mix.fields.language", "'EN_UK'", "EN_GB", "GA_IE"),
    ),
    (
        "bufferSeconds out of range",
        "mix/fields/replyParameters.bufferSeconds",
        {"5": 0.5, "500": 0.5},
        ("mix.fields.replyParameters.bufferSeconds", "'500'", "<= 180"),
    ),
    (
        "unknown model in by_model",
        "mix/by_model/chat-3-pro",
        {},
        ("mix.by_model", "chat-3-pro", "'chat-2-smart'", "'dating-smart-1'"),
    ),
    (
        "bad by_model value",
        "mix/by_model/chat-2-pro",
        {"replyParameters.shareablePictures": {"-1": 1}},
        ("mix.by_model.chat-2-pro.replyParameters.shareablePictures", "'-1'", ">= 0"),
    ),
    (
        "bad arrival model",
        "arrival/model",
        "sometimes",
        ("arrival", "'sometimes'", "'open'", "'closed'"),
    ),
    (
        "bad arrival process",
        "arrival/process",
        "bursty",
        ("arrival.process = 'bursty'", "'constant'", "'poisson'"),
    ),
    (
        "no rate (parser noise in the path, the parent mapping as the value)",
        "arrival",
        {"model": "open", "process": "poisson"},
        ("broken.yaml: arrival.rate_rps: missing; give rate_rps",),
    ),
    ("rate 0", "arrival/rate_rps", 0, ("arrival.rate_rps = 0", "greater than 0")),
    (
        "every stage at 0",
        "arrival/stages",
        [{"duration_s": 5, "rate_rps": 0}],
        ("arrival.stages = [0.0]", "at least one must offer more than 0"),
    ),
    (
        "unknown key lists the valid ones",
        "population/colour",
        "blue",
        ("population.colour = 'blue': unknown key; valid keys: users, personas",),
    ),
    (
        "warm-up longer than the run (was reported at the top level)",
        "warmup_s",
        100,
        ("broken.yaml: warmup_s = 100.0: must be shorter than the run (25 s)",),
    ),
    (
        "timeline step after the end (was dropped)",
        "timeline",
        [{"at_s": 25, "patch": {"faults": {"enqueue_429_rate": 0.5}}}],
        ("timeline[0].at_s = 25.0: after the end of the run (25 s)", "give 0 <= at_s < 25"),
    ),
    (
        "empty mix",
        "mix",
        {},
        ("mix = {}: empty; give mix.fields",),
    ),
    (
        "a count below 1",
        "conversation/burst_size",
        {0: 1.0},
        ("conversation.burst_size.0 = 0: a count must be 1 or more",),
    ),
    ("bad target", "target", "ftp://api.example", ("target", "'ftp://api.example'", "'mock'")),
    (
        "bad mock value",
        "mock/faults",
        {"enqueue_5xx_rate": 2},
        ("mock.faults.enqueue_5xx_rate", "2", "less than or equal to 1"),
    ),
    (
        "bad mock choice",
        "mock/buffer",
        {"inflight_policy": "drop"},
        ("mock.buffer.inflight_policy", "'drop'", "'queue', 'coalesce' or 'ignore'"),
    ),
    (
        "unknown mock key",
        "mock/latency",
        {"p99_s": 3},
        ("mock.latency = {'p99_s': 3}", "unknown key; valid keys: time_scale, seed, endpoints"),
    ),
    (
        "bad timeline patch",
        "timeline",
        [{"at_s": 5, "patch": {"faults": {"enqueue_429_rate": -1}}}],
        ("timeline[0].patch.faults.enqueue_429_rate", "-1", "greater than or equal to 0"),
    ),
]


@pytest.mark.parametrize(("what", "path", "value", "expected"), CASES, ids=[c[0] for c in CASES])
def test_broken_scenario_names_file_path_value_and_choices(
    tmp_path: Path, what: str, path: str, value: Any, expected: tuple[str, ...]
) -> None:
    data = _smoke()
    _set(data, path, value)
    file = tmp_path / "broken.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(file)
    message = str(caught.value)
    assert str(file) in message
    # One line per problem, each naming the file; never pydantic's "Value error, " noise.
    assert all(line.startswith(f"{file}: ") for line in message.splitlines())
    assert "Value error" not in message
    assert "(top level)" not in message
    for text in expected:
        assert text in message, f"{what}: {text!r} not in:\n{message}"


def test_not_yaml(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenario(file)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the scenario"):
        load_scenario(tmp_path / "absent.yaml")
