"""Cross-layer validation: one broken stack per rule, all problems at once, nothing touched.

Every case starts from a valid stack (a small bare-metal stack built here, the lab, or the superpod
with two scalable units), breaks one thing through its field path, runs :func:`dcinfra.plan.validate`
and asserts that the problem with the expected rule and path is reported, naming the offending value.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dcinfra import (
    BareMetalHost,
    BareMetalSite,
    CephCluster,
    CephFs,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    HdfsCluster,
    HostAddresses,
    Kerberos,
    Kubernetes,
    Network,
    NodePool,
    Placement,
    Platform,
    PoolAddresses,
    Rack,
    RoceSettings,
    Rule,
    Security,
    Slurm,
    SlurmPartition,
    SlurmTenant,
    SshPolicy,
    Stack,
    Storage,
    Tenant,
    Zone,
)
from dcinfra.catalog import NICS, SWITCHES
from dcinfra.catalog.sites import BAREMETAL, LAB
from dcinfra.errors import Problem, StackInvalid
from dcinfra.loader import load_stack
from dcinfra.plan import checks, compile_plan, validate
from dcinfra.plan.checks._common import Ctx
from dcinfra.plan.checks.fabric import check_fabric
from dcinfra.plan.checks.site import check_site
from dcinfra.plan.hosts import hostname

# --- building and breaking stacks ----------------------------------------------------------------------

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _thaw(obj: Any) -> Any:
    """model_dump() output with every tuple turned into a list, so paths can assign into it."""
    if isinstance(obj, dict):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_thaw(v) for v in obj]
    return obj


def mutate(stack: Stack, changes: Mapping[str, Any]) -> Stack:
    """A validated copy of ``stack`` with each field path (as Problem paths spell them, e.g.
    ``compute.pools[1].hardware.gpu``) set to its value; a callable value gets the old value."""
    data = _thaw(stack.model_dump())
    for path, value in changes.items():
        keys: list[str | int] = [
            m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _TOKEN.finditer(path)
        ]
        target = data
        for key in keys[:-1]:
            target = target[key]
        last = keys[-1]
        target[last] = value(target[last]) if callable(value) else value
    return Stack.model_validate(data)


def resync_site(stack: Stack) -> Stack:
    """Bare-metal site hosts matching the stack's pools again (after a pool's count changed)."""
    hosts = [
        BareMetalHost(name=hostname(p, i), management_ip=f"10.0.{1 + n // 200}.{10 + n % 200}")
        for n, (p, i) in enumerate((p, i) for p in stack.compute.pools for i in range(1, p.count + 1))
    ]
    assert isinstance(stack.site, BareMetalSite)
    return stack.model_copy(update={"site": stack.site.model_copy(update={"hosts": tuple(hosts)})})


def base_stack() -> Stack:
    """A small valid bare-metal stack touching every layer: two GPU pools on an NDR fabric, Ceph and
    HDFS on three storage nodes over two racks, a Kubernetes control plane, zones, rules and tenants."""
    pools = [
        NodePool(name="gpu-a", count=2, hardware=Hardware(profile="dgx-h100"), racks=["r01"]),
        NodePool(name="gpu-b", count=2, hardware=Hardware(profile="hgx-h100"), racks=["r02"]),
        NodePool(
            name="stor",
            count=3,
            hardware=Hardware(profile="cpu-storage"),
            roles=["storage"],
            racks=["r03", "r04"],
            nodes_per_rack=2,
        ),
        NodePool(
            name="svc", count=3, hardware=Hardware(profile="cpu-storage"), roles=["service"], racks=["r04"]
        ),
    ]
    stack = Stack(
        name="base",
        site=BareMetalSite(hosts=[BareMetalHost(name="placeholder", management_ip="10.0.0.200")]),
        racks=[
            Rack(name="r01", power_budget_kw=44),
            Rack(name="r02", power_budget_kw=44),
            Rack(name="r03", power_budget_kw=20),
            Rack(name="r04", power_budget_kw=20),
        ],
        compute=Compute(pools=pools),
        fabric=Fabric(
            management=Network(cidr="10.0.0.0/22"),
            storage=Network(cidr="10.16.0.0/22", mtu=9000),
            compute=ComputeFabric(kind="infiniband", switch="qm9700", cidr="10.128.0.0/16"),
        ),
        storage=Storage(
            ceph=CephCluster(
                mons=Placement(pools=["stor"], count=3),
                osds=Placement(pools=["stor"]),
                devices=["/dev/nvme1n1", "/dev/nvme2n1"],
                pools=[CephPool(name="rbd", size=3, min_size=2)],
                cephfs=CephFs(name="datasets", mount_path="/mnt/datasets"),
            ),
            hdfs=HdfsCluster(namenode=Placement(hosts=["stor-001"]), datanodes=Placement(pools=["stor"])),
        ),
        security=Security(
            zones=[
                Zone(name="gpu", pools=["gpu-a", "gpu-b"]),
                Zone(name="storage", pools=["stor"]),
                Zone(name="svc", pools=["svc"]),
            ],
            rules=[Rule(name="node-exporter", src="svc", dst="any", ports=[9100], network="management")],
            ssh=SshPolicy(management_cidr="10.0.0.0/24"),
            tenants=[Tenant(name="team-a", pools=["gpu-a"]), Tenant(name="team-b", pools=["gpu-b"])],
        ),
        platform=Platform(kubernetes=Kubernetes(control_plane=Placement(pools=["svc"]))),
    )
    return resync_site(stack)


ROCE = {
    "fabric.compute.kind": "roce",
    "fabric.compute.switch": "sn5600",
    "fabric.compute.roce": RoceSettings(),
}


@pytest.fixture(scope="session")
def starts(load: Callable[..., Stack]) -> dict[str, Stack]:
    """The valid stacks cases start from."""
    return {"base": base_stack(), "lab": load("lab"), "superpod": load("superpod", su_count=2)}


def show(problems: list[Problem]) -> str:
    return "\n".join(f"[{p.rule}] {p.render()}" for p in problems) or "(no problems)"


# --- one case per rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str  # the case id: the rule, plus what breaks it when a rule has several cases
    start: str  # "base", "lab" or "superpod"
    changes: Mapping[str, Any]  # field path -> new value (or a function of the old one)
    rule: str  # expected Problem.rule
    path: str  # expected Problem.path
    value: str  # must appear in the message (the offending value)
    hint: str = ""  # must appear in the hint (e.g. the suggested name)
    planner_crash: str = ""  # a known planner bug makes validate() raise here: check through check_stack


def _add(item: Any) -> Callable[[list[Any]], list[Any]]:
    return lambda old: [*old, item]


CASES = [
    # networks
    Case(
        "network.overlap",
        "base",
        {"fabric.storage.cidr": "10.0.2.0/24"},
        "network.overlap",
        "fabric.storage.cidr",
        "'10.0.2.0/24'",
    ),
    Case(
        "network.membership-ssh",
        "base",
        {"security.ssh.management_cidr": "10.9.0.0/24"},
        "network.membership",
        "security.ssh.management_cidr",
        "'10.9.0.0/24'",
    ),
    Case(
        "network.interface",
        "base",
        {"fabric.storage.interface": "mgmt0"},
        "network.interface",
        "fabric.storage.interface",
        "'mgmt0'",
    ),
    Case(
        "network.undeclared-ceph-public",
        "lab",
        {"storage.ceph.public_network": "storage"},
        "network.undeclared",
        "storage.ceph.public_network",
        "'storage'",
    ),
    Case(
        "network.undeclared-ceph-cluster",
        "lab",
        {"storage.ceph.cluster_network": "storage"},
        "network.undeclared",
        "storage.ceph.cluster_network",
        "'storage'",
    ),
    Case(
        "network.undeclared-hdfs",
        "base",
        {"fabric.storage": None, "storage.ceph.public_network": "management"},
        "network.undeclared",
        "storage.hdfs.network",
        "'storage'",
    ),
    Case(
        "network.undeclared-rule",
        "lab",
        {"security.rules": _add(Rule(name="mon", src="any", dst="any", ports=[9100], network="storage"))},
        "network.undeclared",
        "security.rules[0].network",
        "'storage'",
    ),
    # compute fabric
    Case(
        "catalog.unknown-switch",
        "base",
        {"fabric.compute.switch": "qm9701"},
        "catalog.unknown",
        "fabric.compute.switch",
        "'qm9701'",
        "'qm9700'",
    ),
    Case(
        "fabric.switch-transport",
        "base",
        {"fabric.compute.switch": "sn5600"},
        "fabric.switch",
        "fabric.compute.switch",
        "'sn5600'",
        "qm9700",
    ),
    Case(
        "fabric.switch-lab-bridge",
        "base",
        {"fabric.compute.kind": "ethernet", "fabric.compute.switch": "lab-bridge"},
        "fabric.switch",
        "fabric.compute.switch",
        "'lab-bridge'",
    ),
    Case(
        "fabric.nic-transport",
        "base",
        {"compute.pools[1].hardware.compute_nic": "bluefield-3"},
        "fabric.nic",
        "compute.pools[1].hardware.compute_nic",
        "'bluefield-3'",
    ),
    Case(
        "fabric.nic-lab-veth",
        "base",
        {
            "fabric.compute.kind": "ethernet",
            "fabric.compute.switch": "sn5600",
            "compute.pools[1].hardware.compute_nic": "lab-veth",
        },
        "fabric.nic",
        "compute.pools[1].hardware.compute_nic",
        "'lab-veth'",
    ),
    Case(
        "fabric.radix-odd",
        "base",
        {"fabric.compute.radix": 63},
        "fabric.radix",
        "fabric.compute.radix",
        "radix=63",
    ),
    Case(
        "fabric.radix-above-switch",
        "base",
        {"fabric.compute.radix": 128},
        "fabric.radix",
        "fabric.compute.radix",
        "radix=128",
        "radix <= 64",
    ),
    Case(
        "fabric.leaf-ports",
        "superpod",
        {"fabric.compute.nodes_per_su": 40},
        "fabric.leaf-ports",
        "fabric.compute.nodes_per_su",
        "nodes_per_su=40",
        "32 or 64",
    ),
    Case(
        "fabric.missing",
        "base",
        {"fabric.compute": None},
        "fabric.missing",
        "compute.pools[0].hardware.profile",
        "rails=8",
    ),
    Case(
        "fabric.unused",
        "lab",
        {"compute.pools[0].hardware.rails": 0},
        "fabric.unused",
        "fabric.compute",
        "'172.31.251.0/24'",
    ),
    Case(
        "fabric.heterogeneous-rails",
        "base",
        {"compute.pools[1].hardware.rails": 4},
        "fabric.heterogeneous",
        "compute.pools[1].hardware.rails",
        "rails=4",
    ),
    Case(
        "fabric.heterogeneous-nic",
        "base",
        {"compute.pools[1].hardware.profile": "dgx-a100"},
        "fabric.heterogeneous",
        "compute.pools[1].hardware.profile",
        "'connectx-6-hdr'",
    ),
    Case(
        "fabric.hcas",
        "base",
        {"fabric.compute.hcas": ["mlx5_0", "mlx5_1"]},
        "fabric.hcas",
        "fabric.compute.hcas",
        "['mlx5_0', 'mlx5_1']",
    ),
    # MTU and RoCE
    Case("mtu.invalid", "base", {"fabric.compute.mtu": 9000}, "mtu.invalid", "fabric.compute.mtu", "9000"),
    Case(
        "mtu.switch",
        "base",
        {**ROCE, "fabric.compute.mtu": 9500},
        "mtu.switch",
        "fabric.compute.mtu",
        "9500",
        "9216",
    ),
    Case(
        "mtu.mismatch",
        "base",
        {"storage.ceph.cluster_network": "management"},
        "mtu.mismatch",
        "storage.ceph.cluster_network",
        "'management' (MTU 1500)",
    ),
    Case("lab.mtu", "lab", {"fabric.management.mtu": 9216}, "lab.mtu", "fabric.management.mtu", "9216"),
    Case(
        "roce.settings-missing",
        "base",
        {**ROCE, "fabric.compute.roce": None},
        "roce.settings",
        "fabric.compute.roce",
        "roce=None",
    ),
    Case(
        "roce.settings-ignored",
        "base",
        {"fabric.compute.roce": RoceSettings()},
        "roce.settings",
        "fabric.compute.roce",
        "'infiniband'",
    ),
    Case(
        "roce.lossless",
        "base",
        {**ROCE, "fabric.compute.roce": RoceSettings(pfc_priority=None, ecn=False)},
        "roce.lossless",
        "fabric.compute.roce",
        "pfc_priority=None",
    ),
    Case("roce.mtu", "base", {**ROCE, "fabric.compute.mtu": 1500}, "roce.mtu", "fabric.compute.mtu", "1500"),
    # Ceph
    Case(
        "ceph.size-rack",
        "base",
        {"storage.ceph.failure_domain": "rack"},
        "ceph.size",
        "storage.ceph.pools[0].size",
        "size=3",
        "lower size to 2",
    ),
    Case(
        "ceph.size-one",
        "base",
        {"storage.ceph.pools[0].size": 1, "storage.ceph.pools[0].min_size": 1},
        "ceph.size",
        "storage.ceph.pools[0].size",
        "size=1",
    ),
    Case(
        "ceph.size-cephfs",
        "base",
        {"storage.ceph.pools": [], "storage.ceph.osds.hosts": ["stor-001"], "storage.ceph.osds.pools": []},
        "ceph.size",
        "storage.ceph.cephfs",
        "'datasets-data' size=3",
    ),
    Case(
        "ceph.min-size-above-size",
        "base",
        {"storage.ceph.pools[0].size": 2, "storage.ceph.pools[0].min_size": 3},
        "ceph.min-size",
        "storage.ceph.pools[0].min_size",
        "min_size=3",
    ),
    Case(
        "ceph.min-size-one",
        "base",
        {"storage.ceph.pools[0].min_size": 1},
        "ceph.min-size",
        "storage.ceph.pools[0].min_size",
        "min_size=1",
    ),
    Case(
        "ceph.mons-even",
        "base",
        {"storage.ceph.mons.count": 2},
        "ceph.mons",
        "storage.ceph.mons",
        "2 monitor(s)",
    ),
    Case(
        "ceph.mons-one",
        "base",
        {"storage.ceph.mons.count": 1},
        "ceph.mons",
        "storage.ceph.mons",
        "1 monitor(s)",
    ),
    Case(  # a warning: every monitor in rack r04 while the stack's hosts fill four racks
        "ceph.mons-rack",
        "base",
        {"storage.ceph.mons": Placement(hosts=["stor-003", "svc-001", "svc-002"])},
        "ceph.mons-rack",
        "storage.ceph.mons",
        "all 3 Ceph monitors are in rack 'r04' (stor-003, svc-001, svc-002)",
        "(e.g. 'stor-001' in rack 'r03')",
    ),
    Case(
        "ceph.mons-even-lab",
        "lab",
        {"storage.ceph.mons.count": 2},
        "ceph.mons",
        "storage.ceph.mons",
        "2 monitor(s)",
    ),
    Case(
        "ceph.devices-missing",
        "base",
        {"storage.ceph.devices": []},
        "ceph.devices",
        "storage.ceph.devices",
        "devices=[]",
    ),
    Case(
        "ceph.devices-lab",
        "lab",
        {"storage.ceph.devices": ["/dev/sdb"]},
        "ceph.devices",
        "storage.ceph.devices",
        "'/dev/sdb'",
    ),
    Case(
        "ceph.devices-duplicate",
        "base",
        {"storage.ceph.devices": ["/dev/nvme1n1", "/dev/nvme1n1"]},
        "ceph.devices",
        "storage.ceph.devices[1]",
        "'/dev/nvme1n1'",
    ),
    Case(
        "ceph.network-mons",
        "base",
        {"storage.ceph.mons.pools": ["svc"]},
        "ceph.network",
        "storage.ceph.mons",
        "'svc'",
    ),
    Case(
        "ceph.network-osds-on-compute",
        "base",
        {"storage.ceph.public_network": "compute"},
        "ceph.network",
        "storage.ceph.osds",
        "'compute'",
    ),
    Case(
        "ceph.pg-num-pow2",
        "base",
        {"storage.ceph.pools[0].pg_num": 100},
        "ceph.pg-num",
        "storage.ceph.pools[0].pg_num",
        "pg_num=100",
        "64 or 128",
    ),
    Case(
        "ceph.pg-num-per-osd",
        "base",
        {"storage.ceph.pools[0].pg_num": 4096},
        "ceph.pg-num",
        "storage.ceph.pools[0].pg_num",
        "pg_num=4096",
    ),
    Case(
        "ceph.pool-name-duplicate",
        "base",
        {"storage.ceph.pools": _add(CephPool(name="rbd"))},
        "ceph.pool-name",
        "storage.ceph.pools[1].name",
        "'rbd'",
    ),
    Case(
        "ceph.pool-name-cephfs",
        "base",
        {"storage.ceph.pools": _add(CephPool(name="datasets-data"))},
        "ceph.pool-name",
        "storage.ceph.pools[1].name",
        "'datasets-data'",
    ),
    Case(
        "ceph.mount-root",
        "base",
        {"storage.ceph.cephfs.mount_path": "/"},
        "ceph.mount",
        "storage.ceph.cephfs.mount_path",
        "'/'",
    ),
    Case(
        "ceph.mount-system-dir",
        "base",
        {"storage.ceph.cephfs.mount_path": "/etc"},
        "ceph.mount",
        "storage.ceph.cephfs.mount_path",
        "'/etc'",
    ),
    Case(
        "versions.ceph-unknown",
        "base",
        {"versions.ceph": "pacifc"},
        "versions.ceph",
        "versions.ceph",
        "'pacifc'",
        "'pacific'",
    ),
    Case("versions.ceph-lab", "lab", {"versions.ceph": "reef"}, "versions.ceph", "versions.ceph", "'reef'"),
    # HDFS
    Case(
        "hdfs.replication",
        "base",
        {"storage.hdfs.replication": 4},
        "hdfs.replication",
        "storage.hdfs.replication",
        "replication=4",
    ),
    Case(
        "hdfs.rack-awareness",
        "base",
        {"storage.hdfs.rack_awareness": False},
        "hdfs.rack-awareness",
        "storage.hdfs.rack_awareness",
        "r03, r04",
    ),
    Case(
        "hdfs.kerberos-missing",
        "base",
        {"storage.hdfs.secure": True},
        "hdfs.kerberos",
        "storage.hdfs.kerberos",
        "kerberos=None",
    ),
    Case(
        "hdfs.kerberos-unused",
        "base",
        {"storage.hdfs.kerberos": Kerberos(realm="DC.EXAMPLE", kdc="kdc")},
        "hdfs.kerberos",
        "storage.hdfs.kerberos",
        "secure=False",
    ),
    Case(
        "hdfs.network",
        "base",
        {"storage.hdfs.network": "compute"},
        "hdfs.network",
        "storage.hdfs.namenode",
        "'compute'",
    ),
    Case(
        "hdfs.dirs-overlap",
        "base",
        {"storage.hdfs.name_dirs": ["/data/1"], "storage.hdfs.data_dirs": ["/data/1/dn"]},
        "hdfs.dirs",
        "storage.hdfs.data_dirs[0]",
        "'/data/1/dn'",
    ),
    Case(
        "hdfs.dirs-failed-volumes",
        "base",
        {"storage.hdfs.data_dirs": ["/data/1/dn", "/data/2/dn"], "storage.hdfs.failed_volumes_tolerated": 2},
        "hdfs.dirs",
        "storage.hdfs.failed_volumes_tolerated",
        "failed_volumes_tolerated=2",
        "use 0 to 1",
    ),
    Case(
        "hdfs.secondary-on-the-namenode",
        "base",
        {"storage.hdfs.secondary": Placement(hosts=["stor-001"])},
        "hdfs.secondary",
        "storage.hdfs.secondary",
        "'stor-001'",
        "other than the NameNode",
    ),
    Case(
        "address.overlap",
        "base",
        {"compute.pools[1].addresses": PoolAddresses(offset=1)},
        "address.overlap",
        "compute.pools[1].addresses.offset",
        "overlap slots",
    ),
    Case(
        "address.pin",
        "base",
        {
            "compute.pools[0].addresses": PoolAddresses(
                hosts=[HostAddresses(host="gpu-a-099", storage="10.0.4.99")]
            )
        },
        "address.pin",
        "compute.pools[0].addresses.hosts[0].host",
        "'gpu-a-099'",
    ),
    Case(
        "hdfs.artifact-no-checksum",
        "base",
        {"storage.hdfs.artifact": "/srv/mirror/hadoop-3.3.6.tar.gz"},
        "hdfs.artifact",
        "storage.hdfs.artifact_sha512",
        "artifact_sha512 is not",
    ),
    # security
    Case(
        "refs.pool-zone",
        "base",
        {"security.zones[1].pools": ["stro"]},
        "refs.pool",
        "security.zones[1].pools[0]",
        "'stro'",
        "'stor'",
    ),
    Case(
        "security.refs-zone-role",
        "base",
        {"security.zones[1].roles": ["ceph-monn"]},
        "security.refs",
        "security.zones[1].roles[0]",
        "'ceph-monn'",
        "'ceph-mon'",
    ),
    Case(
        "security.refs-rule-zone",
        "base",
        {"security.rules[0].src": "svcs"},
        "security.refs",
        "security.rules[0].src",
        "'svcs'",
        "'svc'",
    ),
    Case(
        "refs.pool-tenant",
        "base",
        {"security.tenants[0].pools": ["gpu-c"]},
        "refs.pool",
        "security.tenants[0].pools[0]",
        "'gpu-c'",
    ),
    Case(
        "security.duplicate",
        "base",
        {"security.zones[2].name": "gpu"},
        "security.duplicate",
        "security.zones[2].name",
        "'gpu'",
    ),
    Case(
        "security.zones",
        "base",
        {"security.zones": _add(Zone(name="nobody"))},
        "security.zones",
        "security.zones[3]",
        "'nobody'",
    ),
    Case(
        "security.tenants-two-owners",
        "base",
        {"security.tenants[1].pools": ["gpu-b", "gpu-a"]},
        "security.tenants",
        "security.tenants[1].pools[1]",
        "'gpu-a'",
    ),
    Case(
        # a pool's own tenant declares it (no security.tenants entry needed); disagreeing with the
        # tenant that lists the pool is the problem
        "security.tenants-disagree",
        "base",
        {"compute.pools[0].tenant": "team-b"},
        "security.tenants",
        "compute.pools[0].tenant",
        "'team-b'",
    ),
    Case(
        "security.tenants-isolation",
        "base",
        {"security.tenants": [Tenant(name="team-a", pools=["gpu-a"])], "security.tenant_isolation": True},
        "security.tenants",
        "security.tenant_isolation",
        "1 tenant(s)",
    ),
    Case(
        "security.ports-range",
        "base",
        {"security.rules[0].ports": [9100, 70000]},
        "security.ports",
        "security.rules[0].ports[1]",
        "70000",
    ),
    Case(
        "security.ports-reversed",
        "base",
        {"security.rules[0].ports": ["9200-9100"]},
        "security.ports",
        "security.rules[0].ports[0]",
        "'9200-9100'",
    ),
    Case(
        "security.ports-icmp",
        "base",
        {"security.rules[0].protocol": "icmp"},
        "security.ports",
        "security.rules[0].ports",
        "[9100]",
    ),
    Case(
        "security.ssh",
        "base",
        {"security.ssh.keys_only": False},
        "security.ssh",
        "security.ssh.keys_only",
        "keys_only=False",
    ),
    # versions and platform
    Case(
        "versions.driver",
        "base",
        {"versions.driver_branch": "535"},
        "versions.driver",
        "versions.driver_branch",
        "'535'",
        "'580'",  # CUDA 13.0 of the default lock needs 580
    ),
    Case(
        "versions.cuda",
        "base",
        {"versions.cuda": "12.7"},
        "versions.cuda",
        "versions.cuda",
        "'12.7'",
        "'12.6'",
    ),
    Case(
        "versions.nccl-unknown",
        "base",
        {"versions.nccl": "2.21.6"},
        "versions.nccl",
        "versions.nccl",
        "'2.21.6'",
        "'2.21.5'",
    ),
    Case(
        "versions.nccl-cuda-major",
        "base",
        {"versions.cuda": "11.8", "versions.nccl": "2.23.4"},
        "versions.nccl",
        "versions.nccl",
        "'2.23.4'",
    ),
    Case(
        "versions.gpu",
        "base",
        {
            "compute.pools[0].hardware.profile": "dgx-b200",
            "compute.pools[1].hardware.profile": "dgx-b200",
            "versions.cuda": "12.4",
        },
        "versions.gpu",
        "versions.cuda",
        "'b200'",
        "12.8",
    ),
    # the GPU driver stack (issue 12; more cases in test_gpu_stack.py)
    Case(
        "versions.driver-version",
        "base",
        {"versions.driver": "570.172.08"},
        "versions.driver-version",
        "versions.driver",
        "'570.172.08'",
        "a 580.x release",
    ),
    Case(
        "versions.torch-cuda",
        "base",
        {"versions.driver_branch": "570", "versions.driver": "570.172.08", "versions.cuda": "12.8"},
        "versions.torch-cuda",
        "versions.torch_cuda",
        "'cu130'",
        "torch_cuda='cu128'",
    ),
    Case(
        "versions.kernel-modules",
        "base",
        {
            "compute.pools[0].hardware.profile": "dgx-b200",
            "versions.kernel_modules": "proprietary",
            "versions.gpudirect": "peermem",
            "versions.doca_ofed": "3.1.0",
        },
        "versions.kernel-modules",
        "versions.kernel_modules",
        "'b200'",
        'kernel_modules="open"',
    ),
    Case(
        "versions.gpudirect",
        "base",
        {"versions.kernel_modules": "proprietary"},
        "versions.gpudirect",
        "versions.gpudirect",
        "kernel_modules='proprietary'",
        "gpudirect='peermem'",
    ),
    Case(
        "versions.gpudirect-peermem",
        "base",
        {"versions.gpudirect": "peermem"},
        "versions.gpudirect",
        "versions.doca_ofed",
        "doca_ofed is None",
        "doca_ofed='3.1.0'",
    ),
    Case(
        "versions.kubernetes",
        "base",
        {"versions.kubernetes": "1.27"},
        "versions.kubernetes",
        "versions.kubernetes",
        "'1.27'",
    ),
    Case(
        "platform.version",
        "base",
        # the version in two places, disagreeing
        {"platform.kubernetes.version": "1.30", "versions.kubernetes": "1.31"},
        "platform.version",
        "platform.kubernetes.version",
        "'1.30'",
    ),
    Case(
        "platform.namespaces",
        "base",
        {"platform.kubernetes.namespaces": ["training", "training"]},
        "platform.namespaces",
        "platform.kubernetes.namespaces[1]",
        "'training'",
    ),
    Case(
        "platform.control-plane",
        "base",
        {"platform.kubernetes.control_plane.count": 2},
        "platform.control-plane",
        "platform.kubernetes.control_plane",
        "2 control-plane hosts",
    ),
    # sites
    Case("lab.size", "lab", {"compute.pools[0].count": 17}, "lab.size", "compute.pools", "17 nodes"),
    Case(
        "lab.gpu",
        "lab",
        {"compute.pools[0].hardware.profile": "dgx-h100"},
        "lab.gpu",
        "compute.pools[0].hardware.profile",
        "'h100-sxm'",
    ),
    Case(
        "lab.addresses-public",
        "lab",
        {"fabric.management.cidr": "8.8.8.0/24"},
        "lab.addresses",
        "fabric.management.cidr",
        "'8.8.8.0/24'",
    ),
    Case(
        "lab.addresses-loopback",
        "lab",
        {"fabric.compute.cidr": "127.1.0.0/24"},
        "lab.addresses",
        "fabric.compute.cidr",
        "'127.1.0.0/24'",
    ),
    Case(
        "lab.fabric-switch",
        "lab",
        {"fabric.compute.switch": "sn5600"},
        "lab.fabric",
        "fabric.compute",
        "'sn5600'",
    ),
    Case(
        "lab.fabric-nic",
        "lab",
        {"compute.pools[0].hardware.compute_nic": "connectx-7-ndr"},
        "lab.fabric",
        "compute.pools[0].hardware.compute_nic",
        "'connectx-7-ndr'",
    ),
    Case(
        "hosts.duplicate-site",
        "base",
        {"site.hosts": lambda old: [*old, {**old[0], "management_ip": "10.0.3.1"}]},
        "hosts.duplicate",
        "site.hosts[10].name",
        "'gpu-a-001'",
    ),
    Case(
        "address.duplicate-bmc",
        "base",
        {"site.hosts[0].bmc_ip": "10.1.0.1", "site.hosts[1].bmc_ip": "10.1.0.1"},
        "address.duplicate",
        "site.hosts[1].bmc_ip",
        "'10.1.0.1'",
    ),
    # verify
    Case(
        "verify.max-message",
        "base",
        {"verify.max_message_mb": 100},
        "verify.max-message",
        "verify.max_message_mb",
        "max_message_mb=100",
        "64 or 128",
    ),
    Case(
        "verify.port",
        "lab",
        {"verify.rendezvous_port": 6800},
        "verify.port",
        "verify.rendezvous_port",
        "rendezvous_port=6800",
        "29500",
    ),
    # scheduler (Slurm)
    Case(
        "slurm.accounting",
        "lab",
        {"scheduler.accounting.database": None},
        "slurm.accounting",
        "scheduler.accounting.database",
        "database=None",
        "Placement(hosts=['node-001'])",
    ),
    Case(  # a warning: the primary and the backup controller both in rack r04
        "slurm.controller-rack",
        "base",
        {"scheduler": Slurm(controller=Placement(hosts=["svc-001", "svc-002"]))},
        "slurm.controller-rack",
        "scheduler.controller",
        "('svc-001', 'svc-002') are both in rack 'r04'",
        "every host of pool 'svc' is in rack 'r04', so spread the pool (NodePool.racks=[...] with",
    ),
    Case(
        "slurm.tenants",
        "lab",
        {"scheduler.tenants": [SlurmTenant(name="team-a")]},
        "slurm.tenants",
        "scheduler.tenants[0].name",
        "'team-a' is not in security.tenants",
        "Tenant(name='team-a'",
    ),
    Case(
        "slurm.duplicate",
        "lab",
        {"scheduler.partitions": [SlurmPartition(name="cpu", pools=["node"])] * 2},
        "slurm.duplicate",
        "scheduler.partitions[1].name",
        "'cpu'",
    ),
    Case(
        "slurm.partitions",
        "lab",
        {
            "scheduler.partitions": [
                SlurmPartition(name="short", pools=["node"], default=True),
                SlurmPartition(name="long", pools=["node"], default=True),
            ]
        },
        "slurm.partitions",
        "scheduler.partitions[1].default",
        "('short', 'long')",
        "'short'",
    ),
    Case(
        "slurm.gres",
        "lab",
        {"scheduler.gres_pools": ["node"]},
        "slurm.gres",
        "scheduler.gres_pools[0]",
        "'node', whose hardware has no GPU",
    ),
    Case(
        "slurm.qos",
        "lab",
        {
            "security.tenants": [Tenant(name="team-a", pools=["node"])],
            "scheduler.tenants": [SlurmTenant(name="team-a", max_nodes=4)],
        },
        "slurm.qos",
        "scheduler.tenants[0].max_nodes",
        "max_nodes=4",
        "max_nodes <= 3",
    ),
    Case(
        "slurm.standin",
        "base",
        {"scheduler": Slurm(controller=Placement(hosts=["svc-001"]), standin_gpus=2)},
        "slurm.standin",
        "scheduler.standin_gpus",
        "standin_gpus=2",
        "standin_gpus=0",
    ),
    Case(
        "slurm.paths",
        "lab",
        {"scheduler.prolog": "/"},
        "slurm.paths",
        "scheduler.prolog",
        "prolog '/'",
        "'/etc/slurm/prolog.sh'",
    ),
    # directories on the hosts that shadow or sit in the system (issue 13, item 2)
    Case(
        "ceph.mount-var-lib",
        "base",
        {"storage.ceph.cephfs.mount_path": "/var/lib"},
        "ceph.mount",
        "storage.ceph.cephfs.mount_path",
        "CephFS mount path '/var/lib' is the system directory '/var/lib'",
        "e.g. '/mnt/datasets'",
    ),
    Case(
        "ceph.mount-var",
        "base",
        {"storage.ceph.cephfs.mount_path": "/var"},
        "ceph.mount",
        "storage.ceph.cephfs.mount_path",
        "'/var' is the system directory '/var', which holds '/var/backups'",
        "never a system directory or one that contains one",
    ),
    Case(
        "ceph.mount-inside-usr",
        "base",
        {"storage.ceph.cephfs.mount_path": "/usr/share/datasets"},
        "ceph.mount",
        "storage.ceph.cephfs.mount_path",
        "'/usr/share/datasets' is inside '/usr', which the operating system owns",
        "e.g. '/mnt/datasets'",
    ),
    Case(
        "hdfs.dirs-system",
        "base",
        {"storage.hdfs.data_dirs": ["/data/1/hdfs", "/usr"]},
        "hdfs.dirs",
        "storage.hdfs.data_dirs[1]",
        "DataNode directory '/usr' is the system directory '/usr'",
        "e.g. '/data/2/hdfs'",
    ),
    Case(
        "hdfs.dirs-inside-proc",
        "base",
        {"storage.hdfs.name_dirs": ["/proc/hdfs/name"]},
        "hdfs.dirs",
        "storage.hdfs.name_dirs[0]",
        "'/proc/hdfs/name' is inside '/proc', a kernel or boot filesystem",
        "nor anything inside /etc, /usr",
    ),
    Case(
        "hdfs.kerberos-keytab-system",
        "base",
        {
            "storage.hdfs.secure": True,
            "storage.hdfs.kerberos": Kerberos(
                realm="DC.EXAMPLE.COM", kdc="kdc.dc.example.com", keytab_dir="/etc"
            ),
        },
        "hdfs.kerberos",
        "storage.hdfs.kerberos.keytab_dir",
        "keytab_dir '/etc' is the system directory '/etc'",
        "e.g. '/etc/security/keytabs'",
    ),
    # addresses no host can have (item 3)
    Case(
        "address.reserved-broadcast",
        "base",
        {"site.hosts[0].management_ip": "10.0.3.255"},
        "address.reserved",
        "site.hosts[0].management_ip",
        "'10.0.3.255' of 'gpu-a-001' is the broadcast address of the management network '10.0.0.0/22'",
        "10.0.0.2 to 10.0.3.254",
    ),
    Case(
        "address.reserved-network",
        "base",
        {"site.hosts[2].management_ip": "10.0.0.0"},
        "address.reserved",
        "site.hosts[2].management_ip",
        "'10.0.0.0' of 'gpu-b-001' is the network address",
        "neither its network address 10.0.0.0 nor its broadcast address 10.0.3.255",
    ),
    # rails that do not match the GPUs (item 4)
    Case(
        "fabric.rails-7",
        "base",
        {"compute.pools[0].hardware.rails": 7, "compute.pools[1].hardware.rails": 7},
        "fabric.rails",
        "compute.pools[0].hardware.rails",
        "rails=7 for 8 GPUs per node",
        "use rails=8 (allowed for 8 GPUs: 1, 2, 4, 8, 16",
    ),
    Case(
        "fabric.rails-12",
        "superpod",
        {"compute.pools[0].hardware.rails": 12},
        "fabric.rails",
        "compute.pools[0].hardware.rails",
        "rails=12 for 8 GPUs per node",
        "rail_gpu_ratio='any'",
    ),
]

# Rules the planner reports (dcinfra/plan/hosts.py, storage.py, security.py, __init__.py).
PLANNER_CASES = [
    Case(
        "names.duplicate-pool",
        "base",
        {"compute.pools[1].name": "gpu-a"},
        "names.duplicate",
        "compute.pools[1].name",
        "'gpu-a'",
    ),
    Case(
        "hosts.duplicate",
        "base",
        {"compute.pools[1].hostname_prefix": "gpu-a"},
        "hosts.duplicate",
        "compute.pools[1].hostname_prefix",
        "'gpu-a-001'",
    ),
    Case(
        "racks.unknown",
        "base",
        {"compute.pools[0].racks": ["r09"]},
        "racks.unknown",
        "compute.pools[0].racks[0]",
        "'r09'",
    ),
    Case(
        "racks.capacity",
        "base",
        {"compute.pools[0].nodes_per_rack": 1},
        "racks.capacity",
        "compute.pools[0].racks",
        "nodes_per_rack=1",
    ),
    Case(
        "racks.capacity.power",
        "base",
        # No nodes_per_rack: the message names the limiting constraint with its numbers.
        {"racks[0].power_budget_kw": 15, "racks[1].power_budget_kw": 15},
        "racks.capacity",
        "compute.pools[0]",
        "kW = ",
    ),
    Case(
        "racks.power",
        "base",
        # nodes_per_rack pins both nodes in r01 (without it the second one is unplaced: racks.capacity)
        {"racks[0].power_budget_kw": 15, "compute.pools[0].nodes_per_rack": 2},
        "racks.power",
        "racks[0].power_budget_kw",
        "'r01' draws 20.4 kW",
    ),
    Case(
        "racks.space",
        "base",
        {"racks[0].max_nodes": 1, "compute.pools[0].nodes_per_rack": 2},
        "racks.space",
        "racks[0].max_nodes",
        "max_nodes=1",
    ),
    Case(
        "racks.cooling",
        "base",
        {"compute.pools[0].hardware.cooling": "liquid"},
        "racks.cooling",
        "racks[0].cooling",
        "'r01'",
    ),
    Case("site.hosts", "base", {"compute.pools[0].count": 3}, "site.hosts", "site.hosts", "gpu-a-003"),
    Case(
        "network.membership-site",
        "base",
        {"site.hosts[0].management_ip": "10.9.0.11"},
        "network.membership",
        "site.hosts[0].management_ip",
        "'10.9.0.11'",
    ),
    Case(
        "network.size",
        "base",
        {"fabric.storage.cidr": "10.16.0.0/28"},
        "network.size",
        "fabric.storage.cidr",
        "'10.16.0.0/28'",
    ),
    Case(
        "address.duplicate",
        "base",
        {"site.hosts[1].management_ip": "10.0.1.10"},
        "address.duplicate",
        "site.hosts (gpu-a-002)",
        "'10.0.1.10'",
    ),
    Case(
        "refs.pool",
        "base",
        {"storage.ceph.osds.pools": ["stro"]},
        "refs.pool",
        "storage.ceph.osds.pools[0]",
        "'stro'",
        "'stor'",
    ),
    Case(
        "refs.host",
        "base",
        {"storage.hdfs.namenode.hosts": ["stor-009"]},
        "refs.host",
        "storage.hdfs.namenode.hosts[0]",
        "'stor-009'",
    ),
    Case(
        "placement.count",
        "base",
        {"storage.ceph.mons.count": 5},
        "placement.count",
        "storage.ceph.mons.count",
        "count=5",
    ),
    Case(
        "placement.empty",
        "base",
        {"storage.ceph.mgrs": Placement()},
        "placement.empty",
        "storage.ceph.mgrs",
        "selects no hosts",
    ),
    Case(
        "hdfs.namenode",
        "base",
        {"storage.hdfs.namenode": Placement(pools=["stor"])},
        "hdfs.namenode",
        "storage.hdfs.namenode",
        "3 hosts",
    ),
    Case(
        "fabric.radix-size",
        "base",
        {"fabric.compute.radix": 4},
        "fabric.radix",
        "fabric.compute.switch",
        "'qm9700' (4 ports)",
    ),
    Case(
        "security.blocks-flow",
        "base",
        {"security.rules": _add(Rule(name="no-mon", src="any", dst="storage", ports=[3300], action="deny"))},
        "security.blocks-flow",
        "security.rules[1]",
        "'ceph-mon'",
    ),
    Case(
        "hardware.incomplete",
        "base",
        {"compute.pools[0].hardware": Hardware(gpu="h100-sxm", gpu_count=8)},
        "hardware.incomplete",
        "compute.pools[0].hardware",
        "cpu_cores",
    ),
    Case(
        "hardware.gpu",
        "base",
        {"compute.pools[0].hardware.gpu_count": 0},
        "hardware.gpu",
        "compute.pools[0].hardware.gpu",
        "'h100-sxm'",
    ),
    Case(
        "hardware.power",
        "base",
        # 8 x 700 W H100 SXM GPUs alone draw 5.6 kW
        {"compute.pools[0].hardware.power_kw": 4.5},
        "hardware.power",
        "compute.pools[0].hardware.power_kw",
        "8 x 700 W",
    ),
    Case(
        "hardware.nic",
        "base",
        {"compute.pools[2].hardware.rails": 2},
        "hardware.nic",
        "compute.pools[2].hardware.compute_nic",
        "rails=2",
    ),
    Case(
        "catalog.unknown-gpu",
        "base",
        {"compute.pools[0].hardware.gpu": "h100-sxn"},
        "catalog.unknown",
        "compute.pools[0].hardware.gpu",
        "'h100-sxn'",
        "'h100-sxm'",
    ),
    Case(
        "catalog.unknown-profile",
        "base",
        {"compute.pools[0].hardware.profile": "dgx-h10"},
        "catalog.unknown",
        "compute.pools[0].hardware.profile",
        "'dgx-h10'",
        "'dgx-h100'",
    ),
    # one problem per root cause (issue 13, item 7)
    Case(
        "network.size-suppressed",
        "base",
        {"fabric.storage.cidr": "10.16.0.0/28"},
        "network.size",
        "fabric.storage.cidr",
        "has room for 5 hosts but 7 join it: the other 2 get no address on it (their 2 follow-on "
        "address problems are suppressed)",
        "use a /27 or larger",
    ),
    Case(
        "network.membership-many",
        "base",
        {"fabric.management.cidr": "10.0.0.0/24", "security.ssh.management_cidr": None},
        "network.membership",
        "site.hosts[0].management_ip",
        "'10.0.1.10' of 'gpu-a-001' is outside the management network '10.0.0.0/24' (and 9 more site "
        "hosts: gpu-a-002, gpu-b-001, gpu-b-002 and 6 more)",
        "widen fabric.management.cidr to '10.0.0.0/23'",
    ),
]


def _broken(starts: dict[str, Stack], case: Case) -> Stack:
    return mutate(starts[case.start], case.changes)


@pytest.mark.parametrize("case", CASES + PLANNER_CASES, ids=lambda c: c.id)
def test_rule_reports_the_broken_field(starts: dict[str, Stack], case: Case) -> None:
    stack = _broken(starts, case)
    problems = checks.check_stack(stack) if case.planner_crash else validate(stack)
    found = [p for p in problems if p.rule == case.rule and p.path == case.path]
    assert found, f"expected [{case.rule}] at {case.path}; got:\n{show(problems)}"
    p = found[0]
    assert case.value in p.message, show(found)
    assert p.hint, f"{case.id}: a problem must say how to fix it"
    assert case.hint in p.hint, show(found)


def test_starting_stacks_are_valid(starts: dict[str, Stack]) -> None:
    for name, stack in starts.items():
        assert validate(stack) == [], f"{name}:\n{show(validate(stack))}"


def _documented(module: ModuleType) -> set[str]:
    """The rules a rule family's module lists in its docstring (the ``Rules (...)`` paragraph)."""
    doc = module.__doc__ or ""
    assert "Rules (" in doc, f"{module.__name__}: the docstring lists no rules"
    section = doc.split("Rules (", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"``([a-z]+\.[a-z-]+)``", section))


