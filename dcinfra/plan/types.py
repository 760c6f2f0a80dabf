"""The Plan: the compiled, pure, deterministic description of everything dcinfra will build.

The Plan is the single source of truth: templates and roles read topology, addresses and thresholds
from it and never recompute them. Every record is a frozen dataclass; :func:`to_jsonable` turns any of
them into plain JSON types with a stable key order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dcinfra.catalog.sites import SiteCapabilities
from dcinfra.errors import Problem

if TYPE_CHECKING:  # its package imports this module: the name is for annotations only
    from dcinfra.plan.platform.records import PlatformPlan

Tier = Literal["node_leaf", "leaf_spine", "spine_core"]


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """One IP network as planned."""

    name: str  # "management", "storage", or "compute-r<rail>"
    cidr: str  # e.g. "10.0.0.0/22"
    prefixlen: int  # e.g. 22
    mtu: int  # bytes
    gateway: str | None  # ".1" of the network when reserved
    interface: str  # host interface name on this network, e.g. "mgmt0", "ib3"
    hosts: int  # hosts attached


@dataclass(frozen=True, slots=True)
class RailNic:
    """One compute-fabric port of a host."""

    rail: int  # 0-based rail index
    interface: str  # IP interface (IPoIB or Ethernet), e.g. "ib0", "rail0"
    hca: str  # RDMA device, e.g. "mlx5_0" ("" on plain Ethernet)
    address: str  # IP on this rail's subnet
    prefixlen: int
    leaf: str  # the leaf switch this port is cabled to
    leaf_port: int  # 1-based port on that leaf


@dataclass(frozen=True, slots=True)
class HostPlan:
    """One host as planned."""

    name: str  # hostname
    pool: str  # pool it comes from
    index: int  # 1-based index within the pool
    roles: tuple[str, ...]  # sorted: pool roles plus planned daemon roles ("ceph-mon", ...)
    rack: str  # rack name
    su: int | None  # 1-based scalable unit on the compute fabric; None if not on it
    addresses: dict[str, str]  # network name -> IP: "management", "storage", "compute" (rail 0)
    interfaces: dict[str, str]  # network name -> interface name
    rails: tuple[RailNic, ...]  # compute-fabric ports in rail order
    gpu: str | None  # catalog GPU key, None for CPU-only
    gpu_count: int
    cpu_cores: int
    memory_gb: int
    power_kw: float  # max draw, kW
    tenant: str | None
    bmc_address: str | None
    nccl_env: dict[str, str]  # NCCL/gloo environment for the benchmark on this host ({} if not compute)
    firewall: str  # key into SecurityPlan.rulesets
    cooling: str  # "air" or "liquid"


@dataclass(frozen=True, slots=True)
class RackPlan:
    """One rack with what was placed in it."""

    name: str
    cooling: str
    budget_kw: float | None  # None: unlimited
    power_kw: float  # sum of max draw of its hosts, kW
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Cable:
    """One cable of the compute fabric."""

    tier: Tier
    a: str  # lower end "host:iface" or "switch:port"
    b: str  # upper end "switch:port"


@dataclass(frozen=True, slots=True)
class ExpectedBandwidth:
    """What the declared hardware should deliver, with how each figure was derived."""

    intra_node_busbw_GBps: float | None  # all-reduce busbw between GPUs of one node; None without NVLink GPUs
    inter_node_busbw_GBps: float | None  # all-reduce busbw across nodes; None without a compute fabric
    nic_line_rate_GBps: float  # one rail port, GB/s
    per_gpu_network_GBps: float  # fabric bandwidth available to one GPU (or one node without GPUs)
    link_GBps: float  # the expected point-to-point (iperf3) figure between two nodes
    efficiency: dict[str, float]  # factor name -> value used
    sources: dict[str, str]  # factor name -> where it comes from


@dataclass(frozen=True, slots=True)
class FabricPlan:
    """The compute fabric as a rail-optimized fat tree."""

    kind: str  # "infiniband", "roce", "ethernet"
    switch: str  # catalog switch model
    radix: int  # ports per switch
    link_gbps: int  # port line rate, Gb/s
    rails: int
    nodes: int  # hosts on the fabric
    nodes_per_su: int
    scalable_units: int
    oversubscription: float
    tiers: int  # 1 (single switch per rail), 2 (leaf-spine) or 3 (leaf-spine-core)
    switches: dict[str, int]  # "leaf", "spine", "core" -> count
    cables: dict[str, int]  # "node_leaf", "leaf_spine", "spine_core" -> count
    mtu: int
    expected: ExpectedBandwidth
    cabling: tuple[Cable, ...] = field(repr=False)  # every cable, tier by tier


@dataclass(frozen=True, slots=True)
class OsdPlan:
    """One Ceph OSD."""

    id: int  # OSD id, stable across runs (assigned in host order)
    host: str
    device: str  # block device, or "file:<size>G" for a lab file-backed OSD


@dataclass(frozen=True, slots=True)
class CephPoolPlan:
    """One RADOS pool as planned."""

    name: str
    size: int
    min_size: int
    pg_num: int  # planned PG count (a power of two)
    autoscale: bool  # leave pg_num to the autoscaler after creation
    application: str  # "rbd", "cephfs", "rgw"


@dataclass(frozen=True, slots=True)
class CrushBucket:
    """A node of the CRUSH tree: root -> rack -> host -> osd."""

    type: str  # "root", "rack", "host", "osd"
    name: str
    children: tuple[CrushBucket, ...] = ()


@dataclass(frozen=True, slots=True)
class CephPlan:
    """A Ceph cluster as planned."""

    name: str
    release: str  # code name, e.g. "pacific"
    fsid: str  # deterministic UUID derived from the stack and cluster name
    mons: tuple[str, ...]  # hostnames
    mon_addresses: tuple[str, ...]  # public-network IPs of the monitors, same order
    mgrs: tuple[str, ...]
    mdss: tuple[str, ...]
    osds: tuple[OsdPlan, ...]
    clients: tuple[str, ...]  # hosts with the client key
    pools: tuple[CephPoolPlan, ...]
    crush: CrushBucket
    failure_domain: str
    public_network: str  # CIDR
    cluster_network: str  # CIDR (same as public when not separate)
    public_network_name: str  # "storage", "management"
    cephfs_name: str | None
    cephfs_mount: str | None
    cephfs_metadata_pool: str | None  # the CephFS's metadata pool (one of pools); None without a CephFS
    cephfs_data_pool: str | None  # the CephFS's data pool (one of pools); None without a CephFS
    client_caps: dict[str, str]  # the compute client's caps by kind (mon/osd/mds/mgr); empty kinds left out
    client_mount: str  # "fuse" or "kernel": how clients mount CephFS
    osd_backing: str  # "devices" (the declared block devices) or "files" (sparse files, the site's choice)
    # Every daemon shares one machine (the site's shared_machine): smaller OSD memory target, and the
    # health gate accepts the warnings that only measure that machine's load (listed in the role).
    shared_machine: bool
    # Who runs the daemons: "hosts" (dcinfra's ceph role, over Ansible) or "rook" (Rook in Kubernetes,
    # platform.kubernetes.storage="rook": the hosts then get no Ceph daemon, file or key from Ansible,
    # and the placement above says where Rook's monitors and OSDs go).
    deployed_by: str


@dataclass(frozen=True, slots=True)
class HdfsPlan:
    """An HDFS cluster as planned."""

    name: str
    namenode: str
    namenode_address: str
    datanodes: tuple[str, ...]
    replication: int
    name_dirs: tuple[str, ...]
    data_dirs: tuple[str, ...]
    rack_awareness: bool
    rack_map: dict[str, str]  # datanode IP and hostname -> "/<rack>"
    secure: bool
    kerberos_realm: str | None
    kerberos_kdc: str | None
    keytab_dir: str | None
    hadoop_version: str
    artifact: str | None  # URL or controller path of the Hadoop release
    artifact_sha512: str | None
    core_site: dict[str, str]  # core-site.xml properties
    hdfs_site: dict[str, str]  # hdfs-site.xml properties
    secondary: str | None = None  # the checkpointing SecondaryNameNode host
    checkpoint_dirs: tuple[str, ...] = ()  # its dfs.namenode.checkpoint.dir entries
    # host -> its name and address on the HDFS network: what DataNodes register with (the NameNode
    # sees a DataNode by the source address it connects from), what decommissioning lists and matches
    service_names: dict[str, str] = field(default_factory=dict)
    service_addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoragePlan:
    """The storage clusters."""

    ceph: CephPlan | None
    hdfs: HdfsPlan | None


@dataclass(frozen=True, slots=True)
class Flow:
    """A connection the stack needs, and what the policy does with it."""

    name: str  # e.g. "ceph-mon", "ssh", "bench-rendezvous"
    src: str  # description of the sources (a role, pool or CIDR)
    dst: str  # description of the destinations
    protocol: str  # "tcp", "udp", "icmp", "any"
    ports: tuple[str, ...]  # "22", "6800-7300"; empty: all
    network: str  # network name
    decided_by: str  # "security.rules[2] 'name'", "required-flow", "default allow"
    allowed: bool
    layer: str  # the layer that needs it (its key in the flows registry, dcinfra.plan.flows)
    scope: str  # how it reaches workloads: "host", "workload" or "service" (dcinfra.plan.flows.Scope)


@dataclass(frozen=True, slots=True)
class FirewallRule:
    """One accept (or drop) rule of a host's input chain."""

    comment: str  # the rule or flow it comes from
    action: str  # "accept" or "drop"
    protocol: str  # "tcp", "udp", "icmp", "any"
    ports: tuple[str, ...]  # destination ports/ranges; empty: all
    sources: tuple[str, ...]  # source CIDRs (collapsed); empty: any
    interface: str | None  # input interface, None: any
    # Where it comes from: "rule" (the stack's rules, tenant isolation), or the scope of the flow it
    # admits ("host", "workload", "service"; see dcinfra.plan.flows.Scope).
    scope: str = "rule"


