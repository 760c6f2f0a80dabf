"""The planner: fat-tree sizing against NVIDIA's published tables, cabling, addressing, placement,
storage, security, determinism, and golden plans for the reference stacks."""

from __future__ import annotations

import json
from collections import Counter
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.plan.fabric import size_fat_tree
from dcinfra.plan.types import Plan, to_jsonable
from tests.conftest import REPO_ROOT, rewrote, updating_golden

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "plan"


def plan_of(name: str, **config: str) -> Plan:
    return compile_plan(load_stack(ROOT / "stacks" / f"{name}.py", Config(config)))


# NVIDIA DGX SuperPOD reference architectures, 32 nodes per SU, 8 rails, 64-port QM9700:
# (SUs, leaf, spine, core, node-leaf, leaf-spine, spine-core). 1 and 3 SUs from the DGX H100 RA
# (there with 31 nodes + UFM per SU), the rest from the DGX B200 RA "Larger DGX SuperPOD component counts".
SUPERPOD_RA = [
    (1, 8, 4, 0, 256, 256, 0),
    (2, 16, 8, 0, 512, 512, 0),
    (3, 24, 16, 0, 768, 768, 0),
    (4, 32, 16, 0, 1024, 1024, 0),
    (8, 64, 32, 0, 2048, 2048, 0),
    (16, 128, 128, 64, 4096, 4096, 4096),
    (32, 256, 256, 128, 8192, 8192, 8192),
    (64, 512, 512, 256, 16384, 16384, 16384),
]


@pytest.mark.parametrize(("su", "leaf", "spine", "core", "nl", "ls", "sc"), SUPERPOD_RA, ids=str)
def test_fat_tree_matches_nvidia_superpod_ra(
    su: int, leaf: int, spine: int, core: int, nl: int, ls: int, sc: int
) -> None:
    t = size_fat_tree(su * 32, 8, 32, 64, 1.0)
    assert (t.leaves, t.spines, t.cores) == (leaf, spine, core)
    assert (t.node_leaf, t.leaf_spine, t.spine_core) == (nl, ls, sc)
    assert t.tiers == (3 if core else 2)


@pytest.mark.parametrize("su", [1, 4, 16])
def test_superpod_stack_plan_counts_and_cabling(su: int) -> None:
    plan = plan_of("superpod", su_count=str(su))
    row = next(r for r in SUPERPOD_RA if r[0] == su)
    f = plan.fabric
    assert f is not None
    assert (f.switches["leaf"], f.switches["spine"], f.switches["core"]) == row[1:4]
    assert (f.cables["node_leaf"], f.cables["leaf_spine"], f.cables["spine_core"]) == row[4:7]
    tiers = Counter(c.tier for c in f.cabling)
    assert tiers["node_leaf"] == row[4] and tiers["leaf_spine"] == row[5] and tiers["spine_core"] == row[6]
    # every switch port is used at most once and never beyond the radix
    ends = [c.a for c in f.cabling] + [c.b for c in f.cabling]
    assert len(ends) == len(set(ends))
    switch_ports = [e for e in ends if not e.startswith("dgx-")]
    assert all(1 <= int(e.rsplit(":p", 1)[1]) <= f.radix for e in switch_ports)
    per_switch = Counter(e.rsplit(":", 1)[0] for e in switch_ports)
    assert len([s for s in per_switch if s.startswith("leaf-")]) == row[1]
    assert len([s for s in per_switch if s.startswith("spine-")]) == row[2]
    assert len([s for s in per_switch if s.startswith("core-")]) == row[3]
    assert max(per_switch.values()) <= f.radix
    # rail-optimized: rail r of every node of an SU lands on the same leaf
    for h in plan.hosts[:64]:
        for nic in h.rails:
            assert nic.leaf == f"leaf-su{h.su:02d}-r{nic.rail}"


def test_two_tiers_round_spines_to_spread_evenly() -> None:
    # 3 SUs need 768/64 = 12 spines, but 32 uplinks per leaf do not spread evenly over 12: NVIDIA uses 16.
    assert size_fat_tree(96, 8, 32, 64, 1.0).spines == 16


