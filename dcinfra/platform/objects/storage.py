"""The storage objects: ceph-csi charts and StorageClasses for the host Ceph cluster, or Rook with its
CephCluster, one CephBlockPool per planned RBD pool and the CephFilesystem, each pool with its planned
size."""

from __future__ import annotations

from dcinfra.catalog import charts
from dcinfra.plan.platform import NS_CEPH_CSI_CEPHFS, NS_CEPH_CSI_RBD, NS_ROOK, PlatformPlan
from dcinfra.platform.objects.base import Item, K8sObject, helm_chart, meta, secret_params, storage_class


def ceph_csi(pp: PlatformPlan) -> list[Item]:
    c = pp.ceph_csi
    if c is None:
        return []
    out: list[Item] = []
    cluster = {"clusterID": c.cluster_id, "monitors": list(c.monitors)}
    if c.rbd_pool is not None:
        chart = helm_chart(
            pp,
            charts.CEPH_CSI_RBD,
            NS_CEPH_CSI_RBD,
            c.version,
            # Classes and the key Secret are managed here and outside dcinfra, never by the chart.
            {"csiConfig": [cluster], "secret": {"create": False}, "storageClass": {"create": False}},
            "storage",
            data_bearing=True,
        )
        out.append(chart)
        out.append(
            storage_class(
                pp,
                "ceph-rbd",
                "rbd.csi.ceph.com",
                {
                    "clusterID": c.cluster_id,
                    "pool": c.rbd_pool,
                    "imageFeatures": "layering",
                    "csi.storage.k8s.io/fstype": "ext4",
                    **secret_params(c.rbd_secret, NS_CEPH_CSI_RBD),
                },
                (chart.key,),
            )
        )
    if c.cephfs is not None:
        chart = helm_chart(
            pp,
            charts.CEPH_CSI_CEPHFS,
            NS_CEPH_CSI_CEPHFS,
            c.version,
            {
                "csiConfig": [{**cluster, "cephFS": {"subvolumeGroup": "csi"}}],
                "secret": {"create": False},
                "storageClass": {"create": False},
            },
            "storage",
            data_bearing=True,
        )
        out.append(chart)
        out.append(
            storage_class(
                pp,
                "ceph-cephfs",
                "cephfs.csi.ceph.com",
                {
                    "clusterID": c.cluster_id,
                    "fsName": c.cephfs,
                    **secret_params(c.cephfs_secret, NS_CEPH_CSI_CEPHFS),
                },
                (chart.key,),
            )
        )
    return out


def rook(pp: PlatformPlan) -> list[Item]:
    r = pp.rook
    if r is None:
        return []
    chart = helm_chart(
        pp, charts.ROOK, NS_ROOK, r.version, {"crds": {"enabled": True}}, "storage", data_bearing=True
    )
    cluster = K8sObject(
        {
            "apiVersion": "ceph.rook.io/v1",
            "kind": "CephCluster",
            "metadata": meta(pp, "ceph", "storage", NS_ROOK),
            "spec": {
                "cephVersion": {"image": r.image},
                "dataDirHostPath": "/var/lib/rook",
                "mon": {"count": r.mons, "allowMultiplePerNode": False},
                "mgr": {"count": 2},
                "dashboard": {"enabled": True},
                "storage": {
                    "useAllNodes": False,
                    "useAllDevices": False,
                    "nodes": [{"name": h, "devices": [{"name": d} for d in devs]} for h, devs in r.nodes],
                },
            },
        },
        (chart.key,),
        True,
    )
    out: list[Item] = [chart, cluster]
    secrets = {"provisioner": "rook-csi-{}-provisioner", "node": "rook-csi-{}-node"}
    pools: dict[str, K8sObject] = {}
    for p in r.pools:
        if p.application != "rbd":
            continue
        pools[p.name] = K8sObject(
            {
                "apiVersion": "ceph.rook.io/v1",
                "kind": "CephBlockPool",
                "metadata": meta(pp, p.name, "storage", NS_ROOK),
                "spec": {"failureDomain": r.failure_domain, "replicated": {"size": p.size}},
            },
            (cluster.key,),
            True,
        )
    out += pools.values()
    if r.rbd_pool is not None:
        params = {
            "clusterID": NS_ROOK,
            "pool": r.rbd_pool,
            "imageFormat": "2",
            "imageFeatures": "layering",
            "csi.storage.k8s.io/fstype": "ext4",
            **secret_params(secrets["provisioner"].format("rbd"), NS_ROOK, secrets["node"].format("rbd")),
        }
        rbd_key = pools[r.rbd_pool].key
        out.append(storage_class(pp, "ceph-rbd", f"{NS_ROOK}.rbd.csi.ceph.com", params, (rbd_key,)))
    if r.cephfs is not None and r.cephfs_metadata_pool is not None and r.cephfs_data_pool is not None:
        fs = K8sObject(
            {
                "apiVersion": "ceph.rook.io/v1",
                "kind": "CephFilesystem",
                "metadata": meta(pp, r.cephfs, "storage", NS_ROOK),
                "spec": {
                    "metadataPool": {
                        "failureDomain": r.failure_domain,
                        "replicated": {"size": r.size(r.cephfs_metadata_pool)},
                    },
                    "dataPools": [
                        {
                            # Rook names the pool "<fs>-<name>": the planned data pool's name.
                            "name": r.cephfs_data_pool.removeprefix(f"{r.cephfs}-"),
                            "failureDomain": r.failure_domain,
                            "replicated": {"size": r.size(r.cephfs_data_pool)},
                        }
                    ],
                    "metadataServer": {"activeCount": 1, "activeStandby": True},
                },
            },
            (cluster.key,),
            True,
        )
        params = {
            "clusterID": NS_ROOK,
            "fsName": r.cephfs,
            "pool": r.cephfs_data_pool,
            **secret_params(
                secrets["provisioner"].format("cephfs"), NS_ROOK, secrets["node"].format("cephfs")
            ),
        }
        out += [fs, storage_class(pp, "ceph-cephfs", f"{NS_ROOK}.cephfs.csi.ceph.com", params, (fs.key,))]
    return out
