"""What ``run`` makes of its options before anything starts: ``--duration`` carries the
timeline with the stages, and a failed start takes back only what it created."""

from __future__ import annotations

from pathlib import Path

import pytest

from dumgum_loadtest.errors import ConfigError, TargetError
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.run import RunOptions, check_receiver_state, resolve_scenario
from dumgum_loadtest.rundir import create_run_dir, remove_created

CHAOS = Path(__file__).resolve().parents[2] / "scenarios" / "chaos.yaml"


def test_duration_scales_the_timeline_with_the_run() -> None:
    # `run chaos.yaml --duration 20` injected no fault at all (every step was past 20 s).
    original = resolve_scenario(RunOptions(scenario_path=CHAOS))
    short = resolve_scenario(RunOptions(scenario_path=CHAOS, duration_s=20))
    factor = 20 / original.run_duration_s
    assert short.run_duration_s == pytest.approx(20)
    assert [step.at_s for step in short.timeline] == pytest.approx(
        [step.at_s * factor for step in original.timeline]
    )
    assert [step.patch for step in short.timeline] == [step.patch for step in original.timeline]
    assert all(step.at_s < 20 for step in short.timeline)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("duration_s", 0.0, "--duration 0: must be more than 0"),
        ("rate_rps", 0.0, "--rate 0: must be more than 0"),
        ("workers", 0, "--workers 0: give 1 or more"),
        ("max_rate_rps", -1.0, "--max-rate -1: must be more than 0"),
    ],
)
def test_options_that_mean_nothing_are_refused(option: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_scenario(RunOptions(scenario_path=CHAOS, **{option: value}))  # type: ignore[arg-type]


def test_a_failed_start_removes_only_what_it_created(tmp_path: Path) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("mine")
    run_dir = tmp_path / "new" / "deeper" / "run"
    created = create_run_dir(run_dir)
    assert (run_dir / RAW_DIR).is_dir()
    (run_dir / "scenario.yaml").write_text("name: x\n")
    remove_created(run_dir, created)
    assert not (tmp_path / "new").exists()
    assert keep.read_text() == "mine"

    existing = tmp_path / "empty-before"
    existing.mkdir()
    created = create_run_dir(existing)
    (existing / "scenario.yaml").write_text("name: x\n")
    remove_created(existing, created)
    assert existing.is_dir() and not any(existing.iterdir())  # the user's directory stays


def test_run_checks_the_receiver_state_naming_its_own_options(redis_url: str) -> None:
    check_receiver_state(redis_url, 2)
    with pytest.raises(ConfigError, match=r"^--receiver-processes 2: needs --receiver-state "):
        check_receiver_state("memory", 2)
    with pytest.raises(ConfigError, match=r"^--receiver-state 'valkey://h': give 'memory'"):
        check_receiver_state("valkey://h", 1)
    with pytest.raises(TargetError, match=r"^--receiver-state redis://:\*\*\*@127.0.0.1:1/0: no"):
        check_receiver_state("redis://:hunter2@127.0.0.1:1/0", 1)
