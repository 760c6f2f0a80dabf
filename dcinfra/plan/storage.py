"""Storage placement: Ceph daemons, OSDs, the CRUSH tree and PG counts; HDFS roles and rack mapping;
and the flows the Ceph and HDFS layers need (registered in :mod:`dcinfra.plan.flows`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from dcinfra.catalog import CEPH_RELEASES
from dcinfra.errors import Problem
from dcinfra.model.stack import Stack
from dcinfra.model.storage import CephCluster, CephPool, HdfsCluster, Placement
from dcinfra.plan.flows import Need, with_roles
from dcinfra.plan.hosts import Draft
from dcinfra.plan.refs import unknown_pool
from dcinfra.plan.types import CephPlan, CephPoolPlan, CrushBucket, HdfsPlan, OsdPlan

# PGs per OSD the Ceph docs target when sizing pools (mon_target_pg_per_osd default 100).
# Source: https://docs.ceph.com/en/pacific/rados/operations/placement-groups/
TARGET_PGS_PER_OSD = 100
FSID_NAMESPACE = uuid.UUID("6f1d7a2e-4c1b-4b5e-9a53-0d3c5a1e9b7f")
# Ceph ports: monitors listen on 3300 (msgr2) and 6789 (msgr1); OSD, MGR and MDS daemons bind in
# 6800-7300. Source: https://docs.ceph.com/en/pacific/rados/configuration/network-config-ref/
CEPH_MON_PORTS = ("3300", "6789")
CEPH_DAEMON_PORTS = ("6800-7300",)
# HDFS 3.x defaults: NameNode RPC 8020 and HTTP 9870; DataNode data 9866, HTTP 9864, IPC 9867.
# Source: https://hadoop.apache.org/docs/r3.3.6/hadoop-project-dist/hadoop-hdfs/hdfs-default.xml
HDFS_NAMENODE_PORTS = ("8020", "9870")
HDFS_DATANODE_PORTS = ("9864", "9866", "9867")
HDFS_SECONDARY_HTTP = "9868"
HDFS_CHECKPOINT_DIRS = ("/var/lib/hadoop/namesecondary",)


def service_name(host: str, network: str) -> str:
    """``host``'s name on ``network`` in the rendered /etc/hosts (see dcinfra.render.access)."""
    if network == "management":
        return host
    return f"{host}-r0" if network == "compute" else f"{host}-{network}"


def ceph_flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """Daemons and clients to the monitors and to the OSD/MGR/MDS ports; OSD replication on a
    separate cluster network."""
    ceph = stack.storage.ceph
    if ceph is None:
        return []
    users = with_roles(drafts, "ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds", "ceph-client")
    pub = ceph.public_network
    who = "ceph daemons and clients"
    needs = [
        Need("ceph-mon", users, with_roles(drafts, "ceph-mon"), "tcp", CEPH_MON_PORTS, pub, who, "ceph-mon"),
        Need(
            "ceph-daemons",
            users,
            with_roles(drafts, "ceph-osd", "ceph-mgr", "ceph-mds"),
            "tcp",
            CEPH_DAEMON_PORTS,
            pub,
            who,
            "ceph-osd/mgr/mds",
        ),
    ]
    if ceph.cluster_network and ceph.cluster_network != pub:
        osds = with_roles(drafts, "ceph-osd")
        needs.append(
            Need(
                "ceph-replication",
                osds,
                osds,
                "tcp",
                CEPH_DAEMON_PORTS,
                ceph.cluster_network,
                "ceph-osd",
                "ceph-osd",
                scope="host",
            )
        )
    return needs


def hdfs_flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """HDFS nodes and compute clients to the NameNode and the DataNodes."""
    hdfs = stack.storage.hdfs
    if hdfs is None:
        return []
    # The SecondaryNameNode fetches the fsimage and edits from the NameNode and uploads the merged
    # image back, over the NameNode's RPC and HTTP ports.
    users = with_roles(drafts, "hdfs-namenode", "hdfs-datanode", "hdfs-secondary", "compute")
    who = "hdfs nodes and compute clients"
    nn, dn = with_roles(drafts, "hdfs-namenode"), with_roles(drafts, "hdfs-datanode")
    return [
        Need("hdfs-namenode", users, nn, "tcp", HDFS_NAMENODE_PORTS, hdfs.network, who, "hdfs-namenode"),
        Need("hdfs-datanode", users, dn, "tcp", HDFS_DATANODE_PORTS, hdfs.network, who, "hdfs-datanode"),
    ]


