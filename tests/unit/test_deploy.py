"""The scheduling recipes under deploy/: they parse, they run the command nightly.sh
documents at the same hour, and nightly.sh's exit code follows its rules (with a stand-in
for dumgum-loadtest, so the loop is checked without a load test)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NIGHTLY = DEPLOY / "nightly.sh"
CHECKOUT = "/opt/dumgum-loadtest"  # where the cron and systemd recipes expect the checkout
CRON_SCHEDULE = "30 2 * * *"  # 02:30 UTC, the same in every recipe


def documented_command() -> str:
    """The command nightly.sh says it is scheduled as (the indented line in its header)."""
    match = re.search(r"^#   (deploy/nightly\.sh .+)$", NIGHTLY.read_text(), re.MULTILINE)
    assert match, "nightly.sh documents no '#   deploy/nightly.sh ...' command"
    return match.group(1)


def yaml_documents(path: Path) -> list[Any]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def unit_entries(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as section -> key -> values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path}: {line!r} before any [Section]"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: {line!r} is not KEY=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_every_yaml_under_deploy_parses() -> None:
    found = sorted(DEPLOY.rglob("*.y*ml"))
    assert {"github-nightly.yml", "nightly-cronjob.yaml"} <= {path.name for path in found}
    for path in found:
        assert yaml_documents(path), f"{path}: no YAML document"


def test_nightly_sh_is_executable_valid_bash_and_documents_its_command() -> None:
    assert os.access(NIGHTLY, os.X_OK)
    subprocess.run(["bash", "-n", str(NIGHTLY)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-S", "warning", str(NIGHTLY)], check=True)
    text = NIGHTLY.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert documented_command() == "deploy/nightly.sh scenarios/nightly.yaml"
    assert (ROOT / "scenarios" / "nightly.yaml").is_file()
    for option in ("--history", "--junit", "--calibrate", "--baseline last-passing", "--markdown"):
        assert option in text


def test_the_cron_line_runs_the_documented_command_from_the_checkout() -> None:
    lines = [
        line
        for line in (DEPLOY / "cron" / "dumgum-nightly.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)
    ]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 6)
    schedule, user, command = " ".join(fields[:5]), fields[5], fields[6]
    assert schedule == CRON_SCHEDULE
    assert user == "dumgum"  # /etc/cron.d lines name the user
    assert command.startswith(f"cd {CHECKOUT} && ")
    assert f" {documented_command()} " in f" {command} "
    assert "%" not in command  # cron would turn it into a newline
    assert "CRON_TZ=UTC" in (DEPLOY / "cron" / "dumgum-nightly.cron").read_text()


def test_the_systemd_units_start_the_documented_command_nightly() -> None:
    service = unit_entries(DEPLOY / "systemd" / "dumgum-nightly.service")
    assert service["Service"]["Type"] == ["oneshot"]
    assert service["Service"]["WorkingDirectory"] == [CHECKOUT]
    assert service["Service"]["ExecStart"] == [f"{CHECKOUT}/{documented_command()}"]
    timer = unit_entries(DEPLOY / "systemd" / "dumgum-nightly.timer")
    assert timer["Timer"]["OnCalendar"] == ["*-*-* 02:30:00 UTC"]
    assert timer["Timer"]["Unit"] == ["dumgum-nightly.service"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point the units at this checkout.
    for unit in (DEPLOY / "systemd").iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(CHECKOUT, str(ROOT)))
    units = [str(tmp_path / "dumgum-nightly.service"), str(tmp_path / "dumgum-nightly.timer")]
    result = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    problems = [line for line in result.stderr.splitlines() if "dumgum-nightly" in line]
    assert not problems, problems


def test_the_github_workflow_runs_the_loop_nightly_and_publishes_what_it_made() -> None:
    (workflow,) = yaml_documents(DEPLOY / "ci" / "github-nightly.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"] == [{"cron": CRON_SCHEDULE}]
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    assert any(use.startswith("actions/checkout@") for use in uses)
    runs = [step.get("run", "") for step in steps]
    assert any("make .venv/.installed" in run for run in runs)
    assert any(documented_command() in run for run in runs)
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-"))
    junit = next(step for step in steps if "junit" in step.get("uses", ""))
    for step in (upload, junit):
        assert step["if"] == "always()"  # a failed night is published too
    assert "reports/nights/" in upload["with"]["path"]
    assert junit["with"]["report_paths"] == "reports/nights/*/junit/*.xml"
    assert job["env"]["DUMGUM_LOADTEST_HISTORY"] == "${{ secrets.DUMGUM_LOADTEST_HISTORY }}"


def test_the_kubernetes_cronjob_runs_the_loop_with_a_volume_and_secrets() -> None:
    documents = yaml_documents(DEPLOY / "kubernetes" / "nightly-cronjob.yaml")
    by_kind = {doc["kind"]: doc for doc in documents}
    assert set(by_kind) == {"PersistentVolumeClaim", "CronJob"}
    cronjob = by_kind["CronJob"]
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    assert spec["schedule"] == CRON_SCHEDULE and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert " ".join(container["command"]) == documented_command()
    # The image nightly.Dockerfile builds: deploy/ copied into its working directory.
    dockerfile = (DEPLOY / "kubernetes" / "nightly.Dockerfile").read_text()
    assert f"WORKDIR {container['workingDir']}" in dockerfile
    assert "COPY deploy ./deploy" in dockerfile
    assert container["image"].rsplit("/", 1)[-1] in dockerfile
    env = {item["name"]: item for item in container["env"]}
    for name, key in (
        ("DUMGUM_LOADTEST_HISTORY", "history-url"),
        ("DUMGUM_API_TOKEN", "api-token"),
    ):
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == key
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == env["DUMGUM_NIGHTLY_REPORTS"]["value"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    claim = by_kind["PersistentVolumeClaim"]["metadata"]["name"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim


# -- nightly.sh's loop, with a stand-in for dumgum-loadtest ----------------------------------

FAKE_CLI = """#!/usr/bin/env bash
# Stands in for dumgum-loadtest: records its arguments, exits as the test says.
echo "$*" >>"$FAKE_CALLS"
case "$1" in
  run) exit "$FAKE_RUN_RC" ;;
  compare) echo "$FAKE_COMPARE_SAYS" >&2; exit "$FAKE_COMPARE_RC" ;;
  trends) exit "$FAKE_TRENDS_RC" ;;
