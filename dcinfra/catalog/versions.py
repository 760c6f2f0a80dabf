"""Version facts: which CUDA needs which driver branch, which NCCL builds exist for which CUDA major,
which Ceph releases and Kubernetes minors dcinfra can deploy."""

from __future__ import annotations

from dataclasses import dataclass

# Minimum Linux driver branch per CUDA toolkit minor version.
# Source: CUDA Toolkit release notes, Table 3 "CUDA Toolkit and Corresponding Driver Versions"
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html, and the CUDA Compatibility guide
# (https://docs.nvidia.com/deploy/cuda-compatibility/, "Minimum Required Driver Version"). The guide's
# minor-version compatibility (a 12.x build on any driver >= 525) has limits (no PTX JIT of newer code,
# features that need the newer driver fail at run time): dcinfra holds builds to the full-support minimum
# of this table, which is what the torch CUDA rule (versions.torch-cuda) checks.
CUDA_MIN_DRIVER: dict[str, int] = {
    "11.8": 520,
    "12.0": 525,
    "12.1": 530,
    "12.2": 535,
    "12.3": 545,
    "12.4": 550,
    "12.5": 555,
    "12.6": 560,
    "12.8": 570,
    "12.9": 575,
    "13.0": 580,
}

# NCCL releases and the CUDA major versions NVIDIA ships builds for.
# Source: https://docs.nvidia.com/deeplearning/nccl/release-notes/index.html and the package lists at
# https://developer.nvidia.com/nccl/nccl-legacy-downloads (e.g. "2.21.5, for CUDA 12.4, 12.2, 11.0").
NCCL_CUDA_MAJORS: dict[str, tuple[int, ...]] = {
    "2.18.5": (11, 12),
    "2.19.3": (11, 12),
    "2.20.5": (11, 12),
    "2.21.5": (11, 12),
    "2.23.4": (12,),
    "2.25.1": (12,),
    "2.26.5": (12,),
    "2.27.7": (12, 13),
    "2.28.3": (12, 13),
}


# The oldest NCCL dcinfra accepts on the DMA-BUF GPUDirect RDMA path. NCCL registers GPU memory with
# the HCA through DMA-BUF when the driver offers it (NCCL_DMABUF_ENABLE, in NCCL's environment variables
# since the 2.1x series: https://docs.nvidia.com/deeplearning/nccl/archives/nccl_2155/user-guide/docs/env.html);
# dcinfra sets its floor at 2.19 (issue 12: the release line it accepts for DMA-BUF without
# nvidia-peermem). DMA-BUF needs the open kernel modules; NVIDIA recommends it over nvidia-peermem (GPU
# Operator, "GPUDirect RDMA and GPUDirect Storage":
# https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-rdma.html).
NCCL_DMABUF_MIN = "2.19.3"

# GPU compute capabilities that run only on the open kernel modules: Blackwell (10.0) and newer.
# Source: NVIDIA Driver Installation Guide, "Kernel Modules" (open modules default since 560; Blackwell
# supported by the open flavour only) https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/
OPEN_MODULES_REQUIRED_FROM = "10.0"
# Capabilities for which NVIDIA recommends the open modules (Turing 7.5 and newer): Hopper 9.0 included.
OPEN_MODULES_RECOMMENDED_FROM = "7.5"

# PyTorch's wheel index for a CUDA build: https://pytorch.org/get-started/locally/ and
# https://pytorch.org/get-started/previous-versions/ ("--index-url https://download.pytorch.org/whl/cu124").
TORCH_INDEX = "https://download.pytorch.org/whl/"


def torch_cuda_version(variant: str) -> str | None:
    """The CUDA major.minor of a torch build (``cu130`` -> ``13.0``, ``cu124`` -> ``12.4``); ``None``
    for ``cpu``."""
    if not variant.startswith("cu") or not variant[2:].isdigit() or len(variant) < 5:
        return None
    digits = variant[2:]
    return f"{int(digits[:-1])}.{digits[-1]}"


@dataclass(frozen=True, slots=True)
class CephRelease:
    """One Ceph release dcinfra can deploy."""

    name: str  # code name
    version: str  # major.minor
    source: str


# Source: https://docs.ceph.com/en/latest/releases/ (Pacific 16.2, Quincy 17.2, Reef 18.2, Squid 19.2).
# Debian 12 ships Pacific (16.2), which is what lab nodes run.
CEPH_RELEASES: dict[str, CephRelease] = {
    r.name: r
    for r in (
        CephRelease("pacific", "16.2", "https://docs.ceph.com/en/latest/releases/pacific/"),
        CephRelease("quincy", "17.2", "https://docs.ceph.com/en/latest/releases/quincy/"),
        CephRelease("reef", "18.2", "https://docs.ceph.com/en/latest/releases/reef/"),
        CephRelease("squid", "19.2", "https://docs.ceph.com/en/latest/releases/squid/"),
    )
}

# Kubernetes minor versions dcinfra renders platform objects for (upstream-supported or recent).
# Source: https://kubernetes.io/releases/
KUBERNETES_SUPPORTED: tuple[str, ...] = ("1.29", "1.30", "1.31", "1.32", "1.33")
