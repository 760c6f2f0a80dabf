"""The operating commands of the CLI: ``up``, ``preview``, ``destroy`` and ``lab status|exec``.

Registered on the main typer app by :mod:`dcinfra.cli`. Long work shows progress on stderr; every
command has ``--json``. Exit codes: 0 success; 1 error; 2 usage error, or ``preview
--expect-no-changes`` found changes.
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dcinfra.errors import DcinfraError

if TYPE_CHECKING:
    from dcinfra.sites.lab import Lab
from dcinfra.state import StateDir, default_root

EXIT_CHANGES = 2  # preview --expect-no-changes: something would change

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
ForceUnlockOpt = Annotated[
    bool,
    typer.Option("--force-unlock", help="Take over a lock left by a process that died (never a live one's)."),
]


class _Steps:
    """Site progress: one line per step on stderr."""

    def __init__(self) -> None:
        from dcinfra.cli import _err

        self.console = _err()

    def step(self, message: str) -> None:
        self.console.print(Text("• ", style="cyan") + Text(message), highlight=False)


def _state(stack_name: str, root: Path | None) -> StateDir:
    return StateDir.for_stack(stack_name, root or default_root())


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise DcinfraError(f"{question} needs confirmation: pass --yes to run without a terminal")
    if not typer.confirm(question, default=False):
        raise DcinfraError("cancelled; nothing was touched")


def register(app: typer.Typer) -> None:
    """Add the operating commands to ``app``."""
    from dcinfra import cli

    @app.command()
    def up(
        stack_file: cli.StackArg,
        config: cli.ConfigOpt = None,
        yes: YesOpt = False,
        as_json: cli.JsonOpt = False,
        state_dir: StateOpt = None,
        force_unlock: ForceUnlockOpt = False,
        skip_verify: Annotated[
            bool, typer.Option("--skip-verify", help="Do not run the smoke benchmark after configuring.")
        ] = False,
        install_pulumi: InstallPulumiOpt = False,
    ) -> None:
        """Provision the hosts (lab: create the namespaced nodes), render and configure them with Ansible.

        A second `up` changes nothing (changed=0 on every host).
        Then the smoke benchmark verifies it (skip with --skip-verify).
        Exit 0 when every host converged and verified, 3 when verification missed a threshold, 1 on error.
        """
        from dcinfra.engines.ansible import NullProgress, RichProgress, format_summary
        from dcinfra.pipeline import ConfigureFailed
        from dcinfra.pipeline import up as run_up

        with cli._reporting_errors():
            stack = cli._load(stack_file, config)
            _confirm(f"Provision and configure stack {stack.name!r}?", yes)
            state = _state(stack.name, state_dir)
            progress = NullProgress() if as_json else RichProgress()
            try:
                record = run_up(
                    stack,
                    state,
                    steps=_Steps(),
                    progress=progress,
                    force_unlock=force_unlock,
                    run_verify=not skip_verify,
                    install_pulumi=install_pulumi,
                )
            except ConfigureFailed as exc:
                if as_json:
                    cli._emit_json({"stack": stack.name, "ok": False, "configure": exc.record.to_dict()})
                else:
                    cli._out().print(format_summary(exc.record))
                raise
            code = record.verify.report.exit_code if record.verify else 0
            if as_json:
                cli._emit_json(record.to_dict())
            else:
                from dcinfra.verify import render_storage_table, render_table

                out = cli._out()
                out.print(format_summary(record.configure))
                if record.verify:
                    out.print(render_table(record.verify.report))
                    storage = render_storage_table(record.verify.report)
                    if storage is not None:
                        out.print(storage)
                changed = record.configure.changed_total
                made = f"created {len(record.hosts.created)}, repaired {len(record.hosts.repaired)} hosts; "
                out.print(
                    Text(f"✓ stack {stack.name!r} is up: {made}{changed} task(s) changed", style="green")
                )
        if code:
            raise typer.Exit(code)

    @app.command()
    def preview(
        stack_file: cli.StackArg,
        config: cli.ConfigOpt = None,
        expect_no_changes: Annotated[
            bool,
            typer.Option(
                "--expect-no-changes", help="Exit 2 when anything would change (for CI), 0 when not."
            ),
        ] = False,
        as_json: cli.JsonOpt = False,
        state_dir: StateOpt = None,
        install_pulumi: InstallPulumiOpt = False,
    ) -> None:
        """Show what `up` would change: plan differences, rendered-file diffs, and Ansible check mode
        with diffs per host. Nothing is changed on hosts."""
        from dcinfra.engines.ansible import NullProgress, RichProgress
        from dcinfra.pipeline import preview as run_preview

        with cli._reporting_errors():
            stack = cli._load(stack_file, config)
            state = _state(stack.name, state_dir)
            record = run_preview(
                stack,
                state,
                progress=NullProgress() if as_json else RichProgress(),
                install_pulumi=install_pulumi,
            )
            if as_json:
                cli._emit_json(record.to_dict())
            else:
                cli._out().print(_preview_renderable(record))
            if record.check is not None and not record.check.ok:
                raise typer.Exit(cli.EXIT_ERROR)
            if expect_no_changes and record.changes:
                raise typer.Exit(EXIT_CHANGES)

    @app.command()
    def destroy(
        stack_file: cli.StackArg,
        config: cli.ConfigOpt = None,
        yes: YesOpt = False,
        destroy_data: Annotated[
            bool,
            typer.Option(
                "--destroy-data", help="Also remove data-bearing storage (Ceph, HDFS). Irreversible."
            ),
        ] = False,
        as_json: cli.JsonOpt = False,
        state_dir: StateOpt = None,
        force_unlock: ForceUnlockOpt = False,
        install_pulumi: InstallPulumiOpt = False,
    ) -> None:
        """Tear the stack down (lab: every namespace, bridge, veth, process and upper dir).

        Data-bearing storage is removed only with --destroy-data.
        """
        from dcinfra.pipeline import destroy as run_destroy

        with cli._reporting_errors():
            stack = cli._load(stack_file, config)
            state = _state(stack.name, state_dir)

            def confirm(plan: object) -> bool:
                _confirm(f"Destroy stack {stack.name!r} ({len(stack.compute.pools)} pools)?", yes)
                return True

            record = run_destroy(
                stack,
                state,
                destroy_data=destroy_data,
                steps=_Steps(),
                force_unlock=force_unlock,
                confirm=confirm,
                install_pulumi=install_pulumi,
            )
            if as_json:
                cli._emit_json(record.to_dict())
                return
            cli._out().print(
                Text(
                    f"✓ stack {stack.name!r} destroyed: {len(record.teardown.removed)} item(s) removed",
                    style="green",
                )
            )

    @app.command()
    def verify(
        stack_file: cli.StackArg,
        config: cli.ConfigOpt = None,
        as_json: cli.JsonOpt = False,
        state_dir: StateOpt = None,
    ) -> None:
        """Run the smoke benchmark on the compute hosts: link baseline, collective sweep, GEMM, DDP
        training; with Ceph also its health, rados bench and CephFS I/O from every compute host;
        expected (from the plan) vs measured.

        Exit 0 when every check passed, 3 when a threshold was missed, 1 on error.
        """
        from dcinfra.engines.ansible import NullProgress, RichProgress
        from dcinfra.pipeline import verify as run_verify
        from dcinfra.verify import render_storage_table, render_table

        with cli._reporting_errors():
            stack = cli._load(stack_file, config)
            state = _state(stack.name, state_dir)
            with state.lock("verify"):
                record = run_verify(stack, state, progress=NullProgress() if as_json else RichProgress())
            if as_json:
                cli._emit_json(record.report.to_json())
            else:
                cli._out().print(render_table(record.report))
                storage = render_storage_table(record.report)
                if storage is not None:
                    cli._out().print(storage)
                cli._out().print(Text(f"report: {record.files['json'].parent}", style="dim"))
        raise typer.Exit(record.report.exit_code)

    lab = typer.Typer(help="Lab nodes: status and running commands on them.", no_args_is_help=True)
    app.add_typer(lab, name="lab")

    @lab.command("status")
    def lab_status(
        stack_file: cli.StackArg,
        config: cli.ConfigOpt = None,
        as_json: cli.JsonOpt = False,
        state_dir: StateOpt = None,
    ) -> None:
        """List the stack's lab nodes with their state and addresses."""
        with cli._reporting_errors():
            stack_name, lab_site = _lab(stack_file, config, state_dir)
            plan = lab_site.plan
            nodes = lab_site.status()
            if as_json:
                cli._emit_json(
                    [
                        {"name": n.name, "state": n.state, "management": n.management, "detail": n.detail}
                        for n in nodes
                    ]
                )
                return
            table = Table("node", "state", "management", "addresses", "detail", title=f"lab {stack_name!r}")
            for n in nodes:
                h = plan.host(n.name)
                addrs = ", ".join(f"{k} {v}" for k, v in h.addresses.items() if k != "management")
                style = "green" if n.state == "running" else "yellow"
                table.add_row(n.name, Text(n.state, style=style), n.management, addrs, n.detail)
            cli._out().print(table)

    @lab.command("exec")
    def lab_exec(
        stack_file: cli.StackArg,
        node: Annotated[str, typer.Argument(help="Node name, e.g. node-001.")],
        command: Annotated[
            list[str],
            typer.Argument(help="Command and arguments, after `--` (options of dcinfra go before it)."),
        ],
        config: cli.ConfigOpt = None,
        state_dir: StateOpt = None,
    ) -> None:
        """Run a command on a lab node; its output and exit code become dcinfra's."""
        with cli._reporting_errors():
            res = _lab(stack_file, config, state_dir)[1].exec(node, list(command))
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        raise typer.Exit(res.returncode)


