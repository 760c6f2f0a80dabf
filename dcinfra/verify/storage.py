"""The storage checks of the verify stage: Ceph health, ``rados bench``, CephFS from every compute host.

Pure: the verify playbook's ``verify_storage`` role (``playbooks/roles/verify_storage``) runs the
commands and keeps their raw output in the results dir; :func:`storage_report` turns that into checks
and the report's ``storage`` section. It exists only when the plan has Ceph
(:attr:`~dcinfra.plan.types.VerifyPlan.storage`).

What runs, all with the compute hosts' Ceph client key (``client.compute``, least privilege: its caps
cover the RBD pools and the CephFS; client.admin on a monitor only when no host has the client key)
on the plan's probe host, a compute host:

* ``ceph status --format json``: the health status, its checks, the PG states; ``ceph health detail``
  to name the hosts behind an unhealthy check;
* ``rados bench -p POOL S write --no-cleanup``, then ``rados bench -p POOL S seq`` reading those
  objects back, then ``rados cleanup`` (each S = ``VerifySettings.storage_bench_s`` seconds);
* on every compute host that mounts the CephFS, at once: write a file of
  ``VerifySettings.storage_file_mib`` MiB of random data with fsync, then read back the file the next
  host wrote (a ring, so no host reads through its own client cache) and compare checksums.

Verdicts:

* ``storage.health``: pass on HEALTH_OK, or when every health check is a warning the ceph role accepts
  on a lab cluster (``ceph_shared_machine_accepted_health`` in ``roles/ceph/defaults/main.yml``; never on bare
  metal); fail otherwise; error when the status could not be read;
* ``storage.rados.write`` / ``storage.rados.read``: pass when the bench moved data (MB/s > 0); the plan
  has no expected storage bandwidth, so the figures are gated only on working at all; error when the
  bench could not run or did not finish within its bound;
* ``storage.cephfs.write`` / ``storage.cephfs.read``: every host wrote (read) its file; the figure is
  the slowest host's, and the check names it; error naming the first host whose write (read) failed;
* ``storage.cephfs.content``: every file read back is byte for byte what its writer wrote (SHA-256);
  fail naming the reader and the writer.

Bandwidths are MB/s with MB = 1e6 bytes (``rados bench`` itself prints MiB/s; its byte counts are used).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from dcinfra.plan.types import StorageVerifyPlan
from dcinfra.verify.check import Check, Verdict

STATUS_BOUND_S = 60  # `ceph status` answers in well under a second on a working cluster
BENCH_GRACE_S = 60  # a bench run may take its seconds plus the in-flight ops and connecting
CLEANUP_BOUND_S = 300  # removing the benchmark objects (thousands on a fast cluster)
TIMED_OUT = 124  # coreutils timeout's exit status when the bound ran out
KILLED = 137  # ... and when the command had to be killed after it


def storage_bounds_s(plan: StorageVerifyPlan) -> dict[str, int]:
    """The bound of each kind of storage command, seconds (the role runs them under ``timeout``)."""
    return {
        "status": STATUS_BOUND_S,
        "bench": plan.bench_s + BENCH_GRACE_S,
        "cleanup": CLEANUP_BOUND_S,
        "io": plan.timeout_s,
    }


def storage_budget_s(plan: StorageVerifyPlan | None) -> int:
    """Worst-case seconds the storage checks add to the verify playbook (0 without Ceph)."""
    if plan is None:
        return 0
    b = storage_bounds_s(plan)
    return 2 * b["status"] + 2 * b["bench"] + b["cleanup"] + 2 * b["io"] + 60  # + task overhead


def parse_rados_bench(text: str) -> dict[str, Any]:
    """Totals of ``rados bench ... --format json`` output (write or seq).

    Ceph 16 prints a plain ``hints = 1`` line before the JSON object and every value as a string.
    Returns {"op", "bytes", "seconds", "MBps", "ops", "op_size_bytes", "iops", "latency_avg_s"}.
    Raises ValueError naming what is missing.
    """
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the rados bench output")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError as e:
        raise ValueError(f"rados bench output is not JSON ({e})") from e
    if not isinstance(doc, Mapping):
        raise ValueError("rados bench JSON is not an object")
    op = "write" if "total_writes_made" in doc else "read" if "total_reads_made" in doc else None
    if op is None:
        raise ValueError("rados bench JSON has neither total_writes_made nor total_reads_made")
    try:
        ops = int(doc["total_writes_made" if op == "write" else "total_reads_made"])
        size = int(doc["write_size" if op == "write" else "read_size"])
        seconds = float(doc["total_time_run"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"rados bench JSON lacks its totals ({e!r})") from e
    total = ops * size
    latency = doc.get("average_latency")
    return {
        "op": op,
        "bytes": total,
        "seconds": seconds,
        "MBps": round(total / seconds / 1e6, 3) if seconds > 0 else 0.0,
        "ops": ops,
        "op_size_bytes": size,
        "iops": round(ops / seconds, 3) if seconds > 0 else 0.0,
        "latency_avg_s": float(latency) if latency not in (None, "") else None,
    }


def parse_ceph_status(text: str, accepted: Mapping[str, str]) -> dict[str, Any]:
    """Health of ``ceph status --format json``, judged against the ``accepted`` warnings {code: reason}.

    Returns {"status", "ok", "checks": {code: {"severity", "message", "accepted"}}, "unaccepted",
    "pgs": {"total", "active_clean", "states"}}. ok: HEALTH_OK, or only accepted warnings (never an
    error). Raises ValueError when the text is not a status document.
    """
    try:
        doc = json.loads(text)
        health = doc["health"]
        status = str(health["status"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"`ceph status` output is not a status document ({e!r})") from e
    checks: dict[str, dict[str, Any]] = {}
    for code, c in sorted((health.get("checks") or {}).items()):
        severity = str(c.get("severity", ""))
        checks[code] = {
            "severity": severity,
            "message": str((c.get("summary") or {}).get("message", "")),
            "accepted": accepted.get(code) if severity == "HEALTH_WARN" else None,
        }
    unaccepted = [code for code, c in checks.items() if not c["accepted"]]
    pgmap = doc.get("pgmap") or {}
    states = {str(s["state_name"]): int(s["count"]) for s in pgmap.get("pgs_by_state") or []}
    # Scrubbing is routine: "active+clean+scrubbing" is clean.
    clean = sum(n for s, n in states.items() if s == "active+clean" or s.startswith("active+clean+"))
    return {
        "status": status,
        "ok": status == "HEALTH_OK" or (status == "HEALTH_WARN" and not unaccepted),
        "checks": checks,
        "unaccepted": unaccepted,
        "pgs": {"total": int(pgmap.get("num_pgs", 0)), "active_clean": clean, "states": states},
    }


# Where `ceph health detail` names a host: "osd.2 (root=default,host=node-003) is down", "host node-003
# (root=default) (1 osds) down", "from osd.2 [node-003] to osd.0 [node-001]", "mon.node-001 has 5%
# avail", "mds.node-001(mds.0): ..." (dcinfra names mons, mgrs and mdss after their hosts).
_HOST_IN_DETAIL = re.compile(
    r"host[= ](?P<h1>[A-Za-z0-9][\w.-]*)|osd\.\d+ \[(?P<h2>[A-Za-z0-9][\w.-]*)\]"
    r"|\b(?:mon|mgr|mds)\.(?P<h3>[A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*)*)"  # not "mds.0" (a rank)
)
DETAIL_LINES = 5  # detail messages kept per unhealthy check


def parse_health_detail(text: str, codes: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """({code: its first detail messages}, hosts they name, in order) for ``codes`` from
    ``ceph health detail --format json``; ({}, []) when the text is not that document."""
    try:
        checks = json.loads(text).get("checks") or {}
    except (ValueError, AttributeError):
        return {}, []
    details: dict[str, list[str]] = {}
    hosts: list[str] = []
    for code in codes:
        lines = [str(d.get("message", "")) for d in (checks.get(code) or {}).get("detail") or []]
        details[code] = lines[:DETAIL_LINES]
        for line in lines[:50]:
            for m in _HOST_IN_DETAIL.finditer(line):
                host = m.group("h1") or m.group("h2") or m.group("h3")
                if host and host not in hosts:
                    hosts.append(host)
    return details, hosts


def parse_io(text: str) -> dict[str, Any]:
    """The JSON line of the role's ``cephfs-io`` helper: {"op", "path", "bytes", "seconds", "MBps",
    "sha256"}, or {"op", "path", "error"}. Raises ValueError when there is none."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            doc = json.loads(line)
            if isinstance(doc, dict):
                return doc
    raise ValueError("no JSON result from cephfs-io")


