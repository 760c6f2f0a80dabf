"""Rules on the Ceph cluster (``storage.ceph``): its networks, OSD devices, monitors, pools against
failure domains and placement groups, the CephFS mount, which hosts reach its networks, and the
releases the site can run.

Rules (``Problem.rule``): ``ceph.size``, ``ceph.min-size``, ``ceph.mons``, ``ceph.mons-rack`` (a warning:
every monitor in one rack), ``ceph.devices``,
``ceph.network``, ``ceph.pg-num``, ``ceph.pool-name``, ``ceph.mount`` (a CephFS mount path that is
not normalized, is or contains a system directory, or lies inside a system tree:
:func:`~dcinfra.plan.checks._common.system_dir_reason`), ``network.undeclared``, ``versions.ceph`` (a
release the site's hosts cannot run)

Where OSDs come from follows the site (``SiteCapabilities.osd_backing``): file-backed OSDs (one per
host, the lab) take no devices; device-backed ones need block devices. On a site whose hosts share one
machine (``shared_machine``) the fault-tolerance minimums (3 monitors, size > 1) do not apply.

Every monitor in one rack is a warning, not an error (the cluster builds and runs; one rack failure
loses the quorum). It is given only when the stack's hosts fill more than one rack and the site's
hosts are separate machines (:func:`~dcinfra.plan.checks._common.one_rack`): a one-rack site (the lab)
has nowhere to spread them. A rack holding a majority but not all of them (2 of 3 over two racks) is
not warned: with two racks some rack always holds a majority, and a third rack is a site decision.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dcinfra.catalog import CEPH_RELEASES
from dcinfra.errors import Problem
from dcinfra.plan.checks._common import (
    Ctx,
    declared,
    dup_names,
    host_dir,
    networks,
    one_rack,
    pow2,
    spread_hint,
    unattached,
)
from dcinfra.plan.hosts import Draft

__all__ = ["check_ceph"]

# Ceph refuses to create PGs beyond this many per OSD (mon_max_pg_per_osd default).
# Source: https://docs.ceph.com/en/pacific/rados/configuration/pool-pg-config-ref/
CEPH_MAX_PG_PER_OSD = 250


def check_ceph(ctx: Ctx) -> Iterator[Problem]:
    """Networks, devices, monitors, pools against failure domains, PGs, CephFS and host attachment."""
    stack = ctx.stack
    ceph = stack.storage.ceph
    if ceph is None:
        return
    base = "storage.ceph"
    nets_ok = True
    for setting, net in (("public_network", ceph.public_network), ("cluster_network", ceph.cluster_network)):
        if net is not None and not declared(stack, net):
            nets_ok = False
            yield Problem(
                f"{base}.{setting}",
                f"Ceph {setting}={net!r} but the fabric declares no {net} network",
                f"declare fabric.{net} or use a declared network: "
                f"{', '.join(n for n, *_ in networks(stack))}",
                "network.undeclared",
            )
    yield from _ceph_devices(ctx)
    mons = ctx.select(ceph.mons)
    shared = ctx.site.shared_machine
    if mons and (len(mons) % 2 == 0 or (not shared and len(mons) < 3)):
        allowed = "an odd number (1, 3 or 5) on the lab" if shared else "an odd number, at least 3 (3 or 5)"
        why = (
            "a quorum needs a majority, so an even count adds no fault tolerance"
            if len(mons) % 2 == 0
            else "fewer than 3 monitors tolerate no monitor failure"
        )
        yield Problem(
            f"{base}.mons",
            f"{len(mons)} monitor(s): {why}",
            f"use {allowed}: set mons.count",
            "ceph.mons",
        )
    yield from _mons_rack(ctx, mons)
    osd_hosts = ctx.select(ceph.osds)
    per_host = 1 if ctx.site.osd_backing == "files" else len(set(ceph.devices))
    if osd_hosts and per_host:
        yield from _ceph_pool_sizes(ctx, osd_hosts, per_host)
    yield from _ceph_pools(ctx)
    if ceph.cephfs is not None:
        bad = host_dir(
            f"{base}.cephfs.mount_path",
            ceph.cephfs.mount_path,
            "CephFS mount path",
            f"/mnt/{ceph.cephfs.name}",
            "ceph.mount",
        )
        if bad is not None:
            yield bad
    if nets_ok:
        yield from _ceph_attachment(ctx, mons, osd_hosts)
    releases = ctx.site.ceph_releases
    if releases and stack.versions.ceph not in releases and stack.versions.ceph in CEPH_RELEASES:
        yield Problem(
            "versions.ceph",
            f"Ceph release {stack.versions.ceph!r} on the lab; lab nodes run Debian "
            "12, which ships Ceph 16.2 (pacific)",
            f"set versions.ceph={releases[0]!r}",
            "versions.ceph",
        )


def _ceph_devices(ctx: Ctx) -> Iterator[Problem]:
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    path = "storage.ceph.devices"
    if ctx.site.osd_backing == "files":
        if ceph.devices:
            yield Problem(
                path,
                f"devices={list(ceph.devices)!r} on a lab site would be ignored: lab OSDs are "
                "file-backed (LabSite.osd_size_gb)",
                "remove devices",
                "ceph.devices",
            )
        return
    if not ceph.devices:
        yield Problem(
            path,
            "OSD hosts have no devices (devices=[]): a bare-metal Ceph cluster would have no OSDs",
            "list the block devices of each OSD host, e.g. devices=['/dev/nvme1n1']",
            "ceph.devices",
        )
    for j, dev in enumerate(ceph.devices):
        if not dev.startswith("/dev/") or dev == "/dev/":
            yield Problem(
                f"{path}[{j}]",
                f"device {dev!r} is not a block device path",
                "use a path under /dev, e.g. '/dev/nvme1n1' or '/dev/disk/by-id/...'",
                "ceph.devices",
            )
    yield from dup_names(ceph.devices, lambda j: f"{path}[{j}]", "device", "ceph.devices")


def _ceph_pool_sizes(ctx: Ctx, osd_hosts: Sequence[Draft], per_host: int) -> Iterator[Problem]:
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    unit = ceph.failure_domain
    domains = len({d.name for d in osd_hosts}) if unit == "host" else len({d.rack for d in osd_hosts})
    fix = (
        "add OSD hosts"
        if unit == "host"
        else "spread OSD hosts over more racks, or use failure_domain='host'"
    )
    sizes = [(f"storage.ceph.pools[{i}].size", p.name, p.size) for i, p in enumerate(ceph.pools)]
    if ceph.cephfs is not None and not ceph.pools:  # CephFS pools default to size 3
        sizes.append(("storage.ceph.cephfs", f"{ceph.cephfs.name}-data", 3))
    for path, name, size in sizes:
        if size > domains:
            yield Problem(
                path,
                f"pool {name!r} size={size} but the OSDs span only {domains} {unit}(s) "
                f"(failure_domain={unit!r}): PGs stay undersized",
                f"lower size to {domains} or {fix}"
                if domains >= 2
                else f"{fix} (size={size} needs {size} {unit}s)",
                "ceph.size",
            )
        elif size == 1 and not ctx.site.shared_machine:
            yield Problem(
                path,
                f"pool {name!r} size=1 keeps a single copy; Ceph refuses it unless "
                "mon_allow_pool_size_one is set",
                "use size=3 (2 at the very least)",
                "ceph.size",
            )
    explicit = [(i, p) for i, p in enumerate(ceph.pools) if p.pg_num is not None]
    osds = len(osd_hosts) * per_host
    load = sum((p.pg_num or 0) * p.size for _, p in explicit)
    if explicit and load / osds > CEPH_MAX_PG_PER_OSD:
        i, p = max(explicit, key=lambda ip: (ip[1].pg_num or 0) * ip[1].size)
        yield Problem(
            f"storage.ceph.pools[{i}].pg_num",
            f"pg_num={p.pg_num} (with the other fixed pg_num pools: "
            f"{load} PG replicas over {osds} OSDs = {load // osds} per OSD) exceeds Ceph's "
            f"mon_max_pg_per_osd={CEPH_MAX_PG_PER_OSD}",
            "lower pg_num or leave it None for the autoscaler",
            "ceph.pg-num",
        )


def _mons_rack(ctx: Ctx, mons: Sequence[Draft]) -> Iterator[Problem]:
    """A warning when every monitor is in one rack (while the stack's hosts fill more than one)."""
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    found = one_rack(ctx, mons)
    if found is None:
        return
    rack, used = found
    names = ", ".join(d.name for d in mons)
    yield Problem(
        "storage.ceph.mons",
        f"all {len(mons)} Ceph monitors are in rack {rack!r} ({names}), one of the {used} racks the "
        "stack's hosts fill: a failure of that one rack loses the monitor quorum, and the cluster stops "
        "serving I/O",
        spread_hint(ctx, "monitors", "storage.ceph.mons", mons),
        "ceph.mons-rack",
        "warning",
    )


def _ceph_pools(ctx: Ctx) -> Iterator[Problem]:
    ceph = ctx.stack.storage.ceph
    assert ceph is not None
    for i, p in enumerate(ceph.pools):
        path = f"storage.ceph.pools[{i}]"
        if p.min_size > p.size:
            yield Problem(
                f"{path}.min_size",
                f"pool {p.name!r} min_size={p.min_size} > size={p.size}: I/O would never be allowed",
                "use min_size <= size; size=3 with min_size=2 is the usual pair",
                "ceph.min-size",
            )
        elif p.min_size == 1 and p.size > 1:
            yield Problem(
                f"{path}.min_size",
                f"pool {p.name!r} min_size=1 with size={p.size} accepts writes to "
                "a single copy: one more failure loses data",
                f"use min_size={max(2, p.size - 1)}",
                "ceph.min-size",
            )
        if p.pg_num is not None and not pow2(p.pg_num):
            below = 1 << (p.pg_num.bit_length() - 1)
            yield Problem(
                f"{path}.pg_num",
                f"pool {p.name!r} pg_num={p.pg_num} is not a power of two (uneven PG sizes)",
                f"use {below} or {below * 2}, or None for the autoscaler",
                "ceph.pg-num",
            )
    yield from dup_names(
        (p.name for p in ceph.pools), lambda i: f"storage.ceph.pools[{i}].name", "Ceph pool", "ceph.pool-name"
    )
    if ceph.cephfs is not None:
        reserved = {f"{ceph.cephfs.name}-metadata", f"{ceph.cephfs.name}-data"}
        for i, p in enumerate(ceph.pools):
            if p.name in reserved:
                yield Problem(
                    f"storage.ceph.pools[{i}].name",
                    f"pool name {p.name!r} is one of the pools CephFS {ceph.cephfs.name!r} creates",
                    "rename the pool (CephFS pools are added automatically)",
                    "ceph.pool-name",
                )


def _ceph_attachment(ctx: Ctx, mons: Sequence[Draft], osd_hosts: Sequence[Draft]) -> Iterator[Problem]:
    stack = ctx.stack
    ceph = stack.storage.ceph
    assert ceph is not None
    pub = ceph.public_network
    base = "storage.ceph"
    # Managers default to the monitor hosts and MDS daemons to the managers: checked with the monitors.
    daemons: list[tuple[str, str, Sequence[Draft]]] = [(f"{base}.mons", "ceph-mon hosts", mons)]
    if ceph.mgrs is not None:
        daemons.append((f"{base}.mgrs", "ceph-mgr hosts", ctx.select(ceph.mgrs)))
    daemons.append((f"{base}.osds", "ceph-osd hosts", osd_hosts))
    if ceph.cephfs is not None and ceph.cephfs.mds is not None:
        daemons.append((f"{base}.cephfs.mds", "ceph-mds hosts", ctx.select(ceph.cephfs.mds)))
    if ceph.clients is not None:
        daemons.append((f"{base}.clients", "Ceph clients", ctx.select(ceph.clients)))
    else:
        clients = [d for d in ctx.drafts if "compute" in d.roles]
        daemons.append((f"{base}.public_network", "Ceph clients (every compute host)", clients))
    for path, what, hosts in daemons:
        yield from unattached(stack, hosts, pub, path, what, "public_network", "ceph.network")
    if ceph.cluster_network not in (None, pub):
        assert ceph.cluster_network is not None
        yield from unattached(
            stack,
            osd_hosts,
            ceph.cluster_network,
            f"{base}.cluster_network",
            "ceph-osd hosts",
            "cluster_network",
            "ceph.network",
        )
