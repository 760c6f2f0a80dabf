"""Addresses on every network: each pool's block of slots, per-host pins, capacity, membership and
duplicates (:func:`assign_addresses`), made fast enough for 100,000 hosts with 8 rails each.

A pool holds a block of slots on every network it joins (``NodePool.addresses``): its ``offset``, else
right after the block of the pool before it; ``reserve`` slots, else ``count``. Host ``<pool>-<nnn>``
takes slot ``offset + nnn - 1`` (slot 0 is :data:`~dcinfra.plan.hosts.FIRST_HOST_OFFSET` of the
network), so a host's address depends on its own index and its pool's block only. Pinned addresses
(``addresses.hosts``) override the block's, and a trailing pinned host holds no slot.
"""

from __future__ import annotations

import functools
import math
import socket
import struct
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network

from dcinfra.catalog import closest
from dcinfra.errors import Problem
from dcinfra.model.addressing import HostAddresses
from dcinfra.model.compute import NodePool
from dcinfra.model.site import BareMetalSite
from dcinfra.model.stack import Stack
from dcinfra.plan.hosts import FIRST_HOST_OFFSET, Draft


def network_capacity(net: IPv4Network) -> int:
    """Host addresses available to the planner in ``net``."""
    return max(0, net.num_addresses - 2 - (FIRST_HOST_OFFSET - 1))


_PACK = struct.Struct(">I").pack


def planned(net: IPv4Network, count: int, start: int = 0) -> Iterator[str]:
    """The addresses of slots ``start`` to ``start + count - 1`` of ``net``, in order (slot 0 is at offset
    :data:`FIRST_HOST_OFFSET`). Made in C (a map of ``inet_ntoa`` over the integers), not by a Python
    call per host: that counts at 100,000 hosts with 8 rails each."""
    first = int(net.network_address) + FIRST_HOST_OFFSET + start
    return map(socket.inet_ntoa, map(_PACK, range(first, first + count)))


@functools.lru_cache(maxsize=64)
def rail_subnets(cidr: IPv4Network, rails: int) -> list[IPv4Network]:
    """The compute CIDR split evenly, one subnet per rail (a power-of-two split)."""
    if rails <= 1:
        return [cidr]
    bits = math.ceil(math.log2(rails))
    if cidr.prefixlen + bits > 30:
        return []
    return list(cidr.subnets(prefixlen_diff=bits))[:rails]


