"""Rich renderables of the plan and the stack: the ``plan`` summary, the ``validate`` one-liner, and
the small table helpers the other views share. Built from the plan records; no computation beyond
counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dcinfra.model.stack import Stack

if TYPE_CHECKING:
    from dcinfra.plan.types import Plan

# Above this many hosts (racks) the plan summary shows a few per pool (the first and last racks and
# those over budget) instead of all of them.
FULL_HOST_LIST_MAX = 40
FULL_RACK_LIST_MAX = 24


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 host``, ``2,048 hosts`` (``many``: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def stack_summary(stack: Stack) -> str:
    """What the stack declares, counted from the model (no planning)."""
    hosts = sum(pool.count for pool in stack.compute.pools)
    racks = len(stack.racks) or 1
    networks = ["management"]
    if stack.fabric.storage is not None:
        networks.append("storage")
    if stack.fabric.compute is not None:
        networks.append(f"compute ({stack.fabric.compute.kind})")
    parts = [
        plural(hosts, "host"),
        plural(len(stack.compute.pools), "pool"),
        plural(racks, "rack"),
        f"networks: {', '.join(networks)}",
    ]
    storage = [name for name in ("ceph", "hdfs") if getattr(stack.storage, name) is not None]
    parts.append(f"storage: {', '.join(storage) if storage else 'none'}")
    parts.append(f"security: default {stack.security.default}")
    if stack.platform is not None and stack.platform.kubernetes is not None:
        k8s = stack.platform.kubernetes
        parts.append(f"platform: kubernetes {k8s.version or stack.versions.kubernetes}")
    return ", ".join(parts)


def section_title(title: str) -> Text:
    """A section heading, after a blank line."""
    return Text(f"\n{title}", style="bold underline")


def short_list(names: Sequence[str], show: int = 4) -> str:
    """``a, b, c, d`` or ``a, b, c … z (N in all)`` for long lists."""
    if len(names) <= show + 1:
        return ", ".join(names) or "-"
    return f"{', '.join(names[: show - 1])} … {names[-1]} ({len(names):,} in all)"


def gbps(value: float | None) -> str:
    """A bandwidth in GB/s (``n/a`` when unknown)."""
    return "n/a" if value is None else f"{value:,.1f} GB/s"


def kv_grid(rows: Sequence[tuple[str, str]]) -> Table:
    """Key-value rows, keys dimmed."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def new_table(*columns: str, title: str | None = None) -> Table:
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
        f"  site {plan.site.provider} · {plural(len(plan.hosts), 'host')} · {plural(gpus, 'GPU')} · "
        f"{plural(len(plan.racks), 'rack')} · {plural(len(plan.networks), 'network')}"
    )
    parts.append(head)
    parts.extend(_hosts_section(plan))
    parts.extend(_racks_section(plan))
    parts.extend(_networks_section(plan))
    parts.extend(_fabric_section(plan))
    parts.extend(_ceph_section(plan))
    parts.extend(_hdfs_section(plan))
    parts.extend(_slurm_section(plan))
    parts.extend(_security_section(plan))
    parts.extend(_verify_section(plan))
    if plan.versions:
        parts.append(section_title("Versions"))
        parts.append(Text("  ".join(f"{k} {v}" for k, v in sorted(plan.versions.items()))))
    if plan.warnings:  # last, where a reader stops: the plan builds, but these are worth a change
        from dcinfra.cli.output import warning_lines

        parts.append(Text(""))
        parts.extend(warning_lines(plan.warnings))
    return Group(*parts)


def _hosts_section(plan: Plan) -> list[RenderableType]:
    parts: list[RenderableType] = [section_title("Hosts")]
    pools: dict[str, list[Any]] = {}
    for h in plan.hosts:
        pools.setdefault(h.pool, []).append(h)
    by_pool = new_table("pool", "hosts>", "hardware", "rails>", "racks>", "kW/node>")
    for name, hosts in pools.items():
        first = hosts[0]
        hw = f"{first.gpu_count} x {first.gpu}, " if first.gpu else "CPU only, "
        hw += f"{plural(first.cpu_cores, 'core')}, {first.memory_gb:,} GB"
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
    table = new_table("host", "pool", "roles", "rack", *networks)
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
    parts: list[RenderableType] = [section_title(title)]
    table = new_table("rack", "cooling", "hosts>", "power kW>", "budget kW>", "use")
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
    table = new_table("network", "cidr", "mtu>", "interface", "hosts>", "gateway")
    for n in plan.networks:
        table.add_row(n.name, n.cidr, str(n.mtu), n.interface, f"{n.hosts:,}", n.gateway or "-")
    return [section_title("Networks"), table]


