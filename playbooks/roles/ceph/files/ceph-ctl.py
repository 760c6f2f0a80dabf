#!/usr/bin/python3
"""ceph-ctl: the ceph role's reconciler over the `ceph` CLI (installed by the role; do not edit).

Every subcommand reads the cluster, compares it with the state the plan asks for, changes only what
differs (nothing with --check) and prints ONE JSON object on stdout, so each Ansible task reports
`changed` truthfully. Errors go to stderr with a non-zero exit. Python stdlib only.

    ceph-ctl probe-osds --cluster C --fsid F --osds JSON        classify each declared OSD device
    ceph-ctl auth       --cluster C --entities JSON [--check]   {entity: caps} as planned; their keyrings
    ceph-ctl write-files [--check] < JSON                        files (keyrings) whose content differs
    ceph-ctl config     --cluster C --settings JSON [--check]   `ceph config set` what differs
    ceph-ctl crush      --cluster C --tree JSON [--check]       CRUSH buckets and their parents
    ceph-ctl pools      --cluster C --pools JSON [--fs N:M:D] [--check]
                        pools (size, min_size, PGs, autoscale, application) and the CephFS on them
    ceph-ctl quorum     --cluster C --mons a,b,c                which planned mons are in quorum
    ceph-ctl osds       --cluster C --ids 0,1,2                 which planned OSDs are up and in
    ceph-ctl health     --cluster C --accept JSON [--pgs-only]  the health gate's verdict

The output of `auth` holds keys: the task that runs it is no_log. No other subcommand prints a key
(probe-osds reads BlueStore labels, which hold the OSD key, and prints only their identity fields).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

CONNECT_TIMEOUT = "20"


class CtlError(Exception):
    """A ceph command failed; the message names it."""


def run(argv: list[str], *, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        res = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=120)
    except subprocess.TimeoutExpired:
        raise CtlError(f"`{' '.join(argv[:8])}` did not answer within 120 s") from None
    if check and res.returncode != 0:
        why = res.stderr.strip() or res.stdout.strip()
        raise CtlError(f"`{' '.join(argv)}` failed ({res.returncode}): {why}")
    return res


class Ceph:
    """The `ceph` CLI of one cluster, as client.admin unless told otherwise."""

    def __init__(self, cluster: str) -> None:
        self.base = ["ceph", "--cluster", cluster, "--connect-timeout", CONNECT_TIMEOUT]

    def json(self, *args: str) -> Any:
        out = run([*self.base, *args, "--format", "json"]).stdout
        return json.loads(out) if out.strip() else None

    def do(self, *args: str, stdin: str | None = None) -> str:
        return run([*self.base, *args], stdin=stdin).stdout

    def raw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([*self.base, *args], check=False)


# -- probe-osds --------------------------------------------------------------------------------------
def _label(path: str) -> dict[str, str] | None:
    """The identity fields of a BlueStore label, or None when there is none (the key is dropped)."""
    res = run(["ceph-bluestore-tool", "show-label", "--dev", path], check=False)
    if res.returncode != 0:
        return None
    try:
        data = json.loads(res.stdout)
    except ValueError:
        return None
    label = data.get(path) or next(iter(data.values()), {})
    keep = ("ceph_fsid", "whoami", "osd_uuid", "mkfs_done", "description")
    return {k: str(label[k]) for k in keep if k in label}


def _signatures(path: str) -> list[str]:
    """Filesystem, partition-table, RAID or LVM signatures on a device or file (blkid -p, wipefs -n)."""
    found = []
    res = run(["blkid", "-p", "-o", "export", path], check=False)
    if res.returncode == 0:
        fields = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        kind = fields.get("TYPE") or fields.get("PTTYPE") or "unknown"
        found.append(f"blkid: {kind}" + (f" ({fields['USAGE']})" if "USAGE" in fields else ""))
    res = run(["wipefs", "--no-act", "--noheadings", "--output", "TYPE,OFFSET", path], check=False)
    if res.returncode == 0:
        found += [f"wipefs: {line.strip()}" for line in res.stdout.splitlines() if line.strip()]
    return found


def _ceph_volume_osds(cluster: str) -> dict[str, dict[str, str]]:
    """Real device path -> {osd_id, cluster_fsid, osd_fsid} for every OSD ceph-volume knows here."""
    res = run(["ceph-volume", "--cluster", cluster, "lvm", "list", "--format", "json"], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return {}
    out: dict[str, dict[str, str]] = {}
    for lvs in json.loads(res.stdout).values():
        for lv in lvs:
            tags = lv.get("tags", {})
            if tags.get("ceph.type") != "block":
                continue
            info = {
                "osd_id": str(tags.get("ceph.osd_id", "")),
                "cluster_fsid": tags.get("ceph.cluster_fsid", ""),
                "osd_fsid": tags.get("ceph.osd_fsid", ""),
            }
            for dev in lv.get("devices", []):
                out[os.path.realpath(dev)] = info
    return out


def probe_osds(args: argparse.Namespace) -> dict[str, Any]:
    """Each declared OSD: ours (an OSD of this cluster with the planned id), partial (ours, mkfs not
    finished), new (nothing there: create it), foreign (carries data that is not this OSD: refuse),
    missing (a declared block device that does not exist)."""
    osds = json.loads(args.osds)
    known: dict[str, dict[str, str]] | None = None
    result = []
    for osd in osds:
        oid, device = str(osd["id"]), str(osd["device"])
        entry = {"id": int(oid), "device": device}
        if device.startswith("file:"):
            data_dir = f"/var/lib/ceph/osd/{args.cluster}-{oid}"
            block = f"{data_dir}/block"
            entry["path"] = block
            if not os.path.exists(block):
                entry |= {"state": "new", "detail": f"{block} does not exist yet"}
            else:
                label = _label(block)
                if label is None:
                    sigs = _signatures(block)
                    if sigs:
                        entry |= {"state": "foreign", "detail": f"{block} carries {', '.join(sigs)}"}
                    else:
                        entry |= {"state": "new", "detail": f"{block} is blank (no label, no signature)"}
                elif label.get("ceph_fsid") != args.fsid or label.get("whoami") != oid:
                    entry |= {
                        "state": "foreign",
                        "detail": f"{block} is BlueStore of cluster {label.get('ceph_fsid', '?')} "
                        f"osd.{label.get('whoami', '?')}, not osd.{oid} of cluster {args.fsid}",
                    }
                elif label.get("mkfs_done") == "yes" and os.path.exists(f"{data_dir}/ready"):
                    entry |= {"state": "ours", "detail": f"osd.{oid} (uuid {label.get('osd_uuid', '?')})"}
                else:
                    detail = f"osd.{oid}: mkfs was interrupted; it is finished"
                    entry |= {"state": "partial", "detail": detail}
        else:
            path = os.path.realpath(device)
            entry["path"] = path
            if known is None:
                known = _ceph_volume_osds(args.cluster)
            info = known.get(path)
            if not os.path.exists(path):
                entry |= {"state": "missing", "detail": f"{device} does not exist on this host"}
            elif info is not None:
                if info["cluster_fsid"] == args.fsid and info["osd_id"] == oid:
                    entry |= {"state": "ours", "detail": f"osd.{oid} (uuid {info['osd_fsid']})"}
                else:
                    entry |= {
                        "state": "foreign",
                        "detail": f"{device} holds osd.{info['osd_id']} of cluster {info['cluster_fsid']}, "
                        f"not osd.{oid} of cluster {args.fsid}",
                    }
            else:
                sigs = _signatures(path)
                children = run(["lsblk", "--noheadings", "--raw", "--output", "NAME", path], check=False)
                if len(children.stdout.split()) > 1:
                    sigs.append("lsblk: partitions or holders")
                if sigs:
                    entry |= {"state": "foreign", "detail": f"{device} carries {', '.join(sigs)}"}
                else:
                    entry |= {"state": "new", "detail": f"{device} is blank"}
        result.append(entry)
    return {"changed": [], "osds": result}


# -- auth ----------------------------------------------------------------------------------------------
def _caps_args(caps: dict[str, str]) -> list[str]:
    out = []
    for kind in sorted(caps):
        out += [kind, caps[kind]]
    return out


def _keyring(entity: str, key: str, caps: dict[str, str]) -> str:
    """The keyring `ceph auth get ENTITY` prints, byte for byte, from `auth ls` fields (one monitor
    round trip for every entity instead of one per entity)."""
    lines = [f"[{entity}]", f"\tkey = {key}", *(f'\tcaps {kind} = "{caps[kind]}"' for kind in sorted(caps))]
    return "\n".join(lines) + "\n"


def auth(args: argparse.Namespace) -> dict[str, Any]:
    """Create missing entities, correct caps that differ from the plan, return every keyring."""
    ceph = Ceph(args.cluster)
    entities: dict[str, dict[str, str]] = json.loads(args.entities)
    existing = {e["entity"]: e for e in ceph.json("auth", "ls")["auth_dump"]}
    changed, keyrings = [], {}
    for name, planned in sorted(entities.items()):
        caps = {k: v for k, v in planned.items() if v}
        have = existing.get(name)
        if have is None:
            changed.append(f"create {name}")
            if not args.check:
                ceph.do("auth", "get-or-create", name, *_caps_args(caps))
                keyrings[name] = ceph.do("auth", "get", name)
        elif have.get("caps", {}) != caps:
            changed.append(f"caps {name}: {have.get('caps', {})} -> {caps}")
            if args.check:
                keyrings[name] = _keyring(name, have["key"], have.get("caps", {}))
            else:
                ceph.do("auth", "caps", name, *_caps_args(caps))
                keyrings[name] = ceph.do("auth", "get", name)
        else:
            keyrings[name] = _keyring(name, have["key"], caps)
    return {"changed": changed, "keyrings": keyrings}


# -- write-files ---------------------------------------------------------------------------------------
def write_files(args: argparse.Namespace) -> dict[str, Any]:
    """Files from stdin ({"files": [{path, owner, mode, entity}], "contents": {entity: text}}: keyrings)
    written atomically where the content, owner or mode differ; a file whose entity has no content is
    skipped (check mode, before the key exists). Prints the changed paths only, never a content."""
    import grp
    import pwd

    changed = []
    data = json.loads(sys.stdin.read())
    for f in data["files"]:
        if f["entity"] not in data["contents"]:
            continue
        path, content = f["path"], data["contents"][f["entity"]].encode()
        uid, gid = pwd.getpwnam(f["owner"]).pw_uid, grp.getgrnam(f["owner"]).gr_gid
        mode = int(f.get("mode", "0600"), 8)
        try:
            st = os.stat(path)
            with open(path, "rb") as fh:
                same = fh.read() == content
            same = same and (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode)
        except FileNotFoundError:
            same = False
        if same:
            continue
        changed.append(path)
        if args.check:
            continue
        tmp = f"{path}.dcinfra-tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, content)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    return {"changed": changed}


# -- config --------------------------------------------------------------------------------------------
def config(args: argparse.Namespace) -> dict[str, Any]:
    """`ceph config set WHO NAME VALUE` for each setting whose value in the config database differs."""
    ceph = Ceph(args.cluster)
    current = {(c["section"], c["name"]): str(c["value"]) for c in ceph.json("config", "dump")}
    changed = []
    for s in json.loads(args.settings):
        who, name, value = s["who"], s["name"], str(s["value"])
        if current.get((who, name)) != value:
            changed.append(f"{who} {name} = {value} (was {current.get((who, name), 'unset')})")
            if not args.check:
                ceph.do("config", "set", who, name, value)
    return {"changed": changed}


# -- crush ---------------------------------------------------------------------------------------------
def crush(args: argparse.Namespace) -> dict[str, Any]:
    """Buckets of the planned tree (root -> rack -> host) exist under their planned parent; each planned
    OSD already in the map sits under its planned host. OSDs not in the map yet are left to place
    themselves at start (their host bucket then already exists where the plan wants it)."""
    ceph = Ceph(args.cluster)
    dump = ceph.json("osd", "crush", "dump")
    # Shadow buckets ("node-001~hdd") mirror the tree per device class; Ceph maintains them itself.
    dump["buckets"] = [b for b in dump["buckets"] if "~" not in b["name"]]
    names = {b["id"]: b["name"] for b in dump["buckets"]}
    names |= {d["id"]: d["name"] for d in dump["devices"]}
    parent: dict[str, str] = {}
    for b in dump["buckets"]:
        for item in b["items"]:
            parent[names.get(item["id"], str(item["id"]))] = b["name"]
    buckets = {b["name"]: b["type_name"] for b in dump["buckets"]}
    devices = {d["name"] for d in dump["devices"]}
    changed, pending = [], []

    def walk(node: dict[str, Any], up: dict[str, Any] | None) -> None:
        name, kind = node["name"], node["type"]
        want = f"{up['type']}={up['name']}" if up else None
        if kind == "osd":
            if name not in devices or name not in parent:
                pending.append(name)
            elif up is not None and parent[name] != up["name"]:
                changed.append(f"move {name} from {parent[name]} to {want}")
                if not args.check:
                    ceph.do("osd", "crush", "move", name, want or "")
        else:
            if name not in buckets:
                changed.append(f"add-bucket {name} {kind}")
                if not args.check:
                    ceph.do("osd", "crush", "add-bucket", name, kind)
            elif buckets[name] != kind:
                raise CtlError(f"CRUSH bucket {name!r} is a {buckets[name]}, the plan wants a {kind}")
            if up is not None and parent.get(name) != up["name"]:
                changed.append(f"move {name} from {parent.get(name, '(top)')} to {want}")
                if not args.check:
                    ceph.do("osd", "crush", "move", name, want or "")
        for child in node.get("children", []):
            walk(child, node)

    walk(json.loads(args.tree), None)
    return {"changed": changed, "pending_osds": pending}


# -- pools ---------------------------------------------------------------------------------------------
def pools(args: argparse.Namespace) -> dict[str, Any]:
    """Create missing pools; keep size, min_size and autoscale mode as planned; pg_num as planned when
    the autoscaler is off (with it on, pg_num_min holds the planned count and the autoscaler may grow
    it). Application tags: rbd pools are initialised with `rbd pool init`; cephfs pools are tagged by
    `ceph fs new` (--fs), which runs after the pools exist and before they are sized."""
    ceph = Ceph(args.cluster)
    planned = json.loads(args.pools)
    changed = []
    have = {p["pool_name"]: p for p in ceph.json("osd", "pool", "ls", "detail")}
    for p in planned:
        if p["name"] not in have:
            mode = "on" if p["autoscale"] else "off"
            changed.append(f"create {p['name']} (pg_num {p['pg_num']}, autoscale {mode})")
            if not args.check:
                pg = str(p["pg_num"])
                ceph.do("osd", "pool", "create", p["name"], pg, pg, "replicated", "--autoscale-mode", mode)
    # `ceph fs new` tunes the metadata pool (pg_num_min, bias): create the file system before sizing.
    if args.fs:
        name, metadata, data = args.fs.split(":")
        changed += fs_new(ceph, name, metadata, data, check=args.check)
    if args.check and changed:
        return {"changed": changed}
    have = {p["pool_name"]: p for p in ceph.json("osd", "pool", "ls", "detail")}

    def setp(pool: str, key: str, value: str) -> None:
        changed.append(f"{pool}: {key} = {value}")
        if not args.check:
            ceph.do("osd", "pool", "set", pool, key, value)

    for p in planned:
        name, pg = p["name"], str(p["pg_num"])
        mode = "on" if p["autoscale"] else "off"
        cur = have[name]
        if int(cur["size"]) != int(p["size"]):
            setp(name, "size", str(p["size"]))
        if int(cur["min_size"]) != int(p["min_size"]):
            setp(name, "min_size", str(p["min_size"]))
        if cur.get("pg_autoscale_mode") != mode:
            setp(name, "pg_autoscale_mode", mode)
        if p["autoscale"]:
            if int(cur.get("options", {}).get("pg_num_min", 0)) != int(pg):
                setp(name, "pg_num_min", pg)
        elif int(cur["pg_num"]) != int(pg) and int(cur.get("pg_num_target", cur["pg_num"])) != int(pg):
            setp(name, "pg_num", pg)
        apps = cur.get("application_metadata", {})
        if p["application"] == "rbd" and "rbd" not in apps:
            changed.append(f"{name}: rbd pool init")
            if not args.check:
                run(["rbd", "--cluster", args.cluster, "pool", "init", name])
        elif p["application"] not in ("rbd", "cephfs") and p["application"] not in apps:
            changed.append(f"{name}: application enable {p['application']}")
            if not args.check:
                ceph.do("osd", "pool", "application", "enable", name, p["application"])
    return {"changed": changed}


# -- fs ------------------------------------------------------------------------------------------------
def fs_new(ceph: Ceph, name: str, metadata: str, data: str, *, check: bool) -> list[str]:
    """The CephFS exists on the planned pools; a file system with that name on other pools is an error."""
    for f in ceph.json("fs", "ls") or []:
        if f["name"] == name:
            if f["metadata_pool"] != metadata or data not in f["data_pools"]:
                raise CtlError(
                    f"CephFS {name!r} exists on pools {f['metadata_pool']}/{f['data_pools']}, "
                    f"the plan wants {metadata}/{data}; dcinfra does not move file systems"
                )
            return []
    if not check:
        ceph.do("fs", "new", name, metadata, data)
    return [f"fs new {name} {metadata} {data}"]


# -- quorum, osds, health ------------------------------------------------------------------------------
def quorum(args: argparse.Namespace) -> dict[str, Any]:
    want = [m for m in args.mons.split(",") if m]
    res = Ceph(args.cluster).raw("quorum_status", "--format", "json")
    if res.returncode != 0:
        return {"changed": [], "ok": False, "in_quorum": [], "missing": want, "error": res.stderr.strip()}
    names = json.loads(res.stdout).get("quorum_names", [])
    missing = [m for m in want if m not in names]
    return {"changed": [], "ok": not missing, "in_quorum": names, "missing": missing}


def osds(args: argparse.Namespace) -> dict[str, Any]:
    want = [int(i) for i in args.ids.split(",") if i != ""]
    dump = Ceph(args.cluster).json("osd", "dump")
    by_id = {o["osd"]: o for o in dump["osds"]}
    down = [i for i in want if not by_id.get(i, {}).get("up")]
    out = [i for i in want if not by_id.get(i, {}).get("in")]
    missing = [i for i in want if i not in by_id]
    return {
        "changed": [],
        "ok": not down and not out,
        "ids": sorted(by_id),
        "down": down,
        "out": out,
        "missing": missing,
        "flags": dump.get("flags", ""),
    }


def health(args: argparse.Namespace) -> dict[str, Any]:
    """ok: HEALTH_OK (or only accepted warnings, never an error) and every PG active+clean."""
    ceph = Ceph(args.cluster)
    accept: dict[str, str] = json.loads(args.accept)
    status = ceph.json("status")
    h = status["health"]
    checks = {}
    for code, c in sorted(h.get("checks", {}).items()):
        checks[code] = {
            "severity": c.get("severity", ""),
            "message": c.get("summary", {}).get("message", ""),
            "accepted": accept.get(code) if c.get("severity") == "HEALTH_WARN" else None,
        }
    unaccepted = [code for code, c in checks.items() if not c["accepted"]]
    pgmap = status.get("pgmap", {})
    states = {s["state_name"]: s["count"] for s in pgmap.get("pgs_by_state", [])}
    total = int(pgmap.get("num_pgs", 0))
    clean = states.get("active+clean", 0)
    pgs_ok = total > 0 and clean == total
    health_ok = h["status"] == "HEALTH_OK" or not unaccepted
    ok = pgs_ok if args.pgs_only else (pgs_ok and health_ok)
    problems = [f"{code} ({checks[code]['severity']}): {checks[code]['message']}" for code in unaccepted]
    if not pgs_ok:
        others = ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s != "active+clean")
        problems.append(f"PGs: {clean} of {total} active+clean" + (f"; {others}" if others else ""))
    return {
        "changed": [],
        "ok": ok,
        "status": h["status"],
        "checks": checks,
        "unaccepted": unaccepted,
        "pgs": {"total": total, "active_clean": clean, "states": states},
        "problems": problems,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="ceph-ctl")
    sub = parser.add_subparsers(dest="cmd", required=True)

    def add(name: str, *opts: str, check: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name)
        p.add_argument("--cluster", default="ceph")
        for o in opts:
            p.add_argument(f"--{o}", required=True)
        if check:
            p.add_argument("--check", action="store_true", help="report what would change; change nothing")
        return p

    add("probe-osds", "fsid", "osds", check=False)
    add("write-files")
    add("auth", "entities")
    add("config", "settings")
    add("crush", "tree")
    add("pools", "pools").add_argument("--fs", default="", help="NAME:METADATA_POOL:DATA_POOL")
    add("quorum", "mons", check=False)
    add("osds", "ids", check=False)
    add("health", "accept", check=False).add_argument("--pgs-only", action="store_true")
    args = parser.parse_args()
    handler = {
        "probe-osds": probe_osds,
        "write-files": write_files,
        "auth": auth,
        "config": config,
        "crush": crush,
        "pools": pools,
        "quorum": quorum,
        "osds": osds,
        "health": health,
    }[args.cmd]
    try:
        result = handler(args)
    except CtlError as e:
        print(f"ceph-ctl {args.cmd}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