def _lab(stack_file: Path, config: list[str] | None, state_dir: Path | None) -> tuple[str, "Lab"]:
    """The stack's name and its lab site; an error for a stack that is not a lab stack."""
    from dcinfra import cli
    from dcinfra.sites import provider_for
    from dcinfra.sites.lab import Lab

    stack = cli._load(stack_file, config)
    plan = cli._compile(stack, stack_file)
    provider = provider_for(plan, _state(stack.name, state_dir))
    if not isinstance(provider, Lab):
        raise DcinfraError(
            f"stack {stack.name!r} is not a lab stack (its site is {plan.site.description}): "
            "the lab commands work on stacks with site=LabSite()"
        )
    return stack.name, provider


def _preview_renderable(record: object) -> RenderableType:
    from dcinfra.engines.ansible import format_summary
    from dcinfra.pipeline import PreviewRecord

    assert isinstance(record, PreviewRecord)
    parts: list[RenderableType] = []
    if record.first_up:
        parts.append(
            Text(f"stack {record.stack!r} has never been applied: up would create it", style="yellow")
        )
    if record.hosts_missing:
        parts.append(
            Text(f"hosts up would create or repair: {', '.join(record.hosts_missing)}", style="yellow")
        )
    if record.plan_changes:
        parts.append(Text(f"plan changes ({len(record.plan_changes)}):", style="bold"))
        parts.extend(Text("  " + c) for c in record.plan_changes)
    for f in record.files:
        parts.append(Text(f"{f.status}: {f.path}", style="bold"))
        parts.append(Text(f.diff))
    if record.check is not None:
        parts.append(format_summary(record.check))
        for c in record.check.changes:
            where = f"{c.role} : {c.task}" if c.role else c.task
            parts.append(Text(f"{c.host} | {where} would change", style="yellow"))
            if c.diff:
                parts.append(Text(c.diff))
    if record.platform is not None:
        parts.append(Text(f"platform: {record.platform.summary()}"))
    parts.append(
        Text("✗ changes pending", style="yellow") if record.changes else Text("✓ no changes", style="green")
    )
    return Group(*parts)
