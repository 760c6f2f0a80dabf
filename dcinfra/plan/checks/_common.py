"""What several rule families share: the per-call context (:class:`Ctx`) and small helpers over the
stack's networks, pools and names.

Nothing here reports a problem of its own; the helpers that yield problems (:func:`dup_names`,
:func:`unattached`) take the rule id from the family that calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from dcinfra.catalog import closest
from dcinfra.catalog.sites import SiteCapabilities
from dcinfra.errors import Problem
from dcinfra.model.compute import NodePool
from dcinfra.model.stack import Stack
from dcinfra.model.storage import Placement
from dcinfra.plan.hosts import Draft, Hw, make_hosts, place, resolve_hardware
from dcinfra.plan.storage import resolve

__all__ = [
    "Check",
    "Ctx",
    "declared",
    "dup_names",
    "hw_path",
    "mtu_of",
    "networks",
    "pow2",
    "suggest",
    "unattached",
]


@dataclass(slots=True)
class Ctx:
    """What several rules need, computed once per :func:`~dcinfra.plan.checks.check_stack` call."""

    stack: Stack
    site: SiteCapabilities  # what the site can do; rules read this, never the site's kind
    hw: list[Hw | None]  # per compute pool, as the planner resolves it (None: unresolvable)
    _drafts: list[Draft] | None = field(default=None)

    @classmethod
    def of(cls, stack: Stack) -> Ctx:
        """The context of one ``stack``: its site's capabilities and each pool's hardware."""
        scratch: list[Problem] = []
        # The planner reports hardware problems itself (and plans with a best guess); None is tolerated
        # so that a pool whose hardware cannot be resolved at all is simply skipped by the rules.
        hw: list[Hw | None] = [
            resolve_hardware(p, f"compute.pools[{i}].hardware", scratch)
            for i, p in enumerate(stack.compute.pools)
        ]
        return cls(stack, stack.site.capabilities(), hw)

    @property
    def drafts(self) -> list[Draft]:
        """Throwaway placed hosts (the planner builds its own); only built when a rule needs them."""
        if self._drafts is None:
            scratch: list[Problem] = []  # the planner reports these itself
            drafts = make_hosts(self.stack, scratch)
            place(self.stack, drafts, scratch)
            self._drafts = drafts
        return self._drafts

    def select(self, placement: Placement) -> list[Draft]:
        """Hosts a placement resolves to (unknown names are the planner's to report)."""
        return resolve(placement, "", self.drafts, [])

    def fabric_pools(self) -> list[tuple[int, NodePool, Hw]]:
        """Pools whose hosts join the compute fabric: role ``compute`` and rails > 0."""
        return [
            (i, pool, hw)
            for i, (pool, hw) in enumerate(zip(self.stack.compute.pools, self.hw, strict=True))
            if hw is not None and "compute" in pool.roles and hw.rails > 0
        ]


# One rule family: every problem of its rules, in declaration order.
Check = Callable[[Ctx], Iterator[Problem]]


def hw_path(pool: NodePool, index: int, name: str) -> str:
    """Where a hardware value comes from: the pool's own field, else its profile."""
    base = f"compute.pools[{index}].hardware"
    if getattr(pool.hardware, name) is None and pool.hardware.profile is not None:
        return f"{base}.profile"
    return f"{base}.{name}"


def networks(stack: Stack) -> list[tuple[str, str, IPv4Network, int]]:
    """(name, path, cidr, host MTU) of every declared network."""
    f = stack.fabric
    out = [("management", "fabric.management", f.management.cidr, f.management.mtu)]
    if f.storage is not None:
        out.append(("storage", "fabric.storage", f.storage.cidr, f.storage.mtu))
    if f.compute is not None:
        out.append(("compute", "fabric.compute", f.compute.cidr, f.compute.effective_mtu))
    return out


def mtu_of(stack: Stack, network: str) -> int | None:
    """Host MTU of a network by name; None when it is not declared."""
    return next((mtu for name, _, _, mtu in networks(stack) if name == network), None)


def declared(stack: Stack, network: str) -> bool:
    """Whether the fabric declares the network called ``network``."""
    return mtu_of(stack, network) is not None


def _attached(stack: Stack, d: Draft, network: str) -> bool:
    """Whether the planner gives ``d`` an address on ``network`` (see hosts.assign_addresses)."""
    if network == "management":
        return True
    if network == "storage":
        return stack.fabric.storage is not None and bool(d.roles & {"storage", "compute"})
    return stack.fabric.compute is not None and d.on_fabric


ATTACH_HINT = {
    "storage": "the storage network attaches hosts with role 'storage' or 'compute'",
    "compute": "the compute fabric attaches only hosts with role 'compute' and rails > 0",
}


def unattached(
    stack: Stack, hosts: Sequence[Draft], network: str, path: str, what: str, setting: str, rule: str
) -> Iterator[Problem]:
    """One problem naming the pools whose hosts in ``hosts`` have no address on ``network``."""
    missing = [d for d in hosts if not _attached(stack, d, network)]
    if not missing:
        return
    pools = list(dict.fromkeys(d.pool.name for d in missing))
    shown = ", ".join(d.name for d in missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    )
    yield Problem(
        path,
        f"{what} ({shown}; pool {', '.join(repr(p) for p in pools)}): no address on the {network!r} "
        f"network ({setting}={network!r})",
        f"{ATTACH_HINT.get(network, '')}: give the pool that role, place them on attached hosts, or set "
        f"{setting} to a network they are on (e.g. 'management')",
        rule,
    )


def dup_names(names: Iterable[str], path: Callable[[int], str], what: str, rule: str) -> Iterator[Problem]:
    """A problem for each name seen before, pointing at the later one."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            yield Problem(
                path(i),
                f"duplicate {what} {name!r} (first at index {first[name]})",
                f"give each {what} a unique name",
                rule,
            )
        else:
            first[name] = i


def suggest(value: str, known: Sequence[str]) -> str:
    """``did you mean ...? `` for the closest known names, or nothing."""
    near = closest(value, list(known))
    return f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""


def pow2(n: int) -> bool:
    """Whether ``n`` is a positive power of two."""
    return n > 0 and n & (n - 1) == 0