def test_oversubscription_halves_uplinks() -> None:
    t = size_fat_tree(64, 8, 32, 64, 2.0)
    assert t.leaf_spine == t.node_leaf // 2


def test_single_leaf_fabric_is_one_tier() -> None:
    plan = plan_of("lab")
    assert plan.fabric is not None
    assert plan.fabric.tiers == 1
    assert plan.fabric.switches == {"leaf": 1, "spine": 0, "core": 0}


def test_expected_bandwidth_h100() -> None:
    f = plan_of("h100_su").fabric
    assert f is not None
    e = f.expected
    # NVLink 900 GB/s bidirectional -> 450 per direction x 0.80
    assert e.intra_node_busbw_GBps == pytest.approx(360.0)
    # 8 x 400 Gb/s = 400 GB/s per node x 0.92 RDMA efficiency = 368, but the same rings cross NVLink
    # inside each node: never above the intra-node figure (the 368 > 360 was inconsistent)
    assert e.inter_node_busbw_GBps == pytest.approx(360.0)
    assert e.inter_node_busbw_GBps <= e.intra_node_busbw_GBps
    assert e.nic_line_rate_GBps == pytest.approx(50.0)
    assert set(e.sources) >= {"busbw", "network", "nvlink"}
    assert all(s.startswith("https://") for s in e.sources.values())


def test_addresses_unique_and_inside_networks() -> None:
    plan = plan_of("h100_su")
    nets = {n.name: IPv4Network(n.cidr) for n in plan.networks}
    seen: set[str] = set()
    for h in plan.hosts:
        for net, ip in h.addresses.items():
            if net != "compute":
                assert IPv4Address(ip) in nets[net], (h.name, net, ip)
                assert ip not in seen
                seen.add(ip)
        for nic in h.rails:
            assert IPv4Address(nic.address) in nets[f"compute-r{nic.rail}"]
            assert nic.address not in seen
            seen.add(nic.address)
    gpu = plan.host("gpu-001")
    assert len(gpu.rails) == 8
    assert gpu.addresses["management"] == "10.0.0.11"  # from the bare-metal site
    assert [r.hca for r in gpu.rails] == [f"mlx5_{i}" for i in range(8)]


def test_rack_power_and_placement() -> None:
    plan = plan_of("h100_su")
    racks = {r.name: r for r in plan.racks}
    assert racks["r01"].hosts == ("gpu-001", "gpu-002", "gpu-003", "gpu-004")
    assert racks["r01"].power_kw == pytest.approx(40.8)
    assert all(r.budget_kw is None or r.power_kw <= r.budget_kw for r in plan.racks)


def test_ceph_placement_crush_and_pgs() -> None:
    plan = plan_of("h100_su")
    ceph = plan.ceph
    assert ceph is not None
    # monitors spread across the two storage racks
    mon_racks = {plan.host(m).rack for m in ceph.mons}
    assert len(ceph.mons) == 3 and mon_racks == {"r09", "r10"}
    assert len(ceph.osds) == 6 * 4
    assert [o.id for o in ceph.osds] == list(range(24))
    assert ceph.crush.type == "root"
    assert [b.name for b in ceph.crush.children] == ["r09", "r10"]
    assert all(c.type == "host" for rack in ceph.crush.children for c in rack.children)
    pools = {p.name: p for p in ceph.pools}
    assert set(pools) == {"rbd", "datasets-metadata", "datasets-data"}
    assert all(p.pg_num & (p.pg_num - 1) == 0 for p in ceph.pools)
    assert ceph.client_mount == "kernel"
    assert set(ceph.clients) == {h.name for h in plan.hosts if h.pool == "gpu"}
    lab = plan_of("lab").ceph
    assert lab is not None and lab.client_mount == "fuse" and lab.osds[0].device.startswith("file:")


