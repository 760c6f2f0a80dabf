"""Security: zones, ordered allow/deny rules between them, SSH policy and tenant isolation.

Compiled by the planner into host nftables rulesets (default drop on input) and, when a Kubernetes
platform is declared, into NetworkPolicies.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.fabric import NetworkName
from dcinfra.model.types import Label, Name


class Zone(Spec):
    """A named set of hosts, by pool or by role.

    Example::

        Zone(name="gpu", pools=["gpu"])
        Zone(name="storage", roles=["ceph-osd", "ceph-mon"])
    """

    name: Label
    """Zone name, unique."""
    pools: tuple[Name, ...] = ()
    """Pools whose hosts are in the zone."""
    roles: tuple[Label, ...] = ()
    """Host roles in the zone: a pool role (``compute``, ``storage``, ``service``) or a planned role
    (``ceph-mon``, ``ceph-osd``, ``ceph-mgr``, ``ceph-mds``, ``hdfs-namenode``, ``hdfs-datanode``)."""


class Rule(Spec):
    """One rule, evaluated in order: the first rule matching a connection decides.

    Example::

        Rule(name="monitoring", src="mgmt", dst="any", protocol="tcp", ports=[9100])
        Rule(name="no-tenant-b-storage", src="tenant-b", dst="storage", action="deny")
    """

    name: Label
    """Rule name (shown when a rule blocks a flow the stack needs)."""
    src: Label
    """Source zone name, or ``any``."""
    dst: Label
    """Destination zone name, or ``any``."""
    protocol: Literal["tcp", "udp", "icmp", "any"] = "tcp"
    """Protocol."""
    ports: tuple[int | str, ...] = ()
    """Destination ports or ranges (``22``, ``"6800-7300"``); empty: every port."""
    network: NetworkName | None = None
    """Only on this network; None: every network."""
    action: Literal["allow", "deny"] = "allow"
    """What a match does."""


class SshPolicy(Spec):
    """Who may SSH to hosts and how.

    Example::

        SshPolicy(management_cidr="10.0.0.0/24", permit_root_login="prohibit-password")
    """

    management_cidr: IPv4Network | None = None
    """Where SSH is accepted from; default: the management network."""
    keys_only: bool = True
    """Public-key authentication only (no passwords, no keyboard-interactive)."""
    permit_root_login: Literal["no", "prohibit-password"] = "prohibit-password"
    """Root login: never, or with a key only."""
    max_auth_tries: int = Field(default=3, ge=1, le=4)
    """``MaxAuthTries`` (CIS: 4 or fewer)."""


class Tenant(Spec):
    """A tenant: the pools it owns.

    This is where tenants are declared. A pool's owner is one fact, given once: either here in
    ``pools`` (recommended: the whole tenancy reads in one place) or on the pool as
    ``NodePool(tenant=...)``; the planner merges both. A tenant that only pools name needs no entry
    here; an entry without ``pools`` is fine when pools name it. Pools of shared services (Ceph, HDFS,
    Slurm controllers, Kubernetes control plane) belong to no tenant.

    Example::

        Tenant(name="research", pools=["gpu-research"])
        Tenant(name="prod")  # its pools say NodePool(..., tenant="prod")
    """

    name: Label
    """Tenant name, e.g. ``"research"``: also the name of its Kueue ClusterQueue
    (``GpuQuota.name``) and Slurm account (``SlurmTenant.name``)."""
    pools: tuple[Name, ...] = ()
    """Pools it owns, e.g. ``["gpu-research"]``; empty: the pools whose ``NodePool.tenant`` names it.
    A pool listed here needs no ``tenant`` of its own (if it has one, it must be this tenant)."""


class Security(Spec):
    """Network security policy.

    ``default="deny"`` drops every connection not allowed by a rule. Flows the stack itself needs
    (SSH from management, Ceph and HDFS ports between daemons and clients, the benchmark's rendezvous
    and collective traffic) are allowed automatically after your rules unless
    ``allow_required_flows=False``; a rule of yours that denies one of them is reported by validation.

    Example::

        Security(
            zones=[Zone(name="gpu", pools=["gpu"]), Zone(name="stor", pools=["stor"])],
            rules=[Rule(name="node-exporter", src="any", dst="any", ports=[9100])],
            ssh=SshPolicy(management_cidr="10.0.0.0/24"),
        )
    """

    default: Literal["deny", "allow"] = "deny"
    """Action when no rule matches."""
    zones: tuple[Zone, ...] = ()
    """Named host sets the rules refer to."""
    rules: tuple[Rule, ...] = ()
    """Ordered rules; first match wins."""
    ssh: SshPolicy = SshPolicy()
    """SSH policy."""
    tenants: tuple[Tenant, ...] = ()
    """Tenants and the pools they own (merged with ``NodePool.tenant``)."""
    tenant_isolation: bool = False
    """Drop all traffic between hosts of different tenants, on every network, before any rule (so no
    rule and no ``allow_required_flows`` can open it). The stack's own flows stay within a tenant: the
    benchmark's traffic is required between hosts of one tenant only, and shared services (SSH from the
    management network, Ceph, HDFS, Slurm, the Kubernetes control plane) run on pools that belong to no
    tenant, which every tenant reaches. How each network is isolated is in the plan
    (``SecurityPlan.isolation``): nftables for IP traffic; on the compute fabric, one InfiniBand
    partition (PKey) per tenant, while RoCE RDMA bypasses the host firewall and is not isolated by
    dcinfra (separate tenants on the switches with VLANs/VRFs)."""
    allow_required_flows: bool = True
    """Allow the flows the stack needs automatically (after your rules)."""
