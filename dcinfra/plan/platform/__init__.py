"""The platform layer's part of the Plan: every decision the Kubernetes platform needs, resolved.

:func:`plan_platform` is pure and deterministic, and :func:`dcinfra.plan.compile_plan` calls it once,
on the plan of the other layers (hosts, rails, Ceph, the compiled host firewall, the verify settings):
its :class:`PlatformPlan` is the plan's ``platform`` field, its problems join the plan's. It resolves
the stack's platform settings into plain records (:mod:`.records`):

- namespaces with their Pod Security level, and the NetworkPolicies compiled from the host firewall
  (:mod:`.policies`);
- the GPU Operator and the Network Operator with one pod network per rail (:mod:`.operators`);
- ceph-csi or Rook for the plan's Ceph cluster (:mod:`.storage`);
- Kueue flavors, tenant queues and quotas (:mod:`.kueue`), and the benchmark Job (:mod:`.bench`).

:mod:`dcinfra.platform` turns the records into Kubernetes objects without further decisions.
:func:`flows` is the layer's entry in the flows registry (:mod:`dcinfra.plan.registry`): the
Kubernetes control-plane connections every host needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.errors import Problem
from dcinfra.model.platform import Kubernetes
from dcinfra.model.stack import Stack
from dcinfra.plan.flows import Need, with_roles
from dcinfra.plan.hosts import Draft
from dcinfra.plan.platform.bench import bench as plan_bench
from dcinfra.plan.platform.kueue import kueue as plan_kueue
from dcinfra.plan.platform.operators import gpu_operator, network
from dcinfra.plan.platform.policies import compile_policies, namespaces
from dcinfra.plan.platform.records import (
    IPAM_BLOCK_PER_NODE,
    NS_CEPH_CSI_CEPHFS,
    NS_CEPH_CSI_RBD,
    NS_GPU_OPERATOR,
    NS_KUEUE,
    NS_NETWORK_OPERATOR,
    NS_ROOK,
    NS_VERIFY,
    POOL_LABEL,
    PRIORITIES,
    RDMA_HCA_MAX,
    RDMA_RESOURCE,
    SYSTEM_NAMESPACES,
    BenchPlan,
    CephCsiPlan,
    GpuOperatorPlan,
    KueuePlan,
    NamespacePlan,
    NetworkOperatorPlan,
    PlatformPlan,
    PolicyRule,
    RookPlan,
    RookPoolPlan,
)
from dcinfra.plan.platform.storage import plan_storage
from dcinfra.plan.types import Plan

__all__ = [
    "IPAM_BLOCK_PER_NODE",
    "NS_CEPH_CSI_CEPHFS",
    "NS_CEPH_CSI_RBD",
    "NS_GPU_OPERATOR",
    "NS_KUEUE",
    "NS_NETWORK_OPERATOR",
    "NS_ROOK",
    "NS_VERIFY",
    "POOL_LABEL",
    "RDMA_HCA_MAX",
    "RDMA_RESOURCE",
    "BenchPlan",
    "CephCsiPlan",
    "GpuOperatorPlan",
    "KueuePlan",
    "NamespacePlan",
    "NetworkOperatorPlan",
    "PlatformPlan",
    "PolicyRule",
    "RookPlan",
    "RookPoolPlan",
    "compile_policies",
    "flows",
    "plan_platform",
]

# Namespaces a stack may not declare as its own: the platform's components and Kubernetes' own.
RESERVED_NAMESPACES = frozenset(
    {
        NS_GPU_OPERATOR,
        NS_NETWORK_OPERATOR,
        NS_CEPH_CSI_RBD,
        NS_CEPH_CSI_CEPHFS,
        NS_ROOK,
        NS_KUEUE,
        NS_VERIFY,
        *SYSTEM_NAMESPACES,
    }
)


# kube-apiserver's secure port and the kubelet's API. Source:
# https://kubernetes.io/docs/reference/networking/ports-and-protocols/
K8S_API_PORT = "6443"
KUBELET_PORT = "10250"


def flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """Kubernetes: every host to the API server, the control plane to every kubelet."""
    k8s = stack.platform.kubernetes if stack.platform else None
    cp = with_roles(drafts, "k8s-control-plane")
    if k8s is None or not cp:
        return []
    everyone = frozenset(d.name for d in drafts)
    return [
        Need(
            "kube-apiserver",
            everyone,
            cp,
            "tcp",
            (K8S_API_PORT,),
            "management",
            "all hosts",
            "k8s-control-plane",
            scope="service",
        ),
        Need(
            "kubelet",
            cp,
            everyone,
            "tcp",
            (KUBELET_PORT,),
            "management",
            "k8s-control-plane",
            "all hosts",
            scope="host",
        ),
    ]


def plan_platform(stack: Stack, plan: Plan, problems: list[Problem]) -> PlatformPlan | None:
    """The platform plan of ``stack`` on ``plan`` (None when it declares no Kubernetes platform).

    Every problem of the platform settings against the plan is appended to ``problems``; the plan
    returned with problems is incomplete and must not be used."""
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is None:
        return None
    return _build(k8s, plan, problems)


def _build(k8s: Kubernetes, plan: Plan, problems: list[Problem]) -> PlatformPlan:
    compute = tuple(h for h in plan.hosts if "compute" in h.roles)
    gpu_hosts = tuple(h for h in compute if h.gpu_count > 0)
    rdma = plan.fabric is not None and plan.fabric.kind in ("infiniband", "roce")
    notes: list[str] = []

    for i, ns in enumerate(k8s.namespaces):
        if ns in RESERVED_NAMESPACES:
            problems.append(
                Problem(
                    f"platform.kubernetes.namespaces[{i}]",
                    f"namespace {ns!r} is reserved for the platform's own components",
                    f"rename it; reserved: {', '.join(sorted(RESERVED_NAMESPACES))}",
                    "platform.namespaces",
                )
            )

    gpu_op = gpu_operator(k8s, problems) if k8s.gpu_operator and gpu_hosts else None
    if k8s.gpu_operator and not gpu_hosts:
        notes.append("no compute host has GPUs: the GPU Operator is not installed")
    net = None
    if k8s.network_operator and plan.fabric is not None and compute:
        net = network(k8s, plan, compute, rdma, gpu_op is None, problems)
    ceph_csi, rook = plan_storage(k8s, plan, problems, notes)
    queues = plan_kueue(k8s, compute, rdma and net is not None, problems) if k8s.kueue else None
    job = plan_bench(k8s, plan, compute, net, problems) if k8s.bench_image else None

    return PlatformPlan(
        stack=plan.stack,
        kubernetes_version=k8s.version,
        kubeconfig=k8s.kubeconfig,
        context=k8s.context,
        namespaces=namespaces(k8s, gpu_op, net, ceph_csi, rook, queues, job, rdma),
        policies=compile_policies(plan, compute),
        gpu_operator=gpu_op,
        network=net,
        ceph_csi=ceph_csi,
        rook=rook,
        kueue=queues,
        priorities=PRIORITIES if queues is not None or job is not None else (),
        bench=job,
        node_pools=tuple((h.name, h.pool) for h in compute) if queues or net else (),
        notes=tuple(notes),
    )
