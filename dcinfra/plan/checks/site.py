"""Rules on the site (``site``): its host entries, and what the stack asks of it beyond its
capabilities (:class:`~dcinfra.catalog.sites.SiteCapabilities`).

Rules (``Problem.rule``): ``hosts.duplicate``, ``address.duplicate`` and ``address.reserved`` (a
management or BMC address that is the network or broadcast address of a declared network) of the
bare-metal site entries;
``lab.size`` (more hosts than ``max_hosts``), ``lab.gpu`` (GPUs where ``gpus`` is false),
``lab.addresses`` and ``lab.fabric`` (an ``emulated_network``: private addresses, a Linux-bridge fabric
and veth NICs only)

The limits come from the capabilities, not from the site's kind; their messages keep the lab's
wording, as the lab is today the one site that has them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from ipaddress import IPv4Network

from dcinfra.catalog import NICS, SWITCHES
from dcinfra.errors import Problem
from dcinfra.model.site import BareMetalHost, BareMetalSite
from dcinfra.plan.addressing import covering_network
from dcinfra.plan.checks._common import Ctx, dup_names, hw_path, networks

__all__ = ["check_site", "check_site_size"]

RFC1918 = (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"))
LOOPBACK = IPv4Network("127.0.0.0/8")


def check_site(ctx: Ctx) -> Iterator[Problem]:
    """Bare-metal host entries; the site's size, GPU and emulated-network limits."""
    site = ctx.stack.site
    if isinstance(site, BareMetalSite):  # the entries are BareMetalSite's own fields
        yield from _host_entries(site.hosts)
        yield from _reserved(ctx, site.hosts)
    yield from _size(ctx)
    if not ctx.site.gpus:
        yield from _no_gpus(ctx)
    if ctx.site.emulated_network:
        yield from _emulated_network(ctx)


def _host_entries(hosts: Sequence[BareMetalHost]) -> Iterator[Problem]:
    yield from dup_names(
        (h.name for h in hosts), lambda i: f"site.hosts[{i}].name", "site host", "hosts.duplicate"
    )
    bmcs = [(i, h) for i, h in enumerate(hosts) if h.bmc_ip is not None]
    used = {h.management_ip: h.name for h in hosts} if bmcs else {}
    bmc: dict[str, str] = {}
    for i, h in bmcs:
        assert h.bmc_ip is not None
        ip = str(h.bmc_ip)
        other = bmc.get(ip) or used.get(h.bmc_ip)
        if other is not None:
            yield Problem(
                f"site.hosts[{i}].bmc_ip",
                f"BMC address {ip!r} of {h.name!r} is also used by {other!r}",
                "give every BMC its own address",
                "address.duplicate",
            )
        bmc.setdefault(ip, h.name)


def _reserved(ctx: Ctx, hosts: Sequence[BareMetalHost]) -> Iterator[Problem]:
    """An explicit address on a declared network's network or broadcast address (RFC 919/922): no host
    can use either, yet /etc/hosts and the inventory would carry it. /31 and /32 networks have neither
    (RFC 3021)."""
    reserved: dict[int, tuple[str, str, IPv4Network]] = {}  # address -> (which, network name, cidr)
    mgmt = ctx.stack.fabric.management.cidr
    for name, _, declared_cidr, _ in networks(ctx.stack):
        cidr = declared_cidr
        if name == "management":
            # A management network too small for the site's addresses is one root cause (the planner's
            # network.membership, which says what to widen it to): judged against the widened
            # network, an address at the small one's broadcast is no follow-on problem of its own.
            cidr = covering_network(mgmt, [h.management_ip for h in hosts if h.management_ip not in mgmt])
        if cidr.prefixlen < 31:
            reserved[int(cidr.network_address)] = ("network", name, cidr)
            reserved[int(cidr.broadcast_address)] = ("broadcast", name, cidr)
    for i, h in enumerate(hosts):
        for field, ip in (("management_ip", h.management_ip), ("bmc_ip", h.bmc_ip)):
            hit = reserved.get(int(ip)) if ip is not None else None
            if hit is None:
                continue
            which, net_name, net = hit
            gateway = net_name == "management" and ctx.stack.fabric.management.gateway
            first, last = net.network_address + (2 if gateway else 1), net.broadcast_address - 1
            yield Problem(
                f"site.hosts[{i}].{field}",
                f"{field} {str(ip)!r} of {h.name!r} is the {which} address of the {net_name} network "
                f"{str(net)!r}: no host can use it",
                f"use a host address of the network, {first} to {last} (neither its network address "
                f"{net.network_address} nor its broadcast address {net.broadcast_address})",
                "address.reserved",
            )


def check_site_size(ctx: Ctx) -> Iterator[Problem]:
    """``lab.size``: more hosts than the site holds. A gate (:data:`dcinfra.plan.checks.GATES`):
    validation reports it alone, as everything planned for such a stack would be noise."""
    return _size(ctx)


def _size(ctx: Ctx) -> Iterator[Problem]:
    limit = ctx.site.max_hosts
    total = sum(p.count for p in ctx.stack.compute.pools)
    if limit is not None and total > limit:
        yield Problem(
            "compute.pools",
            f"the lab would create {total} nodes on this machine (2 cores)",
            f"use at most {limit} lab nodes, or a BareMetalSite",
            "lab.size",
        )


def _no_gpus(ctx: Ctx) -> Iterator[Problem]:
    for i, (pool, hw) in enumerate(zip(ctx.stack.compute.pools, ctx.hw, strict=True)):
        if hw is not None and hw.gpu is not None:
            yield Problem(
                hw_path(pool, i, "gpu"),
                f"pool {pool.name!r} has GPU {hw.gpu!r}; lab nodes are namespaces on this CPU-only machine",
                "use profile='lab-cpu' on the lab",
                "lab.gpu",
            )


def _emulated_network(ctx: Ctx) -> Iterator[Problem]:
    """Private addresses only, a Linux-bridge fabric and veth NICs (catalog models marked ``emulated``)."""
    stack = ctx.stack
    for name, path, cidr, _ in networks(stack):
        if cidr.overlaps(LOOPBACK):
            yield Problem(
                f"{path}.cidr",
                f"lab {name} network {str(cidr)!r} overlaps loopback 127.0.0.0/8",
                "use an RFC 1918 range, e.g. 172.31.250.0/24",
                "lab.addresses",
            )
        elif not any(cidr.subnet_of(r) for r in RFC1918):
            yield Problem(
                f"{path}.cidr",
                f"lab {name} network {str(cidr)!r} is not a private (RFC 1918) range",
                "use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 addresses, e.g. 172.31.250.0/24",
                "lab.addresses",
            )
    cf = stack.fabric.compute
    if cf is not None:
        switch = SWITCHES.get(cf.switch.lower())
        if cf.kind != "ethernet" or switch is None or not switch.emulated:
            yield Problem(
                "fabric.compute",
                f"kind={cf.kind!r} switch={cf.switch!r} on the lab; lab nodes are joined by Linux bridges",
                "use ComputeFabric(kind='ethernet', switch='lab-bridge', ...)",
                "lab.fabric",
            )
    for i, pool, hw in ctx.fabric_pools():
        nic = NICS.get(hw.nic or "")
        if hw.nic is not None and (nic is None or not nic.emulated):
            yield Problem(
                hw_path(pool, i, "compute_nic"),
                f"pool {pool.name!r} has NIC {hw.nic!r}; lab nodes have veth pairs only",
                "use compute_nic='lab-veth' (profile='lab-cpu')",
                "lab.fabric",
            )
