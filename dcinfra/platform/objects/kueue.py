"""The Kueue objects: its chart, one ResourceFlavor per compute pool, a ClusterQueue per tenant with a
LocalQueue in each of its namespaces, and the benchmark's own queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dcinfra.catalog import charts
from dcinfra.plan.platform import NS_KUEUE, NS_VERIFY, POOL_LABEL, KueuePlan, PlatformPlan
from dcinfra.platform.objects.base import Item, K8sObject, helm_chart, meta, ns_key

LOCAL_QUEUE = "default"  # one LocalQueue per namespace; jobs set kueue.x-k8s.io/queue-name: default


def _quota(resource: str, q: Any) -> int | str:
    if resource == "cpu":
        return int(q.cpu)
    if resource == "memory":
        return f"{q.memory_gi}Gi"
    if resource == "nvidia.com/gpu":
        return int(q.gpus)
    return int(q.rdma)


def _cluster_queue(
    pp: PlatformPlan,
    k: KueuePlan,
    name: str,
    namespaces: tuple[str, ...],
    quotas: Mapping[str, Any] | None,
    borrowing_limit: int | None,
    lending_limit: int | None = None,
) -> K8sObject:
    """A ClusterQueue over the flavors it has quota in (``quotas``; None: every flavor, nominal 0).
    ``borrowingLimit`` caps what it borrows, ``lendingLimit`` what the cohort may borrow of its idle
    quota (https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/)."""
    flavors = []
    names = [f.name for f in k.flavors if quotas is None or f.name in quotas]
    for flavor in names:
        q = quotas[flavor] if quotas is not None else None
        resources = []
        for res in k.resources:
            entry: dict[str, Any] = {"name": res, "nominalQuota": _quota(res, q) if q is not None else 0}
            if res == "nvidia.com/gpu" and borrowing_limit is not None:
                entry["borrowingLimit"] = borrowing_limit
            if res == "nvidia.com/gpu" and lending_limit is not None:
                entry["lendingLimit"] = lending_limit
            resources.append(entry)
        flavors.append({"name": flavor, "resources": resources})
    return K8sObject(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ClusterQueue",
            "metadata": meta(pp, name, "queue"),
            "spec": {
                "cohort": k.cohort,
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(namespaces)}
                    ]
                },
                "queueingStrategy": "BestEffortFIFO",
                "preemption": {
                    "reclaimWithinCohort": "Any",
                    "borrowWithinCohort": {"policy": "LowerPriority"},
                    "withinClusterQueue": "LowerPriority",
                },
                "resourceGroups": [{"coveredResources": list(k.resources), "flavors": flavors}],
            },
        },
        (f"HelmChart/{NS_KUEUE}/{charts.KUEUE.chart}", *(f"ResourceFlavor/_/{f}" for f in names)),
        False,
    )


def _local_queue(pp: PlatformPlan, ns: str, cluster_queue: str) -> K8sObject:
    return K8sObject(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": meta(pp, LOCAL_QUEUE, "queue", ns),
            "spec": {"clusterQueue": cluster_queue},
        },
        (ns_key(ns), f"ClusterQueue/_/{cluster_queue}"),
        False,
    )


def kueue(pp: PlatformPlan) -> list[Item]:
    k = pp.kueue
    if k is None:
        return []
    chart = helm_chart(pp, charts.KUEUE, NS_KUEUE, k.version, {}, "queue")
    out: list[Item] = [chart]
    for f in k.flavors:
        out.append(
            K8sObject(
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta1",
                    "kind": "ResourceFlavor",
                    "metadata": meta(pp, f.name, "queue"),
                    "spec": {"nodeLabels": {POOL_LABEL: f.pool}},
                },
                (chart.key,),
                False,
            )
        )
    for q in k.queues:
        quotas = {fq.flavor: fq for fq in q.quotas}
        out.append(_cluster_queue(pp, k, q.name, q.namespaces, quotas, q.borrowing_limit, q.lending_limit))
        out += [_local_queue(pp, ns, q.name) for ns in q.namespaces]
    if pp.bench is not None:
        # The benchmark owns no quota: it borrows whatever the tenants leave idle (no borrowing limit).
        out.append(_cluster_queue(pp, k, NS_VERIFY, (NS_VERIFY,), None, None))
        out.append(_local_queue(pp, NS_VERIFY, NS_VERIFY))
    return out
