"""Expected one-off charges: how many distinct pictures (or personas) get analysed in a period.

DumGum charges a picture once per URL and SoulEngine once per persona, so the bill grows with
the number of *distinct* things touched, not with traffic. A profile (user or persona) is
touched by conversations at random times; each conversation does the paid thing with chance
``hit_per_conversation``; a URL that rotates (``change_rate_per_day``) is a new thing to pay
for. Conversations pick their profile uniformly among those that exist, and personas may be
added during the period (each new one is handed its first conversation at once, as the
generator does). The count is a sum of independent Bernoulli variables, one per (profile,
URL version), which gives the mean and the variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PHASES = 32  # URL-rotation phases averaged over (each profile rotates at its own moments)
NEW_PROFILE_STEPS = 48  # midpoints over the period at which new profiles appear


@dataclass(frozen=True, slots=True)
class UniqueHits:
    """Expected distinct paid items: ``one_off`` for those current at the start of the period
    (a cold start pays them once), ``recurring`` for rotated URLs and new profiles."""

    one_off: float
    recurring: float
    variance: float

    @property
    def total(self) -> float:
        return self.one_off + self.recurring

    def scaled(self, factor: float) -> UniqueHits:
        return UniqueHits(self.one_off * factor, self.recurring * factor, self.variance * factor)


@dataclass(frozen=True, slots=True)
class Touches:
    """How often profiles of one kind are touched by ``conversations_per_day`` conversations,
    spread over ``initial`` profiles plus ``new_per_day`` added during the period.

    A new profile is handed the next conversation (the generator's ``pick_persona``); when
    profiles arrive faster than conversations, every conversation goes to a new one.
    """

    conversations_per_day: float
    initial: float
    new_per_day: float = 0.0

    @property
    def handed_per_day(self) -> float:
        """Conversations per day that go to a new profile first."""
        return min(self.new_per_day, self.conversations_per_day)

    @property
    def rate_per_day(self) -> float:
        """Conversations per day that pick a profile uniformly among those that exist."""
        return self.conversations_per_day - self.handed_per_day

    @property
    def handed_share(self) -> float:
        """Share of new profiles that get a conversation of their own."""
        return self.handed_per_day / self.new_per_day if self.new_per_day > 0 else 0.0

    def hazard(self, hit: float, start_day: np.ndarray, end_day: np.ndarray) -> np.ndarray:
        """Expected paid touches of one profile between the two days (integrated hazard)."""
        scale = self.rate_per_day * hit
        if self.new_per_day > 0:
            growth = np.log(
                (self.initial + self.new_per_day * end_day)
                / (self.initial + self.new_per_day * start_day)
            )
            return np.asarray(scale / self.new_per_day * growth)
        return np.asarray(scale * (end_day - start_day) / self.initial)


def _versions(
    start_day: float, days: float, change_rate_per_day: float, phase: float
) -> np.ndarray:
    """Edges of the URL versions a profile goes through in [start_day, days]."""
    if change_rate_per_day <= 0:
        return np.array([start_day, days])
    count = math.ceil(change_rate_per_day * (days - start_day)) + 1
    boundaries = start_day + (np.arange(1, count + 1) - phase) / change_rate_per_day
    inside = boundaries[boundaries < days]
    return np.concatenate(([start_day], inside, [days]))


def _one_profile(
    touches: Touches,
    hit: float,
    start_day: float,
    days: float,
    change_rate_per_day: float,
    handed_share: float,
) -> tuple[float, float, float]:
    """(first version, later versions, variance) for one profile, averaged over phases."""
    phases = (np.arange(PHASES) + 0.5) / PHASES if change_rate_per_day > 0 else np.array([0.5])
    first = later = variance = 0.0
    for phase in phases:
        edges = _versions(start_day, days, change_rate_per_day, float(phase))
        miss = np.exp(-touches.hazard(hit, edges[:-1], edges[1:]))
        miss[0] *= 1.0 - hit * handed_share  # a new profile's own first conversation
        paid = 1.0 - miss
        first += float(paid[0])
        later += float(paid[1:].sum())
        variance += float((paid * miss).sum())
    count = len(phases)
    return first / count, later / count, variance / count


def expected_unique(
    touches: Touches, hit_per_conversation: float, change_rate_per_day: float, days: float
) -> UniqueHits:
    """Distinct (profile, URL version) pairs paid for over ``days`` from a cold start."""
    if hit_per_conversation <= 0 or touches.conversations_per_day <= 0 or days <= 0:
        return UniqueHits(0.0, 0.0, 0.0)
    first, later, variance = _one_profile(
        touches, hit_per_conversation, 0.0, days, change_rate_per_day, handed_share=0.0
    )
    one_off = touches.initial * first
    recurring = touches.initial * later
    total_variance = touches.initial * variance
    if touches.new_per_day > 0:
        step = days / NEW_PROFILE_STEPS
        weight = touches.new_per_day * step
        for index in range(NEW_PROFILE_STEPS):
            new_first, new_later, new_variance = _one_profile(
                touches,
                hit_per_conversation,
                (index + 0.5) * step,
                days,
                change_rate_per_day,
                handed_share=touches.handed_share,
            )
            recurring += weight * (new_first + new_later)
            total_variance += weight * new_variance
    return UniqueHits(one_off, recurring, total_variance)
