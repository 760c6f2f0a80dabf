"""Slurm, planned: host roles, the flows Slurm needs, and :class:`~dcinfra.plan.types.SlurmPlan`.

Host roles: ``slurm-controller`` (slurmctld; the second controller is the backup), ``slurm-compute``
(slurmd) and ``slurm-dbd`` (slurmdbd + MariaDB, with accounting). Slurm talks on the management network:
slurmctld on 6817, slurmd on 6818, slurmdbd on 6819, and srun's own listeners in ``SrunPortRange``
(60001-63000, the range SchedMD's network guide uses). MariaDB listens on the loopback only: slurmdbd on
the same host is its one client, so no network flow reaches it.

The node lines come from the declared hardware, never from what a host reports: ``RealMemory`` is the
declared GiB x 1000 MiB (a node's kernel and firmware keep ~2.4% of its memory, so it never reports
less than configured and gets drained); sockets, cores and threads from the catalog profile; GPUs as
``gres/gpu`` with their device files split across sockets (NVIDIA's HGX topology: GPU 0-3 on socket 0).

topology.conf (``topology/tree``): a rail-optimized scalable unit (SU) collapses to one tree switch,
because each node of an SU reaches every other node of the SU through its rail's leaf in one hop (rail
k to rail k); across SUs traffic crosses the spines. So one switch per SU over its nodes, and one top
switch over the SUs: the scheduler packs a job into as few SUs as it can. Slurm 22.05 has no
``topology/block`` (23.11+), the model NVIDIA recommends for NVLink domains; the tree is what 22.05 does.
Compute nodes off the fabric sit under a switch of their own (``off-fabric``), outside that tree:
topology/tree schedules only nodes some switch reaches, and no job should span both.

A partition whose pools belong to declared Slurm tenants admits only their accounts, plus ``root`` (the
account sacctmgr creates with the cluster, which administrators and verify's job run under); a partition
no declared tenant owns admits every account.
"""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.errors import Problem
from dcinfra.model.stack import Stack
from dcinfra.plan.flows import Need, Scope, with_roles
from dcinfra.plan.hosts import Draft, pool_owners
from dcinfra.plan.refs import unknown_pool
from dcinfra.plan.storage import resolve
from dcinfra.plan.types import (
    SlurmAccountPlan,
    SlurmNode,
    SlurmPartitionPlan,
    SlurmPlan,
    SlurmSwitch,
)

SUPPORTED_VERSIONS = ("22.05",)  # Debian 12's slurm-wlm; the templates are written for these
PORTS = {"slurmctld": "6817", "slurmd": "6818", "slurmdbd": "6819", "srun": "60001-63000"}
NETWORK = "management"
ROLE_CONTROLLER = "slurm-controller"
ROLE_COMPUTE = "slurm-compute"
ROLE_DBD = "slurm-dbd"
OFF_FABRIC = "off-fabric"  # topology.conf switch of the compute nodes without a compute-fabric port


def partition_pools(stack: Stack) -> list[tuple[str, tuple[str, ...], bool, str]]:
    """(name, pools, default, max_time) per partition: the declared ones, or one per compute pool."""
    s = stack.scheduler
    assert s is not None
    if s.partitions:
        defaults = [p.default for p in s.partitions]
        first_default = defaults.index(True) if any(defaults) else 0
        return [(p.name, p.pools, i == first_default, p.max_time) for i, p in enumerate(s.partitions)]
    pools = [p.name for p in stack.compute.pools if "compute" in p.roles]
    return [(name, (name,), i == 0, "UNLIMITED") for i, name in enumerate(pools)]


def partition_accounts(stack: Stack, pools: Sequence[str]) -> tuple[str, ...]:
    """The declared Slurm tenants owning some of a partition's ``pools``, sorted; (): no declared
    tenant owns any of them, and every account may use the partition."""
    s = stack.scheduler
    assert s is not None
    owner = pool_owners(stack)
    declared = {t.name for t in s.tenants}
    return tuple(sorted({owner[p] for p in pools if p in owner} & declared))


