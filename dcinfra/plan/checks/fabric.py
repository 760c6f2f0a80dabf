"""Rules on the networks and the compute fabric: address ranges, interfaces, switch and NIC models,
leaf ports, MTU along a path, and RoCE.

Rules (``Problem.rule``): ``network.overlap``, ``network.membership``, ``network.interface``,
``catalog.unknown`` (switch; with ``radix=`` set it also says that a radix is no stand-in for a catalog
model), ``fabric.switch``, ``fabric.nic``, ``fabric.radix`` (odd, below 4, or above the model's ports:
with the models of that transport that have enough), ``fabric.leaf-ports``,
``fabric.missing``, ``fabric.unused``, ``fabric.heterogeneous``, ``fabric.hcas``, ``fabric.rails``,
``mtu.invalid``, ``mtu.switch``, ``mtu.mismatch``, ``lab.mtu``, ``roce.settings``, ``roce.lossless``,
``roce.mtu``

Decisions a network engineer may want to know:

- **InfiniBand generations interoperate.** HDR, NDR and XDR ports auto-negotiate down to the slower
  end, so an XDR NIC on an NDR switch (or the reverse) joins the fabric at the lower rate; the planner
  already uses ``min(NIC, switch)`` line rate for expected bandwidth. Only a NIC that cannot speak the
  fabric's transport at all (BlueField-3 on InfiniBand, a lab veth on a real fabric) is a problem.
- **Emulated hardware.** The catalog marks the lab's Linux bridge and veth pairs ``emulated``; they fit
  a site whose capabilities say ``emulated_network`` and no other, and real models do not fit one.
- **Rails against GPUs.** A rail-optimized fabric pairs every GPU with a NIC on "its" rail, so the
  GPUs of a node must split evenly over its rails: one rail per GPU (8 on 8-GPU HGX/DGX nodes), one
  per two or four GPUs (the 4 BlueField-3 ports of an 8x L40S PCIe server), or two rails per GPU.
  Any other count (7 or 12 rails on 8 GPUs) leaves some rails serving more GPUs than others, and the
  busiest rail bounds every collective. ``ComputeFabric.rail_gpu_ratio='any'`` turns the rule off for a
  design that differs on purpose; every catalog profile passes it as shipped.
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
  drops to 1024). Lab bridges carry any MTU, but a site may cap the MTU (``SiteCapabilities.max_mtu``:
  the lab's is standard jumbo frames, 9000) so that what it proves holds on real switches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from dcinfra.catalog import NICS, SWITCHES, Switch
from dcinfra.errors import Problem
from dcinfra.model.compute import NodePool
from dcinfra.plan.checks._common import Ctx, dup_names, hw_path, mtu_of, networks, suggest
from dcinfra.plan.fabric import leaf_ports
from dcinfra.plan.hosts import Hw, unknown

__all__ = ["check_fabric", "check_mtu", "check_networks", "check_roce"]

# InfiniBand path MTUs are 256, 512, 1024, 2048 or 4096 bytes (InfiniBand Architecture Specification
# vol. 1, the PortInfo NeighborMTU/MTUCap encodings); 4096 is the largest any IB fabric carries.
IB_MTUS = (256, 512, 1024, 2048, 4096)
# A RoCE port's RDMA MTU is the largest of 1024/2048/4096 that fits in the Ethernet MTU (1500 -> 1024).
# Source: https://www.ibm.com/docs/en/linux-on-systems?topic=functions-set-mtu
# 4096-byte RDMA payloads need room for the RoCEv2 headers too (Ethernet, IP, UDP, BTH, ICRC), hence
# the customary floor of 4200; 9000 is the usual setting.
ROCE_MIN_MTU = 4200
# Switch transports that can carry each fabric kind: a RoCE-capable Spectrum switch also does plain
# Ethernet; an InfiniBand switch only InfiniBand; the lab bridge only plain Ethernet.
SWITCH_CARRIES = {"infiniband": ("infiniband",), "roce": ("roce",), "ethernet": ("ethernet", "roce")}


# --- networks ------------------------------------------------------------------------------------------


def check_networks(ctx: Ctx) -> Iterator[Problem]:
    """``network.overlap`` between declared networks; ``network.membership`` of the SSH source CIDR;
    ``network.interface`` clashes between host interface names."""
    stack = ctx.stack
    nets = networks(stack)
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


def check_fabric(ctx: Ctx) -> Iterator[Problem]:
    """Switch model and transport, radix, leaf ports per SU, NIC transport, and which pools use the fabric."""
    stack = ctx.stack
    cf = stack.fabric.compute
    members = ctx.fabric_pools()
    if cf is None:
        for i, pool, hw in members:
            yield Problem(
                hw_path(pool, i, "rails"),
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
    emulated = ctx.site.emulated_network
    switch = SWITCHES.get(cf.switch.lower())
    if switch is None:
        missing = unknown("switch", "fabric.compute.switch", cf.switch, sorted(SWITCHES))
        if cf.radix is not None:
            # radix= sizes a catalog model's ports; it is no stand-in for a model the catalog lacks.
            missing = replace(
                missing,
                message=f"{missing.message} (with radix={cf.radix}): radix only sets the ports per switch "
                "of a catalog model; the model's transport, line rate and MTU come from the catalog",
                hint=f"{suggest(cf.switch, sorted(SWITCHES))}known: {_ports(SWITCHES.values())}, "
                "lab-bridge (the lab's Linux bridge)",
            )
        yield missing
    elif switch.transport not in SWITCH_CARRIES[cf.kind]:
        fits = sorted(
            s.name
            for s in SWITCHES.values()
            if s.transport in SWITCH_CARRIES[cf.kind] and s.emulated == emulated
        )
        yield Problem(
            "fabric.compute.switch",
            f"{switch.name!r} is a {switch.transport} switch; it cannot build a kind={cf.kind!r} fabric",
            f"use a switch for kind={cf.kind!r} ({', '.join(fits)}) or change kind",
            "fabric.switch",
        )
    elif switch.emulated and not emulated:
        yield Problem(
            "fabric.compute.switch",
            f"{switch.name!r} is the lab's Linux bridge; it exists only on a LabSite",
            "name the real switch model (e.g. 'sn5600' for Ethernet)",
            "fabric.switch",
        )
    yield from _radix(cf.radix, switch)
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
                hw_path(pool, i, "compute_nic"),
                f"NIC {nic.name!r} of pool {pool.name!r} cannot join a "
                f"kind={cf.kind!r} fabric (it speaks {', '.join(nic.transports)})",
                f"use a NIC that speaks {cf.kind} (e.g. 'connectx-7-ndr') or change the fabric kind",
                "fabric.nic",
            )
        elif nic.emulated and not emulated:
            yield Problem(
                hw_path(pool, i, "compute_nic"),
                f"NIC {nic.name!r} of pool {pool.name!r} is a lab veth pair; it exists only on a LabSite",
                "name the real NIC model",
                "fabric.nic",
            )
    if cf.rail_gpu_ratio == "even":
        yield from _rails_per_gpu(members)
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
        yield from dup_names(cf.hcas, lambda j: f"fabric.compute.hcas[{j}]", "HCA", "fabric.hcas")


def _radix(radix: int | None, switch: Switch | None) -> Iterator[Problem]:
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
    # An emulated switch's radix is a planning figure, not a port count.
    if switch is not None and not switch.emulated and radix > switch.radix:
        same = [s for s in SWITCHES.values() if s.transport == switch.transport and not s.emulated]
        larger = [s for s in same if s.radix >= radix]
        instead = (
            f"did you mean {' or '.join(repr(s.name) for s in larger)}? " if larger else ""
        )  # the catalog models of this transport with enough ports
        yield Problem(
            "fabric.compute.radix",
            f"radix={radix} but {switch.name!r} has {switch.radix} ports at "
            f"{switch.port_gbps} Gb/s: a radix above the model's port count plans switches that do not exist",
            f"use radix <= {switch.radix} (or leave it None for the catalog value), or a switch with "
            f"{radix} ports or more: {instead}{switch.transport} switches: {_ports(same)}",
            "fabric.radix",
        )


def _ports(switches: Iterable[Switch]) -> str:
    """``name ports x Gb/s`` of each real (not emulated) switch model, sorted by name."""
    return ", ".join(
        f"{s.name} {s.radix} x {s.port_gbps}G"
        for s in sorted(switches, key=lambda s: s.name)
        if not s.emulated
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


def _rails_per_gpu(members: Sequence[tuple[int, NodePool, Hw]]) -> Iterator[Problem]:
    """``fabric.rails``: GPUs that do not split evenly over a node's rails."""
    for i, pool, hw in members:
        gpus, rails = hw.gpu_count, hw.rails
        if hw.gpu is None or not gpus or gpus % rails == 0 or rails % gpus == 0:
            continue
        fits = sorted({r for r in range(1, 17) if gpus % r == 0 or r % gpus == 0})
        # the nearest allowed count; on a tie one per GPU, else the smaller (fewer NICs to buy)
        near = min(fits, key=lambda r: (abs(r - rails), r != gpus, r))
        yield Problem(
            hw_path(pool, i, "rails"),
            f"pool {pool.name!r} has rails={rails} for {gpus} GPUs per node: on a rail-optimized fabric "
            f"the GPUs must split evenly over the rails ({gpus} GPUs over {rails} rails leaves some rails "
            "serving more GPUs than others)",
            f"use rails={near} (allowed for {gpus} GPUs: {', '.join(map(str, fits))}; one per GPU is "
            f"rails={gpus}), or set fabric.compute.rail_gpu_ratio='any' for a design that differs on "
            "purpose",
            "fabric.rails",
        )


