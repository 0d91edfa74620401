"""``run --junit FILE``: a run's verdicts as JUnit XML, for CI test reports.

One suite, ``run.<scenario>``; one case per SLO the scenario sets (class ``slo``), with its
target, the measured figure and which requests that figure counts; a ``run completed`` case
(class ``run``) that fails when the run was cut short (the figures are then incomplete); and,
for a calibrated run, a ``calibration`` case (class ``calibration``) that fails when the
harness did not recover the embedded mock's known figures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.junit import Verdict, write_junit
from dumgum_loadtest.outputs import check_output_dir

RUN_COMPLETED = "run completed"


def check_junit_path(path: Path) -> None:
    """Refused before the run starts: a directory, or a place where no file can be made."""
    if path.is_dir():
        raise ConfigError(f"--junit {path}: is a directory; give a file name such as slo.xml")
    parent = path.parent if str(path.parent) else Path()
    for place in (parent, *parent.parents):
        if place.exists() and not place.is_dir():
            raise ConfigError(
                f"--junit {path}: {place} is a file, not a directory; give a path in a directory"
            )
    check_output_dir(parent, "--junit")


def _figure(value: Any) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def slo_verdict(row: Mapping[str, Any]) -> Verdict:
    """One SLO row of the summary as a case: ``measured <= target`` passes."""
    objective = str(row["objective"])
    target, measured = row.get("target"), row.get("measured")
    passed = bool(row.get("pass"))
    if measured is None:
        message = f"{objective}: no measurement (no data, no pass); target <= {_figure(target)}"
    else:
        relation = "<=" if passed else ">"
        message = (
            f"{objective}: measured {_figure(measured)} {relation} target {_figure(target)}"
            f" ({'pass' if passed else 'FAIL'})"
        )
    details = "\n".join(
        (
            f"objective: {objective}",
            f"target: {_figure(target)} (at most)",
            f"measured: {_figure(measured)}",
            f"view: {row.get('view', '')}",
            f"source: summary.json {row.get('source', '')}",
        )
    )
    return Verdict(objective, "slo", passed, f"{message}; view: {row.get('view', '')}", details)


def completed_verdict(summary: Mapping[str, Any]) -> Verdict:
    status = str(summary.get("status") or "unknown")
    if not summary.get("interrupted"):
        return Verdict(RUN_COMPLETED, "run", True, f"the run completed ({status})")
    notes = [str(note) for note in summary.get("notes") or []]
    return Verdict(
        RUN_COMPLETED,
        "run",
        False,
        f"the run did not complete ({status}): its figures are incomplete, whatever the SLOs say",
        "\n".join([f"status: {status}", *notes]),
    )


def calibration_verdict(calibration: Mapping[str, Any]) -> Verdict:
    checks = calibration.get("checks") or []
    details = "\n".join(
        f"{check.get('name')}: {'pass' if check.get('passed') else 'FAIL'}: {check.get('rule')}"
        for check in checks
    )
    return Verdict(
        "calibration",
        "calibration",
        bool(calibration.get("passed")),
        str(calibration.get("sentence") or ""),
        details,
    )


def run_verdicts(summary: Mapping[str, Any]) -> Iterator[Verdict]:
    """Every verdict of a run's summary, in a stable order: SLOs, completion, calibration."""
    for row in summary.get("slo") or []:
        yield slo_verdict(row)
    yield completed_verdict(summary)
    calibration = summary.get("calibration")
    if isinstance(calibration, Mapping):
        yield calibration_verdict(calibration)


def write_run_junit(path: Path, summary: Mapping[str, Any]) -> None:
    write_junit(path, f"run.{summary.get('scenario') or 'scenario'}", run_verdicts(summary))


__all__ = ["RUN_COMPLETED", "check_junit_path", "run_verdicts", "write_run_junit"]
