"""``dumgum-loadtest cost``: the monthly projection of a scenario, what-ifs, and calibration.

``cost SCENARIO --volume N/day`` is short for ``cost project SCENARIO --volume N/day``; the
other sub-command is ``cost calibrate RUN_DIR``. Both are thin over the library: parse, call
one function, print; a HarnessError becomes one line on stderr and its exit code.
"""

from __future__ import annotations

from pathlib import Path

import click

from dumgum_loadtest.cli_errors import clean_errors
from dumgum_loadtest.cost.syntax import SET_SYNTAX

_FILE = click.Path(path_type=Path, dir_okay=False)


class _ProjectByDefault(click.Group):
    """``cost SCENARIO ...`` runs ``cost project SCENARIO ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["project", *args]
        return super().parse_args(ctx, args)


@click.group(
    cls=_ProjectByDefault,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
def cost() -> None:
    """What DumGum traffic costs: a scenario's monthly projection, or a price sheet from a run.

    \b
    dumgum-loadtest cost SCENARIO --volume 50000/day [--set PATH=VALUE] [--compare OTHER]
    dumgum-loadtest cost calibrate RUN_DIR [--out FILE]
    """


@cost.command("project")
@click.argument("scenario", type=_FILE)
@click.option(
    "--volume",
    required=True,
    help="Enqueue requests per day or per month, e.g. 50000/day or 1500000/month.",
)
@click.option(
    "--pricing",
    type=_FILE,
    default=None,
    help="Price sheet [default: the scenario's pricing, else scenarios/pricing/default.yaml].",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="PATH=VALUE",
    help=f"What-if: change one entry of the scenario (repeatable); {SET_SYNTAX}.",
)
@click.option(
    "--compare",
    "compare_path",
    type=_FILE,
    default=None,
    help="What-if: another scenario side by side (with --set: the settings apply to it).",
)
@click.option(
    "--dropped-share",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of replies dropped (conversation.dropped): not billed.",
)
@click.option("--chart", type=_FILE, default=None, help="Write a PNG bar chart by feature here.")
@click.option("--json", "json_path", type=_FILE, default=None, help="Write the figures as JSON.")
@click.option("--no-rules", is_flag=True, help="Leave out the billing rules and assumptions.")
@clean_errors
def project(
    scenario: Path,
    volume: str,
    pricing: Path | None,
    settings: tuple[str, ...],
    compare_path: Path | None,
    dropped_share: float,
    chart: Path | None,
    json_path: Path | None,
    no_rules: bool,
) -> None:
    """Project SCENARIO's monthly cost at a volume, by feature, with a 95 % range."""
    import orjson

    from dumgum_loadtest.cost.render import study_text, write_chart
    from dumgum_loadtest.cost.whatif import study_cost
    from dumgum_loadtest.outputs import check_output_file, write_output_bytes

    # Before any work: a chart or figures that cannot be written are a usage error.
    if chart is not None:
        check_output_file(chart, "--chart")
    if json_path is not None:
        check_output_file(json_path, "--json")
    study = study_cost(
        scenario,
        volume,
        pricing=pricing,
        settings=settings,
        compare_path=compare_path,
        dropped_share=dropped_share,
    )
    click.echo(study_text(study, rules=not no_rules))
    if chart is not None:
        click.echo(f"chart: {write_chart(study, chart)}")
    if json_path is not None:
        figures = orjson.dumps(study.to_json(), option=orjson.OPT_INDENT_2)
        write_output_bytes(json_path, figures, "--json")
        click.echo(f"figures: {json_path}")


@cost.command("calibrate")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=_FILE, default=None, help="Write the sheet here [default: stdout].")
@click.option(
    "--base",
    type=_FILE,
    default=None,
    help="Sheet for the prices a run cannot observe [default: scenarios/pricing/default.yaml].",
)
@clean_errors
def calibrate_command(run_dir: Path, out: Path | None, base: Path | None) -> None:
    """Write a price sheet from the answer.cost values RUN_DIR received (per chat model)."""
    from dumgum_loadtest.cost.calibrate import calibrate
    from dumgum_loadtest.cost.sheet import load_price_sheet
    from dumgum_loadtest.outputs import check_output_file, write_output_text

    if out is not None:
        check_output_file(out, "--out")  # before the run is read
    text = calibrate(run_dir, load_price_sheet(base) if base is not None else None)
    if out is None:
        click.echo(text, nl=False)
        return
    write_output_text(out, text, "--out")
    click.echo(f"price sheet: {out}")
