"""Address moves: applied hosts whose address on some network the new plan changes.

A running Ceph monitor cannot change address by a config edit (its address is in the monmap every
daemon and client holds), a Slurm controller's address is in every slurmd's config, and a host's peers
cache its address in /etc/hosts and in connections. So ``up`` refuses a plan that moves an applied
host's address unless ``--allow-address-change`` is given, and ``plan`` / ``preview`` warn. The
refusal says how to keep the addresses: the ``offset`` each moved pool had, or per-host pins.

Input is the last applied plan (its JSON, as ``up`` recorded it) and the new :class:`Plan`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from dcinfra.errors import Problem
from dcinfra.model.stack import Stack
from dcinfra.plan.hosts import FIRST_HOST_OFFSET
from dcinfra.plan.types import HostPlan, Plan


@dataclass(frozen=True, slots=True)
class AddressMove:
    """One applied host's address that the new plan changes."""

    host: str
    pool: str
    network: str  # "management", "storage", "rail 3"
    before: str
    after: str  # "" when the host leaves that network
    holds: tuple[str, ...] = ()  # what binds to the old address ("a Ceph monitor", ...)

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "host": self.host,
            "pool": self.pool,
            "network": self.network,
            "before": self.before,
            "after": self.after or None,
            "holds": list(self.holds),
        }

    def render(self) -> str:
        """One line for people."""
        after = self.after or "(no address)"
        held = f" [{'; '.join(self.holds)}]" if self.holds else ""
        return f"{self.host} {self.network}: {self.before} -> {after}{held}"


def _host_addresses(host: dict[str, Any] | HostPlan) -> dict[str, str]:
    """Network -> address of one host, from its applied JSON or its plan: management, storage and each
    rail (``rail N``)."""
    if isinstance(host, HostPlan):
        out = {k: v for k, v in host.addresses.items() if k != "compute"}
        out.update({f"rail {r.rail}": r.address for r in host.rails})
        return out
    addrs = host.get("addresses") or {}
    out = {str(k): str(v) for k, v in addrs.items() if k != "compute" and isinstance(v, str)}
    for r in host.get("rails") or []:
        if isinstance(r, dict) and isinstance(r.get("address"), str):
            out[f"rail {r.get('rail')}"] = r["address"]
    return out


