"""The node benchmark, run for real: torchrun with two gloo ranks on this machine, tiny sizes.

One run of every phase from a *copied* bench directory (the way the playbook launches it), one
world-size-1 run through ``python -m dcinfra.verify.bench`` (the installed way), and one run where a
rank hangs, which must fail within its budget and name the rank.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from dcinfra.verify.launch import BENCH_SOURCE

TINY = [
    "--max-bytes=65536",
    "--warmup-iters=1",
    "--iters=3",
    "--train-steps=8",
    "--gemm-sizes=64,128",
    "--gemm-budget-s=2",
]
# Far above what two CPU cores reach in fp32, so MFU must come out in (0, 1).
PEAK_TFLOPS = 2.0


def _torchrun(tmp: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    bench = tmp / "bench"
    if not bench.exists():
        shutil.copytree(BENCH_SOURCE, bench, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "--max-restarts=0",
        "--monitor-interval=0.5",
        str(bench / "main.py"),
        *args,
    ]
    t0 = time.monotonic()
    # cwd outside the repository: the copied directory must not need dcinfra importable
    done = subprocess.run(
        argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done, time.monotonic() - t0


def _left_running(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (our unique output path)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmd:
            found.append(f"{pid}: {cmd}")
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "out" / "bench.json"
    node = os.uname().nodename
    declared = {
        node: {"gpu_count": 0, "cpu_cores": 1, "memory_gb": 1, "interfaces": {"lo": {"address": "127.0.0.1"}}}
    }
    done, _ = _torchrun(
        tmp,
        "--phase=all",
        f"--out={out}",
        "--timeout-s=60",
        f"--peak-tflops={PEAK_TFLOPS}",
        f"--declared={json.dumps(declared)}",
        *TINY,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc: dict[str, Any] = json.loads(out.read_text())
    doc["_stdout"] = done.stdout
    return doc


def test_run_completes_every_phase_on_two_gloo_ranks(run: dict[str, Any]) -> None:
    assert run["schema_version"] == "dcinfra.verify.bench/1"
    assert run["error"] is None
    assert (run["backend"], run["device"], run["world_size"]) == ("gloo", "cpu", 2)
    assert [r["rank"] for r in run["ranks"]] == [0, 1]
    assert set(run["durations_s"]) == {"preflight", "collectives", "gemm", "training"}
    assert "dcinfra-bench: training: loss" in run["_stdout"]


def test_busbw_is_algbw_times_the_nccl_tests_factor_exactly(run: dict[str, Any]) -> None:
    factors = {
        "all_reduce": 2 * (2 - 1) / 2,
        "all_gather": (2 - 1) / 2,
        "reduce_scatter": 0.5,
        "all_to_all": 0.5,
    }
    results = run["collectives"]["results"]
    assert set(results) == set(factors)
    for name, factor in factors.items():
        res = results[name]
        assert res["busbw_factor"] == factor
        assert [r["size_bytes"] for r in res["rows"]] == [1024 * 2**i for i in range(7)]  # 1 KiB .. 64 KiB
        for row in res["rows"]:
            # algbw = S / t (time_us is t x 1e6, so recomputing it rounds in the last bits)
            assert row["algbw_GBps"] == pytest.approx(
                row["size_bytes"] / (row["time_us"] / 1e6) / 1e9, rel=1e-9
            )
            assert row["busbw_GBps"] == row["algbw_GBps"] * factor


def test_message_size_is_s_as_nccl_tests_defines_it(run: dict[str, Any]) -> None:
    results = run["collectives"]["results"]
    for row in results["all_reduce"]["rows"]:
        assert row["size_bytes"] == row["count"] * 4  # the buffer every rank holds
    for name in ("all_gather", "reduce_scatter", "all_to_all"):
        for row in results[name]["rows"]:
            # count is per rank; S is the whole array: n x count x sizeof(float32)
            assert row["size_bytes"] == row["count"] * 2 * 4


def test_every_collective_returns_correct_data(run: dict[str, Any]) -> None:
    for name, res in run["collectives"]["results"].items():
        assert res["correct"], name
        assert all(r["wrong"] == 0 for r in res["rows"])


def test_training_loss_falls_and_mfu_is_a_fraction(run: dict[str, Any]) -> None:
    t = run["training"]
    assert t["loss_first"] == pytest.approx(t["loss_uniform"], rel=0.1)  # starts at a uniform guess
    assert t["loss_last"] < 0.9 * t["loss_first"]
    assert 0 < t["mfu"] < 1
    assert t["tokens_per_s"] > 0
    cfg = t["config"]
    head_dim = cfg["dim"] // cfg["n_heads"]
    assert (
        t["flops_per_token"]
        == 6 * t["params"] + 12 * cfg["n_layers"] * cfg["n_heads"] * head_dim * cfg["seq_len"]
    )
    assert t["params"] == t["params_total"] - cfg["vocab"] * cfg["dim"]  # embedding excluded, as torchtitan
    per_device = t["tokens_per_s"] / 2
    assert t["mfu"] == pytest.approx(per_device * t["flops_per_token"] / (PEAK_TFLOPS * 1e12))


def test_gemm_reports_the_slowest_rank(run: dict[str, Any]) -> None:
    g = run["gemm"]
    assert g["dtype"] == "float32"
    assert g["tflops"] == min(r["tflops"] for r in g["per_rank"]) > 0
    assert {r["rank"] for r in g["per_rank"]} == {0, 1}
    assert g["fraction_of_peak"] == pytest.approx(g["tflops"] / PEAK_TFLOPS)


def test_preflight_collects_facts_once_per_node_and_compares(run: dict[str, Any]) -> None:
    pf = run["preflight"]
    node = os.uname().nodename
    assert list(pf["nodes"]) == [node]  # two ranks, one node: one collector
    facts = pf["nodes"][node]
    assert facts["cpu"]["logical"] >= 1 and facts["memory_gib"] > 0
    assert "127.0.0.1/8" in facts["interfaces"]["lo"]["addresses"]
    assert pf["checked"] and pf["passed"], pf["mismatches"]


def test_report_from_a_real_run_matches_the_schema(run: dict[str, Any], tmp_path: Path) -> None:
    from dcinfra.plan.types import VerifyPlan
    from dcinfra.verify import LinkPair, build_report, save_report
    from tests.unit.test_verify_report import validate

    vp = VerifyPlan(
        backend="gloo",
        hosts=("n1",),
        master="n1",
        master_address="127.0.0.1",
        rendezvous_port=29500,
        max_message_bytes=65536,
        warmup_iters=1,
        iters=3,
        training_steps=8,
        timeout_s=60,
        expected_busbw_GBps=1e-6,
        expected_link_GBps=1e-6,
        gemm_peak_tflops=PEAK_TFLOPS,
        min_busbw_fraction=1.0,
    )
    report = build_report(
        vp, run, stack="t", created_at="2025-01-01T00:00:00Z", link=[LinkPair("n1", "n1", 1.0)]
    )
    doc = report.to_json()
    validate(doc)
    assert report.passed and report.exit_code == 0, [
        c for c in report.checks if c.verdict not in ("pass", "info")
    ]
    paths = save_report(report, tmp_path / "r")
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_installed_entry_point_runs_world_size_one_and_names_mismatches(tmp_path: Path) -> None:
    out = tmp_path / "w1.json"
    declared = {"elsewhere": {"gpu_count": 0}, "me": {"gpu_count": 4, "interfaces": {"nope0": {}}}}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcinfra.verify.bench",
            "--phase=preflight,collectives",
            f"--out={out}",
            "--node-name=me",
            f"--declared={json.dumps(declared)}",
            "--max-bytes=4096",
            "--iters=1",
            "--warmup-iters=0",
            "--timeout-s=60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["world_size"] == 1
    items = {(m["node"], m["item"]) for m in doc["preflight"]["mismatches"]}
    assert ("me", "gpu.count") in items and ("me", "interface.nope0") in items
    assert ("elsewhere", "node") in items  # declared, but no rank runs there
    assert not doc["preflight"]["passed"]
    # One rank: busbw factors are 0 (nccl-tests' definition), algbw is still measured.
    row = doc["collectives"]["results"]["all_reduce"]["rows"][0]
    assert row["busbw_GBps"] == 0.0 and row["algbw_GBps"] > 0


def test_a_hung_rank_fails_the_run_within_its_budget_and_is_named(tmp_path: Path) -> None:
    out = tmp_path / "hang" / "bench.json"
    budget = 3
    done, elapsed = _torchrun(
        tmp_path,
        "--phase=collectives,training",
        f"--out={out}",
        f"--timeout-s={budget}",
        "--inject-hang=1:collectives",
        *TINY,
        timeout=90,
    )
    assert done.returncode != 0
    err = json.loads(out.read_text())["error"]
    assert err["kind"] == "timeout" and err["phase"] == "collectives" and err["budget_s"] == budget
    assert [c["rank"] for c in err["culprits"]] == [1]
    assert "outside any collective" in err["culprits"][0]["reason"]
    assert "rank 1" in err["message"] and "rank 1" in done.stderr
    # Bounded: the budget, the diagnosis and the teardown, not the (infinite) hang.
    assert elapsed < 60
    assert _left_running(str(out)) == []


def test_a_killed_rank_on_another_node_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    """Two torchrun agents with static rendezvous, as on two nodes; the second node's worker dies."""
    import socket

    bench = tmp_path / "bench"
    shutil.copytree(BENCH_SOURCE, bench, ignore=shutil.ignore_patterns("__pycache__"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "dead" / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    agents = []
    logs = []
    for node_rank in (0, 1):
        log = (tmp_path / f"agent{node_rank}.log").open("w")
        logs.append(log)
        argv = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
            f"--node-rank={node_rank}", "--master-addr=127.0.0.1", f"--master-port={port}",
            "--rdzv-conf=timeout=30", "--max-restarts=0", "--monitor-interval=0.5", str(bench / "main.py"),
            "--phase=collectives,training", f"--out={out}", f"--node-name=node-00{node_rank + 1}",
            "--backend=gloo", "--timeout-s=30", "--max-bytes=8192", "--iters=2", "--warmup-iters=1",
            "--train-steps=1000000",
        ]  # fmt: skip
        agents.append(subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        worker = None
        deadline = time.monotonic() + 60
        while worker is None and time.monotonic() < deadline:
            time.sleep(0.3)
            if "dcinfra-bench: collectives:" in (tmp_path / "agent0.log").read_text():  # training has begun
                procs = [p.split(":", 1) for p in _left_running(str(out))]
                worker = next(
                    (
                        int(pid)
                        for pid, cmd in procs
                        if "node-002" in cmd and "torch.distributed.run" not in cmd
                    ),
                    None,
                )
        assert worker is not None, (tmp_path / "agent0.log").read_text()[-2000:]
        os.kill(worker, 9)
        codes = [a.wait(timeout=60) for a in agents]
    finally:
        for a in agents:
            if a.poll() is None:
                a.kill()
        for log in logs:
            log.close()
    assert codes[0] != 0 and codes[1] != 0
    err = json.loads(out.read_text())["error"]
    assert err["phase"] == "training"
    assert [(c["rank"], c["node"]) for c in err["culprits"]] == [(1, "node-002")]
    assert "dead or frozen" in err["culprits"][0]["reason"]
    assert _left_running(str(out)) == []
