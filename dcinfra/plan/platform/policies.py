"""Namespaces with their Pod Security level, and the NetworkPolicies compiled from the host firewall.

NetworkPolicies from the host firewall
--------------------------------------
Pods run on the compute hosts, and a pod may land on any of them, so a pod is allowed what the host
firewall allows *every* compute host, no more. Each rule of the host firewall carries a ``scope`` (the
scope of the flow it admits, :data:`dcinfra.plan.flows.Scope`, or ``"rule"``), and maps accordingly:

- ``"workload"`` flows (the benchmark's rendezvous, links and collectives: ranks talking to ranks) ->
  ingress and egress between the pods of the same namespace, on the flow's ports (pods talk to pods,
  not to host addresses);
- ``"service"`` flows (Ceph, HDFS, the API server) -> egress to the hosts that run the service, on the
  rule's interface and ports, when that host's input chain accepts every compute host (after its
  drops). So pods reach Ceph monitors and OSDs, the HDFS NameNode and DataNodes and the API server
  exactly when the hosts they run on may;
- ``"rule"`` rules (your ``security.rules``) -> egress as for service flows, and on the compute hosts'
  chains also ingress into the pods from the rule's source CIDRs (``ipBlock``), with the CIDRs dropped
  before it (tenant isolation) carved out as ``except``. Ingress uses the rules common to every compute
  host's chain;
- ``"host"`` flows (ssh, kubelet, Ceph replication: between host daemons) never map.

ICMP has no NetworkPolicy form. DNS to the cluster's kube-dns (UDP/TCP 53) is always allowed: nothing
works without it. ``security.default="allow"`` adds allow-all ingress and egress (minus the drops), as
on the hosts.

Standard NetworkPolicies apply to the pod's primary interface only: traffic on the Multus rail
interfaces (RDMA) is outside them, as RDMA bypasses the kernel's packet path anyway.
"""

from __future__ import annotations

import bisect
import dataclasses
import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence

from dcinfra.model.platform import Kubernetes
from dcinfra.plan.platform.records import (
    NS_CEPH_CSI_CEPHFS,
    NS_CEPH_CSI_RBD,
    NS_GPU_OPERATOR,
    NS_KUEUE,
    NS_NETWORK_OPERATOR,
    NS_ROOK,
    NS_VERIFY,
    BenchPlan,
    CephCsiPlan,
    GpuOperatorPlan,
    KueuePlan,
    NamespacePlan,
    NetworkOperatorPlan,
    Peer,
    PolicyRule,
    RookPlan,
)
from dcinfra.plan.types import FirewallRule, HostPlan, Plan

_ANY = ipaddress.IPv4Network("0.0.0.0/0")


# --- namespaces -----------------------------------------------------------------------------------------


def namespaces(
    k8s: Kubernetes,
    gpu_op: GpuOperatorPlan | None,
    network: NetworkOperatorPlan | None,
    ceph_csi: CephCsiPlan | None,
    rook: RookPlan | None,
    kueue: KueuePlan | None,
    bench: BenchPlan | None,
    rdma: bool,
) -> tuple[NamespacePlan, ...]:
    """The namespaces the platform creates, each with its Pod Security level and why, sorted."""
    out = [
        NamespacePlan(ns, "workload", "restricted", "restricted", "workload namespace", True)
        for ns in k8s.namespaces
    ]
    privileged = "operator runs privileged node agents (host paths, devices, host network)"
    if gpu_op is not None:
        out.append(NamespacePlan(NS_GPU_OPERATOR, "operator", "privileged", "privileged", privileged, False))
    if network is not None:
        out.append(
            NamespacePlan(NS_NETWORK_OPERATOR, "operator", "privileged", "privileged", privileged, False)
        )
    if ceph_csi is not None:
        for ns in (NS_CEPH_CSI_RBD, NS_CEPH_CSI_CEPHFS):
            out.append(NamespacePlan(ns, "operator", "privileged", "privileged", privileged, False))
    if rook is not None:
        out.append(NamespacePlan(NS_ROOK, "operator", "privileged", "privileged", privileged, True))
    if kueue is not None:
        out.append(
            NamespacePlan(
                NS_KUEUE,
                "operator",
                "baseline",
                "restricted",
                "controller without node access: baseline enforced, restricted warned",
                False,
            )
        )
    if bench is not None:
        if rdma:
            level, why = "privileged", "RDMA needs IPC_LOCK (pinned memory), which no other level allows"
        else:
            level, why = "restricted", "benchmark over TCP: no extra privileges"
        out.append(NamespacePlan(NS_VERIFY, "verify", level, "restricted", why, False))
    return tuple(sorted(out, key=lambda n: n.name))


# --- NetworkPolicies from the host firewall ---------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _nets(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c) for c in cidrs]


def _peers(sources: Sequence[str], drops: Sequence[ipaddress.IPv4Network]) -> tuple[Peer, ...]:
    """ipBlocks for ``sources`` (empty: anywhere) minus what earlier drop rules removed."""
    nets = _nets(sources) if sources else [_ANY]
    out = []
    for net in sorted(set(nets)):
        if any(net.subnet_of(d) for d in drops):
            continue
        excepts = sorted({str(d) for d in drops if d.subnet_of(net) and d != net})
        out.append(Peer(str(net), tuple(excepts)))
    return tuple(out)


def _host_ints(host: HostPlan) -> list[int]:
    """Every address of ``host`` (networks and rails) as an integer."""
    return [
        int.from_bytes(socket.inet_aton(a), "big")
        for a in (*host.addresses.values(), *(r.address for r in host.rails))
    ]


