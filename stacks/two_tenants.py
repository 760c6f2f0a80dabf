"""Two tenants on one cluster: 16 HGX H200 servers shared by "research" and "prod".

- 16 x HGX H200 (8 GPUs, 8 x ConnectX-7 400G, one per rail) on an 8-rail RoCE fabric of SN5600
  switches, 8 servers in each of two liquid-cooled racks (8 x 10.2 kW = 81.6 kW of a 100 kW budget)
- tenants: "research" owns the first rack's 8 servers, "prod" the second's; tenant isolation on
- a 5-node Ceph cluster with NVMe OSDs (3 monitors over two racks, RBD, a CephFS for datasets) and
  3 service nodes for the Kubernetes control plane, in two air-cooled racks, shared by both tenants
- Kubernetes with Kueue: one ClusterQueue per tenant holding only its own nodes; prod lends none of
  its idle GPUs and borrows none

What tenant isolation gives here, network by network (``dcinfra plan`` shows it under Security):
management, storage and the compute rails' IP traffic are isolated by each host's nftables; RoCE RDMA
bypasses nftables, so the plan says it is NOT isolated by dcinfra: separate the tenants on the switches
(a VLAN or VRF per tenant on the rail ports).
"""

from dcinfra import (
    BareMetalHost,
    BareMetalSite,
    CephCluster,
    CephFs,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    GpuQuota,
    Hardware,
    Kubernetes,
    Network,
    NodePool,
    Placement,
    Platform,
    Rack,
    RoceSettings,
    Security,
    SshPolicy,
    Stack,
    Storage,
    Tenant,
)

hosts = [BareMetalHost(name=f"research-{i:03d}", management_ip=f"10.0.0.{10 + i}") for i in range(1, 9)]
hosts += [BareMetalHost(name=f"prod-{i:03d}", management_ip=f"10.0.0.{30 + i}") for i in range(1, 9)]
hosts += [BareMetalHost(name=f"stor-{i:03d}", management_ip=f"10.0.1.{10 + i}") for i in range(1, 6)]
hosts += [BareMetalHost(name=f"svc-{i:03d}", management_ip=f"10.0.1.{100 + i}") for i in range(1, 4)]


def gpu_pool(tenant: str, rack: str) -> NodePool:
    """8 HGX H200 servers in one liquid-cooled rack."""
    return NodePool(
        name=f"gpu-{tenant}",
        count=8,
        hardware=Hardware(profile="hgx-h200"),
        hostname_prefix=tenant,
        racks=[rack],
    )


stack = Stack(
    name="two-tenants",
    site=BareMetalSite(hosts=hosts, ssh_user="ops"),
    racks=[
        Rack(name="gpu-a", power_budget_kw=100, cooling="liquid"),
        Rack(name="gpu-b", power_budget_kw=100, cooling="liquid"),
        Rack(name="infra-a", power_budget_kw=20),
        Rack(name="infra-b", power_budget_kw=20),
    ],
    compute=Compute(
        pools=[
            gpu_pool("research", "gpu-a"),
            gpu_pool("prod", "gpu-b"),
            NodePool(
                name="stor",
                count=5,
                hardware=Hardware(profile="cpu-storage"),
                roles=["storage"],
                racks=["infra-a", "infra-b"],
                nodes_per_rack=3,
            ),
            NodePool(
                name="svc",
                count=3,
                hardware=Hardware(profile="cpu-storage", power_kw=0.8),
                roles=["service"],
                racks=["infra-a", "infra-b"],
            ),
        ]
    ),
    fabric=Fabric(
        management=Network(cidr="10.0.0.0/22", interface="eno1"),
        storage=Network(cidr="10.16.0.0/22", mtu=9000, interface="ens2f0"),
        compute=ComputeFabric(
            kind="roce",
            switch="sn5600",
            cidr="10.128.0.0/16",
            mtu=9000,
            nodes_per_su=16,
            roce=RoceSettings(pfc_priority=3, ecn=True, gid_index=3),
        ),
    ),
    storage=Storage(
        ceph=CephCluster(
            mons=Placement(hosts=["stor-001", "stor-002", "stor-004"]),  # over both racks
            osds=Placement(pools=["stor"]),
            devices=["/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1", "/dev/nvme4n1"],
            pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd", target_ratio=0.3)],
            failure_domain="host",
            public_network="storage",
            cephfs=CephFs(name="datasets", mount_path="/mnt/datasets"),
        ),
    ),
    security=Security(
        default="deny",
        # Each pool's tenant is declared once, here (NodePool(tenant=...) would do as well).
        tenants=[
            Tenant(name="research", pools=["gpu-research"]),
            Tenant(name="prod", pools=["gpu-prod"]),
        ],
        tenant_isolation=True,
        ssh=SshPolicy(management_cidr="10.0.0.0/24"),
    ),
    platform=Platform(
        kubernetes=Kubernetes(
            control_plane=Placement(pools=["svc"]),
            namespaces=["research", "prod"],
            tenants=[
                GpuQuota(name="research", namespaces=["research"], gpus=64),
                GpuQuota(name="prod", namespaces=["prod"], gpus=64, borrowing_limit=0, lending_limit=0),
            ],
        )
    ),
)
