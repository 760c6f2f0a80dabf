"""Config files that land on hosts, under ``files/<host>/`` or ``files/_all/`` (see :mod:`dcinfra.render`).

Which of the two a file goes to follows from the Plan's semantics, not from comparing bytes: a file
whose content the Plan defines once for the whole stack (``/etc/hosts``, the sshd drop-in) is written
once under ``_all``; a file the Plan defines per host, per ruleset or per cluster membership is written
per host, and identical contents share one ``bytes`` object so large plans stay cheap to render.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_network
from typing import Any

from dcinfra.plan.types import CephPlan, FirewallRule, HdfsPlan, HostPlan, Plan
from dcinfra.render.engine import render_template

ALL = "_all"  # files/_all/<path>: deployed to every host; files/<host>/<path> overrides it

# Default CRUSH type map ids (osd 0, host 1, chassis 2, rack 3).
CRUSH_TYPE_IDS = {"osd": 0, "host": 1, "chassis": 2, "rack": 3, "row": 4, "pdu": 5, "pod": 6, "room": 7}

HADOOP_CONF = "etc/hadoop"
TOPOLOGY_MAP = "/etc/hadoop/topology.map"


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
    return render_template("nftables.conf.j2", ctx).encode()


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
    return render_template("sshd_config.conf.j2", ctx).encode()


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
    return render_template("hosts.j2", {"stack": plan.stack, "sections": sections}).encode()


def nccl_conf(plan: Plan, host: HostPlan) -> bytes:
    """``/etc/nccl.conf``: the host's NCCL_* settings (NCCL_DEBUG is left to jobs)."""
    env = sorted(
        (k, v) for k, v in host.nccl_env.items() if k.startswith("NCCL_") and not k.startswith("NCCL_DEBUG")
    )
    return render_template("nccl.conf.j2", {"stack": plan.stack, "env": env}).encode()


def ceph_conf(plan: Plan, ceph: CephPlan) -> bytes:
    """``/etc/ceph/<cluster>.conf``: cluster identity and monitors; never a key."""
    if ceph.failure_domain not in CRUSH_TYPE_IDS:
        raise ValueError(f"ceph failure domain {ceph.failure_domain!r} is not a default CRUSH type")
    mon_host = ",".join(f"[v2:{ip}:3300,v1:{ip}:6789]" for ip in ceph.mon_addresses)
    # The plan has no cluster-wide default; the strictest pool sets it so new pools are never weaker.
    sizes = [p.size for p in ceph.pools] or [3]
    min_sizes = [p.min_size for p in ceph.pools] or [2]
    ctx = {
        "stack": plan.stack,
        "ceph": ceph,
        "mon_host": mon_host,
        "default_size": max(sizes),
        "default_min_size": max(min_sizes),
        "chooseleaf_type": CRUSH_TYPE_IDS[ceph.failure_domain],
    }
    return render_template("ceph.conf.j2", ctx).encode()


def hadoop_files(plan: Plan, hdfs: HdfsPlan) -> dict[str, bytes]:
    """``etc/hadoop/*`` for every HDFS host, keyed by path relative to the host root."""
    base = {"stack": plan.stack, "hdfs_name": hdfs.name, "hadoop_version": hdfs.hadoop_version}
    files = {}
    for name, props in (("core-site.xml", hdfs.core_site), ("hdfs-site.xml", hdfs.hdfs_site)):
        ctx = {**base, "properties": sorted(props.items())}
        files[f"{HADOOP_CONF}/{name}"] = render_template("hadoop-site.xml.j2", ctx).encode()
    ctx = {**base, "datanodes": list(hdfs.datanodes)}
    files[f"{HADOOP_CONF}/workers"] = render_template("hadoop-workers.j2", ctx).encode()
    if hdfs.rack_awareness:
        ctx = {**base, "entries": sorted(hdfs.rack_map.items()), "map_path": TOPOLOGY_MAP}
        files[f"{HADOOP_CONF}/topology.map"] = render_template("hadoop-topology.map.j2", ctx).encode()
        files[f"{HADOOP_CONF}/topology.sh"] = render_template("hadoop-topology.sh.j2", ctx).encode()
    return files


def render_host_files(plan: Plan) -> dict[str, bytes]:
    """Every file under ``files/``, keyed by its path in the build dir."""
    out: dict[str, bytes] = {
        f"files/{ALL}/etc/hosts": etc_hosts(plan),
        f"files/{ALL}/etc/ssh/sshd_config.d/10-dcinfra.conf": sshd_conf(plan),
    }
    rulesets: dict[str, bytes] = {}
    nccl: dict[tuple[tuple[str, str], ...], bytes] = {}
    ceph_hosts: set[str] = set()
    ceph_bytes = b""
    if plan.ceph is not None and plan.ceph.deployed_by == "hosts":  # Rook writes its own config
        c = plan.ceph
        ceph_hosts = {*c.mons, *c.mgrs, *c.mdss, *c.clients, *(o.host for o in c.osds)}
        ceph_bytes = ceph_conf(plan, c)
    hdfs_hosts: set[str] = set()
    hdfs_bytes: dict[str, bytes] = {}
    if plan.hdfs is not None:
        hdfs_hosts = {plan.hdfs.namenode, *plan.hdfs.datanodes}
        hdfs_bytes = hadoop_files(plan, plan.hdfs)
    for host in plan.hosts:
        root = f"files/{host.name}"
        if host.firewall not in rulesets:
            rulesets[host.firewall] = nftables_conf(plan, host.firewall)
        out[f"{root}/etc/nftables.conf"] = rulesets[host.firewall]
        if "compute" in host.roles:
            key = tuple(sorted(host.nccl_env.items()))
            if key not in nccl:
                nccl[key] = nccl_conf(plan, host)
            out[f"{root}/etc/nccl.conf"] = nccl[key]
        if host.name in ceph_hosts and plan.ceph is not None:
            out[f"{root}/etc/ceph/{plan.ceph.name}.conf"] = ceph_bytes
        if host.name in hdfs_hosts:
            for path, content in hdfs_bytes.items():
                out[f"{root}/{path}"] = content
    return out
