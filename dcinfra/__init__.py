"""dcinfra: infrastructure as code for AI datacenters.

A stack file describes a whole datacenter in Python (:class:`Stack`). dcinfra then works in stages,
each taking a typed input and returning a typed record::

    stacks/*.py --load--> Stack --validate--> (all problems at once, nothing touched)
                            |
                            +--compile--> Plan (pure, deterministic: hosts, racks, addresses, cabling,
                            |             switch counts, expected bandwidth, Ceph/HDFS placement,
                            |             NCCL env, firewall rules, verification thresholds)
                            +--render--> build dir (inventory, host vars, every config file per host)
                            +--provision / configure / platform / verify (real engines)

Where things live (low to high; ``tests/unit/test_architecture.py`` keeps imports flowing this way
and free of circles): :mod:`dcinfra.errors` (errors and exit codes) -> :mod:`dcinfra.catalog` (facts
with sources, site capabilities) -> :mod:`dcinfra.model` (the Stack) -> :mod:`dcinfra.plan` (the pure
Plan: one module per layer, its flows in :mod:`dcinfra.plan.registry`, its rules in
:mod:`dcinfra.plan.checks`) -> :mod:`dcinfra.render`, :mod:`dcinfra.platform`, :mod:`dcinfra.sites`
(files, Kubernetes objects, hosts) -> :mod:`dcinfra.engines` (Ansible, Pulumi) -> :mod:`dcinfra.verify`
-> :mod:`dcinfra.pipeline` -> :mod:`dcinfra.cli`.

A **layer** (compute, ceph, hdfs, platform, ...) plugs into the same mirrored places in each stage; a
**site** is a set of capabilities (``Plan.site``) plus a provider, and nothing but its provider asks
which site it is. CONTRIBUTING.md has the recipes.

Public API for stack authors: the model classes re-exported here, plus :mod:`dcinfra.config` for
``--config key=value`` values. Everything else is internal.
"""

from dcinfra import config
from dcinfra.errors import DcinfraError, Problem, StackInvalid
from dcinfra.model import (
    BareMetalHost,
    BareMetalSite,
    CephCluster,
    CephFs,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    GpuQuota,
    Hardware,
    HdfsCluster,
    HostAddresses,
    Kerberos,
    Kubernetes,
    LabSite,
    Network,
    NodePool,
    Placement,
    Platform,
    PoolAddresses,
    Rack,
    RoceSettings,
    Rollout,
    Rule,
    Security,
    Slurm,
    SlurmAccounting,
    SlurmPartition,
    SlurmTenant,
    SshPolicy,
    Stack,
    Storage,
    Tenant,
    VerifySettings,
    Versions,
    Zone,
)

__version__ = "0.1.0"

__all__ = [
    "BareMetalHost",
    "BareMetalSite",
    "CephCluster",
    "CephFs",
    "CephPool",
    "Compute",
    "ComputeFabric",
    "DcinfraError",
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
    "Problem",
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
    "StackInvalid",
    "Storage",
    "Tenant",
    "VerifySettings",
    "Versions",
    "Zone",
    "config",
]
