"""Hosts: hardware resolution, hostnames, rack placement, and addresses on every network."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dcinfra.catalog import GPUS, NICS, NODE_PROFILES, closest
from dcinfra.errors import Problem
from dcinfra.model.compute import NodePool, Rack
from dcinfra.model.stack import Stack

FIRST_HOST_OFFSET = 10  # .1 gateway, .2-.9 kept for services and virtual IPs


@dataclass(frozen=True, slots=True)
class Hw:
    """A pool's hardware with the profile and overrides merged."""

    gpu: str | None
    gpu_count: int
    nic: str | None
    rails: int
    cpu_cores: int
    memory_gb: int
    power_kw: float
    cooling: str
    sockets: int = 1
    threads_per_core: int = 1


@dataclass(slots=True)
class Draft:
    """A host while the planner builds it."""

    name: str
    pool: NodePool
    pool_index: int  # index of the pool in compute.pools
    index: int  # 1-based within the pool
    hw: Hw
    roles: set[str]
    rack: str = ""
    su: int | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    rail_addresses: list[str] = field(default_factory=list)
    bmc: str | None = None

    @property
    def on_fabric(self) -> bool:
        """Joins the compute fabric."""
        return "compute" in self.roles and self.hw.rails > 0


def unknown(kind: str, path: str, value: str, known: list[str]) -> Problem:
    """A problem for a name missing from the catalog, suggesting the closest ones."""
    near = closest(value, known)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    return Problem(path, f"unknown {kind} {value!r}", f"{hint}known: {', '.join(known)}", "catalog.unknown")


