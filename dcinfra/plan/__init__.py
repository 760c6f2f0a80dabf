"""Stack -> Plan: pure, deterministic compilation, and validation that reports every problem at once.

:func:`validate` runs the model-level cross-layer checks (:mod:`dcinfra.plan.checks`) and then the
planner itself, which reports what only planning can find (addresses that do not fit, racks over
budget, a switch radix too small, a rule blocking a needed flow). :func:`compile_plan` returns the
:class:`~dcinfra.plan.types.Plan` or raises :class:`~dcinfra.errors.StackInvalid` with all problems.

Validation stays fast and quiet at any size (100,000 hosts in a few seconds, one problem per root
cause):

- **gates first** (:data:`dcinfra.plan.checks.GATES`): a stack its site cannot hold at all (the lab
  asked for 100,000 nodes) is reported alone, before anything is planned;
- **root causes stop their dependants**: a network too small for its hosts is reported once with how
  many did not fit, and those hosts get no address rather than one past the network's end;
- **one fix, one problem**: more than :data:`FOLD_AFTER` problems of the same rule with the same fix
  (25,000 racks over the same budget) are folded into the first, which says how many were suppressed;
- **warnings last**: a rule's ``Problem(severity="warning")`` (every Ceph monitor in one rack) never
  stops planning; it follows the errors, and a plan compiled with warnings only carries them
  (``Plan.warnings``) for ``plan`` and ``up`` to show;
- :func:`validate` plans only what can find a problem: the fabric's cabling, host records, firewall
  rulesets and Slurm node lines are built by :func:`compile_plan` alone. A Kubernetes platform is
  checked (:func:`~dcinfra.plan.platform.check_platform`) on the few facts of the plan its checks
  read (:class:`~dcinfra.plan.platform.PlatformInputs`), counted on the host drafts, not planned on
  a compiled plan: its NetworkPolicies and IP pools, like the host records, find no problem.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from dcinfra.catalog import GPUS, NICS, SWITCHES
from dcinfra.errors import Problem, StackInvalid, errors_of, warnings_of
from dcinfra.model.compute import Rack
from dcinfra.model.site import BareMetalSite
from dcinfra.model.stack import Stack
from dcinfra.plan import fabric as fabric_mod
from dcinfra.plan import scheduler as scheduler_mod
from dcinfra.plan import security as security_mod
from dcinfra.plan.addressing import assign_addresses, rail_subnets
from dcinfra.plan.checks import Ctx, check_gates, check_stack
from dcinfra.plan.hosts import Draft, make_hosts, place, pool_owners
from dcinfra.plan.nccl import nccl_env
from dcinfra.plan.platform import PlatformInputs, check_platform, plan_platform
from dcinfra.plan.registry import needed_flows
from dcinfra.plan.rollout import plan_rollout
from dcinfra.plan.storage import plan_ceph, plan_hdfs, resolve
from dcinfra.plan.types import (
    Cable,
    CephPlan,
    FabricPlan,
    HdfsPlan,
    HostPlan,
    NetworkPlan,
    Plan,
    RackPlan,
    RailNic,
    StoragePlan,
)
from dcinfra.plan.verify import plan_verify

__all__ = ["Plan", "compile_plan", "validate"]


def _interfaces(stack: Stack) -> dict[str, str]:
    f = stack.fabric
    out = {"management": f.management.interface or "mgmt0"}
    if f.storage is not None:
        out["storage"] = f.storage.interface or "stor0"
    return out


def _rail_iface(stack: Stack, rail: int) -> tuple[str, str]:
    cf = stack.fabric.compute
    assert cf is not None
    prefix = cf.interface_prefix or ("ib" if cf.kind == "infiniband" else "rail")
    hca = ""
    if cf.kind != "ethernet":
        hca = cf.hcas[rail] if rail < len(cf.hcas) else f"mlx5_{rail}"
    return f"{prefix}{rail}", hca


def _prepare(
    stack: Stack,
    problems: list[Problem],
    *,
    rails: bool,
    cabling: bool,
    placed: tuple[list[Draft], list[Rack], list[Problem]] | None,
) -> tuple[
    list[Draft],
    list[Rack],
    CephPlan | None,
    HdfsPlan | None,
    tuple[FabricPlan, dict[tuple[str, int], tuple[str, int]]] | None,
]:
    """What the plan and validation both plan: the hosts with their roles and addresses (``rails``:
    their rail addresses too), Ceph, HDFS and the fabric (``cabling``: with its cables). ``placed``:
    the hosts already made and placed (:meth:`Ctx.placed`), with the problems found doing it."""
    if placed is None:
        drafts = make_hosts(stack, problems)
        racks = place(stack, drafts, problems)
    else:
        drafts, racks, found = placed
        problems.extend(found)
    assign_addresses(stack, drafts, problems, rails=rails)
    ceph = plan_ceph(stack, stack.storage.ceph, drafts, problems) if stack.storage.ceph else None
    hdfs = plan_hdfs(stack, stack.storage.hdfs, drafts, problems) if stack.storage.hdfs else None
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is not None and k8s.control_plane is not None:
        for d in resolve(k8s.control_plane, "platform.kubernetes.control_plane", drafts, problems):
            d.roles.add("k8s-control-plane")
    scheduler_mod.assign_roles(stack, drafts, problems)
    fabric = _plan_fabric(stack, drafts, problems, cabling=cabling)
    return drafts, racks, ceph, hdfs, fabric


def _validate_plan(
    stack: Stack,
    problems: list[Problem],
    *,
    placed: tuple[list[Draft], list[Rack], list[Problem]] | None = None,
) -> PlatformInputs | None:
    """Validation: only the planner's steps that can find a problem, with ``problems`` filled in. No
    host records, firewall rulesets or Slurm node lines, and no cables or (without a platform) rail
    addresses: none of them can add a problem. With a Kubernetes platform, what its checks read of the
    plan (:class:`PlatformInputs`: the networks, and counts taken on the drafts as the host records
    would have them); None without one."""
    k8s = stack.platform.kubernetes if stack.platform else None
    # The rail addresses only matter to the platform (the hosts on each rail, whose pod addresses must
    # fit the rail subnet), and they are checked for duplicates as the plan does.
    drafts, _, ceph, _, fabric = _prepare(
        stack, problems, rails=k8s is not None, cabling=False, placed=placed
    )
    security_mod.evaluate(stack, drafts, needed_flows(stack, drafts), problems)
    scheduler_mod.plan_slurm(stack, drafts, problems, full=False)
    if k8s is None:
        return None
    compute = [d for d in drafts if "compute" in d.roles]
    per_host = Counter(len(d.rail_addresses) for d in compute)  # a host's records get one rail each
    most = max(per_host, default=0)
    return PlatformInputs(
        compute=len(compute),
        gpu_hosts=sum(1 for d in compute if d.hw.gpu_count > 0),
        gpus=sum(d.hw.gpu_count for d in compute),
        fabric=fabric is not None,
        networks=_networks(stack, drafts, _interfaces(stack)),
        rail_hosts=tuple(sum(n for k, n in per_host.items() if k > r) for r in range(most)),
        ceph=ceph,
        owned=_owned_gpus(stack, compute),
    )


def _owned_gpus(stack: Stack, compute: list[Draft]) -> dict[str, int]:
    """GPUs of the compute drafts per owning tenant ("" for pools of no tenant), as the host records
    would count them (:func:`dcinfra.plan.platform.kueue.owned_gpus`)."""
    owners = pool_owners(stack)
    out: dict[str, int] = {}
    for d in compute:
        t = owners.get(d.pool.name, "")
        out[t] = out.get(t, 0) + d.hw.gpu_count
    return out


def _build(
    stack: Stack,
    problems: list[Problem],
    *,
    placed: tuple[list[Draft], list[Rack], list[Problem]] | None = None,
) -> Plan | None:
    """The Plan, or None with ``problems`` filled in. ``placed``: as for :func:`_prepare`."""
    drafts, racks, ceph, hdfs, fabric = _prepare(stack, problems, rails=True, cabling=True, placed=placed)
    ifaces = _interfaces(stack)
    security, assignment = security_mod.build(stack, drafts, ifaces, problems)
    attach: dict[tuple[str, int], tuple[str, int]] = {}
    if fabric is not None:
        attach = fabric[1]
    # (interface, HCA) of each rail, once: not once per host and rail (800,000 at 100,000 hosts)
    rail_ifaces = [
        _rail_iface(stack, r) for r in range(max((len(d.rail_addresses) for d in drafts), default=0))
    ]
    owners = pool_owners(stack)  # NodePool.tenant and Tenant.pools merged
    hosts = tuple(_host(stack, d, ifaces, attach, assignment[d.name], rail_ifaces, owners) for d in drafts)
    iso, partitions = security_mod.isolation(stack, hosts, fabric[0].kind if fabric else None)
    security = replace(security, isolation=iso, partitions=partitions)
    networks = _networks(stack, drafts, ifaces)
    in_rack: dict[str, list[Draft]] = {}
    for d in drafts:
        in_rack.setdefault(d.rack, []).append(d)
    rack_plans = tuple(
        RackPlan(
            r.name,
            r.cooling,
            r.power_budget_kw,
            round(sum(d.hw.power_kw for d in in_rack.get(r.name, ())), 3),
            tuple(d.name for d in in_rack.get(r.name, ())),
        )
        for r in racks
    )
    slurm = scheduler_mod.plan_slurm(stack, drafts, problems)
    if problems:
        return None
    return Plan(
        stack=stack.name,
        site=stack.site.capabilities(),
        hosts=hosts,
        racks=rack_plans,
        networks=networks,
        fabric=fabric[0] if fabric else None,
        storage=StoragePlan(ceph=ceph, hdfs=hdfs),
        security=security,
        verify=plan_verify(stack, hosts, fabric[0] if fabric else None, ceph),
        # Unset optional pins (doca_ofed=None) are left out: roles read a missing key as not pinned.
        versions={k: str(v) for k, v in stack.versions.model_dump().items() if v is not None},
        ssh_user=stack.site.ssh_user if isinstance(stack.site, BareMetalSite) else "root",
        rollout=plan_rollout(stack),
        slurm=slurm,
    )


def _plan_fabric(
    stack: Stack, drafts: list[Draft], problems: list[Problem], *, cabling: bool = True
) -> tuple[FabricPlan, dict[tuple[str, int], tuple[str, int]]] | None:
    cf = stack.fabric.compute
    if cf is None:
        return None
    members = [d for d in drafts if d.on_fabric]
    switch = SWITCHES.get(cf.switch.lower())
    if switch is None or not members:
        return None  # unknown switch: reported by checks; no members: nothing to build
    radix = cf.radix or switch.radix
    rails = max(d.hw.rails for d in members)
    try:
        tree = fabric_mod.size_fat_tree(len(members), rails, cf.nodes_per_su, radix, cf.oversubscription)
    except fabric_mod.FabricTooLarge as e:
        problems.append(
            Problem(
                "fabric.compute.switch",
                f"{cf.switch!r} ({radix} ports): {e}",
                "use a higher-radix switch (e.g. 'q3400', 144 ports), raise oversubscription, "
                "or split the cluster into several fabrics",
                "fabric.radix",
            )
        )
        return None
    cables: list[Cable] = []
    attach: dict[tuple[str, int], tuple[str, int]] = {}
    if cabling:  # sizing is all that can fail: the cables are the plan's, never validation's
        names = [_rail_iface(stack, r)[0] for r in range(rails)]
        ports = [(d.name, d.su or 1, names[: d.hw.rails]) for d in members]
        cables, attach = fabric_mod.cabling(ports, rails, cf.nodes_per_su, radix, cf.oversubscription, tree)
    first = members[0].hw
    gpu = GPUS.get(first.gpu) if first.gpu else None
    nic = NICS.get(first.nic or "")
    expected = fabric_mod.expected_bandwidth(
        gpu_count=first.gpu_count,
        nvlink_GBps=gpu.nvlink_GBps if gpu else 0.0,
        pcie_GBps=gpu.pcie_GBps if gpu else 0.0,
        rails=rails,
        line_rate_gbps=min(nic.line_rate_gbps if nic else switch.port_gbps, switch.port_gbps),
        kind=cf.kind,
        oversubscription=cf.oversubscription if tree.tiers > 1 else 1.0,
    )
    su_count = max((d.su or 1) for d in members)
    plan = FabricPlan(
        kind=cf.kind,
        switch=switch.name,
        radix=radix,
        link_gbps=switch.port_gbps,
        rails=rails,
        nodes=len(members),
        nodes_per_su=cf.nodes_per_su,
        scalable_units=su_count,
        oversubscription=cf.oversubscription,
        tiers=tree.tiers,
        switches={"leaf": tree.leaves, "spine": tree.spines, "core": tree.cores},
        cables={"node_leaf": tree.node_leaf, "leaf_spine": tree.leaf_spine, "spine_core": tree.spine_core},
        mtu=cf.effective_mtu,
        expected=expected,
        cabling=tuple(cables),
    )
    return plan, attach


def _host(
    stack: Stack,
    d: Draft,
    ifaces: dict[str, str],
    attach: dict[tuple[str, int], tuple[str, int]],
    firewall: str,
    rail_ifaces: list[tuple[str, str]],
    owners: dict[str, str],
) -> HostPlan:
    rails = []
    prefix = stack.fabric.compute.cidr.prefixlen if stack.fabric.compute else 0
    if d.rail_addresses and stack.fabric.compute is not None:
        subnets = rail_subnets(stack.fabric.compute.cidr, len(d.rail_addresses))
        prefix = subnets[0].prefixlen if subnets else prefix
    for r, addr in enumerate(d.rail_addresses):
        iface, hca = rail_ifaces[r]
        leaf, port = attach.get((d.name, r), ("", 0))
        rails.append(RailNic(r, iface, hca, addr, prefix, leaf, port))
    host_ifaces = {net: ifaces[net] for net in d.addresses if net in ifaces}
    if rails:
        host_ifaces["compute"] = rails[0].interface
    return HostPlan(
        name=d.name,
        pool=d.pool.name,
        index=d.index,
        roles=tuple(sorted(d.roles)),
        rack=d.rack,
        su=d.su,
        addresses=dict(sorted(d.addresses.items())),
        interfaces=dict(sorted(host_ifaces.items())),
        rails=tuple(rails),
        gpu=d.hw.gpu,
        gpu_count=d.hw.gpu_count,
        cpu_cores=d.hw.cpu_cores,
        memory_gb=d.hw.memory_gb,
        power_kw=d.hw.power_kw,
        tenant=owners.get(d.pool.name),
        bmc_address=d.bmc,
        nccl_env=nccl_env(stack, d, tuple(rails), host_ifaces),
        firewall=firewall,
        cooling=d.hw.cooling,
    )


def _networks(stack: Stack, drafts: list[Draft], ifaces: dict[str, str]) -> tuple[NetworkPlan, ...]:
    f = stack.fabric
    out = []
    for name, net in (("management", f.management), ("storage", f.storage)):
        if net is None:
            continue
        gw = str(net.cidr.network_address + 1) if net.gateway else None
        n = sum(1 for d in drafts if name in d.addresses)
        out.append(NetworkPlan(name, str(net.cidr), net.cidr.prefixlen, net.mtu, gw, ifaces[name], n))
    if f.compute is not None:
        # hosts per number of rails: each rail's host count without a pass over the hosts per rail
        per_host = Counter(len(d.rail_addresses) for d in drafts if d.rail_addresses)
        rails = max(per_host, default=0)
        for r, sub in enumerate(rail_subnets(f.compute.cidr, rails) if rails else []):
            out.append(
                NetworkPlan(
                    f"compute-r{r}",
                    str(sub),
                    sub.prefixlen,
                    f.compute.effective_mtu,
                    None,
                    _rail_iface(stack, r)[0],
                    sum(n for k, n in per_host.items() if k > r),
                )
            )
    return tuple(out)


# More problems than this of one rule with one fix are one root cause: the first stands for them all.
FOLD_AFTER = 3


def fold(problems: list[Problem]) -> list[Problem]:
    """``problems`` with each group of more than :data:`FOLD_AFTER` sharing a rule and a fix (the
    same hint) folded into its first, which names how many were suppressed and where the first few
    are. Smaller groups stay as they are: a few distinct mistakes read better one by one."""
    groups: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        if p.hint:
            groups.setdefault((p.rule, p.hint), []).append(p)
    out: list[Problem] = []
    for p in problems:
        group = groups.get((p.rule, p.hint), [])
        if len(group) <= FOLD_AFTER:
            out.append(p)
        elif group[0] is p:
            rest = [q.path for q in group[1:]]
            shown = ", ".join(rest[:3]) + (f" and {len(rest) - 3} more" if len(rest) > 3 else "")
            out.append(replace(p, message=f"{p.message} (and {len(rest)} more like it, suppressed: {shown})"))
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while planning: a 100,000-host stack allocates a few million
    small objects, none of them in reference cycles, and each allocation burst would otherwise set off
    collections that rescan the whole heap (the stack's own objects included), doubling the time.
    Reference counting still frees everything that is dropped; the collector is resumed as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _check(stack: Stack, *, full: bool = True) -> tuple[list[Problem], Plan | None]:
    """Every problem with ``stack``, and its Plan when there are none and ``full`` (else None: validation
    plans only what can find a problem, :func:`_validate_plan`)."""
    with _gc_paused():
        return _check_all(stack, full=full)


def _check_all(stack: Stack, *, full: bool) -> tuple[list[Problem], Plan | None]:
    ctx = Ctx.of(stack)
    gate = check_gates(stack, ctx)
    if gate:
        # Nothing else is checked or planned: every later finding would follow from this one.
        hint = "; the other checks run once the stack fits its site"
        return [replace(p, hint=p.hint + hint) for p in gate], None
    found = check_stack(stack, ctx)
    # Warnings never stop planning: they are kept aside and reported after the errors.
    problems, warnings = errors_of(found), warnings_of(found)
    planner: list[Problem] = []
    # The rules have all run: the planner goes on with the hosts they placed (made once, not twice).
    plan: Plan | None = None
    inputs: PlatformInputs | None = None
    if full:
        plan = _build(stack, planner, placed=ctx.placed())
    else:
        inputs = _validate_plan(stack, planner, placed=ctx.placed())
    seen = {(p.path, p.message) for p in problems}
    problems.extend(p for p in planner if (p.path, p.message) not in seen)
    if not problems:
        # The platform layer is planned on the compiled plan of the others (hosts, rails, Ceph, the host
        # firewall), once: its problems (namespaces, quotas, versions) join the rest. Validation checks
        # it on what it reads of that plan, without planning it.
        if plan is not None:
            plan = replace(plan, platform=plan_platform(stack, plan, problems))
        elif inputs is not None:
            check_platform(stack, inputs, problems)
    if problems:
        return fold(problems) + warnings, None
    return warnings, (replace(plan, warnings=tuple(warnings)) if plan is not None else None)


def validate(stack: Stack) -> list[Problem]:
    """Every problem with ``stack``, from the model-level checks and from planning: the errors, then
    the warnings (``Problem.severity``; :func:`~dcinfra.errors.errors_of` keeps the errors, which alone
    make it invalid). Touches nothing."""
    # Only what can find a problem is planned: no host records, firewall rulesets, cables or platform
    # records, whose building only makes the plan's output (a platform is checked on what it reads).
    return _check(stack, full=False)[0]


def compile_plan(stack: Stack) -> Plan:
    """The Plan for ``stack``; raises :class:`StackInvalid` listing every problem when there is an
    error. Warnings alone do not stop it: they are on the plan (``Plan.warnings``)."""
    problems, plan = _check(stack)
    if errors_of(problems) or plan is None:
        raise StackInvalid(problems)
    return plan
