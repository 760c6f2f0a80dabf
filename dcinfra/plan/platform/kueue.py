"""The Kueue part of the platform plan: one ResourceFlavor per compute pool, a ClusterQueue per tenant
(or per workload namespace), all in one cohort so idle quota is borrowed.

A queue named after a tenant that owns pools (``security.tenants`` / ``NodePool.tenant``) holds only the
flavors of its own pools; the others hold the pools no tenant owns (every pool without tenants). Kueue
borrows and lends per flavor and resource, so a tenant's nodes are never used by another tenant's queue;
within shared flavors ``borrowingLimit`` caps what a queue borrows and ``lendingLimit`` what it lends
(https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/, "borrowingLimit", "lendingLimit").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dcinfra.catalog import closest
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


def check_tenants(
    k8s: Kubernetes, total: int, problems: list[Problem], owned: Mapping[str, int] | None = None
) -> None:
    """The declared tenants against the workload namespaces and the ``total`` GPUs of the compute
    hosts: a namespace that is not a workload one or is in two tenants, a tenant declared twice
    (``platform.tenants``), quotas over the GPUs there are (``platform.quota``). ``owned``: GPUs of the
    compute hosts per owning tenant ("" for pools of no tenant); a queue named after a tenant is checked
    against its own GPUs, and one naming no tenant needs shared pools. Kueue's plan (:func:`kueue`) and
    validation (:func:`dcinfra.plan.platform.check_platform`) both ask here."""
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
        if t.lending_limit is not None and t.lending_limit > t.gpus:
            problems.append(
                Problem(
                    f"{base}.tenants[{i}].lending_limit",
                    f"tenant {t.name!r} may lend {t.lending_limit} GPUs but is guaranteed only {t.gpus}",
                    f"lend at most gpus={t.gpus} (lending_limit=0: lend none), or leave it None",
                    "platform.quota",
                )
            )
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
    owners = sorted(t for t in (owned or {}) if t)
    if not owners:
        return
    shared = (owned or {}).get("", 0)
    for i, t in enumerate(k8s.tenants):
        where = f"{base}.tenants[{i}]"
        if t.name in owners:
            mine = (owned or {})[t.name]
            if t.gpus > mine:
                problems.append(
                    Problem(
                        f"{where}.gpus",
                        f"tenant {t.name!r} is guaranteed {t.gpus} GPUs but its own pools have {mine}",
                        f"lower gpus to at most {mine}: its queue holds only its own pools' flavors",
                        "platform.quota",
                    )
                )
        elif not shared:
            problems.append(
                Problem(
                    f"{where}.name",
                    f"GPU quota {t.name!r} is not a tenant that owns pools, and every compute pool "
                    f"belongs to a tenant ({', '.join(owners)}): its queue would hold no flavor",
                    f"{_did_you_mean(t.name, owners)}name it after the tenant whose pools it uses "
                    f"({', '.join(owners)})",
                    "platform.tenants",
                )
            )
        elif t.gpus > shared:
            problems.append(
                Problem(
                    f"{where}.gpus",
                    f"GPU quota {t.name!r} (no tenant) is guaranteed {t.gpus} GPUs but the pools of no "
                    f"tenant have {shared}",
                    f"lower gpus to at most {shared}, or name it after a tenant ({', '.join(owners)})",
                    "platform.quota",
                )
            )


def _did_you_mean(value: str, known: list[str]) -> str:
    near = closest(value, known)
    return f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""


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
                tenant=hosts[0].tenant,
            )
        )
    total = sum(f.gpus for f in flavors)
    check_tenants(k8s, total, problems, owned_gpus(compute))
    owners = {f.tenant for f in flavors if f.tenant}
    tenants: list[tuple[str, tuple[str, ...], int, int | None, int | None]] = []
    if k8s.tenants:
        tenants = [(t.name, t.namespaces, t.gpus, t.borrowing_limit, t.lending_limit) for t in k8s.tenants]
    else:
        each = k8s.gpu_quota if k8s.gpu_quota is not None else total
        for ns in k8s.namespaces:
            tenants.append((ns, (ns,), each, None, None))
    queues = []
    for name, namespaces, gpus, borrow, lend in tenants:
        # A tenant's own pools; a queue of no tenant: the pools no tenant owns.
        mine = [f for f in flavors if f.tenant == (name if name in owners else None)]
        whole = sum(f.gpus for f in mine)
        quotas = tuple(
            FlavorQuota(
                flavor=f.name,
                gpus=_share(gpus, f.gpus, whole),
                cpu=_share(f.cpu, gpus, whole),
                memory_gi=_share(f.memory_gi, gpus, whole),
                rdma=_share(f.rdma, gpus, whole),
            )
            for f in mine
        )
        queues.append(QueuePlan(name, tuple(sorted(namespaces)), quotas, borrow, lend))
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


def owned_gpus(compute: Sequence[HostPlan]) -> dict[str, int]:
    """GPUs of the compute hosts per owning tenant ("" for hosts of no tenant)."""
    out: dict[str, int] = {}
    for h in compute:
        out[h.tenant or ""] = out.get(h.tenant or "", 0) + h.gpu_count
    return out