def resolve_hardware(pool: NodePool, path: str, problems: list[Problem]) -> Hw:
    """Merge the catalog profile with the pool's overrides.

    Problems are reported, but planning goes on with a best guess (the closest profile, the name as
    given) so that one typo does not set off a cascade of follow-on problems about the same pool."""
    h = pool.hardware
    base = None
    if h.profile is not None:
        base = NODE_PROFILES.get(h.profile.lower())
        if base is None:
            problems.append(unknown("node profile", f"{path}.profile", h.profile, sorted(NODE_PROFILES)))
            near = closest(h.profile, sorted(NODE_PROFILES))
            base = NODE_PROFILES[near[0]] if near else None
    gpu = h.gpu if h.gpu is not None else (base.gpu if base else None)
    if gpu is not None and gpu.lower() == "none":
        gpu = None
    if gpu is not None and gpu.lower() not in GPUS:
        problems.append(unknown("GPU", f"{path}.gpu", gpu, [*sorted(GPUS), "none"]))
    nic = h.compute_nic if h.compute_nic is not None else (base.compute_nic if base else None)
    if nic is not None and nic.lower() not in NICS:
        problems.append(unknown("NIC", f"{path}.compute_nic", nic, sorted(NICS)))
    missing: list[str] = []

    def pick(name: str, own: object, default: object) -> object:
        if own is not None:
            return own
        if default is None:
            missing.append(name)
        return default

    gpu_count = pick("gpu_count", h.gpu_count, base.gpu_count if base else (0 if gpu is None else None))
    rails = pick("rails", h.rails, base.rails if base else (0 if nic is None else None))
    cores = pick("cpu_cores", h.cpu_cores, base.cpu_cores if base else None)
    mem = pick("memory_gb", h.memory_gb, base.memory_gb if base else None)
    power = pick("power_kw", h.power_kw, base.power_kw if base else None)
    if missing:
        problems.append(
            Problem(
                path,
                f"hardware without a profile is missing {', '.join(missing)}",
                "set profile= to a catalog node profile (`dcinfra catalog`) or give every field",
                "hardware.incomplete",
            )
        )
        gpu_count = gpu_count if gpu_count is not None else 0
        rails = rails if rails is not None else 0
        cores = cores if cores is not None else 1
        mem = mem if mem is not None else 1
        power = power if power is not None else 0.0
    assert isinstance(gpu_count, int) and isinstance(rails, int) and isinstance(cores, int)
    assert isinstance(mem, int) and isinstance(power, int | float)
    if gpu is None and gpu_count:
        problems.append(
            Problem(
                f"{path}.gpu_count",
                f"gpu_count={gpu_count} on a node without a GPU model",
                "set gpu= to a catalog GPU or gpu_count=0",
                "hardware.gpu",
            )
        )
    if gpu is not None and gpu_count == 0:
        problems.append(
            Problem(
                f"{path}.gpu",
                f"GPU model {gpu!r} with gpu_count=0",
                "set gpu_count to the GPUs per node or gpu='none'",
                "hardware.gpu",
            )
        )
    if rails and nic is None:
        problems.append(
            Problem(
                f"{path}.compute_nic",
                f"rails={rails} but no compute NIC model",
                "set compute_nic= to a catalog NIC, e.g. 'connectx-7-ndr'",
                "hardware.nic",
            )
        )
    spec = GPUS.get(gpu.lower()) if gpu else None
    if gpu and spec is not None and gpu_count and power < gpu_count * spec.tdp_w / 1000:
        gpus_kw = gpu_count * spec.tdp_w / 1000
        problems.append(
            Problem(
                f"{path}.power_kw",
                f"power_kw={power:g} is below what the node's GPUs alone draw: {gpu_count} x "
                f"{spec.tdp_w} W ({gpu.lower()} TDP) = {gpus_kw:g} kW",
                "power_kw is the node's maximum system power (GPUs, CPUs, NICs, fans), what a rack budget "
                f"must hold: give at least {gpus_kw:g} kW plus the rest of the node, or leave it to the "
                "catalog profile",
                "hardware.power",
            )
        )
    cooling = "liquid" if (h.cooling == "liquid") else "air"
    sockets = h.sockets or (base.sockets if base else 1)
    threads = h.threads_per_core or (base.threads_per_core if base else 1)
    if cores % sockets:
        problems.append(
            Problem(
                f"{path}.sockets",
                f"{cores} CPU cores do not split evenly across {sockets} sockets",
                "cpu_cores is every core of the node, all sockets: give a multiple of sockets",
                "hardware.sockets",
            )
        )
        sockets = 1
    return Hw(
        gpu.lower() if gpu else None,
        gpu_count,
        nic.lower() if nic else None,
        rails,
        cores,
        mem,
        float(power),
        cooling,
        sockets,
        threads,
    )


def pool_owners(stack: Stack) -> dict[str, str]:
    """Pool -> the tenant owning it: the pool's own ``tenant``, else the ``security.tenants`` entry
    listing it (what the security compiler and the Slurm accounts both go by)."""
    owner = {p: t.name for t in stack.security.tenants for p in t.pools}
    for pool in stack.compute.pools:
        if pool.tenant is not None:
            owner[pool.name] = pool.tenant
    return owner


def hostname(pool: NodePool, index: int) -> str:
    """``<prefix>-<nnn>``: zero-padded to at least 3 digits (4 for pools of 1,000 or more)."""
    width = max(3, len(str(pool.count)))
    return f"{pool.hostname_prefix or pool.name}-{index:0{width}d}"


def make_hosts(stack: Stack, problems: list[Problem]) -> list[Draft]:
    """One draft per node, in pool order; duplicate hostnames are reported."""
    drafts: list[Draft] = []
    seen: dict[str, str] = {}
    pool_names: dict[str, int] = {}
    for pi, pool in enumerate(stack.compute.pools):
        path = f"compute.pools[{pi}]"
        if pool.name in pool_names:
            problems.append(
                Problem(
                    f"{path}.name",
                    f"duplicate pool name {pool.name!r} (also compute.pools[{pool_names[pool.name]}])",
                    "give each pool a unique name",
                    "names.duplicate",
                )
            )
        pool_names.setdefault(pool.name, pi)
        hw = resolve_hardware(pool, f"{path}.hardware", problems)
        prefix, width = pool.hostname_prefix or pool.name, max(3, len(str(pool.count)))  # as hostname()
        roles: set[str] = set(pool.roles)
        for i in range(1, pool.count + 1):
            name = f"{prefix}-{i:0{width}d}"
            if name in seen:
                if i == 1:
                    problems.append(
                        Problem(
                            f"{path}.hostname_prefix",
                            f"hostname {name!r} is also planned by {seen[name]}",
                            "set a distinct hostname_prefix on one of the pools",
                            "hosts.duplicate",
                        )
                    )
                continue
            seen[name] = path
            drafts.append(Draft(name, pool, pi, i, hw, roles.copy()))
    return drafts