def _bindings(applied: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(host, address) -> what binds to that address of the host in the applied plan ("" as the address:
    any of the host's addresses)."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    ceph = (applied.get("storage") or {}).get("ceph") or {}
    for h, ip in zip(ceph.get("mons") or [], ceph.get("mon_addresses") or [], strict=False):
        out[str(h), str(ip)].append(
            "a Ceph monitor: its address is in the monmap, a config edit cannot move it"
        )
    slurm = applied.get("slurm") or {}
    for h, ip in zip(slurm.get("controllers") or [], slurm.get("controller_addresses") or [], strict=False):
        out[str(h), str(ip)].append("the Slurm controller: every slurmd is configured with its address")
    for h in applied.get("hosts") or []:
        if isinstance(h, dict) and "hdfs-namenode" in (h.get("roles") or []):
            out[str(h.get("name")), ""].append("the HDFS NameNode: DataNodes and clients use its address")
    return out


def address_moves(applied: dict[str, Any], plan: Plan) -> list[AddressMove]:
    """The addresses of hosts in both ``applied`` (a recorded plan JSON) and ``plan`` that change, in
    the applied host order; a host the new plan drops is scale-in (``removals``), not a move."""
    new = {h.name: h for h in plan.hosts}
    bound = _bindings(applied)
    out = []
    for h in applied.get("hosts") or []:
        if not isinstance(h, dict) or h.get("name") not in new:
            continue
        name = str(h["name"])
        after = _host_addresses(new[name])
        for net, ip in _host_addresses(h).items():
            if after.get(net, "") != ip:
                holds = (*bound.get((name, ip), ()), *bound.get((name, ""), ()))
                out.append(AddressMove(name, new[name].pool, net, ip, after.get(net, ""), holds))
    return out


def _networks(applied: dict[str, Any]) -> dict[str, IPv4Network]:
    """Move network name -> its applied CIDR ("compute-r3" is "rail 3")."""
    out = {}
    for n in applied.get("networks") or []:
        if isinstance(n, dict) and isinstance(n.get("name"), str) and isinstance(n.get("cidr"), str):
            name = n["name"]
            key = f"rail {name.removeprefix('compute-r')}" if name.startswith("compute-r") else name
            out[key] = IPv4Network(n["cidr"])
    return out


def keep_hints(moves: list[AddressMove], applied: dict[str, Any], plan: Plan) -> list[str]:
    """How to keep each moved pool's addresses, per pool: the ``offset`` its block had when every
    network agrees on one, else per-host pins (``PoolAddresses(hosts=...)``)."""
    nets = _networks(applied)
    index = {h.name: h.index for h in plan.hosts}
    firsts: dict[str, set[int]] = defaultdict(set)
    pins: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for m in moves:
        pins[m.pool][m.host][m.network] = m.before
        net = nets.get(m.network)
        if net is None or IPv4Address(m.before) not in net:
            firsts[m.pool].add(-1)
            continue
        slot = int(IPv4Address(m.before)) - int(net.network_address) - FIRST_HOST_OFFSET
        firsts[m.pool].add(slot - (index[m.host] - 1))
    out = []
    for pool, starts in firsts.items():
        if len(starts) == 1 and (first := next(iter(starts))) >= 0:
            out.append(
                f"keep pool {pool!r} where it was: NodePool(name={pool!r}, ..., "
                f"addresses=PoolAddresses(offset={first}))"
            )
            continue
        host, by_net = next(iter(pins[pool].items()))
        out.append(
            f"pin the old addresses of pool {pool!r}'s hosts: NodePool(name={pool!r}, ..., "
            f"addresses=PoolAddresses(hosts=[{_pin_text(host, by_net)}, ...]))"
        )
    out += _grown(applied, plan, nets) if moves else []
    return out


def _pin_text(host: str, by_net: dict[str, str]) -> str:
    """``HostAddresses(...)`` for ``host`` with these addresses (network -> address)."""
    fields = [f"host={host!r}"] + [f"{k}={by_net[k]!r}" for k in ("management", "storage") if k in by_net]
    rails = sorted((int(k.split()[1]), v) for k, v in by_net.items() if k.startswith("rail "))
    if rails:
        fields.append(f"rails=[{', '.join(repr(v) for _, v in rails)}]")
    return f"HostAddresses({', '.join(fields)})"


def _grown(applied: dict[str, Any], plan: Plan, nets: dict[str, IPv4Network]) -> list[str]:
    """For each pool whose new hosts push the pools after it: declare them as a new pool after the
    others, or pin them past every applied address (a pinned host holds no slot in its pool's block)."""
    old = {h.get("name") for h in applied.get("hosts") or [] if isinstance(h, dict)}
    used: dict[str, int] = {}
    for h in applied.get("hosts") or []:
        if not isinstance(h, dict):
            continue
        for net, ip in _host_addresses(h).items():
            if net in nets and IPv4Address(ip) in nets[net]:
                used[net] = max(used.get(net, -1), int(IPv4Address(ip)) - int(nets[net].network_address))
    new_by_pool: dict[str, list[HostPlan]] = defaultdict(list)
    for h in plan.hosts:
        if h.name not in old:
            new_by_pool[h.pool].append(h)
    out = []
    for pool, hosts in new_by_pool.items():
        later = [h for h in plan.hosts if h.name in old and h.pool != pool]
        if not any(plan.hosts.index(h) > plan.hosts.index(hosts[0]) for h in later):
            continue  # nothing applied after it: its new hosts move nobody
        pins = []
        for h in hosts:
            by_net = {}
            for net in _host_addresses(h):
                if net in used:
                    used[net] += 1
                    by_net[net] = str(nets[net].network_address + used[net])
            pins.append(_pin_text(h.name, by_net))
        out.append(
            f"pool {pool!r} grew into the addresses of the pools after it: declare its new host(s) "
            f"{', '.join(h.name for h in hosts)} as a new pool after the others, or pin them past every "
            f"applied address: addresses=PoolAddresses(hosts=[{', '.join(pins)}])"
        )
    return out


def move_warnings(stack: Stack, moves: list[AddressMove], hints: list[str]) -> list[Problem]:
    """One ``address.move`` warning per pool of ``stack`` whose applied hosts' addresses would move
    (for ``validate``), with that pool's keep hint."""
    index = {p.name: i for i, p in enumerate(stack.compute.pools)}
    by_pool: dict[str, list[AddressMove]] = defaultdict(list)
    for m in moves:
        by_pool[m.pool].append(m)
    out = []
    for pool, ms in by_pool.items():
        hosts = sorted({m.host for m in ms})
        shown = "; ".join(m.render() for m in ms[:3]) + (f"; and {len(ms) - 3} more" if len(ms) > 3 else "")
        hint = next((h for h in hints if f"pool {pool!r}" in h), "")
        out.append(
            Problem(
                f"compute.pools[{index[pool]}].addresses" if pool in index else "compute.pools",
                f"the last `up` applied {len(hosts)} host(s) of pool {pool!r} at other addresses: "
                f"{len(ms)} would move ({shown})",
                (hint + "; " if hint else "") + "up refuses this without --allow-address-change",
                "address.move",
                severity="warning",
            )
        )
    return out