def resolve(placement: Placement, path: str, drafts: Sequence[Draft], problems: list[Problem]) -> list[Draft]:
    """Hosts a placement selects, spread across racks when ``count`` takes a subset.

    Linear in the hosts, with one pass over them for the candidates (and one for the known names only
    when the placement names pools or hosts that select nothing): a 100,000-host stack resolves its
    half-dozen placements in a blink."""
    pool_set, host_set = set(placement.pools), set(placement.hosts)
    cands = [d for d in drafts if d.pool.name in pool_set or d.name in host_set]
    found_pools = {d.pool.name for d in cands}
    found_hosts = {d.name for d in cands if d.name in host_set}
    if not pool_set <= found_pools:
        pools = {d.pool.name for d in drafts}
        for i, p in enumerate(placement.pools):
            if p not in pools:
                problems.append(unknown_pool(f"{path}.pools[{i}]", p, pools))
    for i, h in enumerate(placement.hosts):
        if h not in found_hosts:
            problems.append(
                Problem(
                    f"{path}.hosts[{i}]",
                    f"unknown host {h!r}",
                    "name a planned host (`dcinfra plan` lists them)",
                    "refs.host",
                )
            )
    if not placement.pools and not placement.hosts:
        problems.append(
            Problem(path, "placement selects no hosts", "give pools=[...] or hosts=[...]", "placement.empty")
        )
    if placement.count is None:
        return cands
    if placement.count > len(cands):
        problems.append(
            Problem(
                f"{path}.count",
                f"count={placement.count} but only {len(cands)} candidate hosts",
                "lower count or add pools/hosts",
                "placement.count",
            )
        )
        return cands
    # Round-robin over racks so daemons such as monitors do not share a failure domain.
    by_rack: dict[str, list[Draft]] = {}
    for d in cands:
        by_rack.setdefault(d.rack, []).append(d)
    taken: set[int] = set()  # ids of the chosen drafts
    depth = 0
    while len(taken) < placement.count:
        for hosts in by_rack.values():
            if depth < len(hosts) and len(taken) < placement.count:
                taken.add(id(hosts[depth]))
        depth += 1
    return [d for d in cands if id(d) in taken]  # in plan order


def _pow2_floor(n: float) -> int:
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


