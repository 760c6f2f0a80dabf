"""What several rule families share: the per-call context (:class:`Ctx`) and small helpers over the
stack's networks, pools and names.

Nothing here reports a problem of its own; the helpers that yield problems (:func:`dup_names`,
:func:`unattached`, :func:`host_dir`) take the rule id from the family that calls them. What makes a
directory on the hosts a system one (:data:`SYSTEM_DIRS`, :func:`system_dir_reason`) is decided here,
once, for every family with such a field (the CephFS mount, HDFS name and data dirs, the keytab dir).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from dcinfra.catalog import closest
from dcinfra.catalog.sites import SiteCapabilities
from dcinfra.errors import Problem
from dcinfra.model.compute import NodePool, Rack
from dcinfra.model.stack import Stack
from dcinfra.model.storage import Placement
from dcinfra.plan.hosts import Draft, Hw, make_hosts, place, resolve_hardware
from dcinfra.plan.storage import resolve

__all__ = [
    "Check",
    "Ctx",
    "declared",
    "dup_names",
    "host_dir",
    "hw_path",
    "mtu_of",
    "networks",
    "one_rack",
    "pow2",
    "spread_hint",
    "suggest",
    "unattached",
]


@dataclass(slots=True)
class Ctx:
    """What several rules need, computed once per :func:`~dcinfra.plan.checks.check_stack` call."""

    stack: Stack
    site: SiteCapabilities  # what the site can do; rules read this, never the site's kind
    hw: list[Hw | None]  # per compute pool, as the planner resolves it (None: unresolvable)
    _placed: tuple[list[Draft], list[Rack], list[Problem]] | None = field(default=None)

    @classmethod
    def of(cls, stack: Stack) -> Ctx:
        """The context of one ``stack``: its site's capabilities and each pool's hardware."""
        scratch: list[Problem] = []
        # The planner reports hardware problems itself (and plans with a best guess); None is tolerated
        # so that a pool whose hardware cannot be resolved at all is simply skipped by the rules.
        hw: list[Hw | None] = [
            resolve_hardware(p, f"compute.pools[{i}].hardware", scratch)
            for i, p in enumerate(stack.compute.pools)
        ]
        return cls(stack, stack.site.capabilities(), hw)

    def placed(self) -> tuple[list[Draft], list[Rack], list[Problem]]:
        """The stack's hosts made and placed in racks (``make_hosts`` + ``place``), once per context,
        with the problems those found (the planner reports them, never the rules).

        Rules only read them. :func:`dcinfra.plan.validate` hands the same drafts to the planner once
        every rule has run (the planner then adds roles and addresses), so that a 100,000-host stack
        is not made and placed twice."""
        if self._placed is None:
            found: list[Problem] = []
            drafts = make_hosts(self.stack, found)
            racks = place(self.stack, drafts, found)
            self._placed = (drafts, racks, found)
        return self._placed

    @property
    def drafts(self) -> list[Draft]:
        """Placed hosts, as :meth:`placed` makes them; only built when something needs them."""
        return self.placed()[0]

    def select(self, placement: Placement) -> list[Draft]:
        """Hosts a placement resolves to (unknown names are the planner's to report)."""
        return resolve(placement, "", self.drafts, [])

    def fabric_pools(self) -> list[tuple[int, NodePool, Hw]]:
        """Pools whose hosts join the compute fabric: role ``compute`` and rails > 0."""
        return [
            (i, pool, hw)
            for i, (pool, hw) in enumerate(zip(self.stack.compute.pools, self.hw, strict=True))
            if hw is not None and "compute" in pool.roles and hw.rails > 0
        ]


# One rule family: every problem of its rules, in declaration order.
Check = Callable[[Ctx], Iterator[Problem]]


def hw_path(pool: NodePool, index: int, name: str) -> str:
    """Where a hardware value comes from: the pool's own field, else its profile."""
    base = f"compute.pools[{index}].hardware"
    if getattr(pool.hardware, name) is None and pool.hardware.profile is not None:
        return f"{base}.profile"
    return f"{base}.{name}"


def networks(stack: Stack) -> list[tuple[str, str, IPv4Network, int]]:
    """(name, path, cidr, host MTU) of every declared network."""
    f = stack.fabric
    out = [("management", "fabric.management", f.management.cidr, f.management.mtu)]
    if f.storage is not None:
        out.append(("storage", "fabric.storage", f.storage.cidr, f.storage.mtu))
    if f.compute is not None:
        out.append(("compute", "fabric.compute", f.compute.cidr, f.compute.effective_mtu))
    return out


def mtu_of(stack: Stack, network: str) -> int | None:
    """Host MTU of a network by name; None when it is not declared."""
    return next((mtu for name, _, _, mtu in networks(stack) if name == network), None)


def declared(stack: Stack, network: str) -> bool:
    """Whether the fabric declares the network called ``network``."""
    return mtu_of(stack, network) is not None


def _attached(stack: Stack, d: Draft, network: str) -> bool:
    """Whether the planner gives ``d`` an address on ``network`` (see hosts.assign_addresses)."""
    if network == "management":
        return True
    if network == "storage":
        return stack.fabric.storage is not None and bool(d.roles & {"storage", "compute"})
    return stack.fabric.compute is not None and d.on_fabric


ATTACH_HINT = {
    "storage": "the storage network attaches hosts with role 'storage' or 'compute'",
    "compute": "the compute fabric attaches only hosts with role 'compute' and rails > 0",
}


def unattached(
    stack: Stack, hosts: Sequence[Draft], network: str, path: str, what: str, setting: str, rule: str
) -> Iterator[Problem]:
    """One problem naming the pools whose hosts in ``hosts`` have no address on ``network``."""
    missing = [d for d in hosts if not _attached(stack, d, network)]
    if not missing:
        return
    pools = list(dict.fromkeys(d.pool.name for d in missing))
    shown = ", ".join(d.name for d in missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    )
    yield Problem(
        path,
        f"{what} ({shown}; pool {', '.join(repr(p) for p in pools)}): no address on the {network!r} "
        f"network ({setting}={network!r})",
        f"{ATTACH_HINT.get(network, '')}: give the pool that role, place them on attached hosts, or set "
        f"{setting} to a network they are on (e.g. 'management')",
        rule,
    )


def dup_names(names: Iterable[str], path: Callable[[int], str], what: str, rule: str) -> Iterator[Problem]:
    """A problem for each name seen before, pointing at the later one."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            yield Problem(
                path(i),
                f"duplicate {what} {name!r} (first at index {first[name]})",
                f"give each {what} a unique name",
                rule,
            )
        else:
            first[name] = i


def one_rack(ctx: Ctx, hosts: Sequence[Draft]) -> tuple[str, int] | None:
    """``(rack, racks in use)`` when every one of ``hosts`` (two or more) is in that one rack although
    the stack's hosts fill more than one: one rack failure takes them all. None otherwise, and always
    on a site whose hosts share one machine (the lab), where a rack is no failure domain. A stack
    whose hosts are all in one rack is not warned: spreading is not possible there, and the whole
    site goes with that rack anyway."""
    if len(hosts) < 2 or ctx.site.shared_machine:
        return None
    racks = {d.rack for d in hosts}
    if len(racks) != 1 or "" in racks:  # "": a host no rack could take (reported by the planner)
        return None
    used = {d.rack for d in ctx.drafts if d.rack}
    if len(used) < 2:
        return None
    return next(iter(racks)), len(used)


def spread_hint(ctx: Ctx, what: str, path: str, hosts: Sequence[Draft]) -> str:
    """How to spread ``hosts`` (what the placement at ``path`` selects, all in one rack) over racks:
    hosts of the same pools in other racks when there are some, else the pools' own placement."""
    rack = hosts[0].rack
    pools = sorted({d.pool.name for d in hosts})
    seen: dict[str, Draft] = {}  # the first host of the same pools in each other rack
    for d in ctx.drafts:
        if d.pool.name in pools and d.rack and d.rack != rack:
            seen.setdefault(d.rack, d)
    if seen:
        near = ", ".join(f"{d.name!r} in rack {d.rack!r}" for d in list(seen.values())[:3])
        return f"spread the {what} over racks: name hosts in different racks in {path}.hosts (e.g. {near})"
    named = ", ".join(repr(p) for p in pools)
    return (
        f"spread the {what} over racks: every host of pool {named} is in rack {rack!r}, so spread the "
        f"pool (NodePool.racks=[...] with nodes_per_rack=N), or name hosts of other racks in {path}.hosts"
    )


def suggest(value: str, known: Sequence[str]) -> str:
    """``did you mean ...? `` for the closest known names, or nothing."""
    near = closest(value, list(known))
    return f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""


def pow2(n: int) -> bool:
    """Whether ``n`` is a positive power of two."""
    return n > 0 and n & (n - 1) == 0


# --- directories the stack puts on its hosts -----------------------------------------------------------

# Directories the operating system owns (FHS 3.0, https://refspecs.linuxfoundation.org/FHS_3.0/): a
# stack's mount point or data directory must never be one of these, nor contain one (the set holds
# every parent of its members, so "contains one" is "is one"). A CephFS mount
# over /var/lib hides dpkg's and every daemon's state; an HDFS data dir is chowned to hdfs with mode
# 0700 when it is created and removed by `destroy --destroy-data`, which on /var would remove the
# system's variable data.
SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/include",
        "/usr/lib",
        "/usr/lib64",
        "/usr/libexec",
        "/usr/local",
        "/usr/sbin",
        "/usr/share",
        "/usr/src",
        "/var",
        "/var/backups",
        "/var/cache",
        "/var/lib",
        "/var/local",
        "/var/lock",
        "/var/log",
        "/var/mail",
        "/var/opt",
        "/var/run",
        "/var/spool",
        "/var/tmp",
    }
)
# Kernel and runtime filesystems and the boot partition: nothing of a stack's lives below these
# (proc, sysfs, devtmpfs and the /run tmpfs are rebuilt at boot; /boot is the bootloader's).
KERNEL_TREES = ("/proc", "/sys", "/dev", "/run", "/boot")
# Trees the OS's packages and configuration own, and the temporary directories that are emptied on
# reboot or by systemd-tmpfiles: a mount point there hides system files, a data directory there is
# chowned to a daemon's user (and lost with /tmp). Config files such as keytabs do belong in /etc.
OS_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/tmp", "/var/tmp")
_LIB = re.compile(r"^/lib[^/]*(/|$)")  # /lib, /lib64, /libx32 and any other /lib* the OS adds


