"""``dumgum-loadtest``: one sub-command per job, each a thin layer over the library."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from dumgum_loadtest import __version__
from dumgum_loadtest.cli_errors import clean_errors
from dumgum_loadtest.compare.command import compare
from dumgum_loadtest.errors import config_error_from_validation
from dumgum_loadtest.history.commands import history
from dumgum_loadtest.trends.command import trends

S = TypeVar("S", bound=BaseSettings)
F = TypeVar("F", bound=Callable[..., Any])


def _limit_options(default_body: str) -> Callable[[F], F]:
    """The size and time bounds the mock and the receiver share (also ``*_<FIELD>`` env)."""

    def decorate(command: F) -> F:
        for option in reversed(
            [
                click.option(
                    "--max-body-bytes",
                    type=int,
                    default=None,
                    help=f"Largest request body; larger is answered 413 [default: {default_body}].",
                ),
                click.option(
                    "--header-timeout-s",
                    type=float,
                    default=None,
                    help="Seconds a client has to send a request's head [default: 10].",
                ),
                click.option(
                    "--body-timeout-s",
                    type=float,
                    default=None,
                    help="Seconds a client has to send the body after the head [default: 30].",
                ),
                click.option(
                    "--keep-alive-s",
                    type=int,
                    default=None,
                    help="Seconds an idle connection is kept between requests [default: 5].",
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


def _settings(kind: type[S], given: dict[str, Any], source: str) -> S:
    """Settings from the command line and environment, with errors that name the field."""
    try:
        return kind(**given)
    except ValidationError as exc:
        raise config_error_from_validation(source, exc.errors(), data=given, model=kind) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dumgum-loadtest")
def main() -> None:
    """Load testing and cost estimation for DumGum's asynchronous content-creation API."""


@main.command()
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [default: 8080].")
@click.option(
    "--token",
    "tokens",
    multiple=True,
    help="Accepted bearer access key (repeatable; env DUMGUM_MOCK_TOKENS, comma-separated)."
    " Without any: sk-proj-mock-local.",
)
@click.option(
    "--control-token",
    default=None,
    help="Bearer token of /_mock/ledger and /_mock/config (env DUMGUM_MOCK_CONTROL_TOKEN)"
    " [default: the --token when there is one; with several the control API is closed].",
)
@_limit_options("1048576 (1 MiB)")
@click.option("--incoming-content-url", default=None, help="Where webhook events are POSTed.")
@click.option("--profile-url", default=None, help="The customer's profile endpoint (GET).")
@click.option("--chat-history-url", default=None, help="The customer's chat-history endpoint.")
@click.option("--memory-webhook-url", default=None, help="Optional memory webhook (POST).")
@click.option(
    "--time-scale",
    type=float,
    default=None,
    help="Multiplies every simulated delay (buffer, generation, typing, bans) [default: 1.0].",
)
@click.option("--seed", type=int, default=None, help="Seed of every random draw.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML file: latency, capacity, faults, prices (example: scenarios/mock/example.yaml).",
)
@click.option("--log-level", default="warning", show_default=True)
@click.option("--print-config", is_flag=True, help="Print the resolved model as YAML and exit.")
@clean_errors
def mock(
    config_path: Path | None,
    tokens: tuple[str, ...],
    log_level: str,
    print_config: bool,
    **options: Any,
) -> None:
    """Serve the mock DumGum API (enqueue, webhooks, control API under /_mock)."""
    from dumgum_loadtest.mock import MockSettings, create_mock_app, project_id_for
    from dumgum_loadtest.serving import check_port_free, serve_forever

    given = {key: value for key, value in options.items() if value is not None}
    if tokens:
        given["tokens"] = list(tokens)
    if config_path is not None:
        given["config"] = config_path
    settings = _settings(MockSettings, given, "mock options (DUMGUM_MOCK_* or command line)")
    config = settings.mock_config()
    if print_config:
        import yaml

        click.echo(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), nl=False)
        return
    check_port_free(settings.host, settings.port)  # before "mock DumGum on ..." is printed
    projects = ", ".join(project_id_for(t) for t in settings.accepted_tokens)
    click.echo(
        f"mock DumGum on http://{settings.host}:{settings.port}"
        f" (projects {projects}; time scale {config.time_scale})",
        err=True,
    )
    if settings.control_token is None and len(set(settings.accepted_tokens)) > 1:
        click.echo(
            "control API (/_mock/ledger, /_mock/config) closed: it spans every project;"
            " give --control-token (or DUMGUM_MOCK_CONTROL_TOKEN) to open it",
            err=True,
        )
    missing = [name for name, url in config.endpoints.model_dump().items() if url is None]
    if missing:
        click.echo(f"not configured, so not called: {', '.join(missing)}", err=True)
    app = create_mock_app(
        config,
        settings.accepted_tokens,
        control_token=settings.control_token,
        max_body_bytes=settings.max_body_bytes,
    )
    serve_forever(app, settings.host, settings.port, log_level, settings.server_limits())