FAMILY_MODULES = list(dict.fromkeys(sys.modules[f.__module__] for f in checks.FAMILIES))


def test_every_documented_rule_has_a_case() -> None:
    documented = set().union(*(_documented(m) for m in FAMILY_MODULES))
    covered = {c.rule for c in CASES}
    assert len(FAMILY_MODULES) > 1 and documented, "the checks modules list no rules"
    assert documented - covered == set(), "rules without a test case"


@pytest.mark.parametrize("case", CASES + PLANNER_CASES, ids=lambda c: c.id)
def test_each_family_reports_only_rules_its_module_documents(starts: dict[str, Stack], case: Case) -> None:
    ctx = Ctx.of(_broken(starts, case))
    for family in checks.FAMILIES:
        module = sys.modules[family.__module__]
        undocumented = {p.rule for p in family(ctx)} - _documented(module)
        assert not undocumented, f"{family.__name__} reports rules {module.__name__} does not list"


def test_the_site_rules_follow_capabilities_not_the_site_kind(starts: dict[str, Stack]) -> None:
    # The bare-metal base stack judged as if its site were the lab: every capability limit applies.
    ctx = Ctx.of(starts["base"])
    ctx.site = dataclasses.replace(LAB, max_hosts=4)
    rules = {p.rule for p in check_site(ctx)}
    assert rules == {"lab.size", "lab.gpu", "lab.fabric"}, rules
    # The lab stack judged with bare-metal capabilities: no lab limits at all.
    ctx = Ctx.of(starts["lab"])
    ctx.site = BAREMETAL
    assert list(check_site(ctx)) == []
    # Emulated hardware fits an emulated network only, whatever the site is called.
    emulated = {n for n, s in SWITCHES.items() if s.emulated} | {n for n, c in NICS.items() if c.emulated}
    assert emulated == {"lab-bridge", "lab-veth"}
    ctx = Ctx.of(starts["lab"])
    ctx.site = dataclasses.replace(LAB, emulated_network=False)
    assert {(p.rule, p.path) for p in check_fabric(ctx)} >= {
        ("fabric.switch", "fabric.compute.switch"),
        ("fabric.nic", "compute.pools[0].hardware.profile"),
    }


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"security.zones[1].pools": ["stro"]}, "security.zones[1].pools[0]"),
        ({"security.tenants[0].pools": ["gpu-c"]}, "security.tenants[0].pools[0]"),
        ({"storage.ceph.osds.pools": ["stro"]}, "storage.ceph.osds.pools[0]"),
        ({"platform.kubernetes.control_plane.pools": ["svcs"]}, "platform.kubernetes.control_plane.pools[0]"),
    ],
    ids=["zone", "tenant", "placement", "control-plane"],
)
def test_an_unknown_pool_is_reported_once(
    starts: dict[str, Stack], changes: dict[str, Any], path: str
) -> None:
    problems = validate(mutate(starts["base"], changes))
    found = [p for p in problems if "unknown pool" in p.message]
    assert [p.path for p in found] == [path], show(problems)