@dataclass(frozen=True, slots=True)
class NetworkIsolation:
    """How tenants are kept apart on one network, for one kind of traffic (or why they are not)."""

    network: str  # "management", "storage", "compute"
    traffic: str  # "ip" (what nftables sees) or "rdma" (InfiniBand verbs / RoCE, which bypasses it)
    mechanism: str  # "nftables", "ib-partitions", "none"
    isolated: bool  # False: tenants can reach each other here, and `detail` says why
    detail: str  # for people: how it is done, or the reason it is not and what would do it


@dataclass(frozen=True, slots=True)
class IbPartition:
    """One InfiniBand partition of the compute fabric: a tenant's PKey and its member ports."""

    tenant: str
    pkey: str  # "0x0001": low 15 bits; 0x7fff is OpenSM's default partition
    members: tuple[tuple[str, str], ...]  # (host, HCA) of every compute-fabric port of its hosts


@dataclass(frozen=True, slots=True)
class SecurityPlan:
    """The compiled security policy."""

    default: str  # "deny" or "allow"
    flows: tuple[Flow, ...]  # the flows the stack needs, with verdicts
    rulesets: dict[str, tuple[FirewallRule, ...]]  # ruleset key -> input-chain rules
    ssh_sources: tuple[str, ...]  # CIDRs SSH is accepted from
    ssh_keys_only: bool
    ssh_permit_root_login: str
    ssh_max_auth_tries: int
    # With tenant isolation: per network and traffic kind, how tenants are isolated or why not; and on
    # an InfiniBand fabric one partition per tenant (rendered as opensm/partitions.conf). Empty without.
    isolation: tuple[NetworkIsolation, ...] = ()
    partitions: tuple[IbPartition, ...] = ()


