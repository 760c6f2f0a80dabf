"""Storage clusters: Ceph (RBD and CephFS) and HDFS."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.fabric import NetworkName
from dcinfra.model.types import (
    AbsPath,
    ArtifactSource,
    CephName,
    DevicePath,
    HostLabel,
    HostName,
    KerberosRealm,
    Label,
    Name,
    PatchVersion,
    Sha512,
)


class Placement(Spec):
    """Which hosts run a daemon: every host of some pools, named hosts, or the first ``count`` of
    those spread across racks.

    Example::

        Placement(pools=["stor"], count=3)           # 3 hosts of pool "stor", one per rack if possible
        Placement(hosts=["stor-001", "stor-002"])    # exactly these hosts
    """

    pools: tuple[Name, ...] = ()
    """Pools whose hosts are candidates."""
    hosts: tuple[HostLabel, ...] = ()
    """Hostnames that are candidates."""
    count: int | None = Field(default=None, ge=1)
    """Take this many of the candidates (spread across racks); None: all of them."""


class CephPool(Spec):
    """A RADOS pool.

    Example::

        CephPool(name="rbd", size=3, min_size=2, application="rbd")
        CephPool(name="datasets-data", pg_num=256, application="cephfs")
    """

    name: CephName
    """Pool name."""
    size: int = Field(default=3, ge=1, le=10)
    """Replicas."""
    min_size: int = Field(default=2, ge=1, le=10)
    """Replicas that must be up for I/O."""
    pg_num: int | None = Field(default=None, ge=1)
    """Placement groups (a power of two); None: computed from the OSD count and left to the autoscaler."""
    application: Literal["rbd", "cephfs", "rgw"] = "rbd"
    """What the pool is for."""
    target_ratio: float = Field(default=1.0, gt=0)
    """Expected share of the cluster's data, for PG sizing (relative to other pools)."""


class CephFs(Spec):
    """A CephFS file system for shared datasets, mounted on every compute node.

    Example::

        CephFs(name="datasets", mount_path="/mnt/datasets")
    """

    name: CephName = "datasets"
    """File system name; its pools are ``<name>-metadata`` and ``<name>-data``."""
    mount_path: AbsPath = "/mnt/datasets"
    """Where compute nodes mount it."""
    mds: Placement | None = None
    """Where MDS daemons run; default: on the manager hosts."""


class CephCluster(Spec):
    """A Ceph cluster: monitors, managers, OSDs, pools, an optional CephFS.

    Example::

        CephCluster(
            mons=Placement(pools=["stor"], count=3),
            osds=Placement(pools=["stor"]),
            devices=["/dev/nvme1n1", "/dev/nvme2n1"],
            pools=[CephPool(name="rbd")],
            failure_domain="host",
            public_network="storage",
            cephfs=CephFs(mount_path="/mnt/datasets"),
        )
    """

    name: Label = "ceph"
    """Cluster name (the ``ceph.conf`` file name)."""
    mons: Placement
    """Monitor hosts: an odd number, 3 or 5 in production."""
    mgrs: Placement | None = None
    """Manager hosts; default: the monitor hosts."""
    osds: Placement
    """OSD hosts."""
    devices: tuple[DevicePath, ...] = ()
    """Block devices per OSD host (one OSD each), e.g. ``/dev/nvme1n1``. On a lab site OSDs are
    file-backed and this stays empty."""
    pools: tuple[CephPool, ...] = ()
    """RADOS pools (CephFS pools are added automatically)."""
    failure_domain: Literal["host", "rack"] = "host"
    """CRUSH failure domain for replicated rules."""
    public_network: NetworkName = "storage"
    """Network clients and monitors talk on."""
    cluster_network: NetworkName | None = None
    """Network for OSD replication; None: the public network."""
    cephfs: CephFs | None = None
    """Shared file system for datasets."""
    clients: Placement | None = None
    """Hosts that get the client key and mounts; default: every compute host."""


class Kerberos(Spec):
    """Kerberos settings for secure HDFS.

    Example::

        Kerberos(realm="DC.EXAMPLE.COM", kdc="kdc.dc.example.com", keytab_dir="/etc/security/keytabs")
    """

    realm: KerberosRealm
    """Kerberos realm (upper case)."""
    kdc: HostName
    """KDC hostname."""
    keytab_dir: AbsPath = "/etc/security/keytabs"
    """Where each host's keytabs are (provisioned outside dcinfra; never rendered)."""


class HdfsCluster(Spec):
    """An HDFS cluster.

    Example::

        HdfsCluster(namenode=Placement(pools=["stor"], count=1),
                    datanodes=Placement(pools=["stor"]),
                    replication=3, data_dirs=["/data/1/hdfs", "/data/2/hdfs"])
    """

    name: Label = "hdfs"
    """Name service id (``fs.defaultFS`` is ``hdfs://<namenode>:8020``)."""
    namenode: Placement
    """The NameNode host (count 1)."""
    datanodes: Placement
    """DataNode hosts."""
    replication: int = Field(default=3, ge=1, le=10)
    """``dfs.replication``."""
    name_dirs: tuple[AbsPath, ...] = ("/var/lib/hadoop/name",)
    """``dfs.namenode.name.dir`` entries."""
    data_dirs: tuple[AbsPath, ...] = ("/var/lib/hadoop/data",)
    """``dfs.datanode.data.dir`` entries."""
    rack_awareness: bool = True
    """Render a topology mapping so replicas spread across racks."""
    secure: bool = False
    """Kerberos authentication and encrypted data transfer."""
    kerberos: Kerberos | None = None
    """Required when ``secure``."""
    secondary: Placement | None = None
    """A checkpointing SecondaryNameNode host (count 1; not the NameNode's): it merges the edit log
    into a new fsimage every hour, so a NameNode restart replays one hour of edits, not all of them,
    and a copy of the namespace lives on a second host. None: no checkpoints between restarts."""
    failed_volumes_tolerated: int | None = Field(default=None, ge=0)
    """``dfs.datanode.failed.volumes.tolerated``: data dirs a DataNode may lose and keep serving
    (fewer than ``data_dirs``). None: half of them, rounded down (0 with one dir: Hadoop's default,
    where any failed volume stops the DataNode)."""
    network: NetworkName = "storage"
    """Network HDFS binds to: the NameNode's RPC and HTTP addresses are its name on this network
    (``<host>-<network>`` in the rendered /etc/hosts), so DataNodes and clients reach it, and register,
    there."""
    hadoop_version: PatchVersion = "3.3.6"
    """Hadoop release the rendered properties target."""
    artifact: ArtifactSource | None = None
    """The Hadoop release to install: an ``http(s)://`` URL fetched on each host, or an absolute path
    on the controller copied to each host, of ``hadoop-<hadoop_version>.tar.gz``. No default: dcinfra
    installs no Hadoop nobody declared (lab nodes cannot download: give a path)."""
    artifact_sha512: Sha512 | None = None
    """SHA-512 of ``artifact`` (128 hex digits), as published next to the release
    (``hadoop-<version>.tar.gz.sha512``)."""


class Storage(Spec):
    """Storage clusters of the stack.

    Example::

        Storage(ceph=CephCluster(...), hdfs=HdfsCluster(...))
    """

    ceph: CephCluster | None = None
    """The Ceph cluster, if any."""
    hdfs: HdfsCluster | None = None
    """The HDFS cluster, if any."""
