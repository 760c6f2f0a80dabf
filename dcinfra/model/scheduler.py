"""The scheduler: Slurm from the plan (controller, accounting, partitions, tenants' fair share, GPU GRES,
node health checks).

Compiled by the planner into :class:`~dcinfra.plan.types.SlurmPlan` (slurm.conf, gres.conf, cgroup.conf,
topology.conf, the accounting database) and deployed by the ``slurm`` role. Debian 12 ships Slurm 22.05;
everything here stays within what 22.05 supports.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.storage import Placement
from dcinfra.model.types import AbsPath, Label, Name, SlurmClusterName, SlurmTimeLimit


class SlurmPartition(Spec):
    """A partition: the hosts of some pools that jobs are submitted to.

    Example::

        SlurmPartition(name="gpu", pools=["gpu"], default=True, max_time="2-00:00:00")
    """

    name: Name
    """Partition name (``sbatch -p NAME``)."""
    pools: tuple[str, ...] = Field(min_length=1)
    """Pools whose compute hosts are in the partition."""
    default: bool = False
    """Jobs without ``-p`` go here; exactly one partition is the default (the first when none says so)."""
    max_time: SlurmTimeLimit = "UNLIMITED"
    """Longest run time of a job: ``UNLIMITED``, minutes, or ``[days-]hh:mm:ss``."""


class SlurmTenant(Spec):
    """A tenant's share of the cluster: a Slurm account with a fair-share weight and a QOS with limits.

    The tenant is one of ``security.tenants``; its account may use the partitions built from its pools.

    Example::

        SlurmTenant(name="team-a", fairshare=60, max_gpus=64)
    """

    name: Label
    """A tenant declared in ``security.tenants``."""
    fairshare: int = Field(default=1, ge=1, le=1_000_000)
    """Fair-share weight of the tenant's account (relative to the other tenants)."""
    max_gpus: int | None = Field(default=None, ge=0)
    """QOS limit on the GPUs the tenant's running jobs hold together (``GrpTRES=gres/gpu=N``)."""
    max_nodes: int | None = Field(default=None, ge=1)
    """QOS limit on the nodes the tenant's running jobs hold together (``GrpTRES=node=N``)."""


class SlurmAccounting(Spec):
    """Job accounting: slurmdbd and its MariaDB database on one declared host.

    Example::

        SlurmAccounting(database=Placement(hosts=["svc-001"]))
    """

    database: Placement | None = None
    """The host that runs slurmdbd and MariaDB (one host); required when accounting is declared."""
    enforce: bool = True
    """Enforce associations, limits and QOS (``AccountingStorageEnforce``); jobs of unknown accounts
    are refused."""


class Slurm(Spec):
    """Slurm: the scheduler ML teams get GPUs through.

    Compute hosts of the named pools run slurmd; the controller host(s) run slurmctld (the second, if
    any, is the backup); with accounting, the database host runs slurmdbd and MariaDB.

    Example::

        Slurm(
            controller=Placement(pools=["svc"], count=1),
            partitions=[SlurmPartition(name="gpu", pools=["gpu"], default=True)],
            accounting=SlurmAccounting(database=Placement(pools=["svc"], count=1)),
            tenants=[SlurmTenant(name="team-a", fairshare=60), SlurmTenant(name="team-b", fairshare=40)],
        )
    """

    kind: Literal["slurm"] = "slurm"
    """Scheduler kind (Slurm is the one supported)."""
    cluster_name: SlurmClusterName | None = None
    """``ClusterName``; default: the stack name (``-`` turned into ``_``)."""
    controller: Placement
    """Where slurmctld runs: one host, or two (the second is the backup controller)."""
    partitions: tuple[SlurmPartition, ...] = ()
    """Partitions; empty: one per pool with compute hosts, named after the pool, the first the default."""
    accounting: SlurmAccounting | None = None
    """Job accounting (slurmdbd + MariaDB); None: off (no sacct, no fair share across accounts)."""
    tenants: tuple[SlurmTenant, ...] = ()
    """Tenants' accounts, fair share and QOS limits (need accounting)."""
    gres_pools: tuple[str, ...] | None = None
    """Pools whose GPUs are scheduled as ``gres/gpu``; None: every pool with GPUs."""
    standin_gpus: int = Field(default=0, ge=0, le=16)
    """Sites without GPUs (the lab) only: GPUs each CPU-only compute node advertises to Slurm as
    ``gres/gpu`` of type ``standin``, counted without device files, to exercise ``--gres=gpu:N``
    scheduling. Stand-ins are for scheduling only: verify never counts or reports them as GPUs."""
    health_check_interval_s: int = Field(default=300, ge=0, le=86_400)
    """How often slurmd runs the node health check, seconds; 0: never."""
    health_check_timeout_s: int = Field(default=60, ge=5, le=3600)
    """A health check that runs longer is killed and the node drained: a hung check never hangs slurmd."""
    prolog: AbsPath | None = None
    """Absolute, normalized path of a prolog script on the compute hosts, not under /proc, /sys or
    /dev (run before every job)."""
    epilog: AbsPath | None = None
    """Absolute, normalized path of an epilog script on the compute hosts, not under /proc, /sys or
    /dev (run after every job)."""
