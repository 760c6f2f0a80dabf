"""What a flow is: :class:`Need`, a connection a layer needs between planned hosts, with its scope.

Layers build their needs with these; :mod:`dcinfra.plan.registry` lists every layer's ``flows``
function, and :mod:`dcinfra.plan.security` compiles them with the stack's policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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