CRASHES = [
    *(pytest.param(c.changes, id=c.id) for c in CASES if c.planner_crash),
    pytest.param({"security.rules[0].ports": ["ssh"]}, id="security.ports-name"),
]


@pytest.mark.parametrize("changes", CRASHES)
def test_validate_reports_instead_of_raising(starts: dict[str, Stack], changes: dict[str, Any]) -> None:
    assert validate(mutate(starts["base"], changes))


def test_malformed_port_name_is_reported(starts: dict[str, Stack]) -> None:
    stack = mutate(starts["base"], {"security.rules[0].ports": ["ssh"]})
    found = [p for p in validate(stack) if p.rule == "security.ports"]
    assert [p.path for p in found] == ["security.rules[0].ports[0]"]
    assert "'ssh'" in found[0].message


# --- broken stack files (tests/fixtures/broken/*.py, also used by the CLI) ----------------------------

BROKEN = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "broken").glob("*.py"))


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_stack_file_fails_with_its_own_problem(path: Path) -> None:
    stack = load_stack(path)
    expect = _expectation(path)
    problems = validate(stack)
    assert [(p.rule, p.path) for p in problems] == [(expect["rule"], expect["path"])], show(problems)
    assert expect["value"] in problems[0].message
    with pytest.raises(StackInvalid):
        compile_plan(stack)


