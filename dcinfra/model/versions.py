"""The versions lock: what the stack pins, checked against the compatibility table in the catalog."""

from __future__ import annotations

from typing import Literal

from dcinfra.model.base import Spec
from dcinfra.model.types import (
    CephRelease,
    DriverBranch,
    DriverVersion,
    MinorVersion,
    PatchVersion,
    SlurmSeries,
    TorchCudaVariant,
    TorchVersion,
)


class Versions(Spec):
    """Pinned software versions.

    The defaults are one consistent set (``dcinfra validate`` checks any other): driver 580 (exact
    580.95.05, open kernel modules), CUDA 13.0, NCCL 2.27.7, torch 2.13.0 built for CUDA 13.0 (``cu130``),
    GPUDirect RDMA through DMA-BUF, DCGM 4.4.1.

    Example::

        Versions(driver_branch="580", driver="580.95.05", cuda="13.0", nccl="2.27.7", torch_cuda="cu130")
        Versions(gpudirect="peermem", doca_ofed="3.1.0")  # nvidia-peermem over DOCA-OFED
    """

    driver_branch: DriverBranch = "580"
    """NVIDIA driver branch (``580``): the packages' names carry it; ``driver`` must be a release of it."""
    driver: DriverVersion = "580.95.05"
    """Exact NVIDIA driver release the GPU hosts run (packages installed at it and held); the fabric
    manager and NSCQ are pinned to this same version. Changing it rolls through the Slurm compute hosts
    one batch at a time (drained first)."""
    kernel_modules: Literal["open", "proprietary"] = "open"
    """Kernel module flavour of the driver: ``open`` (required by Blackwell, recommended by NVIDIA for
    Turing and newer, the default since the 560 branch) or ``proprietary``."""
    gpudirect: Literal["dmabuf", "peermem"] = "dmabuf"
    """How RDMA NICs reach GPU memory (GPUDirect RDMA): ``dmabuf`` (the Linux DMA-BUF interface; open
    kernel modules and NCCL 2.19 or newer; works with the distribution's rdma-core) or ``peermem`` (the
    nvidia-peermem module; needs the PeerDirect API of DOCA-OFED, pinned in ``doca_ofed``)."""
    doca_ofed: PatchVersion | None = None
    """DOCA-OFED (DOCA-Host) release installed on the GPU hosts, e.g. ``3.1.0``; required with
    ``gpudirect="peermem"``, ``None`` keeps the distribution's inbox rdma-core."""
    dcgm: PatchVersion = "4.4.1"
    """DCGM release (datacenter-gpu-manager-4) on the GPU hosts: nv-hostengine and ``dcgmi diag``."""
    cuda: MinorVersion = "13.0"
    """CUDA toolkit major.minor."""
    nccl: PatchVersion = "2.27.7"
    """NCCL release."""
    ceph: CephRelease = "pacific"
    """Ceph release code name (Debian 12 ships pacific)."""
    kubernetes: MinorVersion = "1.31"
    """Kubernetes minor version for the platform layer."""
    slurm: SlurmSeries = "22.05"
    """Slurm release series (Debian 12 ships 22.05; the rendered configuration is written for it)."""
    torch: TorchVersion = "2.13.0"
    """torch release the verify stage runs (pinned)."""
    torch_cuda: TorchCudaVariant = "cu130"
    """The torch build: the CUDA it bundles, as PyTorch names its wheel index
    (``https://download.pytorch.org/whl/<torch_cuda>``): ``cu130`` needs driver 580 or newer. ``cpu``
    for CPU-only stacks."""
