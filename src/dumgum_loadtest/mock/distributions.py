"""Delay distributions of the mock's model: constant, uniform, lognormal from median and p99."""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The standard normal quantile at 0.99: p99 = median * exp(Z99 * sigma) for a lognormal.
Z99 = 2.3263478740408408


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constant(_Dist):
    kind: Literal["constant"] = "constant"
    value_s: float = Field(ge=0)

    def sample_s(self, rng: random.Random) -> float:
        return self.value_s

    @property
    def mean_s(self) -> float:
        return self.value_s


class Uniform(_Dist):
    kind: Literal["uniform"] = "uniform"
    low_s: float = Field(ge=0)
    high_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high_s < self.low_s:
            raise ValueError(f"high_s ({self.high_s}) must be >= low_s ({self.low_s})")
        return self

    def sample_s(self, rng: random.Random) -> float:
        return rng.uniform(self.low_s, self.high_s)

    @property
    def mean_s(self) -> float:
        return (self.low_s + self.high_s) / 2


class Lognormal(_Dist):
    """Long-tailed, like real generation times: given by its median and 99th percentile."""

    kind: Literal["lognormal"] = "lognormal"
    median_s: float = Field(gt=0)
    p99_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Lognormal:
        if self.p99_s < self.median_s:
            raise ValueError(f"p99_s ({self.p99_s}) must be >= median_s ({self.median_s})")
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p99_s / self.median_s) / Z99

    def sample_s(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_s), self.sigma)

    @property
    def mean_s(self) -> float:
        return self.median_s * math.exp(self.sigma**2 / 2)


Distribution = Annotated[Constant | Uniform | Lognormal, Field(discriminator="kind")]
