"""Rules on the security policy (``security``): references between zones, rules, tenants and pools,
duplicate names, tenants owning pools, rule ports, rule networks and the SSH policy.

Rules (``Problem.rule``): ``security.refs``, ``refs.pool``, ``security.duplicate``, ``security.zones``,
``security.tenants``, ``security.ports``, ``security.ssh``, ``network.undeclared``

``refs.pool``: an unknown pool named by a zone or a tenant, reported through the same
:func:`dcinfra.plan.refs.unknown_pool` (one rule id, one hint) as an unknown pool in a placement,
which the planner finds when it resolves placements (:func:`dcinfra.plan.storage.resolve`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dcinfra.errors import Problem
from dcinfra.plan.checks._common import Ctx, declared, dup_names, networks, suggest
from dcinfra.plan.refs import unknown_pool

__all__ = ["check_security"]

# Host roles a security zone may select: the pool roles plus the roles the planner assigns.
KNOWN_ROLES = (
    "ceph-client",
    "ceph-mds",
    "ceph-mgr",
    "ceph-mon",
    "ceph-osd",
    "compute",
    "hdfs-datanode",
    "hdfs-namenode",
    "k8s-control-plane",
    "service",
    "storage",
)


def check_security(ctx: Ctx) -> Iterator[Problem]:
    """References, duplicates, tenants, ports, SSH policy and rule networks."""
    stack = ctx.stack
    sec = stack.security
    pools = list(dict.fromkeys(p.name for p in stack.compute.pools))
    pool_set = set(pools)
    zones = [z.name for z in sec.zones]
    yield from dup_names(zones, lambda i: f"security.zones[{i}].name", "zone", "security.duplicate")
    yield from dup_names(
        (r.name for r in sec.rules), lambda i: f"security.rules[{i}].name", "rule", "security.duplicate"
    )
    yield from dup_names(
        (t.name for t in sec.tenants), lambda i: f"security.tenants[{i}].name", "tenant", "security.duplicate"
    )
    for i, z in enumerate(sec.zones):
        if not z.pools and not z.roles:
            yield Problem(
                f"security.zones[{i}]",
                f"zone {z.name!r} selects no hosts (no pools, no roles)",
                "give pools=[...] or roles=[...]",
                "security.zones",
            )
        for j, p in enumerate(z.pools):
            if p not in pool_set:
                yield unknown_pool(f"security.zones[{i}].pools[{j}]", p, pools, f"zone {z.name!r}")
        for j, role in enumerate(z.roles):
            if role not in KNOWN_ROLES:
                yield Problem(
                    f"security.zones[{i}].roles[{j}]",
                    f"zone {z.name!r} names unknown role {role!r}",
                    f"{suggest(role, KNOWN_ROLES)}roles: {', '.join(KNOWN_ROLES)}",
                    "security.refs",
                )
    known_zones = [*dict.fromkeys(zones), "any"]
    for i, r in enumerate(sec.rules):
        for side in ("src", "dst"):
            zone = getattr(r, side)
            if zone not in known_zones:
                yield Problem(
                    f"security.rules[{i}].{side}",
                    f"rule {r.name!r} names unknown zone {zone!r}",
                    f"{suggest(zone, known_zones)}zones: {', '.join(known_zones)}",
                    "security.refs",
                )
        if r.network is not None and not declared(stack, r.network):
            yield Problem(
                f"security.rules[{i}].network",
                f"rule {r.name!r} is limited to network {r.network!r}, "
                "which the fabric does not declare: it can never match",
                f"use a declared network ({', '.join(n for n, *_ in networks(stack))}) or None",
                "network.undeclared",
            )
        yield from _ports(i, r.name, r.protocol, r.ports)
    yield from _tenants(ctx)
    if not sec.ssh.keys_only:
        yield Problem(
            "security.ssh.keys_only",
            "keys_only=False would enable password authentication",
            "dcinfra never enables SSH passwords: set keys_only=True and distribute keys",
            "security.ssh",
        )


def _ports(i: int, name: str, protocol: str, ports: Sequence[int | str]) -> Iterator[Problem]:
    if ports and protocol in ("icmp", "any"):
        yield Problem(
            f"security.rules[{i}].ports",
            f"rule {name!r} gives ports {list(ports)!r} with protocol={protocol!r}, which has no ports",
            "set protocol='tcp' or 'udp', or remove ports",
            "security.ports",
        )
        return
    for j, port in enumerate(ports):
        if not _port_ok(port):
            yield Problem(
                f"security.rules[{i}].ports[{j}]",
                f"rule {name!r} port {port!r} is not a port or range",
                "use an integer 1-65535 or a range 'a-b' with 1 <= a <= b <= 65535",
                "security.ports",
            )


def _port_ok(port: object) -> bool:
    if isinstance(port, bool):
        return False
    if isinstance(port, int):
        return 1 <= port <= 65535
    if not isinstance(port, str):
        return False
    lo, sep, hi = port.partition("-")
    # ASCII digits only: str.isdigit() and int() also take '٥٥٠', which nftables would not
    if not (lo.isascii() and lo.isdigit()) or (sep and not (hi.isascii() and hi.isdigit())):
        return False
    a, b = int(lo), int(hi) if sep else int(lo)
    return 1 <= a <= b <= 65535


def _tenants(ctx: Ctx) -> Iterator[Problem]:
    """Pool ownership, merged from ``security.tenants`` and ``NodePool.tenant`` (one fact, two places
    it may be written): a pool owned twice, the two places disagreeing, a tenant owning nothing."""
    sec = ctx.stack.security
    pools = list(dict.fromkeys(p.name for p in ctx.stack.compute.pools))
    owner: dict[str, tuple[str, str]] = {}  # pool -> (tenant, the path that says so)
    for i, t in enumerate(sec.tenants):
        for j, p in enumerate(t.pools):
            path = f"security.tenants[{i}].pools[{j}]"
            if p not in pools:
                yield unknown_pool(path, p, pools, f"tenant {t.name!r}")
            elif p in owner and owner[p][0] != t.name:
                yield Problem(
                    path,
                    f"pool {p!r} is owned by tenant {owner[p][0]!r} ({owner[p][1]}) and tenant {t.name!r}",
                    "give each pool one tenant",
                    "security.tenants",
                )
            owner.setdefault(p, (t.name, path))
    effective: set[str] = {t for t, _ in owner.values()}
    for i, pool in enumerate(ctx.stack.compute.pools):
        if pool.tenant is None:
            continue
        effective.add(pool.tenant)
        listed = owner.get(pool.name)
        if listed is not None and listed[0] != pool.tenant:
            yield Problem(
                f"compute.pools[{i}].tenant",
                f"pool {pool.name!r} says tenant={pool.tenant!r} but {listed[1]} gives it to tenant "
                f"{listed[0]!r}",
                "a pool's tenant is one fact: declare it in one place (NodePool.tenant or Tenant.pools), "
                "or make both say the same tenant",
                "security.tenants",
            )
    for i, t in enumerate(sec.tenants):
        if t.name not in effective:
            yield Problem(
                f"security.tenants[{i}]",
                f"tenant {t.name!r} owns no pool: it lists no pools and no pool says tenant={t.name!r}",
                f"give it pools=[...] (pools: {', '.join(pools)}), set tenant={t.name!r} on its pools, "
                "or remove it",
                "security.tenants",
            )
    # A declared tenant that owns nothing is reported above: counting it here keeps that one problem.
    if sec.tenant_isolation and len(effective | {t.name for t in sec.tenants}) < 2:
        yield Problem(
            "security.tenant_isolation",
            f"tenant_isolation=True with {len(effective)} tenant(s) owning pools: it isolates nothing",
            "declare at least two tenants with pools, or set tenant_isolation=False",
            "security.tenants",
        )
