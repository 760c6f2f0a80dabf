"""The records of the platform plan: every decision the Kubernetes platform needs, as plain data.

:class:`PlatformPlan` is the ``platform`` field of :class:`~dcinfra.plan.types.Plan`; the planner
(:mod:`dcinfra.plan.platform`) fills it in, :mod:`dcinfra.platform.objects` spells it as Kubernetes
objects without further decisions. This module imports nothing from the rest of the plan, so
:mod:`dcinfra.plan.types` can name its records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Namespaces of the operators (as their install guides name them) and of the benchmark.
NS_GPU_OPERATOR = "gpu-operator"
NS_NETWORK_OPERATOR = "nvidia-network-operator"
NS_CEPH_CSI_RBD = "ceph-csi-rbd"
NS_CEPH_CSI_CEPHFS = "ceph-csi-cephfs"
NS_ROOK = "rook-ceph"
NS_KUEUE = "kueue-system"
NS_VERIFY = "dcinfra-verify"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")

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
class RookPoolPlan:
    """One replicated pool Rook creates, as the plan sized it."""

    name: str  # the planned pool's name ("rbd", "<fs>-metadata", "<fs>-data")
    application: str  # "rbd" (a CephBlockPool) or "cephfs" (a pool of the CephFilesystem)
    size: int  # replicas: the planned pool's own size (CephPoolPlan.size)


@dataclass(frozen=True, slots=True)
class RookPlan:
    """Rook runs the stack's Ceph inside Kubernetes."""

    version: str  # Rook chart version
    image: str  # Ceph image
    mons: int
    failure_domain: str
    nodes: tuple[tuple[str, tuple[str, ...]], ...]  # (host, devices without "/dev/") of the planned OSDs
    pools: tuple[RookPoolPlan, ...]  # the planned RBD and CephFS pools, in plan order
    rbd_pool: str | None  # the pool behind the "ceph-rbd" StorageClass (the first RBD pool)
    cephfs: str | None  # CephFS name; None: no CephFilesystem
    # The CephFS's planned pools (Rook names them "<fs>-metadata" and "<fs>-<data pool name>").
    cephfs_metadata_pool: str | None
    cephfs_data_pool: str | None

    def size(self, pool: str) -> int:
        """The planned replica count of ``pool``."""
        return next(p.size for p in self.pools if p.name == pool)


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
    tenant: str | None = None  # the tenant owning the pool (only its queue holds the flavor); None: shared


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
    lending_limit: int | None = None  # GPUs of its idle quota others may borrow; None: all, 0: none


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