def _failure(run: Mapping[str, Any] | None, bound_s: int, what: str) -> str | None:
    """Why a recorded command failed (None when it succeeded)."""
    if not run:
        return f"{what}: no result (the verify play did not reach it)"
    rc = run.get("rc")
    if rc is None:
        return f"{what}: not run"
    if rc == 0:
        return None
    if rc in (TIMED_OUT, KILLED):
        return f"{what}: did not finish within {bound_s} s"
    tail = str(run.get("stderr_tail") or "").strip().splitlines()
    return f"{what} failed (exit {rc})" + (f": {tail[-1]}" if tail else "")


def _check(
    name: str,
    verdict: Verdict,
    unit: str,
    measured: float | None,
    node: str | None,
    detail: str,
    *,
    expected: float | None = None,
    threshold: float | None = None,
    direction: Literal["min", "max"] = "min",
) -> Check:
    return Check(name, verdict, unit, expected, measured, threshold, direction, node, detail)


def _health(plan: StorageVerifyPlan, raw: Mapping[str, Any] | None) -> tuple[Check, dict[str, Any]]:
    accepted = dict((raw or {}).get("accepted") or {})
    section: dict[str, Any] = {
        "host": plan.probe_host,
        "status": None,
        "ok": False,
        "checks": {},
        "accepted": accepted,
        "unaccepted": [],
        "detail": {},
        "hosts": [],
        "pgs": None,
        "error": None,
    }
    why = _failure(raw, STATUS_BOUND_S, "`ceph status`")
    parsed = None
    if why is None and raw is not None:
        try:
            parsed = parse_ceph_status(str(raw.get("stdout") or ""), accepted)
        except ValueError as e:
            why = str(e)
    if parsed is None:
        section["error"] = why
        return _check(
            "storage.health", "error", "checks", None, plan.probe_host, str(why), expected=0.0
        ), section
    section.update(parsed, error=None)
    detail_text = str((raw or {}).get("detail_stdout") or "")
    detail_lines, named = parse_health_detail(detail_text, parsed["unaccepted"])
    section.update(detail=detail_lines, hosts=named)
    pgs = parsed["pgs"]
    pg_note = f"{pgs['active_clean']} of {pgs['total']} PGs active+clean"
    took = [code for code, c in parsed["checks"].items() if c["accepted"]]
    bad = parsed["unaccepted"]
    if parsed["ok"]:
        detail = parsed["status"] + (f", accepted on this lab: {', '.join(took)}" if took else "")
        verdict: Verdict = "pass"
    else:
        items = "; ".join(f"{code} ({parsed['checks'][code]['message']})" for code in bad[:4])
        more = f" (+{len(bad) - 4} more)" if len(bad) > 4 else ""
        detail = f"{parsed['status']}: {items or 'no checks listed'}{more}; see `ceph health detail`"
        verdict = "fail"
    return _check(
        "storage.health",
        verdict,
        "checks",
        float(len(bad)),
        named[0] if named and verdict == "fail" else None,
        f"{detail}; {pg_note}" + (f"; hosts named: {', '.join(named[:5])}" if named and bad else ""),
        expected=0.0,
        threshold=0.0,
        direction="max",
    ), section