def assign_roles(stack: Stack, drafts: Sequence[Draft], problems: list[Problem]) -> None:
    """Add the Slurm roles to the drafts (before flows and firewalls are planned)."""
    s = stack.scheduler
    if s is None:
        return
    ctl = resolve(s.controller, "scheduler.controller", drafts, problems)
    if len(ctl) > 2:
        problems.append(
            Problem(
                "scheduler.controller",
                f"the placement selects {len(ctl)} controller hosts",
                "slurmctld runs on one host, or two (primary and backup): set count=1 or count=2",
                "slurm.controller",
            )
        )
    for d in ctl[:2]:
        d.roles.add(ROLE_CONTROLLER)
    known = {d.pool.name for d in drafts}
    # A declared pool without hosts lost them to a problem reported already (duplicate hostnames):
    # not an unknown pool as well.
    declared = {p.name for p in stack.compute.pools}
    members: set[str] = set()
    for i, (_name, pools, _default, _t) in enumerate(partition_pools(stack)):
        for j, pool in enumerate(pools):
            if pool not in known and pool not in declared:
                problems.append(unknown_pool(f"scheduler.partitions[{i}].pools[{j}]", pool, known))
            members.add(pool)
    for d in drafts:
        if d.pool.name in members and "compute" in d.roles:
            d.roles.add(ROLE_COMPUTE)
    if s.accounting is not None and s.accounting.database is not None:
        db = resolve(s.accounting.database, "scheduler.accounting.database", drafts, problems)
        if len(db) > 1:
            problems.append(
                Problem(
                    "scheduler.accounting.database",
                    f"the placement selects {len(db)} hosts",
                    "slurmdbd and its MariaDB run on one host: set count=1 or name one host",
                    "slurm.accounting",
                )
            )
        for d in db[:1]:
            d.roles.add(ROLE_DBD)


def flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """slurmctld, slurmd, slurmdbd and srun's listeners, on the management network."""
    if stack.scheduler is None:
        return []
    ctl = with_roles(drafts, ROLE_CONTROLLER)
    nodes = with_roles(drafts, ROLE_COMPUTE)
    dbd = with_roles(drafts, ROLE_DBD)
    members = ctl | nodes | dbd
    host: Scope = "host"  # scope: between host daemons; pods never make these connections
    out = [
        # Every daemon and client command (sbatch, squeue, scontrol on any member) talks to slurmctld.
        Need(
            "slurmctld",
            members,
            ctl,
            "tcp",
            (PORTS["slurmctld"],),
            NETWORK,
            "slurm hosts",
            ROLE_CONTROLLER,
            scope=host,
        ),
    ]
    groups = _node_groups(stack, drafts, nodes)
    if len(groups) == 1:
        out += [
            # slurmctld launches job steps on slurmd; slurmd forwards messages to slurmd (the fan-out tree).
            Need(
                "slurmd",
                ctl | nodes,
                nodes,
                "tcp",
                (PORTS["slurmd"],),
                NETWORK,
                "slurm controllers and nodes",
                ROLE_COMPUTE,
                scope=host,
            ),
            # srun (in a batch script on a compute node, or on a controller) listens in SrunPortRange for
            # its tasks' I/O and for slurmctld's replies.
            Need(
                "srun",
                ctl | nodes,
                ctl | nodes,
                "tcp",
                (PORTS["srun"],),
                NETWORK,
                "slurm controllers and nodes",
                "srun on slurm hosts",
                scope=host,
            ),
        ]
    else:
        # Tenant isolation: the controllers (no tenant) reach every node and every node reaches them;
        # node-to-node traffic (slurmd's fan-out, a job's tasks to its srun) stays within a tenant, as
        # a tenant's jobs run on its own partitions.
        out += [
            Need(
                "slurmd",
                ctl,
                nodes,
                "tcp",
                (PORTS["slurmd"],),
                NETWORK,
                "slurm controllers",
                ROLE_COMPUTE,
                scope=host,
            ),
            Need(
                "srun",
                ctl | nodes,
                ctl,
                "tcp",
                (PORTS["srun"],),
                NETWORK,
                "slurm controllers and nodes",
                "srun on slurm controllers",
                scope=host,
            ),
        ]
        for tenant, group in groups:
            suffix, desc = (
                (f"-{tenant}", f"slurm nodes of tenant {tenant}")
                if tenant
                else ("-no-tenant", "slurm nodes of no tenant")
            )
            out += [
                Need(
                    f"slurmd{suffix}",
                    group,
                    group,
                    "tcp",
                    (PORTS["slurmd"],),
                    NETWORK,
                    desc,
                    desc,
                    scope=host,
                ),
                Need(
                    f"srun{suffix}",
                    ctl | group,
                    group,
                    "tcp",
                    (PORTS["srun"],),
                    NETWORK,
                    f"slurm controllers and {desc}",
                    f"srun on {desc}",
                    scope=host,
                ),
            ]
    if dbd:
        out.append(
            Need(
                "slurmdbd",
                ctl,
                dbd,
                "tcp",
                (PORTS["slurmdbd"],),
                NETWORK,
                "slurm controllers",
                ROLE_DBD,
                scope=host,
            )
        )
    return out


