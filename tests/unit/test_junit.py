"""JUnit XML as CI tools read it: a case per verdict, failures with their figures."""

from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped

from dumgum_loadtest.junit import Verdict, write_junit


def test_each_verdict_is_a_case_and_a_failure_carries_its_figures(tmp_path: Path) -> None:
    path = tmp_path / "ci" / "slo.xml"
    write_junit(
        path,
        "slo",
        [
            Verdict("first_answer_p99_s", "slo", True, "1.43 s vs 3.0 s"),
            Verdict("drop_rate_max", "slo", False, "0.20 vs 0.01", "drop rate 20 % of 364"),
            Verdict("capacity", "slo", None, "no plateaus"),
        ],
    )
    suite = next(iter(JUnitXml.fromfile(str(path))))
    assert (suite.tests, suite.failures, suite.skipped) == (3, 1, 1)
    cases = {case.name: case for case in suite}
    failure = cases["drop_rate_max"].result[0]
    assert isinstance(failure, Failure)
    assert failure.message == "0.20 vs 0.01" and failure.text == "drop rate 20 % of 364"
    assert isinstance(cases["capacity"].result[0], Skipped)
    assert cases["first_answer_p99_s"].is_passed