def _rados(
    plan: StorageVerifyPlan, raw: Mapping[str, Any] | None
) -> tuple[list[Check], dict[str, Any] | None]:
    if plan.bench_pool is None:
        none = "no pool the probe may write to"
        return [
            _check(f"storage.rados.{op}", "skipped", "MB/s", None, None, none) for op in ("write", "read")
        ], None
    host, bound = plan.probe_host, plan.bench_s + BENCH_GRACE_S
    section: dict[str, Any] = {
        "host": host,
        "pool": plan.bench_pool,
        "seconds": plan.bench_s,
        "write_MBps": None,
        "read_MBps": None,
        "write": None,
        "read": None,
        "cleaned_up": None,
        "error": None,
    }
    checks = []
    for op in ("write", "read"):
        run = (raw or {}).get(op)
        why = _failure(run, bound, f"rados bench {'seq' if op == 'read' else op}")
        result = None
        if why is None and run is not None:
            try:
                result = parse_rados_bench(str(run.get("stdout") or ""))
            except ValueError as e:
                why = str(e)
        if result is None:
            if op == "read" and section["error"] and (run or {}).get("rc") is None:
                why = "not run: the write failed"
            section["error"] = section["error"] or why
            checks.append(_check(f"storage.rados.{op}", "error", "MB/s", None, host, str(why)))
            continue
        section[op] = result
        section[f"{op}_MBps"] = result["MBps"]
        verdict: Verdict = "pass" if result["MBps"] > 0 else "fail"
        detail = (
            f"pool {plan.bench_pool!r}: {result['ops']} x {result['op_size_bytes'] // 1024} KiB in "
            f"{result['seconds']:.1f} s"
        )
        if result["latency_avg_s"] is not None:
            detail += f", avg latency {result['latency_avg_s'] * 1e3:.0f} ms"
        if verdict == "fail":
            detail += f": nothing was {'written' if op == 'write' else 'read'}; see `ceph -s` on {host}"
        checks.append(_check(f"storage.rados.{op}", verdict, "MB/s", result["MBps"], host, detail))
    cleanup = (raw or {}).get("cleanup")
    if cleanup and cleanup.get("rc") is not None:
        section["cleaned_up"] = cleanup.get("rc") == 0
        if not section["cleaned_up"]:
            note = _failure(cleanup, CLEANUP_BOUND_S, "rados cleanup")
            fix = f"`rados -p {plan.bench_pool} cleanup --run-name dcinfra-verify`"
            left = f" (objects left behind: {note}; remove them with {fix})"
            checks[0] = replace(checks[0], detail=checks[0].detail + left)
    return checks, section