def assign_addresses(
    stack: Stack, drafts: list[Draft], problems: list[Problem], *, rails: bool = True
) -> None:
    """Addresses on every network each host joins; checks blocks, pins, capacity, membership and
    duplicates.

    Each pool holds a block of slots on every network it joins (``NodePool.addresses``: its ``offset``,
    else right after the pool before it; ``reserve`` slots, else ``count``), and host ``<pool>-<nnn>``
    takes slot ``offset + nnn - 1``, so a host's address depends on its own index and its pool's block
    only. Pinned addresses (``addresses.hosts``) override the block's.

    ``rails=False`` (validation) decides each fabric host's scalable unit but not its rail addresses
    from the blocks: those come from the compute network's own subnets and cannot collide with anything
    (overlapping networks are ``network.overlap``), and at 8 per host they are most of the work.

    A network too small for the hosts that join it is one root cause, reported once (``network.size``,
    with how many hosts did not fit): the hosts that fit get addresses, the others none on that
    network. Assigning on past its end would put hosts on the broadcast address and into the next
    network, and report a follow-on duplicate for every one of them."""
    fab = stack.fabric
    site_hosts = {h.name: h for h in stack.site.hosts} if isinstance(stack.site, BareMetalSite) else {}
    mgmt = fab.management.cidr
    storage_hosts = [d for d in drafts if d.roles & {"storage", "compute"}] if fab.storage else []
    fabric_hosts = [d for d in drafts if d.on_fabric] if fab.compute else []
    overlaps: set[tuple[int, int]] = set()
    _check_blocks(stack, drafts, problems)
    # management
    if site_hosts:
        for d in drafts:
            sh = site_hosts.get(d.name)
            if sh is None:
                continue
            d.addresses["management"] = socket.inet_ntoa(sh.management_ip.packed)
            d.bmc = str(sh.bmc_ip) if sh.bmc_ip else None
        missing = [d.name for d in drafts if d.name not in site_hosts]
        if missing:
            problems.append(
                Problem(
                    "site.hosts",
                    f"{len(missing)} planned host(s) are not in the bare-metal site: {_some(missing)}",
                    "add a BareMetalHost(name=..., management_ip=...) for each, or lower the pool count",
                    "site.hosts",
                )
            )
        _site_entries(stack, {d.name for d in drafts}, problems)
    else:
        blocks = _blocks(
            drafts, mgmt, "fabric.management.cidr", "management", problems, overlaps, "management"
        )
        for ds, first in blocks:
            for d, ip in _addresses(mgmt, ds, first):
                d.addresses["management"] = ip
    if fab.storage is not None:
        net = fab.storage.cidr
        path = "fabric.storage.cidr"
        for ds, first in _blocks(storage_hosts, net, path, "storage", problems, overlaps, "storage"):
            for d, ip in _addresses(net, ds, first):
                d.addresses["storage"] = ip
    subnets: list[IPv4Network] = []
    if fab.compute is not None and fabric_hosts:
        n_rails = max(d.hw.rails for d in fabric_hosts)
        subnets = rail_subnets(fab.compute.cidr, n_rails)
        if not subnets:
            problems.append(
                Problem(
                    "fabric.compute.cidr",
                    f"{str(fab.compute.cidr)!r} cannot be split into {n_rails} rail subnets",
                    "use a larger compute CIDR",
                    "network.size",
                )
            )
        else:
            blocks = _blocks(
                fabric_hosts,
                subnets[0],
                "fabric.compute.cidr",
                f"each of {n_rails} rail subnets",
                problems,
                overlaps,
                "rails",
            )
            if rails:
                # One row per slot: its address on every rail subnet (each rail's made at once).
                for ds, first in blocks:
                    if not ds:
                        continue
                    rows = list(zip(*(planned(n, ds[-1].index, first) for n in subnets), strict=True))
                    for d in ds:
                        row = rows[d.index - 1]
                        d.rail_addresses = list(row if d.hw.rails == len(row) else row[: d.hw.rails])
                        d.addresses["compute"] = row[0]
        per_su = fab.compute.nodes_per_su
        for seq, d in enumerate(fabric_hosts):
            d.su = seq // per_su + 1
    pinned = _apply_pins(stack, drafts, subnets, bool(site_hosts), problems)
    _duplicates(stack, drafts, pinned, problems)


def _check_blocks(stack: Stack, drafts: list[Draft], problems: list[Problem]) -> None:
    """Each pool's ``addresses``: a reserve that holds its hosts, pins keyed by its own hostnames."""
    names: dict[int, list[str]] = {}
    for d in drafts:
        names.setdefault(d.pool_index, []).append(d.name)
    for i, pool in enumerate(stack.compute.pools):
        a = pool.addresses
        path = f"compute.pools[{i}].addresses"
        if a.reserve is not None and a.reserve < pool.count:
            problems.append(
                Problem(
                    f"{path}.reserve",
                    f"pool {pool.name!r} reserves {a.reserve} address slots but has count={pool.count}",
                    f"set reserve={pool.count} or more (the block must hold every host), or leave it unset",
                    "address.block",
                )
            )
        own = names.get(i, [])
        seen: set[str] = set()
        for j, pin in enumerate(a.hosts):
            host = pin.host
            if host in seen:
                problems.append(
                    Problem(
                        f"{path}.hosts[{j}].host",
                        f"{host!r} is pinned twice in pool {pool.name!r}",
                        "give each host one HostAddresses entry (merge the two)",
                        "address.pin",
                    )
                )
            seen.add(host)
            if host not in own:
                near = closest(host, own)
                problems.append(
                    Problem(
                        f"{path}.hosts[{j}].host",
                        f"{host!r} is not a host of pool {pool.name!r}",
                        (f"did you mean {near[0]!r}? " if near else "")
                        + f"its hosts are {_some(own, 4)}: key the pin by one of them",
                        "address.pin",
                    )
                )


