"""Rules on the versions lock (``versions``) against the catalog and the hardware: driver branch for
CUDA, NCCL builds for the CUDA major, CUDA for each GPU's compute capability, known Ceph releases, and
supported Kubernetes.

Rules (``Problem.rule``): ``versions.cuda``, ``versions.driver``, ``versions.nccl``, ``versions.gpu``,
``versions.ceph``, ``versions.kubernetes``, ``platform.version``, and for the GPU driver stack
``versions.driver-version`` (the exact driver belongs to the branch), ``versions.torch-cuda`` (the torch
build's CUDA runs on the driver), ``versions.kernel-modules`` (open modules for Blackwell; a warning for
proprietary on Hopper), ``versions.gpudirect`` (DMA-BUF needs open modules and NCCL 2.19+, nvidia-peermem
needs DOCA-OFED).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from dcinfra.catalog import CEPH_RELEASES, CUDA_MIN_DRIVER, GPUS, KUBERNETES_SUPPORTED, NCCL_CUDA_MAJORS
from dcinfra.catalog.versions import (
    NCCL_DMABUF_MIN,
    OPEN_MODULES_RECOMMENDED_FROM,
    OPEN_MODULES_REQUIRED_FROM,
    TORCH_INDEX,
    torch_cuda_version,
)
from dcinfra.errors import Problem
from dcinfra.plan.checks._common import Ctx, suggest
from dcinfra.plan.hosts import unknown

__all__ = ["check_versions"]

# Oldest CUDA toolkit that compiles for each GPU compute capability (CUDA release notes: 11.8 added
# sm_89/sm_90, 12.8 added Blackwell sm_100).
# Source: https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html
CUDA_FOR_CAPABILITY = {"8.0": "11.0", "8.9": "11.8", "9.0": "11.8", "10.0": "12.8"}


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        return ()


def check_versions(ctx: Ctx) -> Iterator[Problem]:
    """Driver vs CUDA, NCCL vs CUDA major, GPU vs CUDA, known Ceph release, Kubernetes support."""
    stack = ctx.stack
    v = stack.versions
    cuda_known = v.cuda in CUDA_MIN_DRIVER
    if not cuda_known:
        yield replace(
            unknown("CUDA version", "versions.cuda", v.cuda, sorted(CUDA_MIN_DRIVER, key=_version)),
            rule="versions.cuda",
        )
    elif v.driver_branch.isdigit() and int(v.driver_branch) < CUDA_MIN_DRIVER[v.cuda]:
        need = CUDA_MIN_DRIVER[v.cuda]
        yield Problem(
            "versions.driver_branch",
            f"driver branch {v.driver_branch!r} is older than CUDA {v.cuda} needs ({need} or newer)",
            f"set driver_branch={str(need)!r} or newer, or use an older CUDA",
            "versions.driver",
        )
    majors = NCCL_CUDA_MAJORS.get(v.nccl)
    if majors is None:
        yield replace(
            unknown("NCCL release", "versions.nccl", v.nccl, sorted(NCCL_CUDA_MAJORS, key=_version)),
            rule="versions.nccl",
        )
    elif cuda_known and _version(v.cuda)[0] not in majors:
        builds = sorted((n for n, m in NCCL_CUDA_MAJORS.items() if _version(v.cuda)[0] in m), key=_version)
        yield Problem(
            "versions.nccl",
            f"NCCL {v.nccl!r} has no build for CUDA {_version(v.cuda)[0]} (only "
            f"{', '.join(map(str, majors))})",
            f"use an NCCL built for CUDA {v.cuda}: {', '.join(builds) or 'none known'}",
            "versions.nccl",
        )
    if cuda_known:
        yield from _gpu_cuda(ctx)
    yield from check_gpu_stack(ctx)
    if v.ceph not in CEPH_RELEASES:
        yield replace(
            unknown("Ceph release", "versions.ceph", v.ceph, list(CEPH_RELEASES)), rule="versions.ceph"
        )
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is not None:
        version = k8s.version if k8s.version is not None else v.kubernetes
        where = "platform.kubernetes.version" if k8s.version is not None else "versions.kubernetes"
        if version not in KUBERNETES_SUPPORTED:
            yield Problem(
                where,
                f"Kubernetes {version!r} is not supported",
                f"{suggest(version, KUBERNETES_SUPPORTED)}supported: {', '.join(KUBERNETES_SUPPORTED)}",
                "versions.kubernetes",
            )
        if k8s.version is not None and "kubernetes" in v.model_fields_set and k8s.version != v.kubernetes:
            yield Problem(
                "platform.kubernetes.version",
                f"platform Kubernetes {k8s.version!r} differs from the versions lock {v.kubernetes!r}",
                "give the version in one place: drop Kubernetes(version=...) and keep "
                "Versions(kubernetes=...)",
                "platform.version",
            )


def _gpu_cuda(ctx: Ctx) -> Iterator[Problem]:
    cuda = ctx.stack.versions.cuda
    pools_by_gpu: dict[str, list[str]] = {}
    for pool, hw in zip(ctx.stack.compute.pools, ctx.hw, strict=True):
        if hw is not None and hw.gpu in GPUS:
            pools_by_gpu.setdefault(hw.gpu, []).append(pool.name)
    for gpu, pools in pools_by_gpu.items():
        cc = GPUS[gpu].cuda_capability
        need = CUDA_FOR_CAPABILITY.get(cc)
        if need is not None and _version(cuda) < _version(need):
            yield Problem(
                "versions.cuda",
                f"CUDA {cuda!r} cannot build for {gpu!r} (compute capability {cc}) of "
                f"pool(s) {', '.join(pools)}",
                f"use CUDA {need} or newer (and its driver branch, {CUDA_MIN_DRIVER.get(need, '?')}+)",
                "versions.gpu",
            )


def _gpu_pools(ctx: Ctx) -> dict[str, list[str]]:
    """GPU catalog key -> names of the pools with that GPU (pools whose hardware resolved)."""
    pools_by_gpu: dict[str, list[str]] = {}
    for pool, hw in zip(ctx.stack.compute.pools, ctx.hw, strict=True):
        if hw is not None and hw.gpu in GPUS and hw.gpu_count > 0:
            pools_by_gpu.setdefault(hw.gpu, []).append(pool.name)
    return pools_by_gpu


def check_gpu_stack(ctx: Ctx) -> Iterator[Problem]:
    """The driver stack of the lock: exact driver in its branch, torch build vs driver, kernel module
    flavour vs GPU generation, GPUDirect RDMA path vs modules, NCCL and OFED."""
    v = ctx.stack.versions
    if v.driver.split(".")[0] != v.driver_branch:
        yield Problem(
            "versions.driver",
            f"driver {v.driver!r} is not a release of the pinned branch {v.driver_branch!r}",
            f"set driver to a {v.driver_branch}.x release, or driver_branch={v.driver.split('.')[0]!r}",
            "versions.driver-version",
        )
    gpus = _gpu_pools(ctx)
    yield from _torch_cuda(v.torch, v.torch_cuda, v.driver_branch, gpus)
    if v.kernel_modules == "proprietary":
        for gpu, pools in gpus.items():
            cc = GPUS[gpu].cuda_capability
            where = f"{gpu!r} (compute capability {cc}) of pool(s) {', '.join(pools)}"
            if _version(cc) >= _version(OPEN_MODULES_REQUIRED_FROM):
                yield Problem(
                    "versions.kernel_modules",
                    f"the proprietary kernel modules do not support {where}: Blackwell and newer GPUs run "
                    "only on the open kernel modules",
                    'set kernel_modules="open" (NVIDIA Driver Installation Guide, "Kernel Modules")',
                    "versions.kernel-modules",
                )
            elif _version(cc) >= _version(OPEN_MODULES_RECOMMENDED_FROM):
                yield Problem(
                    "versions.kernel_modules",
                    f"the proprietary kernel modules are pinned for {where}, for which NVIDIA recommends "
                    "the open kernel modules (the default flavour since the 560 branch)",
                    'set kernel_modules="open" unless a validated image needs the proprietary flavour',
                    "versions.kernel-modules",
                    severity="warning",
                )
    fabric = ctx.stack.fabric.compute
    if gpus and fabric is not None and fabric.kind in ("infiniband", "roce"):
        yield from _gpudirect(ctx)


def _torch_cuda(torch: str, variant: str, branch: str, gpus: dict[str, list[str]]) -> Iterator[Problem]:
    cuda = torch_cuda_version(variant)
    if cuda is None:
        if gpus:
            yield Problem(
                "versions.torch_cuda",
                f"torch build {variant!r} has no CUDA, but pool(s) "
                f"{', '.join(p for ps in gpus.values() for p in ps)} have GPUs",
                "pin the CUDA build of torch the driver runs, e.g. torch_cuda='cu130' (driver 580+)",
                "versions.torch-cuda",
            )
        return
    need = CUDA_MIN_DRIVER.get(cuda)
    if need is None:
        builds = ", ".join(f"cu{c.replace('.', '')}" for c in sorted(CUDA_MIN_DRIVER, key=_version))
        yield Problem(
            "versions.torch_cuda",
            f"torch build {variant!r} (CUDA {cuda}) is not in the driver compatibility table",
            f"use a build PyTorch publishes at {TORCH_INDEX}<build> for torch {torch}: one of {builds}",
            "versions.torch-cuda",
        )
    elif branch.isdigit() and int(branch) < need:
        fits = [c for c, d in CUDA_MIN_DRIVER.items() if d <= int(branch)]
        best = max(fits, key=_version) if fits else None
        older = (
            f", or an older torch built for CUDA {best} (torch_cuda='cu{best.replace('.', '')}')"
            if best
            else ""
        )
        yield Problem(
            "versions.torch_cuda",
            f"torch {torch} build {variant!r} needs CUDA {cuda}, which needs driver branch {need} or newer; "
            f"the lock pins driver branch {branch!r}, so every rank would fail to initialise CUDA",
            f"raise driver_branch to {need} or newer (and driver to a {need}.x release){older}",
            "versions.torch-cuda",
        )


def _gpudirect(ctx: Ctx) -> Iterator[Problem]:
    v = ctx.stack.versions
    if v.gpudirect == "dmabuf":
        if v.kernel_modules != "open":
            yield Problem(
                "versions.gpudirect",
                "GPUDirect RDMA through DMA-BUF (gpudirect='dmabuf') needs the open kernel modules, the lock "
                f"pins kernel_modules={v.kernel_modules!r}",
                "set kernel_modules='open', or gpudirect='peermem' with doca_ofed set (nvidia-peermem)",
                "versions.gpudirect",
            )
        if v.nccl in NCCL_CUDA_MAJORS and _version(v.nccl) < _version(NCCL_DMABUF_MIN):
            yield Problem(
                "versions.gpudirect",
                f"NCCL {v.nccl!r} predates DMA-BUF GPUDirect RDMA (gpudirect='dmabuf' needs NCCL "
                f"{NCCL_DMABUF_MIN} or newer)",
                f"pin nccl to {NCCL_DMABUF_MIN} or newer, or use gpudirect='peermem' with doca_ofed set",
                "versions.gpudirect",
            )
    elif v.doca_ofed is None:
        yield Problem(
            "versions.doca_ofed",
            "gpudirect='peermem' loads nvidia-peermem, which needs the PeerDirect API of DOCA-OFED "
            "(MLNX_OFED); doca_ofed is None, and with the inbox rdma-core `modprobe nvidia-peermem` fails",
            "pin the DOCA-OFED release the hosts install, e.g. doca_ofed='3.1.0', or use gpudirect='dmabuf' "
            "(open kernel modules, NCCL 2.19+)",
            "versions.gpudirect",
        )
