"""Rich renderables of what the commands did: the rendered files, the catalog, and the summaries of
``up``, ``preview``, ``verify``, ``destroy`` and ``lab status``. Built from the records the pipeline
returns; nothing here computes beyond counting. Heavy modules (Ansible, the verify report) are imported
inside the functions, so ``dcinfra --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dcinfra.cli.views import kv_grid, new_table, plural, section_title

if TYPE_CHECKING:
    from dcinfra.pipeline import DestroyRecord, PreviewRecord, UpRecord
    from dcinfra.plan.diff import ObjectChange
    from dcinfra.plan.moves import AddressMove
    from dcinfra.plan.removals import Removal
    from dcinfra.plan.types import Plan
    from dcinfra.sites import HostStatus
    from dcinfra.verify.report import VerifyReport
    from dcinfra.verify.stage import VerifyRecord


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
    table = new_table("kind", "files>", "bytes>")
    for kind, names in sorted(kinds.items()):
        table.add_row(kind, f"{len(names):,}", f"{sum(len(files[n]) for n in names):,}")
    total = sum(len(b) for b in files.values())
    head = Text("✓ ", style="bold green")
    head.append(f"rendered {plural(len(files), 'file')} ({total:,} bytes) into {out_dir}")
    return Group(head, table)


def render_catalog() -> RenderableType:
    """The catalogs as tables; each table is followed by the source of every row."""
    from dcinfra import catalog as cat

    gpus = new_table("gpu", "model", "BF16 TFLOPS>", "FP32 TFLOPS>", "NVLink GB/s>", "mem GB>", "TDP W>")
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
    nics = new_table("nic", "model", "Gb/s>", "transports", "IB")
    for n in cat.NICS.values():
        nics.add_row(
            n.name, n.display, str(n.line_rate_gbps), ", ".join(n.transports), n.ib_generation or "-"
        )
    switches = new_table("switch", "model", "radix>", "Gb/s>", "transport", "max MTU>", "power W>")
    for s in cat.SWITCHES.values():
        switches.add_row(
            s.name,
            s.display,
            str(s.radix),
            str(s.port_gbps),
            s.transport,
            str(s.max_mtu),
            "-" if s.power_w is None else str(s.power_w),  # None: no published figure read
        )
    profiles = new_table("profile", "GPUs", "compute NIC", "rails>", "cores>", "mem GB>", "kW>")
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
        parts += [section_title(title), table, Text("sources:", style="dim")]
        parts += [Text(f"  {name}  {src}", style="dim") for name, src in sources.items()]
    parts.append(section_title("Versions"))
    parts.append(
        kv_grid(
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


def gitops_summary(files: int, out: Path, helm_as: str, removed: int) -> str:
    """What ``render --gitops`` wrote."""
    return f"wrote {files} manifests to {out} (Helm as {helm_as}); removed {removed} stale"


def _verify_tables(report: VerifyReport) -> list[RenderableType]:
    from dcinfra.verify import render_storage_table, render_table

    parts: list[RenderableType] = [render_table(report)]
    storage = render_storage_table(report)
    if storage is not None:
        parts.append(storage)
    return parts


def up_summary(record: UpRecord) -> RenderableType:
    """Ansible's per-host table, the verify tables (when it ran) and the one-line result."""
    from dcinfra.engines.ansible import format_summary

    parts = [format_summary(record.configure)]
    if record.verify:
        parts += _verify_tables(record.verify.report)
    for r in record.removed:
        parts.append(Text(f"- removed {r.host}: {'; '.join(r.holds) or 'nothing stateful'}", style="red"))
    if record.moved:
        parts.append(address_moves_text(record.moved, (), refused="moved as asked (--allow-address-change)"))
    if record.orphans:
        parts.append(
            Text(
                f"! lab nodes of this stack in no plan (left alone; `dcinfra destroy` removes them): "
                f"{', '.join(record.orphans)}",
                style="yellow",
            )
        )
    changed = record.configure.changed_total
    made = f"created {len(record.hosts.created)}, repaired {len(record.hosts.repaired)}"
    made += f", removed {len(record.removed)} hosts; " if record.removed else " hosts; "
    scope = f" (limited to {record.limit})" if record.limit else ""
    parts.append(
        Text(f"✓ stack {record.stack!r} is up{scope}: {made}{changed} task(s) changed", style="green")
    )
    return Group(*parts)


def verify_summary(record: VerifyRecord) -> RenderableType:
    """Expected vs measured per check (and the CephFS table), and where the report went."""
    parts = _verify_tables(record.report)
    parts.append(Text(f"report: {record.files['json'].parent}", style="dim"))
    return Group(*parts)


