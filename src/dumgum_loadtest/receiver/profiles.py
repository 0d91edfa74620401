"""Synthetic, deterministic profiles: the same seed and id always give the same profile.

Only ``version`` (and the main picture URL, which carries it) changes, and only when a test
bumps it, so DumGum's profile cache behaves as it would against a real customer.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from urllib.parse import quote

from dumgum_loadtest.schema.customer import Gender, Profile, ProfileFeatures

PICTURES_BASE_URL = "https://pictures.example.invalid"

# (countryCode, city, postalCode, timeZone, unitSystem): places whose fields agree.
_PLACES = (
    ("FR", "Paris", "75011", "Europe/Paris", "METRIC"),
    ("FR", "Lyon", "69002", "Europe/Paris", "METRIC"),
    ("BE", "Brussels", "1000", "Europe/Brussels", "METRIC"),
    ("DE", "Berlin", "10115", "Europe/Berlin", "METRIC"),
    ("NL", "Amsterdam", "1012 JS", "Europe/Amsterdam", "METRIC"),
    ("ES", "Madrid", "28013", "Europe/Madrid", "METRIC"),
    ("IT", "Rome", "00184", "Europe/Rome", "METRIC"),
    ("GB", "London", "SW1A 1AA", "Europe/London", "IMPERIAL"),
    ("US", "New York", "10001", "America/New_York", "IMPERIAL"),
    ("US", "Los Angeles", "90012", "America/Los_Angeles", "IMPERIAL"),
    ("CA", "Toronto", "M5V 2T6", "America/Toronto", "METRIC"),
    ("BR", "São Paulo", "01001-000", "America/Sao_Paulo", "METRIC"),
    ("AU", "Sydney", "2000", "Australia/Sydney", "METRIC"),
    ("JP", "Tokyo", "100-0001", "Asia/Tokyo", "METRIC"),
)
_FEMININE_NAMES = ("Emma", "Léa", "Sofia", "Mia", "Chloé", "Julia", "Anna", "Olivia", "Yuki")
_MASCULINE_NAMES = ("Lucas", "Noah", "Hugo", "Liam", "Mateo", "Jonas", "Ethan", "Leo", "Kenji")
_NICKNAMES = ("sunny", "moonwalker", "kiki", "bear", "pixel", "luna", "ace", "nova")
# Cisgender profiles dominate real dating populations; the weights only make that visible.
_GENDER_WEIGHTS = (
    (Gender.WOMAN, 46),
    (Gender.MAN, 46),
    (Gender.TRANS_WOMAN, 2),
    (Gender.TRANSFEMININE, 2),
    (Gender.TRANS_MAN, 2),
    (Gender.TRANSMASCULINE, 2),
)
_FEMININE = frozenset({Gender.WOMAN, Gender.TRANS_WOMAN, Gender.TRANSFEMININE})
_PERSONALITIES = ("SUPPORTIVE", "TEASING", "CONFIDENT", "GEEKY", "ROMANTIC", "NATURAL")
_INTERESTS = ("TAILORING", "COOKING", "TRAVEL", "READING", "GAMING", "PHOTOGRAPHY", "HIKING")
_SPORTS = ("SOCCER", "RUNNING", "YOGA", "TENNIS", "CLIMBING", "SWIMMING")
_MUSIC = ("POP", "ROCK", "JAZZ", "ELECTRO", "HIP_HOP", "CLASSICAL")
_JOBS = ("ACCOUNTANT", "SOFTWARE_DEVELOPER", "NURSE", "TEACHER", "DESIGNER", "CHEF")
_EYES = ("BLACK", "BROWN", "BLUE", "GREEN", "HAZEL")
_HAIR = ("BLACK", "BROWN", "DARK_BLOND", "BLOND", "RED")
_AGE_REFERENCE = date(2026, 1, 1)  # fixed, so a profile does not change from one day to the next


def _rng(seed: int, profile_id: str) -> random.Random:
    # A stable hash: Python's hash() of a str changes with every process (PYTHONHASHSEED).
    digest = hashlib.blake2b(f"{seed}\x00{profile_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def main_picture_url(profile_id: str, version: str) -> str:
    """A new URL per version: a bumped profile makes DumGum analyse a new picture."""
    return f"{PICTURES_BASE_URL}/{quote(profile_id, safe='')}/main-{version}.jpg"


def synthetic_profile(profile_id: str, seed: int = 0, version: str = "v1") -> Profile:
    """The profile of ``profile_id``: realistic, coherent, and a pure function of its inputs."""
    rng = _rng(seed, profile_id)
    gender = rng.choices([g for g, _ in _GENDER_WEIGHTS], [w for _, w in _GENDER_WEIGHTS])[0]
    feminine = gender in _FEMININE
    first_name = rng.choice(_FEMININE_NAMES if feminine else _MASCULINE_NAMES)
    country, city, postal_code, time_zone, unit_system = rng.choice(_PLACES)
    age_days = rng.randrange(18 * 365 + 5, 60 * 365)
    interests = rng.sample(_INTERESTS, 3)
    job = rng.choice(_JOBS)
    picture_dir = f"{PICTURES_BASE_URL}/{quote(profile_id, safe='')}"
    features = ProfileFeatures(
        ethnicity=rng.choice(("ASIAN", "BLACK", "CAUCASIAN", "HISPANIC", "MIDDLE_EASTERN")),
        height=rng.randrange(155, 178) if feminine else rng.randrange(165, 195),
        weight=rng.randrange(50, 95),
        eyesColor=rng.choice(_EYES),
        hairColor=rng.choice(_HAIR),
        hairLength=rng.choice(("SHORT", "AVERAGE", "LONG")),
        maritalStatus=rng.choice(("SINGLE", "SINGLE", "DIVORCED")),
        job=job,
        working=rng.random() < 0.85,
        sexualOrientation=rng.choice(("HETEROSEXUAL", "HETEROSEXUAL", "BISEXUAL", "GAY")),
        childrenCount=rng.choice((0, 0, 0, 1, 2)),
        wantsChildren=rng.choice(("YES", "NO", "MAYBE")),
        unitSystem=unit_system,
        livingWith=rng.choice(("ALONE", "ROOMMATES", "FAMILY")),
        education=rng.choice(("HIGH_SCHOOL", "BACHELOR", "MASTER")),
        religion=rng.choice(("NO_RELIGION", "CHRISTIAN", "MUSLIM", "BUDDHIST")),
        smoking=rng.choice(("NEVER", "NEVER", "SOMETIMES")),
        bodyShape=rng.choice(("SLIM", "ATHLETIC", "AVERAGE", "CURVY")),
        interests=interests,
        lookingFor=[Gender.MAN.value] if feminine else [Gender.WOMAN.value],
        sports=rng.sample(_SPORTS, 2),
        musicGenres=rng.sample(_MUSIC, 2),
    )
    return Profile(
        id=profile_id,
        gender=gender,
        version=version,
        firstName=first_name,
        nickname=rng.choice(_NICKNAMES) if rng.random() < 0.5 else None,
        description=(
            f"{first_name} from {city}, {job.lower().replace('_', ' ')},"
            f" into {interests[0].lower()} and {interests[1].lower()}."
        ),
        birthdate=_AGE_REFERENCE - timedelta(days=age_days),
        countryCode=country,
        city=city,
        postalCode=postal_code,
        timeZone=time_zone,
        features=features,
        personality=rng.choice(_PERSONALITIES),
        mainPictureUrl=main_picture_url(profile_id, version),
        pictures=[f"{picture_dir}/public-{n}.jpg" for n in range(1, rng.randrange(2, 5))],
        privatePictures=[f"{picture_dir}/private-{n}.jpg" for n in range(1, rng.randrange(1, 3))],
    )


class ProfileBook:
    """The receiver's profiles: synthetic content, with a version that tests can bump."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._bumps: dict[str, int] = {}

    def version(self, profile_id: str) -> str:
        return f"v{1 + self._bumps.get(profile_id, 0)}"

    def bump(self, profile_id: str) -> str:
        """Move ``profile_id`` to its next version (v1 → v2 …); returns the new version."""
        self._bumps[profile_id] = self._bumps.get(profile_id, 0) + 1
        return self.version(profile_id)

    def get(self, profile_id: str) -> Profile:
        return synthetic_profile(profile_id, self.seed, self.version(profile_id))
