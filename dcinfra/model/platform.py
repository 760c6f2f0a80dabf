"""The optional Kubernetes platform layered on the hosts.

The platform objects (namespaces, NetworkPolicies, GPU Operator, rail attachments, storage classes,
Kueue queues, the benchmark Job) are built from the plan by :mod:`dcinfra.platform`; these classes only
say what the stack wants. Chart versions pinned here are the platform's part of the versions lock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.storage import Placement
from dcinfra.model.types import (
    ControllerPath,
    DnsLabel,
    ImageRef,
    ImageTagVersion,
    KubeContext,
    MinorVersion,
    PatchVersion,
    VPatchVersion,
)


class GpuQuota(Spec):
    """A tenant's share of the GPUs: one Kueue ClusterQueue fed by the LocalQueues of its namespaces.

    Jobs go request -> LocalQueue (in the namespace) -> ClusterQueue (this tenant) -> admission within
    ``gpus`` (plus what it may borrow from idle quota of the other tenants) -> run.

    When ``name`` is a tenant that owns pools (``security.tenants`` or ``NodePool.tenant``), the
    ClusterQueue holds only the ResourceFlavors of that tenant's pools: its jobs land on its own nodes
    only and it can neither borrow nor lend GPUs across tenants (borrowing is per flavor). Otherwise it
    holds the pools no tenant owns (every compute pool when there are no tenants), shared with the
    other such queues through the cohort, where ``borrowing_limit`` and ``lending_limit`` apply.

    Example::

        GpuQuota(name="research", namespaces=["training"], gpus=64)
        GpuQuota(name="serving", namespaces=["inference"], gpus=64, borrowing_limit=0, lending_limit=0)
    """

    name: DnsLabel
    """Tenant name, e.g. ``"research"``: names the ClusterQueue; a tenant of ``security.tenants`` (or
    of a pool's ``tenant``) gets only its own pools' flavors."""
    namespaces: tuple[DnsLabel, ...] = Field(min_length=1)
    """Workload namespaces whose jobs count against this quota (each in at most one tenant)."""
    gpus: int = Field(ge=0)
    """Nominal GPU quota, guaranteed to this tenant, e.g. ``64``."""
    borrowing_limit: int | None = Field(default=None, ge=0)
    """GPUs it may borrow beyond ``gpus`` from idle quota of the other queues in the cohort (Kueue
    ``borrowingLimit``); None: no limit, 0: never more than ``gpus``. It limits this tenant only: to
    keep others off this tenant's idle GPUs, set ``lending_limit=0``."""
    lending_limit: int | None = Field(default=None, ge=0)
    """GPUs of its idle quota the other queues in the cohort may borrow (Kueue ``lendingLimit``, at
    most ``gpus``); None: all of it, 0: none (its GPUs wait for its own jobs)."""


class Kubernetes(Spec):
    """A Kubernetes platform: namespaces, policies, operators and queues, built from the plan.

    Example::

        Kubernetes(control_plane=Placement(pools=["svc"], count=3),
                   namespaces=["training", "inference"],
                   kubeconfig="~/.kube/h100.yaml", context="h100-admin",
                   tenants=[GpuQuota(name="research", namespaces=["training"], gpus=192),
                            GpuQuota(name="serving", namespaces=["inference"], gpus=64)])
    """

    version: MinorVersion | None = None
    """Kubernetes minor version; None (the default): ``Versions.kubernetes``, the stack's versions lock,
    where every pinned version lives. Given here, it is used, and must equal ``Versions.kubernetes``
    when that is given too."""
    control_plane: Placement | None = None
    """Control-plane hosts (when dcinfra's hosts run it); None: an existing cluster."""
    namespaces: tuple[DnsLabel, ...] = ("training",)
    """Workload namespaces (Pod Security ``restricted``, default-deny NetworkPolicies)."""
    kubeconfig: ControllerPath | None = None
    """Path of the kubeconfig file Pulumi uses; None: ``$KUBECONFIG`` or ``~/.kube/config``."""
    context: KubeContext | None = None
    """kubeconfig context; None: the file's current context."""
    gpu_operator: bool = True
    """Install the NVIDIA GPU Operator (only when some compute host has GPUs)."""
    gpu_operator_version: VPatchVersion = "v25.10.1"
    """GPU Operator Helm chart version; at least v25.3.1 (the container-toolkit CVE fixes)."""
    gpu_driver: Literal["host", "operator"] = "host"
    """Who installs the NVIDIA driver: ``host`` (dcinfra's nvidia_driver role; the operator's driver
    container is disabled) or ``operator`` (the GPU Operator's driver container)."""
    toolkit_version: ImageTagVersion | None = None
    """NVIDIA Container Toolkit image tag to force (e.g. ``v1.18.1``); None: the chart's own. At least
    v1.17.8."""
    network_operator: bool = True
    """Install the NVIDIA Network Operator (Multus, IPoIB/macvlan CNI, NV-IPAM, RDMA shared device
    plugin) and one NetworkAttachmentDefinition per compute rail (only with a compute fabric)."""
    network_operator_version: PatchVersion = "25.7.0"
    """Network Operator Helm chart version (its components run the matching image tags)."""
    storage: Literal["ceph-csi", "rook", "none"] = "ceph-csi"
    """Persistent volumes: ``ceph-csi`` (RBD and CephFS StorageClasses on the stack's host Ceph),
    ``rook`` (Rook runs the stack's Ceph in Kubernetes instead), or ``none``."""
    ceph_csi_version: PatchVersion = "3.15.1"
    """ceph-csi Helm chart version (ceph-csi-rbd and ceph-csi-cephfs)."""
    rook_version: VPatchVersion = "v1.17.5"
    """Rook Helm chart version, with ``storage="rook"``."""
    kueue: bool = True
    """Install Kueue with a queue per tenant (default: one tenant per workload namespace)."""
    kueue_version: PatchVersion = "0.14.4"
    """Kueue Helm chart version."""
    gpu_quota: int | None = Field(default=None, ge=1)
    """Without ``tenants``: GPUs per namespace queue; None: all of them (shared through borrowing)."""
    tenants: tuple[GpuQuota, ...] = ()
    """GPU quotas per tenant; empty: one tenant per workload namespace with ``gpu_quota``."""
    bench_image: ImageRef | None = None
    """Image of the verification benchmark Job (one indexed pod per compute host, running the verify
    stage's bench code): it must contain dcinfra with its ``verify`` extra, e.g. an image built
    ``FROM nvcr.io/nvidia/pytorch:25.01-py3`` with ``pip install dcinfra[verify]``. None: no Job."""


class Platform(Spec):
    """Platforms on top of the hosts.

    Example::

        Platform(kubernetes=Kubernetes(namespaces=["training"]))
    """

    kubernetes: Kubernetes | None = None
    """The Kubernetes platform, if any."""
