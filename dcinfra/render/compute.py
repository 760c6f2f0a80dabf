"""Compute layer: ``/etc/nccl.conf`` on every host with the ``compute`` role
(``files/<host>/etc/nccl.conf``).

The content is the host's ``NCCL_*`` settings from the Plan (``HostPlan.nccl_env``); hosts with the same
settings share one ``bytes`` object. Templates: ``dcinfra/templates/compute/``.
"""

from __future__ import annotations

from dcinfra.plan.types import HostPlan, Plan
from dcinfra.render.engine import render_template
from dcinfra.render.layout import host_path

NCCL_CONF = "etc/nccl.conf"


def nccl_conf(plan: Plan, host: HostPlan) -> bytes:
    """``/etc/nccl.conf``: the host's NCCL_* settings (NCCL_DEBUG is left to jobs)."""
    env = sorted(
        (k, v) for k, v in host.nccl_env.items() if k.startswith("NCCL_") and not k.startswith("NCCL_DEBUG")
    )
    return render_template("compute/nccl.conf.j2", {"stack": plan.stack, "env": env}).encode()


def files(plan: Plan) -> dict[str, bytes]:
    """``files/<host>/etc/nccl.conf`` for every compute host, rendered once per distinct ``nccl_env``."""
    nccl: dict[tuple[tuple[str, str], ...], bytes] = {}
    out: dict[str, bytes] = {}
    for host in plan.hosts:
        if "compute" not in host.roles:
            continue
        key = tuple(sorted(host.nccl_env.items()))
        if key not in nccl:
            nccl[key] = nccl_conf(plan, host)
        out[host_path(host.name, NCCL_CONF)] = nccl[key]
    return out
