"""The generator's own Locust command-line options (resolved in ``settings``).

Registered on ``events.init_command_line_parser``, so Locust parses them, shows them in the
web UI and forwards them to every worker with each spawn message. There is no token option:
the token comes from ``DUMGUM_LOADTEST_TOKEN`` only.

The same hook moves Locust's listening defaults to loopback: the web UI (``--web-host``,
Locust's default: every interface) and, with ``--processes``/``--master``, the master
(``--master-bind-host``). Either can start load with the token, without a login; exposing
one is a deliberate ``--web-host 0.0.0.0`` / ``--master-bind-host 0.0.0.0``.

The scenario is fixed on the command line, not in the web UI: it decides the user class
(see ``users``), chosen once when Locust starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import events

from dumgum_loadtest.loadtest.command import RECEIVER_URL_ENV


def listen(hook: Any, handler: Callable[..., None]) -> None:
    """Add ``handler`` to a Locust event hook (typed here: locust's ``add_listener`` is not)."""
    hook.add_listener(handler)


LOOPBACK = "127.0.0.1"


def add_options(parser: Any) -> None:
    # On the parser itself, not a group: Locust's web-UI keywords (include_in_web_ui) need it.
    parser.add_argument(
        "--scenario",
        default="",
        help="Scenario YAML file (required; it also picks the user class)",
        include_in_web_ui=False,
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
    parser.add_argument(
        "--records-via-master",
        action="store_true",
        default=False,
        help="Workers send their records to the master over Locust's message channel (set by"
        " run --expect-workers: remote workers share no filesystem with the run directory)",
        include_in_web_ui=False,
    )
    # Locust's own defaults listen on every interface; these are overridden on the command
    # line (or in locust.conf / LOCUST_WEB_HOST) when exposing them is meant.
    # Rejected enqueues (the mix's invalid share on purpose, 429s) are results the report
    # counts, not a failed run; a crash still exits 2.
    parser.set_defaults(web_host=LOOPBACK, master_bind_host=LOOPBACK, exit_code_on_error=0)
    for action in parser._actions:  # so --help states the defaults in force, not Locust's
        if action.dest in ("web_host", "master_bind_host"):
            action.help = f"{action.help.split('. Defaults')[0]}. Defaults to {LOOPBACK} here"


listen(events.init_command_line_parser, add_options)


def locust_main() -> None:
    """``dumgum-locust``: Locust itself, with the options above registered before it parses.

    Plain ``locust --help`` prints its help before it imports any locustfile
    (locustio/locust#2917), so it cannot list the generator's options; this entry point
    registers them first, so ``dumgum-locust --help`` lists them and ``dumgum-locust -f
    locustfiles/enqueue.py ...`` runs exactly as ``locust -f ...`` does.
    """
    from locust.main import main

    main()  # type: ignore[no-untyped-call]  # locust.main is untyped
