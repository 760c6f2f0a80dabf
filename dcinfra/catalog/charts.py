"""Facts about the Kubernetes operators the platform installs: Helm repositories, images, version floors.

Each fact names where it comes from. The chart *versions* a stack uses are pinned in the model
(:class:`dcinfra.model.platform.Kubernetes`); this module only says where the charts live, which images
they run and which versions are too old to deploy. The platform plan (:mod:`dcinfra.plan.platform`)
checks a stack against them; the platform objects (:mod:`dcinfra.platform.objects`) point at them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChartSource:
    """Where a Helm chart is published."""

    chart: str  # chart name in the repository
    repo: str  # https:// index URL, or oci:// registry path (without the chart name)
    docs: str  # install documentation


# https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html
GPU_OPERATOR = ChartSource(
    "gpu-operator",
    "https://helm.ngc.nvidia.com/nvidia",
    "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/getting-started.html",
)
# https://docs.nvidia.com/networking/display/kubernetes2570/deployment-guide-kubernetes.html
NETWORK_OPERATOR = ChartSource(
    "network-operator",
    "https://helm.ngc.nvidia.com/nvidia",
    "https://docs.nvidia.com/networking/display/kubernetes2570/deployment-guide-kubernetes.html",
)
# https://github.com/ceph/ceph-csi/blob/devel/charts/ceph-csi-rbd/README.md
CEPH_CSI_RBD = ChartSource(
    "ceph-csi-rbd",
    "https://ceph.github.io/csi-charts",
    "https://github.com/ceph/ceph-csi/blob/devel/charts/ceph-csi-rbd/README.md",
)
CEPH_CSI_CEPHFS = ChartSource(
    "ceph-csi-cephfs",
    "https://ceph.github.io/csi-charts",
    "https://github.com/ceph/ceph-csi/blob/devel/charts/ceph-csi-cephfs/README.md",
)
# https://rook.io/docs/rook/latest/Helm-Charts/operator-chart/
ROOK = ChartSource("rook-ceph", "https://charts.rook.io/release", "https://rook.io/docs/rook/latest/")
# https://kueue.sigs.k8s.io/docs/installation/ (Helm: oci://registry.k8s.io/kueue/charts/kueue)
KUEUE = ChartSource(
    "kueue", "oci://registry.k8s.io/kueue/charts", "https://kueue.sigs.k8s.io/docs/installation/"
)

# NVIDIA Container Toolkit: the oldest release without a known container-escape CVE, and the oldest
# GPU Operator release that ships it.
# - CVE-2024-0132 (TOCTOU, container escape): fixed in toolkit 1.16.2 / GPU Operator 24.6.2.
# - CVE-2024-0135 and CVE-2025-23359 (the bypass of the 0132 fix): toolkit 1.17.3 and 1.17.4 /
#   GPU Operator 24.9.1 and 24.9.2.
# - CVE-2025-23266 and CVE-2025-23267 (hooks run with elevated privileges; ldcache link following):
#   affected "all versions up to and including 1.17.7" and "GPU Operator ... up to and including
#   25.3.0", so fixed in toolkit 1.17.8 / GPU Operator 25.3.1.
# Sources: https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/security.html (the
# GPU Operator's CVE table), the CVE record
# https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/2025/23xxx/CVE-2025-23266.json and
# NVIDIA's bulletins at https://www.nvidia.com/en-us/security/.
TOOLKIT_MIN = (1, 17, 8)
GPU_OPERATOR_MIN = (25, 3, 1)
# What the pinned default GPU Operator ships: "25.10.1 ... NVIDIA Container Toolkit v1.18.1"
# (https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/release-notes.html).
GPU_OPERATOR_TOOLKIT = {"v25.10.1": "v1.18.1"}

# Network Operator component images: every component of release X.Y.Z is published as
# nvcr.io/nvidia/mellanox/<image>:network-operator-vX.Y.Z (NicClusterPolicy examples of 25.7.0 and
# later, https://docs.nvidia.com/networking/display/kubernetes2570/customizations/cr-full-example.html).
NETWORK_OPERATOR_REPOSITORY = "nvcr.io/nvidia/mellanox"

# Rook runs Ceph from these images; Rook 1.17 supports Reef and Squid (Pacific and Quincy are no longer
# supported). Source: https://rook.io/docs/rook/v1.17/Getting-Started/Prerequisites/prerequisites/ and
# https://docs.ceph.com/en/latest/releases/ (18.2.4 reef, 19.2.2 squid).
ROOK_CEPH_IMAGES = {"reef": "quay.io/ceph/ceph:v18.2.4", "squid": "quay.io/ceph/ceph:v19.2.2"}


def version_tuple(version: str) -> tuple[int, ...]:
    """``"v1.17.8-ubuntu20.04"`` -> ``(1, 17, 8)``; non-numeric parts end the tuple."""
    out: list[int] = []
    for part in version.lstrip("v").split("-", 1)[0].split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)