def _cephfs(
    plan: StorageVerifyPlan, raw: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Check], dict[str, Any] | None]:
    if plan.cephfs_mount is None or not plan.cephfs_hosts:
        return [], None
    bound = plan.timeout_s
    rows: list[dict[str, Any]] = []
    writes: dict[str, dict[str, Any]] = {}
    reads: dict[str, dict[str, Any]] = {}
    for host in plan.cephfs_hosts:
        rec = raw.get(host) or {}
        row: dict[str, Any] = {
            "node": host,
            "read_from": plan.cephfs_read_from.get(host, host),
            "write_MBps": None,
            "read_MBps": None,
            "ok": False,
            "error": None,
        }
        for op, out in (("write", writes), ("read", reads)):
            run = rec.get(op) if rec else None
            why = _failure(run, bound, f"{op} on {host}") if rec else f"{host}: no result"
            if run and run.get("stdout"):
                try:
                    doc = parse_io(str(run["stdout"]))
                except ValueError as e:
                    doc = {"error": str(e)}
                if doc.get("error"):
                    why = f"{op} on {host} failed: {doc['error']}"
                elif why is None:
                    out[host] = doc
                    row[f"{op}_MBps"] = doc.get("MBps")
            if why and not row["error"]:
                row["error"] = why
        rows.append(row)
    mismatches = []
    for row in rows:
        got, want = reads.get(row["node"]), writes.get(row["read_from"])
        if got is None or want is None:
            continue
        same = got.get("sha256") == want.get("sha256") and got.get("bytes") == want.get("bytes")
        row["content_ok"] = same
        if not same:
            mismatches.append(row)
    for row in rows:
        row["ok"] = bool(row["node"] in writes and row["node"] in reads and row.get("content_ok"))
    section: dict[str, Any] = {
        "mount": plan.cephfs_mount,
        "file_bytes": plan.file_bytes,
        "nodes": rows,
        "slowest_write": _slowest(rows, "write_MBps"),
        "slowest_read": _slowest(rows, "read_MBps"),
    }
    checks = [
        _io_check(plan, "write", rows, writes, section["slowest_write"]),
        _io_check(plan, "read", rows, reads, section["slowest_read"]),
    ]
    compared = sum(1 for r in rows if "content_ok" in r)
    if mismatches:
        first = mismatches[0]
        detail = "; ".join(f"{m['node']} got other data than {m['read_from']} wrote" for m in mismatches[:4])
        checks.append(
            _check(
                "storage.cephfs.content",
                "fail",
                "mismatches",
                float(len(mismatches)),
                first["node"],
                f"{detail} (check the client and OSD logs of both hosts)",
                expected=0.0,
                threshold=0.0,
                direction="max",
            )
        )
    elif compared == 0:
        checks.append(
            _check("storage.cephfs.content", "error", "mismatches", None, None, "no file could be read back")
        )
    else:
        missing = len(rows) - compared
        detail = f"{compared} file(s) read back on another host as written (SHA-256)"
        detail += f"; {missing} not compared (see the read and write checks)" if missing else ""
        checks.append(
            _check(
                "storage.cephfs.content",
                "pass",
                "mismatches",
                0.0,
                None,
                detail,
                expected=0.0,
                threshold=0.0,
                direction="max",
            )
        )
    return checks, section


