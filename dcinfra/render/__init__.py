"""Render: Plan -> files. Every file dcinfra deploys, plus review artifacts, as ``path -> bytes``.

:func:`render` is pure and deterministic (no I/O, no clocks; sorted keys everywhere), so
``dcinfra preview`` can diff two renders without touching a host and GitOps repos can review them.
:func:`write_tree` is the only function here with side effects.

Layout of a render (paths relative to the build dir)::

    inventory/hosts.yml              Ansible inventory: all hosts (ansible_host = management address),
                                     groups per role (ceph-mon -> ceph_mon), pool (pool_<name>) and
                                     rack (rack_<name>)
    inventory/group_vars/all.yml     stack-wide dcinfra_* variables (versions, networks, ssh, ceph, ...)
    inventory/host_vars/<host>.yml   the host's plan (addresses, interfaces, rails, roles, nccl_env, ...)
    files/_all/<abs path>            deployed to EVERY host (the Plan defines its content once per stack:
                                     /etc/hosts, the sshd drop-in)
    files/<host>/<abs path>          deployed to that host only; a path present in both places is taken
                                     from files/<host>/ (host overrides _all)
    cabling.csv                      tier,a_end,b_end: every compute-fabric cable (absent without a fabric)
    topology.svg                     picture of the compute fabric (a note when there is none)
    opensm/partitions.conf           one InfiniBand partition per tenant, for the subnet manager (only
                                     with tenant isolation on an InfiniBand fabric)
    plan.json                        the compiled plan (without the cabling list, which is cabling.csv)

Host files come from a registry, one render module per layer: ``HOST_FILES`` in
:mod:`dcinfra.render.hostfiles` lists ``(layer, files)`` pairs, each ``files(plan) -> dict[str, bytes]``
keyed by build-dir path (:mod:`dcinfra.render.layout` builds the paths), and ``render`` takes their
union (a path written by two layers is an error). Today's layers::

    access     files/_all/etc/hosts, files/_all/etc/ssh/sshd_config.d/10-dcinfra.conf (every host)
    firewall   files/<host>/etc/nftables.conf (every host: its firewall ruleset)
    compute    files/<host>/etc/nccl.conf (compute hosts)
    ceph       files/<host>/etc/ceph/<cluster>.conf (Ceph daemons and clients, when the hosts run Ceph)
    hdfs       files/<host>/etc/hadoop/{core-site.xml,hdfs-site.xml,workers,topology.map,topology.sh}
               (HDFS hosts; the topology pair only with rack awareness)

A new layer adds ``dcinfra/render/<layer>.py`` with ``files(plan)``, its templates under
``dcinfra/templates/<layer>/`` and one entry in ``HOST_FILES``. Identical contents share one ``bytes``
object across hosts, so large plans stay cheap. Roles copy ``files/_all/`` and then ``files/<host>/``
onto the host's ``/``; file modes are the roles' business (``write_tree`` marks ``#!`` scripts
executable for review). The inventory (:mod:`dcinfra.render.inventory`) and the review artifacts
(``cabling.csv``, ``topology.svg``, ``plan.json``) are rendered here directly.

Templates are in ``dcinfra/templates/<layer>/``, named by their path below ``dcinfra/templates/``
(``render_template("firewall/nftables.conf.j2", ctx)``), and render with ``StrictUndefined``: a missing
variable raises :class:`~dcinfra.errors.RenderError` naming the template and the variable.
"""

from __future__ import annotations

import csv
import io
import json

from dcinfra.errors import RenderError
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.render.engine import render_template
from dcinfra.render.hostfiles import ALL, render_host_files
from dcinfra.render.inventory import render_inventory
from dcinfra.render.partitions import PATH as PARTITIONS_PATH
from dcinfra.render.partitions import partitions_conf
from dcinfra.render.topology import topology_svg
from dcinfra.render.tree import MANIFEST, read_manifest, write_tree

__all__ = [
    "ALL",
    "MANIFEST",
    "RenderError",
    "cabling_csv",
    "plan_json",
    "read_manifest",
    "render",
    "render_template",
    "write_tree",
]


def cabling_csv(plan: Plan) -> bytes | None:
    """``cabling.csv``: one row per cable of the compute fabric; None without a fabric."""
    if plan.fabric is None:
        return None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["tier", "a_end", "b_end"])
    writer.writerows((c.tier, c.a, c.b) for c in plan.fabric.cabling)
    return buf.getvalue().encode()


def plan_json(plan: Plan) -> bytes:
    """``plan.json``: the plan as JSON with sorted keys."""
    return (json.dumps(to_jsonable(plan), indent=2, sort_keys=True) + "\n").encode()


def render(plan: Plan) -> dict[str, bytes]:
    """Every file of ``plan``, keyed by relative POSIX path, in sorted order.

    Raises :class:`RenderError` when a template cannot be rendered, or when the plan is inconsistent
    (a host's firewall ruleset or a Ceph failure domain the renderer does not know, or two layers in
    ``HOST_FILES`` writing one path).
    """
    files: dict[str, bytes] = {}
    try:
        files.update(render_inventory(plan))
        files.update(render_host_files(plan))
    except (ValueError, KeyError) as exc:
        raise RenderError(f"stack {plan.stack!r}: cannot render the plan: {exc}") from None
    cabling = cabling_csv(plan)
    if cabling is not None:
        files["cabling.csv"] = cabling
    partitions = partitions_conf(plan)
    if partitions is not None:
        files[PARTITIONS_PATH] = partitions
    files["topology.svg"] = topology_svg(plan)
    files["plan.json"] = plan_json(plan)
    return dict(sorted(files.items()))