def test_hdfs_rack_map_and_safety_properties() -> None:
    hdfs = plan_of("h100_su").hdfs
    assert hdfs is not None
    assert hdfs.namenode == "stor-001"
    plan = plan_of("h100_su")
    # Keyed by what DataNodes register with: their name and address on the HDFS (storage) network.
    stor1 = plan.host("stor-001").addresses["storage"]
    assert hdfs.rack_map["stor-001-storage"] == "/r09" and hdfs.rack_map["stor-006-storage"] == "/r10"
    assert hdfs.rack_map[stor1] == "/r09" and "stor-001" not in hdfs.rack_map
    assert (
        hdfs.service_names["stor-001"] == "stor-001-storage" and hdfs.service_addresses["stor-001"] == stor1
    )
    assert hdfs.hdfs_site["dfs.reformat.disabled"] == "true"
    assert hdfs.hdfs_site["dfs.replication"] == "3"


def test_security_flows_and_rulesets() -> None:
    plan = plan_of("h100_su")
    names = {f.name for f in plan.security.flows}
    assert {"ssh", "ceph-mon", "ceph-daemons", "hdfs-namenode", "bench-rendezvous"} <= names
    assert all(f.allowed for f in plan.security.flows)
    gpu = plan.host("gpu-001")
    rules = plan.security.rulesets[gpu.firewall]
    ssh = next(r for r in rules if r.comment == "flow ssh")
    assert ssh.sources == ("10.0.0.0/24",) and ssh.ports == ("22",)
    # storage hosts accept Ceph monitor traffic from the GPU nodes' storage addresses only
    mon = plan.host(plan.ceph.mons[0]) if plan.ceph else None
    assert mon is not None
    mon_rules = plan.security.rulesets[mon.firewall]
    ceph_mon = next(r for r in mon_rules if r.comment == "flow ceph-mon")
    assert all(IPv4Network(c).subnet_of(IPv4Network("10.16.0.0/22")) for c in ceph_mon.sources)


def test_nccl_env() -> None:
    plan = plan_of("h100_su")
    env = plan.host("gpu-001").nccl_env
    assert env["NCCL_IB_HCA"] == "=" + ",".join(f"mlx5_{i}:1" for i in range(8))
    assert env["NCCL_SOCKET_IFNAME"] == "ib0"
    assert "NCCL_DEBUG" not in env
    assert plan.host("stor-001").nccl_env == {}
    # InfiniBand: the verbs transport or nothing (never a silent fall-back to sockets); no RoCE knobs.
    assert env["NCCL_NET"] == "IB" and "NCCL_IB_QPS_PER_CONNECTION" not in env
    lab = plan_of("lab").host("node-001").nccl_env
    assert lab["NCCL_IB_DISABLE"] == "1" and lab["GLOO_SOCKET_IFNAME"] == "rail0"
    assert "NCCL_NET" not in lab  # plain Ethernet: the socket transport


def test_nccl_env_on_roce_spreads_each_connection_over_queue_pairs() -> None:
    plan = plan_of("two_tenants")
    env = next(h.nccl_env for h in plan.hosts if h.nccl_env and h.gpu)
    assert env["NCCL_NET"] == "IB" and env["NCCL_IB_QPS_PER_CONNECTION"] == "4"
    assert env["NCCL_IB_GID_INDEX"] and env["NCCL_IB_TC"]


def test_verify_plan() -> None:
    v = plan_of("h100_su").verify
    assert v is not None and v.backend == "nccl" and v.master == "gpu-001"
    assert v.expected_busbw_GBps == pytest.approx(360.0)
    assert v.gemm_peak_tflops == pytest.approx(989.5)
    lab = plan_of("lab").verify
    assert lab is not None and lab.backend == "gloo" and len(lab.hosts) == 3


def test_plan_is_deterministic() -> None:
    a = json.dumps(to_jsonable(plan_of("superpod", su_count="2"), cabling=True), sort_keys=True)
    b = json.dumps(to_jsonable(plan_of("superpod", su_count="2"), cabling=True), sort_keys=True)
    assert a == b


@pytest.mark.parametrize("name", ["lab", "h100_su"])
def test_golden_plan(name: str) -> None:
    got = json.dumps(to_jsonable(plan_of(name)), indent=2, sort_keys=True) + "\n"
    path = GOLDEN / f"{name}.json"
    if updating_golden():
        path.write_text(got)
        rewrote(path.relative_to(REPO_ROOT))
    want = path.read_text()
    assert got == want, f"plan of {name} changed; review and rerun with DCINFRA_UPDATE_GOLDEN=1"
