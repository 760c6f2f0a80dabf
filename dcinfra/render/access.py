"""Access layer: what every host gets so people and hosts can reach it — the sshd drop-in and
``/etc/hosts``, both under ``files/_all/`` (the Plan defines them once per stack).

Templates: ``dcinfra/templates/access/``.
"""

from __future__ import annotations

from typing import Any

from dcinfra.plan.types import Plan
from dcinfra.render.engine import render_template
from dcinfra.render.layout import all_path

SSHD_DROPIN = "etc/ssh/sshd_config.d/10-dcinfra.conf"
ETC_HOSTS = "etc/hosts"


def sshd_conf(plan: Plan) -> bytes:
    """The sshd drop-in: the stack's SSH policy, the same on every host."""
    sec = plan.security
    ctx = {
        "stack": plan.stack,
        "keys_only": sec.ssh_keys_only,
        "permit_root_login": sec.ssh_permit_root_login,
        "max_auth_tries": sec.ssh_max_auth_tries,
        "sources": list(sec.ssh_sources),
    }
    return render_template("access/sshd_config.conf.j2", ctx).encode()


def etc_hosts(plan: Plan) -> bytes:
    """``/etc/hosts``: every host's management name, plus ``<host>-<network>`` and ``<host>-r<rail>``."""
    mgmt = [(h.addresses["management"], h.name) for h in plan.hosts]
    others: dict[str, list[tuple[str, str]]] = {}
    rails: list[tuple[str, str]] = []
    for h in plan.hosts:
        for net, addr in sorted(h.addresses.items()):
            # "compute" is rail 0, which is listed with the rails.
            if net not in {"management", "compute"}:
                others.setdefault(net, []).append((addr, f"{h.name}-{net}"))
        rails.extend((r.address, f"{h.name}-r{r.rail}") for r in h.rails)
    sections: list[dict[str, Any]] = [{"title": "management network", "entries": mgmt}]
    sections += [{"title": f"{net} network", "entries": e} for net, e in sorted(others.items())]
    if rails:
        sections.append({"title": "compute fabric rails", "entries": rails})
    return render_template("access/hosts.j2", {"stack": plan.stack, "sections": sections}).encode()


def files(plan: Plan) -> dict[str, bytes]:
    """``files/_all/etc/hosts`` and ``files/_all/etc/ssh/sshd_config.d/10-dcinfra.conf``."""
    return {all_path(ETC_HOSTS): etc_hosts(plan), all_path(SSHD_DROPIN): sshd_conf(plan)}