def _rack_fits(rack: Rack, power: dict[str, float], count: dict[str, int], hw: Hw) -> bool:
    if rack.max_nodes is not None and count[rack.name] >= rack.max_nodes:
        return False
    if rack.power_budget_kw is not None and power[rack.name] + hw.power_kw > rack.power_budget_kw + 1e-9:
        return False
    return not (hw.cooling == "liquid" and rack.cooling != "liquid")


def _why_full(rack: Rack, power: dict[str, float], count: dict[str, int], hw: Hw) -> str:
    """The constraint that keeps one more such node out of ``rack``, with its numbers."""
    if hw.cooling == "liquid" and rack.cooling != "liquid":
        return f"rack {rack.name!r} is {rack.cooling}-cooled, the nodes need liquid cooling"
    if rack.max_nodes is not None and count[rack.name] >= rack.max_nodes:
        return f"rack {rack.name!r} holds its max_nodes={rack.max_nodes}"
    budget = rack.power_budget_kw or 0.0
    n = count[rack.name]
    return (
        f"rack {rack.name!r}: {power[rack.name]:.1f} kW placed ({n} nodes) + {hw.power_kw:g} kW "
        f"= {power[rack.name] + hw.power_kw:.1f} kW > {budget:g} kW budget"
    )


def place(stack: Stack, drafts: list[Draft], problems: list[Problem]) -> list[Rack]:
    """Put every host in a rack: a pool's ``racks`` in order (``nodes_per_rack`` each, or as the budget
    allows), else the first rack with budget, space and the right cooling."""
    racks = list(stack.racks) or [Rack(name="rack-1")]
    by_name: dict[str, Rack] = {}
    for i, r in enumerate(racks):
        if r.name not in by_name:
            by_name[r.name] = r
        else:
            problems.append(
                Problem(
                    f"racks[{i}].name",
                    f"duplicate rack name {r.name!r}",
                    "give each rack a unique name",
                    "names.duplicate",
                )
            )
    power = dict.fromkeys(by_name, 0.0)
    count = dict.fromkeys(by_name, 0)
    unplaced: dict[int, int] = {}
    why: dict[int, list[str]] = {}  # pool index -> why its first unplaced node fits nowhere
    for pi, pool in enumerate(stack.compute.pools):
        for ri, rname in enumerate(pool.racks):
            if rname not in by_name:
                near = closest(rname, sorted(by_name))
                problems.append(
                    Problem(
                        f"compute.pools[{pi}].racks[{ri}]",
                        f"unknown rack {rname!r}",
                        (f"did you mean {near[0]!r}? " if near else "")
                        + f"declared racks: {', '.join(sorted(by_name)) or 'none'}",
                        "racks.unknown",
                    )
                )
    chosen_by_pool = {pi: [r for r in p.racks if r in by_name] for pi, p in enumerate(stack.compute.pools)}
    for d in drafts:
        pool = d.pool
        before = sum(unplaced.values())
        if pool.racks:
            chosen = chosen_by_pool[d.pool_index]
            if not chosen:
                d.rack = racks[0].name
                continue
            if pool.nodes_per_rack is not None:
                slot = (d.index - 1) // pool.nodes_per_rack
                if slot < len(chosen):
                    d.rack = chosen[slot]
                else:
                    unplaced[d.pool_index] = unplaced.get(d.pool_index, 0) + 1
                    d.rack = chosen[-1]
            else:
                target = next((r for r in chosen if _rack_fits(by_name[r], power, count, d.hw)), None)
                if target is None:
                    unplaced[d.pool_index] = unplaced.get(d.pool_index, 0) + 1
                    if d.pool_index not in why:
                        why[d.pool_index] = [
                            _why_full(by_name[r], power, count, d.hw) for r in dict.fromkeys(chosen)
                        ]
                    target = chosen[-1]
                d.rack = target
        else:
            fit = next((r.name for r in racks if _rack_fits(r, power, count, d.hw)), None)
            if fit is None:
                unplaced[d.pool_index] = unplaced.get(d.pool_index, 0) + 1
                if d.pool_index not in why:
                    why[d.pool_index] = [_why_full(r, power, count, d.hw) for r in by_name.values()]
                fit = racks[-1].name
            d.rack = fit
        if sum(unplaced.values()) == before:
            # Overflow nodes are reported once (racks.capacity) and not counted against the
            # fallback rack, which would only add a second, misleading over-budget problem.
            power[d.rack] += d.hw.power_kw
            count[d.rack] += 1
    for pi, n in sorted(unplaced.items()):
        pool = stack.compute.pools[pi]
        if pool.racks and pool.nodes_per_rack is not None:
            cap = len(pool.racks) * pool.nodes_per_rack
            problems.append(
                Problem(
                    f"compute.pools[{pi}].racks",
                    f"{pool.count} nodes of pool {pool.name!r} but "
                    f"{len(pool.racks)} racks x nodes_per_rack={pool.nodes_per_rack} hold {cap}",
                    "add racks to the pool or raise nodes_per_rack",
                    "racks.capacity",
                )
            )
        else:
            reasons = why.get(pi, [])
            shown = "; ".join(reasons[:4]) + (
                f"; and {len(reasons) - 4} more racks" if len(reasons) > 4 else ""
            )
            problems.append(
                Problem(
                    f"compute.pools[{pi}]",
                    f"{n} of {pool.count} nodes of pool {pool.name!r} fit in no rack: {shown}",
                    "add racks, raise power_budget_kw or max_nodes, or use liquid racks for "
                    "liquid-cooled nodes",
                    "racks.capacity",
                )
            )
    liquid_pools: dict[str, set[str]] = {}
    for d in drafts:
        if d.hw.cooling == "liquid":
            liquid_pools.setdefault(d.rack, set()).add(d.pool.name)
    for i, r in enumerate(racks):
        if r.power_budget_kw is not None and power[r.name] > r.power_budget_kw + 1e-9:
            problems.append(
                Problem(
                    f"racks[{i}].power_budget_kw",
                    f"rack {r.name!r} draws {power[r.name]:.1f} kW "
                    f"({count[r.name]} nodes) over its budget of {r.power_budget_kw:g} kW",
                    f"raise the budget to at least {math.ceil(power[r.name])} kW or place fewer "
                    "nodes in it (nodes_per_rack)",
                    "racks.power",
                )
            )
        if r.max_nodes is not None and count[r.name] > r.max_nodes:
            problems.append(
                Problem(
                    f"racks[{i}].max_nodes",
                    f"rack {r.name!r} holds {count[r.name]} nodes, more than max_nodes={r.max_nodes}",
                    "spread the pool over more racks",
                    "racks.space",
                )
            )
        liquid = sorted(liquid_pools.get(r.name, ()))
        if liquid and r.cooling != "liquid":
            problems.append(
                Problem(
                    f"racks[{i}].cooling",
                    f"air-cooled rack {r.name!r} holds liquid-cooled nodes of pool(s) {', '.join(liquid)}",
                    "set cooling='liquid' on the rack or move the pool",
                    "racks.cooling",
                )
            )
    return racks