def _blocks(
    members: list[Draft],
    net: IPv4Network,
    path: str,
    what: str,
    problems: list[Problem],
    overlaps: set[tuple[int, int]],
    key: str,
) -> list[tuple[list[Draft], int]]:
    """Each pool's hosts that take an address from its block on one network, with the slot of the pool's
    first host, in pool order. A host pinned on this network (``key``) takes none, and trailing pinned
    hosts hold no slot, so a pool can grow past its block by pinning its new hosts. Hosts past the
    network's end, and pools whose block overlaps an earlier one, get none (one problem each)."""
    groups: dict[int, list[Draft]] = {}
    for d in members:
        groups.setdefault(d.pool_index, []).append(d)
    placed: list[tuple[int, int, int]] = []  # (first slot, end slot, pool index)
    out: list[tuple[list[Draft], int]] = []
    cursor = 0
    custom = False
    for pi, group in groups.items():
        pool = group[0].pool
        a = pool.addresses
        ds = [d for d in group if _pin_of(d, key) is None]
        custom |= a.offset is not None or a.reserve is not None or len(ds) < len(group)
        first = cursor if a.offset is None else a.offset
        end = first + max(max((d.index for d in ds), default=0), a.reserve or 0)
        clash = next((p for p in placed if first < p[1] and p[0] < end), None)
        if clash is not None:
            other = groups[clash[2]][0].pool.name
            if (clash[2], pi) not in overlaps:
                overlaps.add((clash[2], pi))
                problems.append(
                    Problem(
                        f"compute.pools[{pi}].addresses.offset",
                        f"pool {pool.name!r} takes address slots {first}-{end - 1} ({what}), which "
                        f"overlap slots {clash[0]}-{clash[1] - 1} of pool {other!r}",
                        f"give pool {pool.name!r} offset={clash[1]} or higher (slot 0 is "
                        f".{FIRST_HOST_OFFSET} of each network), or move pool {other!r}",
                        "address.overlap",
                    )
                )
            continue
        placed.append((first, end, pi))
        cursor = end
        out.append((ds, first))
    cap = network_capacity(net)
    need = max((first + ds[-1].index for ds, first in out if ds), default=0)
    if need > cap:
        if not custom:
            _check_capacity(path, net, len(members), what, problems)
        else:
            bits = 32 - math.ceil(math.log2(need + FIRST_HOST_OFFSET + 1))
            problems.append(
                Problem(
                    path,
                    f"{str(net)!r} ({what}) has room for {cap} hosts (slots 0-{cap - 1}) but the pools' "
                    f"address blocks reach slot {need - 1}: the hosts past its end get no address on it",
                    f"use a /{bits} or larger, or lower the pools' offset/reserve",
                    "network.size",
                )
            )
        out = [([d for d in ds if first + d.index <= cap], first) for ds, first in out]
    return out


def _pin(d: Draft) -> tuple[int, HostAddresses] | None:
    """``d``'s pinned addresses with their index in its pool's ``addresses.hosts``, if any."""
    return _pins(d.pool).get(d.name) if d.pool.addresses.hosts else None


@functools.lru_cache(maxsize=256)
def _pins(pool: NodePool) -> dict[str, tuple[int, HostAddresses]]:
    return pool.addresses.pins()


def _pin_of(d: Draft, key: str) -> IPv4Address | tuple[IPv4Address, ...] | None:
    """The address pinned for ``d`` on network ``key`` ("management", "storage", "rails"), if any."""
    found = _pin(d)
    if found is None:
        return None
    value: IPv4Address | tuple[IPv4Address, ...] | None = getattr(found[1], key)
    return value or None


def _addresses(net: IPv4Network, ds: list[Draft], first: int) -> Iterator[tuple[Draft, str]]:
    """Each of ``ds`` (in index order) with its block address on ``net``."""
    if not ds:
        return iter(())
    ips = list(planned(net, ds[-1].index, first))
    return ((d, ips[d.index - 1]) for d in ds)


