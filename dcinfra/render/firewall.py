"""Firewall layer: each host's ``/etc/nftables.conf`` (``files/<host>/etc/nftables.conf``, every host).

The Plan compiles the stack's security policy into named rulesets (``plan.security.rulesets``) and gives
each host one (``HostPlan.firewall``); this module turns a ruleset into nft statements. Hosts with the
same ruleset share one ``bytes`` object. Templates: ``dcinfra/templates/firewall/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_network

from dcinfra.plan.types import FirewallRule, Plan
from dcinfra.render.engine import render_template
from dcinfra.render.layout import host_path

NFTABLES_CONF = "etc/nftables.conf"
SET_WRAP = 4  # set elements per line once a set is too long for one line


def _nft_set(items: Iterable[str]) -> str:
    values = list(items)
    if len(values) == 1:
        return values[0]
    if len(values) <= SET_WRAP:
        return "{ " + ", ".join(values) + " }"
    # One long line of 40 CIDRs is unreviewable; nft accepts newlines and a trailing comma in sets.
    rows = [", ".join(values[i : i + SET_WRAP]) + "," for i in range(0, len(values), SET_WRAP)]
    return "{\n" + "".join(f"\t\t\t{row}\n" for row in rows) + "\t\t}"


def _nft_quote(value: str) -> str:
    text = value.replace('"', "'").replace("\n", " ")
    encoded = text.encode()
    if len(encoded) > 128:  # nft rejects comments longer than 128 bytes
        text = encoded[:125].decode(errors="ignore") + "..."
    return '"' + text + '"'


def nft_rule_lines(rule: FirewallRule) -> list[str]:
    """The nft statements for one rule: one per address family its sources need."""
    if rule.action not in {"accept", "drop"}:
        raise ValueError(f"firewall rule {rule.comment!r}: action {rule.action!r} is not accept or drop")
    v4 = [s for s in rule.sources if ip_network(s, strict=False).version == 4]
    v6 = [s for s in rule.sources if ip_network(s, strict=False).version == 6]
    families: list[tuple[str | None, list[str]]] = []
    if not rule.sources:
        families.append((None, []))
    if v4:
        families.append(("ip", v4))
    if v6:
        families.append(("ip6", v6))
    lines = []
    for family, sources in families:
        parts = []
        if rule.interface:
            parts.append(f"iifname {_nft_quote(rule.interface)}")
        if family is not None:
            parts.append(f"{family} saddr {_nft_set(sources)}")
        ports = _nft_set(rule.ports) if rule.ports else ""
        if rule.protocol in {"tcp", "udp"}:
            parts.append(f"{rule.protocol} dport {ports}" if ports else f"meta l4proto {rule.protocol}")
        elif rule.protocol == "icmp":
            icmp = {"ip": "icmp", "ip6": "ipv6-icmp", None: "{ icmp, ipv6-icmp }"}[family]
            parts.append(f"meta l4proto {icmp}")
        elif rule.protocol == "any":
            if ports:
                parts.append(f"meta l4proto {{ tcp, udp }} th dport {ports}")
        else:
            raise ValueError(f"firewall rule {rule.comment!r}: unknown protocol {rule.protocol!r}")
        parts.append(rule.action)
        parts.append(f"comment {_nft_quote(rule.comment)}")
        lines.append(" ".join(parts))
    return lines


def nftables_conf(plan: Plan, ruleset: str) -> bytes:
    """``/etc/nftables.conf`` for hosts with firewall ruleset ``ruleset``."""
    try:
        rules = plan.security.rulesets[ruleset]
    except KeyError:
        known = ", ".join(sorted(plan.security.rulesets)) or "none"
        raise ValueError(f"firewall ruleset {ruleset!r} is not in the plan (known: {known})") from None
    deny = plan.security.default == "deny"
    ctx = {
        "stack": plan.stack,
        "ruleset": ruleset,
        "default": plan.security.default,
        "input_policy": "drop" if deny else "accept",
        "forward_policy": "drop" if deny else "accept",
        "rules": [nft_rule_lines(r) for r in rules],
    }
    return render_template("firewall/nftables.conf.j2", ctx).encode()


def files(plan: Plan) -> dict[str, bytes]:
    """``files/<host>/etc/nftables.conf`` for every host, rendered once per ruleset."""
    rulesets: dict[str, bytes] = {}
    out: dict[str, bytes] = {}
    for host in plan.hosts:
        if host.firewall not in rulesets:
            rulesets[host.firewall] = nftables_conf(plan, host.firewall)
        out[host_path(host.name, NFTABLES_CONF)] = rulesets[host.firewall]
    return out
