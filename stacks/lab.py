"""The embedded default: three CPU-only lab nodes on this machine, each a set of Linux namespaces.

Management and compute networks on host-local bridges, a Ceph cluster with a monitor and a file-backed
OSD on every node, CephFS mounted on every node, and a default-deny firewall that allows only the
flows the stack needs.

    dcinfra validate stacks/lab.py
    dcinfra plan stacks/lab.py
"""

from dcinfra import (
    CephCluster,
    CephFs,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    LabSite,
    Network,
    NodePool,
    Placement,
    Rack,
    Security,
    Stack,
    Storage,
    VerifySettings,
    Zone,
    config,
)

nodes = config.get_int("nodes", 3)

stack = Stack(
    name="lab",
    site=LabSite(),
    racks=[Rack(name="lab", cooling="air")],
    compute=Compute(
        pools=[
            NodePool(
                name="node",
                count=nodes,
                hardware=Hardware(profile="lab-cpu"),
                roles=["compute", "storage"],
            )
        ]
    ),
    fabric=Fabric(
        # Lab addresses live only on host-local bridges inside this machine.
        management=Network(cidr="172.31.250.0/24"),
        compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24", mtu=1500),
    ),
    storage=Storage(
        ceph=CephCluster(
            mons=Placement(pools=["node"], count=3),
            osds=Placement(pools=["node"]),
            pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd")],
            failure_domain="host",
            public_network="management",
            cephfs=CephFs(name="datasets", mount_path="/mnt/datasets"),
        )
    ),
    security=Security(default="deny", zones=[Zone(name="nodes", pools=["node"])]),
    # The lab shapes its compute veths to the declared 10 Gb/s, but its nodes share this machine's CPU
    # cores: under load gloo's all-reduce is bound by the CPU before the link (measured 0.52-0.91 GB/s
    # busbw against 1.19 GB/s iperf3 on 2 cores), so the lab gates at half the plan's expected figures.
    # 64 MiB messages: smaller ones measure per-step latency more than the link.
    verify=VerifySettings(
        max_message_mb=64, iters=10, warmup_iters=2, training_steps=20, timeout_s=300, min_busbw_fraction=0.5
    ),
)
