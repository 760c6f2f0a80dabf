"""Rules on the HDFS cluster (``storage.hdfs``): replication against datanodes, rack awareness,
Kerberos, its network and which hosts reach it, its directories, and the Hadoop release artifact.

Rules (``Problem.rule``): ``hdfs.replication``, ``hdfs.rack-awareness``, ``hdfs.kerberos`` (also a
keytab_dir that is not normalized, is a system directory, or lies inside /proc, /sys, /dev, /run or
/boot), ``hdfs.network``, ``hdfs.dirs`` (empty, overlapping, or a directory the role may not own:
not normalized, a system directory, or inside a system tree, /etc and /var/tmp included:
:func:`~dcinfra.plan.checks._common.system_dir_reason`), ``hdfs.artifact``, ``network.undeclared``
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

from dcinfra.errors import Problem
from dcinfra.plan.checks._common import Ctx, declared, host_dir, networks, unattached

__all__ = ["check_hdfs"]


def check_hdfs(ctx: Ctx) -> Iterator[Problem]:
    """Replication vs datanodes, rack awareness, Kerberos, the network, and directories."""
    stack = ctx.stack
    hdfs = stack.storage.hdfs
    if hdfs is None:
        return
    base = "storage.hdfs"
    datanodes = ctx.select(hdfs.datanodes)
    if datanodes and hdfs.replication > len(datanodes):
        yield Problem(
            f"{base}.replication",
            f"replication={hdfs.replication} but only {len(datanodes)} "
            "datanode(s): every block stays under-replicated",
            f"use replication <= {len(datanodes)} or add datanodes",
            "hdfs.replication",
        )
    racks = sorted({d.rack for d in datanodes})
    if len(racks) > 1 and not hdfs.rack_awareness:
        yield Problem(
            f"{base}.rack_awareness",
            f"datanodes span {len(racks)} racks ({', '.join(racks)}) but "
            "rack_awareness=False: all replicas of a block may land in one rack",
            "set rack_awareness=True",
            "hdfs.rack-awareness",
        )
    if hdfs.secure and hdfs.kerberos is None:
        yield Problem(
            f"{base}.kerberos",
            "secure=True without Kerberos settings (kerberos=None)",
            "set kerberos=Kerberos(realm='DC.EXAMPLE.COM', kdc='kdc.dc.example.com') or secure=False",
            "hdfs.kerberos",
        )
    elif hdfs.kerberos is not None and not hdfs.secure:
        yield Problem(
            f"{base}.kerberos",
            "Kerberos settings with secure=False are ignored: HDFS runs unauthenticated",
            "set secure=True or remove kerberos",
            "hdfs.kerberos",
        )
    if hdfs.kerberos is not None:
        # Keytabs are configuration: /etc/security/keytabs is where they belong (data=False).
        bad = host_dir(
            f"{base}.kerberos.keytab_dir",
            hdfs.kerberos.keytab_dir,
            "keytab_dir",
            "/etc/security/keytabs",
            "hdfs.kerberos",
            data=False,
        )
        if bad is not None:
            yield bad
    if not declared(stack, hdfs.network):
        yield Problem(
            f"{base}.network",
            f"HDFS network={hdfs.network!r} but the fabric declares no {hdfs.network} network",
            f"declare fabric.{hdfs.network} or use a declared network: "
            f"{', '.join(n for n, *_ in networks(stack))}",
            "network.undeclared",
        )
    else:
        namenode = ctx.select(hdfs.namenode)
        clients = [d for d in ctx.drafts if "compute" in d.roles]
        secondary = ctx.select(hdfs.secondary) if hdfs.secondary else []
        for path, what, hosts in (
            (f"{base}.namenode", "the NameNode host", namenode),
            (f"{base}.secondary", "the SecondaryNameNode host", secondary),
            (f"{base}.datanodes", "datanode hosts", datanodes),
            (f"{base}.network", "HDFS clients (every compute host)", clients),
        ):
            yield from unattached(stack, hosts, hdfs.network, path, what, "network", "hdfs.network")
    yield from _hdfs_dirs(hdfs.name_dirs, hdfs.data_dirs)
    tolerated = hdfs.failed_volumes_tolerated
    if tolerated is not None and hdfs.data_dirs and tolerated >= len(hdfs.data_dirs):
        yield Problem(
            f"{base}.failed_volumes_tolerated",
            f"failed_volumes_tolerated={tolerated} but each DataNode has {len(hdfs.data_dirs)} data "
            "dir(s): Hadoop refuses to start a DataNode that tolerates losing all of them",
            f"use 0 to {len(hdfs.data_dirs) - 1}, or leave it unset "
            f"({len(hdfs.data_dirs) // 2}: half of the data dirs)",
            "hdfs.dirs",
        )
    yield from _hdfs_artifact(hdfs.artifact, hdfs.artifact_sha512, hdfs.hadoop_version)


def _hdfs_artifact(artifact: str | None, sha512: str | None, version: str) -> Iterator[Problem]:
    base = "storage.hdfs"
    if artifact is None and sha512 is None:
        return  # may come from the inventory (hdfs_artifact); the role names the setting if not
    if artifact is None or sha512 is None:
        missing = "artifact" if artifact is None else "artifact_sha512"
        yield Problem(
            f"{base}.{missing}",
            f"{'artifact_sha512' if artifact is None else 'artifact'} is set but {missing} is not: "
            "a Hadoop release is installed only when both are declared",
            f"set {missing} too (the SHA-512 is published as hadoop-{version}.tar.gz.sha512)",
            "hdfs.artifact",
        )
    if artifact is not None and not (
        artifact.startswith(("http://", "https://")) or PurePosixPath(artifact).is_absolute()
    ):
        yield Problem(
            f"{base}.artifact",
            f"artifact {artifact!r} is neither an http(s):// URL nor an absolute path",
            f"use e.g. 'https://downloads.apache.org/hadoop/common/hadoop-{version}/hadoop-{version}.tar.gz' "
            f"or '/srv/mirror/hadoop-{version}.tar.gz'",
            "hdfs.artifact",
        )


def _hdfs_dirs(name_dirs: Sequence[str], data_dirs: Sequence[str]) -> Iterator[Problem]:
    base = "storage.hdfs"
    paths: list[tuple[str, PurePosixPath]] = []
    for setting, dirs in (("name_dirs", name_dirs), ("data_dirs", data_dirs)):
        if not dirs:
            yield Problem(
                f"{base}.{setting}",
                f"{setting} is empty",
                "give at least one absolute directory",
                "hdfs.dirs",
            )
        what = "NameNode directory" if setting == "name_dirs" else "DataNode directory"
        for j, text in enumerate(dirs):
            # Created (chowned to hdfs, mode 0700) by the role and removed by `destroy --destroy-data`.
            bad = host_dir(f"{base}.{setting}[{j}]", text, what, f"/data/{j + 1}/hdfs", "hdfs.dirs")
            if bad is not None:
                yield bad
                continue
            paths.append((f"{base}.{setting}[{j}]", PurePosixPath(text)))
    for i, (a_path, a) in enumerate(paths):
        for b_path, b in paths[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                yield Problem(
                    b_path,
                    f"{str(b)!r} overlaps {a_path} {str(a)!r}: the NameNode and DataNodes "
                    "would share (or nest) storage directories",
                    "give every name and data dir its own directory tree",
                    "hdfs.dirs",
                )
