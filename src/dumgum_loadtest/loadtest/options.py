"""The generator's own Locust command-line options (resolved in ``settings``).

Registered on ``events.init_command_line_parser``, so they show in ``locust --help`` and in
the web UI, and the master forwards them to every worker with each spawn message. There is no
token option: the token comes from ``DUMGUM_LOADTEST_TOKEN`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import events

from dumgum_loadtest.loadtest.command import RECEIVER_URL_ENV


def listen(hook: Any, handler: Callable[..., None]) -> None:
    """Add ``handler`` to a Locust event hook (typed here: locust's ``add_listener`` is not)."""
    hook.add_listener(handler)


def add_options(parser: Any) -> None:
    # On the parser itself, not a group: Locust's web-UI keywords (is_required...) need it.
    parser.add_argument(
        "--scenario", default="", help="Scenario YAML file (required)", is_required=True
    )
    parser.add_argument(
        "--run-dir", default="", help="Run directory; records go to RUN_DIR/raw (default: .)"
    )
    parser.add_argument("--run-id", default="", help="Run id put in every request's tags")
    parser.add_argument(
        "--target-url",
        default="",
        help="Base URL of the API or the mock (default: --host, else the scenario's target)",
    )
    parser.add_argument(
        "--receiver-url",
        default="",
        # By environment too: a run's receiver URL can hold its secret path, which must not
        # show on a command line.
        env_var=RECEIVER_URL_ENV,
        help="Base URL of the receiver: closed-model waits and user-message registration",
    )
    parser.add_argument(
        "--force-test-mode",
        action="store_true",
        default=False,
        help="Send testMode: true on every request (forced anyway for a real URL)",
    )
    parser.add_argument(
        "--allow-billable",
        action="store_true",
        default=False,
        help="A real URL: let the mix decide testMode (the orchestrator enforces a spend cap)",
        include_in_web_ui=False,
    )


listen(events.init_command_line_parser, add_options)
