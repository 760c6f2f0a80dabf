"""The optional Kubernetes platform layered on the hosts."""

from __future__ import annotations

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.storage import Placement


class Kubernetes(Spec):
    """A Kubernetes platform: namespaces, policies, operators and queues, built from the plan.

    Example::

        Kubernetes(version="1.31", control_plane=Placement(pools=["svc"], count=3),
                   namespaces=["training", "inference"])
    """

    version: str = "1.31"
    """Kubernetes minor version."""
    control_plane: Placement | None = None
    """Control-plane hosts (when dcinfra's hosts run it); None: an existing cluster."""
    namespaces: tuple[str, ...] = ("training",)
    """Workload namespaces (Pod Security ``restricted`` by default, default-deny)."""
    gpu_operator: bool = True
    """Install the NVIDIA GPU Operator."""
    kueue: bool = True
    """Install Kueue with a queue per workload namespace."""
    gpu_quota: int | None = Field(default=None, ge=1)
    """GPUs per namespace queue; None: all of them."""


class Platform(Spec):
    """Platforms on top of the hosts.

    Example::

        Platform(kubernetes=Kubernetes(version="1.31"))
    """

    kubernetes: Kubernetes | None = None
    """The Kubernetes platform, if any."""
