"""HDFS layer: ``/etc/hadoop/{core-site.xml,hdfs-site.xml,workers}`` on the NameNode and every DataNode
(``files/<host>/etc/hadoop/...``), plus ``topology.map`` and the ``topology.sh`` script that reads it
when rack awareness is on.

The files are the same on every HDFS host and share one ``bytes`` object per file. Templates:
``dcinfra/templates/hdfs/``.
"""

from __future__ import annotations

from dcinfra.plan.types import HdfsPlan, Plan
from dcinfra.render.engine import render_template
from dcinfra.render.layout import host_path

HADOOP_CONF = "etc/hadoop"
TOPOLOGY_MAP = "/etc/hadoop/topology.map"


def hadoop_files(plan: Plan, hdfs: HdfsPlan) -> dict[str, bytes]:
    """``etc/hadoop/*`` for every HDFS host, keyed by path relative to the host root."""
    base = {"stack": plan.stack, "hdfs_name": hdfs.name, "hadoop_version": hdfs.hadoop_version}
    files = {}
    for name, props in (("core-site.xml", hdfs.core_site), ("hdfs-site.xml", hdfs.hdfs_site)):
        ctx = {**base, "properties": sorted(props.items())}
        files[f"{HADOOP_CONF}/{name}"] = render_template("hdfs/hadoop-site.xml.j2", ctx).encode()
    ctx = {**base, "datanodes": list(hdfs.datanodes)}
    files[f"{HADOOP_CONF}/workers"] = render_template("hdfs/hadoop-workers.j2", ctx).encode()
    if hdfs.rack_awareness:
        ctx = {**base, "entries": sorted(hdfs.rack_map.items()), "map_path": TOPOLOGY_MAP}
        files[f"{HADOOP_CONF}/topology.map"] = render_template("hdfs/hadoop-topology.map.j2", ctx).encode()
        files[f"{HADOOP_CONF}/topology.sh"] = render_template("hdfs/hadoop-topology.sh.j2", ctx).encode()
    return files


def files(plan: Plan) -> dict[str, bytes]:
    """``files/<host>/etc/hadoop/*`` for the NameNode, every DataNode and the SecondaryNameNode."""
    hdfs = plan.hdfs
    if hdfs is None:
        return {}
    members = {hdfs.namenode, *hdfs.datanodes, *([hdfs.secondary] if hdfs.secondary else [])}
    shared = hadoop_files(plan, hdfs)
    return {
        host_path(h.name, path): content
        for h in plan.hosts
        if h.name in members
        for path, content in shared.items()
    }
