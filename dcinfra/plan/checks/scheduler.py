"""Rules on the scheduler (``scheduler``, Slurm): accounting and its database, tenants' accounts and
QOS limits, partitions, GPU GRES and stand-ins, and the prolog/epilog paths.

Rules (``Problem.rule``): ``slurm.accounting``, ``slurm.controller-rack`` (a warning: the primary and the
backup controller in one rack, as for Ceph monitors: :mod:`~dcinfra.plan.checks.ceph`), ``slurm.tenants``,
``slurm.duplicate``, ``slurm.partitions``, ``slurm.gres``, ``slurm.qos``, ``slurm.standin``, ``slurm.paths``,
``refs.pool``

The planner (:mod:`dcinfra.plan.scheduler`) reports what it finds while it places Slurm: an unknown pool
or host in a partition or placement (``refs.pool``, ``refs.host``), too many controller or database hosts
(``slurm.controller``, ``slurm.accounting``), and no compute host at all when the partitions are the
default ones (``slurm.partitions``). A rule that blocks a Slurm flow (slurmctld, slurmd, slurmdbd, srun)
is reported by the security compiler through the flows registry (``security.blocks-flow``). None of
these is repeated here.

Decisions:

- A tenant is one of ``security.tenants`` (or a pool's ``tenant``, whose own declaration the security
  rules check): its account, fair share and QOS live in the accounting database, so tenants need
  accounting. ``root`` is the account Slurm creates with the cluster; no tenant may take its name.
- A QOS limit is judged against what the tenant may use: the Slurm nodes of the partitions that admit
  its account (those built from its pools, and those no declared tenant owns), and their real GPUs
  scheduled as ``gres/gpu``. Stand-in GPUs are for scheduling tests only and never count as GPUs.
  While a partition or ``gres_pools`` names a pool wrongly, that capacity is unknown and the QOS rule
  stays quiet (the pool's own problem is the one to fix).
- Stand-in GPUs are for sites without GPUs (the lab): where the site has GPUs they would sit beside
  real ones on CPU-only nodes and turn ``--gres=gpu:N`` jobs onto nodes without a GPU.
- A prolog or epilog is a script the site installs: an absolute, normalized path (no ``.``, ``..`` or
  ``//``), not under the kernel's /proc, /sys or /dev.
"""

from __future__ import annotations

import posixpath
from collections.abc import Generator, Iterator

from dcinfra.errors import Problem
from dcinfra.model.scheduler import Slurm
from dcinfra.plan.checks._common import Ctx, dup_names, one_rack, spread_hint, suggest
from dcinfra.plan.hosts import pool_owners
from dcinfra.plan.refs import unknown_pool
from dcinfra.plan.scheduler import partition_accounts, partition_pools

__all__ = ["check_scheduler"]

BASE = "scheduler"
RESERVED_ACCOUNTS = ("root",)  # created by sacctmgr with the cluster
KERNEL_FS = ("/proc", "/sys", "/dev")


def check_scheduler(ctx: Ctx) -> Iterator[Problem]:
    """Accounting, tenants, partitions, GRES, stand-ins, QOS limits and script paths."""
    s = ctx.stack.scheduler
    if s is None:
        return
    yield from _accounting(ctx, s)
    yield from _controllers_rack(ctx, s)
    yield from _tenants(ctx, s)
    bad_partitions = yield from _partitions(ctx, s)
    bad_gres = yield from _gres(ctx, s)
    if s.standin_gpus and ctx.site.gpus:
        yield Problem(
            f"{BASE}.standin_gpus",
            f"standin_gpus={s.standin_gpus} on a site whose hosts have GPUs: stand-ins are for sites "
            "without GPUs (the lab), and here jobs asking for GPUs (gres/gpu) would land on CPU-only nodes",
            "set standin_gpus=0 (real GPUs are scheduled as gres/gpu from the declared hardware)",
            "slurm.standin",
        )
    if not bad_partitions:
        yield from _qos(ctx, s, check_gpus=not bad_gres)
    for field in ("prolog", "epilog"):
        yield from _script(field, getattr(s, field))


def _controllers_rack(ctx: Ctx, s: Slurm) -> Iterator[Problem]:
    """A warning when the primary and the backup controller are in one rack."""
    ctl = ctx.select(s.controller)[:2]  # a third one is the planner's problem (slurm.controller)
    found = one_rack(ctx, ctl)
    if found is None:
        return
    rack, used = found
    yield Problem(
        f"{BASE}.controller",
        f"the primary and the backup Slurm controller ({ctl[0].name!r}, {ctl[1].name!r}) are both in "
        f"rack {rack!r}, one of the {used} racks the stack's hosts fill: a failure of that one rack "
        "stops slurmctld, and no job is scheduled, although the backup is there to survive it",
        spread_hint(ctx, "controllers", f"{BASE}.controller", ctl),
        "slurm.controller-rack",
        "warning",
    )