def plan_ceph(
    stack: Stack, ceph: CephCluster, drafts: list[Draft], problems: list[Problem]
) -> CephPlan | None:
    """Daemon placement, OSDs, CRUSH tree and pools of the Ceph cluster."""
    base = "storage.ceph"
    site = stack.site.capabilities()
    shared = site.shared_machine
    mons = resolve(ceph.mons, f"{base}.mons", drafts, problems)
    mgrs = resolve(ceph.mgrs, f"{base}.mgrs", drafts, problems) if ceph.mgrs else mons
    osd_hosts = resolve(ceph.osds, f"{base}.osds", drafts, problems)
    mds_hosts: list[Draft] = []
    if ceph.cephfs is not None:
        mds_hosts = (
            resolve(ceph.cephfs.mds, f"{base}.cephfs.mds", drafts, problems) if ceph.cephfs.mds else mgrs
        )
    clients = (
        resolve(ceph.clients, f"{base}.clients", drafts, problems)
        if ceph.clients
        else [d for d in drafts if "compute" in d.roles]
    )
    for d in mons:
        d.roles.add("ceph-mon")
    for d in mgrs:
        d.roles.add("ceph-mgr")
    for d in osd_hosts:
        d.roles.add("ceph-osd")
    for d in mds_hosts:
        d.roles.add("ceph-mds")
    for d in clients:
        d.roles.add("ceph-client")
    nets = {"management": stack.fabric.management.cidr}
    if stack.fabric.storage is not None:
        nets["storage"] = stack.fabric.storage.cidr
    if stack.fabric.compute is not None:
        nets["compute"] = stack.fabric.compute.cidr
    pub_cidr = nets.get(ceph.public_network)
    cl_name = ceph.cluster_network or ceph.public_network
    cl_cidr = nets.get(cl_name)
    if pub_cidr is None or cl_cidr is None:
        return None  # reported by checks (network.undeclared)
    osds: list[OsdPlan] = []
    files = site.osd_backing == "files"
    devices = [f"file:{site.osd_file_gb}G"] if files else list(ceph.devices)
    for d in osd_hosts:
        for dev in devices:
            osds.append(OsdPlan(len(osds), d.name, dev))
    # CRUSH: root -> rack -> host -> osd, racks and hosts in plan order (one pass over the OSDs: the
    # host's rack comes from a map, never a scan of the OSD hosts, which was quadratic in hosts)
    rack_of = {d.name: d.rack for d in osd_hosts}
    racks: dict[str, dict[str, list[OsdPlan]]] = {}
    for o in osds:
        racks.setdefault(rack_of[o.host], {}).setdefault(o.host, []).append(o)
    crush = CrushBucket(
        "root",
        "default",
        tuple(
            CrushBucket(
                "rack",
                rack,
                tuple(
                    CrushBucket("host", host, tuple(CrushBucket("osd", f"osd.{o.id}") for o in hosts[host]))
                    for host in hosts
                ),
            )
            for rack, hosts in racks.items()
        ),
    )
    pools = list(ceph.pools)
    # The CephFS's pools are named once, here; the roles and the verify stage read these names.
    fs = ceph.cephfs.name if ceph.cephfs is not None else None
    fs_metadata, fs_data = (f"{fs}-metadata", f"{fs}-data") if fs else (None, None)
    if fs_metadata and fs_data:
        pools.append(
            CephPool(
                name=fs_metadata,
                application="cephfs",
                target_ratio=0.05,
                size=pools[0].size if pools else 3,
                min_size=pools[0].min_size if pools else 2,
            )
        )
        pools.append(
            CephPool(
                name=fs_data,
                application="cephfs",
                target_ratio=1.0,
                size=pools[0].size if pools else 3,
                min_size=pools[0].min_size if pools else 2,
            )
        )
    total_ratio = sum(p.target_ratio for p in pools) or 1.0
    pool_plans = []
    for p in pools:
        if p.pg_num is not None:
            pg, auto = p.pg_num, False
        else:
            # Ceph's sizing rule: (OSDs x target PGs per OSD x share) / replicas, to a power of two.
            raw = len(osds) * TARGET_PGS_PER_OSD * (p.target_ratio / total_ratio) / max(p.size, 1)
            pg, auto = max(8 if shared else 32, _pow2_floor(raw)), True
            if shared:
                pg = 8  # keeps a few OSDs on one machine well under mon_max_pg_per_osd
        pool_plans.append(CephPoolPlan(p.name, p.size, p.min_size, pg, auto, p.application))
    mon_addrs = tuple(d.addresses.get(ceph.public_network, "") for d in mons)
    release = stack.versions.ceph if stack.versions.ceph in CEPH_RELEASES else "pacific"
    # The compute client's caps, least privilege: the rbd profile on each RBD pool, the CephFS by name.
    # Sources: https://docs.ceph.com/en/pacific/rbd/rados-rbd-cmds/ (Create a Block Device User),
    # https://docs.ceph.com/en/pacific/cephfs/client-auth/ (caps by file system name and data tag).
    rbd_caps = [f"profile rbd pool={p.name}" for p in pool_plans if p.application == "rbd"]
    client_caps = {
        "mon": ", ".join(["profile rbd"] + ([f"allow r fsname={fs}"] if fs else [])),
        "osd": ", ".join(rbd_caps + ([f"allow rw tag cephfs data={fs}"] if fs else [])),
        "mds": f"allow rw fsname={fs}" if fs else "",
        "mgr": ", ".join(rbd_caps),
    }
    return CephPlan(
        name=ceph.name,
        release=release,
        fsid=str(uuid.uuid5(FSID_NAMESPACE, f"{stack.name}/{ceph.name}")),
        mons=tuple(d.name for d in mons),
        mon_addresses=mon_addrs,
        mgrs=tuple(d.name for d in mgrs),
        mdss=tuple(d.name for d in mds_hosts),
        osds=tuple(osds),
        clients=tuple(d.name for d in clients),
        pools=tuple(pool_plans),
        crush=crush,
        failure_domain=ceph.failure_domain,
        public_network=str(pub_cidr),
        cluster_network=str(cl_cidr),
        public_network_name=ceph.public_network,
        cephfs_name=fs,
        cephfs_mount=ceph.cephfs.mount_path if ceph.cephfs else None,
        cephfs_metadata_pool=fs_metadata,
        cephfs_data_pool=fs_data,
        client_caps={kind: caps for kind, caps in client_caps.items() if caps},
        # Without loadable kernel modules there is no ceph.ko, only /dev/fuse: mount with ceph-fuse.
        client_mount="kernel" if site.kernel_modules else "fuse",
        osd_backing=site.osd_backing,
        shared_machine=shared,
        deployed_by=ceph_deployer(stack),
    )