def _node_groups(
    stack: Stack, drafts: Sequence[Draft], nodes: frozenset[str]
) -> list[tuple[str | None, frozenset[str]]]:
    """slurmd hosts that talk among themselves: all of them, or with tenant isolation one group per
    tenant (nodes of no tenant together), in plan order."""
    if not stack.security.tenant_isolation:
        return [(None, nodes)]
    owner = pool_owners(stack)
    groups: dict[str | None, set[str]] = {}
    for d in drafts:
        if d.name in nodes:
            groups.setdefault(owner.get(d.pool.name), set()).add(d.name)
    return [(t, frozenset(g)) for t, g in groups.items()] or [(None, nodes)]


def _gpu_type(gpu: str) -> str:
    """The GRES type of a catalog GPU: its key without the form factor (``h100-sxm`` -> ``h100``)."""
    return gpu.split("-", maxsplit=1)[0]


STANDIN_DIR = "/var/lib/dcinfra/slurm-standin"  # the slurm role creates gpu<i> there (null devices)


def _standin_files(gpus: int) -> tuple[tuple[str, str], ...]:
    """Stand-in GPUs' device files: Slurm 22.05 drops a GPU line without File= ("Removing file-less
    GPU"), so each stand-in is a character device the role creates (1,3, like /dev/null), no cores."""
    last = gpus - 1
    return ((f"{STANDIN_DIR}/gpu{last}" if last == 0 else f"{STANDIN_DIR}/gpu[0-{last}]", ""),)


def _gpu_files(gpus: int, sockets: int, cores: int) -> tuple[tuple[str, str], ...]:
    """gres.conf (File=, Cores=) per socket: GPUs split evenly, each with its socket's cores."""
    if gpus == 0:
        return ()
    per_socket_cores = cores // sockets
    groups = min(sockets, gpus)
    per = gpus // groups
    out = []
    for g in range(groups):
        first, last = g * per, (gpus - 1 if g == groups - 1 else (g + 1) * per - 1)
        files = f"/dev/nvidia{first}" if first == last else f"/dev/nvidia[{first}-{last}]"
        c0, c1 = g * per_socket_cores, (g + 1) * per_socket_cores - 1
        out.append((files, f"{c0}-{c1}" if c1 > c0 else str(c0)))
    return tuple(out)


