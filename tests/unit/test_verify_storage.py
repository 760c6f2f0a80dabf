"""The storage part of the verify report: parsing what Ceph tools print, the checks and their verdicts,
the ``storage`` section (against report.schema.json), the plan's choices, the CephFS I/O helper, the
verify_storage role against real ansible-core on localhost (no Ceph: every command fails, and the
report says so), and the pipeline's wiring.

Command output here is what Ceph 16.2 prints (taken from a lab run), trimmed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from dcinfra.model.verify import VerifySettings
from dcinfra.plan import compile_plan
from dcinfra.plan.types import StorageVerifyPlan
from dcinfra.verify import (
    build_report,
    load_storage,
    parse_ceph_status,
    parse_rados_bench,
    render_storage_table,
    storage_bounds_s,
    storage_budget_s,
    table_text,
)
from dcinfra.verify.storage import parse_health_detail, parse_io
from tests.unit.test_verify_report import NOW, PAIRS, measured, validate, vplan

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "playbooks" / "roles" / "verify_storage"
HOSTS = ("gpu-001", "gpu-002", "gpu-003")
ACCEPTED = yaml.safe_load((ROOT / "playbooks/roles/ceph/defaults/main.yml").read_text())[
    "ceph_shared_machine_accepted_health"
]

RADOS_WRITE = (
    'hints = 1\n{"concurrent_ios":"16","object_size":"4194304","op_size":"4194304","seconds_to_run":"5",'
    '"max_objects":"0","object_prefix":"benchmark_data_node-001_4527","datas":[{"sec":"0","cur_ops":"0",'
    '"started":"0","finished":"0","avg_bw":"0.000000","cur_bw":"0.000000","last_lat":"0.000000",'
    '"avg_lat":"0.000000"}],"total_time_run":"5.145546","total_writes_made":"352","write_size":"4194304",'
    '"object_size":"4194304","bandwidth":"273.634717","stddev_bandwidth":"24.396721",'
    '"max_bandwidth":"300.000000","min_bandwidth":"232.000000","average_iops":"68",'
    '"stddev_iops":"643294128","max_iops":"75","min_iops":"58","average_latency":"0.232071",'
    '"stddev_latency":"0.081322","max_latency":"0.617157","min_latency":"0.079910"}'
)
RADOS_SEQ = (
    'hints = 1\n{"datas":[{"sec":"0","cur_ops":"2","started":"2","finished":"0","avg_bw":"0.000000",'
    '"cur_bw":"0.000000","last_lat":"0.000000","avg_lat":"0.000000"}],"total_time_run":"1.693396",'
    '"total_reads_made":"352","read_size":"4194304","object_size":"4194304","bandwidth":"831.465394",'
    '"average_iops":"207","stddev_iops":"0.000000","max_iops":"190","min_iops":"190",'
    '"average_latency":"0.075305","max_latency":"0.253602","min_latency":"0.006472"}'
)


def status_doc(
    status: str = "HEALTH_OK", checks: dict[str, str] | None = None, pgs: dict[str, int] | None = None
) -> str:
    """`ceph status --format json` with ``checks`` {code: severity} and ``pgs`` {state: count}."""
    pgs = pgs if pgs is not None else {"active+clean": 25}
    return json.dumps(
        {
            "fsid": "f02ea248-65fc-590f-afbf-469dc9752528",
            "health": {
                "status": status,
                "checks": {
                    code: {
                        "severity": sev,
                        "summary": {"message": f"{code} summary", "count": 1},
                        "muted": False,
                    }
                    for code, sev in (checks or {}).items()
                },
                "mutes": [],
            },
            "pgmap": {
                "pgs_by_state": [{"state_name": s, "count": n} for s, n in pgs.items()],
                "num_pgs": sum(pgs.values()),
            },
        }
    )


def splan(**over: Any) -> StorageVerifyPlan:
    base: dict[str, Any] = {
        "cluster": "ceph",
        "probe_host": HOSTS[0],
        "probe_admin": False,
        "bench_pool": "rbd",
        "bench_s": 5,
        "cephfs_mount": "/mnt/datasets",
        "cephfs_hosts": HOSTS,
        "cephfs_read_from": {h: HOSTS[(i + 1) % len(HOSTS)] for i, h in enumerate(HOSTS)},
        "file_bytes": 64 * 2**20,
        "timeout_s": 300,
    }
    return StorageVerifyPlan(**{**base, **over})


def run(rc: int | None = 0, stdout: str = "", stderr: str = "") -> dict[str, Any]:
    return {"rc": rc, "stdout": stdout, "stderr_tail": stderr}


def io(op: str, mbps: float, sha: str, *, size: int = 64 * 2**20, error: str | None = None) -> dict[str, Any]:
    """A cephfs-io result as the role records it."""
    if error:
        doc: dict[str, Any] = {"op": op, "path": "/mnt/datasets/dcinfra-verify/x.bin", "error": error}
        return run(1, json.dumps(doc))
    doc = {"op": op, "bytes": size, "seconds": size / mbps / 1e6, "MBps": mbps, "sha256": sha}
    return run(
        0, json.dumps(doc | {"fstype": "fuse.ceph-fuse", "path": "/mnt/datasets/dcinfra-verify/x.bin"})
    )


def results(
    *,
    health: dict[str, Any] | None = None,
    rados: dict[str, Any] | None = None,
    writes: dict[str, dict[str, Any]] | None = None,
    reads: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What load_storage returns for a run: healthy, and each host's file read back intact unless told."""
    sv = splan()
    writes = {h: io("write", 100.0 + 10 * i, f"sha-{h}") for i, h in enumerate(HOSTS)} | (writes or {})
    reads = {h: io("read", 300.0 - 20 * i, f"sha-{sv.cephfs_read_from[h]}") for i, h in enumerate(HOSTS)} | (
        reads or {}
    )
    return {
        "health": {"host": HOSTS[0], "accepted": {}, "detail_stdout": ""}
        | run(0, status_doc())
        | (health or {}),
        "rados": {
            "host": HOSTS[0],
            "pool": "rbd",
            "seconds": 5,
            "write": run(0, RADOS_WRITE),
            "read": run(0, RADOS_SEQ),
            "cleanup": run(0),
        }
        | (rados or {}),
        "cephfs": {
            h: {"host": h, "read_from": sv.cephfs_read_from[h], "write": writes[h], "read": reads[h]}
            for h in HOSTS
        },
    }