def _ranges(nets: Iterable[ipaddress.IPv4Network]) -> tuple[list[int], list[int]]:
    """``nets`` as sorted, merged (first, last) integer ranges, split into two lists for bisect."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in nets)
    firsts: list[int] = []
    lasts: list[int] = []
    for first, last in spans:
        if lasts and first <= lasts[-1] + 1:
            lasts[-1] = max(lasts[-1], last)
        else:
            firsts.append(first)
            lasts.append(last)
    return firsts, lasts


def _in(ranges: tuple[list[int], list[int]], address: int) -> bool:
    firsts, lasts = ranges
    i = bisect.bisect_right(firsts, address) - 1
    return i >= 0 and address <= lasts[i]


def _accepts_all(
    hosts: Sequence[list[int]], sources: Sequence[str], drops: Sequence[ipaddress.IPv4Network]
) -> bool:
    """Whether every host (its addresses as integers) has some address a rule with ``sources``
    accepts after ``drops``. The CIDRs are parsed once per rule and each address is found by bisection,
    not compared with every CIDR: a rule's sources summarize thousands of hosts."""
    allowed = _ranges(_nets(sources)) if sources else None
    dropped = _ranges(drops)
    return all(
        any((allowed is None or _in(allowed, a)) and not _in(dropped, a) for a in addrs) for addrs in hosts
    )


def compile_policies(plan: Plan, compute: Sequence[HostPlan]) -> tuple[PolicyRule, ...]:
    """The allow NetworkPolicies of every workload namespace (see the module docstring)."""
    rules: list[PolicyRule] = [
        PolicyRule("allow-egress-dns", "egress", "udp", ("53",), (), False, True, "cluster DNS"),
        PolicyRule("allow-egress-dns-tcp", "egress", "tcp", ("53",), (), False, True, "cluster DNS"),
    ]
    if not compute:
        return tuple(sorted(rules, key=lambda r: r.name))
    sec = plan.security
    compute_keys = sorted({h.firewall for h in compute})

    # Ingress: the rules every compute ruleset has, in the first one's order.
    common = [r for r in sec.rulesets[compute_keys[0]] if all(r in sec.rulesets[k] for k in compute_keys[1:])]
    drops: list[ipaddress.IPv4Network] = []
    for r in common:
        if r.scope == "host" or r.protocol == "icmp":
            continue  # host daemons; ICMP has no NetworkPolicy form (only TCP, UDP, SCTP)
        if r.action != "accept":
            drops.extend(_nets(r.sources) or [_ANY])
            continue
        source = f"ruleset {compute_keys[0]!r} {r.comment!r}"
        name = _slug(r.comment)
        if r.scope == "workload":
            for direction in ("ingress", "egress"):
                rules.append(
                    PolicyRule(
                        f"allow-{direction}-{name}", direction, r.protocol, r.ports, (), True, False, source
                    )
                )
        elif r.scope == "rule":
            peers = _peers(r.sources, drops)
            if peers:
                rules.append(
                    PolicyRule(
                        f"allow-ingress-{name}", "ingress", r.protocol, r.ports, peers, False, False, source
                    )
                )

    # Egress: service flows and user rules of every host kind that accept every compute host.
    merged: dict[tuple[str, str, tuple[str, ...]], tuple[set[str], list[str]]] = {}
    compute_addrs = [_host_ints(h) for h in compute]
    for key in sorted(sec.rulesets):
        members = [h for h in plan.hosts if h.firewall == key]
        chain_drops: list[ipaddress.IPv4Network] = []
        for r in sec.rulesets[key]:
            if r.scope in ("host", "workload") or r.protocol == "icmp":
                continue
            if r.action != "accept":
                chain_drops.extend(_nets(r.sources) or [_ANY])
                continue
            if not _accepts_all(compute_addrs, r.sources, chain_drops):
                continue
            slot = merged.setdefault((r.comment, r.protocol, r.ports), (set(), []))
            slot[0].update(_destinations(members, r))
            slot[1].append(key)
    for (comment, protocol, ports), (dsts, keys) in sorted(merged.items()):
        peers = tuple(
            Peer(str(n)) for n in ipaddress.collapse_addresses(ipaddress.IPv4Network(d) for d in dsts)
        )
        source = f"{comment!r} of ruleset(s) {', '.join(repr(k) for k in sorted(keys))}"
        rules.append(
            PolicyRule(
                f"allow-egress-{_slug(comment)}", "egress", protocol, ports, peers, False, False, source
            )
        )

    if sec.default == "allow":
        anywhere = _peers((), drops)
        why = "security.default='allow'"
        rules.append(PolicyRule("allow-ingress-default", "ingress", "any", (), anywhere, False, False, why))
        rules.append(PolicyRule("allow-egress-default", "egress", "any", (), anywhere, False, False, why))
    return tuple(sorted(_dedupe(rules), key=lambda r: r.name))


def _dedupe(rules: list[PolicyRule]) -> list[PolicyRule]:
    """Unique names: a second rule with the same name gets a numeric suffix."""
    seen: dict[str, int] = {}
    out = []
    for rule in rules:
        n = seen.get(rule.name, 0)
        seen[rule.name] = n + 1
        out.append(dataclasses.replace(rule, name=f"{rule.name}-{n + 1}") if n else rule)
    return out


def _destinations(members: Sequence[HostPlan], rule: FirewallRule) -> set[str]:
    """Addresses of ``members`` on the interface a rule is bound to (all of them when unbound)."""
    out: set[str] = set()
    for h in members:
        if rule.interface is None:
            out.update(f"{a}/32" for a in h.addresses.values())
            continue
        for net, iface in h.interfaces.items():
            if iface == rule.interface and net in h.addresses:
                out.add(f"{h.addresses[net]}/32")
    return out
