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

Validation (:func:`dcinfra.plan.validate`) does not build the plan to check a platform: the
NetworkPolicies compiled from the host firewall, the IP pools' exclusions and the records find no
problem. :func:`check_platform` reports the problems :func:`plan_platform` would, in the same order,
from :class:`PlatformInputs`: the few facts of the other layers' plan its checks read (how many compute
hosts, GPUs and rails there are, the rail subnets, the Ceph plan), which the validator counts on the
planner's host drafts rather than on 100,000 host records. Both ask the same functions (the reserved
namespaces here, :func:`~.operators.rail_room`, :func:`~.storage.plan_storage`,
:func:`~.kueue.check_tenants`, :func:`~.bench.no_compute`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dcinfra.errors import Problem
from dcinfra.model.platform import Kubernetes
from dcinfra.model.stack import Stack
from dcinfra.plan.flows import Need, with_roles
from dcinfra.plan.hosts import Draft
from dcinfra.plan.platform.bench import bench as plan_bench
from dcinfra.plan.platform.bench import no_compute
from dcinfra.plan.platform.kueue import check_tenants, owned_gpus
from dcinfra.plan.platform.kueue import kueue as plan_kueue
from dcinfra.plan.platform.operators import gpu_operator, network, rail_of, rail_room
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
from dcinfra.plan.types import CephPlan, NetworkPlan, Plan

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
    "PlatformInputs",
    "PlatformPlan",
    "PolicyRule",
    "RookPlan",
    "RookPoolPlan",
    "check_platform",
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


@dataclass(frozen=True, slots=True)
class PlatformInputs:
    """What the platform's checks read of the plan of the other layers, and nothing more (see the
    module docstring): with these, :func:`check_platform` finds every problem :func:`plan_platform`
    finds on the plan itself."""

    compute: int  # compute hosts (role "compute"); the plan has verify settings when there are any
    gpu_hosts: int  # compute hosts with GPUs
    gpus: int  # GPUs of the compute hosts
    fabric: bool  # the plan has a compute fabric
    networks: tuple[NetworkPlan, ...]  # the plan's networks: the rails are the "compute-r<n>" ones
    rail_hosts: tuple[int, ...]  # per rail r: the compute hosts with more than r rails
    ceph: CephPlan | None  # the plan's Ceph cluster
    owned: dict[str, int] = field(default_factory=dict)  # compute GPUs per owning tenant ("": none)

    @classmethod
    def of(cls, plan: Plan) -> PlatformInputs:
        """The inputs as the plan itself has them (what :func:`plan_platform` reads)."""
        compute = [h for h in plan.hosts if "compute" in h.roles]
        most = max((len(h.rails) for h in compute), default=0)
        return cls(
            compute=len(compute),
            gpu_hosts=sum(1 for h in compute if h.gpu_count > 0),
            gpus=sum(h.gpu_count for h in compute),
            fabric=plan.fabric is not None,
            networks=plan.networks,
            rail_hosts=tuple(sum(1 for h in compute if len(h.rails) > r) for r in range(most)),
            ceph=plan.ceph,
            owned=owned_gpus(compute),
        )


def check_platform(stack: Stack, inputs: PlatformInputs, problems: list[Problem]) -> None:
    """Every problem :func:`plan_platform` would append for ``stack`` on a plan with these
    ``inputs``, in its order, without planning the platform (validation)."""
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is None:
        return
    _reserved(k8s, problems)
    if k8s.gpu_operator and inputs.gpu_hosts:
        gpu_operator(k8s, problems)
    if k8s.network_operator and inputs.fabric and inputs.compute:
        for net in inputs.networks:
            r = rail_of(net.name)
            if r is not None:
                rail_room(r, net.cidr, inputs.rail_hosts[r] if r < len(inputs.rail_hosts) else 0, problems)
    plan_storage(k8s, inputs.ceph, problems, [])
    if k8s.kueue:
        check_tenants(k8s, inputs.gpus, problems, inputs.owned)
    if k8s.bench_image and not inputs.compute:
        no_compute(problems)


def _reserved(k8s: Kubernetes, problems: list[Problem]) -> None:
    """``platform.namespaces``: a workload namespace the platform's components or Kubernetes own."""
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


def _build(k8s: Kubernetes, plan: Plan, problems: list[Problem]) -> PlatformPlan:
    compute = tuple(h for h in plan.hosts if "compute" in h.roles)
    gpu_hosts = tuple(h for h in compute if h.gpu_count > 0)
    rdma = plan.fabric is not None and plan.fabric.kind in ("infiniband", "roce")
    notes: list[str] = []

    _reserved(k8s, problems)

    gpu_op = gpu_operator(k8s, problems) if k8s.gpu_operator and gpu_hosts else None
    if k8s.gpu_operator and not gpu_hosts:
        notes.append("no compute host has GPUs: the GPU Operator is not installed")
    net = None
    if k8s.network_operator and plan.fabric is not None and compute:
        net = network(k8s, plan, compute, rdma, gpu_op is None, problems)
    ceph_csi, rook = plan_storage(k8s, plan.ceph, problems, notes)
    queues = plan_kueue(k8s, compute, rdma and net is not None, problems) if k8s.kueue else None
    job = plan_bench(k8s, plan, compute, net, problems) if k8s.bench_image else None

    return PlatformPlan(
        stack=plan.stack,
        kubernetes_version=k8s.version if k8s.version is not None else plan.versions["kubernetes"],
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
