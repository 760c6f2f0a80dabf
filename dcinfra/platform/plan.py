"""Stack + Plan -> :class:`PlatformPlan`: every decision the Kubernetes platform needs, resolved.

:func:`plan_platform` is pure and deterministic. It reads the stack's platform settings and the
compiled :class:`~dcinfra.plan.types.Plan` (hosts, rails, Ceph, the compiled host firewall) and
resolves them into plain records: namespaces and their Pod Security level, the NetworkPolicy rules,
operator settings, Kueue flavors and quotas, the benchmark Job. :mod:`dcinfra.platform.objects` turns
the records into Kubernetes objects without further decisions.

NetworkPolicies from the host firewall
--------------------------------------
Pods run on the compute hosts, and a pod may land on any of them, so a pod is allowed what the host
firewall allows *every* compute host, no more. Each rule of the host firewall is one of three things,
and maps accordingly:

- **workload flows** (``flow bench-rendezvous``, ``bench-link``, ``bench-collectives``: ranks talking
  to ranks) -> ingress and egress between the pods of the same namespace, on the flow's ports (pods
  talk to pods, not to host addresses);
- **daemon flows** (every other ``flow ...``: Ceph, HDFS, the API server) -> egress to the hosts that
  run the daemon, on the rule's interface and ports, when that host's input chain accepts every compute
  host (after its drops). So pods reach Ceph monitors and OSDs, the HDFS NameNode and DataNodes and
  the API server exactly when the hosts they run on may;
- **your rules** (``rule ...`` of ``security.rules``) -> egress as for daemon flows, and on the compute
  hosts' chains also ingress into the pods from the rule's source CIDRs (``ipBlock``), with the
  CIDRs dropped before it (tenant isolation) carved out as ``except``. Ingress uses the rules common to
  every compute host's chain.

``flow ssh`` and ``flow kubelet`` are host-daemon paths and never map; ICMP has no NetworkPolicy form.
DNS to the cluster's kube-dns (UDP/TCP 53) is always allowed: nothing works without it.
``security.default="allow"`` adds allow-all ingress and egress (minus the drops), as on the hosts.

Standard NetworkPolicies apply to the pod's primary interface only: traffic on the Multus rail
interfaces (RDMA) is outside them, as RDMA bypasses the kernel's packet path anyway.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dcinfra.errors import Problem, StackInvalid
from dcinfra.model.platform import Kubernetes
from dcinfra.model.stack import Stack
from dcinfra.plan.types import FirewallRule, HostPlan, Plan
from dcinfra.platform import charts

# Namespaces of the operators (as their install guides name them) and of the benchmark.
NS_GPU_OPERATOR = "gpu-operator"
NS_NETWORK_OPERATOR = "nvidia-network-operator"
NS_CEPH_CSI_RBD = "ceph-csi-rbd"
NS_CEPH_CSI_CEPHFS = "ceph-csi-cephfs"
NS_ROOK = "rook-ceph"
NS_KUEUE = "kueue-system"
NS_VERIFY = "dcinfra-verify"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")

# Flows that are host-daemon paths, never workload paths (see the module docstring).
HOST_ONLY_RULES = frozenset({"flow ssh", "flow kubelet"})
# Flows between the workloads themselves (the benchmark's ranks): pod to pod in one namespace.
WORKLOAD_FLOWS = frozenset({"flow bench-rendezvous", "flow bench-link", "flow bench-collectives"})
_ANY = ipaddress.IPv4Network("0.0.0.0/0")

# Node label the ResourceFlavors and IP pools select on: the dcinfra pool a node belongs to. The Pulumi
# program sets it on each compute host's Node (NodePatch; Node name = the planned hostname). GitOps
# output leaves Nodes alone: there the kubelet sets it at join time (``--node-labels=dcinfra.io/pool=
# <pool>``; a label outside the kubernetes.io/k8s.io namespaces, which NodeRestriction lets it set).
POOL_LABEL = "dcinfra.io/pool"

# RDMA shared device plugin: one resource exposing every rail HCA of a node to the pods that request
# it; rdmaHcaMax is how many pods may share them (the plugin's documented example value).
# Source: https://github.com/Mellanox/k8s-rdma-shared-dev-plugin#readme
RDMA_RESOURCE = "rdma/rails"
RDMA_HCA_MAX = 63

# Pod addresses per node and rail that NV-IPAM hands out (8 GPUs per node -> 8 single-GPU pods, x2).
IPAM_BLOCK_PER_NODE = 16

# Pod Security Standards levels. Source: https://kubernetes.io/docs/concepts/security/pod-security-standards/
PSS = ("restricted", "baseline", "privileged")


@dataclass(frozen=True, slots=True)
class NamespacePlan:
    """One namespace the platform creates."""

    name: str
    purpose: str  # "workload", "verify" or "operator"
    enforce: str  # Pod Security level enforced: "restricted", "baseline" or "privileged"
    warn: str  # level warned about and audited (stricter than enforce where the workload allows)
    reason: str  # why this level
    data_bearing: bool  # deleting it deletes PVCs: protected in Pulumi


@dataclass(frozen=True, slots=True)
class Peer:
    """One ``ipBlock`` of a NetworkPolicy rule."""

    cidr: str
    excepts: tuple[str, ...] = ()  # sub-ranges carved out (dropped earlier in the host chain)


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One allow NetworkPolicy in every workload namespace."""

    name: str  # object name, e.g. "allow-egress-flow-ceph-mon"
    direction: str  # "ingress" or "egress"
    protocol: str  # "tcp", "udp", "any"
    ports: tuple[str, ...]  # "6789", "6800-7300"; empty: all
    peers: tuple[Peer, ...]  # ipBlocks; empty with same_namespace or dns
    same_namespace: bool  # peer: every pod of the same namespace
    dns: bool  # peer: the cluster DNS pods in kube-system
    source: str  # what it was compiled from, e.g. "ruleset 'stor.ceph-mon+...' rule 'flow ceph-mon'"


