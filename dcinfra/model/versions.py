"""The versions lock: what the stack pins, checked against the compatibility table in the catalog."""

from __future__ import annotations

from dcinfra.model.base import Spec
from dcinfra.model.types import (
    CephRelease,
    DriverBranch,
    MinorVersion,
    PatchVersion,
    SlurmSeries,
    TorchVersion,
)


class Versions(Spec):
    """Pinned software versions.

    Example::

        Versions(driver_branch="550", cuda="12.4", nccl="2.21.5", ceph="pacific", kubernetes="1.31")
    """

    driver_branch: DriverBranch = "550"
    """NVIDIA driver branch (packages are held at it)."""
    cuda: MinorVersion = "12.4"
    """CUDA toolkit major.minor."""
    nccl: PatchVersion = "2.21.5"
    """NCCL release."""
    ceph: CephRelease = "pacific"
    """Ceph release code name (Debian 12 ships pacific)."""
    kubernetes: MinorVersion = "1.31"
    """Kubernetes minor version for the platform layer."""
    slurm: SlurmSeries = "22.05"
    """Slurm release series (Debian 12 ships 22.05; the rendered configuration is written for it)."""
    torch: TorchVersion = "2.13.0"
    """torch release the verify stage runs (pinned)."""