@dataclass(frozen=True, slots=True)
class StorageVerifyPlan:
    """The storage part of the verify stage: what it measures on the Ceph cluster, where, how long.

    Every command runs as the compute hosts' Ceph client (least privilege: its caps cover the RBD pools
    and the CephFS); only a cluster without client hosts falls back to client.admin on a monitor.
    """

    cluster: str  # Ceph cluster name: /etc/ceph/<cluster>.conf and its keyrings
    probe_host: str  # runs `ceph status` and `rados bench` (the first compute host with the client key)
    probe_admin: bool  # probe_host has no client key: it is a monitor and uses client.admin
    bench_pool: str | None  # the declared pool `rados bench` writes to (then cleans up); None: not run
    bench_s: int  # seconds of each rados bench run (write, then sequential read)
    cephfs_mount: str | None  # where the compute hosts mount the CephFS; None: no CephFS check
    cephfs_hosts: tuple[str, ...]  # compute hosts that mount it, in plan order (each writes one file)
    cephfs_read_from: dict[str, str]  # reader -> the host whose file it reads back (the next one, a ring)
    file_bytes: int  # size of the file each of cephfs_hosts writes, bytes
    timeout_s: int  # bound of every storage command (a hung one fails its check within it)


@dataclass(frozen=True, slots=True)
class VerifyPlan:
    """What the verify stage runs and the thresholds it gates on."""

    backend: str  # "nccl" on GPU nodes, "gloo" on CPU-only nodes
    hosts: tuple[str, ...]  # compute hosts, rank order
    master: str  # rendezvous host (first compute host)
    master_address: str  # its compute-network address
    rendezvous_port: int
    max_message_bytes: int
    warmup_iters: int
    iters: int
    training_steps: int
    timeout_s: int
    expected_busbw_GBps: float | None  # large-message all-reduce busbw threshold
    expected_link_GBps: float | None
    gemm_peak_tflops: float  # per device (GPU bf16 or CPU fp32 estimate)
    min_busbw_fraction: float
    storage: StorageVerifyPlan | None = None  # Ceph health, rados bench, CephFS I/O; None without Ceph
    enabled: bool = True  # False: up does not verify (`dcinfra verify` runs it when asked)
    # With tenant isolation one torchrun group cannot span tenants: the benchmark runs on the compute
    # hosts of this tenant (None: of every compute host) and leaves out the hosts in `unverified`.
    tenant: str | None = None
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlurmNode:
    """One slurmd host: its node line in slurm.conf and its GPUs in gres.conf."""

    name: str  # hostname (NodeName)
    address: str  # management address (NodeAddr): where slurmctld reaches slurmd
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    real_memory_mb: int  # RealMemory: declared GiB x 1000 MiB (the kernel and firmware keep ~2.4%)
    gpu_type: str | None  # GRES type (catalog GPU key without "-sxm", e.g. "h100"); None: no GPUs
    gpus: int  # GRES gpu count (0: none)
    gpu_files: tuple[tuple[str, str], ...]  # gres.conf lines: (File=..., Cores=...), one per socket
    # (stand-ins: one line of the null devices the slurm role creates, Cores="")
    standin: bool  # the GPUs are scheduling-only stand-ins (no devices): never reported as GPUs
    features: tuple[str, ...]  # node features (pool name, rack, GPU type) for --constraint


