"""The ``dcinfra`` command line: a thin shell over load -> validate -> compile -> render.

Human output goes through rich consoles (results on stdout, errors and spinners on stderr);
``--json`` output is plain JSON on stdout and nothing else. No planning happens here: every number
printed comes from the :class:`~dcinfra.plan.types.Plan` or the catalog.

Exit codes (also in ``dcinfra --help``)::

    0  success (the stack is valid, the plan compiled, the files were written)
    1  the stack is invalid, or dcinfra stopped with an error (the message says why)
    2  usage error: an unknown command or option, a missing argument
    3  reserved: verification ran but missed its thresholds (``dcinfra verify``, coming)

Errors are printed without a traceback; set ``DCINFRA_DEBUG=1`` to see it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from dcinfra import __version__
from dcinfra.config import Config
from dcinfra.errors import DcinfraError, Problem, StackInvalid
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack

if TYPE_CHECKING:
    from dcinfra.plan.types import Plan

EXIT_OK = 0  # success
EXIT_ERROR = 1  # invalid stack, or any error dcinfra reports
EXIT_USAGE = 2  # click/typer usage errors
EXIT_VERIFY_MISSED = 3  # reserved for `dcinfra verify`

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 invalid stack or error (message on stderr); 2 usage error; "
    "3 reserved (verification missed its thresholds). Set DCINFRA_DEBUG=1 to see tracebacks."
)

# Above this many hosts the plan summary shows a few hosts per pool instead of all of them, and
# compile/render show a spinner on stderr (only on a terminal).
FULL_HOST_LIST_MAX = 40
FULL_RACK_LIST_MAX = 24
SPINNER_MIN_HOSTS = 256

PIPE_WIDTH = 120  # output width when stdout is not a terminal (logs, files) and COLUMNS is unset


def _out() -> Console:
    """Results for people, on stdout; wider than rich's 80 columns when piped into a log or file."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=PIPE_WIDTH if piped else None)


def _err() -> Console:
    """Errors, warnings and spinners, on stderr."""
    return Console(stderr=True, highlight=False)