def _fabric_section(plan: Plan) -> list[RenderableType]:
    f = plan.fabric
    if f is None:
        return [section_title("Compute fabric"), Text("none declared")]
    parts: list[RenderableType] = [section_title("Compute fabric")]
    over = "non-blocking" if f.oversubscription <= 1.0 else f"{f.oversubscription:g}:1 oversubscribed"
    parts.append(
        kv_grid(
            [
                (
                    "kind",
                    f"{f.kind}, rail-optimized fat tree, {f.tiers} tier{'s' if f.tiers != 1 else ''}, {over}",
                ),
                ("switch", f"{f.switch}: radix {f.radix}, {f.link_gbps} Gb/s ports"),
                (
                    "endpoints",
                    f"{plural(f.nodes, 'node')} x {plural(f.rails, 'rail')} = "
                    f"{f.nodes * f.rails:,} ports, MTU {f.mtu}",
                ),
                ("scalable units", f"{f.scalable_units:,} x {f.nodes_per_su} nodes"),
            ]
        )
    )
    tiers = new_table("tier", "switches>", "cables>", "")
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
        ("intra-node busbw", f"{gbps(e.intra_node_busbw_GBps)} (all-reduce, NVLink)"),
        ("inter-node busbw", f"{gbps(e.inter_node_busbw_GBps)} (all-reduce across nodes)"),
        ("NIC line rate", f"{gbps(e.nic_line_rate_GBps)} per rail port"),
        ("network per GPU", gbps(e.per_gpu_network_GBps)),
        ("link (iperf3)", gbps(e.link_GBps)),
    ]
    for name, value in sorted(e.efficiency.items()):
        source = e.sources.get(name, "")
        rows.append((f"  {name}", f"{value:g}" + (f"  ({source})" if source else "")))
    parts.append(Text("\nexpected bandwidth", style="bold"))
    parts.append(kv_grid(rows))
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
        ("mons", f"{len(c.mons)}: {short_list(list(c.mons))}"),
        ("mgrs", f"{len(c.mgrs)}: {short_list(list(c.mgrs))}"),
    ]
    if c.mdss:
        rows.append(("mdss", f"{len(c.mdss)}: {short_list(list(c.mdss))}"))
    rows += [
        (
            "osds",
            f"{len(c.osds):,} on {plural(len(osd_hosts), 'host')}"
            + (f" (file-backed, {plan.site.provider})" if c.osd_backing == "files" else ""),
        ),
        ("failure domain", c.failure_domain),
        ("networks", f"public {c.public_network_name} {c.public_network}, cluster {c.cluster_network}"),
        ("clients", f"{len(c.clients):,}, CephFS mounted with {c.client_mount}"),
    ]
    if c.cephfs_name:
        rows.append(("cephfs", f"{c.cephfs_name} at {c.cephfs_mount}"))
    pools = new_table("pool", "application", "size>", "min_size>", "pg_num>", "autoscale")
    for p in c.pools:
        pools.add_row(
            p.name, p.application, str(p.size), str(p.min_size), str(p.pg_num), "on" if p.autoscale else "off"
        )
    return [section_title("Ceph"), kv_grid(rows), Text(""), pools]


def _hdfs_section(plan: Plan) -> list[RenderableType]:
    h = plan.hdfs
    if h is None:
        return []
    rows = [
        ("name service", f"{h.name}, Hadoop {h.hadoop_version}"),
        ("namenode", f"{h.namenode} ({h.namenode_address})"),
        ("datanodes", f"{len(h.datanodes):,}: {short_list(list(h.datanodes))}"),
        ("replication", str(h.replication)),
        ("rack awareness", "on" if h.rack_awareness else "off"),
        ("secure", f"Kerberos realm {h.kerberos_realm}, KDC {h.kerberos_kdc}" if h.secure else "off"),
        ("dirs", f"name {', '.join(h.name_dirs)}; data {', '.join(h.data_dirs)}"),
    ]
    return [section_title("HDFS"), kv_grid(rows)]


