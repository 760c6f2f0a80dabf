"""The ``lab`` commands: ``lab status`` and ``lab exec`` on the namespaced nodes of a lab stack.

The site comes from :func:`dcinfra.sites.provider_for` (the CLI builds no site itself); these commands
refuse a stack whose provider is not the lab. Added to the ``dcinfra`` app as ``lab`` by
:mod:`dcinfra.cli`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dcinfra.cli.args import ConfigOpt, JsonOpt, StackArg, StateOpt, compile_stack, load, state_for
from dcinfra.cli.output import emit_json, out, reporting_errors
from dcinfra.cli.summaries import lab_status_table
from dcinfra.errors import DcinfraError

if TYPE_CHECKING:
    from dcinfra.sites.lab import Lab

lab = typer.Typer(help="Lab nodes: status and running commands on them.", no_args_is_help=True)


def _lab(stack_file: Path, config: list[str] | None, state_dir: Path | None) -> tuple[str, Lab]:
    """The stack's name and its lab site; an error for a stack that is not a lab stack."""
    from dcinfra.sites import provider_for
    from dcinfra.sites.lab import Lab

    stack = load(stack_file, config)
    plan = compile_stack(stack, stack_file)
    provider = provider_for(plan, state_for(stack.name, state_dir))
    if not isinstance(provider, Lab):
        raise DcinfraError(
            f"stack {stack.name!r} is not a lab stack (its site is {plan.site.description}): "
            "the lab commands work on stacks with site=LabSite()"
        )
    return stack.name, provider


@lab.command("status")
def status(
    stack_file: StackArg,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    state_dir: StateOpt = None,
) -> None:
    """List the stack's lab nodes with their state and addresses."""
    with reporting_errors(as_json=as_json):
        stack_name, site = _lab(stack_file, config, state_dir)
        nodes = site.status()
        orphans = site.orphans()
        if as_json:
            emit_json(
                [
                    {"name": n.name, "state": n.state, "management": n.management, "detail": n.detail}
                    for n in nodes
                ]
                + [
                    {"name": o, "state": "orphan", "management": None, "detail": "in no plan"}
                    for o in orphans
                ]
            )
            return
        out().print(lab_status_table(stack_name, site.plan, nodes, orphans))


@lab.command("exec")
def exec_(
    stack_file: StackArg,
    node: Annotated[str, typer.Argument(help="Node name, e.g. node-001.")],
    command: Annotated[
        list[str],
        typer.Argument(help="Command and arguments, after `--` (options of dcinfra go before it)."),
    ],
    config: ConfigOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Run a command on a lab node; its output and exit code become dcinfra's."""
    with reporting_errors():
        res = _lab(stack_file, config, state_dir)[1].exec(node, list(command))
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    raise typer.Exit(res.returncode)
