"""The offline commands: ``validate``, ``plan``, ``render``, ``schema`` and ``catalog``. They read the
stack file and write files or output; no host is touched.

Registered on the ``dcinfra`` app by :mod:`dcinfra.cli`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from dcinfra.cli.args import ConfigOpt, JsonOpt, StackArg, compile_stack, host_count, load
from dcinfra.cli.output import emit_json, err, out, print_problems, reporting_errors, spinner, usage_error
from dcinfra.cli.summaries import gitops_summary, render_catalog, render_files_summary
from dcinfra.cli.views import render_plan_summary, stack_summary
from dcinfra.errors import EXIT_ERROR, DcinfraError, Problem, StackInvalid, errors_of, warnings_of
from dcinfra.model.stack import Stack

if TYPE_CHECKING:
    from dcinfra.plan.types import Plan
    from dcinfra.platform.gitops import GitOpsRecord

commands = typer.Typer()


@commands.command()
def validate(stack_file: StackArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check a stack offline: every problem at once, nothing touched.

    Exit 0 when the stack is valid, 1 when it is not (each problem names its field path, the value,
    what is allowed and how to fix it). Warnings (a design that builds but that a careful engineer
    would change, such as every Ceph monitor in one rack) are listed after the errors, marked
    "warning:", and alone still exit 0; --json gives each problem a "severity".
    """
    from dcinfra.plan import validate as validate_stack

    with reporting_errors(as_json=as_json):
        try:
            stack = load(stack_file, config)
        except StackInvalid as exc:  # the stack file could not even build its objects
            _report_invalid(exc.problems, as_json, where=exc.source or str(stack_file))
            if (note := getattr(exc, "note", "")) and not as_json:  # how far the stack-wide rules got
                out().print(Text(f"({note})", style="dim"), soft_wrap=True)
            raise typer.Exit(EXIT_ERROR) from None
        with spinner(f"validating {stack.name!r}", host_count(stack)):
            problems = validate_stack(stack)
        if not errors_of(problems):
            # What only this machine can show (the lab: networks that shadow its routes).
            from dcinfra.sites import site_problems
            from dcinfra.state import StateDir

            problems = site_problems(stack, StateDir.for_stack(stack.name)) + problems
            problems += _address_move_warnings(stack)
        if errors_of(problems):
            _report_invalid(problems, as_json, where=f"stack {stack.name!r} ({stack_file})")
            raise typer.Exit(EXIT_ERROR)
        if as_json:
            emit_json({"valid": True, "problems": [p.to_dict() for p in problems]})
            return
        warned = len(problems)
        also = f"; {warned} warning{'s' if warned != 1 else ''}" if warned else ""
        out().print(
            Text("✓ ", style="bold green")
            + Text(f"stack {stack.name!r} is valid: {stack_summary(stack)}{also}"),
            soft_wrap=True,
        )
        print_problems(problems, out())


def _address_move_warnings(stack: Stack) -> list[Problem]:
    """Warnings for addresses of hosts the stack's last ``up`` applied that this stack would move (only
    when this machine has that state; compiling the plan is then worth it)."""
    from dcinfra.state import StateDir

    if not StateDir.for_stack(stack.name).applied_plan.exists():
        return []
    from dcinfra.pipeline import applied_moves  # imports the engines: only here
    from dcinfra.plan import compile_plan
    from dcinfra.plan.moves import move_warnings

    moves, hints = applied_moves(stack, compiled := compile_plan(stack))
    del compiled
    return move_warnings(stack, moves, hints)


def _report_invalid(problems: Sequence[Problem], as_json: bool, where: str) -> None:
    """An invalid stack is ``validate``'s result (on stdout), not an error: the errors, then any
    warnings."""
    if as_json:
        emit_json({"valid": False, "problems": [p.to_dict() for p in problems]})
        return
    n, warned = len(errors_of(problems)), len(warnings_of(problems))
    also = f" (and {warned} warning{'s' if warned != 1 else ''})" if warned else ""
    out().print(
        Text("✗ ", style="bold red") + Text(f"{where}: {n} problem{'s' if n != 1 else ''} found{also}"),
        soft_wrap=True,
    )
    print_problems(problems, out())


def plan_to_json(plan: Plan, *, cabling: bool = False) -> Any:
    """The ``plan --json`` document: the Plan record as JSON (the same as the rendered ``plan.json``,
    plus the cabling list with ``cabling=True``), and ``warnings``: validation's warnings (each
    ``{"rule", "path", "message", "hint", "severity"}``; [] when none). Top-level keys are the fields
    of :class:`~dcinfra.plan.types.Plan`."""
    from dcinfra.plan.types import to_jsonable

    doc = to_jsonable(plan, cabling=cabling)
    doc["warnings"] = [p.to_dict() for p in plan.warnings]
    return doc


@commands.command()
def plan(
    stack_file: StackArg,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    cabling: Annotated[
        bool, typer.Option("--cabling", help="With --json: include the full cabling list (large).")
    ] = False,
) -> None:
    """Compile the stack and show the plan (--json: all of it).

    The plan is pure and deterministic: hosts, racks and power, addresses, the compute fabric (switch
    and cable counts per tier, expected all-reduce bandwidth), Ceph and HDFS placement, firewall flows.
    """
    with reporting_errors(as_json=as_json):
        stack = load(stack_file, config)
        compiled = compile_stack(stack, stack_file)
        _warn_address_moves(stack, compiled)
        if as_json:
            emit_json(plan_to_json(compiled, cabling=cabling))
            return
        out().print(render_plan_summary(compiled))


