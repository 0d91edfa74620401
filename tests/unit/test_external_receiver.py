"""``run --receiver-url``'s checks that need no receiver: the URL's form, and the run
directory an external receiver has already opened its shards in."""

from __future__ import annotations

from pathlib import Path

import pytest

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.external_receiver import check_receiver_url, unused_shards_only
from dumgum_loadtest.rundir import create_run_dir, refuse_occupied_run_dir, remove_created


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://dumgum-loadtest-receiver:8090", "http://dumgum-loadtest-receiver:8090"),
        ("https://receiver.example/prefix/", "https://receiver.example/prefix"),
    ],
)
def test_a_receiver_url_is_kept_without_its_trailing_slash(given: str, expected: str) -> None:
    assert check_receiver_url(given) == expected


@pytest.mark.parametrize(
    "given", ["dumgum-loadtest-receiver:8090", "ftp://h:1", "http://", "http://h:1/?a=1"]
)
def test_a_receiver_url_that_is_no_http_url_is_refused_naming_the_option(given: str) -> None:
    with pytest.raises(ConfigError, match=r"^--receiver-url .*: give the http\(s\)://HOST:PORT"):
        check_receiver_url(given)


def receiver_opened(run_dir: Path, content: bytes = b"") -> None:
    raw = run_dir / "raw"
    raw.mkdir(parents=True)
    (raw / "events-receiver-0-1.jsonl").write_bytes(content)
    (raw / "calls-receiver-0-1.jsonl").write_bytes(b"")


def test_a_run_directory_holding_only_a_fresh_receiver_s_empty_shards_is_free(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    receiver_opened(run_dir)
    assert unused_shards_only(run_dir / "raw")
    refuse_occupied_run_dir(run_dir, external_receiver=True)
    with pytest.raises(ConfigError, match="is not empty"):
        refuse_occupied_run_dir(run_dir)  # without --receiver-url, it is another run's
    created = create_run_dir(run_dir, external_receiver=True)
    (run_dir / "scenario.yaml").write_text("name: x\n")
    remove_created(run_dir, created, keep=frozenset({"raw"}))
    # A failed start removes what the run wrote, never the receiver's open shards.
    assert sorted(p.name for p in run_dir.iterdir()) == ["raw"]
    assert len(list((run_dir / "raw").iterdir())) == 2


def test_shards_that_hold_records_already_are_another_run_s(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    receiver_opened(run_dir, b'{"recv_ns": 1}\n')
    with pytest.raises(ConfigError, match=r"^--out .*: raw/ holds records already"):
        refuse_occupied_run_dir(run_dir, external_receiver=True)


def test_anything_beside_the_receiver_s_shards_is_another_run_s(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    receiver_opened(run_dir)
    (run_dir / "summary.json").write_text("{}")
    with pytest.raises(ConfigError, match="is not empty"):
        refuse_occupied_run_dir(run_dir, external_receiver=True)
    (run_dir / "summary.json").unlink()
    (run_dir / "raw" / "requests-0.jsonl").write_bytes(b"")
    with pytest.raises(ConfigError, match="holds records already"):
        refuse_occupied_run_dir(run_dir, external_receiver=True)
