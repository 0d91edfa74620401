"""trends.json against its schema, trends.html self-contained, the command's exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema_rs
import pandas as pd
import pytest
from click.testing import CliRunner
from tests.unit.trends.trends_history import STEP_METRIC, synthetic_history

from dumgum_loadtest.cli import main
from dumgum_loadtest.trends import command
from dumgum_loadtest.trends.output import write_trends
from dumgum_loadtest.trends.series import build_trends

SCHEMA = json.loads((Path(__file__).parents[3] / "schemas" / "trends.schema.json").read_text())
FEW = [STEP_METRIC, "drop_rate"]  # two figures keep the page tests quick
REQUIRED = {"scenario", "metric", "run_id", "index", "before", "after", "relative_change", "pvalue"}


def history(seed: int = 1) -> pd.DataFrame:
    frame = synthetic_history(seed, invalid=(7,), breakdown={"chat_model": ["dating-pro-1"]})
    other = synthetic_history(seed + 1, runs=4, scenario="vision-heavy", step_metric=None)
    return pd.concat([frame, other], ignore_index=True)


def test_json_and_html(tmp_path: Path) -> None:
    trends = build_trends(history(), metrics=FEW, by=["chat_model"])
    html_path, json_path = write_trends(trends, tmp_path)
    document = json.loads(json_path.read_text())
    jsonschema_rs.validate(SCHEMA, document)
    (change,) = document["change_points"]
    assert change.keys() >= REQUIRED
    assert change["scenario"] == "nightly" and change["metric"] == STEP_METRIC
    series = document["series"]["nightly"][STEP_METRIC]
    assert series[change["index"]]["run_id"] == change["run_id"]
    assert series[7]["valid"] is False and len(series) == 30
    assert {"run_id", "started_at", "value", "valid", "version", "commit"} <= series[0].keys()
    assert document["breakdown_series"]["nightly"]["chat_model"]["dating-pro-1"]["drop_rate"]
    assert len(document["series"]["vision-heavy"][STEP_METRIC]) == 4
    assert any(n["scenario"] == "vision-heavy" for n in document["series_notes"])

    page = html_path.read_text()
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)
    assert len(images) == len(trends.series) == 5  # 2 + 1 breakdown + 2 of the short scenario
    assert 'id="change-points"' in page and "1 change point(s) found." in page
    assert "0.1.0" in page and "0.2.0" in page  # the code of the runs around the change
    assert 'src="http' not in page and "<script" not in page  # loads nothing


def test_empty_history_writes_a_page_that_says_so(tmp_path: Path) -> None:
    empty = synthetic_history(0).iloc[0:0]
    trends = build_trends(empty)
    html_path, json_path = write_trends(trends, tmp_path)
    document = json.loads(json_path.read_text())
    jsonschema_rs.validate(SCHEMA, document)
    assert document["change_points"] == [] and document["series"] == {}
    assert "holds no runs" in html_path.read_text()


@pytest.fixture
def fake_history(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, str | None]]:
    calls: list[tuple[str | None, str | None]] = []

    def load(db_url: str | None, scenario: str | None) -> pd.DataFrame:
        calls.append((db_url, scenario))
        frame = history()
        return frame if scenario is None else frame[frame["scenario"] == scenario]

    monkeypatch.setattr(command, "load_frame", load)
    return calls


def test_command_writes_both_files_and_prints_the_change(
    tmp_path: Path, fake_history: list[tuple[str | None, str | None]]
) -> None:
    out = tmp_path / "new" / "trends"
    args = ["trends", "--db", "x.sqlite", "--scenario", "nightly", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--metric", STEP_METRIC, "--metric", "drop_rate"])
    assert result.exit_code == 0, result.output
    assert fake_history == [("x.sqlite", "nightly")]
    assert (out / "trends.html").is_file() and (out / "trends.json").is_file()
    assert re.search(rf"change: nightly {re.escape(STEP_METRIC)} \+\d+\.\d% at run", result.stdout)


def test_command_out_under_a_file_is_one_line_exit_2(
    tmp_path: Path, fake_history: list[tuple[str | None, str | None]]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in (blocker / "sub", blocker):
        result = CliRunner().invoke(main, ["trends", "--out", str(out)])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --out ")
        assert fake_history == []  # refused before the history is read


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--metric", "nope"], "error: --metric nope: the history has no such metric"),
        (["--by", "nope"], "error: --by nope: the history has no such breakdown"),
        (["--max-pvalue", "2"], "error: max_pvalue (--max-pvalue) = 2.0: must be in (0, 1]"),
    ],
)
def test_command_bad_option_is_one_line_exit_2(
    tmp_path: Path,
    fake_history: list[tuple[str | None, str | None]],
    option: list[str],
    message: str,
) -> None:
    result = CliRunner().invoke(main, ["trends", "--out", str(tmp_path / "o"), *option])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
