"""PlatformPlan -> Kubernetes objects: plain manifests and Helm charts, deterministic and sorted.

:func:`build_objects` makes no decisions of its own (they are in :mod:`dcinfra.plan.platform`, read from
:attr:`Plan.platform <dcinfra.plan.types.Plan.platform>`); it writes the records as the APIs spell them,
one module per area: :mod:`.security` (namespaces, NetworkPolicies, priority classes, the Nodes' pool
label), :mod:`.operators` (GPU and Network Operators, rail attachments), :mod:`.storage` (ceph-csi or
Rook), :mod:`.kueue` and :mod:`.bench`, over the records and helpers of :mod:`.base`. Every object
carries the standard labels (``app.kubernetes.io/name``, ``component``, ``part-of``, ``managed-by``)
and ``dcinfra.io/stack``, the keys of the objects it must follow (``depends_on``: a custom resource
after the chart that installs its CRD, a namespaced object after its namespace) and whether it bears
data (``protect`` in Pulumi).

The same tuple feeds the Pulumi program (:mod:`dcinfra.platform.program`) and the GitOps render
(:mod:`dcinfra.platform.gitops`), so both deploy exactly the same objects.
"""

from __future__ import annotations

from dcinfra.plan.platform import PlatformPlan
from dcinfra.platform.objects import bench, kueue, operators, security, storage
from dcinfra.platform.objects.base import (
    MANAGED_BY,
    PART_OF,
    STACK_LABEL,
    HelmChart,
    Item,
    K8sObject,
    labels,
    order,
    waves,
)

__all__ = [
    "MANAGED_BY",
    "PART_OF",
    "STACK_LABEL",
    "HelmChart",
    "Item",
    "K8sObject",
    "build_objects",
    "labels",
    "order",
    "waves",
]


def build_objects(pp: PlatformPlan) -> tuple[Item, ...]:
    """Every object of the platform, sorted by dependency depth, then key."""
    items: list[Item] = []
    items += security.node_labels(pp)
    items += security.namespaces(pp)
    items += security.policies(pp)
    items += security.priorities(pp)
    items += operators.gpu_operator(pp)
    items += operators.network(pp)
    items += storage.ceph_csi(pp)
    items += storage.rook(pp)
    items += kueue.kueue(pp)
    items += bench.bench(pp)
    return order(items)