_DIFF_STYLE = {"+": "green", "~": "yellow", "-": "red"}


def _plan_diff_lines(changes: Sequence[ObjectChange]) -> list[Text]:
    """The object diff, Terraform-like: ``+`` green, ``~`` yellow, ``-`` red; the summary line bold."""
    from dcinfra.plan.diff import format_changes

    out = []
    for line in format_changes(changes):
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        style = _DIFF_STYLE.get(body[:1], "") if body[1:2] == " " else ""
        if indent == 0 and style:
            out.append(Text("  " + line, style=f"bold {style}"))
        elif indent == 0:
            out.append(Text("  " + line, style="bold"))
        else:
            out.append(Text("  " + line, style=style))
    return out


def _removals_text(removals: Sequence[Removal]) -> Text:
    """Each host the plan drops, what it holds, what blocks removing it; and that up needs the flag."""
    text = Text()
    text.append(f"hosts the plan removes ({len(removals)}):", style="bold red")
    for r in removals:
        text.append(f"\n  - host {r.host}", style="red")
        for what in r.holds or ["nothing stateful"]:
            text.append(f"\n      holds {what}")
        for why in r.blockers:
            text.append(f"\n      blocked: {why}", style="bold red")
    text.append("\n  up refuses without --allow-remove", style="yellow")
    return text


def address_moves_text(moves: Sequence[AddressMove], hints: Sequence[str], *, refused: str) -> Text:
    """A loud block: each applied host's address the plan moves (with what binds to it), how to keep
    them, and what ``up`` does about it (``refused``)."""
    hosts = len({m.host for m in moves})
    text = Text()
    text.append(f"! the plan moves {len(moves)} address(es) of {hosts} applied host(s):", style="bold red")
    for m in moves[:20]:
        text.append(f"\n  - {m.render()}", style="red")
    if len(moves) > 20:
        text.append(f"\n  - ... and {len(moves) - 20} more", style="red")
    if hints:
        text.append("\n  to keep them:", style="yellow")
        for h in hints:
            text.append(f"\n    {h}")
    text.append(f"\n  {refused}", style="yellow")
    return text


def preview_summary(record: PreviewRecord) -> RenderableType:
    """What ``up`` would change: hosts, the plan per object, removals and orphans, files, Ansible check
    mode, platform; then the verdict."""
    from dcinfra.engines.ansible import format_summary

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
        parts.append(Text("plan changes:", style="bold"))
        parts.extend(_plan_diff_lines(record.plan_changes))
    if record.removals:
        parts.append(_removals_text(record.removals))
    if record.address_moves:
        parts.append(
            address_moves_text(
                record.address_moves,
                record.address_hints,
                refused="up refuses without --allow-address-change",
            )
        )
    for w in record.warnings:
        parts.append(Text(f"! {w.render()}", style="yellow"))
    if record.orphans:
        text = Text("lab nodes of this stack that are in no plan: ", style="yellow")
        text.append(", ".join(record.orphans), style="bold yellow")
        text.append(" (`dcinfra destroy` removes them)", style="yellow")
        parts.append(text)
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


def destroy_summary(record: DestroyRecord) -> RenderableType:
    """The result of ``destroy``: how much was removed, and each thing kept (with why)."""
    removed = len(record.teardown.removed) + len(record.removed_state)
    text = Text(f"✓ stack {record.stack!r} destroyed: {removed} item(s) removed", style="green")
    if record.teardown.kept:
        text.append(f"\nkept ({len(record.teardown.kept)}):", style="yellow")
        for item in record.teardown.kept:
            text.append(f"\n  - {item}")
    return text


def lab_status_table(
    stack: str, plan: Plan, nodes: Sequence[HostStatus], orphans: Sequence[str] = ()
) -> RenderableType:
    """The lab's nodes: state, management address, the other addresses from the plan; then the nodes
    of this stack that exist but are in no plan (orphans)."""
    table = Table("node", "state", "management", "addresses", "detail", title=f"lab {stack!r}")
    for n in nodes:
        h = plan.host(n.name)
        addrs = ", ".join(f"{k} {v}" for k, v in h.addresses.items() if k != "management")
        style = "green" if n.state == "running" else "yellow"
        table.add_row(n.name, Text(n.state, style=style), n.management, addrs, n.detail)
    for name in orphans:
        table.add_row(
            name, Text("orphan", style="red"), "", "", "exists but in no plan (`dcinfra destroy` removes it)"
        )
    return table
