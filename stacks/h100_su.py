"""One scalable unit of 32 HGX H100 servers on an 8-rail NDR InfiniBand fabric.

- 32 x HGX H100 (8 GPUs, 8 x ConnectX-7 400G NDR, one per rail), 4 per 44 kW air-cooled rack
- QM9700 64-port NDR switches, rail-optimized, non-blocking: 8 leaves, 4 spines
- 6 storage servers carrying Ceph (3 mons, RBD, CephFS for datasets) and HDFS
- 3 service nodes for the Kubernetes control plane, the Slurm controllers (primary and backup, in
  two racks) and Slurm accounting
- management, storage (jumbo frames) and compute networks; default-deny security with zones
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
    Hardware,
    HdfsCluster,
    Kubernetes,
    Network,
    NodePool,
    Placement,
    Platform,
    Rack,
    Rule,
    Security,
    Slurm,
    SlurmAccounting,
    SlurmPartition,
    SshPolicy,
    Stack,
    Storage,
    Zone,
)

GPU_NODES = 32
GPU_RACKS = 8  # 4 nodes x 10.2 kW = 40.8 kW per 44 kW rack

hosts = [
    BareMetalHost(name=f"gpu-{i:03d}", management_ip=f"10.0.0.{10 + i}") for i in range(1, GPU_NODES + 1)
]
hosts += [BareMetalHost(name=f"stor-{i:03d}", management_ip=f"10.0.1.{10 + i}") for i in range(1, 7)]
hosts += [BareMetalHost(name=f"svc-{i:03d}", management_ip=f"10.0.1.{100 + i}") for i in range(1, 4)]

stack = Stack(
    name="h100-su",
    site=BareMetalSite(hosts=hosts, ssh_user="ops"),
    racks=[Rack(name=f"r{i:02d}", power_budget_kw=44, cooling="air") for i in range(1, GPU_RACKS + 1)]
    + [Rack(name="r09", power_budget_kw=20), Rack(name="r10", power_budget_kw=20)],
    compute=Compute(
        pools=[
            NodePool(
                name="gpu",
                count=GPU_NODES,
                hardware=Hardware(profile="hgx-h100"),
                racks=[f"r{i:02d}" for i in range(1, GPU_RACKS + 1)],
                nodes_per_rack=4,
            ),
            NodePool(
                name="stor",
                count=6,
                hardware=Hardware(profile="cpu-storage"),
                roles=["storage"],
                racks=["r09", "r10"],
                nodes_per_rack=3,
            ),
            NodePool(
                name="svc",
                count=3,
                hardware=Hardware(profile="cpu-storage", power_kw=0.8),
                roles=["service"],
                racks=["r09", "r10"],
                nodes_per_rack=2,  # svc-003 in r10: the backup Slurm controller survives losing r09
            ),
        ]
    ),
    fabric=Fabric(
        management=Network(cidr="10.0.0.0/22", interface="eno1"),
        storage=Network(cidr="10.16.0.0/22", mtu=9000, interface="ens2f0"),
        compute=ComputeFabric(kind="infiniband", switch="qm9700", cidr="10.128.0.0/16", nodes_per_su=32),
    ),
    storage=Storage(
        ceph=CephCluster(
            mons=Placement(pools=["stor"], count=3),
            osds=Placement(pools=["stor"]),
            devices=["/dev/nvme1n1", "/dev/nvme2n1", "/dev/nvme3n1", "/dev/nvme4n1"],
            pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd", target_ratio=0.3)],
            failure_domain="host",
            public_network="storage",
            cephfs=CephFs(name="datasets", mount_path="/mnt/datasets"),
        ),
        hdfs=HdfsCluster(
            namenode=Placement(hosts=["stor-001"]),
            datanodes=Placement(pools=["stor"]),
            replication=3,
            data_dirs=["/data/1/hdfs", "/data/2/hdfs"],
            rack_awareness=True,
        ),
    ),
    security=Security(
        default="deny",
        zones=[
            Zone(name="gpu", pools=["gpu"]),
            Zone(name="storage", pools=["stor"]),
            Zone(name="service", pools=["svc"]),
        ],
        rules=[
            Rule(
                name="node-exporter",
                src="service",
                dst="any",
                protocol="tcp",
                ports=[9100],
                network="management",
            ),
            Rule(
                name="kube-api", src="gpu", dst="service", protocol="tcp", ports=[6443], network="management"
            ),
        ],
        ssh=SshPolicy(management_cidr="10.0.0.0/24"),
    ),
    platform=Platform(
        kubernetes=Kubernetes(control_plane=Placement(pools=["svc"]), namespaces=["training", "inference"])
    ),
    scheduler=Slurm(
        controller=Placement(hosts=["svc-001", "svc-003"]),  # primary and backup, in two racks
        accounting=SlurmAccounting(database=Placement(hosts=["svc-002"])),
        partitions=[SlurmPartition(name="gpu", pools=["gpu"], default=True, max_time="2-00:00:00")],
    ),
)