@dataclass(frozen=True, slots=True)
class RailPlan:
    """One compute rail as a secondary pod network."""

    rail: int
    name: str  # NetworkAttachmentDefinition and IPPool name, "rail0"
    master: str  # host interface, "ib0"
    cni: str  # "ipoib" (InfiniBand) or "macvlan" (RoCE, Ethernet)
    subnet: str  # the rail's subnet
    mtu: int
    exclusions: tuple[tuple[str, str], ...]  # (first, last) host address ranges NV-IPAM must skip


@dataclass(frozen=True, slots=True)
class NetworkOperatorPlan:
    """NVIDIA Network Operator: Multus, CNI plugins, NV-IPAM and the RDMA shared device plugin."""

    version: str  # chart version, e.g. "25.7.0"
    fabric: str  # "infiniband", "roce", "ethernet"
    rails: tuple[RailPlan, ...]
    rdma: bool  # RDMA fabric: the shared device plugin exposes RDMA_RESOURCE
    pools: tuple[str, ...]  # compute pools (node selector of the IP pools)
    nfd: bool  # deploy Node Feature Discovery (when the GPU Operator does not)


@dataclass(frozen=True, slots=True)
class GpuOperatorPlan:
    """NVIDIA GPU Operator."""

    version: str  # chart version, e.g. "v25.10.1"
    driver_enabled: bool  # False when dcinfra's nvidia_driver role manages host drivers
    toolkit_version: str | None  # forced toolkit image tag; None: the chart's own
    toolkit_shipped: str | None  # the toolkit the chart ships, when known


@dataclass(frozen=True, slots=True)
class CephCsiPlan:
    """ceph-csi RBD and CephFS drivers pointing at the host Ceph cluster."""

    version: str  # chart version
    cluster_id: str  # the Ceph fsid (ceph-csi's clusterID)
    monitors: tuple[str, ...]  # "ip:6789"
    rbd_pool: str | None  # RADOS pool for RBD volumes; None: no RBD class
    cephfs: str | None  # CephFS name; None: no CephFS class
    rbd_secret: str  # Secret (userID/userKey) in NS_CEPH_CSI_RBD, created outside dcinfra
    cephfs_secret: str  # Secret (adminID/adminKey or userID/userKey) in NS_CEPH_CSI_CEPHFS