def _heterogeneous(members: Sequence[tuple[int, NodePool, Hw]]) -> Iterator[Problem]:
    if not members:
        return
    _, ref, ref_hw = members[0]
    for i, pool, hw in members[1:]:
        if hw.rails != ref_hw.rails:
            yield Problem(
                hw_path(pool, i, "rails"),
                f"pool {pool.name!r} has rails={hw.rails} but pool "
                f"{ref.name!r} on the same fabric has rails={ref_hw.rails}",
                "rail-optimized collectives "
                "need every node on every rail: use the same rail count, or a separate fabric",
                "fabric.heterogeneous",
            )
        if hw.nic != ref_hw.nic:
            yield Problem(
                hw_path(pool, i, "compute_nic"),
                f"pool {pool.name!r} uses NIC {hw.nic!r} but pool "
                f"{ref.name!r} on the same fabric uses {ref_hw.nic!r}",
                "use one NIC model per fabric (NCCL pairs rails by device and speed)",
                "fabric.heterogeneous",
            )


# --- MTU and RoCE --------------------------------------------------------------------------------------


def check_mtu(ctx: Ctx) -> Iterator[Problem]:
    """Compute-fabric MTU vs transport and switch; Ceph public vs cluster MTU; the site's MTU ceiling."""
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
        pub, cl = mtu_of(stack, ceph.public_network), mtu_of(stack, ceph.cluster_network)
        if pub is not None and cl is not None and pub != cl:
            yield Problem(
                "storage.ceph.cluster_network",
                f"Ceph replication runs on {ceph.cluster_network!r} "
                f"(MTU {cl}) but client writes arrive on {ceph.public_network!r} (MTU {pub}): the MTU "
                "changes along the write path",
                "use the same MTU on both networks (9000 for storage) or one network for both",
                "mtu.mismatch",
            )
    cap = ctx.site.max_mtu
    if cap is not None:
        for name, path, _, mtu in networks(stack):
            if mtu > cap:
                yield Problem(
                    f"{path}.mtu",
                    f"MTU {mtu!r} on the lab's {name} network",
                    f"use at most {cap} (standard jumbo frames) on the lab",
                    "lab.mtu",
                )


def check_roce(ctx: Ctx) -> Iterator[Problem]:
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
