"""The declarative model a stack file builds: typed, immutable, documented (pydantic v2)."""

from dcinfra.model.addressing import HostAddresses, PoolAddresses
from dcinfra.model.compute import Compute, Hardware, NodePool, Rack
from dcinfra.model.fabric import ComputeFabric, Fabric, Network, RoceSettings
from dcinfra.model.platform import GpuQuota, Kubernetes, Platform
from dcinfra.model.rollout import Rollout
from dcinfra.model.scheduler import Slurm, SlurmAccounting, SlurmPartition, SlurmTenant
from dcinfra.model.security import Rule, Security, SshPolicy, Tenant, Zone
from dcinfra.model.site import BareMetalHost, BareMetalSite, LabSite
from dcinfra.model.stack import Stack
from dcinfra.model.storage import CephCluster, CephFs, CephPool, HdfsCluster, Kerberos, Placement, Storage
from dcinfra.model.verify import VerifySettings
from dcinfra.model.versions import Versions

__all__ = [
    "BareMetalHost",
    "BareMetalSite",
    "CephCluster",
    "CephFs",
    "CephPool",
    "Compute",
    "ComputeFabric",
    "Fabric",
    "GpuQuota",
    "Hardware",
    "HdfsCluster",
    "HostAddresses",
    "Kerberos",
    "Kubernetes",
    "LabSite",
    "Network",
    "NodePool",
    "Placement",
    "Platform",
    "PoolAddresses",
    "Rack",
    "RoceSettings",
    "Rollout",
    "Rule",
    "Security",
    "Slurm",
    "SlurmAccounting",
    "SlurmPartition",
    "SlurmTenant",
    "SshPolicy",
    "Stack",
    "Storage",
    "Tenant",
    "VerifySettings",
    "Versions",
    "Zone",
]
