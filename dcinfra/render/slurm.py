"""Slurm layer: ``/etc/slurm/{slurm.conf,gres.conf,cgroup.conf,topology.conf}`` on every Slurm host,
``/etc/slurm/slurmdbd.conf`` (without its StoragePass) on the accounting host, and
``/etc/dcinfra/slurm-health.json`` (what the node health check expects) on every compute host.

Node and partition lines use Slurm hostlist expressions (``gpu-[001-032]``) and group identical nodes,
so slurm.conf stays readable at thousands of nodes. cgroup.conf confines jobs only where the site can
create cgroups (``SlurmPlan.cgroups``): elsewhere slurm.conf uses no cgroup plugin for jobs. Templates:
``dcinfra/templates/slurm/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from dcinfra.plan.types import HostPlan, Plan, SlurmNode, SlurmPlan
from dcinfra.render.engine import managed_by, render_template
from dcinfra.render.layout import host_path

SLURM_CONF = "etc/slurm"
HEALTH_JSON = "etc/dcinfra/slurm-health.json"
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _grouped(names: Iterable[str]) -> list[tuple[str, int, list[int]] | str]:
    """Names by (prefix, digit width) in order of first appearance, numbers sorted; others as is."""
    groups: dict[tuple[str, int], list[int]] = {}
    order: list[tuple[str, int] | str] = []
    for name in names:
        m = _NUMBERED.match(name)
        if m is None:
            order.append(name)
            continue
        key = (m.group(1), len(m.group(2)))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(m.group(2)))
    return [item if isinstance(item, str) else (*item, sorted(set(groups[item]))) for item in order]


def expansion(names: Iterable[str]) -> list[str]:
    """``names`` in the order Slurm expands :func:`hostlist` of them."""
    out: list[str] = []
    for item in _grouped(names):
        if isinstance(item, str):
            out.append(item)
        else:
            prefix, width, nums = item
            out.extend(f"{prefix}{n:0{width}d}" for n in nums)
    return out


def hostlist(names: Iterable[str]) -> str:
    """A Slurm hostlist expression of ``names``: ``a-001,a-002,a-003,b-1`` -> ``a-[001-003],b-1``.

    Names sharing a prefix and a zero-padded width are compressed into ranges, in the given order of
    first appearance; anything else is listed as is. ``scontrol show hostnames`` expands it back.
    """
    out: list[str] = []
    for item in _grouped(names):
        if isinstance(item, str):
            out.append(item)
            continue
        prefix, width, nums = item
        if len(nums) == 1:
            out.append(f"{prefix}{nums[0]:0{width}d}")
            continue
        ranges: list[str] = []
        start = prev = nums[0]
        for n in [*nums[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            ranges.append(f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}")
            if n is not None:
                start = prev = n
        out.append(f"{prefix}[{','.join(ranges)}]")
    return ",".join(out)


def _gres(node: SlurmNode) -> str:
    return f"gpu:{node.gpu_type}:{node.gpus}" if node.gpus else ""


def _node_lines(nodes: Sequence[SlurmNode]) -> list[dict[str, Any]]:
    """Identical nodes share one line; NodeAddr lists each node's address in the same order."""
    groups: dict[tuple[Any, ...], list[SlurmNode]] = {}
    by_name = {n.name: n for n in nodes}
    for n in nodes:
        key = (n.sockets, n.cores_per_socket, n.threads_per_core, n.real_memory_mb, _gres(n), n.features)
        groups.setdefault(key, []).append(n)
    lines = []
    for (sockets, cps, tpc, mem, gres, features), members in groups.items():
        lines.append(
            {
                # Slurm pairs NodeAddr's list with NodeName's expansion, in order.
                "names": hostlist(m.name for m in members),
                "addresses": ",".join(by_name[n].address for n in expansion(m.name for m in members)),
                "sockets": sockets,
                "cores_per_socket": cps,
                "threads_per_core": tpc,
                "real_memory_mb": mem,
                "gres": gres,
                "features": ",".join(features),
            }
        )
    return lines