@dataclass(frozen=True, slots=True)
class RookPlan:
    """Rook runs the stack's Ceph inside Kubernetes."""

    version: str  # Rook chart version
    image: str  # Ceph image
    mons: int
    failure_domain: str
    nodes: tuple[tuple[str, tuple[str, ...]], ...]  # (host, devices) for OSDs
    rbd_pool: str | None
    replicas: int
    cephfs: str | None


@dataclass(frozen=True, slots=True)
class FlavorPlan:
    """One Kueue ResourceFlavor: the nodes of one compute pool."""

    name: str  # flavor name (the pool name)
    pool: str
    gpu: str | None  # catalog GPU key
    hosts: int
    gpus: int  # GPUs in the pool
    cpu: int  # physical cores in the pool
    memory_gi: int  # memory in the pool, GiB
    rdma: int  # shared RDMA resource count in the pool (hosts x RDMA_HCA_MAX), 0 without RDMA


@dataclass(frozen=True, slots=True)
class FlavorQuota:
    """A ClusterQueue's nominal quota in one flavor."""

    flavor: str
    gpus: int
    cpu: int
    memory_gi: int
    rdma: int


@dataclass(frozen=True, slots=True)
class QueuePlan:
    """One tenant: a ClusterQueue and a LocalQueue in each of its namespaces."""

    name: str  # ClusterQueue name
    namespaces: tuple[str, ...]
    quotas: tuple[FlavorQuota, ...]
    borrowing_limit: int | None  # GPUs borrowable beyond nominal; None: unlimited


@dataclass(frozen=True, slots=True)
class KueuePlan:
    """Kueue with its flavors, tenant queues and priority classes."""

    version: str
    cohort: str  # every ClusterQueue shares this cohort so idle quota can be borrowed
    flavors: tuple[FlavorPlan, ...]
    queues: tuple[QueuePlan, ...]
    resources: tuple[str, ...]  # covered resources, sorted


@dataclass(frozen=True, slots=True)
class PriorityPlan:
    """One PriorityClass."""

    name: str
    value: int
    preempts: bool  # False: preemptionPolicy Never
    description: str


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """The verification benchmark as an indexed Job."""

    image: str
    nodes: int  # pods = compute hosts
    procs_per_node: int  # GPUs per host (1 on CPU hosts)
    gpus_per_node: int  # 0 on CPU hosts
    port: int  # rendezvous port
    timeout_s: int
    env: dict[str, str]  # NCCL/gloo environment from the plan (first compute host)
    rails: tuple[tuple[str, str], ...]  # (attachment name, pod interface) per rail
    rdma: bool
    backend: str  # "nccl" or "gloo"
    max_message_bytes: int  # the verify stage's settings, passed to the bench as it passes them
    warmup_iters: int
    iters: int
    training_steps: int
    peak_tflops: float  # catalog peak per device


@dataclass(frozen=True, slots=True)
class PlatformPlan:
    """Everything the Kubernetes platform of one stack needs, resolved."""

    stack: str
    kubernetes_version: str  # minor, e.g. "1.31"
    kubeconfig: str | None
    context: str | None
    namespaces: tuple[NamespacePlan, ...]
    policies: tuple[PolicyRule, ...]  # applied in every workload and verify namespace
    gpu_operator: GpuOperatorPlan | None
    network: NetworkOperatorPlan | None
    ceph_csi: CephCsiPlan | None
    rook: RookPlan | None
    kueue: KueuePlan | None
    priorities: tuple[PriorityPlan, ...]
    bench: BenchPlan | None
    # (node, pool) of every compute host while something selects on POOL_LABEL (Kueue flavors, IP pools):
    # the Pulumi program labels those Nodes (a server-side-apply patch of the label alone).
    node_pools: tuple[tuple[str, str], ...] = field(default=())
    notes: tuple[str, ...] = field(default=())  # decisions a reviewer should know about

    @property
    def workload_namespaces(self) -> tuple[str, ...]:
        """Namespaces with default-deny and the compiled allows (workloads and the benchmark)."""
        return tuple(n.name for n in self.namespaces if n.purpose in ("workload", "verify"))