def storage_run(m: dict[str, Any], sv: StorageVerifyPlan | None = None) -> Any:
    return build_report(
        vplan(hosts=HOSTS, storage=sv or splan()),
        measured(),
        stack="site",
        created_at=NOW,
        link=PAIRS,
        storage=m,
    )


def by_name(report: Any) -> dict[str, Any]:
    return {c.name: c for c in report.checks if c.name.startswith("storage.")}


# -- parsing -----------------------------------------------------------------------------------------
def test_rados_bench_totals_in_MB_per_second_from_its_byte_counts() -> None:
    w = parse_rados_bench(RADOS_WRITE)
    assert w["op"] == "write" and w["ops"] == 352 and w["op_size_bytes"] == 4 * 2**20
    assert w["bytes"] == 352 * 4 * 2**20 and w["seconds"] == pytest.approx(5.145546)
    # rados prints MiB/s ("bandwidth": 273.6); the report uses MB = 1e6 bytes
    assert w["MBps"] == pytest.approx(352 * 4 * 2**20 / 5.145546 / 1e6, abs=1e-3)
    assert w["MBps"] == pytest.approx(273.634717 * 2**20 / 1e6, rel=0.01)
    assert w["latency_avg_s"] == pytest.approx(0.232071)
    r = parse_rados_bench(RADOS_SEQ)
    assert r["op"] == "read" and r["bytes"] == w["bytes"] and r["MBps"] > w["MBps"]
    for bad, why in (
        ("", "no JSON"),
        ("hints = 1\n{not json", "not JSON"),
        ('hints = 1\n{"datas": []}', "neither"),
        ('{"total_writes_made": "3", "write_size": "4096"}', "totals"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_rados_bench(bad)


def test_ceph_status_health_against_the_accepted_lab_warnings() -> None:
    ok = parse_ceph_status(status_doc(), ACCEPTED)
    assert ok["ok"] and ok["status"] == "HEALTH_OK" and ok["unaccepted"] == []
    assert ok["pgs"] == {"total": 25, "active_clean": 25, "states": {"active+clean": 25}}
    lab = parse_ceph_status(status_doc("HEALTH_WARN", {"MON_DISK_LOW": "HEALTH_WARN"}), ACCEPTED)
    assert lab["ok"] and lab["checks"]["MON_DISK_LOW"]["accepted"] == ACCEPTED["MON_DISK_LOW"]
    # the same warning on bare metal (nothing accepted) fails
    assert not parse_ceph_status(status_doc("HEALTH_WARN", {"MON_DISK_LOW": "HEALTH_WARN"}), {})["ok"]
    down = parse_ceph_status(
        status_doc("HEALTH_WARN", {"MON_DISK_LOW": "HEALTH_WARN", "OSD_DOWN": "HEALTH_WARN"}), ACCEPTED
    )
    assert not down["ok"] and down["unaccepted"] == ["OSD_DOWN"]
    # an error is never accepted, whatever its code
    err = parse_ceph_status(status_doc("HEALTH_ERR", {"MON_DISK_LOW": "HEALTH_ERR"}), ACCEPTED)
    assert not err["ok"] and err["checks"]["MON_DISK_LOW"]["accepted"] is None
    scrub = parse_ceph_status(status_doc(pgs={"active+clean": 20, "active+clean+scrubbing": 5}), {})
    assert scrub["pgs"]["active_clean"] == 25
    with pytest.raises(ValueError, match="not a status document"):
        parse_ceph_status('{"fsid": "x"}', {})


def test_health_detail_names_the_hosts_behind_a_check() -> None:
    detail = json.dumps(
        {
            "checks": {
                "OSD_DOWN": {"detail": [{"message": "osd.2 (root=default,host=node-003) is down"}]},
                "OSD_HOST_DOWN": {"detail": [{"message": "host node-003 (root=default) (1 osds) is down"}]},
                "OSD_SLOW_PING_TIME_BACK": {
                    "detail": [
                        {"message": "Slow OSD heartbeats on back from osd.0 [node-001] to osd.1 [node-002]"}
                    ]
                },
                "MDS_SLOW_REQUEST": {
                    "detail": [{"message": "mds.node-002(mds.0): 1 slow requests are blocked"}]
                },
                "PG_DEGRADED": {"detail": [{"message": f"pg 2.{i} is active+degraded"} for i in range(40)]},
            }
        }
    )
    lines, hosts = parse_health_detail(detail, ["OSD_DOWN", "OSD_HOST_DOWN", "PG_DEGRADED"])
    assert hosts == ["node-003"] and len(lines["PG_DEGRADED"]) == 5
    _, hosts = parse_health_detail(detail, ["OSD_SLOW_PING_TIME_BACK", "MDS_SLOW_REQUEST"])
    assert hosts == ["node-001", "node-002"]
    assert parse_health_detail("", ["OSD_DOWN"]) == ({}, [])
    assert parse_io('noise\n{"op": "read", "MBps": 1.0}\n') == {"op": "read", "MBps": 1.0}
    with pytest.raises(ValueError):
        parse_io("Traceback ...")


# -- verdicts ----------------------------------------------------------------------------------------
def test_a_healthy_cluster_passes_every_storage_check_and_matches_the_schema() -> None:
    r = storage_run(results())
    doc = r.to_json()
    validate(doc)
    assert r.passed and r.exit_code == 0
    checks = by_name(r)
    assert list(checks) == [
        "storage.health",
        "storage.rados.write",
        "storage.rados.read",
        "storage.cephfs.write",
        "storage.cephfs.read",
        "storage.cephfs.content",
    ]
    assert {c.verdict for c in checks.values()} == {"pass"}
    s = doc["storage"]
    assert s["health"]["status"] == "HEALTH_OK" and s["health"]["ok"]
    assert s["rados"]["write_MBps"] == pytest.approx(286.9, abs=0.1) and s["rados"]["cleaned_up"] is True
    assert s["rados"]["read_MBps"] > s["rados"]["write_MBps"] > 0
    assert [n["node"] for n in s["cephfs"]["nodes"]] == list(HOSTS)
    assert all(n["ok"] and n["content_ok"] for n in s["cephfs"]["nodes"])
    # the slowest host is named, and its figure is the check's
    assert s["cephfs"]["slowest_write"] == {"node": "gpu-001", "MBps": 100.0}
    assert s["cephfs"]["slowest_read"] == {"node": "gpu-003", "MBps": 260.0}
    assert (
        checks["storage.cephfs.write"].node == "gpu-001" and checks["storage.cephfs.write"].measured == 100.0
    )
    assert checks["storage.cephfs.read"].node == "gpu-003" and checks["storage.cephfs.read"].measured == 260.0
    assert checks["storage.rados.write"].node == HOSTS[0]
    assert json.loads(json.dumps(doc)) == doc


def test_no_ceph_means_no_storage_section_and_no_storage_checks() -> None:
    r = build_report(vplan(), measured(), stack="site", created_at=NOW, storage=results())
    assert "storage" not in r.to_json() and not by_name(r)
    assert render_storage_table(r) is None and "CephFS" not in table_text(r)


def test_lab_warnings_the_ceph_role_accepts_pass_with_their_codes_named() -> None:
    warn = status_doc("HEALTH_WARN", {"MON_DISK_LOW": "HEALTH_WARN"})
    r = storage_run(results(health={"stdout": warn, "accepted": ACCEPTED}))
    health = by_name(r)["storage.health"]
    assert health.verdict == "pass" and "accepted on this lab: MON_DISK_LOW" in health.detail
    assert r.to_json()["storage"]["health"]["accepted"] == ACCEPTED
    # without the lab's list the same cluster fails (bare metal accepts nothing)
    r = storage_run(results(health={"stdout": warn, "accepted": {}}))
    assert by_name(r)["storage.health"].verdict == "fail" and r.exit_code == 3


def test_an_unhealthy_cluster_fails_naming_the_host_the_details_name() -> None:
    bad = status_doc(
        "HEALTH_WARN", {"OSD_DOWN": "HEALTH_WARN", "MON_DISK_LOW": "HEALTH_WARN"}, {"active+undersized": 25}
    )
    detail = json.dumps(
        {"checks": {"OSD_DOWN": {"detail": [{"message": "osd.2 (root=default,host=stor-003) is down"}]}}}
    )
    r = storage_run(results(health={"stdout": bad, "detail_stdout": detail, "accepted": ACCEPTED}))
    health = by_name(r)["storage.health"]
    assert health.verdict == "fail" and health.measured == 1.0 and health.node == "stor-003"
    assert "OSD_DOWN (OSD_DOWN summary)" in health.detail and "0 of 25 PGs active+clean" in health.detail
    assert (
        r.exit_code == 3
        and {"node": "stor-003", "check": "storage.health", "reason": health.detail} in r.attribution
    )
    validate(r.to_json())


def test_a_status_that_cannot_be_read_is_an_error() -> None:
    for h, why in (
        (run(124, ""), "did not finish within 60 s"),
        (
            run(1, "", "[errno 13] RADOS permission denied (error connecting to the cluster)"),
            "permission denied",
        ),
        (run(0, "garbage"), "not a status document"),
    ):
        r = storage_run(results(health=h))
        c = by_name(r)["storage.health"]
        assert c.verdict == "error" and why in c.detail and r.exit_code == 1
        validate(r.to_json())
    r = storage_run({k: v for k, v in results().items() if k != "health"})
    assert "no result" in by_name(r)["storage.health"].detail


def test_rados_bench_errors_and_a_failed_cleanup_are_reported() -> None:
    r = storage_run(results(rados={"write": run(124, "hints = 1\n"), "read": run(None)}))
    c = by_name(r)
    assert (
        c["storage.rados.write"].verdict == "error"
        and "did not finish within 65 s" in c["storage.rados.write"].detail
    )
    assert c["storage.rados.read"].detail == "not run: the write failed" and r.exit_code == 1
    assert {
        "node": HOSTS[0],
        "check": "storage.rados.write",
        "reason": c["storage.rados.write"].detail,
    } in r.attribution
    validate(r.to_json())
    zero = RADOS_WRITE.replace('"total_writes_made":"352"', '"total_writes_made":"0"')
    r = storage_run(results(rados={"write": run(0, zero)}))
    assert by_name(r)["storage.rados.write"].verdict == "fail" and r.exit_code == 3
    r = storage_run(results(rados={"cleanup": run(1, "", "error during cleanup: (2) No such file")}))
    c = by_name(r)
    assert (
        c["storage.rados.write"].verdict == "pass"
        and "objects left behind" in c["storage.rados.write"].detail
    )
    assert r.to_json()["storage"]["rados"]["cleaned_up"] is False
    # no pool the client may write to: skipped, not failed
    r = storage_run(results(), splan(bench_pool=None))
    assert {c.verdict for n, c in by_name(r).items() if "rados" in n} == {"skipped"} and r.passed
    assert r.to_json()["storage"]["rados"] is None


def test_a_failed_cephfs_write_names_its_host_and_the_reader_that_had_nothing_to_read() -> None:
    unmounted = "/mnt/datasets is not a mount point, not a CephFS (ceph or fuse.ceph-fuse): is it mounted?"
    m = results(
        writes={"gpu-002": io("write", 0, "", error=unmounted)},
        reads={"gpu-001": io("read", 0, "", error="[Errno 2] No such file or directory")},
    )
    r = storage_run(m)
    c = by_name(r)
    assert c["storage.cephfs.write"].verdict == "error" and c["storage.cephfs.write"].node == "gpu-002"
    assert unmounted in c["storage.cephfs.write"].detail
    # gpu-001 reads gpu-002's file: the writer is the one to look at
    assert c["storage.cephfs.read"].verdict == "error" and c["storage.cephfs.read"].node == "gpu-002"
    assert "gpu-001 had no file to read: the write on gpu-002 failed" in c["storage.cephfs.read"].detail
    assert (
        c["storage.cephfs.content"].verdict == "pass"
        and "1 not compared" in c["storage.cephfs.content"].detail
    )
    rows = {n["node"]: n for n in r.to_json()["storage"]["cephfs"]["nodes"]}
    assert not rows["gpu-001"]["ok"] and not rows["gpu-002"]["ok"] and rows["gpu-003"]["ok"]
    assert r.exit_code == 1 and any(a["node"] == "gpu-002" for a in r.attribution)
    validate(r.to_json())
    text = table_text(r)
    assert "CephFS on /mnt/datasets: 64 MiB per host" in text and "is it mounted?" in text


def test_a_hung_cephfs_read_and_a_host_without_result_are_errors() -> None:
    m = results(reads={"gpu-003": run(124)})
    del m["cephfs"]["gpu-002"]
    r = storage_run(m)
    c = by_name(r)
    assert c["storage.cephfs.write"].node == "gpu-002" and "no result" in c["storage.cephfs.write"].detail
    assert c["storage.cephfs.read"].verdict == "error"
    assert "did not finish within 300 s" in r.to_json()["storage"]["cephfs"]["nodes"][2]["error"]
    validate(r.to_json())


def test_data_read_back_differently_fails_naming_reader_and_writer() -> None:
    r = storage_run(results(reads={"gpu-003": io("read", 250.0, "sha-corrupt")}))
    c = by_name(r)["storage.cephfs.content"]
    assert c.verdict == "fail" and c.node == "gpu-003" and c.measured == 1.0
    assert "gpu-003 got other data than gpu-001 wrote" in c.detail and r.exit_code == 3
    assert "MISMATCH" in table_text(r)
    # a short read is a mismatch too
    r = storage_run(results(reads={"gpu-001": io("read", 250.0, "sha-gpu-002", size=2**20)}))
    assert by_name(r)["storage.cephfs.content"].verdict == "fail"


def test_one_compute_host_reads_its_own_file_and_says_so() -> None:
    one = splan(cephfs_hosts=("gpu-001",), cephfs_read_from={"gpu-001": "gpu-001"})
    m = results()
    m["cephfs"] = {
        "gpu-001": {
            "host": "gpu-001",
            "read_from": "gpu-001",
            "write": io("write", 90, "a"),
            "read": io("read", 900, "a"),
        }
    }
    r = storage_run(m, one)
    assert r.passed and "reads its own file" in by_name(r)["storage.cephfs.read"].detail


def test_bounds_and_budget_follow_the_plan() -> None:
    sv = splan(bench_s=10, timeout_s=120)
    b = storage_bounds_s(sv)
    assert b["bench"] == 70 and b["io"] == 120 and b["status"] == 60
    assert storage_budget_s(sv) >= b["status"] + 2 * b["bench"] + b["cleanup"] + 2 * b["io"]
    assert storage_budget_s(None) == 0


# -- the plan ----------------------------------------------------------------------------------------
def test_the_plan_probes_with_the_client_key_on_a_compute_host(load: Callable[..., Any]) -> None:
    lab = compile_plan(load("lab")).verify
    assert lab is not None and lab.storage is not None
    s = lab.storage
    assert (s.probe_host, s.probe_admin, s.bench_pool, s.bench_s) == ("node-001", False, "rbd", 5)
    assert s.cephfs_mount == "/mnt/datasets" and s.cephfs_hosts == ("node-001", "node-002", "node-003")
    assert s.cephfs_read_from == {"node-001": "node-002", "node-002": "node-003", "node-003": "node-001"}
    assert s.file_bytes == 64 * 2**20 and s.timeout_s == 300
    su = compile_plan(load("h100_su"))
    assert su.verify is not None and su.verify.storage is not None and su.ceph is not None
    # the monitors are storage hosts; the probe is a compute host (a client), never a monitor
    assert (
        su.verify.storage.probe_host == su.verify.hosts[0]
        and su.verify.storage.probe_host not in su.ceph.mons
    )
    assert not su.verify.storage.probe_admin


def test_the_plan_without_an_rbd_pool_benches_the_cephfs_data_pool(tmp_path: Path, repo_root: Path) -> None:
    from dcinfra.config import Config
    from dcinfra.loader import load_stack

    text = (repo_root / "stacks" / "lab.py").read_text()
    text = text.replace('pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd")],', "")
    text = text.replace(
        "min_busbw_fraction=0.4\n", "min_busbw_fraction=0.4, storage_bench_s=3, storage_file_mib=8\n"
    )
    path = tmp_path / "norbd.py"
    path.write_text(text)
    v = compile_plan(load_stack(path, Config())).verify
    assert v is not None and v.storage is not None
    assert v.storage.bench_pool == "datasets-data" and not v.storage.probe_admin
    assert v.storage.bench_s == 3 and v.storage.file_bytes == 8 * 2**20
    # no Ceph: no storage checks
    superpod = compile_plan(load_stack(repo_root / "stacks" / "superpod.py", Config()))
    assert superpod.ceph is None and superpod.verify is not None and superpod.verify.storage is None


def test_verify_settings_bound_the_storage_checks() -> None:
    assert VerifySettings().storage_bench_s == 5 and VerifySettings().storage_file_mib == 64
    for bad in (
        {"storage_bench_s": 0},
        {"storage_bench_s": 601},
        {"storage_file_mib": 0},
        {"storage_file_mib": 1025},
    ):
        with pytest.raises(ValidationError):
            VerifySettings(**bad)


# -- the CephFS I/O helper -----------------------------------------------------------------------------
def helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cephfs_io", ROLE / "files" / "cephfs-io.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cephfs_io_writes_and_reads_back_what_it_wrote(tmp_path: Path) -> None:
    io_mod = helper()
    path = str(tmp_path / "dcinfra-verify" / "node-001.bin")
    w = io_mod.write(path, 3 * io_mod.CHUNK + 5)
    r = io_mod.read(path)
    assert w["bytes"] == r["bytes"] == os.path.getsize(path) == 3 * io_mod.CHUNK + 5
    assert w["sha256"] == r["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert w["MBps"] > 0 and r["MBps"] > 0 and oct(os.stat(path).st_mode & 0o777) == "0o600"
    again = io_mod.write(path, 100)  # a file left behind is replaced, not appended to
    assert again["sha256"] != w["sha256"] and os.path.getsize(path) == 100


def test_cephfs_io_refuses_a_path_that_is_not_on_a_cephfs(tmp_path: Path) -> None:
    script = str(ROLE / "files" / "cephfs-io.py")

    def call(*args: str) -> tuple[int, dict[str, Any]]:
        res = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=False)
        return res.returncode, json.loads(res.stdout) if res.stdout.strip() else {}

    rc, doc = call("write", str(tmp_path), str(tmp_path / "x.bin"), "10")
    assert rc == 1 and "not a CephFS" in doc["error"] and not (tmp_path / "x.bin").exists()
    rc, doc = call("read", "/mnt", str(tmp_path / "x.bin"))
    assert rc == 1 and "is not under /mnt" in doc["error"]
    assert call("write", "/mnt", "/mnt/x")[0] == 2  # usage: no size


# -- the role, for real, on a machine without Ceph ------------------------------------------------------
def test_the_role_records_every_failure_for_the_report(tmp_path: Path) -> None:
    """ansible-core runs roles/verify_storage on localhost against a cluster that does not exist: every
    command fails (or is not installed), the play still succeeds, and the report says what failed where."""
    from dcinfra.engines.ansible import run_playbook

    sv = splan(
        cluster="dcinfra-unit-no-such-cluster",
        probe_host="h1",
        bench_s=1,
        cephfs_mount=str(tmp_path / "mnt"),
        cephfs_hosts=("h1",),
        cephfs_read_from={"h1": "h1"},
        file_bytes=1024,
        timeout_s=20,
    )
    (tmp_path / "mnt").mkdir()
    stage = tmp_path / "verify"
    (stage / "results").mkdir(parents=True)
    from dcinfra.plan.types import to_jsonable

    (stage / "vars.yml").write_text(
        json.dumps(
            {
                "verify_storage_plan": to_jsonable(sv),
                "verify_storage_bounds_s": {"status": 20, "bench": 20, "cleanup": 20, "io": 20},
                "verify_storage_libexec": str(tmp_path / "libexec"),
            }
        )
    )
    book = tmp_path / "book"
    book.mkdir()
    (book / "roles").symlink_to(ROOT / "playbooks" / "roles")
    (book / "storage.yml").write_text(
        "---\n- name: Verify the storage\n  hosts: compute\n  gather_facts: false\n"
        '  vars_files:\n    - "{{ dcinfra_verify_dir }}/vars.yml"\n  roles:\n    - role: verify_storage\n'
    )
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"[compute]\nh1 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    rec = run_playbook(
        book / "storage.yml",
        inv,
        runs_dir=tmp_path / "runs",
        ssh_key=None,
        extravars={"dcinfra_verify_dir": str(stage)},
        timeout_s=300,
    )
    assert rec.ok, rec.failures or rec.error
    got = load_storage(stage / "results")
    assert set(got) == {"health", "rados", "cephfs"} and set(got["cephfs"]) == {"h1"}
    assert got["health"]["rc"] not in (0, None) and got["health"]["accepted"] == {}
    assert got["rados"]["write"]["rc"] not in (0, None) and got["rados"]["read"]["rc"] is None
    assert got["rados"]["cleanup"]["rc"] not in (0, None)
    r = build_report(
        vplan(hosts=("h1",), master="h1", storage=sv), measured(), stack="site", created_at=NOW, storage=got
    )
    checks = by_name(r)
    assert [checks[n].verdict for n in ("storage.health", "storage.rados.write", "storage.cephfs.write")] == [
        "error",
        "error",
        "error",
    ]
    assert "is not a mount point, not a CephFS" in checks["storage.cephfs.write"].detail
    assert checks["storage.rados.read"].detail == "not run: the write failed"
    validate(r.to_json())
    # nothing left behind on the "CephFS"
    assert list((tmp_path / "mnt").iterdir()) == []

    # without Ceph in the plan the role does nothing and writes nothing
    (stage / "vars.yml").write_text(json.dumps({"verify_storage_plan": None, "verify_storage_bounds_s": {}}))
    for p in (stage / "results").iterdir():
        p.unlink()
    rec = run_playbook(
        book / "storage.yml",
        inv,
        runs_dir=tmp_path / "runs",
        ssh_key=None,
        extravars={"dcinfra_verify_dir": str(stage)},
    )
    assert rec.ok and rec.hosts["h1"].changed == 0 and list((stage / "results").iterdir()) == []


# -- the pipeline --------------------------------------------------------------------------------------
def test_verify_passes_the_storage_plan_to_the_playbook_and_reads_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: Callable[..., Any]
) -> None:
    from dcinfra import pipeline
    from dcinfra.state import StateDir

    stack = load("lab")
    plan = compile_plan(stack)
    state = StateDir(tmp_path / "lab")
    (state.build / "inventory").mkdir(parents=True)
    (state.build / "inventory" / "hosts.yml").write_text("all: {}\n")
    seen: dict[str, Any] = {}

    def fake_run_playbook(playbook: Path, inventory: Path, **kw: Any) -> Any:
        stage = Path(kw["extravars"]["dcinfra_verify_dir"])
        seen["vars"] = json.loads((stage / "vars.yml").read_text())
        seen["timeout_s"] = kw["timeout_s"]
        m = results()
        hosts = plan.verify.hosts  # type: ignore[union-attr]
        ring = {h: hosts[(i + 1) % 3] for i, h in enumerate(hosts)}
        (stage / "results" / "storage-health.json").write_text(json.dumps(m["health"]))
        (stage / "results" / "storage-rados.json").write_text(json.dumps(m["rados"]))
        for h in hosts:
            doc = {
                "host": h,
                "read_from": ring[h],
                "write": io("write", 50, f"s-{h}"),
                "read": io("read", 80, f"s-{ring[h]}"),
            }
            (stage / "results" / f"storage-cephfs-{h}.json").write_text(json.dumps(doc))
        from dcinfra.engines.ansible import RunRecord

        return RunRecord("id", str(playbook), "successful", 0, {}, [], [], str(tmp_path), 1.0, False)

    from dcinfra.verify import stage as verify_stage

    monkeypatch.setattr(verify_stage, "run_playbook", fake_run_playbook)
    rec = pipeline.verify(stack, state, plan=plan)
    sv = seen["vars"]["verify_storage_plan"]
    assert sv["probe_host"] == "node-001" and sv["bench_pool"] == "rbd" and sv["cluster"] == "ceph"
    assert seen["vars"]["verify_storage_bounds_s"] == storage_bounds_s(plan.verify.storage)  # type: ignore[union-attr,arg-type]
    assert seen["timeout_s"] >= storage_budget_s(plan.verify.storage)  # type: ignore[union-attr]
    doc = rec.report.to_json()
    validate(doc)
    assert [n["node"] for n in doc["storage"]["cephfs"]["nodes"]] == ["node-001", "node-002", "node-003"]
    assert {c["verdict"] for c in doc["checks"] if c["name"].startswith("storage.")} == {"pass"}
    saved = json.loads(rec.files["json"].read_text())
    assert saved["storage"] == doc["storage"] and "CephFS on /mnt/datasets" in rec.files["table"].read_text()


def test_plan_output_says_what_verify_checks_on_the_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from dcinfra.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    lab = CliRunner().invoke(app, ["plan", str(ROOT / "stacks" / "lab.py")], catch_exceptions=False)
    assert lab.exit_code == 0, lab.output
    assert (
        "Ceph health and rados bench 5 s write + read on 'rbd', on node-001 with the client key" in lab.stdout
    )
    assert "64 MiB written and read back by another host under /mnt/datasets, on 3 hosts" in lab.stdout
    pod = CliRunner().invoke(app, ["plan", str(ROOT / "stacks" / "superpod.py")], catch_exceptions=False)
    assert pod.exit_code == 0 and "rados bench" not in pod.stdout and "sweep" in pod.stdout