def _expectation(path: Path) -> dict[str, str]:
    """The file's ``EXPECT`` dict: the one rule, path and value it is broken by."""
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    expect = namespace["EXPECT"]
    assert isinstance(expect, dict)
    return expect


# --- all at once, raising, touching nothing ------------------------------------------------------------

FIVE = {
    "fabric.storage.cidr": "10.0.2.0/24",  # network.overlap
    "fabric.compute.mtu": 9000,  # mtu.invalid
    "storage.ceph.pools[0].min_size": 4,  # ceph.min-size
    "storage.hdfs.replication": 4,  # hdfs.replication
    "versions.driver_branch": "535",  # versions.driver
}
FIVE_RULES = {"network.overlap", "mtu.invalid", "ceph.min-size", "hdfs.replication", "versions.driver"}


def test_five_problems_are_reported_at_once(starts: dict[str, Stack]) -> None:
    problems = validate(mutate(starts["base"], FIVE))
    assert {p.rule for p in problems} >= FIVE_RULES, show(problems)


def test_compile_plan_raises_with_every_problem(starts: dict[str, Stack]) -> None:
    stack = mutate(starts["base"], FIVE)
    with pytest.raises(StackInvalid) as info:
        compile_plan(stack)
    assert {p.rule for p in info.value.problems} >= FIVE_RULES
    assert info.value.problems == validate(stack)
    text = str(info.value)
    assert "'10.0.2.0/24'" in text and "fix:" in text