# Priority classes: the benchmark and production training above ordinary jobs; "low" never preempts.
PRIORITIES = (
    PriorityPlan("dcinfra-critical", 100000, True, "dcinfra verification benchmark and production runs"),
    PriorityPlan("dcinfra-high", 10000, True, "important training jobs; may preempt lower priorities"),
    PriorityPlan("dcinfra-default", 1000, True, "ordinary jobs"),
    PriorityPlan("dcinfra-low", 100, False, "opportunistic jobs that use idle GPUs and never preempt"),
)


def plan_platform(stack: Stack, plan: Plan) -> PlatformPlan | None:
    """The platform plan of ``stack`` (None when it declares no Kubernetes platform).

    Raises :class:`StackInvalid` listing every platform problem (see :func:`platform_problems`)."""
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is None:
        return None
    problems: list[Problem] = []
    pp = _build(stack, k8s, plan, problems)
    if problems:
        raise StackInvalid(problems)
    return pp


def platform_problems(stack: Stack, plan: Plan) -> list[Problem]:
    """Every problem of the stack's platform settings against its plan; [] without a platform."""
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is None:
        return []
    problems: list[Problem] = []
    _build(stack, k8s, plan, problems)
    return problems


def _build(stack: Stack, k8s: Kubernetes, plan: Plan, problems: list[Problem]) -> PlatformPlan:
    base = "platform.kubernetes"
    compute = tuple(h for h in plan.hosts if "compute" in h.roles)
    gpu_hosts = tuple(h for h in compute if h.gpu_count > 0)
    rdma = plan.fabric is not None and plan.fabric.kind in ("infiniband", "roce")
    notes: list[str] = []

    reserved = {
        NS_GPU_OPERATOR,
        NS_NETWORK_OPERATOR,
        NS_CEPH_CSI_RBD,
        NS_CEPH_CSI_CEPHFS,
        NS_ROOK,
        NS_KUEUE,
        NS_VERIFY,
        *SYSTEM_NAMESPACES,
    }
    for i, ns in enumerate(k8s.namespaces):
        if ns in reserved:
            problems.append(
                Problem(
                    f"{base}.namespaces[{i}]",
                    f"namespace {ns!r} is reserved for the platform's own components",
                    f"rename it; reserved: {', '.join(sorted(reserved))}",
                    "platform.namespaces",
                )
            )

    gpu_op = _gpu_operator(k8s, problems) if k8s.gpu_operator and gpu_hosts else None
    if k8s.gpu_operator and not gpu_hosts:
        notes.append("no compute host has GPUs: the GPU Operator is not installed")
    network = None
    if k8s.network_operator and plan.fabric is not None and compute:
        network = _network(k8s, plan, compute, rdma, gpu_op is None, problems)
    ceph_csi, rook = _storage(stack, k8s, plan, problems, notes)
    kueue = _kueue(k8s, compute, rdma and network is not None, problems) if k8s.kueue else None
    bench = _bench(k8s, plan, compute, network, problems) if k8s.bench_image else None

    namespaces = _namespaces(k8s, gpu_op, network, ceph_csi, rook, kueue, bench, rdma)
    return PlatformPlan(
        stack=plan.stack,
        kubernetes_version=k8s.version,
        kubeconfig=k8s.kubeconfig,
        context=k8s.context,
        namespaces=namespaces,
        policies=compile_policies(plan, compute),
        gpu_operator=gpu_op,
        network=network,
        ceph_csi=ceph_csi,
        rook=rook,
        kueue=kueue,
        priorities=PRIORITIES if kueue is not None or bench is not None else (),
        bench=bench,
        node_pools=tuple((h.name, h.pool) for h in compute) if kueue or network else (),
        notes=tuple(notes),
    )


# --- namespaces -----------------------------------------------------------------------------------------