def ceph_deployer(stack: Stack) -> str:
    """``"rook"`` when the stack's Kubernetes platform runs its Ceph cluster through Rook, else
    ``"hosts"``: two deployers on the same devices would each find the other's OSDs."""
    k8s = stack.platform.kubernetes if stack.platform is not None else None
    return "rook" if k8s is not None and k8s.storage == "rook" else "hosts"


HDFS_NAMENODE_RPC = 8020


def _secondary(
    hdfs: HdfsCluster, drafts: list[Draft], namenode: Draft, problems: list[Problem]
) -> Draft | None:
    """The SecondaryNameNode host: one, and not the NameNode (a checkpoint on the same host guards
    nothing)."""
    if hdfs.secondary is None:
        return None
    path = "storage.hdfs.secondary"
    found = resolve(hdfs.secondary, path, drafts, problems)
    if len(found) != 1 or found[0] is namenode:
        if found:
            why = (
                f"selects {len(found)} hosts; there is one SecondaryNameNode"
                if len(found) != 1
                else f"selects the NameNode's host {namenode.name!r}: its checkpoints would share its fate"
            )
            problems.append(
                Problem(path, why, "select one host other than the NameNode (hosts=[...])", "hdfs.secondary")
            )
        return None
    found[0].roles.add("hdfs-secondary")
    return found[0]


