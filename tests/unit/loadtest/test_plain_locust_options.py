"""Locust's command line with the generator's options: loopback unless told otherwise.

Parsed in a child interpreter: importing locust here would monkey-patch the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SCRIPT = """
import json, sys
import dumgum_loadtest.loadtest.options  # registers the options on Locust's parser hook
from locust.argument_parser import get_parser
parser = get_parser()
options = parser.parse_args(["-f", "locustfiles/enqueue.py", *sys.argv[1:]])
print(json.dumps({
    "web_host": options.web_host,
    "master_bind_host": options.master_bind_host,
    "exit_code_on_error": options.exit_code_on_error,
    "help": parser.format_help(),
}))
"""


def parse(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return parsed


def test_web_ui_and_master_listen_on_loopback_unless_exposed_deliberately() -> None:
    default = parse()
    assert default["web_host"] == "127.0.0.1"  # Locust's own default: every interface
    assert default["master_bind_host"] == "127.0.0.1"  # Locust's: "*"
    assert default["exit_code_on_error"] == 0  # rejected enqueues are results, not a failure
    exposed = parse("--web-host", "0.0.0.0", "--master-bind-host", "0.0.0.0")
    assert exposed["web_host"] == "0.0.0.0"
    assert exposed["master_bind_host"] == "0.0.0.0"
    for option in ("--scenario", "--run-dir", "--run-id", "--target-url", "--receiver-url"):
        assert option in default["help"]
