"""Address runs: a set of IPv4 addresses as the consecutive runs the planner allocates them in.

The firewall compiler summarizes runs into CIDRs and the Network Operator's IP pools exclude them as
ranges; both go through :func:`address_runs`, which is linear in the number of addresses (sorting the
integers and cutting at gaps is far cheaper than ``collapse_addresses`` over thousands of /32s).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, summarize_address_range


def address_runs(addresses: Iterable[str]) -> list[tuple[IPv4Address, IPv4Address]]:
    """(first, last) of each run of consecutive addresses, in address order; duplicates count once."""
    ints = sorted({int.from_bytes(socket.inet_aton(a), "big") for a in addresses})
    out: list[tuple[IPv4Address, IPv4Address]] = []
    start = prev = None
    for i in [*ints, None]:
        if start is not None and prev is not None and (i is None or i != prev + 1):
            out.append((IPv4Address(start), IPv4Address(prev)))
            start = None
        if i is not None and start is None:
            start = i
        prev = i
    return out


def covering_cidrs(addresses: Iterable[str]) -> tuple[str, ...]:
    """The smallest list of CIDRs covering exactly ``addresses``."""
    return tuple(
        str(n) for first, last in address_runs(addresses) for n in summarize_address_range(first, last)
    )