def _under(path: str, trees: Iterable[str]) -> str | None:
    return next((t for t in trees if path == t or path.startswith(t + "/")), None)


def system_dir_reason(value: str, *, data: bool) -> str | None:
    """Why ``value`` cannot be a directory the stack owns on its hosts, or None when it can.

    Refused everywhere: a path that is not absolute or not normalized (``..``, ``.``, ``//``, a
    trailing ``/``), one that is a system directory or contains one (``/var``, ``/var/lib``, ``/``), and
    one inside a kernel filesystem or ``/boot``. With ``data`` (mount points, data directories) also
    one inside the OS's own trees (``/etc``, ``/usr``, ``/bin``, ``/sbin``, ``/lib*``, ``/tmp``,
    ``/var/tmp``). Allowed: a directory of its own, e.g. ``/mnt/datasets``, ``/data/1/hdfs``,
    ``/srv/hdfs``, ``/scratch/x``, ``/var/lib/hadoop/data`` (and ``/etc/security/keytabs`` when not
    ``data``).
    """
    norm = posixpath.normpath(value) if value else value
    if norm.startswith("//"):  # POSIX keeps a leading "//"; Linux reads it as "/"
        norm = "/" + norm.lstrip("/")
    if not value.startswith("/") or norm != value:
        return "is not a normalized absolute path (no '..', '.', '//' or trailing '/')"
    if norm in SYSTEM_DIRS:  # closed under parents: a path containing a system directory is one too
        inside = sorted(d for d in SYSTEM_DIRS if d.startswith(norm.rstrip("/") + "/"))
        held = f", which holds {', '.join(map(repr, inside[:3]))}" + (" ..." if len(inside) > 3 else "")
        return f"is the system directory {norm!r}" + (held if inside else "")
    top = _under(norm, KERNEL_TREES)
    if top is not None:
        return f"is inside {top!r}, a kernel or boot filesystem"
    if data:
        top = _under(norm, OS_TREES) or ("/" + norm.split("/")[1] if _LIB.match(norm) else None)
        if top is not None:
            return f"is inside {top!r}, which the operating system owns"
    return None


def host_dir(
    path: str, value: str, what: str, example: str, rule: str, *, data: bool = True
) -> Problem | None:
    """A problem when ``value`` (at ``path``) cannot be a directory the stack owns on its hosts
    (:func:`system_dir_reason`), else None. ``what`` names it for people; ``example`` is a good value."""
    reason = system_dir_reason(value, data=data)
    if reason is None:
        return None
    trees = "/etc, /usr, /bin, /sbin, /lib*, /tmp, /var/tmp, " if data else ""
    return Problem(
        path,
        f"{what} {value!r} {reason}",
        f"use a normalized absolute directory of its own, e.g. {example!r}; never a system directory "
        f"or one that contains one (/, /var, /var/lib, /usr, /etc, /home, /opt, /mnt, /srv, ...), nor "
        f"anything inside {trees}/proc, /sys, /dev, /run or /boot",
        rule,
    )
