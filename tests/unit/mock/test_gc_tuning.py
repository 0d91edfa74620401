"""The mock's GC tuning: the startup heap frozen out of every scan, a larger young generation.
Checked in a child process, so the test process keeps CPython's defaults."""

from __future__ import annotations

import json
import subprocess
import sys

from dumgum_loadtest.mock.app import GC_GEN0_THRESHOLD

CHILD = """
import gc, json
from dumgum_loadtest.mock.app import tune_gc_for_serving
before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
tune_gc_for_serving()
after = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
print(json.dumps({"before": before, "after": after}))
"""


def test_serving_freezes_the_startup_heap_and_enlarges_the_young_generation() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    figures = json.loads(result.stdout)
    before, after = figures["before"], figures["after"]
    assert before["frozen"] == 0
    assert after["frozen"] > 1000  # the imported modules' objects, out of every collection
    assert after["threshold"][0] == GC_GEN0_THRESHOLD > before["threshold"][0]
    assert after["threshold"][1:] == before["threshold"][1:]  # older generations unchanged