def _apply_pins(
    stack: Stack, drafts: list[Draft], subnets: list[IPv4Network], bare_metal: bool, problems: list[Problem]
) -> set[str]:
    """Pinned addresses over the blocks' (each checked against its network); the pinned hosts' names."""
    fab = stack.fabric
    pinned: set[str] = set()
    for d in drafts:
        found = _pin(d)
        if found is None:
            continue
        j, pin = found
        pinned.add(d.name)
        path = f"compute.pools[{d.pool_index}].addresses.hosts[{j}]"
        if pin.management is not None:
            if bare_metal:
                problems.append(
                    Problem(
                        f"{path}.management",
                        f"{d.name!r} is a bare-metal host: its management address comes from site.hosts",
                        "set it in its BareMetalHost(management_ip=...) and remove it here",
                        "address.pin",
                    )
                )
            elif _pin_in(pin.management, fab.management.cidr, f"{path}.management", "management", problems):
                d.addresses["management"] = str(pin.management)
        if pin.storage is not None:
            if fab.storage is None or not d.roles & {"storage", "compute"}:
                problems.append(
                    Problem(
                        f"{path}.storage",
                        f"{d.name!r} is on no storage network, so it has no storage address to pin",
                        "the storage network attaches hosts with role 'storage' or 'compute': remove the pin",
                        "address.pin",
                    )
                )
            elif _pin_in(pin.storage, fab.storage.cidr, f"{path}.storage", "storage", problems):
                d.addresses["storage"] = str(pin.storage)
        if pin.rails:
            if not d.on_fabric or fab.compute is None:
                problems.append(
                    Problem(
                        f"{path}.rails",
                        f"{d.name!r} is not on the compute fabric, so it has no rail address to pin",
                        "only hosts with role 'compute' and rails > 0 join it: remove the pin",
                        "address.pin",
                    )
                )
            elif len(pin.rails) != d.hw.rails:
                problems.append(
                    Problem(
                        f"{path}.rails",
                        f"{len(pin.rails)} rail address(es) pinned for {d.name!r}, which has "
                        f"{d.hw.rails} rails",
                        f"give one address per rail, in rail order ({d.hw.rails})",
                        "address.pin",
                    )
                )
            elif subnets and all(
                _pin_in(ip, subnets[r], f"{path}.rails[{r}]", f"rail {r}", problems)
                for r, ip in enumerate(pin.rails)
            ):
                d.rail_addresses = [str(ip) for ip in pin.rails]
                d.addresses["compute"] = d.rail_addresses[0]
    return pinned


def _pin_in(ip: IPv4Address, net: IPv4Network, path: str, what: str, problems: list[Problem]) -> bool:
    """Whether a pinned address is a usable host address of ``net`` (else a problem)."""
    if ip in net and ip not in (net.network_address, net.broadcast_address):
        return True
    problems.append(
        Problem(
            path,
            f"pinned address {str(ip)!r} is not a host address of the {what} network {str(net)!r}",
            f"pin an address inside {str(net)!r} (not its network or broadcast address)",
            "network.membership",
        )
    )
    return False


def _duplicates(stack: Stack, drafts: list[Draft], pinned: set[str], problems: list[Problem]) -> None:
    """Two hosts on one address (bare-metal management addresses, pins), or a host on the gateway."""
    owner: dict[str, str] = {}

    def where(d: Draft) -> str:
        if d.name in pinned:
            found = _pin(d)
            return f"compute.pools[{d.pool_index}].addresses.hosts[{found[0] if found else '?'}]"
        return f"site.hosts ({d.name})"

    by_name = {d.name: d for d in drafts}
    # Rails past the first can only collide through a pinned rail address: checked only then.
    rail_pins = any(bool(_pin_of(by_name[n], "rails")) for n in pinned)
    for d in drafts:
        extra = d.rail_addresses[1:] if rail_pins and d.on_fabric else []
        for net, ip in [*d.addresses.items(), *((f"rail {r + 1}", a) for r, a in enumerate(extra))]:
            if ip in owner and owner[ip] != d.name:
                first = by_name[owner[ip]]
                problems.append(
                    Problem(
                        where(d) if d.name in pinned or first.name not in pinned else where(first),
                        f"address {ip!r} of {d.name!r} on {net} is also used by {owner[ip]!r}",
                        "give every host a unique address (a pinned address must not be one the pools' "
                        "blocks give another host)",
                        "address.duplicate",
                    )
                )
            owner[ip] = d.name
    mgmt = stack.fabric.management.cidr
    if stack.fabric.management.gateway:
        gw = str(IPv4Address(int(mgmt.network_address) + 1))
        if gw in owner:
            problems.append(
                Problem(
                    "site.hosts",
                    f"host {owner[gw]!r} uses {gw!r}, the management gateway address",
                    "use another address or set fabric.management.gateway=False",
                    "address.duplicate",
                )
            )