def _accounting(ctx: Ctx, s: Slurm) -> Iterator[Problem]:
    if s.accounting is not None and s.accounting.database is None:
        yield Problem(
            f"{BASE}.accounting.database",
            "accounting is declared with database=None: slurmdbd and its MariaDB have no host",
            f"set accounting=SlurmAccounting(database=Placement(hosts=[{_db_example(ctx, s)!r}])) "
            "(one host; the controller's is fine), or accounting=None to turn accounting off",
            "slurm.accounting",
        )


def _db_example(ctx: Ctx, s: Slurm) -> str:
    """A host to suggest for the database: the first controller host, else the first host."""
    ctl = ctx.select(s.controller)
    if ctl:
        return ctl[0].name
    return ctx.drafts[0].name if ctx.drafts else "svc-001"


def _tenants(ctx: Ctx, s: Slurm) -> Iterator[Problem]:
    if s.tenants and s.accounting is None:
        names = ", ".join(repr(t.name) for t in s.tenants)
        yield Problem(
            f"{BASE}.tenants",
            f"tenants {names} are declared with accounting=None: accounts, fair share and QOS limits "
            "live in the accounting database",
            f"set accounting=SlurmAccounting(database=Placement(hosts=[{_db_example(ctx, s)!r}])), "
            "or remove tenants",
            "slurm.tenants",
        )
    yield from dup_names(
        (t.name for t in s.tenants), lambda i: f"{BASE}.tenants[{i}].name", "Slurm tenant", "slurm.duplicate"
    )
    known = list(dict.fromkeys([t.name for t in ctx.stack.security.tenants] + _pool_tenants(ctx)))
    for i, t in enumerate(s.tenants):
        if t.name in RESERVED_ACCOUNTS:
            yield Problem(
                f"{BASE}.tenants[{i}].name",
                f"tenant {t.name!r} takes the name of the account Slurm creates with the cluster "
                "(the administrators' account)",
                "name the tenant differently (and in security.tenants)",
                "slurm.tenants",
            )
        elif t.name not in known:
            yield Problem(
                f"{BASE}.tenants[{i}].name",
                f"Slurm tenant {t.name!r} is not in security.tenants",
                f"{suggest(t.name, known)}declare Tenant(name={t.name!r}, pools=[...]) in "
                f"security.tenants (tenants: {', '.join(known) or 'none'})",
                "slurm.tenants",
            )


def _pool_tenants(ctx: Ctx) -> list[str]:
    return [p.tenant for p in ctx.stack.compute.pools if p.tenant is not None]


def _partitions(ctx: Ctx, s: Slurm) -> Generator[Problem, None, bool]:
    """Duplicate names, several defaults, pools without compute hosts; returns whether any partition
    names a pool wrongly (an unknown pool is the planner's to report, but stops the QOS rule too)."""
    bad = False
    yield from dup_names(
        (p.name for p in s.partitions),
        lambda i: f"{BASE}.partitions[{i}].name",
        "partition",
        "slurm.duplicate",
    )
    defaults = [i for i, p in enumerate(s.partitions) if p.default]
    if len(defaults) > 1:
        names = ", ".join(repr(s.partitions[i].name) for i in defaults)
        yield Problem(
            f"{BASE}.partitions[{defaults[1]}].default",
            f"{len(defaults)} partitions say default=True ({names}): jobs without -p go to one partition",
            f"keep default=True on one partition only (e.g. {s.partitions[defaults[0]].name!r})",
            "slurm.partitions",
        )
    pools = {p.name: p for p in ctx.stack.compute.pools}
    compute = ", ".join(repr(p.name) for p in ctx.stack.compute.pools if "compute" in p.roles) or "none"
    for i, part in enumerate(s.partitions):
        for j, name in enumerate(part.pools):
            pool = pools.get(name)
            if pool is None:
                bad = True  # the planner reports it (refs.pool)
            elif "compute" not in pool.roles:
                bad = True
                yield Problem(
                    f"{BASE}.partitions[{i}].pools[{j}]",
                    f"partition {part.name!r} names pool {name!r}, which has no compute hosts "
                    f"(roles {', '.join(pool.roles)}): slurmd runs only on hosts with role 'compute'",
                    f"add 'compute' to the roles of pool {name!r}, or name a compute pool ({compute})",
                    "slurm.partitions",
                )
    return bad