def _namespaces(
    k8s: Kubernetes,
    gpu_op: GpuOperatorPlan | None,
    network: NetworkOperatorPlan | None,
    ceph_csi: CephCsiPlan | None,
    rook: RookPlan | None,
    kueue: KueuePlan | None,
    bench: BenchPlan | None,
    rdma: bool,
) -> tuple[NamespacePlan, ...]:
    out = [
        NamespacePlan(ns, "workload", "restricted", "restricted", "workload namespace", True)
        for ns in k8s.namespaces
    ]
    privileged = "operator runs privileged node agents (host paths, devices, host network)"
    if gpu_op is not None:
        out.append(NamespacePlan(NS_GPU_OPERATOR, "operator", "privileged", "privileged", privileged, False))
    if network is not None:
        out.append(
            NamespacePlan(NS_NETWORK_OPERATOR, "operator", "privileged", "privileged", privileged, False)
        )
    if ceph_csi is not None:
        for ns in (NS_CEPH_CSI_RBD, NS_CEPH_CSI_CEPHFS):
            out.append(NamespacePlan(ns, "operator", "privileged", "privileged", privileged, False))
    if rook is not None:
        out.append(NamespacePlan(NS_ROOK, "operator", "privileged", "privileged", privileged, True))
    if kueue is not None:
        out.append(
            NamespacePlan(
                NS_KUEUE,
                "operator",
                "baseline",
                "restricted",
                "controller without node access: baseline enforced, restricted warned",
                False,
            )
        )
    if bench is not None:
        if rdma:
            level, why = "privileged", "RDMA needs IPC_LOCK (pinned memory), which no other level allows"
        else:
            level, why = "restricted", "benchmark over TCP: no extra privileges"
        out.append(NamespacePlan(NS_VERIFY, "verify", level, "restricted", why, False))
    return tuple(sorted(out, key=lambda n: n.name))


# --- GPU Operator ---------------------------------------------------------------------------------------


def _gpu_operator(k8s: Kubernetes, problems: list[Problem]) -> GpuOperatorPlan:
    base = "platform.kubernetes"
    shipped = charts.GPU_OPERATOR_TOOLKIT.get(k8s.gpu_operator_version)
    if k8s.toolkit_version is not None:
        if charts.version_tuple(k8s.toolkit_version) < charts.TOOLKIT_MIN:
            problems.append(
                Problem(
                    f"{base}.toolkit_version",
                    f"NVIDIA Container Toolkit {k8s.toolkit_version!r} is older than "
                    f"v{'.'.join(map(str, charts.TOOLKIT_MIN))}, which fixes container-escape CVEs "
                    "(CVE-2024-0132, CVE-2025-23359, CVE-2025-23266)",
                    f"use v{'.'.join(map(str, charts.TOOLKIT_MIN))} or newer, or None for the chart's own",
                    "platform.toolkit",
                )
            )
    elif charts.version_tuple(k8s.gpu_operator_version) < charts.GPU_OPERATOR_MIN:
        problems.append(
            Problem(
                f"{base}.gpu_operator_version",
                f"GPU Operator {k8s.gpu_operator_version!r} ships an NVIDIA Container Toolkit older than "
                f"v{'.'.join(map(str, charts.TOOLKIT_MIN))} (container-escape CVEs up to CVE-2025-23266)",
                f"use v{'.'.join(map(str, charts.GPU_OPERATOR_MIN))} or newer (default "
                f"{Kubernetes.model_fields['gpu_operator_version'].default!r}), or force toolkit_version",
                "platform.toolkit",
            )
        )
    return GpuOperatorPlan(
        version=k8s.gpu_operator_version,
        driver_enabled=k8s.gpu_driver == "operator",
        toolkit_version=k8s.toolkit_version,
        toolkit_shipped=shipped,
    )


# --- rails ----------------------------------------------------------------------------------------------


def _ranges(addresses: Iterable[str]) -> tuple[tuple[str, str], ...]:
    ints = sorted({int(ipaddress.IPv4Address(a)) for a in addresses})
    out: list[tuple[str, str]] = []
    start = prev = None
    for i in [*ints, None]:
        if start is not None and prev is not None and (i is None or i != prev + 1):
            out.append((str(ipaddress.IPv4Address(start)), str(ipaddress.IPv4Address(prev))))
            start = None
        if i is not None and start is None:
            start = i
        prev = i
    return tuple(out)


