"""The compute fabric: sizing a rail-optimized fat tree, its cabling, and the bandwidth it should give.

Sizing follows NVIDIA's DGX SuperPOD reference architectures, which for 32 nodes per scalable unit
(SU) on 64-port QM9700 switches list (DGX B200 RA, "Larger DGX SuperPOD component counts",
https://docs.nvidia.com/dgx-superpod/reference-architecture-scalable-infrastructure-b200/latest/dgx-superpod-architecture.html,
and the DGX H100 RA for 1 and 3 SUs):

    SUs  nodes  leaf  spine  core   node-leaf  leaf-spine  spine-core
     1     32     8      4     -        256        256          -
     2     64    16      8     -        512        512          -
     3     96    24     16     -        768        768          -
     4    128    32     16     -       1024       1024          -
     8    256    64     32     -       2048       2048          -
    16    512   128    128    64       4096       4096       4096
    64   2048   512    512   256      16384      16384      16384

The rules that reproduce the table for any radix k and oversubscription r (down:up at the leaf):

- one leaf per rail per SU serves the SU's nodes on that rail (more if the SU outgrows a leaf's
  down ports); a leaf has ``down = floor(k*r/(r+1))`` down ports and ``ceil(down/r)`` up ports;
- two tiers while the spines can reach every leaf: ``spines = ceil(uplinks / k)``, rounded up to a
  divisor of a leaf's up ports so each leaf spreads evenly over all spines (3 SUs: 12 -> 16);
- beyond that, three tiers: leaves form pods of ``k/2``; each pod has its own spines (``k/2`` down,
  ``k/2`` up), and spine *j* of every pod connects to core group *j*; cores = spine uplinks / k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dcinfra.plan.types import Cable, ExpectedBandwidth

# Where the efficiency factors come from. busbw is defined as nccl-tests defines it
# (https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md): for all-reduce,
# busbw = algbw * 2(n-1)/n, which makes it comparable to the hardware's link bandwidth.
NCCL_TESTS_PERF = "https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md"

# Intra-node all-reduce busbw reaches ~80% of the per-GPU unidirectional NVLink bandwidth with NCCL's
# ring algorithm (H100: ~360 of 450 GB/s; NVLink SHARP raises it further). Source: NVIDIA's
# "Fast Multi-GPU collectives with NCCL" and the NCCL performance notes,
# https://developer.nvidia.com/blog/fast-multi-gpu-collectives-nccl/
NVLINK_EFFICIENCY = 0.80
NVLINK_SOURCE = "https://developer.nvidia.com/blog/fast-multi-gpu-collectives-nccl/"
# Over PCIe (no NVLink) NCCL typically reaches ~75% of the unidirectional link rate.
PCIE_EFFICIENCY = 0.75
PCIE_SOURCE = "https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html#nccl-p2p-level"
# Large-message RDMA throughput on InfiniBand/RoCE reaches ~92% of line rate after link encoding and
# transport headers (ib_write_bw / nccl-tests on NDR). Source: NVIDIA's NCCL + InfiniBand tuning guide,
# https://docs.nvidia.com/networking/display/rdmaawareprogrammingv17/
RDMA_EFFICIENCY = 0.92
RDMA_SOURCE = "https://docs.nvidia.com/networking/display/rdmaawareprogrammingv17/"
# TCP over plain Ethernet (gloo, iperf3) reaches ~90% of line rate with a 1500-byte MTU (per-packet
# Ethernet + IP + TCP headers: 1448 payload bytes of 1538 on the wire = 94%, less stack overhead).
TCP_EFFICIENCY = 0.90
TCP_SOURCE = "https://www.rfc-editor.org/rfc/rfc6349 (TCP throughput testing: framing overhead)"


@dataclass(frozen=True, slots=True)
class FatTree:
    """Switch and cable counts of one fabric."""

    tiers: int
    leaves: int
    spines: int
    cores: int
    node_leaf: int
    leaf_spine: int
    spine_core: int
    leaf_down: int  # down ports per leaf
    leaf_up: int  # up ports per leaf (for a fully populated leaf)
    leaves_per_rail_su: int


class FabricTooLarge(ValueError):
    """The switch radix cannot build the declared size with the declared oversubscription."""


def leaf_ports(radix: int, oversubscription: float) -> tuple[int, int]:
    """(down, up) ports of a leaf for a down:up ratio."""
    down = math.floor(radix * oversubscription / (oversubscription + 1))
    up = math.ceil(down / oversubscription)
    while down + up > radix:
        down -= 1
        up = math.ceil(down / oversubscription)
    return down, up


def max_endpoints(radix: int, oversubscription: float = 1.0) -> int:
    """Largest number of node ports a three-tier fat tree of this radix holds."""
    down, _up = leaf_ports(radix, oversubscription)
    half = radix // 2
    # pods of `half` leaves; at most `radix` pods reach a core (one port per pod per core group)
    return down * half * radix


def _round_to_divisor(n: int, of: int) -> int:
    """The smallest divisor of ``of`` that is >= ``n`` (``of`` if none)."""
    for d in range(max(n, 1), of + 1):
        if of % d == 0:
            return d
    return of


def _su_sizes(nodes: int, nodes_per_su: int) -> list[int]:
    full, rest = divmod(nodes, nodes_per_su)
    return [nodes_per_su] * full + ([rest] if rest else [])


def size_fat_tree(nodes: int, rails: int, nodes_per_su: int, radix: int, oversubscription: float) -> FatTree:
    """Switch and cable counts for ``nodes`` nodes with ``rails`` ports each. Raises
    :class:`FabricTooLarge` when three tiers of this radix cannot hold them."""
    down, up = leaf_ports(radix, oversubscription)
    per_leaf_su = math.ceil(min(nodes_per_su, nodes) / down) if nodes else 0
    leaf_loads: list[int] = []  # nodes on each leaf
    for su_nodes in _su_sizes(nodes, nodes_per_su):
        n_leaves = math.ceil(su_nodes / down)
        for _rail in range(rails):
            left = su_nodes
            for _ in range(n_leaves):
                take = min(down, left)
                leaf_loads.append(take)
                left -= take
    leaves = len(leaf_loads)
    node_leaf = nodes * rails
    limit = max_endpoints(radix, oversubscription)
    if node_leaf > limit:
        raise FabricTooLarge(
            f"{nodes} nodes x {rails} rails = {node_leaf} ports exceed the {limit}"
            f" a three-tier fat tree of {radix}-port switches holds at {oversubscription:g}:1"
        )
    if leaves <= 1:
        return FatTree(1, leaves, 0, 0, node_leaf, 0, 0, down, up, per_leaf_su)
    uplinks = [math.ceil(load / oversubscription) for load in leaf_loads]
    total_up = sum(uplinks)
    half = radix // 2
    spines = math.ceil(total_up / radix)
    if spines <= up:
        spines = _round_to_divisor(spines, up)
        return FatTree(2, leaves, spines, 0, node_leaf, total_up, 0, down, up, per_leaf_su)
    pods = _pods(leaves, half)
    spines = sum(_pod_spines(len(p), up) for p in pods)
    spine_up_total = total_up  # non-blocking from spine to core
    groups = max(_pod_spines(len(p), up) for p in pods)
    per_group = math.ceil(math.ceil(spine_up_total / radix) / groups)
    cores = groups * per_group
    return FatTree(3, leaves, spines, cores, node_leaf, total_up, spine_up_total, down, up, per_leaf_su)


def _pods(leaves: int, half: int) -> list[range]:
    return [range(i, min(i + half, leaves)) for i in range(0, leaves, half)]


def _pod_spines(pod_leaves: int, up: int) -> int:
    # Every leaf of the pod connects to every spine of the pod: spine count divides the leaf uplinks.
    return _round_to_divisor(pod_leaves, up)


def leaf_name(su: int, rail: int, k: int, per_rail_su: int) -> str:
    """Name of the k-th leaf of ``rail`` in scalable unit ``su`` (1-based SU)."""
    base = f"leaf-su{su:02d}-r{rail}"
    return base if per_rail_su == 1 else f"{base}-{k + 1}"


def cabling(
    node_ports: list[tuple[str, int, list[str]]],
    rails: int,
    nodes_per_su: int,
    radix: int,
    oversubscription: float,
    tree: FatTree,
) -> tuple[list[Cable], dict[tuple[str, int], tuple[str, int]]]:
    """Every cable of the fabric, and each (host, rail) -> (leaf, port).

    ``node_ports`` lists (host, su, rail interfaces) in plan order.
    """
    down = tree.leaf_down
    cables: list[Cable] = []
    attach: dict[tuple[str, int], tuple[str, int]] = {}
    # leaves in the same order size_fat_tree counted them: SU, rail, k
    leaf_order: list[str] = []
    leaf_load: dict[str, int] = {}
    by_su: dict[int, list[tuple[str, list[str]]]] = {}
    for host, su, ifaces in node_ports:
        by_su.setdefault(su, []).append((host, ifaces))
    per = tree.leaves_per_rail_su
    for su in sorted(by_su):
        members = by_su[su]
        n_leaves = math.ceil(len(members) / down)
        for rail in range(rails):
            for k in range(n_leaves):
                name = leaf_name(su, rail, k, per)
                leaf_order.append(name)
                leaf_load[name] = 0
            for pos, (host, ifaces) in enumerate(members):
                if rail >= len(ifaces):
                    continue  # fewer rails than the fabric: reported by checks (fabric.heterogeneous)
                k, port = divmod(pos, down)
                leaf = leaf_name(su, rail, k, per)
                leaf_load[leaf] += 1
                attach[(host, rail)] = (leaf, port + 1)
                cables.append(Cable("node_leaf", f"{host}:{ifaces[rail]}", f"{leaf}:p{port + 1}"))
    if tree.tiers == 1:
        return cables, attach
    half = radix // 2
    if tree.tiers == 2:
        spine_names = [f"spine-{i + 1:03d}" for i in range(tree.spines)]
        spine_port = dict.fromkeys(spine_names, 0)
        for leaf in leaf_order:
            n_up = math.ceil(leaf_load[leaf] / oversubscription)
            for j in range(n_up):
                spine = spine_names[j % tree.spines]
                spine_port[spine] += 1
                cables.append(Cable("leaf_spine", f"{leaf}:p{down + j + 1}", f"{spine}:p{spine_port[spine]}"))
        return cables, attach
    # three tiers: pods of `half` leaves, each with its own spines; spine j of a pod -> core group j
    pods = _pods(len(leaf_order), half)
    groups = max(_pod_spines(len(p), tree.leaf_up) for p in pods)
    per_group = tree.cores // groups
    core_port: dict[str, int] = {}
    for pi, pod in enumerate(pods):
        n_spines = _pod_spines(len(pod), tree.leaf_up)
        spines = [f"spine-p{pi + 1:02d}-{j + 1:02d}" for j in range(n_spines)]
        spine_down = dict.fromkeys(spines, 0)
        for li in pod:
            leaf = leaf_order[li]
            n_up = math.ceil(leaf_load[leaf] / oversubscription)
            for j in range(n_up):
                spine = spines[j % n_spines]
                spine_down[spine] += 1
                cables.append(Cable("leaf_spine", f"{leaf}:p{down + j + 1}", f"{spine}:p{spine_down[spine]}"))
        for j, spine in enumerate(spines):
            cores = [f"core-g{j + 1:02d}-{c + 1}" for c in range(per_group)]
            for u in range(spine_down[spine]):
                core = cores[u % per_group]
                core_port[core] = core_port.get(core, 0) + 1
                cables.append(Cable("spine_core", f"{spine}:p{half + u + 1}", f"{core}:p{core_port[core]}"))
    return cables, attach


def expected_bandwidth(
    *,
    gpu_count: int,
    nvlink_GBps: float,
    pcie_GBps: float,
    rails: int,
    line_rate_gbps: int,
    kind: str,
    oversubscription: float,
) -> ExpectedBandwidth:
    """What all-reduce should reach on this hardware (busbw as nccl-tests defines it)."""
    nic = line_rate_gbps / 8
    rdma = kind in ("infiniband", "roce")
    net_eff, net_src = (RDMA_EFFICIENCY, RDMA_SOURCE) if rdma else (TCP_EFFICIENCY, TCP_SOURCE)
    efficiency = {"network": net_eff}
    sources = {"busbw": NCCL_TESTS_PERF, "network": net_src}
    intra: float | None = None
    if gpu_count > 1:
        if nvlink_GBps > 0:
            intra_raw, eff, src = nvlink_GBps / 2, NVLINK_EFFICIENCY, NVLINK_SOURCE
            efficiency["nvlink"] = eff
            sources["nvlink"] = src
        else:
            intra_raw, eff, src = pcie_GBps / 2, PCIE_EFFICIENCY, PCIE_SOURCE
            efficiency["pcie"] = eff
            sources["pcie"] = src
        intra = round(intra_raw * eff, 2)
    inter: float | None = None
    per_gpu = nic * rails / max(gpu_count, 1)
    if rails > 0:
        # Ring/tree channels leave each node through every rail at once: the node's NICs together
        # bound cross-node busbw (beyond one leaf, an oversubscribed fabric shares the uplinks). The
        # same rings also run over NVLink (or PCIe) inside every node, so cross-node busbw can never
        # exceed the intra-node figure, efficiency included: on 8 x NDR H100 nodes the NICs allow
        # 8 x 50 GB/s x 0.92 = 368 GB/s, but the NVLink hops of the ring carry 450/2 x 0.80 = 360.
        inter = round(nic * rails * net_eff / oversubscription, 2)
        if intra is not None:
            inter = min(inter, intra)
    return ExpectedBandwidth(
        intra_node_busbw_GBps=intra,
        inter_node_busbw_GBps=inter,
        nic_line_rate_GBps=round(nic, 3),
        per_gpu_network_GBps=round(per_gpu, 3),
        link_GBps=round(nic * net_eff, 3),
        efficiency=efficiency,
        sources=sources,
    )
