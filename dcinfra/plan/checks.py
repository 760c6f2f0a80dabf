"""Model-level cross-layer checks: what is wrong with a stack that no single field's type can see.

:func:`check_stack` runs every rule below and returns all problems at once, in a fixed order (rule
families in the order of this module, then declaration order inside each). It is pure: it builds its
own throwaway host drafts (``make_hosts`` + ``place``) when a rule needs placement, and never touches
the planner's. What only planning can find (addresses that do not fit, racks over budget, a switch
radix too small for the size, a rule blocking a needed flow, unknown GPU/NIC/profile names, unknown
pools or hosts in placements) is reported by the planner through :func:`dcinfra.plan.validate`, and is
not repeated here.

Rules (``Problem.rule``):

- ``network.overlap``, ``network.membership``, ``network.interface``, ``network.undeclared``
- ``catalog.unknown`` (switch), ``fabric.switch``, ``fabric.nic``, ``fabric.radix``, ``fabric.leaf-ports``,
  ``fabric.missing``, ``fabric.unused``, ``fabric.heterogeneous``, ``fabric.hcas``
- ``mtu.invalid``, ``mtu.switch``, ``mtu.mismatch``, ``roce.settings``, ``roce.lossless``, ``roce.mtu``
- ``ceph.size``, ``ceph.min-size``, ``ceph.mons``, ``ceph.devices``, ``ceph.network``, ``ceph.pg-num``,
  ``ceph.pool-name``, ``ceph.mount``
- ``hdfs.replication``, ``hdfs.rack-awareness``, ``hdfs.kerberos``, ``hdfs.network``, ``hdfs.dirs``,
  ``hdfs.artifact``
- ``security.refs``, ``security.duplicate``, ``security.zones``, ``security.tenants``, ``security.ports``,
  ``security.ssh``
- ``versions.cuda``, ``versions.driver``, ``versions.nccl``, ``versions.gpu``, ``versions.ceph``,
  ``versions.kubernetes``, ``platform.version``, ``platform.namespaces``, ``platform.control-plane``
- ``lab.size``, ``lab.gpu``, ``lab.addresses``, ``lab.mtu``, ``lab.fabric``, ``hosts.duplicate`` and
  ``address.duplicate`` (bare-metal site entries)
- ``verify.max-message``, ``verify.port``

Decisions a network or storage engineer may want to know:

- **InfiniBand generations interoperate.** HDR, NDR and XDR ports auto-negotiate down to the slower
  end, so an XDR NIC on an NDR switch (or the reverse) joins the fabric at the lower rate; the planner
  already uses ``min(NIC, switch)`` line rate for expected bandwidth. Only a NIC that cannot speak the
  fabric's transport at all (BlueField-3 on InfiniBand, a lab veth on a real fabric) is a problem.
- **Leaf ports.** A leaf of radix *k* at oversubscription *r* has ``down = floor(k*r/(r+1))`` node ports.
  The planner splits a scalable unit (SU) over several leaves per rail when ``nodes_per_su > down``;
  when ``nodes_per_su`` is not a multiple of ``down`` that strands ports on every SU's last leaf of each
  rail (40 nodes on 32-port halves: 2 leaves per rail, 24 of 64 ports idle), so it is reported with the
  nearest multiples as the fix. A smaller SU (``nodes_per_su < down``) keeps one leaf per rail and is a
  deliberate design choice, not a problem.
- **MTU along a path.** Inside one network every host gets the network's MTU, so a mismatch can only
  arise where one data path crosses two networks. In this model that is Ceph: a client write reaches
  the primary OSD on the public network and is replicated over the cluster network, so the two must
  carry the same MTU (jumbo frames on one and 1500 on the other fragments or stalls replication). HDFS
  binds one network for clients and its write pipeline, so it has a single MTU. On the compute fabric
  the MTU must pass every switch (``max_mtu``); InfiniBand MTUs are one of 256..4096; RoCE needs an
  Ethernet MTU of at least 4200 to carry 4096-byte RDMA payloads plus headers (at 1500 the RDMA MTU
  drops to 1024). Lab bridges carry any MTU, but the lab is capped at standard jumbo frames (9000) so
  that what it proves holds on real switches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network
from pathlib import PurePosixPath

from dcinfra.catalog import (
    CEPH_RELEASES,
    CUDA_MIN_DRIVER,
    GPUS,
    KUBERNETES_SUPPORTED,
    NCCL_CUDA_MAJORS,
    NICS,
    SWITCHES,
    closest,
)
from dcinfra.errors import Problem
from dcinfra.model.compute import NodePool
from dcinfra.catalog.sites import SiteCapabilities
from dcinfra.model.site import BareMetalSite
from dcinfra.model.stack import Stack
from dcinfra.model.storage import Placement
from dcinfra.plan.fabric import leaf_ports
from dcinfra.plan.hosts import Draft, Hw, make_hosts, place, resolve_hardware, unknown
from dcinfra.plan.storage import resolve

__all__ = ["check_stack"]

# Host roles a security zone may select: the pool roles plus the roles the planner assigns.
KNOWN_ROLES = (
    "ceph-client",
    "ceph-mds",
    "ceph-mgr",
    "ceph-mon",
    "ceph-osd",
    "compute",
    "hdfs-datanode",
    "hdfs-namenode",
    "k8s-control-plane",
    "service",
    "storage",
)
# InfiniBand path MTUs are 256, 512, 1024, 2048 or 4096 bytes (InfiniBand Architecture Specification
# vol. 1, the PortInfo NeighborMTU/MTUCap encodings); 4096 is the largest any IB fabric carries.
IB_MTUS = (256, 512, 1024, 2048, 4096)
# A RoCE port's RDMA MTU is the largest of 1024/2048/4096 that fits in the Ethernet MTU (1500 -> 1024).
# Source: https://www.ibm.com/docs/en/linux-on-systems?topic=functions-set-mtu
# 4096-byte RDMA payloads need room for the RoCEv2 headers too (Ethernet, IP, UDP, BTH, ICRC), hence
# the customary floor of 4200; 9000 is the usual setting.
ROCE_MIN_MTU = 4200
LAB_MAX_MTU = 9000
LAB_MAX_NODES = 16  # this machine has 2 cores; every lab node runs sshd, Ceph daemons and torch
RFC1918 = (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"))
LOOPBACK = IPv4Network("127.0.0.0/8")
# Oldest CUDA toolkit that compiles for each GPU compute capability (CUDA release notes: 11.8 added
# sm_89/sm_90, 12.8 added Blackwell sm_100).
# Source: https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html
CUDA_FOR_CAPABILITY = {"8.0": "11.0", "8.9": "11.8", "9.0": "11.8", "10.0": "12.8"}
# Ceph refuses to create PGs beyond this many per OSD (mon_max_pg_per_osd default).
# Source: https://docs.ceph.com/en/pacific/rados/configuration/pool-pg-config-ref/
CEPH_MAX_PG_PER_OSD = 250
# Directories a CephFS mount must not shadow on compute hosts.
SYSTEM_DIRS = frozenset(
    {
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
        "/mnt",
    }
)
# A Kubernetes namespace name is a DNS-1123 label.
K8S_NAMESPACE_MAX = 63

# Ports that services of the stack hold on hosts (kept in step with dcinfra.plan.security).
SSH_PORT = 22
IPERF3_PORT = 5201
CEPH_MON_PORTS = (3300, 6789)
CEPH_DAEMON_RANGE = (6800, 7300)
HDFS_NAMENODE_PORTS = (8020, 9870)
HDFS_DATANODE_PORTS = (9864, 9866, 9867)
K8S_API_PORT = 6443
KUBELET_PORT = 10250

Check = Callable[["_Ctx"], Iterator[Problem]]


@dataclass(slots=True)
class _Ctx:
    """What several rules need, computed once per :func:`check_stack` call."""

    stack: Stack
    site: SiteCapabilities  # what the site can do; rules read this, never the site's kind
    hw: list[Hw | None]  # per compute pool, as the planner resolves it (None: unresolvable)
    _drafts: list[Draft] | None = field(default=None)

    @property
    def drafts(self) -> list[Draft]:
        """Throwaway placed hosts (the planner builds its own); only built when a rule needs them."""
        if self._drafts is None:
            scratch: list[Problem] = []  # the planner reports these itself
            drafts = make_hosts(self.stack, scratch)
            place(self.stack, drafts, scratch)
            self._drafts = drafts
        return self._drafts

    def select(self, placement: Placement) -> list[Draft]:
        """Hosts a placement resolves to (unknown names are the planner's to report)."""
        return resolve(placement, "", self.drafts, [])

    def fabric_pools(self) -> list[tuple[int, NodePool, Hw]]:
        """Pools whose hosts join the compute fabric: role ``compute`` and rails > 0."""
        return [
            (i, pool, hw)
            for i, (pool, hw) in enumerate(zip(self.stack.compute.pools, self.hw, strict=True))
            if hw is not None and "compute" in pool.roles and hw.rails > 0
        ]


def check_stack(stack: Stack) -> list[Problem]:
    """Every problem found from the model alone, all at once, in a deterministic order."""
    scratch: list[Problem] = []
    # The planner reports hardware problems itself (and plans with a best guess); None is tolerated so
    # that a pool whose hardware cannot be resolved at all is simply skipped by the rules below.
    hw: list[Hw | None] = [
        resolve_hardware(p, f"compute.pools[{i}].hardware", scratch)
        for i, p in enumerate(stack.compute.pools)
    ]
    ctx = _Ctx(stack, stack.site.capabilities(), hw)
    problems: list[Problem] = []
    for check in CHECKS:
        problems.extend(check(ctx))
    return problems


# --- helpers -------------------------------------------------------------------------------------------


def _hw_path(pool: NodePool, index: int, name: str) -> str:
    """Where a hardware value comes from: the pool's own field, else its profile."""
    base = f"compute.pools[{index}].hardware"
    if getattr(pool.hardware, name) is None and pool.hardware.profile is not None:
        return f"{base}.profile"
    return f"{base}.{name}"


def _networks(stack: Stack) -> list[tuple[str, str, IPv4Network, int]]:
    """(name, path, cidr, host MTU) of every declared network."""
    f = stack.fabric
    out = [("management", "fabric.management", f.management.cidr, f.management.mtu)]
    if f.storage is not None:
        out.append(("storage", "fabric.storage", f.storage.cidr, f.storage.mtu))
    if f.compute is not None:
        out.append(("compute", "fabric.compute", f.compute.cidr, f.compute.effective_mtu))
    return out


def _mtu(stack: Stack, network: str) -> int | None:
    """Host MTU of a network by name; None when it is not declared."""
    return next((mtu for name, _, _, mtu in _networks(stack) if name == network), None)


def _declared(stack: Stack, network: str) -> bool:
    return _mtu(stack, network) is not None


def _attached(stack: Stack, d: Draft, network: str) -> bool:
    """Whether the planner gives ``d`` an address on ``network`` (see hosts.assign_addresses)."""
    if network == "management":
        return True
    if network == "storage":
        return stack.fabric.storage is not None and bool(d.roles & {"storage", "compute"})
    return stack.fabric.compute is not None and d.on_fabric


ATTACH_HINT = {
    "storage": "the storage network attaches hosts with role 'storage' or 'compute'",
    "compute": "the compute fabric attaches only hosts with role 'compute' and rails > 0",
}


def _unattached(
    stack: Stack, hosts: Sequence[Draft], network: str, path: str, what: str, setting: str, rule: str
) -> Iterator[Problem]:
    """One problem naming the pools whose hosts in ``hosts`` have no address on ``network``."""
    missing = [d for d in hosts if not _attached(stack, d, network)]
    if not missing:
        return
    pools = list(dict.fromkeys(d.pool.name for d in missing))
    shown = ", ".join(d.name for d in missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    )
    yield Problem(
        path,
        f"{what} ({shown}; pool {', '.join(repr(p) for p in pools)}): no address on the {network!r} "
        f"network ({setting}={network!r})",
        f"{ATTACH_HINT.get(network, '')}: give the pool that role, place them on attached hosts, or set "
        f"{setting} to a network they are on (e.g. 'management')",
        rule,
    )


def _dup_names(names: Iterable[str], path: Callable[[int], str], what: str, rule: str) -> Iterator[Problem]:
    """A problem for each name seen before, pointing at the later one."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            yield Problem(
                path(i),
                f"duplicate {what} {name!r} (first at index {first[name]})",
                f"give each {what} a unique name",
                rule,
            )
        else:
            first[name] = i


def _suggest(value: str, known: Sequence[str]) -> str:
    near = closest(value, list(known))
    return f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        return ()


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# --- networks ------------------------------------------------------------------------------------------


def check_networks(ctx: _Ctx) -> Iterator[Problem]:
    """``network.overlap`` between declared networks; ``network.membership`` of the SSH source CIDR;
    ``network.interface`` clashes between host interface names."""
    stack = ctx.stack
    nets = _networks(stack)
    for i, (a_name, a_path, a, _) in enumerate(nets):
        for b_name, b_path, b, _ in nets[i + 1 :]:
            if a.overlaps(b):
                yield Problem(
                    f"{b_path}.cidr",
                    f"{b_name} network {str(b)!r} overlaps {a_path}.cidr {str(a)!r} ({a_name})",
                    "give every network its own address range, e.g. 10.0.0.0/22 "
                    "management, 10.16.0.0/22 storage, 10.128.0.0/16 compute",
                    "network.overlap",
                )
    ssh = stack.security.ssh.management_cidr
    mgmt = stack.fabric.management.cidr
    if ssh is not None and not ssh.subnet_of(mgmt):
        yield Problem(
            "security.ssh.management_cidr",
            f"SSH source {str(ssh)!r} is not inside the management network {str(mgmt)!r}",
            f"use {str(mgmt)!r} or a subnet of it (None: the whole management network)",
            "network.membership",
        )
    f = stack.fabric
    ifaces = [("fabric.management.interface", f.management.interface or "mgmt0")]
    if f.storage is not None:
        ifaces.append(("fabric.storage.interface", f.storage.interface or "stor0"))
    rails = max((hw.rails for _, _, hw in ctx.fabric_pools()), default=0)
    if f.compute is not None and rails:
        prefix = f.compute.interface_prefix or ("ib" if f.compute.kind == "infiniband" else "rail")
        ifaces.extend(("fabric.compute.interface_prefix", f"{prefix}{r}") for r in range(rails))
    owner: dict[str, str] = {}
    for path, name in ifaces:
        if name in owner and owner[name] != path:
            yield Problem(
                path,
                f"interface {name!r} is also the interface of {owner[name]}",
                "give every network its own host interface",
                "network.interface",
            )
        owner.setdefault(name, path)


# --- compute fabric ------------------------------------------------------------------------------------

# Switch transports that can carry each fabric kind: a RoCE-capable Spectrum switch also does plain
# Ethernet; an InfiniBand switch only InfiniBand; the lab bridge only plain Ethernet.
SWITCH_CARRIES = {"infiniband": ("infiniband",), "roce": ("roce",), "ethernet": ("ethernet", "roce")}


def check_fabric(ctx: _Ctx) -> Iterator[Problem]:
    """Switch model and transport, radix, leaf ports per SU, NIC transport, and which pools use the fabric."""
    stack = ctx.stack
    cf = stack.fabric.compute
    members = ctx.fabric_pools()
    if cf is None:
        for i, pool, hw in members:
            yield Problem(
                _hw_path(pool, i, "rails"),
                f"pool {pool.name!r} has rails={hw.rails} for the compute "
                "fabric but the stack declares no fabric.compute",
                "add fabric.compute=ComputeFabric(...) or set hardware rails=0",
                "fabric.missing",
            )
        return
    if not members:
        yield Problem(
            "fabric.compute",
            f"compute fabric {str(cf.cidr)!r} has no members: no pool has role 'compute' and rails > 0",
            "remove fabric.compute or give a compute pool rails",
            "fabric.unused",
        )
    switch = SWITCHES.get(cf.switch.lower())
    if switch is None:
        yield unknown("switch", "fabric.compute.switch", cf.switch, sorted(SWITCHES))
    elif switch.transport not in SWITCH_CARRIES[cf.kind]:
        fits = sorted(
            s.name
            for s in SWITCHES.values()
            if s.transport in SWITCH_CARRIES[cf.kind] and (s.name == "lab-bridge") == ctx.site.emulated_network
        )
        yield Problem(
            "fabric.compute.switch",
            f"{switch.name!r} is a {switch.transport} switch; it cannot build a kind={cf.kind!r} fabric",
            f"use a switch for kind={cf.kind!r} ({', '.join(fits)}) or change kind",
            "fabric.switch",
        )
    elif switch.name == "lab-bridge" and not ctx.site.emulated_network:
        yield Problem(
            "fabric.compute.switch",
            "'lab-bridge' is the lab's Linux bridge; it exists only on a LabSite",
            "name the real switch model (e.g. 'sn5600' for Ethernet)",
            "fabric.switch",
        )
    yield from _radix(cf.radix, switch.radix if switch else None, switch.name if switch else "")
    radix = cf.radix or (switch.radix if switch else None)
    nodes = sum(pool.count for _, pool, _ in members)
    if radix is not None and radix >= 4:
        yield from _leaf_ports(cf.nodes_per_su, radix, cf.oversubscription, nodes)
    for i, pool, hw in members:
        nic = NICS.get(hw.nic or "")
        if nic is None:
            continue  # unknown or missing NIC: reported by the planner's hardware resolution
        if cf.kind not in nic.transports:
            yield Problem(
                _hw_path(pool, i, "compute_nic"),
                f"NIC {nic.name!r} of pool {pool.name!r} cannot join a "
                f"kind={cf.kind!r} fabric (it speaks {', '.join(nic.transports)})",
                f"use a NIC that speaks {cf.kind} (e.g. 'connectx-7-ndr') or change the fabric kind",
                "fabric.nic",
            )
        elif nic.name == "lab-veth" and not ctx.site.emulated_network:
            yield Problem(
                _hw_path(pool, i, "compute_nic"),
                f"NIC 'lab-veth' of pool {pool.name!r} is a lab veth pair; it exists only on a LabSite",
                "name the real NIC model",
                "fabric.nic",
            )
    yield from _heterogeneous(members)
    if cf.hcas:
        rails = max((hw.rails for _, _, hw in members), default=0)
        if cf.kind == "ethernet":
            yield Problem(
                "fabric.compute.hcas",
                f"hcas={list(cf.hcas)!r} on a plain Ethernet fabric are ignored (NCCL uses sockets there)",
                "remove hcas or use kind='roce'",
                "fabric.hcas",
            )
        elif len(cf.hcas) < rails:
            yield Problem(
                "fabric.compute.hcas",
                f"{len(cf.hcas)} HCA names for {rails} rails: {list(cf.hcas)!r}",
                "name one RDMA device per rail, in rail order",
                "fabric.hcas",
            )
        yield from _dup_names(cf.hcas, lambda j: f"fabric.compute.hcas[{j}]", "HCA", "fabric.hcas")


def _radix(radix: int | None, catalog: int | None, switch: str) -> Iterator[Problem]:
    if radix is None:
        return
    if radix < 4 or radix % 2:
        yield Problem(
            "fabric.compute.radix",
            f"radix={radix} is {'odd' if radix % 2 else 'below 4'}; a fat tree "
            "splits every switch's ports half down, half up",
            "use an even radix of 4 or more (or leave it None for the catalog value)",
            "fabric.radix",
        )
    if catalog is not None and switch != "lab-bridge" and radix > catalog:
        yield Problem(
            "fabric.compute.radix",
            f"radix={radix} but {switch!r} has {catalog} ports at the fabric rate",
            f"use radix <= {catalog} or a larger switch",
            "fabric.radix",
        )


def _leaf_ports(nodes_per_su: int, radix: int, oversubscription: float, nodes: int) -> Iterator[Problem]:
    down, _ = leaf_ports(radix, oversubscription)
    if nodes_per_su <= down or nodes_per_su % down == 0 or nodes <= down:
        return
    leaves = -(-nodes_per_su // down)
    idle = leaves * down - nodes_per_su
    lo = nodes_per_su // down * down
    yield Problem(
        "fabric.compute.nodes_per_su",
        f"nodes_per_su={nodes_per_su} on {radix}-port leaves ({down} node ports at "
        f"{oversubscription:g}:1) needs {leaves} leaves per rail per scalable unit with {idle} of their "
        f"{leaves * down} node ports idle, and rail-local traffic inside a unit crosses the spines",
        f"set nodes_per_su to a multiple of {down} (e.g. {lo} or {lo + down}) so each unit's rail fills "
        "whole leaves",
        "fabric.leaf-ports",
    )


def _heterogeneous(members: Sequence[tuple[int, NodePool, Hw]]) -> Iterator[Problem]:
    if not members:
        return
    _, ref, ref_hw = members[0]
    for i, pool, hw in members[1:]:
        if hw.rails != ref_hw.rails:
            yield Problem(
                _hw_path(pool, i, "rails"),
                f"pool {pool.name!r} has rails={hw.rails} but pool "
                f"{ref.name!r} on the same fabric has rails={ref_hw.rails}",
                "rail-optimized collectives "
                "need every node on every rail: use the same rail count, or a separate fabric",
                "fabric.heterogeneous",
            )
        if hw.nic != ref_hw.nic:
            yield Problem(
                _hw_path(pool, i, "compute_nic"),
                f"pool {pool.name!r} uses NIC {hw.nic!r} but pool "
                f"{ref.name!r} on the same fabric uses {ref_hw.nic!r}",
                "use one NIC model per fabric (NCCL pairs rails by device and speed)",
                "fabric.heterogeneous",
            )


# --- MTU and RoCE --------------------------------------------------------------------------------------


def check_mtu(ctx: _Ctx) -> Iterator[Problem]:
    """Compute-fabric MTU vs transport and switch; Ceph public vs cluster MTU; lab MTU ceiling."""
    stack = ctx.stack
    cf = stack.fabric.compute
    if cf is not None:
        mtu = cf.effective_mtu
        switch = SWITCHES.get(cf.switch.lower())
        if cf.kind == "infiniband" and mtu not in IB_MTUS:
            yield Problem(
                "fabric.compute.mtu",
                f"InfiniBand MTU {mtu!r} is not an IB MTU",
                f"use one of {', '.join(map(str, IB_MTUS))} (4096 on NDR/XDR)",
                "mtu.invalid",
            )
        elif switch is not None and switch.transport in SWITCH_CARRIES[cf.kind] and mtu > switch.max_mtu:
            yield Problem(
                "fabric.compute.mtu",
                f"MTU {mtu!r} is above what {switch.name!r} forwards ({switch.max_mtu})",
                f"use mtu <= {switch.max_mtu}",
                "mtu.switch",
            )
    ceph = stack.storage.ceph
    if ceph is not None and ceph.cluster_network not in (None, ceph.public_network):
        assert ceph.cluster_network is not None
        pub, cl = _mtu(stack, ceph.public_network), _mtu(stack, ceph.cluster_network)
        if pub is not None and cl is not None and pub != cl:
            yield Problem(
                "storage.ceph.cluster_network",
                f"Ceph replication runs on {ceph.cluster_network!r} "
                f"(MTU {cl}) but client writes arrive on {ceph.public_network!r} (MTU {pub}): the MTU "
                "changes along the write path",
                "use the same MTU on both networks (9000 for storage) or one network for both",
                "mtu.mismatch",
            )
    if ctx.site.max_mtu is not None:
        for name, path, _, mtu in _networks(stack):
            if mtu > LAB_MAX_MTU:
                yield Problem(
                    f"{path}.mtu",
                    f"MTU {mtu!r} on the lab's {name} network",
                    f"use at most {LAB_MAX_MTU} (standard jumbo frames) on the lab",
                    "lab.mtu",
                )


def check_roce(ctx: _Ctx) -> Iterator[Problem]:
    """A RoCE fabric needs its settings, a lossless mechanism and jumbo frames."""
    cf = ctx.stack.fabric.compute
    if cf is None:
        return
    if cf.kind != "roce":
        if cf.roce is not None:
            yield Problem(
                "fabric.compute.roce",
                f"RoCE settings on a kind={cf.kind!r} fabric are ignored",
                "remove roce= or set kind='roce'",
                "roce.settings",
            )
        return
    if cf.roce is None:
        yield Problem(
            "fabric.compute.roce",
            "kind='roce' without RoCE settings (roce=None)",
            "set roce=RoceSettings(pfc_priority=3, ecn=True, gid_index=3)",
            "roce.settings",
        )
    elif cf.roce.pfc_priority is None and not cf.roce.ecn:
        yield Problem(
            "fabric.compute.roce",
            "RoCE with pfc_priority=None and ecn=False has no lossless "
            "mechanism: RDMA collapses on the first drop",
            "enable PFC (pfc_priority=3) and/or ECN (ecn=True)",
            "roce.lossless",
        )
    if cf.effective_mtu < ROCE_MIN_MTU:
        yield Problem(
            "fabric.compute.mtu",
            f"MTU {cf.effective_mtu!r} on a RoCE fabric cannot carry 4096-byte RDMA payloads (the RDMA MTU "
            "drops to 1024 or 2048)",
            f"use jumbo frames: mtu >= {ROCE_MIN_MTU} (9000 recommended)",
            "roce.mtu",
        )


# --- Ceph ----------------------------------------------------------------------------------------------


def check_ceph(ctx: _Ctx) -> Iterator[Problem]:
    """Networks, devices, monitors, pools against failure domains, PGs, CephFS and host attachment."""
    stack = ctx.stack
    ceph = stack.storage.ceph
    if ceph is None:
        return
    base = "storage.ceph"
    nets_ok = True
    for setting, net in (("public_network", ceph.public_network), ("cluster_network", ceph.cluster_network)):
        if net is not None and not _declared(stack, net):
            nets_ok = False
            yield Problem(
                f"{base}.{setting}",
                f"Ceph {setting}={net!r} but the fabric declares no {net} network",
                f"declare fabric.{net} or use a declared network: "
                f"{', '.join(n for n, *_ in _networks(stack))}",
                "network.undeclared",
            )
    yield from _ceph_devices(ctx)
    mons = ctx.select(ceph.mons)
    if mons and (len(mons) % 2 == 0 or (not ctx.site.shared_machine and len(mons) < 3)):
        allowed = "an odd number (1, 3 or 5) on the lab" if ctx.site.shared_machine else "an odd number, at least 3 (3 or 5)"
        why = (
            "a quorum needs a majority, so an even count adds no fault tolerance"
            if len(mons) % 2 == 0
            else "fewer than 3 monitors tolerate no monitor failure"
        )
        yield Problem(
            f"{base}.mons",
            f"{len(mons)} monitor(s): {why}",
            f"use {allowed}: set mons.count",
            "ceph.mons",
        )
    osd_hosts = ctx.select(ceph.osds)
    per_host = 1 if ctx.site.osd_backing == "files" else len(set(ceph.devices))
    if osd_hosts and per_host:
        yield from _ceph_pool_sizes(ctx, osd_hosts, per_host)
    yield from _ceph_pools(ctx)
    if ceph.cephfs is not None:
        mount = ceph.cephfs.mount_path
        p = PurePosixPath(mount)
        if not p.is_absolute() or str(p) == "/" or ".." in p.parts or str(p) in SYSTEM_DIRS:
            yield Problem(
                f"{base}.cephfs.mount_path",
                f"mount path {mount!r} would shadow a system directory or is not a plain absolute path",
                "mount under its own directory, e.g. '/mnt/datasets'",
                "ceph.mount",
            )
    if nets_ok:
        yield from _ceph_attachment(ctx, mons, osd_hosts)
    if ctx.site.ceph_releases and stack.versions.ceph not in ctx.site.ceph_releases and stack.versions.ceph in CEPH_RELEASES:
        yield Problem(
            "versions.ceph",
            f"Ceph release {stack.versions.ceph!r} on the lab; lab nodes run Debian "
            "12, which ships Ceph 16.2 (pacific)",
            "set versions.ceph='pacific'",
            "versions.ceph",
        )


def _ceph_devices(ctx: _Ctx) -> Iterator[Problem]:
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    path = "storage.ceph.devices"
    if ctx.site.osd_backing == "files":
        if ceph.devices:
            yield Problem(
                path,
                f"devices={list(ceph.devices)!r} on a lab site would be ignored: lab OSDs are "
                "file-backed (LabSite.osd_size_gb)",
                "remove devices",
                "ceph.devices",
            )
        return
    if not ceph.devices:
        yield Problem(
            path,
            "OSD hosts have no devices (devices=[]): a bare-metal Ceph cluster would have no OSDs",
            "list the block devices of each OSD host, e.g. devices=['/dev/nvme1n1']",
            "ceph.devices",
        )
    for j, dev in enumerate(ceph.devices):
        if not dev.startswith("/dev/") or dev == "/dev/":
            yield Problem(
                f"{path}[{j}]",
                f"device {dev!r} is not a block device path",
                "use a path under /dev, e.g. '/dev/nvme1n1' or '/dev/disk/by-id/...'",
                "ceph.devices",
            )
    yield from _dup_names(ceph.devices, lambda j: f"{path}[{j}]", "device", "ceph.devices")


def _ceph_pool_sizes(ctx: _Ctx, osd_hosts: Sequence[Draft], per_host: int) -> Iterator[Problem]:
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    unit = ceph.failure_domain
    domains = len({d.name for d in osd_hosts}) if unit == "host" else len({d.rack for d in osd_hosts})
    fix = (
        "add OSD hosts"
        if unit == "host"
        else "spread OSD hosts over more racks, or use failure_domain='host'"
    )
    sizes = [(f"storage.ceph.pools[{i}].size", p.name, p.size) for i, p in enumerate(ceph.pools)]
    if ceph.cephfs is not None and not ceph.pools:  # CephFS pools default to size 3
        sizes.append(("storage.ceph.cephfs", f"{ceph.cephfs.name}-data", 3))
    for path, name, size in sizes:
        if size > domains:
            yield Problem(
                path,
                f"pool {name!r} size={size} but the OSDs span only {domains} {unit}(s) "
                f"(failure_domain={unit!r}): PGs stay undersized",
                f"lower size to {domains} or {fix}"
                if domains >= 2
                else f"{fix} (size={size} needs {size} {unit}s)",
                "ceph.size",
            )
        elif size == 1 and not ctx.site.shared_machine:
            yield Problem(
                path,
                f"pool {name!r} size=1 keeps a single copy; Ceph refuses it unless "
                "mon_allow_pool_size_one is set",
                "use size=3 (2 at the very least)",
                "ceph.size",
            )
    explicit = [(i, p) for i, p in enumerate(ceph.pools) if p.pg_num is not None]
    osds = len(osd_hosts) * per_host
    load = sum((p.pg_num or 0) * p.size for _, p in explicit)
    if explicit and load / osds > CEPH_MAX_PG_PER_OSD:
        i, p = max(explicit, key=lambda ip: (ip[1].pg_num or 0) * ip[1].size)
        yield Problem(
            f"storage.ceph.pools[{i}].pg_num",
            f"pg_num={p.pg_num} (with the other fixed pg_num pools: "
            f"{load} PG replicas over {osds} OSDs = {load // osds} per OSD) exceeds Ceph's "
            f"mon_max_pg_per_osd={CEPH_MAX_PG_PER_OSD}",
            "lower pg_num or leave it None for the autoscaler",
            "ceph.pg-num",
        )


def _ceph_pools(ctx: _Ctx) -> Iterator[Problem]:
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    for i, p in enumerate(ceph.pools):
        path = f"storage.ceph.pools[{i}]"
        if p.min_size > p.size:
            yield Problem(
                f"{path}.min_size",
                f"pool {p.name!r} min_size={p.min_size} > size={p.size}: I/O would never be allowed",
                "use min_size <= size; size=3 with min_size=2 is the usual pair",
                "ceph.min-size",
            )
        elif p.min_size == 1 and p.size > 1:
            yield Problem(
                f"{path}.min_size",
                f"pool {p.name!r} min_size=1 with size={p.size} accepts writes to "
                "a single copy: one more failure loses data",
                f"use min_size={max(2, p.size - 1)}",
                "ceph.min-size",
            )
        if p.pg_num is not None and not _pow2(p.pg_num):
            below = 1 << (p.pg_num.bit_length() - 1)
            yield Problem(
                f"{path}.pg_num",
                f"pool {p.name!r} pg_num={p.pg_num} is not a power of two (uneven PG sizes)",
                f"use {below} or {below * 2}, or None for the autoscaler",
                "ceph.pg-num",
            )
    yield from _dup_names(
        (p.name for p in ceph.pools), lambda i: f"storage.ceph.pools[{i}].name", "Ceph pool", "ceph.pool-name"
    )
    if ceph.cephfs is not None:
        reserved = {f"{ceph.cephfs.name}-metadata", f"{ceph.cephfs.name}-data"}
        for i, p in enumerate(ceph.pools):
            if p.name in reserved:
                yield Problem(
                    f"storage.ceph.pools[{i}].name",
                    f"pool name {p.name!r} is one of the pools CephFS {ceph.cephfs.name!r} creates",
                    "rename the pool (CephFS pools are added automatically)",
                    "ceph.pool-name",
                )


def _ceph_attachment(ctx: _Ctx, mons: Sequence[Draft], osd_hosts: Sequence[Draft]) -> Iterator[Problem]:
    stack = ctx.stack
    ceph = stack.storage.ceph
    assert ceph is not None
    pub = ceph.public_network
    base = "storage.ceph"
    # Managers default to the monitor hosts and MDS daemons to the managers: checked with the monitors.
    daemons: list[tuple[str, str, Sequence[Draft]]] = [(f"{base}.mons", "ceph-mon hosts", mons)]
    if ceph.mgrs is not None:
        daemons.append((f"{base}.mgrs", "ceph-mgr hosts", ctx.select(ceph.mgrs)))
    daemons.append((f"{base}.osds", "ceph-osd hosts", osd_hosts))
    if ceph.cephfs is not None and ceph.cephfs.mds is not None:
        daemons.append((f"{base}.cephfs.mds", "ceph-mds hosts", ctx.select(ceph.cephfs.mds)))
    if ceph.clients is not None:
        daemons.append((f"{base}.clients", "Ceph clients", ctx.select(ceph.clients)))
    else:
        clients = [d for d in ctx.drafts if "compute" in d.roles]
        daemons.append((f"{base}.public_network", "Ceph clients (every compute host)", clients))
    for path, what, hosts in daemons:
        yield from _unattached(stack, hosts, pub, path, what, "public_network", "ceph.network")
    if ceph.cluster_network not in (None, pub):
        assert ceph.cluster_network is not None
        yield from _unattached(
            stack,
            osd_hosts,
            ceph.cluster_network,
            f"{base}.cluster_network",
            "ceph-osd hosts",
            "cluster_network",
            "ceph.network",
        )


# --- HDFS ----------------------------------------------------------------------------------------------


def check_hdfs(ctx: _Ctx) -> Iterator[Problem]:
    """Replication vs datanodes, rack awareness, Kerberos, the network, and directories."""
    stack = ctx.stack
    hdfs = stack.storage.hdfs
    if hdfs is None:
        return
    base = "storage.hdfs"
    datanodes = ctx.select(hdfs.datanodes)
    if datanodes and hdfs.replication > len(datanodes):
        yield Problem(
            f"{base}.replication",
            f"replication={hdfs.replication} but only {len(datanodes)} "
            "datanode(s): every block stays under-replicated",
            f"use replication <= {len(datanodes)} or add datanodes",
            "hdfs.replication",
        )
    racks = sorted({d.rack for d in datanodes})
    if len(racks) > 1 and not hdfs.rack_awareness:
        yield Problem(
            f"{base}.rack_awareness",
            f"datanodes span {len(racks)} racks ({', '.join(racks)}) but "
            "rack_awareness=False: all replicas of a block may land in one rack",
            "set rack_awareness=True",
            "hdfs.rack-awareness",
        )
    if hdfs.secure and hdfs.kerberos is None:
        yield Problem(
            f"{base}.kerberos",
            "secure=True without Kerberos settings (kerberos=None)",
            "set kerberos=Kerberos(realm='DC.EXAMPLE.COM', kdc='kdc.dc.example.com') or secure=False",
            "hdfs.kerberos",
        )
    elif hdfs.kerberos is not None and not hdfs.secure:
        yield Problem(
            f"{base}.kerberos",
            "Kerberos settings with secure=False are ignored: HDFS runs unauthenticated",
            "set secure=True or remove kerberos",
            "hdfs.kerberos",
        )
    if hdfs.kerberos is not None and not PurePosixPath(hdfs.kerberos.keytab_dir).is_absolute():
        yield Problem(
            f"{base}.kerberos.keytab_dir",
            f"keytab_dir {hdfs.kerberos.keytab_dir!r} is not absolute",
            "use an absolute path, e.g. '/etc/security/keytabs'",
            "hdfs.kerberos",
        )
    if not _declared(stack, hdfs.network):
        yield Problem(
            f"{base}.network",
            f"HDFS network={hdfs.network!r} but the fabric declares no {hdfs.network} network",
            f"declare fabric.{hdfs.network} or use a declared network: "
            f"{', '.join(n for n, *_ in _networks(stack))}",
            "network.undeclared",
        )
    else:
        namenode = ctx.select(hdfs.namenode)
        clients = [d for d in ctx.drafts if "compute" in d.roles]
        for path, what, hosts in (
            (f"{base}.namenode", "the NameNode host", namenode),
            (f"{base}.datanodes", "datanode hosts", datanodes),
            (f"{base}.network", "HDFS clients (every compute host)", clients),
        ):
            yield from _unattached(stack, hosts, hdfs.network, path, what, "network", "hdfs.network")
    yield from _hdfs_dirs(hdfs.name_dirs, hdfs.data_dirs)
    yield from _hdfs_artifact(hdfs.artifact, hdfs.artifact_sha512, hdfs.hadoop_version)


def _hdfs_artifact(artifact: str | None, sha512: str | None, version: str) -> Iterator[Problem]:
    base = "storage.hdfs"
    if artifact is None and sha512 is None:
        return  # may come from the inventory (hdfs_artifact); the role names the setting if not
    if artifact is None or sha512 is None:
        missing = "artifact" if artifact is None else "artifact_sha512"
        yield Problem(
            f"{base}.{missing}",
            f"{'artifact_sha512' if artifact is None else 'artifact'} is set but {missing} is not: "
            "a Hadoop release is installed only when both are declared",
            f"set {missing} too (the SHA-512 is published as hadoop-{version}.tar.gz.sha512)",
            "hdfs.artifact",
        )
    if artifact is not None and not (
        artifact.startswith(("http://", "https://")) or PurePosixPath(artifact).is_absolute()
    ):
        yield Problem(
            f"{base}.artifact",
            f"artifact {artifact!r} is neither an http(s):// URL nor an absolute path",
            f"use e.g. 'https://downloads.apache.org/hadoop/common/hadoop-{version}/hadoop-{version}.tar.gz' "
            f"or '/srv/mirror/hadoop-{version}.tar.gz'",
            "hdfs.artifact",
        )


def _hdfs_dirs(name_dirs: Sequence[str], data_dirs: Sequence[str]) -> Iterator[Problem]:
    base = "storage.hdfs"
    paths: list[tuple[str, PurePosixPath]] = []
    for setting, dirs in (("name_dirs", name_dirs), ("data_dirs", data_dirs)):
        if not dirs:
            yield Problem(
                f"{base}.{setting}",
                f"{setting} is empty",
                "give at least one absolute directory",
                "hdfs.dirs",
            )
        for j, text in enumerate(dirs):
            p = PurePosixPath(text)
            if not p.is_absolute() or ".." in p.parts or str(p) == "/":
                yield Problem(
                    f"{base}.{setting}[{j}]",
                    f"{text!r} is not an absolute directory below /",
                    "use an absolute path such as '/data/1/hdfs'",
                    "hdfs.dirs",
                )
                continue
            paths.append((f"{base}.{setting}[{j}]", p))
    for i, (a_path, a) in enumerate(paths):
        for b_path, b in paths[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                yield Problem(
                    b_path,
                    f"{str(b)!r} overlaps {a_path} {str(a)!r}: the NameNode and DataNodes "
                    "would share (or nest) storage directories",
                    "give every name and data dir its own directory tree",
                    "hdfs.dirs",
                )


# --- security ------------------------------------------------------------------------------------------


def check_security(ctx: _Ctx) -> Iterator[Problem]:
    """References, duplicates, tenants, ports, SSH policy and rule networks."""
    stack = ctx.stack
    sec = stack.security
    pools = list(dict.fromkeys(p.name for p in stack.compute.pools))
    pool_set = set(pools)
    zones = [z.name for z in sec.zones]
    yield from _dup_names(zones, lambda i: f"security.zones[{i}].name", "zone", "security.duplicate")
    yield from _dup_names(
        (r.name for r in sec.rules), lambda i: f"security.rules[{i}].name", "rule", "security.duplicate"
    )
    yield from _dup_names(
        (t.name for t in sec.tenants), lambda i: f"security.tenants[{i}].name", "tenant", "security.duplicate"
    )
    for i, z in enumerate(sec.zones):
        if not z.pools and not z.roles:
            yield Problem(
                f"security.zones[{i}]",
                f"zone {z.name!r} selects no hosts (no pools, no roles)",
                "give pools=[...] or roles=[...]",
                "security.zones",
            )
        for j, p in enumerate(z.pools):
            if p not in pool_set:
                yield Problem(
                    f"security.zones[{i}].pools[{j}]",
                    f"zone {z.name!r} names unknown pool {p!r}",
                    f"{_suggest(p, pools)}pools: {', '.join(pools)}",
                    "security.refs",
                )
        for j, role in enumerate(z.roles):
            if role not in KNOWN_ROLES:
                yield Problem(
                    f"security.zones[{i}].roles[{j}]",
                    f"zone {z.name!r} names unknown role {role!r}",
                    f"{_suggest(role, KNOWN_ROLES)}roles: {', '.join(KNOWN_ROLES)}",
                    "security.refs",
                )
    known_zones = [*dict.fromkeys(zones), "any"]
    for i, r in enumerate(sec.rules):
        for side in ("src", "dst"):
            zone = getattr(r, side)
            if zone not in known_zones:
                yield Problem(
                    f"security.rules[{i}].{side}",
                    f"rule {r.name!r} names unknown zone {zone!r}",
                    f"{_suggest(zone, known_zones)}zones: {', '.join(known_zones)}",
                    "security.refs",
                )
        if r.network is not None and not _declared(stack, r.network):
            yield Problem(
                f"security.rules[{i}].network",
                f"rule {r.name!r} is limited to network {r.network!r}, "
                "which the fabric does not declare: it can never match",
                f"use a declared network ({', '.join(n for n, *_ in _networks(stack))}) or None",
                "network.undeclared",
            )
        yield from _ports(i, r.name, r.protocol, r.ports)
    yield from _tenants(ctx)
    if not sec.ssh.keys_only:
        yield Problem(
            "security.ssh.keys_only",
            "keys_only=False would enable password authentication",
            "dcinfra never enables SSH passwords: set keys_only=True and distribute keys",
            "security.ssh",
        )


def _ports(i: int, name: str, protocol: str, ports: Sequence[int | str]) -> Iterator[Problem]:
    if ports and protocol in ("icmp", "any"):
        yield Problem(
            f"security.rules[{i}].ports",
            f"rule {name!r} gives ports {list(ports)!r} with protocol={protocol!r}, which has no ports",
            "set protocol='tcp' or 'udp', or remove ports",
            "security.ports",
        )
        return
    for j, port in enumerate(ports):
        if not _port_ok(port):
            yield Problem(
                f"security.rules[{i}].ports[{j}]",
                f"rule {name!r} port {port!r} is not a port or range",
                "use an integer 1-65535 or a range 'a-b' with 1 <= a <= b <= 65535",
                "security.ports",
            )


def _port_ok(port: object) -> bool:
    if isinstance(port, bool):
        return False
    if isinstance(port, int):
        return 1 <= port <= 65535
    if not isinstance(port, str):
        return False
    lo, sep, hi = port.partition("-")
    if not lo.isdigit() or (sep and not hi.isdigit()):
        return False
    a, b = int(lo), int(hi) if sep else int(lo)
    return 1 <= a <= b <= 65535


def _tenants(ctx: _Ctx) -> Iterator[Problem]:
    sec = ctx.stack.security
    pools = list(dict.fromkeys(p.name for p in ctx.stack.compute.pools))
    tenant_names = [t.name for t in sec.tenants]
    owner: dict[str, str] = {}
    for i, t in enumerate(sec.tenants):
        for j, p in enumerate(t.pools):
            path = f"security.tenants[{i}].pools[{j}]"
            if p not in pools:
                yield Problem(
                    path,
                    f"tenant {t.name!r} names unknown pool {p!r}",
                    f"{_suggest(p, pools)}pools: {', '.join(pools)}",
                    "security.refs",
                )
            elif p in owner and owner[p] != t.name:
                yield Problem(
                    path,
                    f"pool {p!r} is owned by tenant {owner[p]!r} and tenant {t.name!r}",
                    "give each pool one tenant",
                    "security.tenants",
                )
            owner.setdefault(p, t.name)
    effective: set[str] = set(owner.values())
    for i, pool in enumerate(ctx.stack.compute.pools):
        if pool.tenant is None:
            continue
        effective.add(pool.tenant)
        if pool.tenant not in tenant_names:
            yield Problem(
                f"compute.pools[{i}].tenant",
                f"pool {pool.name!r} names undeclared tenant {pool.tenant!r}",
                f"{_suggest(pool.tenant, tenant_names)}declare "
                f"Tenant(name={pool.tenant!r}, pools=[{pool.name!r}]) in security.tenants",
                "security.tenants",
            )
        elif pool.name in owner and owner[pool.name] != pool.tenant:
            yield Problem(
                f"compute.pools[{i}].tenant",
                f"pool {pool.name!r} says tenant {pool.tenant!r} but tenant {owner[pool.name]!r} lists it",
                "make the pool's tenant and the Tenant entry agree",
                "security.tenants",
            )
    if sec.tenant_isolation and len(effective) < 2:
        yield Problem(
            "security.tenant_isolation",
            f"tenant_isolation=True with {len(effective)} tenant(s) owning pools: it isolates nothing",
            "declare at least two tenants with pools, or set tenant_isolation=False",
            "security.tenants",
        )


# --- versions and platform -----------------------------------------------------------------------------


def check_versions(ctx: _Ctx) -> Iterator[Problem]:
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
        if v.kubernetes not in KUBERNETES_SUPPORTED:
            yield Problem(
                "versions.kubernetes",
                f"Kubernetes {v.kubernetes!r} is not supported",
                f"{_suggest(v.kubernetes, KUBERNETES_SUPPORTED)}supported: {', '.join(KUBERNETES_SUPPORTED)}",
                "versions.kubernetes",
            )
        if k8s.version != v.kubernetes:
            yield Problem(
                "platform.kubernetes.version",
                f"platform Kubernetes {k8s.version!r} differs from the versions lock {v.kubernetes!r}",
                "set both to the same minor version",
                "platform.version",
            )


def _gpu_cuda(ctx: _Ctx) -> Iterator[Problem]:
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


def check_platform(ctx: _Ctx) -> Iterator[Problem]:
    """Kubernetes namespaces and control-plane size."""
    k8s = ctx.stack.platform.kubernetes if ctx.stack.platform else None
    if k8s is None:
        return
    base = "platform.kubernetes"
    for j, ns in enumerate(k8s.namespaces):
        ok = (
            0 < len(ns) <= K8S_NAMESPACE_MAX
            and ns[0].isalnum()
            and ns[-1].isalnum()
            and all(c.islower() or c.isdigit() or c == "-" for c in ns)
        )
        if not ok:
            yield Problem(
                f"{base}.namespaces[{j}]",
                f"namespace {ns!r} is not a DNS-1123 label",
                "use lower-case letters, digits and '-', at most 63 characters",
                "platform.namespaces",
            )
    yield from _dup_names(
        k8s.namespaces, lambda j: f"{base}.namespaces[{j}]", "namespace", "platform.namespaces"
    )
    if k8s.control_plane is not None:
        cp = ctx.select(k8s.control_plane)
        if cp and len(cp) % 2 == 0:
            yield Problem(
                f"{base}.control_plane",
                f"{len(cp)} control-plane hosts: etcd needs a majority, so an "
                "even count adds no fault tolerance",
                "use 1, 3 or 5 control-plane hosts (count=3)",
                "platform.control-plane",
            )


# --- site ----------------------------------------------------------------------------------------------


def check_site(ctx: _Ctx) -> Iterator[Problem]:
    """Lab limits (size, GPUs, private addresses, bridge fabric) and bare-metal host entries."""
    stack = ctx.stack
    if isinstance(stack.site, BareMetalSite):
        hosts = stack.site.hosts
        yield from _dup_names(
            (h.name for h in hosts), lambda i: f"site.hosts[{i}].name", "site host", "hosts.duplicate"
        )
        used = {str(h.management_ip): h.name for h in hosts}
        bmc: dict[str, str] = {}
        for i, h in enumerate(hosts):
            if h.bmc_ip is None:
                continue
            ip = str(h.bmc_ip)
            other = bmc.get(ip) or used.get(ip)
            if other is not None:
                yield Problem(
                    f"site.hosts[{i}].bmc_ip",
                    f"BMC address {ip!r} of {h.name!r} is also used by {other!r}",
                    "give every BMC its own address",
                    "address.duplicate",
                )
            bmc.setdefault(ip, h.name)
        return
    total = sum(p.count for p in stack.compute.pools)
    if total > LAB_MAX_NODES:
        yield Problem(
            "compute.pools",
            f"the lab would create {total} nodes on this machine (2 cores)",
            f"use at most {LAB_MAX_NODES} lab nodes, or a BareMetalSite",
            "lab.size",
        )
    for i, (pool, hw) in enumerate(zip(stack.compute.pools, ctx.hw, strict=True)):
        if hw is not None and hw.gpu is not None:
            yield Problem(
                _hw_path(pool, i, "gpu"),
                f"pool {pool.name!r} has GPU {hw.gpu!r}; lab nodes are namespaces on this CPU-only machine",
                "use profile='lab-cpu' on the lab",
                "lab.gpu",
            )
    for name, path, cidr, _ in _networks(stack):
        if cidr.overlaps(LOOPBACK):
            yield Problem(
                f"{path}.cidr",
                f"lab {name} network {str(cidr)!r} overlaps loopback 127.0.0.0/8",
                "use an RFC 1918 range, e.g. 172.31.250.0/24",
                "lab.addresses",
            )
        elif not any(cidr.subnet_of(r) for r in RFC1918):
            yield Problem(
                f"{path}.cidr",
                f"lab {name} network {str(cidr)!r} is not a private (RFC 1918) range",
                "use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 addresses, e.g. 172.31.250.0/24",
                "lab.addresses",
            )
    cf = stack.fabric.compute
    if cf is not None and (cf.kind != "ethernet" or cf.switch.lower() != "lab-bridge"):
        yield Problem(
            "fabric.compute",
            f"kind={cf.kind!r} switch={cf.switch!r} on the lab; lab nodes are joined by Linux bridges",
            "use ComputeFabric(kind='ethernet', switch='lab-bridge', ...)",
            "lab.fabric",
        )
    for i, pool, hw in ctx.fabric_pools():
        if hw.nic is not None and hw.nic != "lab-veth":
            yield Problem(
                _hw_path(pool, i, "compute_nic"),
                f"pool {pool.name!r} has NIC {hw.nic!r}; lab nodes have veth pairs only",
                "use compute_nic='lab-veth' (profile='lab-cpu')",
                "lab.fabric",
            )


# --- verify --------------------------------------------------------------------------------------------


def check_verify(ctx: _Ctx) -> Iterator[Problem]:
    """The collective sweep's largest message and the rendezvous port."""
    stack = ctx.stack
    v = stack.verify
    if not _pow2(v.max_message_mb):
        below = 1 << (v.max_message_mb.bit_length() - 1)
        yield Problem(
            "verify.max_message_mb",
            f"max_message_mb={v.max_message_mb} is not a power of two: the "
            "sweep doubles from 1 KiB and would never reach it",
            f"use {below} or {below * 2}",
            "verify.max-message",
        )
    taken = _ports_on_compute(ctx)
    port = v.rendezvous_port
    for lo, hi, owner in taken:
        if lo <= port <= hi:
            yield Problem(
                "verify.rendezvous_port",
                f"rendezvous_port={port} is taken by {owner} on the compute hosts",
                "pick a free port, e.g. the default 29500",
                "verify.port",
            )
            break


def _ports_on_compute(ctx: _Ctx) -> list[tuple[int, int, str]]:
    """Port ranges that services hold on at least one compute host."""
    stack = ctx.stack
    taken = [(SSH_PORT, SSH_PORT, "sshd"), (IPERF3_PORT, IPERF3_PORT, "iperf3 (the link check)")]
    needs_drafts = (
        stack.storage.ceph is not None
        or stack.storage.hdfs is not None
        or (stack.platform is not None and stack.platform.kubernetes is not None)
    )
    if not needs_drafts:
        return taken
    compute = {d.name for d in ctx.drafts if "compute" in d.roles}

    def on_compute(hosts: Sequence[Draft]) -> bool:
        return any(d.name in compute for d in hosts)

    ceph = stack.storage.ceph
    if ceph is not None:
        mons = ctx.select(ceph.mons)
        daemons = [*mons, *ctx.select(ceph.osds), *(ctx.select(ceph.mgrs) if ceph.mgrs else [])]
        if ceph.cephfs is not None and ceph.cephfs.mds is not None:
            daemons.extend(ctx.select(ceph.cephfs.mds))
        if on_compute(mons):
            taken.extend((p, p, "ceph-mon") for p in CEPH_MON_PORTS)
        if on_compute(daemons):
            taken.append((*CEPH_DAEMON_RANGE, "Ceph OSD/MGR/MDS daemons"))
    hdfs = stack.storage.hdfs
    if hdfs is not None:
        if on_compute(ctx.select(hdfs.namenode)):
            taken.extend((p, p, "the HDFS NameNode") for p in HDFS_NAMENODE_PORTS)
        if on_compute(ctx.select(hdfs.datanodes)):
            taken.extend((p, p, "HDFS DataNodes") for p in HDFS_DATANODE_PORTS)
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is not None and k8s.control_plane is not None:
        taken.append((KUBELET_PORT, KUBELET_PORT, "the kubelet"))
        if on_compute(ctx.select(k8s.control_plane)):
            taken.append((K8S_API_PORT, K8S_API_PORT, "kube-apiserver"))
    return taken


CHECKS: tuple[Check, ...] = (
    check_networks,
    check_fabric,
    check_mtu,
    check_roce,
    check_ceph,
    check_hdfs,
    check_security,
    check_versions,
    check_platform,
    check_site,
    check_verify,
)
