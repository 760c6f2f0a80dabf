"""Hardware facts: GPUs, NICs, switches and node profiles.

Every number carries the public page it was read from. Units are in the field names: ``_tflops``
(dense, without structured sparsity), ``_GBps`` (gigabytes per second), ``_gbps`` (gigabits per
second), ``_w`` (watts), ``_kw`` (kilowatts), ``_gb`` (gigabytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU model."""

    name: str  # catalog key, e.g. "h100-sxm"
    display: str  # marketing name
    bf16_dense_tflops: float  # dense BF16 tensor-core peak, TFLOPS (datasheets quote 2x with sparsity)
    fp32_tflops: float  # non-tensor FP32 peak, TFLOPS
    nvlink_GBps: float  # total NVLink bandwidth per GPU, both directions, GB/s (0: no NVLink)
    pcie_GBps: float  # host PCIe link, both directions, GB/s (the intra-node path without NVLink)
    memory_gb: int  # HBM/GDDR capacity, GB
    tdp_w: int  # max board power, W
    cuda_capability: str  # compute capability, e.g. "9.0"
    source: str  # where these numbers come from
    # NVSwitch baseboard: a node with this many of these GPUs is an HGX/DGX NVSwitch system, which needs
    # the fabric manager at exactly the driver's version (0: no NVSwitch baseboard). Fabric Manager User
    # Guide, "NVSwitch-Based Systems" and "GPU Baseboard Topologies" (HGX A100, H100, B200: 8 GPUs):
    # https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/
    nvswitch_gpus: int = 0
    # The NVLink fabric also needs the NVLink Subnet Manager (NVLSM) next to the fabric manager: systems
    # with fourth-generation NVSwitches (NVLink 5, HGX B200/B100). Same guide, "Systems Using Fourth
    # Generation NVSwitches" and "What is NVLink Subnet Manager?".
    nvlsm: bool = False