def _network(
    k8s: Kubernetes,
    plan: Plan,
    compute: Sequence[HostPlan],
    rdma: bool,
    nfd: bool,
    problems: list[Problem],
) -> NetworkOperatorPlan:
    assert plan.fabric is not None
    kind = plan.fabric.kind
    rails = []
    for net in plan.networks:
        m = re.fullmatch(r"compute-r(\d+)", net.name)
        if m is None:
            continue
        r = int(m.group(1))
        hosts = [h for h in compute if len(h.rails) > r]
        subnet = ipaddress.IPv4Network(net.cidr)
        need = len(hosts) * IPAM_BLOCK_PER_NODE + len(hosts)
        if need > subnet.num_addresses - 2:
            problems.append(
                Problem(
                    "fabric.compute.cidr",
                    f"rail {r} subnet {net.cidr} ({subnet.num_addresses} addresses) cannot hold "
                    f"{len(hosts)} hosts plus {IPAM_BLOCK_PER_NODE} pod addresses per host ({need})",
                    "use a larger compute CIDR",
                    "platform.rail-addresses",
                )
            )
        rails.append(
            RailPlan(
                rail=r,
                name=f"rail{r}",
                master=net.interface,
                cni="ipoib" if kind == "infiniband" else "macvlan",
                subnet=net.cidr,
                mtu=net.mtu,
                exclusions=_ranges(h.rails[r].address for h in hosts),
            )
        )
    return NetworkOperatorPlan(
        version=k8s.network_operator_version,
        fabric=kind,
        rails=tuple(sorted(rails, key=lambda x: x.rail)),
        rdma=rdma,
        pools=tuple(sorted({h.pool for h in compute})),
        nfd=nfd,
    )


# --- storage --------------------------------------------------------------------------------------------


def _storage(
    stack: Stack, k8s: Kubernetes, plan: Plan, problems: list[Problem], notes: list[str]
) -> tuple[CephCsiPlan | None, RookPlan | None]:
    ceph = plan.ceph
    if k8s.storage == "none":
        return None, None
    if ceph is None:
        if k8s.storage == "rook":
            problems.append(
                Problem(
                    "platform.kubernetes.storage",
                    "storage='rook' needs a Ceph cluster in the stack (storage.ceph says where its "
                    "monitors and OSDs run)",
                    "declare storage=Storage(ceph=CephCluster(...)), or use storage='none'",
                    "platform.storage",
                )
            )
        else:
            notes.append("the stack has no Ceph cluster: no ceph-csi StorageClasses")
        return None, None
    rbd = next((p.name for p in ceph.pools if p.application == "rbd"), None)
    if k8s.storage == "ceph-csi":
        return (
            CephCsiPlan(
                version=k8s.ceph_csi_version,
                cluster_id=ceph.fsid,
                monitors=tuple(f"{a}:6789" for a in ceph.mon_addresses),
                rbd_pool=rbd,
                cephfs=ceph.cephfs_name,
                rbd_secret="csi-rbd-secret",
                cephfs_secret="csi-cephfs-secret",
            ),
            None,
        )
    image = charts.ROOK_CEPH_IMAGES.get(ceph.release)
    if image is None:
        problems.append(
            Problem(
                "versions.ceph",
                f"Rook {k8s.rook_version} cannot run Ceph {ceph.release!r}",
                f"set versions.ceph to one of {', '.join(sorted(charts.ROOK_CEPH_IMAGES))}",
                "platform.storage",
            )
        )
        image = ""
    spec = stack.storage.ceph
    assert spec is not None
    osd_hosts = sorted({o.host for o in ceph.osds})
    nodes = tuple((h, tuple(d.removeprefix("/dev/") for d in spec.devices)) for h in osd_hosts)
    replicas = next((p.size for p in ceph.pools if p.application == "rbd"), 3)
    return None, RookPlan(
        version=k8s.rook_version,
        image=image,
        mons=len(ceph.mons),
        failure_domain=ceph.failure_domain,
        nodes=nodes,
        rbd_pool=rbd,
        replicas=replicas,
        cephfs=ceph.cephfs_name,
    )


# --- Kueue ----------------------------------------------------------------------------------------------


