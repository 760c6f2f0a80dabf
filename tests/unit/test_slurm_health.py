"""The Slurm node health check (``playbooks/roles/slurm/files/dcinfra-slurm-health``), on temporary
device, sysfs, mount and proc trees: declared vs found, the bound on a hung probe, and when it drains,
resumes or leaves a node alone.

Against real daemons it runs as slurmd's HealthCheckProgram on the lab (tests/integration).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

PROGRAM = (
    Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "slurm" / "files" / "dcinfra-slurm-health"
)


@pytest.fixture(scope="module")
def health() -> ModuleType:
    # No .py suffix (it is installed as a command): load it with an explicit source loader.
    loader = importlib.machinery.SourceFileLoader("dcinfra_slurm_health", str(PROGRAM))
    spec = importlib.util.spec_from_loader("dcinfra_slurm_health", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _proc(root: Path, procs: dict[int, tuple[str, str]]) -> Path:
    """A proc-like tree: pid -> (comm, state)."""
    for pid, (comm, state) in procs.items():
        d = root / str(pid)
        d.mkdir(parents=True)
        (d / "stat").write_text(f"{pid} ({comm}) {state} 1 {pid} {pid} 0 -1 4194560 0 0\n")
    (root / "self").mkdir(exist_ok=True)  # non-numeric entries are ignored
    return root


def test_program_is_executable_python3(health: ModuleType) -> None:
    assert PROGRAM.read_text().startswith("#!/usr/bin/python3\n")
    assert os.access(PROGRAM, os.X_OK)
    assert health.REASON_PREFIX == "dcinfra-health:"


def test_gpus_counts_device_files(health: ModuleType, tmp_path: Path) -> None:
    for n in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-caps"):
        (tmp_path / n).touch()
    assert health.check_gpus(2, str(tmp_path)) == []
    assert health.check_gpus(4, str(tmp_path)) == ["gpus: 2 /dev/nvidia* devices, 4 declared"]
    # Nothing declared (CPU nodes, the lab's scheduling-only stand-ins): nothing to compare.
    assert health.check_gpus(0, str(tmp_path / "missing")) == []


def test_gpus_asks_nvidia_smi_when_there_is_one(health: ModuleType, tmp_path: Path) -> None:
    for n in ("nvidia0", "nvidia1"):
        (tmp_path / n).touch()
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 0\n")
    smi.chmod(0o755)
    assert health.check_gpus(2, str(tmp_path), str(smi)) == ["gpus: nvidia-smi lists 1, 2 declared"]
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert health.check_gpus(2, str(tmp_path), str(smi)) == [
        "gpus: nvidia-smi failed (9: NVIDIA-SMI has failed)"
    ]
    smi.write_text("#!/bin/sh\nexec sleep 30\n")
    started = time.monotonic()
    assert health.check_gpus(2, str(tmp_path), str(smi), timeout_s=0.5) == [
        "gpus: nvidia-smi did not answer within 0.5 s"
    ]
    assert time.monotonic() - started < 5


def test_rdma_hcas_and_port_state(health: ModuleType, tmp_path: Path) -> None:
    for hca, state in (("mlx5_0", "4: ACTIVE"), ("mlx5_1", "1: DOWN")):
        port = tmp_path / hca / "ports" / "1"
        port.mkdir(parents=True)
        (port / "state").write_text(state + "\n")
    assert health.check_rdma(["mlx5_0"], str(tmp_path)) == []
    assert health.check_rdma(["mlx5_0", "mlx5_1", "mlx5_2"], str(tmp_path)) == [
        "rdma: mlx5_1 has no ACTIVE port (1: DOWN)",
        "rdma: mlx5_2 missing",
    ]


def test_mounts_by_path_and_type(health: ModuleType, tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "overlay / overlay rw 0 0\n"
        "ceph-fuse /mnt/datasets fuse.ceph-fuse rw,nosuid 0 0\n"
        "tmpfs /mnt/with\\040blank tmpfs rw 0 0\n"
        "10.0.0.1:/ /mnt/scratch ceph rw 0 0\n"
    )
    declared = [
        {"path": "/mnt/datasets", "fstype": "fuse.ceph-fuse"},
        {"path": "/mnt/with blank/", "fstype": "tmpfs"},
    ]
    assert health.check_mounts(declared, str(mounts), statvfs=lambda _p: None) == []
    wrong = [
        {"path": "/mnt/scratch", "fstype": "fuse.ceph-fuse"},
        {"path": "/mnt/models", "fstype": "ceph"},
    ]
    assert health.check_mounts(wrong, str(mounts), statvfs=lambda _p: None) == [
        "mount /mnt/scratch is ceph, fuse.ceph-fuse declared",
        "mount /mnt/models missing",
    ]

    def dead(path: str) -> None:
        raise OSError(107, "Transport endpoint is not connected")

    assert health.check_mounts(declared[:1], str(mounts), statvfs=dead) == [
        "mount /mnt/datasets does not answer (Transport endpoint is not connected)"
    ]


def test_daemons_by_process_name(health: ModuleType, tmp_path: Path) -> None:
    proc = _proc(
        tmp_path,
        {
            1: ("lab-init", "S"),
            40: ("munged", "S"),
            41: ("slurmd", "Z"),
            42: ("ceph-fuse", "S"),
            43: ("a (weird) name", "R"),
        },
    )
    assert health.running_processes(str(proc)) == {"lab-init", "munged", "ceph-fuse", "a (weird) name"}
    # A zombie slurmd is not a running one.
    assert health.check_daemons(["munged", "slurmd", "ceph-fuse"], str(proc)) == ["daemon slurmd not running"]
    # comm keeps 15 characters: a longer declared name is compared the way the kernel stores it.
    _proc(tmp_path / "long", {7: ("nvidia-persiste", "S")})
    assert health.check_daemons(["nvidia-persistenced"], str(tmp_path / "long")) == []


def test_paths_present_and_executable(health: ModuleType, tmp_path: Path) -> None:
    ok, plain = tmp_path / "prolog", tmp_path / "epilog"
    ok.write_text("#!/bin/sh\n")
    ok.chmod(0o755)
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    assert health.check_paths([str(ok)]) == []
    assert health.check_paths([str(plain), str(tmp_path / "gone")]) == [
        f"{plain} not executable",
        f"{tmp_path / 'gone'} missing",
    ]


def test_run_checks_collects_every_problem(health: ModuleType, tmp_path: Path) -> None:
    proc = _proc(tmp_path / "proc", {10: ("munged", "S")})
    mounts = tmp_path / "mounts"
    mounts.write_text("overlay / overlay rw 0 0\n")
    config = {
        "node": "node-002",
        "gpus": 0,
        "rdma": [],
        "mounts": [{"path": "/mnt/datasets", "fstype": "fuse.ceph-fuse"}],
        "daemons": ["munged", "slurmd"],
        "paths": [],
        "timeout_s": 10,
    }
    problems = health.run_checks(
        config, dev_dir=str(tmp_path), sys_dir=str(tmp_path), mounts_file=str(mounts), proc_dir=str(proc)
    )
    assert problems == ["daemon slurmd not running", "mount /mnt/datasets missing"]


def test_a_hung_probe_fails_the_check_within_the_budget(health: ModuleType, tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("ceph-fuse /mnt/datasets fuse.ceph-fuse rw 0 0\n")
    release = threading.Event()

    def hang(path: str) -> None:  # a CephFS whose MDS is gone: statvfs never returns
        release.wait(30)

    config = {"mounts": [{"path": "/mnt/datasets", "fstype": "fuse.ceph-fuse"}], "gpus": 0}
    started = time.monotonic()
    try:
        problems = health.run_checks(
            config, mounts_file=str(mounts), proc_dir=str(tmp_path), statvfs=hang, budget_s=0.5
        )
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert problems == ["mounts probe did not finish within 0.5 s"]


def test_a_probe_bug_fails_the_node_not_the_program(health: ModuleType, tmp_path: Path) -> None:
    problems = health.run_checks({"mounts": [{"fstype": "ceph"}]}, proc_dir=str(tmp_path))
    assert problems == ["mounts: probe error (KeyError: 'path')"]


@pytest.mark.parametrize(
    ("line", "flags", "reason"),
    [
        ("NodeName=node-002 Arch=x86_64 State=IDLE ThreadsPerCore=1 Partitions=node", {"IDLE"}, ""),
        (
            "NodeName=node-002 State=IDLE+DRAIN Partitions=node "
            "Reason=dcinfra-health: mount /mnt/datasets missing [root@2025-01-02T03:04:05]",
            {"IDLE", "DRAIN"},
            "dcinfra-health: mount /mnt/datasets missing",
        ),
        (
            "NodeName=node-003 State=DOWN*+DRAIN Reason=Not responding [slurm@2025-01-02T03:04:05]\n",
            {"DOWN", "DRAIN"},
            "Not responding",
        ),
    ],
)
def test_parse_node(health: ModuleType, line: str, flags: set[str], reason: str) -> None:
    assert health.parse_node(line) == (flags, reason)


def test_decide_drains_resumes_and_leaves_other_reasons_alone(health: ModuleType) -> None:
    bad = ["mount /mnt/datasets missing"]
    ours = "dcinfra-health: mount /mnt/datasets missing"
    assert health.decide(bad, {"IDLE"}, "") == ("drain", ours)
    assert health.decide(bad, {"ALLOCATED"}, "") == ("drain", ours)
    # Already drained by us with the same reason: nothing to do; with another of ours: updated.
    assert health.decide(bad, {"IDLE", "DRAIN"}, ours)[0] == "none"
    assert health.decide(bad, {"IDLE", "DRAIN"}, "dcinfra-health: daemon munged not running") == (
        "drain",
        ours,
    )
    # Drained or down by someone else: their reason stays, whatever the check finds.
    assert health.decide(bad, {"IDLE", "DRAIN"}, "maintenance: PSU swap")[0] == "none"
    assert health.decide(bad, {"DOWN"}, "Not responding")[0] == "none"
    assert health.decide([], {"IDLE", "DRAIN"}, "maintenance: PSU swap")[0] == "none"
    # Healthy again: only our own drain is lifted.
    assert health.decide([], {"IDLE", "DRAIN"}, ours) == ("resume", "")
    assert health.decide([], {"IDLE"}, "") == ("none", "healthy")


def test_decide_keeps_the_reason_short(health: ModuleType) -> None:
    many = [f"daemon d{i} not running" for i in range(40)]
    action, reason = health.decide(many, {"IDLE"}, "")
    assert action == "drain" and len(reason) == health.MAX_REASON and reason.endswith("...")


def test_main_without_its_config_changes_nothing(
    health: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert health.main(["--config", str(tmp_path / "none.json")]) == 0
    assert "node left as it is" in capsys.readouterr().out
