"""The arguments and options the commands share, and the steps every stack command starts with:
load the stack file, compile its plan, find its state dir. The work happens in :mod:`dcinfra.loader`,
:mod:`dcinfra.plan` and :mod:`dcinfra.state`; nothing here plans.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dcinfra.cli.output import spinner
from dcinfra.config import Config
from dcinfra.errors import StackInvalid
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.state import StateDir, default_root

if TYPE_CHECKING:
    from dcinfra.plan.types import Plan

StackArg = Annotated[
    Path,
    typer.Argument(
        metavar="STACK",
        help="Stack file: a Python module assigning `stack = Stack(...)`, e.g. stacks/lab.py.",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--config",
        "-c",
        metavar="KEY=VALUE",
        help="A value the stack file reads with dcinfra.config (repeatable), e.g. -c su_count=16. "
        "A key the stack does not read is an error.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a summary.")]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Root of the state dirs (default $DCINFRA_STATE_DIR or ./.dcinfra); "
        "the stack's is <root>/<stack>.",
        show_default=False,
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
InstallPulumiOpt = Annotated[
    bool,
    typer.Option(
        "--install-pulumi",
        help="Install the Pulumi CLI (PulumiCommand.install) if a platform stack needs it and it is missing.",
    ),
]
LimitOpt = Annotated[
    str | None,
    typer.Option(
        "--limit",
        metavar="HOSTS",
        help="Configure only these hosts (names, groups or an Ansible pattern, comma-separated), like "
        "ansible-playbook --limit; the plan is still computed whole.",
    ),
]
ForceUnlockOpt = Annotated[
    bool,
    typer.Option("--force-unlock", help="Take over a lock left by a process that died (never a live one's)."),
]


def load(stack_file: Path, config: list[str] | None) -> Stack:
    """The stack the file builds with these ``--config`` values. When a model object rejects its
    arguments, the stack-wide rules run too, so every problem is reported at once."""
    from dcinfra.plan import validate

    return load_stack(stack_file, Config.parse(list(config or [])), rules=validate)


def host_count(stack: Stack) -> int:
    """Hosts the stack declares (for spinners: no planning)."""
    return sum(pool.count for pool in stack.compute.pools)


def compile_stack(stack: Stack, stack_file: Path) -> Plan:
    """The stack's plan; an invalid stack's problems name the stack and its file."""
    from dcinfra.plan import compile_plan

    with spinner(f"compiling the plan of {stack.name!r}", host_count(stack)):
        try:
            return compile_plan(stack)
        except StackInvalid as exc:
            if exc.source:
                raise
            raise StackInvalid(exc.problems, source=f"stack {stack.name!r} ({stack_file})") from None


def state_for(stack_name: str, root: Path | None) -> StateDir:
    """The stack's state dir under ``--state-dir`` (or the default root)."""
    return StateDir.for_stack(stack_name, root or default_root())
