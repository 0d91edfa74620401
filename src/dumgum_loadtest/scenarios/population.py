"""The people of a scenario over simulated time: users, personas, their pictures and versions.

Users are ``u<n>`` and personas ``p<n>`` (1-based). Picture URLs rotate, new personas appear
and profile versions advance at the scenario's per-day rates, measured in simulated days
(simulated seconds = real seconds / time scale). Everything is a pure function of the seed,
the id and the time, except ``pick_persona``, which hands each new persona out once first.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass

from dumgum_loadtest.scenarios.model import Population

PICTURES_BASE_URL = "https://pictures.example.invalid"
SECONDS_PER_DAY = 86_400.0

_MASK64 = (1 << 64) - 1
_PHASE_CACHE_LIMIT = 1_000_000  # ids whose phases are remembered (bounds memory)


@dataclass(frozen=True, slots=True)
class Picture:
    """One of a persona's shareable pictures, as Smart Share receives it."""

    id: str
    url: str


def _unit(seed: int, key: str, salt: int) -> float:
    """A stable value in [0, 1) from (seed, key, salt): splitmix64 over a CRC of the key."""
    x = (seed * 0x9E3779B97F4A7C15 + zlib.crc32(key.encode()) * 0xD6E8FEB86659FD93 + salt) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) / 18446744073709551616.0


class ScenarioPopulation:
    """Who talks, and how their profiles and pictures change as simulated days pass."""

    def __init__(self, spec: Population, *, seed: int, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.spec = spec
        self.seed = seed
        self.time_scale = time_scale
        self._user_ids = [f"u{n}" for n in range(1, spec.users + 1)]
        self._persona_ids = [f"p{n}" for n in range(1, spec.personas + 1)]
        self._handed_out = spec.personas  # personas already offered as "new" (the first ones)
        self._day_per_real_s = 1.0 / time_scale / SECONDS_PER_DAY
        # profile id -> (from day, until day, version): versions change rarely, so remember.
        self._versions: dict[str, tuple[float, float, str]] = {}
        self._picture_phases: dict[str, tuple[float, ...]] = {}

    # Time

    def simulated_days(self, elapsed_s: float) -> float:
        """Simulated days after ``elapsed_s`` real seconds of the run."""
        return elapsed_s * self._day_per_real_s

    # Who

    @property
    def user_count(self) -> int:
        return self.spec.users

    @property
    def active_conversations(self) -> int:
        """Pairs in play at once (open model): the scenario's value or min(users, 5 x personas)."""
        if self.spec.active_conversations is not None:
            return self.spec.active_conversations
        return min(self.spec.users, 5 * self.spec.personas)

    def persona_count(self, elapsed_s: float = 0.0) -> int:
        """Personas that exist at ``elapsed_s``: the initial ones plus those added since."""
        added = math.floor(self.spec.new_personas_per_day * self.simulated_days(elapsed_s))
        return self.spec.personas + max(0, added)

    def user_id(self, index: int) -> str:
        """The id of user ``index`` (0-based)."""
        return self._user_ids[index] if index < len(self._user_ids) else f"u{index + 1}"

    def persona_id(self, index: int) -> str:
        """The id of persona ``index`` (0-based); indexes past the initial ones are new personas."""
        return self._persona_ids[index] if index < len(self._persona_ids) else f"p{index + 1}"

    def pick_user(self, rng: random.Random) -> str:
        return self._user_ids[int(rng.random() * self.spec.users)]

    def pick_persona(self, rng: random.Random, elapsed_s: float = 0.0) -> str:
        """A persona for a new conversation: a persona that just appeared first, else any."""
        count = self.persona_count(elapsed_s)
        if self._handed_out < count:
            # A new persona gets a conversation at once, so its SoulEngine cost shows in the run.
            self._handed_out += 1
            return self.persona_id(self._handed_out - 1)
        return self.persona_id(int(rng.random() * count))

    def new_personas(self, elapsed_s: float) -> list[str]:
        """Personas added since the start of the run, oldest first."""
        return [
            self.persona_id(i) for i in range(self.spec.personas, self.persona_count(elapsed_s))
        ]

    # Pictures and versions

    def persona_pictures(
        self, persona_id: str, elapsed_s: float = 0.0, limit: int | None = None
    ) -> list[Picture]:
        """The persona's current pictures (at most ``limit``), URLs as rotated by ``elapsed_s``."""
        count = self.spec.pictures_per_persona
        if limit is not None:
            count = min(count, max(0, limit))
        if count == 0:
            return []
        rate = self.spec.picture_url_changes_per_day
        base = f"{PICTURES_BASE_URL}/persona/{persona_id}"
        if rate == 0:
            return [Picture(f"{persona_id}-{k}", f"{base}/{k}-r0.jpg") for k in range(1, count + 1)]
        turns = rate * self.simulated_days(elapsed_s)
        phases = self._phases(persona_id)
        return [
            Picture(f"{persona_id}-{k}", f"{base}/{k}-r{math.floor(turns + phases[k - 1])}.jpg")
            for k in range(1, count + 1)
        ]

    def picture_rotation(self, persona_id: str, picture: int, elapsed_s: float) -> int:
        """How many times picture ``picture`` (1-based) of the persona has changed URL."""
        rate = self.spec.picture_url_changes_per_day
        if rate == 0:
            return 0
        phase = self._phases(persona_id)[picture - 1]
        return math.floor(rate * self.simulated_days(elapsed_s) + phase)

    def user_profile_version(self, user_id: str, elapsed_s: float = 0.0) -> str:
        return self._version(user_id, elapsed_s)

    def persona_profile_version(self, persona_id: str, elapsed_s: float = 0.0) -> str:
        return self._version(persona_id, elapsed_s)

    def _version(self, profile_id: str, elapsed_s: float) -> str:
        """``v1`` at the start; each profile moves on at the per-day rate, at its own moments."""
        rate = self.spec.profile_version_changes_per_day
        if rate == 0:
            return "v1"
        days = elapsed_s * self._day_per_real_s
        known = self._versions.get(profile_id)
        if known is not None and known[0] <= days < known[1]:
            return known[2]
        phase = _unit(self.seed, profile_id, 0)
        changes = math.floor(rate * days + phase)
        if len(self._versions) >= _PHASE_CACHE_LIMIT:
            self._versions.clear()
        version = f"v{1 + changes}"
        self._versions[profile_id] = (
            (changes - phase) / rate,
            (changes + 1 - phase) / rate,
            version,
        )
        return version

    def _phases(self, persona_id: str) -> tuple[float, ...]:
        # A per-picture phase spreads the rotations over the day instead of all at once.
        phases = self._picture_phases.get(persona_id)
        if phases is None:
            if len(self._picture_phases) >= _PHASE_CACHE_LIMIT:
                self._picture_phases.clear()
            count = self.spec.pictures_per_persona
            phases = tuple(_unit(self.seed, persona_id, k) for k in range(1, count + 1))
            self._picture_phases[persona_id] = phases
        return phases
