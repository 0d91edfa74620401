"""How often ``compare`` cries wolf: K pairs of runs of one configuration, compared (by hand).

Nothing changes between the two runs of a pair, so every exit 1 is a false alarm (exit 2, an
invalid run, is counted apart). Runs one after another, each a real run against the embedded
mock, then compares run 2i+1 against run 2i:

    .venv/bin/python benchmarks/bench_compare_false_alarms.py [--pairs 10]
        [--scenario scenarios/smoke.yaml] [--duration 12] [--keep DIR]

Prints one line per pair (exit code, what regressed) and the count, and a JSON line at the end.
About 25 s per run on a 2-core machine at the defaults: K = 10 takes about 9 minutes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")


def run(scenario: str, duration_s: float, out: Path) -> int:
    result = subprocess.run(
        [CLI, "run", scenario, "--duration", f"{duration_s:g}", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode


def compare(current: Path, baseline: Path, junit: Path) -> tuple[int, list[str], str]:
    result = subprocess.run(
        [CLI, "compare", str(current), "--baseline", str(baseline), "--junit", str(junit)],
        capture_output=True,
        text=True,
        check=False,
    )
    regressed = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.rstrip().endswith(" regression")
    ]
    return result.returncode, regressed, result.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "smoke.yaml"))
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the runs here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="compare-false-alarms-"))
    base.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outcomes = []
    for pair in range(args.pairs):
        dirs = [base / f"pair{pair:02d}-{side}" for side in ("a", "b")]
        codes = [run(args.scenario, args.duration, out) for out in dirs]
        code, regressed, error = compare(dirs[1], dirs[0], base / f"pair{pair:02d}.xml")
        outcomes.append(
            {"pair": pair, "run_exit": codes, "compare_exit": code, "regressed": regressed}
        )
        why = ", ".join(regressed) or error or "-"
        print(f"pair {pair}: runs exit {codes}, compare exit {code}: {why}", flush=True)
    alarms = sum(1 for outcome in outcomes if outcome["compare_exit"] == 1)
    invalid = sum(1 for outcome in outcomes if outcome["compare_exit"] == 2)
    print(
        f"{alarms} false alarms in {args.pairs} same-configuration pairs"
        f" ({invalid} not comparable or invalid), {time.monotonic() - started:.0f} s;"
        f" runs in {base}"
    )
    print(
        json.dumps(
            {
                "pairs": args.pairs,
                "false_alarms": alarms,
                "invalid": invalid,
                "scenario": args.scenario,
                "duration_s": args.duration,
                "outcomes": outcomes,
            }
        )
    )


if __name__ == "__main__":
    main()
