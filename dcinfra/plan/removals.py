"""Scale-in: which applied hosts the new plan drops, what each one holds, and what would make removing
it unsafe even with ``--allow-remove``.

Input is the last applied plan (its JSON, as ``up`` recorded it) and the new :class:`Plan`; nothing here
touches a host. ``up`` refuses every removal without ``--allow-remove`` (naming each host and what it
holds) and refuses a removal with a blocker even with it; ``preview`` shows both.

The safe order with the flag (``playbooks/scale_in.yml``): Ceph OSDs out, every PG active+clean again
(bounded), OSDs stopped and purged, the monitor removed only while the others keep quorum, the HDFS
DataNode decommissioned, the Slurm node drained, then the host deprovisioned by its site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dcinfra.plan.types import Plan


@dataclass(frozen=True, slots=True)
class Removal:
    """One applied host the new plan no longer has."""

    host: str
    osds: tuple[int, ...] = ()  # Ceph OSD ids on it (their data moves to the other OSDs first)
    mon: bool = False  # a Ceph monitor
    monitors: tuple[int, int] = (0, 0)  # Ceph monitors before and after this removal (with the others)
    daemons: tuple[str, ...] = ()  # other Ceph daemons (mgr, mds) and the CephFS client: stopped
    datanode: bool = False  # an HDFS DataNode (decommissioned first)
    slurm_node: bool = False  # a Slurm compute node (drained first)
    blockers: tuple[str, ...] = ()  # why removing it is unsafe even with --allow-remove

    @property
    def holds(self) -> list[str]:
        """What the host holds, in words (empty: nothing stateful)."""
        out = []
        if self.osds:
            ids = ", ".join(f"osd.{i}" for i in self.osds)
            out.append(f"Ceph OSD {ids} (data moved to the other OSDs, then purged)")
        if self.mon:
            before, after = self.monitors
            out.append(
                f"a Ceph monitor ({before} -> {after} monitors, quorum needs {after // 2 + 1}; removed only "
                "while the others keep quorum)"
            )
        out += [
            "a CephFS mount (unmounted)" if d == "CephFS client" else f"a Ceph {d} (stopped)"
            for d in self.daemons
        ]
        if self.datanode:
            out.append("an HDFS DataNode (decommissioned: its blocks re-replicated first)")
        if self.slurm_node:
            out.append("a Slurm compute node (drained: running jobs finish first)")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "host": self.host,
            "holds": self.holds,
            "osds": list(self.osds),
            "mon": self.mon,
            "monitors": {"before": self.monitors[0], "after": self.monitors[1]},
            "daemons": list(self.daemons),
            "datanode": self.datanode,
            "slurm_node": self.slurm_node,
            "blockers": list(self.blockers),
        }


def _names(value: Any) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list) else set()


def removals(applied: dict[str, Any], plan: Plan) -> list[Removal]:
    """The hosts of ``applied`` (a recorded plan JSON) that ``plan`` drops, in the applied order."""
    keep = {h.name for h in plan.hosts}
    hosts = [h for h in applied.get("hosts", []) if isinstance(h, dict) and h.get("name") not in keep]
    if not hosts:
        return []
    storage = applied.get("storage") or {}
    ceph = storage.get("ceph") or {}
    datanodes = _names((storage.get("hdfs") or {}).get("datanodes"))
    slurm = applied.get("slurm") or {}
    old_mons = _names(ceph.get("mons"))
    gone = {str(h["name"]) for h in hosts}
    out = []
    for h in hosts:
        name = str(h["name"])
        roles = _names(h.get("roles"))
        osds = tuple(
            sorted(
                int(o["id"]) for o in ceph.get("osds", []) if isinstance(o, dict) and o.get("host") == name
            )
        )
        daemons = tuple(
            d
            for d, key in (("manager", "mgrs"), ("metadata server", "mdss"), ("CephFS client", "clients"))
            if name in _names(ceph.get(key))
        )
        blockers = []
        mon = name in old_mons
        if mon and len(old_mons - gone) <= len(old_mons) // 2:
            blockers.append(
                f"it runs Ceph monitor {name}: removing {len(old_mons & gone)} of {len(old_mons)} monitors "
                "at once loses quorum; remove fewer hosts per `up`, or move the monitors first (Placement of "
                "storage.ceph.mons)"
            )
        if name in _names(slurm.get("controllers")) or name == slurm.get("database_host"):
            blockers.append(
                "it runs the Slurm controller or its accounting database; move them first "
                "(scheduler.controller / scheduler.accounting.database) and apply, then remove the host"
            )
        if "hdfs-namenode" in roles:
            blockers.append("it runs the HDFS NameNode; move it first (storage.hdfs.namenode) and apply")
        out.append(
            Removal(
                host=name,
                osds=osds,
                mon=mon,
                monitors=(len(old_mons), len(old_mons - gone)),
                daemons=daemons,
                datanode="hdfs-datanode" in roles or name in datanodes,
                slurm_node="slurm-compute" in roles,
                blockers=tuple(blockers),
            )
        )
    return out
