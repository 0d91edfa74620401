"""Fitting a scenario to a sample of bodies: shares round-trip, the YAML loads, bad lines fail."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.unit.scenarios.scenario_helpers import make_scenario

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.draw import RequestFactory
from dumgum_loadtest.scenarios.fit import fit_scenario
from dumgum_loadtest.scenarios.model import Scenario, load_scenario
from dumgum_loadtest.scenarios.stats import chi_square, fits
from dumgum_loadtest.schema.enums import ChatModel, Engage

SAMPLE = 20_000
TOLERANCE = 0.02

KNOWN: dict[str, Any] = {
    "language": {"EN": 0.5, "FR": 0.3, "DE": 0.2},
    "additionalLanguage": {"omit": 0.8, "ES": 0.2},
    "testMode": {True: 0.7, "omit": 0.3},
    "replyParameters.chatModel": {"dating-smart-1": 0.6, "chat-2-pro": 0.4},
    "replyParameters.bufferSeconds": {"5": 0.5, 15: 0.3, "omit": 0.2},
    "replyParameters.generatePersonality": {True: 0.25, False: 0.25, None: 0.1, "omit": 0.4},
    "replyParameters.questionFrequency": {0.5: 0.5, "omit": 0.5},
    "replyParameters.icebreakerType": {"GENERIC": 0.7, "AUTO": 0.3},
    "replyParameters.guardrails.aiSuspicion": {True: 0.6, "omit": 0.4},
}
KNOWN_BY_MODEL: dict[str, Any] = {
    "chat-2-pro": {
        "replyParameters.shareablePictures": {2: 0.5, 4: 0.5},
        "replyParameters.vision.userProfilePictureAnalysis": {True: 0.8, False: 0.2},
        "replyParameters.replyTypingDelay": {"NORMAL": 1.0},
    },
    "dating-smart-1": {"replyParameters.replyTypingDelay": {"INSTANT": 0.7, "FAST": 0.3}},
}
ENGAGE_SHARE = 0.1


def _sample(scenario: Scenario, count: int, invalid: int = 0) -> Iterator[bytes]:
    rng = random.Random(4)
    factory = RequestFactory(scenario, rng)
    for i in range(count):
        engage = rng.choice([Engage.AUTO, Engage.NUDGE]) if rng.random() < ENGAGE_SHARE else None
        user, persona = factory.population.pick_user(rng), factory.population.pick_persona(rng)
        yield orjson.dumps(factory.draw(user, persona, engage=engage).body)
        if i < invalid:
            yield orjson.dumps({"userProfileId": "u1", "language": "EN"})  # no persona


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Scenario]:
    scenario = make_scenario(
        KNOWN, KNOWN_BY_MODEL, population={"users": 400, "personas": 40, "pictures_per_persona": 4}
    )
    sample = tmp_path_factory.mktemp("fit") / "sample.jsonl"
    sample.write_bytes(b"\n".join(_sample(scenario, SAMPLE, invalid=60)) + b"\n\n")
    text = fit_scenario(sample, "fitted-sample")
    path = sample.with_name("fitted-sample.yaml")
    path.write_text(text, encoding="utf-8")
    return sample, text, load_scenario(path)


def _close(fitted: dict[Any, float], known: dict[Any, float], bodies: float = SAMPLE) -> None:
    """Shares within 4 standard errors of a share estimated from ``bodies`` bodies."""
    assert set(fitted) == set(known), (fitted, known)
    total = sum(known.values())
    for value, weight in known.items():
        share = weight / total
        tolerance = 4 * (share * (1 - share) / bodies) ** 0.5 + 0.0001
        assert fitted[value] == pytest.approx(share, abs=tolerance), (value, fitted)


# Bodies a field is fitted over: icebreakerType only with engage AUTO, chat-2 fields on chat-2.
OVER = {
    "replyParameters.icebreakerType": SAMPLE * ENGAGE_SHARE / 2,
    "chat-2-pro": SAMPLE * 0.4,
    "dating-smart-1": SAMPLE * 0.6,
}


def test_header_names_the_file_and_counts(fitted: tuple[Path, str, Scenario]) -> None:
    sample, text, _ = fitted
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert str(sample) in header[0]
    assert f"{SAMPLE + 60} bodies, 60 of them invalid" in header[1]
    assert any("Question it answers" in line for line in header)


def test_fitted_shares_match_the_known_mix(fitted: tuple[Path, str, Scenario]) -> None:
    fields = fitted[2].mix.fields
    for name, known in KNOWN.items():
        if name == "replyParameters.bufferSeconds":  # a numeric string fits as its number
            known = {5 if key == "5" else key: share for key, share in known.items()}
        _close(fields[name], known, OVER.get(name, SAMPLE))
    for name in ("replyParameters.replyTypingDelay",):
        assert name in fields  # the whole sample's shares, as the fallback


def test_fitted_conditionals_go_to_by_model(fitted: tuple[Path, str, Scenario]) -> None:
    by_model = fitted[2].mix.by_model
    for model, known_fields in KNOWN_BY_MODEL.items():
        for name, known in known_fields.items():
            # Vision and pictures are only drawn on chat-2: their global shares are chat-2's.
            actual = by_model.get(ChatModel(model), {}).get(name) or fitted[2].mix.fields[name]
            _close(actual, known, OVER[model])
    assert "language" not in by_model.get(ChatModel.CHAT_2_PRO, {})  # same shares for every model


def test_fitted_engage_population_and_invalid_share(fitted: tuple[Path, str, Scenario]) -> None:
    scenario = fitted[2]
    assert scenario.conversation.engage_share == pytest.approx(ENGAGE_SHARE, abs=TOLERANCE)
    assert set(scenario.conversation.engage_types) == {Engage.AUTO, Engage.NUDGE}
    assert scenario.mix.invalid_share == pytest.approx(60 / (SAMPLE + 60), abs=0.0001)
    assert scenario.population.users <= 400 and scenario.population.users > 350
    assert scenario.population.personas == 40
    assert scenario.population.pictures_per_persona == 4


def test_a_refitted_scenario_draws_the_same_mix(fitted: tuple[Path, str, Scenario]) -> None:
    refit = fitted[2]
    counts: dict[str, int] = {}
    for body in _sample(refit, 5000):
        language = orjson.loads(body)["language"]
        counts[language] = counts.get(language, 0) + 1
    known = KNOWN["language"]
    assert fits([counts.get(k, 0) for k in known], list(known.values()))


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    good = orjson.dumps({"userProfileId": "u", "personaProfileId": "p", "language": "EN"})
    sample.write_bytes(good + b"\n" + good + b"\n{not json\n")
    with pytest.raises(ConfigError, match=r"sample\.jsonl:3: not JSON"):
        fit_scenario(sample, "x")


def test_non_object_line_names_file_and_line(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b'["EN"]\n')
    with pytest.raises(
        ConfigError, match=r"sample\.jsonl:1: an enqueue body must be a JSON object"
    ):
        fit_scenario(sample, "x")


def test_sample_without_a_valid_body(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b'{"language": "EN"}\n')
    with pytest.raises(ConfigError, match="no valid enqueue body"):
        fit_scenario(sample, "x")


def test_bad_name_is_a_config_error(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b'{"userProfileId": "u", "personaProfileId": "p", "language": "EN"}\n')
    with pytest.raises(ConfigError, match="name"):
        fit_scenario(sample, "Not A Name")


def test_minimal_sample_fits_a_loadable_scenario(tmp_path: Path) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b'{"userProfileId": "u", "personaProfileId": "p", "language": "EN"}\n')
    data = yaml.safe_load(fit_scenario(sample, "tiny"))
    assert data["mix"]["fields"] == {"language": {"EN": 1.0}}


def test_chi_square_rejects_a_wrong_distribution() -> None:
    assert chi_square([50, 50], [50, 50]) == 0
    assert fits([510, 490], [1, 1])
    assert not fits([600, 400], [1, 1])


def test_a_numeric_string_and_its_number_are_one_value(tmp_path: Path) -> None:
    body = {"userProfileId": "u", "personaProfileId": "p", "language": "EN"}
    bodies = [
        {**body, "replyParameters": {"bufferSeconds": "5"}},
        {**body, "replyParameters": {"bufferSeconds": 5}},
        {**body, "replyParameters": {"bufferSeconds": 15}},
        {**body, "replyParameters": {"bufferSeconds": "15"}},
    ]
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(b"".join(orjson.dumps(b) + b"\n" for b in bodies))
    data = yaml.safe_load(fit_scenario(sample, "numbers"))
    assert data["mix"]["fields"]["replyParameters.bufferSeconds"] == {5: 0.5, 15: 0.5}


def test_fields_no_mix_field_draws_are_listed_not_dropped_silently(tmp_path: Path) -> None:
    """The reference's full example sets banDurations, tags and more that the generator never
    draws: the fitted scenario says which, and in how many bodies."""
    from dumgum_loadtest.examples import reference_example

    body = reference_example()
    sample = tmp_path / "sample.jsonl"
    sample.write_bytes(orjson.dumps(body) + b"\n" + orjson.dumps(body) + b"\n")
    text = fit_scenario(sample, "reference")
    header = [line for line in text.splitlines() if line.startswith("#   ")]
    listed = {line.removeprefix("#   ").split(":")[0] for line in header}
    assert any(path.endswith(".banDurations") for path in listed)
    assert any(path.startswith("tags") for path in listed)
    assert all(line.endswith("in 2 of 2 bodies") for line in header)
    # Every listed path really is absent from the mix, and nothing fitted is listed.
    fields = yaml.safe_load(text)["mix"]["fields"]
    assert not listed & set(fields)
