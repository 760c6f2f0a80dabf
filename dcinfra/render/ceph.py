"""Ceph layer: ``/etc/ceph/<cluster>.conf`` on every Ceph daemon and client host
(``files/<host>/etc/ceph/<cluster>.conf``), when the hosts run Ceph (``deployed_by == "hosts"``; Rook
writes its own config).

The file is cluster identity and monitors only, never a key; every Ceph host shares one ``bytes``
object. Templates: ``dcinfra/templates/ceph/``.
"""

from __future__ import annotations

from dcinfra.plan.types import CephPlan, Plan
from dcinfra.render.engine import render_template
from dcinfra.render.layout import host_path

# Default CRUSH type map ids (osd 0, host 1, chassis 2, rack 3).
CRUSH_TYPE_IDS = {"osd": 0, "host": 1, "chassis": 2, "rack": 3, "row": 4, "pdu": 5, "pod": 6, "room": 7}


def ceph_conf(plan: Plan, ceph: CephPlan) -> bytes:
    """``/etc/ceph/<cluster>.conf``: cluster identity and monitors; never a key."""
    if ceph.failure_domain not in CRUSH_TYPE_IDS:
        raise ValueError(f"ceph failure domain {ceph.failure_domain!r} is not a default CRUSH type")
    mon_host = ",".join(f"[v2:{ip}:3300,v1:{ip}:6789]" for ip in ceph.mon_addresses)
    # The plan has no cluster-wide default; the strictest pool sets it so new pools are never weaker.
    sizes = [p.size for p in ceph.pools] or [3]
    min_sizes = [p.min_size for p in ceph.pools] or [2]
    ctx = {
        "stack": plan.stack,
        "ceph": ceph,
        "mon_host": mon_host,
        "default_size": max(sizes),
        "default_min_size": max(min_sizes),
        "chooseleaf_type": CRUSH_TYPE_IDS[ceph.failure_domain],
    }
    return render_template("ceph/ceph.conf.j2", ctx).encode()


def files(plan: Plan) -> dict[str, bytes]:
    """``files/<host>/etc/ceph/<cluster>.conf`` for every mon, mgr, mds, OSD and client host."""
    ceph = plan.ceph
    if ceph is None or ceph.deployed_by != "hosts":  # Rook writes its own config
        return {}
    members = {*ceph.mons, *ceph.mgrs, *ceph.mdss, *ceph.clients, *(o.host for o in ceph.osds)}
    content = ceph_conf(plan, ceph)
    path = f"etc/ceph/{ceph.name}.conf"
    return {host_path(h.name, path): content for h in plan.hosts if h.name in members}
