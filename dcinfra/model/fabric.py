"""Networks: management, storage, and the compute fabric (rail-optimized fat tree)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.types import CatalogKey, HcaName, InterfaceName, InterfacePrefix


class Network(Spec):
    """An IP network that every attached host gets one address on.

    Example::

        Network(cidr="10.0.0.0/22")                 # management
        Network(cidr="10.16.0.0/22", mtu=9000)      # storage with jumbo frames
    """

    cidr: IPv4Network
    """Subnet; host addresses are allocated from ``.10`` upward (``.1`` is the gateway)."""
    mtu: int = Field(default=1500, ge=576, le=65520)
    """MTU on hosts, bytes; every hop (switch, bridge, peer) must carry it."""
    gateway: bool = True
    """Reserve ``.1`` for a gateway (on the lab: the host's address on the bridge)."""
    interface: InterfaceName | None = None
    """Host interface on this network; default ``mgmt0`` / ``stor0`` (the lab's names)."""


class RoceSettings(Spec):
    """Lossless-Ethernet settings a RoCE fabric needs (NVIDIA Spectrum-X defaults shown).

    Example::

        RoceSettings(pfc_priority=3, ecn=True, gid_index=3, traffic_class=106)
    """

    pfc_priority: int | None = Field(default=3, ge=0, le=7)
    """802.1p priority with Priority Flow Control; None disables PFC (then ECN alone must hold loss)."""
    ecn: bool = True
    """Explicit Congestion Notification (DCQCN) on the RoCE traffic class."""
    gid_index: int = Field(default=3, ge=0, le=255)
    """GID table index NCCL uses (``NCCL_IB_GID_INDEX``); 3 is RoCEv2 over IPv4 on ConnectX."""
    traffic_class: int = Field(default=106, ge=0, le=255)
    """IP traffic class for RoCE (``NCCL_IB_TC``); 106 = DSCP 26 with ECN bits."""


class ComputeFabric(Spec):
    """The GPU fabric: a rail-optimized fat tree. Rail *r* of every node in a scalable unit lands on
    the same leaf, so collective traffic between GPUs of the same rank stays one hop away.

    Example::

        ComputeFabric(kind="infiniband", switch="qm9700", cidr="10.128.0.0/16", nodes_per_su=32)
        ComputeFabric(kind="roce", switch="sn5600", cidr="10.128.0.0/16", mtu=9000,
                      roce=RoceSettings(pfc_priority=3, ecn=True))
    """

    kind: Literal["infiniband", "roce", "ethernet"]
    """``infiniband`` (NDR/XDR), ``roce`` (lossless Ethernet), or plain ``ethernet`` (TCP, e.g. the lab)."""
    cidr: IPv4Network
    """Address space for the rails (IPoIB or RoCE interfaces); split evenly, one subnet per rail."""
    switch: CatalogKey
    """Switch model from the catalog (``qm9700``, ``q3400``, ``sn5600``, ``sn5400``, ``lab-bridge``;
    ``dcinfra catalog`` lists them all)."""
    radix: int | None = Field(default=None, ge=4)
    """Ports per switch at the fabric rate; default: the catalog value for ``switch``."""
    nodes_per_su: int = Field(default=32, ge=1)
    """Nodes per scalable unit: one leaf per rail per SU serves them (32 in NVIDIA's SuperPOD RAs)."""
    oversubscription: float = Field(default=1.0, ge=1.0, le=8.0)
    """Leaf down:up ratio; 1.0 is non-blocking."""
    mtu: int | None = Field(default=None, ge=576, le=65520)
    """MTU; default 4096 on InfiniBand, 9000 on RoCE, 1500 on plain Ethernet."""
    roce: RoceSettings | None = None
    """Required when ``kind="roce"``."""
    interface_prefix: InterfacePrefix | None = None
    """Rail interfaces are ``<prefix><rail>``; default ``ib`` on InfiniBand, ``rail`` otherwise."""
    hcas: tuple[HcaName, ...] = ()
    """RDMA device names in rail order (``NCCL_IB_HCA``); default ``mlx5_0`` ... ``mlx5_<rails-1>``."""
    rail_gpu_ratio: Literal["even", "any"] = "even"
    """How a member node's rails must match its GPUs. ``even`` (the default): every rail serves the same
    number of GPUs, so NCCL can pair each GPU with a NIC of its own share: one rail per GPU (8 on an
    8-GPU HGX/DGX node), one per two or four GPUs (4 on an 8x L40S PCIe server), or two per GPU. 7 or
    12 rails on an 8-GPU node are refused (``fabric.rails``). ``any``: no such check, for a design that
    differs on purpose (say why in the stack)."""

    @property
    def effective_mtu(self) -> int:
        """The MTU hosts use on the rails."""
        if self.mtu is not None:
            return self.mtu
        return {"infiniband": 4096, "roce": 9000, "ethernet": 1500}[self.kind]


class Fabric(Spec):
    """All networks of the stack. ``management`` is required; hosts reach each other and the
    controller over it.

    Example::

        Fabric(management=Network(cidr="10.0.0.0/22"),
               storage=Network(cidr="10.16.0.0/22", mtu=9000),
               compute=ComputeFabric(kind="infiniband", switch="qm9700", cidr="10.128.0.0/16"))
    """

    management: Network
    """Out-of-band and SSH network; every host is on it."""
    storage: Network | None = None
    """Storage network (Ceph public/cluster, HDFS); storage nodes and their clients join it."""
    compute: ComputeFabric | None = None
    """The GPU fabric; compute pools with rails join it."""


NetworkName = Literal["management", "storage", "compute"]