def _some(names: list[str], shown: int = 5) -> str:
    """The first few of ``names`` and how many more there are."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _site_entries(stack: Stack, planned: set[str], problems: list[Problem]) -> None:
    """Bare-metal site entries outside the management network, or matching no planned host: one
    problem each kind, naming the first entry and counting the rest (a management network declared
    too small puts thousands of entries outside it at once)."""
    assert isinstance(stack.site, BareMetalSite)
    mgmt = stack.fabric.management.cidr
    hosts = stack.site.hosts
    outside = [i for i, h in enumerate(hosts) if h.management_ip not in mgmt]
    if outside:
        h = hosts[outside[0]]
        cover = covering_network(mgmt, [hosts[i].management_ip for i in outside])
        more = f" (and {len(outside) - 1} more site hosts: {_some([hosts[i].name for i in outside[1:]], 3)})"
        problems.append(
            Problem(
                f"site.hosts[{outside[0]}].management_ip",
                f"{str(h.management_ip)!r} of {h.name!r} is outside the management network {str(mgmt)!r}"
                + (more if len(outside) > 1 else ""),
                f"fix the address, or widen fabric.management.cidr to {str(cover)!r} "
                "(the smallest network that holds it and every site host's address)",
                "network.membership",
            )
        )
    unplanned = [i for i, h in enumerate(hosts) if h.name not in planned]
    if unplanned:
        h = hosts[unplanned[0]]
        more = f" (and {len(unplanned) - 1} more: {_some([hosts[i].name for i in unplanned[1:]], 3)})"
        problems.append(
            Problem(
                f"site.hosts[{unplanned[0]}].name",
                f"site host {h.name!r} matches no planned host" + (more if len(unplanned) > 1 else ""),
                (f"did you mean {near[0]!r}? " if (near := closest(h.name, sorted(planned))) else "")
                + f"the planned hosts are {_some(sorted(planned), 4)} (each pool's hostname_prefix, "
                "else its name, then -<nnn>): rename it to one of them or remove it",
                "site.hosts",
            )
        )


def covering_network(net: IPv4Network, addresses: Sequence[IPv4Address]) -> IPv4Network:
    """The smallest network that holds ``net`` and every one of ``addresses``: what a network declared
    too small for its hosts' addresses should be widened to."""
    if not addresses:
        return net
    ints = [int(a) for a in addresses]
    lo, hi = min(int(net.network_address), *ints), max(int(net.broadcast_address), *ints)
    prefix = 32 - (lo ^ hi).bit_length()
    return IPv4Network((lo >> (32 - prefix) << (32 - prefix), prefix))


def _check_capacity(path: str, net: IPv4Network, hosts: int, what: str, problems: list[Problem]) -> int:
    """How many of ``hosts`` fit in ``net``; a ``network.size`` problem when not all of them do."""
    cap = network_capacity(net)
    if hosts > cap:
        need = 32 - math.ceil(math.log2(hosts + FIRST_HOST_OFFSET + 1))
        problems.append(
            Problem(
                path,
                f"{str(net)!r} ({what}) has room for {cap} hosts but {hosts} join it: the other "
                f"{hosts - cap} get no address on it (their {hosts - cap} follow-on address problems "
                "are suppressed)",
                f"use a /{need} or larger (hosts start at .{FIRST_HOST_OFFSET})",
                "network.size",
            )
        )
        return cap
    return hosts