def _share(total: int, part: int, whole: int) -> int:
    """``total * part / whole`` rounded up (a quota never rounds a tenant below its GPUs' share)."""
    return 0 if whole == 0 else -(-total * part // whole)


def _kueue(k8s: Kubernetes, compute: Sequence[HostPlan], rdma: bool, problems: list[Problem]) -> KueuePlan:
    base = "platform.kubernetes"
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
    tenants: list[tuple[str, tuple[str, ...], int, int | None]] = []
    if k8s.tenants:
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
            tenants.append((t.name, t.namespaces, t.gpus, t.borrowing_limit))
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


# --- benchmark ------------------------------------------------------------------------------------------


def _bench(
    k8s: Kubernetes,
    plan: Plan,
    compute: Sequence[HostPlan],
    network: NetworkOperatorPlan | None,
    problems: list[Problem],
) -> BenchPlan | None:
    v = plan.verify
    if v is None or not compute:
        problems.append(
            Problem(
                "platform.kubernetes.bench_image",
                "the benchmark Job needs compute hosts, and the stack has none",
                "add a pool with role 'compute' or leave bench_image unset",
                "platform.bench",
            )
        )
        return None
    first = plan.host(v.hosts[0])
    rails: tuple[tuple[str, str], ...] = ()
    if network is not None:
        rails = tuple((r.name, r.master) for r in network.rails)
    # The pods get the rail interfaces under the hosts' names, so the plan's NCCL env applies as is.
    env = dict(first.nccl_env)
    env["PYTHONUNBUFFERED"] = "1"
    if v.backend == "gloo":
        env["OMP_NUM_THREADS"] = str(max(first.cpu_cores, 1))  # as the verify stage sets it
    return BenchPlan(
        image=k8s.bench_image or "",
        nodes=len(v.hosts),
        procs_per_node=max(first.gpu_count, 1),
        gpus_per_node=first.gpu_count,
        port=v.rendezvous_port,
        timeout_s=v.timeout_s,
        env=dict(sorted(env.items())),
        rails=rails,
        rdma=network is not None and network.rdma,
        backend=v.backend,
        max_message_bytes=v.max_message_bytes,
        warmup_iters=v.warmup_iters,
        iters=v.iters,
        training_steps=v.training_steps,
        peak_tflops=v.gemm_peak_tflops,
    )


# --- NetworkPolicies from the host firewall ---------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _nets(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c) for c in cidrs]


def _peers(sources: Sequence[str], drops: Sequence[ipaddress.IPv4Network]) -> tuple[Peer, ...]:
    """ipBlocks for ``sources`` (empty: anywhere) minus what earlier drop rules removed."""
    nets = _nets(sources) if sources else [_ANY]
    out = []
    for net in sorted(set(nets)):
        if any(net.subnet_of(d) for d in drops):
            continue
        excepts = sorted({str(d) for d in drops if d.subnet_of(net) and d != net})
        out.append(Peer(str(net), tuple(excepts)))
    return tuple(out)


def _accepted(host: HostPlan, sources: Sequence[str], drops: Sequence[ipaddress.IPv4Network]) -> bool:
    """Whether some address of ``host`` is accepted by a rule with ``sources`` after ``drops``."""
    addrs = [ipaddress.IPv4Address(a) for a in (*host.addresses.values(), *(r.address for r in host.rails))]
    nets = _nets(sources)
    return any((not nets or any(a in n for n in nets)) and not any(a in d for d in drops) for a in addrs)


def compile_policies(plan: Plan, compute: Sequence[HostPlan]) -> tuple[PolicyRule, ...]:
    """The allow NetworkPolicies of every workload namespace (see the module docstring)."""
    rules: list[PolicyRule] = [
        PolicyRule("allow-egress-dns", "egress", "udp", ("53",), (), False, True, "cluster DNS"),
        PolicyRule("allow-egress-dns-tcp", "egress", "tcp", ("53",), (), False, True, "cluster DNS"),
    ]
    if not compute:
        return tuple(sorted(rules, key=lambda r: r.name))
    sec = plan.security
    compute_keys = sorted({h.firewall for h in compute})

    # Ingress: the rules every compute ruleset has, in the first one's order.
    common = [r for r in sec.rulesets[compute_keys[0]] if all(r in sec.rulesets[k] for k in compute_keys[1:])]
    drops: list[ipaddress.IPv4Network] = []
    for r in common:
        if r.comment in HOST_ONLY_RULES or r.protocol == "icmp":
            continue  # host daemons; ICMP has no NetworkPolicy form (only TCP, UDP, SCTP)
        if r.action != "accept":
            drops.extend(_nets(r.sources) or [_ANY])
            continue
        source = f"ruleset {compute_keys[0]!r} {r.comment!r}"
        name = _slug(r.comment)
        if r.comment in WORKLOAD_FLOWS:
            for direction in ("ingress", "egress"):
                rules.append(
                    PolicyRule(
                        f"allow-{direction}-{name}", direction, r.protocol, r.ports, (), True, False, source
                    )
                )
        elif r.comment.startswith("rule "):
            peers = _peers(r.sources, drops)
            if peers:
                rules.append(
                    PolicyRule(
                        f"allow-ingress-{name}", "ingress", r.protocol, r.ports, peers, False, False, source
                    )
                )

    # Egress: daemon flows and user rules of every host kind that accept every compute host.
    merged: dict[tuple[str, str, tuple[str, ...]], tuple[set[str], list[str]]] = {}
    for key in sorted(sec.rulesets):
        members = [h for h in plan.hosts if h.firewall == key]
        chain_drops: list[ipaddress.IPv4Network] = []
        for r in sec.rulesets[key]:
            if r.comment in HOST_ONLY_RULES or r.comment in WORKLOAD_FLOWS or r.protocol == "icmp":
                continue
            if r.action != "accept":
                chain_drops.extend(_nets(r.sources) or [_ANY])
                continue
            if not all(_accepted(h, r.sources, chain_drops) for h in compute):
                continue
            slot = merged.setdefault((r.comment, r.protocol, r.ports), (set(), []))
            slot[0].update(_destinations(members, r))
            slot[1].append(key)
    for (comment, protocol, ports), (dsts, keys) in sorted(merged.items()):
        peers = tuple(
            Peer(str(n)) for n in ipaddress.collapse_addresses(ipaddress.IPv4Network(d) for d in dsts)
        )
        source = f"{comment!r} of ruleset(s) {', '.join(repr(k) for k in sorted(keys))}"
        rules.append(
            PolicyRule(
                f"allow-egress-{_slug(comment)}", "egress", protocol, ports, peers, False, False, source
            )
        )

    if sec.default == "allow":
        anywhere = _peers((), drops)
        why = "security.default='allow'"
        rules.append(PolicyRule("allow-ingress-default", "ingress", "any", (), anywhere, False, False, why))
        rules.append(PolicyRule("allow-egress-default", "egress", "any", (), anywhere, False, False, why))
    return tuple(sorted(_dedupe(rules), key=lambda r: r.name))


def _dedupe(rules: list[PolicyRule]) -> list[PolicyRule]:
    """Unique names: a second rule with the same name gets a numeric suffix."""
    seen: dict[str, int] = {}
    out = []
    for rule in rules:
        n = seen.get(rule.name, 0)
        seen[rule.name] = n + 1
        out.append(dataclasses.replace(rule, name=f"{rule.name}-{n + 1}") if n else rule)
    return out


def _destinations(members: Sequence[HostPlan], rule: FirewallRule) -> set[str]:
    """Addresses of ``members`` on the interface a rule is bound to (all of them when unbound)."""
    out: set[str] = set()
    for h in members:
        if rule.interface is None:
            out.update(f"{a}/32" for a in h.addresses.values())
            continue
        for net, iface in h.interfaces.items():
            if iface == rule.interface and net in h.addresses:
                out.add(f"{h.addresses[net]}/32")
    return out


def to_json(pp: PlatformPlan) -> str:
    """The platform plan as stable JSON (for ``plan --json`` and golden tests)."""
    from dcinfra.plan.types import to_jsonable

    return json.dumps(to_jsonable(pp), indent=2, sort_keys=True)
