"""How many enqueue bodies per second ``RequestFactory.draw`` makes on one core (run by hand).

Usage: ``python benchmarks/bench_draw.py [SCENARIO] [--seconds S]``; defaults to the nightly
scenario. The target is at least 50,000 draws per second, so drawing never limits the generator.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from dumgum_loadtest.scenarios.draw import RequestFactory
from dumgum_loadtest.scenarios.model import load_scenario
from dumgum_loadtest.schema.enums import Engage

ROOT = Path(__file__).resolve().parent.parent
TARGET_DRAWS_PER_S = 50_000


def bench(scenario_path: Path, seconds: float, repeats: int) -> list[float]:
    """Draws per CPU second in each of ``repeats`` loops, as the generator would call draw.

    CPU time of this process, not wall time, so other work on the machine does not skew it.
    """
    scenario = load_scenario(scenario_path)
    rng = random.Random(scenario.seed)
    factory = RequestFactory(scenario, rng, time_scale=scenario.mock_time_scale)
    population = factory.population
    engages = [None] * 19 + [Engage.AUTO]  # about the share of engage turns in a real mix
    rates: list[float] = []
    elapsed_s = 0.0
    for _ in range(repeats):
        count = 0
        start = time.process_time()
        deadline = start + seconds
        while time.process_time() < deadline:
            for i in range(1000):
                user = population.pick_user(rng)
                persona = population.pick_persona(rng, elapsed_s)
                factory.draw(user, persona, engage=engages[i % 20], elapsed_s=elapsed_s)
                elapsed_s += 0.001
            count += 1000
        rates.append(count / (time.process_time() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", nargs="?", type=Path, default=ROOT / "scenarios/nightly.yaml")
    parser.add_argument("--seconds", type=float, default=3.0, help="Length of each timed loop.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates = bench(args.scenario, args.seconds, args.repeats)
    best = max(rates)
    shown = ", ".join(f"{rate:,.0f}" for rate in rates)
    verdict = "ok" if best >= TARGET_DRAWS_PER_S else f"BELOW the {TARGET_DRAWS_PER_S:,} target"
    print(f"{args.scenario.name}: {best:,.0f} draws per CPU second on one core")
    print(f"  runs: {shown} - {verdict}")


if __name__ == "__main__":
    main()
