"""The versions lock: what the stack pins, checked against the compatibility table in the catalog."""

from __future__ import annotations

from pydantic import Field

from dcinfra.model.base import Spec


class Versions(Spec):
    """Pinned software versions.

    Example::

        Versions(driver_branch="550", cuda="12.4", nccl="2.21.5", ceph="pacific", kubernetes="1.31")
    """

    driver_branch: str = Field(default="550", pattern=r"^\d{3}$")
    """NVIDIA driver branch (packages are held at it)."""
    cuda: str = Field(default="12.4", pattern=r"^\d+\.\d+$")
    """CUDA toolkit major.minor."""
    nccl: str = Field(default="2.21.5", pattern=r"^\d+\.\d+\.\d+$")
    """NCCL release."""
    ceph: str = "pacific"
    """Ceph release code name (Debian 12 ships pacific)."""
    kubernetes: str = Field(default="1.31", pattern=r"^\d+\.\d+$")
    """Kubernetes minor version for the platform layer."""
    slurm: str = Field(default="22.05", pattern=r"^\d{2}\.\d{2}$")
    """Slurm release series (Debian 12 ships 22.05; the rendered configuration is written for it)."""
    torch: str = "2.13.0"
    """torch release the verify stage runs (pinned)."""