def _slurm_section(plan: Plan) -> list[RenderableType]:
    s = plan.slurm
    if s is None:
        return []
    gpus = sum(n.gpus for n in s.nodes if not n.standin)
    standins = sum(n.gpus for n in s.nodes if n.standin)
    gres = plural(gpus, "GPU") + (f" (+{standins} stand-ins for scheduling only)" if standins else "")
    ctl = ", ".join(f"{n} ({a})" for n, a in zip(s.controllers, s.controller_addresses, strict=True))
    rows = [
        ("cluster", f"{s.cluster_name}, Slurm {s.version}"),
        ("controllers", ctl + (" (primary, backup)" if len(s.controllers) > 1 else "")),
        ("accounting", f"slurmdbd + MariaDB on {s.database_host}" if s.accounting else "off"),
        ("nodes", f"{len(s.nodes):,}: {short_list([n.name for n in s.nodes])}; gres {gres}"),
        (
            "partitions",
            "; ".join(
                f"{p.name}{' (default)' if p.default else ''}: {len(p.nodes):,} nodes, max {p.max_time}"
                for p in s.partitions
            ),
        ),
        ("topology", f"tree, {plural(len(s.topology), 'switch', 'switches')}" if s.topology else "none"),
        (
            "confinement",
            "cgroups (cores, devices, memory)" if s.cgroups else "none (the site has no cgroups)",
        ),
        (
            "health check",
            f"every {s.health_check_interval_s} s, bounded {s.health_check_timeout_s} s"
            if s.health_check_interval_s
            else "off",
        ),
    ]
    if s.accounts:
        rows.append(
            (
                "accounts",
                "; ".join(
                    f"{a.name} share {a.fairshare}{' ' + a.grp_tres if a.grp_tres else ''}"
                    for a in s.accounts
                ),
            )
        )
    return [section_title("Slurm"), kv_grid(rows)]


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
    for iso in s.isolation:
        state = "isolated" if iso.isolated else "NOT ISOLATED by dcinfra"
        rows.append((f"tenants: {iso.network} {iso.traffic}", f"{state} ({iso.mechanism}): {iso.detail}"))
    for part in s.partitions:
        rows.append((f"partition {part.tenant}", f"PKey {part.pkey}, {plural(len(part.members), 'port')}"))
    flows = new_table("flow", "from → to", "proto/ports", "network", "verdict", "decided by")
    for fl in s.flows:
        ports = ",".join(fl.ports) if fl.ports else "all"
        verdict = Text("allowed", style="green") if fl.allowed else Text("BLOCKED", style="bold red")
        flows.add_row(
            fl.name, f"{fl.src} → {fl.dst}", f"{fl.protocol}/{ports}", fl.network, verdict, fl.decided_by
        )
    return [section_title("Security"), kv_grid(rows), Text(""), flows]


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
        f"{plural(len(rulesets), 'ruleset')} for {plural(len(plan.hosts), 'host')} "
        f"(one per pool and role set; {rules} input rules each, default {plan.security.default})"
        + ("" if len(users) == len(rulesets) else f"; {len(rulesets) - len(users)} unused")
    )


def _verify_section(plan: Plan) -> list[RenderableType]:
    v = plan.verify
    if v is None:
        return []
    if not v.enabled:
        return [
            section_title("Verify (after up)"),
            Text(
                "disabled (VerifySettings(enabled=False)): up does not verify; `dcinfra verify` runs the "
                "smoke benchmark when asked"
            ),
        ]
    rows = [
        (
            "backend",
            f"{v.backend} on {plural(len(v.hosts), 'host')}, "
            f"rendezvous {v.master_address}:{v.rendezvous_port}",
        ),
        (
            "thresholds",
            f"busbw ≥ {v.min_busbw_fraction:g} x {gbps(v.expected_busbw_GBps)}, "
            f"link {gbps(v.expected_link_GBps)}, GEMM peak {v.gemm_peak_tflops:,.1f} TFLOPS/device",
        ),
        (
            "sweep",
            f"up to {v.max_message_bytes:,} bytes, {v.warmup_iters} warm-up + {v.iters} timed iterations, "
            f"{v.training_steps} training steps, timeout {v.timeout_s} s",
        ),
    ]
    if v.tenant is not None:
        rows.append(
            (
                "tenant",
                f"runs on tenant {v.tenant!r} only (tenant isolation: one benchmark group cannot span "
                f"tenants); not benchmarked: {plural(len(v.unverified), 'host')}",
            )
        )
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
                    f"{st.cephfs_mount}, on {plural(len(st.cephfs_hosts), 'host')}",
                )
            )
    return [section_title("Verify (after up)"), kv_grid(rows)]
