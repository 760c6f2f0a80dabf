"""Where a pool's hosts get their addresses: a block of its own on every network, and per-host pins.

By default pools are packed back to back in declaration order on each network they join, so growing
one pool moves the addresses of every pool after it. A running Ceph monitor cannot change address by a
config edit, so ``up`` refuses such a move (``--allow-address-change`` overrides) and ``plan`` /
``preview`` warn; the refusal names the ``offset`` that keeps each moved pool where it is.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.types import Name


class HostAddresses(Spec):
    """Addresses pinned for one host; each overrides what the pool's block would give it.

    Example::

        HostAddresses(host="gpu-b-003", storage="10.1.0.40", rails=["10.2.0.40", "10.2.32.40"])
    """

    host: Name
    """The pool's host these addresses are for (``<pool>-<nnn>``, or ``<hostname_prefix>-<nnn>``)."""
    management: IPv4Address | None = None
    """Its management address (lab and cloud sites; a bare-metal site's hosts give theirs in
    ``site.hosts``)."""
    storage: IPv4Address | None = None
    """Its storage-network address."""
    rails: tuple[IPv4Address, ...] = ()
    """Its address on every compute-fabric rail, in rail order (one per rail, each in its rail's
    subnet); empty: from the pool's block."""


class PoolAddresses(Spec):
    """Where the pool's hosts sit on each network.

    A host's *slot* is its position in a network counting from the first host address (``.10`` of the
    network is slot 0); host ``<pool>-<nnn>`` takes slot ``offset + nnn - 1`` on every network the pool
    joins, so its addresses depend only on its own index, never on the pools before it.

    Example::

        NodePool(name="gpu-b", count=16, hardware=Hardware(profile="hgx-h200"),
                 addresses=PoolAddresses(offset=64, reserve=64,
                                         hosts=[HostAddresses(host="gpu-b-001", storage="10.1.0.9")]))
    """

    offset: int | None = Field(default=None, ge=0)
    """Slot of the pool's first host on every network it joins. Set it to keep this pool's addresses
    fixed whatever the pools before it do. None: right after the block of the pool before it on that
    network (pools packed in declaration order)."""
    reserve: int | None = Field(default=None, ge=1)
    """Slots the pool's block holds on each network (at least ``count``), so the pool can grow to this
    size without moving the pools after it. None: exactly ``count``."""
    hosts: tuple[HostAddresses, ...] = ()
    """Addresses pinned per host, one entry per host."""

    def pins(self) -> dict[str, tuple[int, HostAddresses]]:
        """Hostname -> (index in ``hosts``, its pinned addresses); the first entry wins for a name."""
        out: dict[str, tuple[int, HostAddresses]] = {}
        for i, h in enumerate(self.hosts):
            out.setdefault(h.host, (i, h))
        return out
