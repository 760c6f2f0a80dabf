"""Security: the flows the stack needs, their verdicts under the policy, and per-host input rulesets.

Semantics (also what nftables does with the rendered ruleset): for a connection from host A to host B,
the first matching entry decides, in this order:

1. tenant isolation: A and B belong to different tenants -> drop;
2. the stack's rules, in order;
3. the flows the stack needs (when ``allow_required_flows``) -> accept;
4. the default (drop or accept).

A needed flow that entry 1 or 2 drops, or that only the default would decide under default deny
(with ``allow_required_flows=False``), is a validation problem naming what decided it, the flow, and the
fix for that cause (no rule can open what isolation drops: isolation comes first).

With tenant isolation the layers declare their host-to-host flows per tenant (the benchmark's
``bench-*-<tenant>``, Slurm's ``slurmd-<tenant>``), so none needs to cross tenants; shared services run
on pools of no tenant, which isolation leaves alone. :func:`isolation` states per network how tenants
are kept apart: nftables for IP; for RDMA, which bypasses nftables, InfiniBand partitions (one PKey per
tenant) or, on RoCE, a plain statement that dcinfra does not isolate it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dcinfra.errors import Problem
from dcinfra.model.security import Rule
from dcinfra.model.stack import Stack
from dcinfra.plan.addresses import covering_cidrs
from dcinfra.plan.flows import Need
from dcinfra.plan.hosts import Draft, pool_owners
from dcinfra.plan.registry import needed_flows
from dcinfra.plan.types import (
    FirewallRule,
    Flow,
    HostPlan,
    IbPartition,
    NetworkIsolation,
    SecurityPlan,
)


def _port_range(p: int | str) -> tuple[int, int]:
    """(first, last) of a port or range; a malformed one (reported by checks) matches nothing."""
    s = str(p)
    try:
        if "-" in s:
            a, b = s.split("-", 1)
            return int(a), int(b)
        return int(s), int(s)
    except ValueError:
        return 1, 0


def _covers(rule_ports: Sequence[int | str], flow_ports: Sequence[str]) -> bool:
    """A rule matches a flow's connection when some of the flow's ports fall in the rule's ports."""
    if not rule_ports:
        return True
    if not flow_ports:
        return True  # a flow over any port includes the rule's ports
    rr = [_port_range(p) for p in rule_ports]
    return any(a <= fb and fa <= b for fa, fb in (_port_range(p) for p in flow_ports) for a, b in rr)


class Policy:
    """The stack's security policy resolved against the planned hosts."""

    def __init__(self, stack: Stack, drafts: Sequence[Draft]) -> None:
        self.stack = stack
        self.sec = stack.security
        self.drafts = {d.name: d for d in drafts}
        self.zones: dict[str, frozenset[str]] = {}
        for z in self.sec.zones:
            pools, roles = set(z.pools), set(z.roles)
            self.zones[z.name] = frozenset(
                d.name for d in drafts if d.pool.name in pools or not roles.isdisjoint(d.roles)
            )
        owner = pool_owners(stack)
        self.tenant: dict[str, str | None] = {d.name: owner.get(d.pool.name) for d in drafts}

    def members(self, zone: str) -> frozenset[str] | None:
        """Hosts of a zone; None for ``any``."""
        return None if zone == "any" else self.zones.get(zone, frozenset())

    def _matches(self, rule: Rule, src: str | None, dst: str, flow: Need) -> bool:
        if rule.network is not None and rule.network != flow.network:
            return False
        if rule.protocol not in ("any", flow.protocol):
            return False
        if not _covers(rule.ports, flow.ports):
            return False
        s = self.members(rule.src)
        if s is not None and (src is None or src not in s):
            return False
        d = self.members(rule.dst)
        return d is None or dst in d

    def decide(self, flow: Need, src: str | None, dst: str) -> tuple[bool, str]:
        """(allowed, what decided) for one connection of ``flow`` from ``src`` (None: an outside CIDR)."""
        if self.sec.tenant_isolation and src is not None:
            ts, td = self.tenant.get(src), self.tenant.get(dst)
            if ts and td and ts != td:
                return False, f"security.tenant_isolation (tenant {ts!r} -> tenant {td!r})"
        for i, rule in enumerate(self.sec.rules):
            if self._matches(rule, src, dst, flow):
                return rule.action == "allow", f"security.rules[{i}] {rule.name!r}"
        if self.sec.allow_required_flows:
            return True, "required flow"
        return self.sec.default == "allow", f"security.default={self.sec.default!r}"

    def signature(self, host: str) -> tuple[frozenset[str], str | None]:
        """What the policy can tell a host by: its zones and tenant."""
        return frozenset(z for z, m in self.zones.items() if host in m), self.tenant.get(host)

    def signatures(self) -> dict[str, tuple[frozenset[str], str | None]]:
        """:meth:`signature` of every planned host. Zones select by pool and role and tenants own
        pools, so hosts of one pool with the same zone-relevant roles share a signature: it is worked
        out once per such group, not once per host (a 100,000-host stack has a handful)."""
        zone_roles = frozenset(r for z in self.sec.zones for r in z.roles)
        by_group: dict[tuple[str, frozenset[str]], tuple[frozenset[str], str | None]] = {}
        out: dict[str, tuple[frozenset[str], str | None]] = {}
        for name, d in self.drafts.items():
            key = (d.pool.name, zone_roles.intersection(d.roles) if zone_roles else zone_roles)
            sig = by_group.get(key)
            if sig is None:
                sig = by_group[key] = self.signature(name)
            out[name] = sig
        return out


