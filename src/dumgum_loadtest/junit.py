"""JUnit XML for CI: one test case per verdict (an SLO, a compared metric), failures with figures.

Written with ``junitparser``; CI systems (GitHub Actions test reporters, GitLab, Jenkins) show
each case by name and a failure's message and text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from dumgum_loadtest.outputs import make_output_dir


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str  # the test case: an objective, a metric
    group: str  # its class name: slo, compare.latency, ...
    passed: bool | None  # None: not judged (skipped, with the reason as message)
    message: str  # one line: the figures and the rule
    details: str = ""  # the failure's text: baseline, current, interval, ...


def write_junit(path: Path, suite: str, verdicts: Iterable[Verdict]) -> None:
    """Write ``verdicts`` as one JUnit test suite named ``suite`` to ``path``."""
    test_suite = TestSuite(suite)
    for verdict in verdicts:
        case = TestCase(verdict.name, classname=f"{suite}.{verdict.group}")
        if verdict.passed is False:
            failure = Failure(verdict.message)
            failure.text = verdict.details or verdict.message
            case.result = [failure]
        elif verdict.passed is None:
            case.result = [Skipped(verdict.message)]
        else:
            case.system_out = verdict.message
        test_suite.add_testcase(case)
    xml = JUnitXml()
    xml.add_testsuite(test_suite)
    make_output_dir(path.parent, "--junit")
    xml.write(str(path), pretty=True)
