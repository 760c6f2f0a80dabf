"""Compute: racks with power budgets and node pools built from catalog hardware profiles."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dcinfra.model.addressing import PoolAddresses
from dcinfra.model.base import Spec
from dcinfra.model.types import NAME as _NAME
from dcinfra.model.types import CatalogKey, Label, Name

NAME = f"^{_NAME}$"  # the pattern of pool, rack and partition names (ASCII only)


class Rack(Spec):
    """A rack: a power budget and a cooling type. Nodes are placed into racks explicitly (a pool's
    ``racks``) or filled automatically in declaration order while the budget allows.

    Example::

        Rack(name="r01", power_budget_kw=44, cooling="air")
        Rack(name="r02", power_budget_kw=130, cooling="liquid", max_nodes=8)
    """

    name: Name
    """Rack name, unique in the stack (also the CRUSH and HDFS rack name)."""
    power_budget_kw: float | None = Field(default=None, gt=0)
    """Power the rack can deliver and cool, kW. None: unlimited (the lab)."""
    cooling: Literal["air", "liquid"] = "air"
    """Cooling type; liquid-cooled node profiles need a liquid rack."""
    max_nodes: int | None = Field(default=None, ge=1)
    """Space limit in nodes, if any."""


class Hardware(Spec):
    """A node's hardware: a catalog profile, with any field overridden.

    Example::

        Hardware(profile="dgx-h100")                               # everything from the catalog
        Hardware(profile="hgx-h100", cpu_cores=128, power_kw=11.0)  # an OEM build
        Hardware(gpu="l40s", gpu_count=4, compute_nic="bluefield-3", rails=2, cpu_cores=64,
                 memory_gb=512, power_kw=3.2)                       # no profile: every field given
    """

    profile: CatalogKey | None = None
    """Catalog node profile (``dcinfra catalog`` lists them), e.g. ``dgx-h100``, ``lab-cpu``."""
    gpu: CatalogKey | None = None
    """GPU model from the catalog (``h100-sxm``, ``h200-sxm``, ``b200``, ``a100-sxm``, ``l40s``)
    or ``none``."""
    gpu_count: int | None = Field(default=None, ge=0, le=16)
    """GPUs per node."""
    compute_nic: CatalogKey | None = None
    """NIC model for the compute fabric, one port per rail (e.g. ``connectx-7-ndr``)."""
    rails: int | None = Field(default=None, ge=0, le=16)
    """Compute-fabric ports per node, one per rail (8 on HGX/DGX nodes: one per GPU)."""
    cpu_cores: int | None = Field(default=None, ge=1)
    """Physical CPU cores per node, all sockets."""
    sockets: int | None = Field(default=None, ge=1, le=16)
    """CPU sockets per node (``cpu_cores`` is split evenly across them)."""
    threads_per_core: int | None = Field(default=None, ge=1, le=8)
    """Hardware threads per core (2 with SMT/Hyper-Threading on)."""
    memory_gb: int | None = Field(default=None, ge=1)
    """System memory per node, GB."""
    power_kw: float | None = Field(default=None, gt=0)
    """Maximum power draw per node, kW (what rack budgets are checked against)."""
    cooling: Literal["air", "liquid"] = "air"
    """Cooling the node needs."""


class NodePool(Spec):
    """A set of identical nodes.

    Hostnames are ``<name>-<nnn>`` (``gpu-001``, ``gpu-002`` ...) unless ``hostname_prefix`` is set.

    Example::

        NodePool(name="gpu", count=32, hardware=Hardware(profile="dgx-h100"))
        NodePool(name="stor", count=6, hardware=Hardware(profile="cpu-storage"), roles=["storage"],
                 racks=["r09", "r10"])
    """

    name: Name
    """Pool name, unique in the stack."""
    count: int = Field(ge=1, le=100_000)
    """Number of nodes."""
    hardware: Hardware
    """What each node is."""
    roles: tuple[Literal["compute", "storage", "service"], ...] = ("compute",)
    """``compute`` nodes join the compute fabric and run the benchmark; ``storage`` nodes host storage
    daemons; ``service`` nodes run control-plane services."""
    hostname_prefix: Name | None = None
    """Hostname prefix; defaults to the pool name."""
    racks: tuple[Name, ...] = ()
    """Racks to place this pool in, filled in order; empty: filled automatically."""
    nodes_per_rack: int | None = Field(default=None, ge=1)
    """With ``racks``: how many nodes go in each before moving to the next; default: as the budget allows."""
    tenant: Label | None = None
    """Tenant owning this pool, e.g. ``"research"``; None: ``security.tenants`` decides, else no tenant.

    A pool's tenant is one fact: declare it here *or* in ``Security.tenants`` (``Tenant.pools``),
    whichever reads better; the two are merged. Naming the tenant here alone is enough (the tenant
    exists because a pool names it; ``Tenant(name=...)`` adds nothing but a place to list pools).
    Declaring it in both places is allowed when they agree; when they disagree, validation names both.
    Shared services (Ceph, HDFS, Slurm controllers, the Kubernetes control plane) belong to no tenant:
    leave their pools' ``tenant`` None. See ``Security.tenant_isolation``."""
    addresses: PoolAddresses = PoolAddresses()
    """Where its hosts sit on each network: a fixed block (``offset``, ``reserve``) and per-host pins."""


class Compute(Spec):
    """Every node pool of the stack.

    Example::

        Compute(pools=[NodePool(name="gpu", count=32, hardware=Hardware(profile="dgx-h100"))])
    """

    pools: tuple[NodePool, ...] = Field(min_length=1)
    """The node pools, in the order hosts are numbered and placed."""
