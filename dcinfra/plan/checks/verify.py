"""Rules on the verify stage's settings (``verify``): the collective sweep's largest message and the
rendezvous port, which must be free on every compute host.

Rules (``Problem.rule``): ``verify.max-message``, ``verify.port``
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dcinfra.errors import Problem
from dcinfra.plan import platform, storage
from dcinfra.plan import verify as verify_plan
from dcinfra.plan.checks._common import Ctx, pow2
from dcinfra.plan.hosts import Draft

__all__ = ["check_verify"]

# Ports that services of the stack hold on hosts: the ones the layers' flows declare.
IPERF3_PORT = int(verify_plan.IPERF3_PORT)
CEPH_MON_PORTS = tuple(int(p) for p in storage.CEPH_MON_PORTS)
CEPH_DAEMON_RANGE = (
    int(storage.CEPH_DAEMON_PORTS[0].split("-")[0]),
    int(storage.CEPH_DAEMON_PORTS[0].split("-")[1]),
)
HDFS_NAMENODE_PORTS = tuple(int(p) for p in storage.HDFS_NAMENODE_PORTS)
HDFS_DATANODE_PORTS = tuple(int(p) for p in storage.HDFS_DATANODE_PORTS)
K8S_API_PORT = int(platform.K8S_API_PORT)
KUBELET_PORT = int(platform.KUBELET_PORT)


def check_verify(ctx: Ctx) -> Iterator[Problem]:
    """The collective sweep's largest message and the rendezvous port."""
    stack = ctx.stack
    v = stack.verify
    if not pow2(v.max_message_mb):
        below = 1 << (v.max_message_mb.bit_length() - 1)
        yield Problem(
            "verify.max_message_mb",
            f"max_message_mb={v.max_message_mb} is not a power of two: the "
            "sweep doubles from 1 KiB and would never reach it",
            f"use {below} or {below * 2}",
            "verify.max-message",
        )
    taken = _ports_on_compute(ctx)
    port = v.rendezvous_port
    for lo, hi, owner in taken:
        if lo <= port <= hi:
            yield Problem(
                "verify.rendezvous_port",
                f"rendezvous_port={port} is taken by {owner} on the compute hosts",
                "pick a free port, e.g. the default 29500",
                "verify.port",
            )
            break


def _ports_on_compute(ctx: Ctx) -> list[tuple[int, int, str]]:
    """Port ranges that services hold on at least one compute host."""
    stack = ctx.stack
    ssh = ctx.site.ssh_port
    taken = [(ssh, ssh, "sshd"), (IPERF3_PORT, IPERF3_PORT, "iperf3 (the link check)")]
    needs_drafts = (
        stack.storage.ceph is not None
        or stack.storage.hdfs is not None
        or (stack.platform is not None and stack.platform.kubernetes is not None)
    )
    if not needs_drafts:
        return taken
    compute = {d.name for d in ctx.drafts if "compute" in d.roles}

    def on_compute(hosts: Sequence[Draft]) -> bool:
        return any(d.name in compute for d in hosts)

    ceph = stack.storage.ceph
    if ceph is not None:
        mons = ctx.select(ceph.mons)
        daemons = [*mons, *ctx.select(ceph.osds), *(ctx.select(ceph.mgrs) if ceph.mgrs else [])]
        if ceph.cephfs is not None and ceph.cephfs.mds is not None:
            daemons.extend(ctx.select(ceph.cephfs.mds))
        if on_compute(mons):
            taken.extend((p, p, "ceph-mon") for p in CEPH_MON_PORTS)
        if on_compute(daemons):
            taken.append((*CEPH_DAEMON_RANGE, "Ceph OSD/MGR/MDS daemons"))
    hdfs = stack.storage.hdfs
    if hdfs is not None:
        if on_compute(ctx.select(hdfs.namenode)):
            taken.extend((p, p, "the HDFS NameNode") for p in HDFS_NAMENODE_PORTS)
        if on_compute(ctx.select(hdfs.datanodes)):
            taken.extend((p, p, "HDFS DataNodes") for p in HDFS_DATANODE_PORTS)
    k8s = stack.platform.kubernetes if stack.platform else None
    if k8s is not None and k8s.control_plane is not None:
        taken.append((KUBELET_PORT, KUBELET_PORT, "the kubelet"))
        if on_compute(ctx.select(k8s.control_plane)):
            taken.append((K8S_API_PORT, K8S_API_PORT, "kube-apiserver"))
    return taken