esac
exit 99
"""
NO_BASELINE = (
    "error: --baseline last-passing: the history has no valid run with SLOs passed of"
    " scenario tiny (hash 0123) on target 'mock' before tiny-1; give --baseline RUN_DIR"
)


def run_nightly(
    tmp_path: Path, run_rc: int, compare_rc: int, trends_rc: int, compare_says: str = ""
) -> tuple[int, list[str], str]:
    fake = tmp_path / "fake-dumgum-loadtest"
    fake.write_text(FAKE_CLI)
    fake.chmod(0o755)
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text("name: tiny\n")
    calls = tmp_path / "calls.txt"
    env = {
        **os.environ,
        "DUMGUM_LOADTEST_BIN": str(fake),
        "DUMGUM_NIGHTLY_REPORTS": str(tmp_path / "reports"),
        "DUMGUM_LOADTEST_HISTORY": str(tmp_path / "history.sqlite"),
        "FAKE_CALLS": str(calls),
        "FAKE_RUN_RC": str(run_rc),
        "FAKE_COMPARE_RC": str(compare_rc),
        "FAKE_COMPARE_SAYS": compare_says,
        "FAKE_TRENDS_RC": str(trends_rc),
    }
    result = subprocess.run(
        [str(NIGHTLY), str(scenario), "--duration", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return result.returncode, calls.read_text().splitlines(), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("run_rc", "compare_rc", "trends_rc", "says", "expected"),
    [
        (0, 0, 0, "", 0),
        (0, 1, 0, "", 1),  # a regression
        (1, 1, 0, "", 1),  # an SLO failed
        (0, 2, 0, NO_BASELINE, 0),  # the first night: nothing to compare with yet
        (0, 2, 0, "error: the baseline is not comparable", 2),
        (1, 2, 0, "error: the current run is invalid", 1),  # e.g. calibration failed
        (0, 0, 2, "", 2),  # no trends page
        (1, 0, 2, "", 2),
    ],
)
def test_the_night_exits_with_the_worst_meaningful_code(
    tmp_path: Path, run_rc: int, compare_rc: int, trends_rc: int, says: str, expected: int
) -> None:
    code, calls, output = run_nightly(tmp_path, run_rc, compare_rc, trends_rc, says)
    assert code == expected, output
    assert [call.split()[0] for call in calls] == ["run", "compare", "trends"]
    night = next((tmp_path / "reports" / "nights").glob("2*"))
    db = str(tmp_path / "history.sqlite")
    run_dir = night / "run"
    assert calls[0] == (
        f"run {tmp_path / 'tiny.yaml'} --out {run_dir} --history {db}"
        f" --junit {night / 'junit' / 'run.xml'} --calibrate --duration 5"
    )
    assert calls[1] == (
        f"compare {run_dir} --baseline last-passing --db {db}"
        f" --junit {night / 'junit' / 'compare.xml'} --markdown {night / 'compare.md'}"
    )
    assert calls[2] == f"trends --db {db} --out {tmp_path / 'reports' / 'trends'}"
    status = (night / "status.txt").read_text()
    assert status.splitlines()[-1] == f"night {night.name} exit {expected}"
    assert (tmp_path / "reports" / "nights" / "latest").resolve() == night.resolve()


@pytest.mark.parametrize("run_rc", [2, 3])
def test_a_run_that_measured_nothing_complete_is_not_compared(tmp_path: Path, run_rc: int) -> None:
    code, calls, output = run_nightly(tmp_path, run_rc, 0, 0)
    assert code == run_rc, output
    assert [call.split()[0] for call in calls] == ["run", "trends"]
    assert f"compare skipped (the run exited {run_rc}" in output


def test_a_missing_scenario_or_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "DUMGUM_LOADTEST_BIN": str(tmp_path / "none")}
    result = subprocess.run(
        [str(NIGHTLY), str(tmp_path / "tiny.yaml")], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no dumgum-loadtest command" in result.stderr