def _slowest(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    measured = [r for r in rows if r[key] is not None]
    if not measured:
        return None
    r = min(measured, key=lambda r: float(r[key]))
    return {"node": r["node"], "MBps": r[key]}


def _io_check(
    plan: StorageVerifyPlan,
    op: str,
    rows: list[dict[str, Any]],
    done: Mapping[str, Any],
    slowest: Mapping[str, Any] | None,
) -> Check:
    name = f"storage.cephfs.{op}"
    size = f"{plan.file_bytes / 2**20:g} MiB"
    failed = [r for r in rows if r["node"] not in done]
    if failed:
        first = failed[0]
        reason = str(first["error"] or "no result")
        node = first["node"]
        wrote = {r["node"] for r in rows if r["write_MBps"] is not None}
        if op == "read" and first["read_from"] not in wrote:
            # Nothing to read: the writer is the one to look at.
            node = first["read_from"]
            reason = f"{first['node']} had no file to read: the write on {node} failed"
        more = f" (+{len(failed) - 1} more host(s))" if len(failed) > 1 else ""
        measured = float(slowest["MBps"]) if slowest else None
        return _check(name, "error", "MB/s", measured, node, reason + more)
    assert slowest is not None
    fastest = max(rows, key=lambda r: float(r[f"{op}_MBps"]))
    mbps = float(slowest["MBps"])
    what = f"{size} with fsync" if op == "write" else f"{size} written by another host"
    detail = f"slowest {slowest['node']} of {len(rows)} host(s), {what}"
    if len(rows) > 1:
        detail += f"; fastest {fastest['node']} {float(fastest[f'{op}_MBps']):.1f} MB/s"
    if len(rows) == 1 and op == "read":
        detail += " (one host: it reads its own file, possibly from its cache)"
    verdict: Verdict = "pass" if mbps > 0 else "fail"
    return _check(name, verdict, "MB/s", mbps, str(slowest["node"]), detail)


def storage_report(
    plan: StorageVerifyPlan, measured: Mapping[str, Any]
) -> tuple[list[Check], dict[str, Any]]:
    """The storage checks and the report's ``storage`` section.

    ``measured`` is what the verify_storage role kept, as
    :func:`~dcinfra.verify.artifacts.load_storage` reads it: {"health": storage-health.json, "rados":
    storage-rados.json, "cephfs": {host: storage-cephfs-<host>.json}}; a missing part makes its checks
    ``error``.
    """
    health_check, health = _health(plan, measured.get("health"))
    rados_checks, rados = _rados(plan, measured.get("rados"))
    fs_checks, cephfs = _cephfs(plan, measured.get("cephfs") or {})
    section = {
        "cluster": plan.cluster,
        "probe_host": plan.probe_host,
        "health": health,
        "rados": rados,
        "cephfs": cephfs,
    }
    return [health_check, *rados_checks, *fs_checks], section
