"""environment.json's ``git_commit``: the checkout the harness runs from, or None."""

from __future__ import annotations

import re
from pathlib import Path

from dumgum_loadtest.rundir import environment, git_commit


def test_a_checkout_gives_its_head_and_anything_else_none(tmp_path: Path) -> None:
    assert re.fullmatch(r"[0-9a-f]{40}", git_commit() or "")  # the tests run from a checkout
    assert git_commit(tmp_path) is None  # not a checkout
    assert environment("mock", 1.0, 1, {})["git_commit"] == git_commit()