def _warn_address_moves(stack: Stack, compiled: Plan) -> None:
    """On stderr (so ``--json`` stays the plan): addresses of hosts the stack's last ``up`` applied
    that this plan would move, and how to keep them."""
    from dcinfra.cli.summaries import address_moves_text
    from dcinfra.pipeline import applied_moves  # imports the engines: only here

    moves, hints = applied_moves(stack, compiled)
    if moves:
        err().print(address_moves_text(moves, hints, refused="up refuses without --allow-address-change"))


@commands.command()
def render(
    stack_file: StackArg,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Directory to write the files into (created if missing).", show_default=False
        ),
    ] = None,
    gitops: Annotated[
        Path | None,
        typer.Option(
            "--gitops",
            help="Also write the platform objects as Argo CD / Flux manifests into this directory.",
            show_default=False,
        ),
    ] = None,
    helm_as: Annotated[
        str, typer.Option("--helm-as", help="Helm releases as 'argocd' Applications or 'flux' HelmReleases.")
    ] = "argocd",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write every file dcinfra will deploy into a directory.

    Inventory, host vars, every per-host config file, the cabling list and a topology picture
    (--out); the Kubernetes platform as GitOps manifests (--gitops). The output is byte-identical for
    the same stack and configuration. --json prints one document: {"out", "files"} for --out and
    {"gitops": {"dir", "helm_as", "files", "removed"}} for --gitops (both keys with both).
    """
    from dcinfra.render import render as render_files
    from dcinfra.render import write_tree

    if out_dir is None and gitops is None:
        raise usage_error(
            "nothing to write: give --out DIR (host files) and/or --gitops DIR (platform)", as_json=as_json
        )
    if helm_as not in ("argocd", "flux"):
        raise usage_error(f"--helm-as {helm_as!r}: expected 'argocd' or 'flux'", as_json=as_json)
    with reporting_errors(as_json=as_json):
        stack = load(stack_file, config)
        compiled = compile_stack(stack, stack_file)
        document: dict[str, Any] = {}
        if gitops is not None:
            record = _render_gitops(stack, compiled, gitops, helm_as)
            document["gitops"] = {
                "dir": str(gitops),
                "helm_as": record.helm_as,
                "files": list(record.files),
                "removed": list(record.removed),
            }
            if not as_json:
                out().print(gitops_summary(len(record.files), gitops, record.helm_as, len(record.removed)))
        if out_dir is not None:
            with spinner(f"rendering {len(compiled.hosts):,} hosts into {out_dir}", len(compiled.hosts)):
                files = render_files(compiled)
                written = write_tree(files, out_dir)
            document["out"] = str(out_dir)
            document["files"] = sorted(_rel(p, out_dir) for p in written)
            if not as_json:
                out().print(render_files_summary(files, out_dir, {h.name for h in compiled.hosts}))
        if as_json:
            emit_json(document)


def _render_gitops(stack: Stack, compiled: Plan, gitops_dir: Path, helm_as: str) -> GitOpsRecord:
    from dcinfra.platform.gitops import render_gitops
    from dcinfra.platform.objects import build_objects

    pp = compiled.platform
    if pp is None:
        raise DcinfraError(
            f"stack {stack.name!r} declares no Kubernetes platform (platform=Platform(kubernetes=...)); "
            "--gitops has nothing to write"
        )
    return render_gitops(build_objects(pp), gitops_dir, "flux" if helm_as == "flux" else "argocd")


def _rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


@commands.command()
def schema() -> None:
    """Print the JSON Schema of the stack model (for editors)."""
    with reporting_errors(as_json=True):
        emit_json(Stack.model_json_schema())


@commands.command()
def catalog(as_json: JsonOpt = False) -> None:
    """Print the hardware and version catalogs, with sources."""
    with reporting_errors(as_json=as_json):
        if as_json:
            emit_json(catalog_to_json())
            return
        out().print(render_catalog())


def catalog_to_json() -> dict[str, Any]:
    """The ``catalog --json`` document: every catalog entry with its source, and the version tables."""
    from dcinfra import catalog as cat

    return {
        "gpus": {k: dataclasses.asdict(v) for k, v in cat.GPUS.items()},
        "nics": {k: dataclasses.asdict(v) for k, v in cat.NICS.items()},
        "switches": {k: dataclasses.asdict(v) for k, v in cat.SWITCHES.items()},
        "node_profiles": {k: dataclasses.asdict(v) for k, v in cat.NODE_PROFILES.items()},
        "versions": {
            "cuda_min_driver": dict(cat.CUDA_MIN_DRIVER),
            "nccl_cuda_majors": {k: list(v) for k, v in cat.NCCL_CUDA_MAJORS.items()},
            "ceph_releases": {k: dataclasses.asdict(v) for k, v in cat.CEPH_RELEASES.items()},
            "kubernetes_supported": list(cat.KUBERNETES_SUPPORTED),
        },
    }