def _gres(ctx: Ctx, s: Slurm) -> Generator[Problem, None, bool]:
    """GRES naming unknown or CPU-only pools; returns whether any did."""
    if s.gres_pools is None:
        return False
    bad = False
    names = [p.name for p in ctx.stack.compute.pools]
    hw = {p.name: h for p, h in zip(ctx.stack.compute.pools, ctx.hw, strict=True)}
    gpu_pools = [n for n in names if (h := hw[n]) is not None and h.gpu is not None and h.gpu_count]
    for j, name in enumerate(s.gres_pools):
        path = f"{BASE}.gres_pools[{j}]"
        if name not in hw:
            bad = True
            yield unknown_pool(path, name, names, "gres_pools")
        elif (h := hw[name]) is not None and (h.gpu is None or not h.gpu_count):
            bad = True
            yield Problem(
                path,
                f"gres_pools names {name!r}, whose hardware has no GPU: gres/gpu on a CPU-only pool",
                f"name pools with GPUs ({', '.join(repr(n) for n in gpu_pools) or 'none declared'}), or "
                "gres_pools=None for every pool with GPUs",
                "slurm.gres",
            )
    return bad


def _qos(ctx: Ctx, s: Slurm, check_gpus: bool) -> Iterator[Problem]:
    """max_gpus / max_nodes against the nodes and real GPUs of the partitions a tenant may use."""
    owner = pool_owners(ctx.stack)
    known = {t.name for t in ctx.stack.security.tenants} | set(owner.values())
    gres = set(s.gres_pools) if s.gres_pools is not None else None
    parts = [
        (pools, partition_accounts(ctx.stack, pools)) for _n, pools, _d, _t in partition_pools(ctx.stack)
    ]
    seen: set[str] = set()
    for i, t in enumerate(s.tenants):
        if t.name in seen or t.name not in known or (t.max_gpus is None and t.max_nodes is None):
            continue  # duplicates and unknown tenants are reported above
        seen.add(t.name)
        usable = {p for pools, allow in parts if not allow or t.name in allow for p in pools}
        nodes = [d for d in ctx.drafts if d.pool.name in usable and "compute" in d.roles]
        gpus = sum(
            d.hw.gpu_count for d in nodes if d.hw.gpu is not None and (gres is None or d.pool.name in gres)
        )
        where = ", ".join(repr(p) for p in sorted(usable)) or "none"
        if t.max_nodes is not None and t.max_nodes > len(nodes):
            yield Problem(
                f"{BASE}.tenants[{i}].max_nodes",
                f"tenant {t.name!r} max_nodes={t.max_nodes} but the partitions it may use (pools {where}) "
                f"hold {len(nodes)} node(s): the limit can never bind",
                f"set max_nodes <= {len(nodes)}, or None for no limit",
                "slurm.qos",
            )
        if check_gpus and t.max_gpus is not None and t.max_gpus > gpus:
            standin = " (stand-in GPUs do not count)" if s.standin_gpus else ""
            yield Problem(
                f"{BASE}.tenants[{i}].max_gpus",
                f"tenant {t.name!r} max_gpus={t.max_gpus} but the partitions it may use (pools {where}) "
                f"hold {gpus} GPU(s) scheduled as gres/gpu{standin}: the limit can never bind",
                f"set max_gpus <= {gpus}, or None for no limit",
                "slurm.qos",
            )


def _script(field: str, path: str | None) -> Iterator[Problem]:
    """One problem per script path: under a kernel filesystem (once resolved), else not normalized."""
    if path is None:
        return
    norm = posixpath.normpath(path)
    if norm.startswith("//"):  # POSIX keeps a leading "//"; Linux reads it as "/"
        norm = "/" + norm.lstrip("/")
    top = next((fs for fs in KERNEL_FS if norm == fs or norm.startswith(fs + "/")), None)
    if top is not None:
        resolved = f" (it resolves to {norm!r})" if norm != path else ""
        yield Problem(
            f"{BASE}.{field}",
            f"{field} {path!r} is under {top}{resolved}, a kernel filesystem: not a script the site installs",
            f"put the script on the compute hosts' own filesystem, e.g. '/etc/slurm/{field}.sh'",
            "slurm.paths",
        )
    elif norm != path or norm == "/":
        example = norm if norm != "/" else f"/etc/slurm/{field}.sh"
        yield Problem(
            f"{BASE}.{field}",
            f"{field} {path!r} is not a normalized absolute path of a file",
            f"use the path without '.', '..', '//' or a trailing '/', e.g. {example!r}",
            "slurm.paths",
        )