def _partitions(s: SlurmPlan) -> list[dict[str, Any]]:
    by_name = {n.name: n for n in s.nodes}
    out = []
    for p in s.partitions:
        cpus = [
            by_name[n].sockets * by_name[n].cores_per_socket * by_name[n].threads_per_core for n in p.nodes
        ]
        mems = [by_name[n].real_memory_mb for n in p.nodes]
        # A job that gives no --mem gets its CPUs' share of the smallest node's memory (without it,
        # cons_tres with CR_Core_Memory gives such a job the whole node's memory).
        per_cpu = min(m // c for m, c in zip(mems, cpus, strict=True)) if p.nodes else 1
        out.append(
            {
                "name": p.name,
                "nodes": hostlist(p.nodes),
                "default": p.default,
                "max_time": p.max_time,
                "def_mem_per_cpu": per_cpu,
                "accounts": ",".join(p.accounts),
            }
        )
    return out


def _gres_lines(s: SlurmPlan) -> list[str]:
    groups: dict[tuple[Any, ...], list[str]] = {}
    for n in s.nodes:
        if n.gpus:
            groups.setdefault((n.gpu_type, n.gpus, n.gpu_files, n.standin), []).append(n.name)
    lines = []
    for (gpu_type, count, files, standin), names in groups.items():
        nodes = hostlist(names)
        if standin:
            lines.append(
                f"# Stand-ins: {count} GPUs per node for scheduling only (this site has no GPUs); their "
                "files are null devices"
            )
        lines.extend(
            f"NodeName={nodes} Name=gpu Type={gpu_type} File={f}" + (f" Cores={c}" if c else "")
            for f, c in files
        )
    return lines


def slurm_conf(plan: Plan, s: SlurmPlan) -> str:
    """slurm.conf: controllers, plugins, priority, accounting, health check, nodes, partitions."""
    ctx = {
        "stack": plan.stack,
        "s": s,
        "controllers": list(zip(s.controllers, s.controller_addresses, strict=True)),
        "node_count": len(s.nodes),
        "node_lines": _node_lines(s.nodes),
        "partitions": _partitions(s),
    }
    return render_template("slurm/slurm.conf.j2", ctx)


def health_config(plan: Plan, node: SlurmNode, host: HostPlan) -> dict[str, Any]:
    """What the node health check expects on ``node`` (planned as ``host``): the declared hardware,
    mounts and daemons."""
    s = plan.slurm
    assert s is not None
    mounts = []
    daemons = ["munged", "slurmd"]
    ceph = plan.ceph
    if ceph is not None and ceph.cephfs_mount and "ceph-client" in host.roles:
        fuse = ceph.client_mount == "fuse"
        mounts.append({"path": ceph.cephfs_mount, "fstype": "fuse.ceph-fuse" if fuse else "ceph"})
        if fuse:
            daemons.append("ceph-fuse")
    return {
        "node": node.name,
        "gpus": 0 if node.standin else node.gpus,
        "rdma": [r.hca for r in host.rails if r.hca],
        "mounts": mounts,
        "daemons": daemons,
        "paths": [p for p in (s.prolog, s.epilog) if p],
        "timeout_s": s.health_check_timeout_s,
    }


def files(plan: Plan) -> dict[str, bytes]:
    """Every Slurm host's ``etc/slurm/*``, the accounting host's slurmdbd.conf, the health configs."""
    s = plan.slurm
    if s is None:
        return {}
    shared: dict[str, bytes] = {f"{SLURM_CONF}/slurm.conf": slurm_conf(plan, s).encode()}
    ctx = {"stack": plan.stack, "cluster_name": s.cluster_name}
    shared[f"{SLURM_CONF}/gres.conf"] = render_template(
        "slurm/gres.conf.j2", {**ctx, "lines": _gres_lines(s)}
    ).encode()
    # slurmd 22.05 loads its cgroup plugin even without cgroup confinement, and autodetect fails where
    # no cgroup tree is mounted (lab nodes): always written, confining only where the site can.
    shared[f"{SLURM_CONF}/cgroup.conf"] = render_template(
        "slurm/cgroup.conf.j2", {**ctx, "confine": s.cgroups}
    ).encode()
    if s.topology:
        switches = [
            {"name": sw.name, "nodes": hostlist(sw.nodes), "switches": ",".join(sw.switches)}
            for sw in s.topology
        ]
        shared[f"{SLURM_CONF}/topology.conf"] = render_template(
            "slurm/topology.conf.j2", {**ctx, "switches": switches}
        ).encode()
    members = {*s.controllers, *(n.name for n in s.nodes)}
    if s.database_host:
        members.add(s.database_host)
    out: dict[str, bytes] = {}
    for h in plan.hosts:
        if h.name in members:
            out.update({host_path(h.name, path): content for path, content in shared.items()})
    if s.database_host is not None:
        dbd = render_template(
            "slurm/slurmdbd.conf.j2",
            {**ctx, "host": s.database_host, "address": s.database_address, "port": s.ports["slurmdbd"]},
        )
        out[host_path(s.database_host, f"{SLURM_CONF}/slurmdbd.conf")] = dbd.encode()
    header = managed_by(plan.stack, "")
    hosts = {h.name: h for h in plan.hosts}
    for node in s.nodes:
        doc = {"_comment": header, **health_config(plan, node, hosts[node.name])}
        out[host_path(node.name, HEALTH_JSON)] = (
            json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        ).encode()
    return out
