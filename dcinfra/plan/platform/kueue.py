"""The Kueue part of the platform plan: one ResourceFlavor per compute pool, a ClusterQueue per tenant
(or per workload namespace) with its quota in every flavor, all in one cohort so idle quota is
borrowed."""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.errors import Problem
from dcinfra.model.platform import Kubernetes
from dcinfra.plan.platform.records import (
    RDMA_HCA_MAX,
    RDMA_RESOURCE,
    FlavorPlan,
    FlavorQuota,
    KueuePlan,
    QueuePlan,
)
from dcinfra.plan.types import HostPlan


def _share(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` rounded up (a quota never rounds a tenant below its GPUs' share)."""
    return 0 if whole == 0 else -(-total * part // whole)


def check_tenants(k8s: Kubernetes, total: int, problems: list[Problem]) -> None:
    """The declared tenants against the workload namespaces and the ``total`` GPUs of the compute
    hosts: a namespace that is not a workload one or is in two tenants, a tenant declared twice
    (``platform.tenants``), quotas over the GPUs there are (``platform.quota``). Kueue's plan
    (:func:`kueue`) and validation (:func:`dcinfra.plan.platform.check_platform`) both ask here."""
    if not k8s.tenants:
        return
    base = "platform.kubernetes"
    seen: dict[str, str] = {}
    for i, t in enumerate(k8s.tenants):
        for j, ns in enumerate(t.namespaces):
            where = f"{base}.tenants[{i}].namespaces[{j}]"
            if ns not in k8s.namespaces:
                problems.append(
                    Problem(
                        where,
                        f"tenant {t.name!r} names namespace {ns!r}, which is not a workload namespace",
                        f"use one of {', '.join(k8s.namespaces)} or add it to namespaces",
                        "platform.tenants",
                    )
                )
            elif ns in seen:
                problems.append(
                    Problem(
                        where,
                        f"namespace {ns!r} is in tenants {seen[ns]!r} and {t.name!r}",
                        "give each namespace to one tenant",
                        "platform.tenants",
                    )
                )
            seen.setdefault(ns, t.name)
    names = [t.name for t in k8s.tenants]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            Problem(f"{base}.tenants", f"tenant {dup!r} is declared twice", "", "platform.tenants")
        )
    nominal = sum(t.gpus for t in k8s.tenants)
    if nominal > total:
        problems.append(
            Problem(
                f"{base}.tenants",
                f"tenants are guaranteed {nominal} GPUs but the compute hosts have {total}",
                "lower the quotas so they add up to at most the GPUs there are (idle quota is "
                "borrowed anyway)",
                "platform.quota",
            )
        )


def kueue(k8s: Kubernetes, compute: Sequence[HostPlan], rdma: bool, problems: list[Problem]) -> KueuePlan:
    """Flavors, tenant queues and quotas; tenants that overlap or overcommit the GPUs are problems."""
    flavors = []
    for pool in sorted({h.pool for h in compute}):
        hosts = [h for h in compute if h.pool == pool]
        flavors.append(
            FlavorPlan(
                name=pool,
                pool=pool,
                gpu=hosts[0].gpu,
                hosts=len(hosts),
                gpus=sum(h.gpu_count for h in hosts),
                cpu=sum(h.cpu_cores for h in hosts),
                memory_gi=sum(h.memory_gb for h in hosts),
                rdma=len(hosts) * RDMA_HCA_MAX if rdma else 0,
            )
        )
    total = sum(f.gpus for f in flavors)
    check_tenants(k8s, total, problems)
    tenants: list[tuple[str, tuple[str, ...], int, int | None]] = []
    if k8s.tenants:
        tenants = [(t.name, t.namespaces, t.gpus, t.borrowing_limit) for t in k8s.tenants]
    else:
        each = k8s.gpu_quota if k8s.gpu_quota is not None else total
        for ns in k8s.namespaces:
            tenants.append((ns, (ns,), each, None))
    queues = []
    for name, namespaces, gpus, limit in tenants:
        quotas = tuple(
            FlavorQuota(
                flavor=f.name,
                gpus=_share(gpus, f.gpus, total),
                cpu=_share(f.cpu, gpus, total),
                memory_gi=_share(f.memory_gi, gpus, total),
                rdma=_share(f.rdma, gpus, total),
            )
            for f in flavors
        )
        queues.append(QueuePlan(name, tuple(sorted(namespaces)), quotas, limit))
    resources = ["cpu", "memory", "nvidia.com/gpu"]
    if rdma:
        resources.append(RDMA_RESOURCE)
    return KueuePlan(
        version=k8s.kueue_version,
        cohort="dcinfra",
        flavors=tuple(flavors),
        queues=tuple(sorted(queues, key=lambda q: q.name)),
        resources=tuple(sorted(resources)),
    )
