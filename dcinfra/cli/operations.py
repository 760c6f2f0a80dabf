"""The operating commands: ``up``, ``preview``, ``destroy`` and ``verify``. Each parses its options,
calls one stage of :mod:`dcinfra.pipeline` and presents the record it returns.

Registered on the ``dcinfra`` app by :mod:`dcinfra.cli`. Long work shows progress on stderr; every
command has ``--json`` (one document on stdout, on success and on failure). The pipeline, the engines
and the verify stage are imported inside the commands, so ``dcinfra --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from dcinfra.cli.args import (
    ConfigOpt,
    ForceUnlockOpt,
    InstallPulumiOpt,
    JsonOpt,
    LimitOpt,
    StackArg,
    StateOpt,
    YesOpt,
    load,
    state_for,
)
from dcinfra.cli.output import emit_json, err, out, reporting_errors
from dcinfra.cli.summaries import destroy_summary, preview_summary, up_summary, verify_summary
from dcinfra.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, DcinfraError

if TYPE_CHECKING:
    from dcinfra.plan.types import Plan

commands = typer.Typer()


class _Steps:
    """Site progress: one line per step on stderr."""

    def __init__(self) -> None:
        self.console = err()

    def step(self, message: str) -> None:
        self.console.print(Text("• ", style="cyan") + Text(message), highlight=False)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise DcinfraError(f"{question} needs confirmation: pass --yes to run without a terminal")
    if not typer.confirm(question, default=False):
        raise DcinfraError("cancelled; nothing was touched")


@commands.command()
def up(
    stack_file: StackArg,
    config: ConfigOpt = None,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    state_dir: StateOpt = None,
    force_unlock: ForceUnlockOpt = False,
    skip_verify: Annotated[
        bool, typer.Option("--skip-verify", help="Do not run the smoke benchmark after configuring.")
    ] = False,
    install_pulumi: InstallPulumiOpt = False,
    allow_remove: Annotated[
        bool,
        typer.Option(
            "--allow-remove",
            help="Remove applied hosts the plan no longer has: their data moved away, their services "
            "drained, then deprovisioned. Without it up refuses and touches nothing.",
        ),
    ] = False,
    limit: LimitOpt = None,
    allow_address_change: Annotated[
        bool,
        typer.Option(
            "--allow-address-change",
            help="Apply a plan that changes addresses of applied hosts (their daemons must be "
            "re-addressed by hand: a Ceph monitor cannot be). Without it up refuses and touches nothing.",
        ),
    ] = False,
) -> None:
    """Provision the hosts (lab: create the namespaced nodes), render and configure them with Ansible.

    A second `up` changes nothing (changed=0 on every host).
    Then the smoke benchmark verifies it (skip with --skip-verify).
    Hosts the stack no longer has are removed only with --allow-remove (`preview` shows what they hold).
    A plan that moves an applied host's address is refused unless --allow-address-change (`preview`
    shows the moves and how to keep them).
    Exit 0 when every host converged and verified, 3 when verification missed a threshold, 1 on error
    (a refused removal or address move included: nothing touched).
    """
    from dcinfra.engines.ansible import NullProgress, RichProgress, format_summary
    from dcinfra.pipeline import ConfigureFailed
    from dcinfra.pipeline import up as run_up

    with reporting_errors(as_json=as_json):
        stack = load(stack_file, config)
        removing = " (and remove the applied hosts it no longer has)" if allow_remove else ""
        _confirm(f"Provision and configure stack {stack.name!r}{removing}?", yes)
        state = state_for(stack.name, state_dir)
        try:
            record = run_up(
                stack,
                state,
                steps=_Steps(),
                progress=NullProgress() if as_json else RichProgress(),
                force_unlock=force_unlock,
                run_verify=not skip_verify,
                install_pulumi=install_pulumi,
                allow_remove=allow_remove,
                limit=limit,
                allow_address_change=allow_address_change,
            )
        except ConfigureFailed as exc:
            # The per-host result is the document (or the table); the error follows on stderr.
            if as_json:
                emit_json({"stack": stack.name, "ok": False, "configure": exc.record.to_dict()})
            else:
                out().print(format_summary(exc.record))
            raise
        code = record.verify.report.exit_code if record.verify else EXIT_OK
        if as_json:
            emit_json(record.to_dict())
        else:
            out().print(up_summary(record))
    if code:
        raise typer.Exit(code)


@commands.command()
def preview(
    stack_file: StackArg,
    config: ConfigOpt = None,
    expect_no_changes: Annotated[
        bool,
        typer.Option("--expect-no-changes", help="Exit 2 when anything would change (for CI), 0 when not."),
    ] = False,
    as_json: JsonOpt = False,
    state_dir: StateOpt = None,
    install_pulumi: InstallPulumiOpt = False,
    limit: LimitOpt = None,
) -> None:
    """Show what `up` would change: plan differences per object, hosts it would remove (and what they
    hold), rendered-file diffs, and Ansible check mode with diffs per host. Nothing is changed on hosts."""
    from dcinfra.engines.ansible import NullProgress, RichProgress
    from dcinfra.pipeline import preview as run_preview

    with reporting_errors(as_json=as_json):
        stack = load(stack_file, config)
        record = run_preview(
            stack,
            state_for(stack.name, state_dir),
            progress=NullProgress() if as_json else RichProgress(),
            install_pulumi=install_pulumi,
            limit=limit,
        )
        if as_json:
            emit_json(record.to_dict())
        else:
            out().print(preview_summary(record))
        if record.check is not None and not record.check.ok:
            check = record.check
            err().print(
                f"✗ preview: the Ansible check run failed ({check.first_failure}); "
                f"artifacts: {check.artifacts_dir}",
                style="red",
                markup=False,
            )
            raise typer.Exit(EXIT_ERROR)
        if expect_no_changes and record.changes:
            raise typer.Exit(EXIT_CHANGES)


@commands.command()
def destroy(
    stack_file: StackArg,
    config: ConfigOpt = None,
    yes: YesOpt = False,
    destroy_data: Annotated[
        bool,
        typer.Option("--destroy-data", help="Also remove data-bearing storage (Ceph, HDFS). Irreversible."),
    ] = False,
    as_json: JsonOpt = False,
    state_dir: StateOpt = None,
    force_unlock: ForceUnlockOpt = False,
    install_pulumi: InstallPulumiOpt = False,
) -> None:
    """Tear the stack down (lab: every namespace, bridge, veth, process and upper dir).

    Data-bearing storage is removed only with --destroy-data.
    """
    from dcinfra.pipeline import destroy as run_destroy

    with reporting_errors(as_json=as_json):
        stack = load(stack_file, config)

        def confirm(plan: Plan) -> bool:
            _confirm(f"Destroy stack {stack.name!r} ({len(stack.compute.pools)} pools)?", yes)
            return True

        record = run_destroy(
            stack,
            state_for(stack.name, state_dir),
            destroy_data=destroy_data,
            steps=_Steps(),
            force_unlock=force_unlock,
            confirm=confirm,
            install_pulumi=install_pulumi,
        )
        if as_json:
            emit_json(record.to_dict())
        else:
            out().print(destroy_summary(record))


@commands.command()
def verify(
    stack_file: StackArg,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    state_dir: StateOpt = None,
    force_unlock: ForceUnlockOpt = False,
) -> None:
    """Run the smoke benchmark on the compute hosts: link baseline, collective sweep, GEMM, DDP
    training; with Ceph also its health, rados bench and CephFS I/O from every compute host;
    expected (from the plan) vs measured.

    Exit 0 when every check passed, 3 when a threshold was missed, 1 on error.
    """
    from dcinfra.engines.ansible import NullProgress, RichProgress
    from dcinfra.pipeline import verify as run_verify

    code = EXIT_OK
    with reporting_errors(as_json=as_json):
        stack = load(stack_file, config)
        state = state_for(stack.name, state_dir)
        with state.lock("verify", force=force_unlock):
            record = run_verify(stack, state, progress=NullProgress() if as_json else RichProgress())
        code = record.report.exit_code
        if as_json:
            emit_json(record.report.to_json())
        else:
            out().print(verify_summary(record))
    raise typer.Exit(code)