@dataclass(frozen=True, slots=True)
class SlurmPartitionPlan:
    """One partition."""

    name: str
    nodes: tuple[str, ...]
    default: bool
    max_time: str
    accounts: tuple[str, ...]  # AllowAccounts; () = every account


@dataclass(frozen=True, slots=True)
class SlurmAccountPlan:
    """A tenant's Slurm account and QOS."""

    name: str  # the tenant's name: account and QOS share it
    fairshare: int
    grp_tres: str  # QOS GrpTRES ("gres/gpu=64,node=8"); "" without limits
    partitions: tuple[str, ...]  # partitions built from the tenant's pools


@dataclass(frozen=True, slots=True)
class SlurmSwitch:
    """A topology.conf line: a switch over nodes (a leaf level) or over switches."""

    name: str
    nodes: tuple[str, ...] = ()
    switches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """How changes that restart services or reboot roll through the hosts (``Stack.rollout``): the
    plays that restart slurmd or change the GPU driver read it (inventory: ``dcinfra_rollout``)."""

    serial: int | str  # Ansible ``serial``: hosts per batch (2), or a share of them ("25%")
    max_fail_percentage: int  # percent of a batch that may fail before the rollout stops
    drain_timeout_s: int  # bound on waiting for a drained node's running jobs to finish, seconds
    drain_reason: str  # the scheduler's Reason on a node dcinfra drained for a change (the prefix
    # resume looks for: a node drained for any other reason is never resumed by dcinfra)