def evaluate(
    stack: Stack, drafts: Sequence[Draft], needs: Sequence[Need], problems: list[Problem]
) -> list[Flow]:
    """Verdict per needed flow; a blocked one is a problem naming the rule and the flow."""
    policy = Policy(stack, drafts)
    # Each host's signature and the hosts' sorted order once, not once per flow (7 flows x 100,000
    # hosts otherwise).
    sig = policy.signatures()
    names = sorted(sig)
    # Layers share host sets (every host, the compute hosts): each set's representatives once.
    memo: dict[tuple[frozenset[str], bool], dict[object, str]] = {}

    def representatives(hosts: frozenset[str], *, last: bool) -> dict[object, str]:
        """Signature -> its first host in name order (its last with ``last``), in that host's order
        (descending with ``last``); the caller may not change it."""
        key = (hosts, last)
        if key not in memo:
            memo[key] = _representatives(hosts, last=last)
        return memo[key]

    def _representatives(hosts: frozenset[str], *, last: bool) -> dict[object, str]:
        """:func:`representatives` worked out. For planned hosts the work runs in C (map, zip, dict),
        not in a Python loop per host."""
        if not hosts.issubset(sig):  # a host the plan does not have: the plain way
            out: dict[object, str] = {}
            for h in sorted(hosts, reverse=last):
                out.setdefault(policy.signature(h), h)
            return out
        if len(hosts) == len(names):  # every planned host
            ordered = names
        else:
            ordered = [h for h in names if h in hosts] if len(hosts) >= 64 else sorted(hosts)
        keys = list(map(sig.__getitem__, ordered))
        # dict() keeps the last value per key: reversed, that is each signature's first host.
        pick = (
            dict(zip(keys, ordered, strict=True))
            if last
            else dict(zip(reversed(keys), reversed(ordered), strict=True))
        )
        return dict(sorted(pick.items(), key=lambda kv: kv[1], reverse=last))

    flows = []
    for need in needs:
        # Hosts with the same zones and tenant get the same verdict: one representative per signature.
        srcs: dict[object, str | None] = dict(representatives(need.src, last=False))
        if not need.src:
            srcs[None] = None  # sources outside the plan (a CIDR)
        # The last host first: rarely the source example.
        dsts: dict[object, str] = representatives(need.dst, last=True)
        blocked: tuple[str, str | None, str] | None = None
        deciders: set[str] = set()
        # Port by port, so a rule that covers only part of a flow is judged on that part.
        for port in need.ports or ("",):
            one = replace(need, ports=(port,) if port else ())
            for src_host in srcs.values():
                for dst_host in dsts.values():
                    ok, why = policy.decide(one, src_host, dst_host)
                    deciders.add(why)
                    if not ok and blocked is None:
                        blocked = (why, src_host, dst_host)
        if blocked is not None:
            why, src_host, dst_host = blocked
            ports = ",".join(need.ports) or "all ports"
            example = f"{src_host or need.src_cidrs[0]} -> {dst_host}"
            problems.append(
                Problem(
                    why.split(" ", 1)[0],
                    f"blocks flow {need.name!r} ({need.protocol}/{ports} from {need.src_desc} to "
                    f"{need.dst_desc} on the {need.network} network), e.g. {example}; decided by {why}",
                    _blocked_hint(policy, why, src_host, dst_host),
                    "security.blocks-flow",
                )
            )
        flows.append(
            Flow(
                need.name,
                need.src_desc,
                need.dst_desc,
                need.protocol,
                need.ports,
                need.network,
                "; ".join(sorted(deciders)) if blocked is None else blocked[0],
                blocked is None,
                need.layer,
                need.scope,
            )
        )
    return flows