app = typer.Typer(
    name="dcinfra",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # DCINFRA_DEBUG=1 shows a plain traceback, easy to paste in a report
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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


# --------------------------------------------------------------------------------------------------
# errors


def _debug() -> bool:
    return os.environ.get("DCINFRA_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def _problem_group(problem: Problem) -> str:
    """The top-level section of a problem's path: ``compute.pools[1].gpu`` -> ``compute``."""
    head = problem.path.split(".", 1)[0]
    return head.split("[", 1)[0] or "stack"


def print_problems(problems: Sequence[Problem], console: Console) -> None:
    """Every problem, grouped by the stack section it is in (in order of first appearance)."""
    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(_problem_group(p), []).append(p)
    for name, items in groups.items():
        console.print(Text(f"{name} ({len(items)})", style="bold"))
        for p in items:
            line = Text("  ✗ ", style="red")
            line.append(p.path, style="bold")
            line.append(f": {p.message}")
            if p.rule:
                line.append(f"  [{p.rule}]", style="dim")
            console.print(line, soft_wrap=True)
            if p.hint:
                console.print(Text("      fix: ", style="cyan") + Text(p.hint), soft_wrap=True)


def _print_error(exc: DcinfraError) -> None:
    if isinstance(exc, StackInvalid):
        n = len(exc.problems)
        where = f"{exc.source}: " if exc.source else ""
        _err().print(
            Text("error: ", style="bold red") + Text(f"{where}{n} problem{'s' if n != 1 else ''} found"),
            soft_wrap=True,
        )
        print_problems(exc.problems, _err())
    else:
        _err().print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)


@contextmanager
def _reporting_errors() -> Iterator[None]:
    """Turn dcinfra errors into a message on stderr and an exit code; keep tracebacks for DCINFRA_DEBUG."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except DcinfraError as exc:
        if _debug():
            raise
        _print_error(exc)
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        if _debug():
            raise
        _err().print(Text("internal error: ", style="bold red") + Text(f"{type(exc).__name__}: {exc}"))
        _err().print(
            "This is a bug in dcinfra. Rerun with DCINFRA_DEBUG=1 to see the traceback and report it."
        )
        raise typer.Exit(EXIT_ERROR) from None


def _spinner(message: str, hosts: int) -> Any:
    """A spinner on stderr for long steps (big stacks); rich shows nothing when stderr is not a terminal."""
    if hosts >= SPINNER_MIN_HOSTS:
        return _err().status(message, spinner="dots")
    return nullcontext()


def _emit_json(data: Any) -> None:
    """Pure JSON on stdout: sorted keys, two-space indent, a final newline."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------------
# loading and compiling (thin wrappers; the work happens in dcinfra.loader and dcinfra.plan)


def _load(stack_file: Path, config: list[str] | None) -> Stack:
    return load_stack(stack_file, Config.parse(list(config or [])))


def _host_count(stack: Stack) -> int:
    return sum(pool.count for pool in stack.compute.pools)


def _compile(stack: Stack, stack_file: Path) -> Plan:
    from dcinfra.plan import compile_plan

    with _spinner(f"compiling the plan of {stack.name!r}", _host_count(stack)):
        try:
            return compile_plan(stack)
        except StackInvalid as exc:
            if exc.source:
                raise
            raise StackInvalid(exc.problems, source=f"stack {stack.name!r} ({stack_file})") from None


def plan_to_json(plan: Plan, *, cabling: bool = False) -> Any:
    """The ``plan --json`` document: the Plan record as JSON (the same as the rendered ``plan.json``,
    plus the cabling list with ``cabling=True``). Top-level keys are the fields of
    :class:`~dcinfra.plan.types.Plan`."""
    from dcinfra.plan.types import to_jsonable

    return to_jsonable(plan, cabling=cabling)


# --------------------------------------------------------------------------------------------------
# the commands


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


@app.command()
def validate(stack_file: StackArg, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check a stack offline: every problem at once, nothing touched.

    Exit 0 when the stack is valid, 1 when it is not (each problem names its field path, the value,
    what is allowed and how to fix it).
    """
    from dcinfra.plan import validate as validate_stack

    with _reporting_errors():
        try:
            stack = _load(stack_file, config)
        except StackInvalid as exc:  # the stack file could not even build its objects
            _report_invalid(exc.problems, as_json, where=exc.source or str(stack_file))
            raise typer.Exit(EXIT_ERROR) from None
        with _spinner(f"validating {stack.name!r}", _host_count(stack)):
            problems = validate_stack(stack)
        if not problems:
            # What only this machine can show (the lab: networks that shadow its routes).
            from dcinfra.plan import compile_plan
            from dcinfra.sites import provider_for
            from dcinfra.state import StateDir

            problems = provider_for(compile_plan(stack), StateDir.for_stack(stack.name)).site_problems()
        if problems:
            _report_invalid(problems, as_json, where=f"stack {stack.name!r} ({stack_file})")
            raise typer.Exit(EXIT_ERROR)
        if as_json:
            _emit_json({"valid": True, "problems": []})
            return
        _out().print(
            Text("✓ ", style="bold green") + Text(f"stack {stack.name!r} is valid: {_stack_summary(stack)}"),
            soft_wrap=True,
        )


def _report_invalid(problems: Sequence[Problem], as_json: bool, where: str) -> None:
    if as_json:
        _emit_json({"valid": False, "problems": [p.to_dict() for p in problems]})
        return
    n = len(problems)
    _out().print(
        Text("✗ ", style="bold red") + Text(f"{where}: {n} problem{'s' if n != 1 else ''} found"),
        soft_wrap=True,
    )
    print_problems(problems, _out())


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _stack_summary(stack: Stack) -> str:
    """What the stack declares, counted from the model (no planning)."""
    hosts = _host_count(stack)
    racks = len(stack.racks) or 1
    networks = ["management"]
    if stack.fabric.storage is not None:
        networks.append("storage")
    if stack.fabric.compute is not None:
        networks.append(f"compute ({stack.fabric.compute.kind})")
    parts = [
        _plural(hosts, "host"),
        _plural(len(stack.compute.pools), "pool"),
        _plural(racks, "rack"),
        f"networks: {', '.join(networks)}",
    ]
    storage = [name for name in ("ceph", "hdfs") if getattr(stack.storage, name) is not None]
    parts.append(f"storage: {', '.join(storage) if storage else 'none'}")
    parts.append(f"security: default {stack.security.default}")
    if stack.platform is not None and stack.platform.kubernetes is not None:
        parts.append(f"platform: kubernetes {stack.platform.kubernetes.version}")
    return ", ".join(parts)


@app.command()
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
    with _reporting_errors():
        stack = _load(stack_file, config)
        compiled = _compile(stack, stack_file)
        if as_json:
            _emit_json(plan_to_json(compiled, cabling=cabling))
            return
        _out().print(render_plan_summary(compiled))


@app.command()
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
    the same stack and configuration.
    """
    from dcinfra.render import render as render_files
    from dcinfra.render import write_tree

    usage = ""
    if out_dir is None and gitops is None:
        usage = "nothing to write: give --out DIR (host files) and/or --gitops DIR (platform)"
    elif helm_as not in ("argocd", "flux"):
        usage = f"--helm-as {helm_as!r}: expected 'argocd' or 'flux'"
    if usage:
        _err().print(Text("usage error: ", style="bold red") + Text(usage))
        raise typer.Exit(EXIT_USAGE)
    with _reporting_errors():
        stack = _load(stack_file, config)
        compiled = _compile(stack, stack_file)
        if gitops is not None:
            _render_gitops(stack, compiled, gitops, helm_as, as_json and out_dir is None)
        if out_dir is None:
            return
        with _spinner(f"rendering {len(compiled.hosts):,} hosts into {out_dir}", len(compiled.hosts)):
            files = render_files(compiled)
            written = write_tree(files, out_dir)
        if as_json:
            _emit_json(
                {
                    "out": str(out_dir),
                    "files": sorted(_rel(p, out_dir) for p in written),
                }
            )
            return
        _out().print(render_files_summary(files, out_dir, {h.name for h in compiled.hosts}))


def _render_gitops(stack: Stack, compiled: Plan, out: Path, helm_as: str, as_json: bool) -> None:
    from dcinfra.platform.gitops import render_gitops
    from dcinfra.platform.objects import build_objects
    from dcinfra.platform.plan import plan_platform

    pp = plan_platform(stack, compiled)
    if pp is None:
        raise DcinfraError(
            f"stack {stack.name!r} declares no Kubernetes platform (platform=Platform(kubernetes=...)); "
            "--gitops has nothing to write"
        )
    record = render_gitops(build_objects(pp), out, "flux" if helm_as == "flux" else "argocd")
    if as_json:
        _emit_json({"gitops": str(out), "helm_as": record.helm_as, "files": list(record.files)})
        return
    _out().print(
        f"wrote {len(record.files)} manifests to {out} (Helm as {record.helm_as}); "
        f"removed {len(record.removed)} stale"
    )


def _rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


@app.command()
def schema() -> None:
    """Print the JSON Schema of the stack model (for editors)."""
    with _reporting_errors():
        _emit_json(Stack.model_json_schema())


@app.command()
def catalog(as_json: JsonOpt = False) -> None:
    """Print the hardware and version catalogs, with sources."""
    from dcinfra import catalog as cat

    with _reporting_errors():
        if as_json:
            _emit_json(
                {
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
            )
            return
        _out().print(render_catalog())


def main() -> None:
    """Console-script entry point (``dcinfra``)."""
    app(prog_name="dcinfra")


# --------------------------------------------------------------------------------------------------
# human-readable output (rich renderables built from plan records; no computation beyond counting)


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def _names(names: Sequence[str], show: int = 4) -> str:
    """``a, b, c, d`` or ``a, b, c … z (+N more)`` for long lists."""
    if len(names) <= show + 1:
        return ", ".join(names) or "-"
    return f"{', '.join(names[: show - 1])} … {names[-1]} ({len(names):,} in all)"


def _gbps(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} GB/s"


def _kv(rows: Sequence[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _table(*columns: str, title: str | None = None) -> Table:
    """A borderless table; a column name ending in ``>`` is a right-aligned (numeric) column."""
    table = Table(
        title=title, title_justify="left", show_edge=False, pad_edge=False, box=None, header_style="bold"
    )
    for col in columns:
        if col.endswith(">"):
            table.add_column(col[:-1], justify="right")
        else:
            table.add_column(col)
    return table


def render_plan_summary(plan: Plan) -> RenderableType:
    """The plan as readable sections; stays compact for thousands of hosts."""
    parts: list[RenderableType] = []
    gpus = sum(h.gpu_count for h in plan.hosts)
    head = Text(f"Plan for stack {plan.stack!r}", style="bold")
    head.append(
        f"  site {plan.site.provider} · {_plural(len(plan.hosts), 'host')} · {_plural(gpus, 'GPU')} · "
        f"{_plural(len(plan.racks), 'rack')} · {_plural(len(plan.networks), 'network')}"
    )
    parts.append(head)
    parts.extend(_hosts_section(plan))
    parts.extend(_racks_section(plan))
    parts.extend(_networks_section(plan))
    parts.extend(_fabric_section(plan))
    parts.extend(_ceph_section(plan))
    parts.extend(_hdfs_section(plan))
    parts.extend(_security_section(plan))
    parts.extend(_verify_section(plan))
    if plan.versions:
        parts.append(_section("Versions"))
        parts.append(Text("  ".join(f"{k} {v}" for k, v in sorted(plan.versions.items()))))
    return Group(*parts)


def _hosts_section(plan: Plan) -> list[RenderableType]:
    parts: list[RenderableType] = [_section("Hosts")]
    pools: dict[str, list[Any]] = {}
    for h in plan.hosts:
        pools.setdefault(h.pool, []).append(h)
    by_pool = _table("pool", "hosts>", "hardware", "rails>", "racks>", "kW/node>")
    for name, hosts in pools.items():
        first = hosts[0]
        hw = f"{first.gpu_count} x {first.gpu}, " if first.gpu else "CPU only, "
        hw += f"{_plural(first.cpu_cores, 'core')}, {first.memory_gb:,} GB"
        racks = {h.rack for h in hosts}
        by_pool.add_row(
            name, f"{len(hosts):,}", hw, str(len(first.rails)), f"{len(racks):,}", f"{first.power_kw:g}"
        )
    parts.append(by_pool)
    per_role: dict[str, int] = {}
    for h in plan.hosts:
        for role in h.roles:
            per_role[role] = per_role.get(role, 0) + 1
    parts.append(
        Text("hosts per role: ", style="dim")
        + Text(" · ".join(f"{role} {n:,}" for role, n in sorted(per_role.items())))
    )

    networks = sorted({n for h in plan.hosts for n in h.addresses}, key=_network_order)
    table = _table("host", "pool", "roles", "rack", *networks)
    compact = len(plan.hosts) > FULL_HOST_LIST_MAX
    for hosts in pools.values():
        shown = hosts if not compact or len(hosts) <= 7 else [*hosts[:3], None, *hosts[-2:]]
        for h in shown:
            if h is None:
                table.add_row(
                    Text(f"… {len(hosts) - 5:,} more", style="dim"), "", "", "", *["" for _ in networks]
                )
                continue
            table.add_row(
                h.name, h.pool, ", ".join(h.roles), h.rack, *[h.addresses.get(n, "-") for n in networks]
            )
    parts.append(Text(""))
    parts.append(table)
    return parts


def _network_order(name: str) -> tuple[int, str]:
    order = {"management": 0, "storage": 1, "compute": 2}
    return (order.get(name, 3), name)


def _racks_section(plan: Plan) -> list[RenderableType]:
    over = [r for r in plan.racks if r.budget_kw is not None and r.power_kw > r.budget_kw]
    over_names = {r.name for r in over}
    title = f"Racks ({len(plan.racks):,})"
    if over:
        title += f" — {len(over)} over budget"
    parts: list[RenderableType] = [_section(title)]
    table = _table("rack", "cooling", "hosts>", "power kW>", "budget kW>", "use")
    compact = len(plan.racks) > FULL_RACK_LIST_MAX
    shown_names = {r.name for r in (plan.racks[:4] + plan.racks[-2:])} | over_names
    skipped = 0
    for r in plan.racks:
        if compact and r.name not in shown_names:
            skipped += 1
            continue
        if skipped:
            table.add_row(Text(f"… {skipped:,} more", style="dim"), "", "", "", "", "")
            skipped = 0
        if r.budget_kw is None:
            budget, use = "unlimited", ""
        else:
            budget = f"{r.budget_kw:,.1f}"
            pct = 100.0 * r.power_kw / r.budget_kw
            use = f"{pct:.0f}%"
        is_over = r.name in over_names
        use_text = Text(use + (" OVER BUDGET" if is_over else ""), style="bold red" if is_over else "")
        table.add_row(
            r.name,
            r.cooling,
            f"{len(r.hosts):,}",
            f"{r.power_kw:,.1f}",
            budget,
            use_text,
            style="red" if is_over else None,
        )
    total_power = sum(r.power_kw for r in plan.racks)
    budgets = [r.budget_kw for r in plan.racks if r.budget_kw is not None]
    table.add_row(
        Text("total", style="bold"),
        "",
        f"{len(plan.hosts):,}",
        f"{total_power:,.1f}",
        f"{sum(budgets):,.1f}" if budgets else "unlimited",
        "",
    )
    parts.append(table)
    return parts


def _networks_section(plan: Plan) -> list[RenderableType]:
    table = _table("network", "cidr", "mtu>", "interface", "hosts>", "gateway")
    for n in plan.networks:
        table.add_row(n.name, n.cidr, str(n.mtu), n.interface, f"{n.hosts:,}", n.gateway or "-")
    return [_section("Networks"), table]


def _fabric_section(plan: Plan) -> list[RenderableType]:
    f = plan.fabric
    if f is None:
        return [_section("Compute fabric"), Text("none declared")]
    parts: list[RenderableType] = [_section("Compute fabric")]
    over = "non-blocking" if f.oversubscription <= 1.0 else f"{f.oversubscription:g}:1 oversubscribed"
    parts.append(
        _kv(
            [
                (
                    "kind",
                    f"{f.kind}, rail-optimized fat tree, {f.tiers} tier{'s' if f.tiers != 1 else ''}, {over}",
                ),
                ("switch", f"{f.switch}: radix {f.radix}, {f.link_gbps} Gb/s ports"),
                (
                    "endpoints",
                    f"{_plural(f.nodes, 'node')} x {_plural(f.rails, 'rail')} = "
                    f"{f.nodes * f.rails:,} ports, MTU {f.mtu}",
                ),
                ("scalable units", f"{f.scalable_units:,} x {f.nodes_per_su} nodes"),
            ]
        )
    )
    tiers = _table("tier", "switches>", "cables>", "")
    links = (
        ("leaf", "node_leaf", "node → leaf"),
        ("spine", "leaf_spine", "leaf → spine"),
        ("core", "spine_core", "spine → core"),
    )
    for switch, cable, label in links:
        tiers.add_row(switch, f"{f.switches.get(switch, 0):,}", f"{f.cables.get(cable, 0):,}", label)
    tiers.add_row(
        Text("total", style="bold"), f"{sum(f.switches.values()):,}", f"{sum(f.cables.values()):,}", ""
    )
    parts.append(Text(""))
    parts.append(tiers)
    e = f.expected
    rows = [
        ("intra-node busbw", f"{_gbps(e.intra_node_busbw_GBps)} (all-reduce, NVLink)"),
        ("inter-node busbw", f"{_gbps(e.inter_node_busbw_GBps)} (all-reduce across nodes)"),
        ("NIC line rate", f"{_gbps(e.nic_line_rate_GBps)} per rail port"),
        ("network per GPU", _gbps(e.per_gpu_network_GBps)),
        ("link (iperf3)", _gbps(e.link_GBps)),
    ]
    for name, value in sorted(e.efficiency.items()):
        source = e.sources.get(name, "")
        rows.append((f"  {name}", f"{value:g}" + (f"  ({source})" if source else "")))
    parts.append(Text("\nexpected bandwidth", style="bold"))
    parts.append(_kv(rows))
    return parts


def _ceph_section(plan: Plan) -> list[RenderableType]:
    c = plan.ceph
    if c is None:
        return []
    osd_hosts = sorted({o.host for o in c.osds})
    rows = [
        ("cluster", f"{c.name} ({c.release}), fsid {c.fsid}"),
        (
            "deployed by",
            "dcinfra's ceph role on the hosts"
            if c.deployed_by == "hosts"
            else "Rook in Kubernetes (platform.kubernetes.storage='rook'); the host plays run no Ceph",
        ),
        ("mons", f"{len(c.mons)}: {_names(list(c.mons))}"),
        ("mgrs", f"{len(c.mgrs)}: {_names(list(c.mgrs))}"),
    ]
    if c.mdss:
        rows.append(("mdss", f"{len(c.mdss)}: {_names(list(c.mdss))}"))
    rows += [
        (
            "osds",
            f"{len(c.osds):,} on {_plural(len(osd_hosts), 'host')}"
            + (f" (file-backed, {plan.site.provider})" if c.osd_backing == "files" else ""),
        ),
        ("failure domain", c.failure_domain),
        ("networks", f"public {c.public_network_name} {c.public_network}, cluster {c.cluster_network}"),
        ("clients", f"{len(c.clients):,}, CephFS mounted with {c.client_mount}"),
    ]
    if c.cephfs_name:
        rows.append(("cephfs", f"{c.cephfs_name} at {c.cephfs_mount}"))
    pools = _table("pool", "application", "size>", "min_size>", "pg_num>", "autoscale")
    for p in c.pools:
        pools.add_row(
            p.name, p.application, str(p.size), str(p.min_size), str(p.pg_num), "on" if p.autoscale else "off"
        )
    return [_section("Ceph"), _kv(rows), Text(""), pools]


def _hdfs_section(plan: Plan) -> list[RenderableType]:
    h = plan.hdfs
    if h is None:
        return []
    rows = [
        ("name service", f"{h.name}, Hadoop {h.hadoop_version}"),
        ("namenode", f"{h.namenode} ({h.namenode_address})"),
        ("datanodes", f"{len(h.datanodes):,}: {_names(list(h.datanodes))}"),
        ("replication", str(h.replication)),
        ("rack awareness", "on" if h.rack_awareness else "off"),
        ("secure", f"Kerberos realm {h.kerberos_realm}, KDC {h.kerberos_kdc}" if h.secure else "off"),
        ("dirs", f"name {', '.join(h.name_dirs)}; data {', '.join(h.data_dirs)}"),
    ]
    return [_section("HDFS"), _kv(rows)]


def _security_section(plan: Plan) -> list[RenderableType]:
    s = plan.security
    rows = [
        ("default", s.default),
        (
            "ssh",
            f"from {', '.join(s.ssh_sources) or 'anywhere'}; "
            f"keys only: {'yes' if s.ssh_keys_only else 'no'}; "
            f"root login: {s.ssh_permit_root_login}; max auth tries {s.ssh_max_auth_tries}",
        ),
        ("rulesets", _rulesets_line(plan)),
    ]
    flows = _table("flow", "from → to", "proto/ports", "network", "verdict", "decided by")
    for fl in s.flows:
        ports = ",".join(fl.ports) if fl.ports else "all"
        verdict = Text("allowed", style="green") if fl.allowed else Text("BLOCKED", style="bold red")
        flows.add_row(
            fl.name, f"{fl.src} → {fl.dst}", f"{fl.protocol}/{ports}", fl.network, verdict, fl.decided_by
        )
    return [_section("Security"), _kv(rows), Text(""), flows]


def _rulesets_line(plan: Plan) -> str:
    """How many host firewall rulesets, how many hosts use each and how many rules they hold."""
    rulesets = plan.security.rulesets
    if not rulesets:
        return "none"
    users: dict[str, int] = {}
    for h in plan.hosts:
        users[h.firewall] = users.get(h.firewall, 0) + 1
    sizes = sorted(len(rules) for rules in rulesets.values())
    rules = f"{sizes[0]}" if sizes[0] == sizes[-1] else f"{sizes[0]}-{sizes[-1]}"
    return (
        f"{_plural(len(rulesets), 'ruleset')} for {_plural(len(plan.hosts), 'host')} "
        f"(one per pool and role set; {rules} input rules each, default {plan.security.default})"
        + ("" if len(users) == len(rulesets) else f"; {len(rulesets) - len(users)} unused")
    )


def _verify_section(plan: Plan) -> list[RenderableType]:
    v = plan.verify
    if v is None:
        return []
    rows = [
        (
            "backend",
            f"{v.backend} on {_plural(len(v.hosts), 'host')}, "
            f"rendezvous {v.master_address}:{v.rendezvous_port}",
        ),
        (
            "thresholds",
            f"busbw ≥ {v.min_busbw_fraction:g} x {_gbps(v.expected_busbw_GBps)}, "
            f"link {_gbps(v.expected_link_GBps)}, GEMM peak {v.gemm_peak_tflops:,.1f} TFLOPS/device",
        ),
        (
            "sweep",
            f"up to {v.max_message_bytes:,} bytes, {v.warmup_iters} warm-up + {v.iters} timed iterations, "
            f"{v.training_steps} training steps, timeout {v.timeout_s} s",
        ),
    ]
    st = v.storage
    if st is not None:
        who = "client.admin" if st.probe_admin else "the client key"
        bench = (
            f"rados bench {st.bench_s} s write + read on {st.bench_pool!r}"
            if st.bench_pool
            else "no rados bench (no pool)"
        )
        rows.append(("storage", f"Ceph health and {bench}, on {st.probe_host} with {who}"))
        if st.cephfs_mount:
            rows.append(
                (
                    "cephfs",
                    f"{st.file_bytes // 2**20} MiB written and read back by another host under "
                    f"{st.cephfs_mount}, on {_plural(len(st.cephfs_hosts), 'host')}",
                )
            )
    return [_section("Verify (after up)"), _kv(rows)]


def _file_kind(rel: str, hostnames: set[str]) -> str:
    """``files/gpu-001/etc/nccl.conf`` -> ``files/<host>/etc/nccl.conf``: one kind per per-host file."""
    parts = []
    for part in PurePosixPath(rel).parts:
        stem, dot, ext = part.partition(".")
        if part in hostnames:
            parts.append("<host>")
        elif dot and stem in hostnames:
            parts.append(f"<host>.{ext}")
        else:
            parts.append(part)
    return "/".join(parts)


def render_files_summary(files: dict[str, bytes], out_dir: Path, hostnames: set[str]) -> RenderableType:
    """Files per kind (a per-host file counts once per host) and where they went."""
    kinds: dict[str, list[str]] = {}
    for rel in sorted(files):
        kinds.setdefault(_file_kind(rel, hostnames), []).append(rel)
    table = _table("kind", "files>", "bytes>")
    for kind, names in sorted(kinds.items()):
        table.add_row(kind, f"{len(names):,}", f"{sum(len(files[n]) for n in names):,}")
    total = sum(len(b) for b in files.values())
    head = Text("✓ ", style="bold green")
    head.append(f"rendered {_plural(len(files), 'file')} ({total:,} bytes) into {out_dir}")
    return Group(head, table)


def render_catalog() -> RenderableType:
    """The catalogs as tables; each table is followed by the source of every row."""
    from dcinfra import catalog as cat

    gpus = _table("gpu", "model", "BF16 TFLOPS>", "FP32 TFLOPS>", "NVLink GB/s>", "mem GB>", "TDP W>")
    for g in cat.GPUS.values():
        gpus.add_row(
            g.name,
            g.display,
            f"{g.bf16_dense_tflops:g}",
            f"{g.fp32_tflops:g}",
            f"{g.nvlink_GBps:g}",
            str(g.memory_gb),
            str(g.tdp_w),
        )
    nics = _table("nic", "model", "Gb/s>", "transports", "IB")
    for n in cat.NICS.values():
        nics.add_row(
            n.name, n.display, str(n.line_rate_gbps), ", ".join(n.transports), n.ib_generation or "-"
        )
    switches = _table("switch", "model", "radix>", "Gb/s>", "transport", "max MTU>", "power W>")
    for s in cat.SWITCHES.values():
        switches.add_row(
            s.name, s.display, str(s.radix), str(s.port_gbps), s.transport, str(s.max_mtu), str(s.power_w)
        )
    profiles = _table("profile", "GPUs", "compute NIC", "rails>", "cores>", "mem GB>", "kW>")
    for p in cat.NODE_PROFILES.values():
        profiles.add_row(
            p.name,
            f"{p.gpu_count} x {p.gpu}" if p.gpu else "-",
            p.compute_nic or "-",
            str(p.rails),
            str(p.cpu_cores),
            f"{p.memory_gb:,}",
            f"{p.power_kw:g}",
        )
    parts: list[RenderableType] = [
        Text("GPU BF16 figures are dense (without structured sparsity); units are in the column names.")
    ]
    sections: list[tuple[str, Table, dict[str, str]]] = [
        ("GPUs", gpus, {k: v.source for k, v in cat.GPUS.items()}),
        ("NICs", nics, {k: v.source for k, v in cat.NICS.items()}),
        ("Switches", switches, {k: v.source for k, v in cat.SWITCHES.items()}),
        ("Node profiles", profiles, {k: f"{v.display}: {v.source}" for k, v in cat.NODE_PROFILES.items()}),
    ]
    for title, table, sources in sections:
        parts += [_section(title), table, Text("sources:", style="dim")]
        parts += [Text(f"  {name}  {src}", style="dim") for name, src in sources.items()]
    parts.append(_section("Versions"))
    parts.append(
        _kv(
            [
                ("CUDA → min driver", ", ".join(f"{k}: {v}" for k, v in cat.CUDA_MIN_DRIVER.items())),
                (
                    "NCCL → CUDA majors",
                    ", ".join(f"{k}: {'/'.join(map(str, v))}" for k, v in cat.NCCL_CUDA_MAJORS.items()),
                ),
                ("Ceph releases", ", ".join(f"{r.name} {r.version}" for r in cat.CEPH_RELEASES.values())),
                ("Kubernetes", ", ".join(cat.KUBERNETES_SUPPORTED)),
            ]
        )
    )
    parts.append(
        Text(
            "sources: CUDA https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html; "
            "NCCL https://docs.nvidia.com/deeplearning/nccl/release-notes/index.html; "
            "Ceph https://docs.ceph.com/en/latest/releases/; Kubernetes https://kubernetes.io/releases/",
            style="dim",
        )
    )
    return Group(*parts)


def _register_operations() -> None:
    # The operating commands live in their own module; registered last so they can reuse the helpers above.
    from dcinfra.cli_ops import register

    register(app)


_register_operations()