@dataclass(frozen=True, slots=True)
class SlurmPlan:
    """The Slurm cluster: what slurm.conf, gres.conf, cgroup.conf, topology.conf and the roles say."""

    cluster_name: str
    version: str  # the Slurm release series the config is written for ("22.05")
    controllers: tuple[str, ...]  # slurmctld hosts, primary first (the second is the backup)
    controller_addresses: tuple[str, ...]  # their management addresses, same order
    accounting: bool
    database_host: str | None  # slurmdbd + MariaDB host (None without accounting)
    database_address: str | None
    enforce: bool  # AccountingStorageEnforce=associations,limits,qos
    nodes: tuple[SlurmNode, ...]
    partitions: tuple[SlurmPartitionPlan, ...]
    accounts: tuple[SlurmAccountPlan, ...]
    topology: tuple[SlurmSwitch, ...]  # topology/tree switches, leaves first; () without a fabric
    cgroups: bool  # cgroup.conf constrains cores, devices and RAM (the site can create cgroups)
    config_overrides: bool  # SlurmdParameters=config_overrides: the site's hosts cannot report the
    # declared hardware (lab nodes see the whole machine), so slurmd takes the node line as given
    health_check_interval_s: int
    health_check_timeout_s: int
    prolog: str | None
    epilog: str | None
    ports: dict[str, str]  # "slurmctld", "slurmd", "slurmdbd", "srun" -> port or range
    network: str  # the network Slurm traffic uses ("management")
    # TreeWidth: with tenant isolation and more nodes than Slurm's default fan-out, so that slurmctld
    # reaches every slurmd itself (no slurmd forwards to another tenant's); None: Slurm's default
    tree_width: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything dcinfra will build, compiled from a Stack."""

    stack: str
    site: SiteCapabilities  # what the site's hosts can do; only the site provider reads its kind
    hosts: tuple[HostPlan, ...]
    racks: tuple[RackPlan, ...]
    networks: tuple[NetworkPlan, ...]
    fabric: FabricPlan | None
    storage: StoragePlan
    security: SecurityPlan
    verify: VerifyPlan | None
    versions: dict[str, str]
    ssh_user: str
    rollout: RolloutPlan  # how restarts and reboots roll: batches, failure tolerance, drain
    # The Kubernetes platform, planned once with the rest (dcinfra.plan.platform); None when the stack
    # declares none. dcinfra.platform builds its objects from this, never from the stack.
    platform: PlatformPlan | None = None
    # The Slurm cluster (dcinfra.plan.scheduler); None when the stack declares no scheduler.
    slurm: SlurmPlan | None = None
    # Validation's warnings (``Problem.severity == "warning"``): the plan builds, but a careful engineer
    # would change the stack (every Ceph monitor in one rack). A report about the plan, not part of
    # what is built: left out of the plan's JSON (plan.json, plan diffs); ``plan`` and ``up`` show them.
    warnings: tuple[Problem, ...] = field(default=(), compare=False, metadata={"json": False})

    @property
    def ceph(self) -> CephPlan | None:
        """The Ceph cluster, if any."""
        return self.storage.ceph

    @property
    def hdfs(self) -> HdfsPlan | None:
        """The HDFS cluster, if any."""
        return self.storage.hdfs

    def host(self, name: str) -> HostPlan:
        """The host called ``name``."""
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def with_role(self, role: str) -> tuple[HostPlan, ...]:
        """Hosts that have ``role``, in plan order."""
        return tuple(h for h in self.hosts if role in h.roles)


def to_jsonable(obj: Any, *, cabling: bool = False) -> Any:
    """Plain JSON types for any plan record. ``cabling=False`` leaves the (large) cabling list out."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            if (f.name == "cabling" and not cabling) or not f.metadata.get("json", True):
                continue
            out[f.name] = to_jsonable(getattr(obj, f.name), cabling=cabling)
        return out
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, cabling=cabling) for k, v in sorted(obj.items())}
    if isinstance(obj, tuple | list):
        return [to_jsonable(v, cabling=cabling) for v in obj]
    return obj