def _blocked_hint(policy: Policy, why: str, src: str | None, dst: str) -> str:
    """How to unblock a needed flow, by what blocked it (each cause has its own fix)."""
    if why.startswith("security.tenant_isolation"):
        sides = [h for h in (src, dst) if h is not None and policy.tenant.get(h)]
        owned = ", ".join(f"pool {policy.drafts[h].pool.name!r} (tenant {policy.tenant[h]!r})" for h in sides)
        return (
            "tenant isolation drops traffic between tenants before any rule, so no rule and no "
            "allow_required_flows can open it; this flow crosses tenants: shared services belong to "
            f"no tenant, so take the serving side out of its tenant ({owned}), put both pools in one "
            "tenant, or set tenant_isolation=False"
        )
    if why.startswith("security.rules"):
        return (
            "the stack needs this flow: narrow or reorder the rule, or allow the flow with a rule "
            "placed before it"
        )
    return (
        "the stack needs this flow and only the default decides it: set allow_required_flows=True, "
        "or allow it with a rule"
    )


def compile_rulesets(
    stack: Stack, drafts: Sequence[Draft], needs: Sequence[Need], interfaces: dict[str, str]
) -> tuple[dict[str, tuple[FirewallRule, ...]], dict[str, str]]:
    """Input-chain rules per distinct host kind, and host -> ruleset key."""
    policy = Policy(stack, drafts)
    sec = stack.security
    cache: dict[tuple[frozenset[str] | None, str | None], tuple[str, ...]] = {}

    def sources(hosts: frozenset[str] | None, network: str | None) -> tuple[str, ...]:
        key = (hosts, network)
        if key not in cache:
            if hosts is None:
                cache[key] = ()
            else:
                addrs: list[str] = []
                for h in sorted(hosts):
                    d = policy.drafts[h]
                    if network is None:
                        addrs.extend(d.addresses.values())
                        addrs.extend(d.rail_addresses)
                    elif network == "compute":
                        addrs.extend(d.rail_addresses)
                    elif network in d.addresses:
                        addrs.append(d.addresses[network])
                cache[key] = covering_cidrs(addrs)
        return cache[key]

    def iface(network: str | None) -> str | None:
        if network is None or network == "compute":
            return None  # rails span several interfaces: the source CIDRs pin the network
        return interfaces.get(network)

    tenants = {t for t in policy.tenant.values() if t}
    rulesets: dict[str, tuple[FirewallRule, ...]] = {}
    assignment: dict[str, str] = {}
    by_key: dict[str, Draft] = {}
    for d in drafts:
        key = f"{d.pool.name}." + "+".join(sorted(d.roles))
        assignment[d.name] = key
        by_key.setdefault(key, d)
    for key, d in by_key.items():
        rules: list[FirewallRule] = []
        mine = policy.tenant.get(d.name)
        if sec.tenant_isolation and mine:
            for other in sorted(tenants - {mine}):
                hosts = frozenset(h for h, t in policy.tenant.items() if t == other)
                rules.append(
                    FirewallRule(
                        f"tenant-isolation: from tenant {other}",
                        "drop",
                        "any",
                        (),
                        sources(hosts, None),
                        None,
                    )
                )
        for rule in sec.rules:
            dst = policy.members(rule.dst)
            if dst is not None and d.name not in dst:
                continue
            src = policy.members(rule.src)
            if src is not None and not src:
                continue
            srcs = sources(src, rule.network)
            if src is not None and not srcs:
                continue
            rules.append(
                FirewallRule(
                    f"rule {rule.name}",
                    "accept" if rule.action == "allow" else "drop",
                    rule.protocol,
                    tuple(str(p) for p in rule.ports),
                    srcs,
                    iface(rule.network),
                )
            )
        if sec.allow_required_flows:
            for need in needs:
                if d.name not in need.dst:
                    continue
                srcs = need.src_cidrs or sources(need.src, need.network)
                if not srcs:
                    continue
                rules.append(
                    FirewallRule(
                        f"flow {need.name}",
                        "accept",
                        need.protocol,
                        need.ports,
                        srcs,
                        iface(need.network),
                        need.scope,
                    )
                )
        rulesets[key] = tuple(rules)
    return rulesets, assignment