def test_problems_are_deterministic_and_not_repeated(starts: dict[str, Stack]) -> None:
    stack = mutate(starts["base"], FIVE)
    first = validate(stack)
    assert first == validate(stack)
    keys = [(p.path, p.message) for p in first]
    assert len(keys) == len(set(keys)), show(first)
    assert all(p.rule and p.path and p.message and p.hint for p in first), show(first)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("lab", {}),
        ("h100_su", {}),
        ("superpod", {"su_count": 1}),
        ("superpod", {"su_count": 4}),
        ("superpod", {"su_count": 16}),
    ],
    ids=["lab", "h100_su", "superpod-1", "superpod-4", "superpod-16"],
)
def test_reference_stacks_validate_clean(
    load: Callable[..., Stack], name: str, config: dict[str, int]
) -> None:
    stack = load(name, **config)
    assert validate(stack) == [], show(validate(stack))
    assert compile_plan(stack).stack == stack.name


def test_validate_touches_nothing(
    starts: dict[str, Stack], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stack = mutate(starts["lab"], {"storage.ceph.mons.count": 2, "fabric.management.cidr": "8.8.8.0/24"})
    assert validate(stack)
    with pytest.raises(StackInvalid):
        compile_plan(stack)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"fabric.compute.switch": "no-such-switch", "fabric.compute.radix": 6},
        {
            "storage.ceph.osds": Placement(),
            "storage.ceph.mons": Placement(),
            "storage.hdfs.datanodes": Placement(),
        },
        {"compute.pools[0].hardware": Hardware(), "compute.pools[1].hardware.profile": "nope"},
        {"versions.cuda": "99.9", "versions.nccl": "0.0.1", "versions.ceph": "xyz"},
        {"storage.ceph.pools": [], "storage.ceph.cephfs": None, "security": Security()},
    ],
    ids=[
        "unknown-switch",
        "empty-placements",
        "unresolvable-hardware",
        "unknown-versions",
        "minimal-storage",
    ],
)
def test_checks_never_raise_on_odd_but_valid_models(
    starts: dict[str, Stack], changes: dict[str, Any]
) -> None:
    problems = checks.check_stack(mutate(starts["base"], changes))
    assert all(isinstance(p, Problem) for p in problems)
