"""Address filters for the validate role (Python's ipaddress; ansible-core has no ipaddr filter).

Examples: ``'172.31.240.10' | dcinfra_ip_in_network('172.31.240.0/24')`` is True,
``'not-an-ip' | dcinfra_is_ip`` is False.
"""

from __future__ import annotations

import ipaddress


def dcinfra_is_ip(value: object) -> bool:
    """True when ``value`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def dcinfra_ip_in_network(value: object, cidr: object) -> bool:
    """True when address ``value`` lies in network ``cidr``; False for anything unparsable."""
    try:
        return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return False


class FilterModule:
    """Ansible's entry point for filter plugins."""

    def filters(self) -> dict[str, object]:
        return {"dcinfra_is_ip": dcinfra_is_ip, "dcinfra_ip_in_network": dcinfra_ip_in_network}
