"""Synthetic profiles: deterministic per (seed, id), coherent, and versioned by bumps only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dumgum_loadtest.receiver.profiles import ProfileBook, main_picture_url, synthetic_profile
from dumgum_loadtest.schema.customer import Profile, ProfileResponse

IDS = [f"user_{n}" for n in range(200)]


def test_same_id_gives_the_same_profile() -> None:
    first, second = ProfileBook(seed=7), ProfileBook(seed=7)
    for profile_id in IDS:
        assert first.get(profile_id) == second.get(profile_id)


def test_profiles_do_not_depend_on_the_process_hash_seed() -> None:
    # Python's own str hash changes per process; the receiver must not use it.
    code = (
        "from dumgum_loadtest.receiver.profiles import synthetic_profile;"
        "print(synthetic_profile('persona_9', seed=3).model_dump_json())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert outputs == {synthetic_profile("persona_9", seed=3).model_dump_json() + "\n"}


def test_the_seed_and_the_id_change_the_profile() -> None:
    by_seed = {synthetic_profile("user_1", seed=s).model_dump_json() for s in range(20)}
    by_id = {synthetic_profile(i).model_dump_json(exclude={"id"}) for i in IDS[:20]}
    assert len(by_seed) > 15
    assert len(by_id) > 15


@pytest.mark.parametrize("profile_id", IDS)
def test_profile_is_complete_and_valid(profile_id: str) -> None:
    profile = synthetic_profile(profile_id)
    assert profile.id == profile_id
    assert profile.version == "v1"
    assert profile.timeZone  # DumGum assumes UTC without it
    assert profile.firstName
    assert profile.countryCode and profile.city and profile.postalCode
    assert profile.birthdate is not None
    assert profile.mainPictureUrl == (f"https://pictures.example.invalid/{profile_id}/main-v1.jpg")
    wire = ProfileResponse(profile=profile).model_dump_json(exclude_none=True)
    assert ProfileResponse.model_validate_json(wire).profile == profile


def test_picture_urls_quote_the_id() -> None:
    assert main_picture_url("a/b c", "v2") == (
        "https://pictures.example.invalid/a%2Fb%20c/main-v2.jpg"
    )


def test_bump_changes_only_the_version_and_main_picture() -> None:
    book = ProfileBook(seed=1)
    before = book.get("persona_1")
    assert book.bump("persona_1") == "v2"
    after = book.get("persona_1")
    assert after.version == "v2"
    assert after.mainPictureUrl == main_picture_url("persona_1", "v2")
    unchanged = {"version", "mainPictureUrl"}
    assert after.model_dump(exclude=unchanged) == before.model_dump(exclude=unchanged)
    assert book.bump("persona_1") == "v3"
    assert book.get("persona_2").version == "v1"


def test_profile_needs_a_first_name_or_a_nickname() -> None:
    with pytest.raises(ValueError, match="firstName or a nickname"):
        Profile(id="x", gender="WOMAN", version="v1")
    assert Profile(id="x", gender="MAN", version="v1", nickname="ace").nickname == "ace"