GPUS: dict[str, Gpu] = {
    g.name: g
    for g in (
        # https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM: BF16 1,979 TFLOPS with sparsity,
        # FP32 67 TFLOPS, NVLink 900 GB/s, 80 GB, up to 700 W)
        Gpu(
            "h100-sxm",
            "NVIDIA H100 SXM5 80GB",
            989.5,
            67.0,
            900.0,
            128.0,
            80,
            700,
            "9.0",
            "https://www.nvidia.com/en-us/data-center/h100/",
            nvswitch_gpus=8,
        ),
        # https://www.nvidia.com/en-us/data-center/h200/ (H200 SXM: BF16 1,979 TFLOPS with sparsity,
        # FP32 67 TFLOPS, NVLink 900 GB/s, 141 GB, up to 700 W)
        Gpu(
            "h200-sxm",
            "NVIDIA H200 SXM 141GB",
            989.5,
            67.0,
            900.0,
            128.0,
            141,
            700,
            "9.0",
            "https://www.nvidia.com/en-us/data-center/h200/",
            nvswitch_gpus=8,
        ),
        # https://www.nvidia.com/en-us/data-center/hgx/ (HGX B200, 8 GPUs: FP16/BF16 36 PFLOPS with
        # sparsity -> 2.25 PFLOPS dense per GPU; FP32 600 TFLOPS total -> 75 per GPU; NVLink 1.8 TB/s
        # per GPU; 1.4 TB HBM3e total -> 180 GB per GPU). TDP from the DGX B200 datasheet: 1,000 W.
        Gpu(
            "b200",
            "NVIDIA B200 180GB",
            2250.0,
            75.0,
            1800.0,
            128.0,
            180,
            1000,
            "10.0",
            "https://www.nvidia.com/en-us/data-center/hgx/",
            nvswitch_gpus=8,
            nvlsm=True,
        ),
        # https://www.nvidia.com/en-us/data-center/a100/ (A100 SXM 80GB: BF16 312 TFLOPS dense,
        # FP32 19.5 TFLOPS, NVLink 600 GB/s, 400 W)
        Gpu(
            "a100-sxm",
            "NVIDIA A100 SXM4 80GB",
            312.0,
            19.5,
            600.0,
            64.0,
            80,
            400,
            "8.0",
            "https://www.nvidia.com/en-us/data-center/a100/",
            nvswitch_gpus=8,
        ),
        # https://www.nvidia.com/en-us/data-center/l40s/ (L40S: BF16 362.05 TFLOPS dense / 733 sparse,
        # FP32 91.6 TFLOPS, 48 GB GDDR6, 350 W, no NVLink: PCIe Gen4 x16)
        Gpu(
            "l40s",
            "NVIDIA L40S 48GB",
            362.05,
            91.6,
            0.0,
            64.0,
            48,
            350,
            "8.9",
            "https://www.nvidia.com/en-us/data-center/l40s/",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Nic:
    """One network adapter model as a compute-fabric port."""

    name: str  # catalog key
    display: str
    line_rate_gbps: int  # per port, Gb/s
    transports: tuple[str, ...]  # fabric kinds it can join: "infiniband", "roce", "ethernet"
    ib_generation: str | None  # "HDR", "NDR", "XDR" for InfiniBand-capable adapters
    source: str
    emulated: bool = False  # a software stand-in (the lab's veth pair): fits only an emulated network


NICS: dict[str, Nic] = {
    n.name: n
    for n in (
        # https://www.nvidia.com/en-us/networking/infiniband-adapters/ (ConnectX-6: HDR 200 Gb/s)
        Nic(
            "connectx-6-hdr",
            "NVIDIA ConnectX-6 HDR",
            200,
            ("infiniband", "roce", "ethernet"),
            "HDR",
            "https://www.nvidia.com/en-us/networking/infiniband-adapters/",
        ),
        # https://www.nvidia.com/en-us/networking/infiniband/connectx-7/ (ConnectX-7: NDR 400 Gb/s)
        Nic(
            "connectx-7-ndr",
            "NVIDIA ConnectX-7 NDR 400G",
            400,
            ("infiniband", "roce", "ethernet"),
            "NDR",
            "https://www.nvidia.com/en-us/networking/infiniband/connectx-7/",
        ),
        # https://www.nvidia.com/en-us/networking/products/data-processing-unit/ (BlueField-3: 400 Gb/s)
        Nic(
            "bluefield-3",
            "NVIDIA BlueField-3 400G",
            400,
            ("roce", "ethernet"),
            None,
            "https://www.nvidia.com/en-us/networking/products/data-processing-unit/",
        ),
        # https://www.nvidia.com/en-us/networking/infiniband/connectx-8/ (ConnectX-8 SuperNIC: XDR 800 Gb/s)
        Nic(
            "connectx-8-xdr",
            "NVIDIA ConnectX-8 XDR 800G",
            800,
            ("infiniband", "roce", "ethernet"),
            "XDR",
            "https://www.nvidia.com/en-us/networking/infiniband/connectx-8/",
        ),
        # A lab node's veth pair: no line rate of its own; 10 Gb/s is the nominal figure the lab plans
        # with and the verify stage measures the real one with iperf3.
        Nic(
            "lab-veth",
            "Linux veth pair (lab)",
            10,
            ("ethernet",),
            None,
            "https://man7.org/linux/man-pages/man4/veth.4.html",
            emulated=True,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Switch:
    """One fabric switch model."""

    name: str
    display: str
    radix: int  # ports at the fabric's line rate (a 64 x 800G switch split into 400G ports has 128)
    port_gbps: int  # line rate per port, Gb/s
    transport: Literal["infiniband", "roce", "ethernet"]
    ib_generation: str | None
    max_mtu: int  # largest MTU the switch forwards, bytes
    power_w: int | None  # typical max power, W; None: no figure in a source we read (shown as such)
    source: str
    emulated: bool = False  # a software stand-in (the lab's Linux bridge): fits only an emulated network


SWITCHES: dict[str, Switch] = {
    s.name: s
    for s in (
        # https://www.nvidia.com/en-us/networking/infiniband/qm9700/ (Quantum-2 QM9700: 64 x NDR 400 Gb/s;
        # IB MTU 4096)
        Switch(
            "qm9700",
            "NVIDIA Quantum-2 QM9700",
            64,
            400,
            "infiniband",
            "NDR",
            4096,
            1720,
            "https://www.nvidia.com/en-us/networking/infiniband/qm9700/",
        ),
        # https://www.nvidia.com/en-us/networking/infiniband-switching/ (Quantum QM8700: 40 x HDR 200 Gb/s)
        Switch(
            "qm8700",
            "NVIDIA Quantum QM8700",
            40,
            200,
            "infiniband",
            "HDR",
            4096,
            750,
            "https://www.nvidia.com/en-us/networking/infiniband-switching/",
        ),
        # https://www.nvidia.com/en-us/networking/products/infiniband/quantum-x800/ (Quantum-X800 Q3400:
        # 144 x XDR 800 Gb/s)
        Switch(
            "q3400",
            "NVIDIA Quantum-X800 Q3400",
            144,
            800,
            "infiniband",
            "XDR",
            4096,
            6000,
            "https://www.nvidia.com/en-us/networking/products/infiniband/quantum-x800/",
        ),
        # https://www.nvidia.com/en-us/networking/ethernet-switching/spectrum-sn5000/ (SN5600: 64 x 800GbE,
        # or 128 x 400GbE with splitters; jumbo frames up to 9216 bytes)
        Switch(
            "sn5600",
            "NVIDIA Spectrum-4 SN5600 (128 x 400GbE)",
            128,
            400,
            "roce",
            None,
            9216,
            2300,
            "https://www.nvidia.com/en-us/networking/ethernet-switching/spectrum-sn5000/",
        ),
        Switch(
            "sn5600-800g",
            "NVIDIA Spectrum-4 SN5600 (64 x 800GbE)",
            64,
            800,
            "roce",
            None,
            9216,
            2300,
            "https://www.nvidia.com/en-us/networking/ethernet-switching/spectrum-sn5000/",
        ),
        # https://docs.nvidia.com/networking/display/sn5000/data+interfaces (NVIDIA Spectrum-4 SN5000
        # hardware manual, "Data Interfaces": SN5400, 64 ports at 400GbE (50 Gb/s lanes), or 128 x 200GbE /
        # 256 x 100GbE with splitters): the 64-port 400G Ethernet switch next to the SN5600, on the same
        # Spectrum-4 ASIC, so the same 9216-byte jumbo frames as the SN5000 series page cited for the
        # SN5600. The pages read give no SN5400 power figure: None, not a guess.
        Switch(
            "sn5400",
            "NVIDIA Spectrum-4 SN5400 (64 x 400GbE)",
            64,
            400,
            "roce",
            None,
            9216,
            None,
            "https://docs.nvidia.com/networking/display/sn5000/data+interfaces",
        ),
        # The lab's Linux bridge: as many ports as there are veths; radix here is a planning figure.
        Switch(
            "lab-bridge",
            "Linux bridge (lab)",
            1024,
            10,
            "ethernet",
            None,
            65535,
            0,
            "https://man7.org/linux/man-pages/man8/bridge.8.html",
            emulated=True,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class NodeProfile:
    """A server model: what one node of a pool brings."""

    name: str
    display: str
    gpu: str | None  # key into GPUS, None for CPU-only nodes
    gpu_count: int
    compute_nic: str | None  # key into NICS: one port of this model per rail
    rails: int  # compute-fabric ports (one per rail)
    cpu_cores: int  # physical cores, all sockets
    memory_gb: int  # system memory, GB
    power_kw: float  # maximum system power, kW (what a rack budget must hold)
    source: str
    # CPU topology (Slurm's node lines and gres.conf affinity): every 8-GPU server here is a 2-socket
    # board with SMT/Hyper-Threading on (the DGX user guides' default); GPUs are split evenly across
    # the sockets (GPU 0-3 on socket 0, 4-7 on socket 1: NVIDIA's HGX reference topology).
    sockets: int = 2
    threads_per_core: int = 2


NODE_PROFILES: dict[str, NodeProfile] = {
    p.name: p
    for p in (
        # https://docs.nvidia.com/dgx/dgxh100-user-guide/introduction-to-dgxh100.html (8x H100 SXM,
        # 8x ConnectX-7 single-port NDR for the compute fabric, 2x Xeon 8480C = 112 cores, 2 TB,
        # ~10.2 kW max)
        NodeProfile(
            "dgx-h100",
            "NVIDIA DGX H100",
            "h100-sxm",
            8,
            "connectx-7-ndr",
            8,
            112,
            2048,
            10.2,
            "https://docs.nvidia.com/dgx/dgxh100-user-guide/introduction-to-dgxh100.html",
        ),
        # HGX H100 8-GPU servers from OEMs follow the same GPU/NIC layout; CPU and power as a typical
        # 2-socket 8U build (the stack may override any field).
        NodeProfile(
            "hgx-h100",
            "HGX H100 8-GPU server",
            "h100-sxm",
            8,
            "connectx-7-ndr",
            8,
            96,
            2048,
            10.2,
            "https://www.nvidia.com/en-us/data-center/hgx/",
        ),
        # HGX H200 8-GPU servers (OEM builds on the HGX H200 baseboard, the H100 board's successor with the
        # same NVLink/NVSwitch and a ConnectX-7 per GPU): CPU, memory and power as the HGX H100 entry.
        NodeProfile(
            "hgx-h200",
            "HGX H200 8-GPU server",
            "h200-sxm",
            8,
            "connectx-7-ndr",
            8,
            96,
            2048,
            10.2,
            "https://www.nvidia.com/en-us/data-center/hgx/",
        ),
        # https://www.nvidia.com/en-us/data-center/dgx-h200/ (8x H200, same chassis as DGX H100, ~10.2 kW)
        NodeProfile(
            "dgx-h200",
            "NVIDIA DGX H200",
            "h200-sxm",
            8,
            "connectx-7-ndr",
            8,
            112,
            2048,
            10.2,
            "https://www.nvidia.com/en-us/data-center/dgx-h200/",
        ),
        # https://www.nvidia.com/en-us/data-center/dgx-b200/ (8x B200, 8x ConnectX-7 400G for compute,
        # 2x Xeon 8570 = 112 cores, up to 4 TB, ~14.3 kW max)
        NodeProfile(
            "dgx-b200",
            "NVIDIA DGX B200",
            "b200",
            8,
            "connectx-7-ndr",
            8,
            112,
            4096,
            14.3,
            "https://www.nvidia.com/en-us/data-center/dgx-b200/",
        ),
        # https://www.nvidia.com/en-us/data-center/dgx-a100/ (8x A100 80GB, 8x ConnectX-6 HDR 200G,
        # 2x EPYC 7742 = 128 cores, 2 TB, 6.5 kW max)
        NodeProfile(
            "dgx-a100",
            "NVIDIA DGX A100",
            "a100-sxm",
            8,
            "connectx-6-hdr",
            8,
            128,
            2048,
            6.5,
            "https://www.nvidia.com/en-us/data-center/dgx-a100/",
        ),
        # An 8x L40S PCIe server (NVIDIA-Certified OVX-class): 4x 400G RoCE ports, 2x 32-core CPUs, ~5 kW.
        NodeProfile(
            "l40s-8gpu",
            "8x L40S PCIe server",
            "l40s",
            8,
            "bluefield-3",
            4,
            64,
            1024,
            5.0,
            "https://www.nvidia.com/en-us/data-center/products/ovx/",
        ),
        # A storage/service server: no GPU, one 400G port on the compute fabric is optional (rails=0).
        NodeProfile(
            "cpu-storage",
            "2-socket storage server",
            None,
            0,
            None,
            0,
            64,
            512,
            1.2,
            "https://docs.ceph.com/en/pacific/start/hardware-recommendations/",
        ),
        # A lab node: a namespaced node on this machine; one veth on the compute network.
        NodeProfile(
            "lab-cpu",
            "lab node (Linux namespaces)",
            None,
            0,
            "lab-veth",
            1,
            1,
            2,
            0.1,
            "https://man7.org/linux/man-pages/man7/namespaces.7.html",
            sockets=1,
            threads_per_core=1,
        ),
    )
}
