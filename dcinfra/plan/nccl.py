"""The NCCL (and gloo) environment per compute host, derived from the fabric and the host's rails.

Variables are documented in the NCCL user guide:
https://docs.nvidia.com/deeplearning/nccl/user-guide/docs/env.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dcinfra.model.stack import Stack
from dcinfra.plan.hosts import Draft
from dcinfra.plan.types import RailNic


def nccl_env(
    stack: Stack, d: Draft, rails: Sequence[RailNic], interfaces: Mapping[str, str]
) -> dict[str, str]:
    """Environment for the benchmark on host ``d`` ({} for hosts that do not run it)."""
    if "compute" not in d.roles:
        return {}
    cf = stack.fabric.compute
    # Bootstrap and rendezvous go over the compute network (rail 0), else management.
    sock = rails[0].interface if rails else interfaces.get("management", "mgmt0")
    env = {
        "NCCL_SOCKET_IFNAME": sock,  # bootstrap/out-of-band TCP interface
        "GLOO_SOCKET_IFNAME": sock,  # gloo (CPU backend) uses the same interface
    }
    if cf is None or cf.kind == "ethernet" or not rails:
        env["NCCL_IB_DISABLE"] = "1"  # no RDMA: NCCL's socket transport
        return env
    # NCCL_NET=IB: the IB verbs transport (InfiniBand and RoCE alike) or fail; without it a missing or
    # misconfigured HCA makes NCCL fall back to sockets silently, at a fraction of the bandwidth.
    env["NCCL_NET"] = "IB"
    # "=" makes NCCL match the device names exactly (no mlx5_1 matching mlx5_10). The list only says
    # which HCAs NCCL may use: NCCL picks each GPU's NIC by PCI distance (its topology detection), not
    # by position in this list, so "rank r uses rail r" holds only where the PCI tree says so.
    env["NCCL_IB_HCA"] = "=" + ",".join(f"{r.hca}:1" for r in rails)
    if cf.kind == "roce":
        roce = cf.roce
        if roce is not None:
            env["NCCL_IB_GID_INDEX"] = str(roce.gid_index)
            env["NCCL_IB_TC"] = str(roce.traffic_class)
        # Several queue pairs per connection give ECMP on a multi-tier RoCE fabric more flows to hash
        # (NCCL_IB_QPS_PER_CONNECTION: "useful on multi-level fabrics which need multiple queue pairs to
        # have good routing entropy"; the default is 1). 4 is dcinfra's choice: enough flows per
        # connection to spread over the spines, few enough to keep QP memory small.
        env["NCCL_IB_QPS_PER_CONNECTION"] = "4"
    if d.hw.gpu_count and d.hw.gpu_count == d.hw.rails:
        # One NIC per GPU (rail-optimized): let NCCL route cross-rail traffic over NVLink first (PXN).
        env["NCCL_P2P_NET_CHUNKSIZE"] = "524288"
        env["NCCL_CROSS_NIC"] = "0"
    return env
