"""What the nvidia_driver role needs to know about a GPU host's system, from the catalog: whether its GPUs
sit on an NVSwitch baseboard (fabric manager, NSCQ) and whether that baseboard's NVLink fabric also needs
the NVLink Subnet Manager (NVLSM). Written to the host's ``host_vars`` as ``dcinfra_gpu_stack``.

Source: NVIDIA Fabric Manager User Guide, "NVSwitch-Based Systems", "GPU Baseboard Topologies" and
"What is NVLink Subnet Manager?" (https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/).
"""

from __future__ import annotations

from typing import Any

from dcinfra.catalog.hardware import GPUS
from dcinfra.plan.types import HostPlan


def gpu_stack(host: HostPlan) -> dict[str, Any] | None:
    """The host's GPU system facts, or ``None`` for a host without (catalog) GPUs.

    ``nvswitch``: an NVSwitch baseboard (HGX/DGX 8-GPU), so the fabric manager must run at exactly the
    driver's version; ``nvlsm``: NVLSM runs next to it (fourth-generation NVSwitch, NVLink 5: B200);
    ``cuda_capability``: the GPUs' compute capability (the role's open-module check reads it).
    """
    gpu = GPUS.get(host.gpu or "")
    if gpu is None or host.gpu_count == 0:
        return None
    nvswitch = gpu.nvswitch_gpus > 0 and host.gpu_count == gpu.nvswitch_gpus
    return {"nvswitch": nvswitch, "nvlsm": nvswitch and gpu.nvlsm, "cuda_capability": gpu.cuda_capability}
