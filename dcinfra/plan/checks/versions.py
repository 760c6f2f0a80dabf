"""Rules on the versions lock (``versions``) against the catalog and the hardware: driver branch for
CUDA, NCCL builds for the CUDA major, CUDA for each GPU's compute capability, known Ceph releases, and
supported Kubernetes.

Rules (``Problem.rule``): ``versions.cuda``, ``versions.driver``, ``versions.nccl``, ``versions.gpu``,
``versions.ceph``, ``versions.kubernetes``, ``platform.version``
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from dcinfra.catalog import CEPH_RELEASES, CUDA_MIN_DRIVER, GPUS, KUBERNETES_SUPPORTED, NCCL_CUDA_MAJORS
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