def _node(stack: Stack, d: Draft, gres_pools: set[str] | None) -> SlurmNode:
    s = stack.scheduler
    assert s is not None
    hw = d.hw
    gpus, gpu_type, standin = 0, None, False
    if hw.gpu is not None and hw.gpu_count and (gres_pools is None or d.pool.name in gres_pools):
        gpus, gpu_type = hw.gpu_count, _gpu_type(hw.gpu)
    elif s.standin_gpus and hw.gpu is None:
        gpus, gpu_type, standin = s.standin_gpus, "standin", True
    features = [d.pool.name, d.rack.replace("_", "-")]
    if gpu_type and not standin:
        features.append(gpu_type)
    return SlurmNode(
        name=d.name,
        # "" only for a host without one: a problem already reported (site.hosts, network.size)
        address=d.addresses.get("management", ""),
        sockets=hw.sockets,
        cores_per_socket=hw.cpu_cores // hw.sockets,
        threads_per_core=hw.threads_per_core,
        real_memory_mb=hw.memory_gb * 1000,
        gpu_type=gpu_type,
        gpus=gpus,
        gpu_files=_standin_files(gpus) if standin else _gpu_files(gpus, hw.sockets, hw.cpu_cores),
        standin=standin,
        features=tuple(dict.fromkeys(features)),
    )


def _topology(nodes: Sequence[Draft]) -> tuple[SlurmSwitch, ...]:
    """One switch per scalable unit over its nodes, one top switch over the SUs (see the module doc),
    and the compute nodes off the fabric under a switch of their own."""
    by_su: dict[int, list[str]] = {}
    for d in nodes:
        if d.su is not None:
            by_su.setdefault(d.su, []).append(d.name)
    if not by_su:
        return ()
    leaves = tuple(SlurmSwitch(f"su{su}", nodes=tuple(names)) for su, names in sorted(by_su.items()))
    tree = leaves
    if len(leaves) > 1:
        tree = (*leaves, SlurmSwitch("spine", switches=tuple(sw.name for sw in leaves)))
    # topology/tree schedules only nodes that some switch reaches. The compute nodes off the fabric get
    # a switch of their own, kept apart from the fabric's tree, so that no job spans both (its ranks
    # would talk over the management network); slurmctld logs that no switch reaches every node.
    off = tuple(d.name for d in nodes if d.su is None)
    return (*tree, SlurmSwitch(OFF_FABRIC, nodes=off)) if off else tree