@main.command()
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [default: 8090].")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for events-<host>-<pid>.jsonl and calls-<host>-<pid>.jsonl (one pair per"
    " process, so pods can share it) [default: reports/receiver].",
)
@click.option(
    "--secret-path",
    default=None,
    help="Serve every endpoint under /<SECRET>/ only, e.g. /<SECRET>/incoming; other paths"
    " are 404 (env DUMGUM_RECEIVER_SECRET_PATH, which keeps it off the process list).",
)
@click.option(
    "--require-header",
    default=None,
    metavar="NAME:VALUE",
    help="Refuse (401) every request without this header (env DUMGUM_RECEIVER_REQUIRE_HEADER)."
    " DumGum sends static headers on the Memory Webhook only: for the other endpoints put a"
    " proxy that adds it in front, or use --secret-path.",
)
@click.option(
    "--state",
    default=None,
    metavar="URL",
    help="Where chat history, profile versions and turn ends live: 'memory' (this process)"
    " or redis://HOST:PORT/DB (Redis or Valkey), shared by several receiver processes"
    " [default: memory; env DUMGUM_RECEIVER_STATE].",
)
@click.option(
    "--processes",
    type=int,
    default=1,
    show_default=True,
    help="Serving processes sharing the port, each with its own shards; more than 1 needs"
    " --state redis://...",
)
@_limit_options("4194304 (4 MiB)")
@click.option("--log-level", default="warning", show_default=True)
@clean_errors
def receiver(out_dir: Path | None, log_level: str, processes: int, **options: Any) -> None:
    """Serve the customer endpoints: incoming content, profile, chat history, memory."""
    from dumgum_loadtest.receiver import ReceiverSettings
    from dumgum_loadtest.receiver.gate import is_loopback_host
    from dumgum_loadtest.receiver.server import serve_receiver
    from dumgum_loadtest.receiver.state import (
        MEMORY_STATE,
        check_processes,
        check_state_url,
        shown_url,
    )
    from dumgum_loadtest.serving import check_port_free

    given = {key: value for key, value in options.items() if value is not None}
    if out_dir is not None:
        given["out_dir"] = out_dir
    settings = _settings(
        ReceiverSettings, given, "receiver options (DUMGUM_RECEIVER_* or command line)"
    )
    check_state_url(settings.state)
    check_processes(processes, settings.state)
    secret = settings.secret()  # validated before anything is printed
    # The secret itself is never printed here: this goes to the run's logs/receiver.log.
    prefix = "/<secret-path>" if secret.path_segment else ""
    guard = f"; requests need header {secret.header_name}" if secret.header_name else ""
    if not secret.configured and not is_loopback_host(settings.host):
        guard = (
            "; WARNING: no --secret-path or --require-header: anyone who reaches this"
            " address can post events"
        )
    check_port_free(settings.host, settings.port)  # before the endpoints are announced
    shared = ""
    if settings.state != MEMORY_STATE:
        from dumgum_loadtest.receiver.redis_state import check_reachable

        check_reachable(settings.state)
        shared = f"; state in {shown_url(settings.state)}, {processes} process(es)"
    click.echo(
        f"customer endpoints on http://{settings.host}:{settings.port}{prefix}: /incoming"
        f" /profile /chat-history /memory; recording to {settings.out_dir}{guard}{shared}",
        err=True,
    )
    serve_receiver(settings, log_level, processes)


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Run directory [default: reports/<scenario>-<time>].",
)
@click.option("--target", default=None, help="'mock' (default) or the real API's base URL.")
@click.option("--duration", "duration_s", type=float, default=None, help="Seconds of load.")
@click.option("--rate", "rate_rps", type=float, default=None, help="Offered requests/s (peak).")
@click.option("--workers", type=int, default=None, help="Locust worker processes.")
@click.option(
    "--mock-processes",
    type=int,
    default=None,
    help="Mock processes serving the scenario (overrides mock.processes; each (user, persona)"
    " pair goes to one, by a stable hash of the pair) [default: 1].",
)
@click.option(
    "--allow-billable",
    is_flag=True,
    help="Real URL only: send the scenario's testMode as drawn (needs --spend-cap-eur).",
)
@click.option(
    "--spend-cap-eur", type=str, default=None, help="Stop the run when this spend is reached."
)
@click.option(
    "--max-rate",
    "max_rate_rps",
    type=float,
    default=None,
    help="Real URL only: refuse a scenario offering more than this (default 5/s).",
)
@click.option("--receiver-host", default="127.0.0.1", show_default=True)
@click.option("--receiver-port", type=int, default=None, help="[default: a free port]")
@click.option(
    "--receiver-state",
    default="memory",
    show_default=True,
    metavar="URL",
    help="The receiver's state: 'memory' or redis://HOST:PORT/DB (Redis or Valkey, shared by"
    " its processes).",
)
@click.option(
    "--receiver-processes",
    type=int,
    default=1,
    show_default=True,
    help="Receiver processes sharing its port; more than 1 needs --receiver-state redis://...",
)
@click.option(
    "--receiver-url",
    default=None,
    metavar="URL",
    help="Use this running receiver (e.g. a Kubernetes Service) instead of starting one. It"
    " must keep its state in Redis (receiver --state redis://...), write its shards into"
    " RUN_DIR/raw (receiver --out RUN_DIR/raw, on a shared volume) and have the secret path"
    " in $DUMGUM_RECEIVER_SECRET_PATH here unless on loopback; checked before the run.",
)
@click.option(
    "--public-receiver-url",
    default=None,
    help="Real URL only: where DumGum reaches the receiver (printed for the dashboard).",
)
@click.option(
    "--settle-quiet-s",
    type=float,
    default=None,
    help="After the load, keep recording until nothing arrived for this many seconds (and"
    " the target has nothing in progress), within the settle bound [default: 10 s x the"
    " time scale; 10 s against a real URL].",
)
@click.option(
    "--mock-set",
    "mock_settings",
    multiple=True,
    metavar="PATH=VALUE",
    help="Embedded mock only: change its model, not the scenario (repeatable; recorded in"
    " environment.json and mock-config.yaml, so the run stays comparable with the scenario's"
    " other runs), e.g. models.dating-smart-1.generation_s='{kind: constant, value_s: 1.3}'.",
)
@click.option(
    "--history",
    "history_url",
    default=None,
    metavar="URL",
    help="Record the finished run in this history database (a file path, sqlite:///PATH,"
    " postgresql://...) [default: $DUMGUM_LOADTEST_HISTORY; unset: not recorded].",
)
@click.option(
    "--expect-workers",
    type=int,
    default=None,
    help="Send the load from N remote workers (`dumgum-loadtest worker`) instead of local"
    " processes: the master waits for them to join.",
)
@click.option(
    "--master-bind-host",
    default="127.0.0.1",
    show_default=True,
    help="With --expect-workers: the interface the master (and the mock) listen on;"
    " 0.0.0.0 for workers on other machines.",
)
@click.option("--master-port", type=int, default=5557, show_default=True)
@click.option(
    "--workers-wait-s",
    type=float,
    default=120.0,
    show_default=True,
    help="With --expect-workers: give up when not all joined within this many seconds.",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the verdicts as JUnit XML here: a case per SLO, 'run completed' (fails"
    " when cut short) and 'calibration' when calibrated.",
)
@click.option(
    "--calibrate/--no-calibrate",
    default=None,
    help="Before the load, a ~12 s run against the embedded mock with a known generation time"
    " and drop rate, into RUN_DIR/calibration/; the run is invalid (exit 1) unless the harness"
    " recovers both [default: when the scenario has a calibrate block].",
)
@clean_errors
def run(
    scenario: Path,
    spend_cap_eur: str | None,
    mock_settings: tuple[str, ...],
    **options: Any,
) -> None:
    """Run a scenario: start what it needs, send the load, settle, write the run directory.

    SIGINT (Ctrl-C) or SIGTERM stops the load; the run still settles briefly and writes its
    summary and reports. A second signal cuts settling short; a third ends it at once.

    Exit codes: 0: every SLO holds (and calibration passed, when calibrated). 1: an SLO
    failed, or calibration failed (the run is invalid). 2: a usage or setup error (nothing
    was measured). 3: interrupted (a signal, the spend cap, a dead receiver, mock or Locust),
    the figures are incomplete, whatever the SLOs say.
    """
    from decimal import Decimal, InvalidOperation

    from dumgum_loadtest.errors import ConfigError
    from dumgum_loadtest.run import RunOptions, run_scenario

    cap = None
    if spend_cap_eur is not None:
        try:
            cap = Decimal(spend_cap_eur)
        except InvalidOperation:
            raise ConfigError(f"--spend-cap-eur: not a number: {spend_cap_eur!r}") from None
    result = run_scenario(
        RunOptions(
            scenario_path=scenario, spend_cap_eur=cap, mock_settings=mock_settings, **options
        ),
        echo=click.echo,
    )
    raise SystemExit(result.exit_code)


def _other_yaml_kind(path: Path) -> tuple[str, str] | None:
    """What a YAML file that is no scenario is instead, when it loads as one: a mock model
    (``mock --config``) or a price sheet (``--pricing``); None when it is neither."""
    import yaml

    from dumgum_loadtest.cost.sheet import load_price_sheet
    from dumgum_loadtest.errors import ConfigError
    from dumgum_loadtest.mock.config import load_mock_config

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or not data:  # an empty file is nothing at all
        return None
    kinds = (
        (load_mock_config, "mock", f"a mock model, for dumgum-loadtest mock --config {path}"),
        (load_price_sheet, "prices", "a price sheet, for cost --pricing or a scenario's pricing"),
    )
    for load, label, kind in kinds:
        try:
            load(path)
        except ConfigError:
            continue
        return label, kind
    return None


@main.command("scenarios")
@click.argument(
    "directory", type=click.Path(path_type=Path, file_okay=False), default=Path("scenarios")
)
@clean_errors
def scenarios_command(directory: Path) -> None:
    """List and validate the scenario files of DIRECTORY (exit 1 when one is invalid).

    Mock models and price sheets found there are listed as such, not as invalid scenarios."""
    from dumgum_loadtest.errors import ConfigError
    from dumgum_loadtest.scenarios.fit import list_scenarios
    from dumgum_loadtest.scenarios.model import weight_notes

    found = list_scenarios(directory)
    if not found:
        raise ConfigError(f"{directory}: no *.yaml scenario files here")
    invalid = 0
    for path, loaded in found:
        if isinstance(loaded, ConfigError):
            other = _other_yaml_kind(path)
            if other is not None:
                click.echo(f"{other[0]:<8} {path}  (not a scenario: {other[1]})")
                continue
            invalid += 1
            click.echo(f"INVALID  {path}\n{loaded}")
            continue
        first_line = loaded.description.splitlines()[0] if loaded.description else ""
        click.echo(
            f"ok       {path}  ({loaded.arrival.model} model, {loaded.run_duration_s:g} s)"
            f"  {first_line}"
        )
        for note in weight_notes(loaded):
            click.echo(f"  note: {note}")
    raise SystemExit(1 if invalid else 0)


@main.group("scenario")
def scenario_group() -> None:
    """Work on scenario files."""


@scenario_group.command("fit")
@click.argument("sample", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--name", default="fitted", show_default=True, help="The scenario's name.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the scenario here [default: print it].",
)
@clean_errors
def scenario_fit(sample: Path, name: str, out_path: Path | None) -> None:
    """Derive a scenario's mix from SAMPLE.jsonl (one production enqueue body per line)."""
    from dumgum_loadtest.outputs import check_output_file, write_output_text
    from dumgum_loadtest.scenarios.fit import fit_scenario

    if out_path is not None:
        check_output_file(out_path, "--out")  # before the sample is read
    text = fit_scenario(sample, name)
    if out_path is None:
        click.echo(text, nl=False)
    else:
        write_output_text(out_path, text, "--out")
        click.echo(f"wrote {out_path}", err=True)
    for line in text.splitlines():  # what the sample had and the scenario will not send
        if line.startswith("#   "):
            click.echo(f"not fitted: {line.removeprefix('#   ')}", err=True)


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the receiver records [default: reports/demo-<time>].",
)
@click.option("--time-scale", type=float, default=0.2, show_default=True)
@click.option("--timeout", "timeout_s", type=float, default=60.0, show_default=True)
@clean_errors
def demo(out_dir: Path | None, time_scale: float, timeout_s: float) -> None:
    """Start the mock and the customer endpoints, send the reference's example, print the events."""
    from dumgum_loadtest.demo import run_demo

    out_dir = out_dir or Path("reports") / time.strftime("demo-%Y%m%d-%H%M%S")
    run_demo(out_dir, time_scale=time_scale, timeout_s=timeout_s, echo=click.echo)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@clean_errors
