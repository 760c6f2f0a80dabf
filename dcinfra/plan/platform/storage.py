"""The storage part of the platform plan: ceph-csi pointing at the host Ceph cluster, or Rook running it.

Both read the compiled Ceph plan (:attr:`~dcinfra.plan.types.Plan.ceph`), never the stack's Ceph
section: under Rook the OSDs are the planned ones (host and device), and every pool Rook creates has
the planned pool's own size.
"""

from __future__ import annotations

from dcinfra.catalog import charts
from dcinfra.errors import Problem
from dcinfra.model.platform import Kubernetes
from dcinfra.plan.platform.records import CephCsiPlan, RookPlan, RookPoolPlan
from dcinfra.plan.types import CephPlan

# Pool applications Rook creates pools for: RBD as CephBlockPools, CephFS as the CephFilesystem's pools.
ROOK_APPLICATIONS = ("rbd", "cephfs")


def plan_storage(
    k8s: Kubernetes, ceph: CephPlan | None, problems: list[Problem], notes: list[str]
) -> tuple[CephCsiPlan | None, RookPlan | None]:
    """The CSI drivers (``storage="ceph-csi"``) or Rook (``storage="rook"``) for the plan's Ceph
    (``ceph``: :attr:`~dcinfra.plan.types.Plan.ceph`)."""
    if k8s.storage == "none":
        return None, None
    if ceph is None:
        if k8s.storage == "rook":
            problems.append(
                Problem(
                    "platform.kubernetes.storage",
                    "storage='rook' needs a Ceph cluster in the stack (storage.ceph says where its "
                    "monitors and OSDs run)",
                    "declare storage=Storage(ceph=CephCluster(...)), or use storage='none'",
                    "platform.storage",
                )
            )
        else:
            notes.append("the stack has no Ceph cluster: no ceph-csi StorageClasses")
        return None, None
    rbd = next((p.name for p in ceph.pools if p.application == "rbd"), None)
    if k8s.storage == "ceph-csi":
        return (
            CephCsiPlan(
                version=k8s.ceph_csi_version,
                cluster_id=ceph.fsid,
                monitors=tuple(f"{a}:6789" for a in ceph.mon_addresses),
                rbd_pool=rbd,
                cephfs=ceph.cephfs_name,
                rbd_secret="csi-rbd-secret",
                cephfs_secret="csi-cephfs-secret",
            ),
            None,
        )
    return None, _rook(k8s, ceph, rbd, problems, notes)


def _rook(
    k8s: Kubernetes, ceph: CephPlan, rbd: str | None, problems: list[Problem], notes: list[str]
) -> RookPlan:
    """Rook for the planned cluster: its OSDs (host -> devices) and its RBD and CephFS pools, as planned."""
    image = charts.ROOK_CEPH_IMAGES.get(ceph.release)
    if image is None:
        problems.append(
            Problem(
                "versions.ceph",
                f"Rook {k8s.rook_version} cannot run Ceph {ceph.release!r}",
                f"set versions.ceph to one of {', '.join(sorted(charts.ROOK_CEPH_IMAGES))}",
                "platform.storage",
            )
        )
        image = ""
    files = sorted({o.device for o in ceph.osds if o.device.startswith("file:")})
    if files:
        problems.append(
            Problem(
                "platform.kubernetes.storage",
                f"Rook runs OSDs on block devices, but this site backs the planned OSDs with files "
                f"({', '.join(files)})",
                "use storage='ceph-csi' (dcinfra deploys the Ceph cluster on the hosts) on this site",
                "platform.storage",
            )
        )
    devices: dict[str, list[str]] = {}
    for osd in ceph.osds:  # in OSD id order
        devices.setdefault(osd.host, []).append(osd.device.removeprefix("/dev/"))
    for p in ceph.pools:
        if p.application not in ROOK_APPLICATIONS:
            notes.append(
                f"pool {p.name!r} ({p.application}) is not created under Rook: dcinfra makes no "
                "CephObjectStore"
            )
    return RookPlan(
        version=k8s.rook_version,
        image=image,
        mons=len(ceph.mons),
        failure_domain=ceph.failure_domain,
        nodes=tuple((host, tuple(devs)) for host, devs in sorted(devices.items())),
        pools=tuple(
            RookPoolPlan(p.name, p.application, p.size)
            for p in ceph.pools
            if p.application in ROOK_APPLICATIONS
        ),
        rbd_pool=rbd,
        cephfs=ceph.cephfs_name,
        cephfs_metadata_pool=ceph.cephfs_metadata_pool,
        cephfs_data_pool=ceph.cephfs_data_pool,
    )
