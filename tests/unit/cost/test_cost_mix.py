"""The mix's billing shares are what RequestFactory draws, and the run's picture rule counts
unique pictures (an upper bound without the scenario, an expectation with it)."""

from __future__ import annotations

import random
from collections import Counter

import pandas as pd
import pytest
from tests.unit.cost.cost_helpers import request
from tests.unit.cost.test_cost_projection import COVERAGE, COVERAGE_MIX
from tests.unit.scenarios.scenario_helpers import make_scenario

from dumgum_loadtest.cost.mix import gap_exceeds, model_mixes, reply_shape
from dumgum_loadtest.cost.pictures import count_pictures
from dumgum_loadtest.mock.distributions import Constant, Lognormal, Uniform
from dumgum_loadtest.scenarios.draw import RequestFactory

DRAWS = 20_000


def test_shares_match_what_the_factory_draws() -> None:
    scenario = make_scenario(COVERAGE_MIX, **COVERAGE)
    factory = RequestFactory(scenario, random.Random(3))
    models: Counter[str] = Counter()
    flags: Counter[tuple[str, str]] = Counter()
    uncaptioned: Counter[tuple[str, int]] = Counter()
    for _ in range(DRAWS):
        body = factory.draw("u1", "p1").body
        params = body.get("replyParameters", {})
        model = params["chatModel"]
        models[model] += 1
        flags[model, "test"] += body.get("testMode") is True
        flags[model, "soul"] += params.get("generatePersonality") is True
        vision = params.get("vision") or {}
        flags[model, "user"] += vision.get("userProfilePictureAnalysis") is True
        if vision.get("shareablePicturesAnalysis") is True:
            for k, picture in enumerate(params.get("shareablePictures") or [], start=1):
                uncaptioned[model, k] += "caption" not in picture
    for mix in model_mixes(scenario):
        name = mix.model.value
        count = models[name]
        assert count / DRAWS == pytest.approx(mix.request_share, abs=0.015)
        assert flags[name, "test"] / count == pytest.approx(mix.test_mode, abs=0.03)
        assert flags[name, "soul"] / count == pytest.approx(mix.generate_personality, abs=0.02)
        assert flags[name, "user"] / count == pytest.approx(mix.user_picture, abs=0.03)
        for k, share in enumerate(mix.shareable_uncaptioned, start=1):
            assert uncaptioned[name, k] / count == pytest.approx(share, abs=0.03)


def test_gap_exceeds_the_buffer() -> None:
    assert gap_exceeds(Constant(value_s=3.0), 5.0) == 0.0
    assert gap_exceeds(Uniform(low_s=1.0, high_s=9.0), 5.0) == pytest.approx(0.5)
    assert gap_exceeds(Lognormal(median_s=5.0, p99_s=20.0), 5.0) == pytest.approx(0.5)
    assert gap_exceeds(Lognormal(median_s=5.0, p99_s=20.0), 0.0) == 1.0


def test_a_by_model_buffer_changes_that_model_s_share_of_replies() -> None:
    scenario = make_scenario(
        {
            "replyParameters.chatModel": {"dating-smart-1": 0.5, "chat-2-smart": 0.5},
            "replyParameters.bufferSeconds": {0: 1.0},
        },
        by_model={"chat-2-smart": {"replyParameters.bufferSeconds": {"5": 1.0}}},
        conversation={"burst_size": {2: 1.0}, "engage_share": 0.0},
    )
    shape = reply_shape(scenario)
    # dating-smart-1 (buffer 0) ends a reply with every request; chat-2-smart only when last
    assert shape.replies_per_request == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    shares = {m.model.value: shape.reply_share(m) for m in shape.mixes}
    assert shares["dating-smart-1"] == pytest.approx(2 / 3)


def _vision_requests() -> pd.DataFrame:
    rows = [
        request("a", 1.0, "c1", "u1", "p1", "chat-2-smart", vision=True),
        request("b", 2.0, "c2", "u1", "p2", "chat-2-smart", vision=True),
        request("c", 3.0, "c3", "u2", "p1", "chat-2-smart", vision=True, shareable_pictures=2),
        request("d", 4.0, "c4", "u3", "p3", "dating-smart-1", vision=True),  # no vision there
    ]
    frame = pd.DataFrame(rows)
    for column in ("sent_ns", "intended_ns"):
        frame[column] = frame[column].astype("Int64")
    return frame


def test_without_the_scenario_every_touched_picture_counts_once() -> None:
    count = count_pictures(_vision_requests())
    # u1, u2, p1, p2 main pictures and p1's two shareable pictures
    assert count.pictures == 6
    assert count.by_model == {"chat-2-smart": 6.0}
    assert not count.weighted


def test_with_the_scenario_each_picture_counts_with_its_probability() -> None:
    scenario = make_scenario(
        {
            "replyParameters.chatModel": {"chat-2-smart": 1.0},
            "replyParameters.vision.userProfilePictureAnalysis": {True: 0.5, False: 0.5},
            "replyParameters.vision.personaProfilePictureAnalysis": {True: 0.5, False: 0.5},
            "replyParameters.shareablePictures": {2: 1.0},
            "replyParameters.shareablePictureCaptioned": {0: 0.5, 1: 0.5},
        }
    )
    count = count_pictures(_vision_requests(), scenario)
    # Given some analysis was asked (3/4), each main picture was with chance 2/3; no
    # shareable analysis in this mix. u1 is touched twice: 1 - (1/3)^2; p1 twice; u2, p2 once.
    expected = 2 * (1 - (1 / 3) ** 2) + 2 * (2 / 3)
    assert count.weighted
    assert count.pictures == pytest.approx(expected)
