"""The population over simulated days: new personas, rotating picture URLs, profile versions."""

from __future__ import annotations

import random

import pytest

from dumgum_loadtest.scenarios.model import Population
from dumgum_loadtest.scenarios.population import SECONDS_PER_DAY, ScenarioPopulation

TIME_SCALE = 0.01
ONE_DAY_REAL_S = SECONDS_PER_DAY * TIME_SCALE  # 864 real seconds make a simulated day


def _population(seed: int = 5, **spec: float) -> ScenarioPopulation:
    return ScenarioPopulation(Population(**spec), seed=seed, time_scale=TIME_SCALE)


def test_ids_and_counts() -> None:
    population = _population(users=3, personas=2)
    rng = random.Random(1)
    assert {population.pick_user(rng) for _ in range(200)} == {"u1", "u2", "u3"}
    assert {population.pick_persona(rng) for _ in range(200)} == {"p1", "p2"}
    assert population.user_count == 3
    assert population.active_conversations == 3  # min(users, 5 x personas)


def test_simulated_days_divide_by_the_time_scale() -> None:
    population = _population()
    assert population.simulated_days(ONE_DAY_REAL_S) == pytest.approx(1.0)
    assert population.simulated_days(ONE_DAY_REAL_S / 4) == pytest.approx(0.25)


def test_new_personas_appear_over_simulated_days() -> None:
    population = _population(personas=10, new_personas_per_day=24)
    assert population.persona_count(0) == 10
    assert population.persona_count(ONE_DAY_REAL_S / 2) == 22
    assert population.persona_count(ONE_DAY_REAL_S * 2) == 58
    assert population.new_personas(ONE_DAY_REAL_S / 8) == ["p11", "p12", "p13"]


def test_a_new_persona_is_picked_as_soon_as_it_appears() -> None:
    population = _population(personas=1000, new_personas_per_day=48)
    rng = random.Random(2)
    picked = [population.pick_persona(rng, elapsed_s=0.0) for _ in range(5)]
    assert all(int(p[1:]) <= 1000 for p in picked)
    an_hour = ONE_DAY_REAL_S / 24  # two new personas by now
    assert population.pick_persona(rng, an_hour) == "p1001"
    assert population.pick_persona(rng, an_hour) == "p1002"
    assert int(population.pick_persona(rng, an_hour)[1:]) <= 1002


def test_pictures_have_stable_ids_and_rotating_urls() -> None:
    population = _population(personas=400, pictures_per_persona=3, picture_url_changes_per_day=1)
    start = population.persona_pictures("p7", 0.0)
    assert [p.id for p in start] == ["p7-1", "p7-2", "p7-3"]
    assert [p.url for p in start] == [
        f"https://pictures.example.invalid/persona/p7/{k}-r0.jpg" for k in (1, 2, 3)
    ]
    after_a_day = population.persona_pictures("p7", ONE_DAY_REAL_S)
    assert [p.id for p in after_a_day] == ["p7-1", "p7-2", "p7-3"]
    assert all(p.url.endswith("-r1.jpg") for p in after_a_day)  # rate 1: once a day each
    assert len(population.persona_pictures("p7", 0.0, limit=2)) == 2
    assert len(population.persona_pictures("p7", 0.0, limit=10)) == 3


def test_rotations_are_spread_over_the_day() -> None:
    population = _population(personas=500, pictures_per_persona=4, picture_url_changes_per_day=1)
    half_day = ONE_DAY_REAL_S / 2
    urls = [p.url for n in range(1, 501) for p in population.persona_pictures(f"p{n}", half_day)]
    rotated = sum(url.endswith("-r1.jpg") for url in urls) / len(urls)
    assert rotated == pytest.approx(0.5, abs=0.05)
    assert population.picture_rotation("p3", 2, half_day) in (0, 1)


def test_no_rotation_when_the_rate_is_zero() -> None:
    population = _population(pictures_per_persona=2)
    assert all(p.url.endswith("-r0.jpg") for p in population.persona_pictures("p1", 1e9))


def test_profile_versions_advance_at_their_rate() -> None:
    population = _population(profile_version_changes_per_day=2)
    ids = [f"u{n}" for n in range(1, 1001)]
    assert {population.user_profile_version(i, 0.0) for i in ids} == {"v1"}
    assert {population.user_profile_version(i, ONE_DAY_REAL_S) for i in ids} == {"v3"}
    quarter = [population.persona_profile_version(f"p{n}", ONE_DAY_REAL_S / 4) for n in ids]
    assert quarter.count("v2") / len(quarter) == pytest.approx(0.5, abs=0.05)
    # Time going back (another worker's clock) still gives the version of that time.
    assert population.user_profile_version("u1", 0.0) == "v1"


def test_same_seed_same_population_other_seed_other_moments() -> None:
    spec = {
        "personas": 50,
        "picture_url_changes_per_day": 1.0,
        "profile_version_changes_per_day": 1,
    }
    one, same, other = _population(1, **spec), _population(1, **spec), _population(2, **spec)
    when = ONE_DAY_REAL_S / 3

    def snapshot(population: ScenarioPopulation) -> list[str]:
        return [
            *(p.url for n in range(1, 51) for p in population.persona_pictures(f"p{n}", when)),
            *(population.user_profile_version(f"u{n}", when) for n in range(1, 51)),
        ]

    assert snapshot(one) == snapshot(same)
    assert snapshot(one) != snapshot(other)


def test_time_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        ScenarioPopulation(Population(), seed=1, time_scale=0)