def plan_slurm(
    stack: Stack, drafts: Sequence[Draft], problems: list[Problem], *, full: bool = True
) -> SlurmPlan | None:
    """The Slurm cluster of a stack whose roles :func:`assign_roles` has set; None without a scheduler.
    ``full=False`` (validation) stops after the checks: the node lines cannot add a problem."""
    s = stack.scheduler
    if s is None:
        return None
    ctl = [d for d in drafts if ROLE_CONTROLLER in d.roles]
    compute = [d for d in drafts if ROLE_COMPUTE in d.roles]
    dbd = [d for d in drafts if ROLE_DBD in d.roles]
    if not compute and not s.partitions:
        # Declared partitions are checked pool by pool (dcinfra.plan.checks.scheduler, refs.pool).
        problems.append(
            Problem(
                "scheduler.partitions",
                "no compute host is in any partition",
                "name pools whose role includes 'compute' in the partitions (or declare none: one "
                "partition per compute pool)",
                "slurm.partitions",
            )
        )
    cluster_name = s.cluster_name or stack.name.replace("-", "_")
    if len(cluster_name) > 40:
        problems.append(
            Problem(
                "scheduler.cluster_name",
                f"the cluster name defaults to the stack name, {cluster_name!r}: "
                f"{len(cluster_name)} characters; Slurm names its accounting tables after it and MariaDB "
                "limits table names",
                "set cluster_name= to at most 40 characters (letters, digits, '_')",
                "slurm.cluster-name",
            )
        )
    if stack.versions.slurm not in SUPPORTED_VERSIONS:
        problems.append(
            Problem(
                "versions.slurm",
                f"Slurm {stack.versions.slurm} is not a release dcinfra writes configuration for",
                f"use {' or '.join(SUPPORTED_VERSIONS)} (Debian 12's packages); 23.11+ options such as "
                "topology/block are not generated",
                "slurm.version",
            )
        )
    _tenant_partitions(stack, problems)
    if not full:
        return None
    gres_pools = set(s.gres_pools) if s.gres_pools is not None else None
    nodes = tuple(_node(stack, d, gres_pools) for d in compute)
    owner = pool_owners(stack)
    declared = partition_pools(stack)
    partitions = []
    for name, pools, default, max_time in declared:
        owners = partition_accounts(stack, pools)
        # A partition of tenants' pools admits their accounts, and root: the account sacctmgr creates
        # with the cluster, which the administrators (and verify's job) submit under.
        allow = tuple(sorted({"root", *owners})) if s.accounting is not None and owners else ()
        partitions.append(
            SlurmPartitionPlan(
                name,
                tuple(d.name for d in compute if d.pool.name in pools),
                default,
                max_time,
                allow,
            )
        )
    accounts = []
    for t in s.tenants:
        tres = []
        if t.max_gpus is not None:
            tres.append(f"gres/gpu={t.max_gpus}")
        if t.max_nodes is not None:
            tres.append(f"node={t.max_nodes}")
        owned = {p for p, o in owner.items() if o == t.name}
        parts = tuple(name for name, pools, _default, _t in declared if owned.intersection(pools))
        accounts.append(SlurmAccountPlan(t.name, t.fairshare, ",".join(tres), parts))
    if problems:
        return None
    site = stack.site.capabilities()
    return SlurmPlan(
        cluster_name=cluster_name,
        version=stack.versions.slurm,
        controllers=tuple(d.name for d in ctl),
        controller_addresses=tuple(d.addresses["management"] for d in ctl),
        accounting=s.accounting is not None,
        database_host=dbd[0].name if dbd else None,
        database_address=dbd[0].addresses["management"] if dbd else None,
        enforce=s.accounting is not None and s.accounting.enforce,
        nodes=nodes,
        partitions=tuple(partitions),
        accounts=tuple(accounts),
        topology=_topology(compute),
        cgroups=site.cgroups,
        config_overrides=not site.hardware_detectable,
        health_check_interval_s=s.health_check_interval_s,
        health_check_timeout_s=s.health_check_timeout_s,
        prolog=s.prolog,
        epilog=s.epilog,
        ports=dict(PORTS),
        network=NETWORK,
        tree_width=_tree_width(stack, len(compute)),
    )


# slurm.conf(5), Slurm 22.05, TreeWidth: slurmd daemons forward slurmctld's messages in a tree of this
# fan-out (default 50, at most 65533); slurmctld contacts at most TreeWidth nodes itself.
TREE_WIDTH_DEFAULT = 50
TREE_WIDTH_MAX = 65533


def _tree_width(stack: Stack, nodes: int) -> int | None:
    """``TreeWidth`` under tenant isolation: as wide as the nodes (up to Slurm's maximum), so slurmctld
    reaches every slurmd itself and no slurmd forwards its messages to another tenant's slurmd, which
    isolation drops. None (Slurm's default) otherwise, or when the default already covers every node."""
    if not stack.security.tenant_isolation or nodes <= TREE_WIDTH_DEFAULT:
        return None
    return min(nodes, TREE_WIDTH_MAX)


def _tenant_partitions(stack: Stack, problems: list[Problem]) -> None:
    """``slurm.partitions``: under tenant isolation a partition over pools of two tenants would run jobs
    whose nodes cannot reach each other."""
    if not stack.security.tenant_isolation:
        return
    owner = pool_owners(stack)
    assert stack.scheduler is not None
    for i, p in enumerate(stack.scheduler.partitions):
        tenants = sorted({owner[pool] for pool in p.pools if pool in owner})
        if len(tenants) > 1:
            by = ", ".join(f"{pool!r} ({owner.get(pool, 'no tenant')})" for pool in p.pools)
            problems.append(
                Problem(
                    f"scheduler.partitions[{i}].pools",
                    f"partition {p.name!r} spans tenants {' and '.join(map(repr, tenants))} (pools {by}), "
                    "but tenant_isolation drops traffic between their hosts: a job on both cannot run",
                    "give each tenant its own partitions (one per pool when partitions are not declared)",
                    "slurm.partitions",
                )
            )