def plan_hdfs(
    stack: Stack, hdfs: HdfsCluster, drafts: list[Draft], problems: list[Problem]
) -> HdfsPlan | None:
    """HDFS roles, rack mapping and the properties rendered into core-site.xml and hdfs-site.xml."""
    base = "storage.hdfs"
    nn = resolve(hdfs.namenode, f"{base}.namenode", drafts, problems)
    dns = resolve(hdfs.datanodes, f"{base}.datanodes", drafts, problems)
    if len(nn) != 1:
        if nn:
            problems.append(
                Problem(
                    f"{base}.namenode",
                    f"selects {len(nn)} hosts; HDFS without HA has one NameNode",
                    "select one host (hosts=[...] or count=1)",
                    "hdfs.namenode",
                )
            )
        return None
    for d in nn:
        d.roles.add("hdfs-namenode")
    for d in dns:
        d.roles.add("hdfs-datanode")
    namenode = nn[0]
    snn = _secondary(hdfs, drafts, namenode, problems)
    addr = namenode.addresses.get(hdfs.network) or namenode.addresses.get("management", "")
    members = [namenode, *dns, *([snn] if snn else [])]
    names = {d.name: service_name(d.name, hdfs.network) for d in members}
    addresses = {d.name: ip for d in members if (ip := d.addresses.get(hdfs.network))}
    nn_name = names[namenode.name]
    rack_map: dict[str, str] = {}
    if hdfs.rack_awareness:
        # The NameNode resolves a DataNode's rack from the address it registered from (and that
        # address's name): both on the HDFS network.
        for d in dns:
            rack_map[names[d.name]] = f"/{d.rack}"
            if d.name in addresses:
                rack_map[addresses[d.name]] = f"/{d.rack}"
    data_dirs = len(hdfs.data_dirs)
    tolerated = hdfs.failed_volumes_tolerated
    core = {
        "fs.defaultFS": f"hdfs://{nn_name}:{HDFS_NAMENODE_RPC}",
        "hadoop.tmp.dir": "/var/lib/hadoop/tmp",
    }
    site = {
        "dfs.replication": str(hdfs.replication),
        "dfs.namenode.name.dir": ",".join(f"file://{p}" for p in hdfs.name_dirs),
        "dfs.datanode.data.dir": ",".join(f"file://{p}" for p in hdfs.data_dirs),
        "dfs.namenode.rpc-address": f"{nn_name}:{HDFS_NAMENODE_RPC}",
        "dfs.namenode.http-address": f"{nn_name}:9870",
        "dfs.datanode.address": "0.0.0.0:9866",
        "dfs.datanode.http.address": "0.0.0.0:9864",
        "dfs.datanode.ipc.address": "0.0.0.0:9867",
        # A DataNode keeps serving with up to this many failed data dirs (Hadoop refuses to start one
        # whose value is not below its number of dirs; its default, 0, stops it at the first failure).
        "dfs.datanode.failed.volumes.tolerated": str(data_dirs // 2 if tolerated is None else tolerated),
        # Never let a re-run reformat an existing namespace (Hadoop refuses `-format` when true).
        "dfs.reformat.disabled": "true",
        "dfs.permissions.enabled": "true",
        # DataNodes listed here are decommissioned by `hdfs dfsadmin -refreshNodes` (scale-in): their
        # blocks are re-replicated elsewhere first. The role keeps the file (empty when none is).
        "dfs.hosts.exclude": "/etc/hadoop/dfs.exclude",
    }
    if snn is not None:
        # The SecondaryNameNode's HTTP server (Hadoop 3 default port 9868), where the NameNode's
        # checkpoints are merged; it reaches the NameNode over RPC and HTTP (fsimage and edits).
        site |= {
            "dfs.namenode.secondary.http-address": f"{names[snn.name]}:{HDFS_SECONDARY_HTTP}",
            "dfs.namenode.checkpoint.dir": ",".join(f"file://{p}" for p in HDFS_CHECKPOINT_DIRS),
        }
    if hdfs.rack_awareness:
        core["net.topology.script.file.name"] = "/etc/hadoop/topology.sh"
    if hdfs.secure and hdfs.kerberos is not None:
        realm = hdfs.kerberos.realm
        kt = hdfs.kerberos.keytab_dir
        core |= {
            "hadoop.security.authentication": "kerberos",
            "hadoop.security.authorization": "true",
            "hadoop.rpc.protection": "privacy",
        }
        site |= {
            "dfs.block.access.token.enable": "true",
            "dfs.data.transfer.protection": "privacy",
            "dfs.encrypt.data.transfer": "true",
            "dfs.http.policy": "HTTPS_ONLY",
            "dfs.namenode.kerberos.principal": f"nn/_HOST@{realm}",
            "dfs.namenode.keytab.file": f"{kt}/nn.service.keytab",
            "dfs.datanode.kerberos.principal": f"dn/_HOST@{realm}",
            "dfs.datanode.keytab.file": f"{kt}/dn.service.keytab",
            "dfs.web.authentication.kerberos.principal": f"HTTP/_HOST@{realm}",
        }
    return HdfsPlan(
        name=hdfs.name,
        namenode=namenode.name,
        namenode_address=addr,
        datanodes=tuple(d.name for d in dns),
        replication=hdfs.replication,
        name_dirs=hdfs.name_dirs,
        data_dirs=hdfs.data_dirs,
        rack_awareness=hdfs.rack_awareness,
        rack_map=rack_map,
        secure=hdfs.secure,
        kerberos_realm=hdfs.kerberos.realm if hdfs.kerberos else None,
        kerberos_kdc=hdfs.kerberos.kdc if hdfs.kerberos else None,
        keytab_dir=hdfs.kerberos.keytab_dir if hdfs.kerberos else None,
        hadoop_version=hdfs.hadoop_version,
        artifact=hdfs.artifact,
        artifact_sha512=hdfs.artifact_sha512.lower() if hdfs.artifact_sha512 else None,
        core_site=core,
        hdfs_site=site,
        secondary=snn.name if snn else None,
        checkpoint_dirs=HDFS_CHECKPOINT_DIRS if snn else (),
        service_names=names,
        service_addresses=addresses,
    )