def report(run_dir: Path) -> None:
    """Rebuild summary.json, report.html and report.md of RUN_DIR from its raw records.

    A run whose run-meta.json still says "running" while its process is gone (killed) is
    marked interrupted. Exit codes as for ``run``: 0, 1 (an SLO or the calibration failed),
    or 3 for an interrupted run.
    """
    from dumgum_loadtest.errors import (
        EXIT_CALIBRATION_FAILED,
        EXIT_INTERRUPTED,
        EXIT_SLO_FAILED,
        EXIT_SLOS_HOLD,
        ConfigError,
    )
    from dumgum_loadtest.report import rebuild

    if not (run_dir / "scenario.yaml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no scenario.yaml)")
    analysis = rebuild(run_dir)
    summary = analysis.summary
    verdict = "PASS" if summary["passed"] else "FAIL"
    cut = " (the run was cut short)" if summary["interrupted"] else ""
    click.echo(f"{verdict}{cut}: " + ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items()))
    for note in summary.get("notes") or []:  # as `run` prints them (a table read from raw/)
        click.echo(f"note: {note}")
    click.echo(f"report: {run_dir / 'report.html'}")
    calibration = summary.get("calibration")
    if calibration is not None:
        click.echo(calibration["sentence"])
    if summary["interrupted"]:
        raise SystemExit(EXIT_INTERRUPTED)
    if calibration is not None and not calibration["passed"]:
        raise SystemExit(EXIT_CALIBRATION_FAILED)
    raise SystemExit(EXIT_SLOS_HOLD if summary["passed"] else EXIT_SLO_FAILED)


@main.command()
@click.option("--master-host", default="127.0.0.1", show_default=True, help="The run's master.")
@click.option("--master-port", type=int, default=5557, show_default=True)
@clean_errors
def worker(master_host: str, master_port: int) -> None:
    """Join a run's master (`run --expect-workers N`) as one Locust worker, from any machine.

    The scenario, run id and settings come from the master; the records go back to it over
    Locust's (unencrypted) channel, so nothing is written here. The API token comes from
    this machine's DUMGUM_LOADTEST_TOKEN only. The worker exits when the run ends.
    """
    import os

    from dumgum_loadtest.loadtest.remote import worker_command

    argv = worker_command(master_host, master_port)
    os.execv(argv[0], argv)


def _register_cost() -> None:
    from dumgum_loadtest.cost.commands import cost

    main.add_command(cost)


_register_cost()
main.add_command(history)
main.add_command(trends)
main.add_command(compare)


if __name__ == "__main__":
    main()