def ssh_sources(stack: Stack) -> tuple[str, ...]:
    """CIDRs SSH is accepted from."""
    return (str(stack.security.ssh.management_cidr or stack.fabric.management.cidr),)


def build(
    stack: Stack,
    drafts: Sequence[Draft],
    interfaces: dict[str, str],
    problems: list[Problem],
) -> tuple[SecurityPlan, dict[str, str]]:
    """The security plan and each host's ruleset key."""
    needs = needed_flows(stack, drafts)
    flows = evaluate(stack, drafts, needs, problems)
    rulesets, assignment = compile_rulesets(stack, drafts, needs, interfaces)
    ssh = stack.security.ssh
    return SecurityPlan(
        default=stack.security.default,
        flows=tuple(flows),
        rulesets=rulesets,
        ssh_sources=ssh_sources(stack),
        ssh_keys_only=ssh.keys_only,
        ssh_permit_root_login=ssh.permit_root_login,
        ssh_max_auth_tries=ssh.max_auth_tries,
    ), assignment


# InfiniBand partitions: OpenSM keeps 0x7fff for its default partition; tenants get 0x0001, 0x0002, ...
# in declaration order (security.tenants, then pools naming a tenant), so adding a tenant at the end
# moves no existing PKey. Syntax and semantics: https://github.com/linux-rdma/opensm/blob/master/doc/partition-config.txt
FIRST_PKEY = 0x0001


def tenant_order(stack: Stack) -> list[str]:
    """Tenants that own pools, in declaration order: ``security.tenants``, then pools' ``tenant``."""
    owners = set(pool_owners(stack).values())
    names = [t.name for t in stack.security.tenants] + [
        p.tenant for p in stack.compute.pools if p.tenant is not None
    ]
    return [t for t in dict.fromkeys(names) if t in owners]


def isolation(
    stack: Stack, hosts: Sequence[HostPlan], fabric_kind: str | None
) -> tuple[tuple[NetworkIsolation, ...], tuple[IbPartition, ...]]:
    """With ``tenant_isolation``: how each network keeps tenants apart, and the InfiniBand partitions.

    IP traffic on every network meets the hosts' nftables input chains, which drop other tenants'
    addresses (:func:`compile_rulesets`). RDMA does not: the HCA moves the data without the kernel's
    IP stack, so on the compute fabric it needs the fabric's own separation: InfiniBand partitions
    (one PKey per tenant, its hosts' ports full members, enforced by the HCAs and switches), or for
    RoCE switch-side VLANs/VRFs, which dcinfra does not configure: the plan says so.
    """
    if not stack.security.tenant_isolation:
        return (), ()
    out = [
        NetworkIsolation(
            net,
            "ip",
            "nftables",
            True,
            "each host's input chain drops every address of the other tenants' hosts before any rule",
        )
        for net, decl in (("management", stack.fabric.management), ("storage", stack.fabric.storage))
        if decl is not None
    ]
    parts: list[IbPartition] = []
    if fabric_kind is not None:
        out.append(
            NetworkIsolation(
                "compute",
                "ip",
                "nftables",
                True,
                "each host's input chain drops the other tenants' rail addresses (IPoIB or RoCE IP, "
                "TCP and UDP)",
            )
        )
        if fabric_kind == "infiniband":
            for i, tenant in enumerate(tenant_order(stack)):
                members = tuple((h.name, r.hca) for h in hosts if h.tenant == tenant for r in h.rails)
                if members:
                    parts.append(IbPartition(tenant, f"0x{FIRST_PKEY + i:04x}", members))
            out.append(
                NetworkIsolation(
                    "compute",
                    "rdma",
                    "ib-partitions",
                    True,
                    f"{len(parts)} InfiniBand partitions, one PKey per tenant with its hosts' ports as "
                    "full members (opensm/partitions.conf); the default partition keeps them as limited "
                    "members only, so ports of different tenants cannot talk. The hosts' IPoIB and NCCL "
                    "must use the tenant's PKey (NCCL_IB_PKEY), which dcinfra does not set yet",
                )
            )
        elif fabric_kind == "roce":
            out.append(
                NetworkIsolation(
                    "compute",
                    "rdma",
                    "none",
                    False,
                    "RDMA over RoCE (UDP 4791, handled by the NIC) bypasses nftables, so tenants' RDMA "
                    "traffic can cross the compute fabric; dcinfra does not configure the switches: "
                    "separate the tenants there (one VLAN or VRF per tenant on the rail ports)",
                )
            )
    return tuple(out), tuple(parts)
