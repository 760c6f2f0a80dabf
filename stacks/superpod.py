"""A DGX SuperPOD-class cluster: DGX H100 nodes (8 GPUs, 8 x 400G NDR rails), 32 nodes per scalable
unit, QM9700 64-port switches, non-blocking rail-optimized fat tree.

The number of scalable units comes from configuration (default 4 = 128 nodes, 1,024 GPUs)::

    dcinfra plan stacks/superpod.py --config su_count=16

Switch and cable counts match NVIDIA's DGX SuperPOD reference architecture tables for the same
node counts (two tiers up to 8 SUs, three tiers beyond).
"""

from dcinfra import (
    BareMetalHost,
    BareMetalSite,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    Network,
    NodePool,
    Rack,
    Security,
    SshPolicy,
    Stack,
    Zone,
    config,
)

su_count = config.get_int("su_count", 4)
NODES_PER_SU = 32
NODES_PER_RACK = 4  # 4 x 10.2 kW in a 44 kW rack, as in the RA's rack layout
nodes = su_count * NODES_PER_SU
racks = [
    Rack(name=f"su{su + 1:02d}-r{r + 1}", power_budget_kw=44, cooling="air")
    for su in range(su_count)
    for r in range(NODES_PER_SU // NODES_PER_RACK)
]

# Existing DGX nodes, reachable on the management network (10.0.0.0/16; .0/24 is the admin subnet).
width = max(3, len(str(nodes)))  # dcinfra numbers hosts <pool>-<n> zero-padded to at least 3 digits
hosts = [
    BareMetalHost(name=f"dgx-{i:0{width}d}", management_ip=f"10.0.{1 + (i - 1) // 200}.{10 + (i - 1) % 200}")
    for i in range(1, nodes + 1)
]

stack = Stack(
    name="superpod",
    site=BareMetalSite(hosts=hosts, ssh_user="ops"),
    racks=racks,
    compute=Compute(
        pools=[
            NodePool(
                name="dgx",
                count=nodes,
                hardware=Hardware(profile="dgx-h100"),
                racks=[r.name for r in racks],
                nodes_per_rack=NODES_PER_RACK,
            )
        ]
    ),
    fabric=Fabric(
        management=Network(cidr="10.0.0.0/16"),
        compute=ComputeFabric(
            kind="infiniband", switch="qm9700", cidr="10.128.0.0/12", nodes_per_su=NODES_PER_SU
        ),
    ),
    security=Security(
        default="deny",
        zones=[Zone(name="dgx", pools=["dgx"])],
        ssh=SshPolicy(management_cidr="10.0.0.0/24"),
    ),
)
