"""The ``dcinfra`` command line: a thin shell over load -> validate -> compile -> render, and the
operating stages of :mod:`dcinfra.pipeline`. It parses, calls the pipeline, planner or renderer, and
presents what they return; no planning and no site construction happen here.

Modules, each importing only the ones above it (never each other's commands, never this package)::

    output      consoles, error printing, the --json contract, spinners
    args        the shared arguments and options; load a stack, compile it, find its state dir
    views       the plan and stack summaries, and the table helpers
    summaries   rendered files, catalog, up / preview / verify / destroy / lab status
    offline     validate, plan, render, schema, catalog
    explain     explain: a model class's or field's documentation
    operations  up, preview, destroy, verify
    lab         lab status, lab exec

Human output goes through rich consoles (results on stdout, errors and spinners on stderr); ``--json``
output is one JSON document on stdout and nothing else, on success and on failure. Exit codes are
:data:`dcinfra.errors.EXIT_CODES_HELP` (also in ``dcinfra --help``); errors are printed without a
traceback, and ``DCINFRA_DEBUG=1`` shows it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dcinfra import __version__
from dcinfra.cli import explain, lab, offline, operations
from dcinfra.errors import EXIT_CODES_HELP

app = typer.Typer(
    name="dcinfra",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # DCINFRA_DEBUG=1 shows a plain traceback, easy to paste in a report
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# The commands of each module join the top level in this order (the order of `dcinfra --help`).
# Merging their CommandInfo records (rather than `add_typer` without a name) works on every typer
# this project supports (>=0.12).
app.registered_commands += offline.commands.registered_commands
app.registered_commands += explain.commands.registered_commands
app.registered_commands += operations.commands.registered_commands
app.add_typer(lab.lab, name="lab")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dcinfra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Infrastructure as code for AI datacenters.

    Describe a datacenter in one Python file (a Stack); dcinfra validates it offline, compiles it into a
    Plan (hosts, addresses, cabling, switch counts, expected bandwidth, storage placement, firewall
    rules, rack power) and renders every file that will be deployed.
    """


def main() -> None:
    """Console-script entry point (``dcinfra``, ``python -m dcinfra``)."""
    app(prog_name="dcinfra")


__all__ = ["app", "main"]
