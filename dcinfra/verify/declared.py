"""What the plan declares about each compute host, in the form the bench's preflight compares with.

Pure: ``declared_facts(plan)`` returns ``{host: {...}}`` (see ``dcinfra/verify/bench/preflight.py``
for the keys); the verify playbook writes it as JSON next to the bench and passes ``--declared``.
"""

from __future__ import annotations

from typing import Any

from dcinfra.plan.types import Plan

# IPoIB in datagram mode carries a 4-byte encapsulation header inside the IB MTU, so the interface
# MTU is the IB MTU minus 4 (4092 on a 4096 fabric); connected mode allows more, never less.
# https://www.kernel.org/doc/html/latest/infiniband/ipoib.html ("Datagram vs Connected modes")
IPOIB_HEADER_BYTES = 4


def gpu_model(catalog_key: str) -> str:
    """The token a GPU's device name must contain: ``"h100-sxm"`` -> ``"H100"``."""
    return catalog_key.split("-", maxsplit=1)[0].upper()


def declared_facts(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per compute host: GPUs, CPU cores, memory, interfaces with addresses and MTU, link speed, RDMA."""
    if plan.verify is None:
        return {}
    nets = {n.name: n for n in plan.networks}
    fabric = plan.fabric
    out: dict[str, dict[str, Any]] = {}
    for name in plan.verify.hosts:
        h = plan.host(name)
        d: dict[str, Any] = {"gpu_count": h.gpu_count, "cpu_cores": h.cpu_cores, "memory_gb": h.memory_gb}
        if h.gpu:
            d["gpu_model"] = gpu_model(h.gpu)
        ifaces: dict[str, dict[str, Any]] = {}
        for net, iface in sorted(h.interfaces.items()):
            if net == "compute":
                continue  # the rails, below
            entry: dict[str, Any] = {"address": h.addresses.get(net)}
            if net in nets:
                entry["mtu"] = nets[net].mtu
            ifaces[iface] = entry
        speeds: dict[str, int] = {}
        rdma: dict[str, dict[str, Any]] = {}
        for r in h.rails:
            rail_net = nets.get(f"compute-r{r.rail}")
            entry = {"address": r.address}
            if rail_net is not None:
                ib = fabric is not None and fabric.kind == "infiniband"
                entry["mtu"] = rail_net.mtu - (IPOIB_HEADER_BYTES if ib else 0)
            ifaces[r.interface] = entry
            if fabric is not None:
                gbps = round(fabric.expected.nic_line_rate_GBps * 8)
                if r.hca:
                    rdma[r.hca] = {"rate_gbps": gbps}
                if fabric.kind != "infiniband":
                    speeds[r.interface] = gbps * 1000  # /sys/class/net/<if>/speed is in Mb/s
        d["interfaces"] = ifaces
        if speeds:
            d["link_speed_mbps"] = speeds
        if rdma:
            d["rdma"] = rdma
        out[name] = d
    return out
