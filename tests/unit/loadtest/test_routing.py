"""The pair-to-mock-process routing: stable across processes and runs, by a fixed hash."""

from __future__ import annotations

import subprocess
import sys
import zlib

import pytest

from dumgum_loadtest.loadtest.routing import shard_index

# Computed once and fixed here: a change of the hash would send a resumed or compared run's
# pairs to other processes.
EXPECTED = [
    # (user, persona, index among 2, among 3, among 7)
    ("u1", "p1", 0, 0, 0),
    ("u1", "p2", 0, 1, 3),
    ("u2", "p1", 0, 0, 4),
    ("u3", "p3", 1, 2, 3),
    ("user_0", "persona_0", 0, 1, 3),
    ("u1p", "1", 0, 0, 5),  # the separator keeps ("u1", "p1") and ("u1p", "1") apart
    ("ü", "p", 0, 2, 5),  # UTF-8
]


@pytest.mark.parametrize(("user", "persona", "of_2", "of_3", "of_7"), EXPECTED)
def test_fixed_values(user: str, persona: str, of_2: int, of_3: int, of_7: int) -> None:
    assert [shard_index(user, persona, n) for n in (2, 3, 7)] == [of_2, of_3, of_7]
    assert shard_index(user, persona, 1) == 0


def test_it_is_crc32_of_the_pair() -> None:
    assert zlib.crc32(b"u3\x00p3") == 0x8561D70D
    assert shard_index("u3", "p3", 5) == 0x8561D70D % 5


def test_the_same_in_another_process() -> None:
    # Python's hash() of a str differs between processes (PYTHONHASHSEED): this must not.
    code = (
        "from dumgum_loadtest.loadtest.routing import shard_index;"
        "print([shard_index(f'user_{i}', f'persona_{i % 3}', 4) for i in range(50)])"
    )
    here = [shard_index(f"user_{i}", f"persona_{i % 3}", 4) for i in range(50)]
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout
    assert other.strip() == str(here)
    assert set(here) == {0, 1, 2, 3}  # and it spreads pairs over every process


def test_no_process_is_refused() -> None:
    with pytest.raises(ValueError, match="shards must be >= 1, got 0"):
        shard_index("u", "p", 0)
