"""The flows registry: every connection a layer needs, declared by the layer, read by the security compiler.

Each layer's plan module exposes ``flows(stack, drafts) -> list[Need]`` for the connections its
daemons and clients make; :data:`FLOW_SOURCES` lists them in a fixed order (the order of the plan's
flow table). :mod:`dcinfra.plan.security` turns the registry's needs plus the stack's policies into
verdicts (a policy that blocks a needed flow is a problem naming both), host firewall rulesets, and
through ``scope`` the Kubernetes NetworkPolicies. Nothing else lists flows: a new layer adds its
``flows`` function here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from dcinfra.model.stack import Stack
from dcinfra.plan.hosts import Draft

# How a flow reaches Kubernetes workloads (the platform's NetworkPolicies read it):
# "host": between host daemons only; pods never make it (ssh, kubelet);
# "workload": between the workload's own pods (the benchmark's rendezvous, links and collectives);
# "service": a service pods reach (Ceph, HDFS, the API server).
Scope = Literal["host", "workload", "service"]


@dataclass(frozen=True, slots=True)
class Need:
    """A flow the stack needs, over host sets."""

    name: str  # e.g. "ceph-mon"; unique across layers
    src: frozenset[str]  # source hostnames (empty with src_cidrs: from outside the plan)
    dst: frozenset[str]  # destination hostnames
    protocol: str  # "tcp", "udp", "icmp", "any"
    ports: tuple[str, ...]  # destination ports or ranges ("6800-7300"); empty: all
    network: str  # network name ("management", "storage", "compute")
    src_desc: str  # the sources for people ("ceph daemons and clients")
    dst_desc: str  # the destinations for people
    src_cidrs: tuple[str, ...] = ()  # sources given as CIDRs (SSH from the management CIDR)
    scope: Scope = "service"  # how the flow reaches workloads (see Scope)
    layer: str = ""  # the layer that declared it; filled in by needed_flows


def with_roles(drafts: Sequence[Draft], *roles: str) -> frozenset[str]:
    """Names of the hosts that have any of ``roles``."""
    wanted = set(roles)
    return frozenset(d.name for d in drafts if d.roles & wanted)


FlowSource = Callable[[Stack, Sequence[Draft]], list[Need]]


def _sources() -> tuple[tuple[str, FlowSource], ...]:
    # Imported here: the layer modules import this one for Need.
    from dcinfra.plan import security, storage, verify

    return (
        ("access", security.flows),
        ("ceph", storage.ceph_flows),
        ("hdfs", storage.hdfs_flows),
        ("verify", verify.flows),
        ("platform", security.platform_flows),
    )


def needed_flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """Every connection the declared stack depends on, layer by layer in registry order."""
    out: list[Need] = []
    for layer, source in _sources():
        out.extend(replace(n, layer=layer) for n in source(stack, drafts))
    return out
