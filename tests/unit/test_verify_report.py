"""Expected vs measured: verdicts, exit codes, attribution, the schema, the table and the plot.

Measured data here is synthetic (built like the bench writes it), so each verdict can be forced; the
bench itself is exercised for real in test_verify_bench.py.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dcinfra.plan import compile_plan
from dcinfra.plan.types import VerifyPlan
from dcinfra.verify import (
    LinkPair,
    bench_launches,
    build_report,
    declared_facts,
    exit_code,
    job_timeout_s,
    parse_iperf3,
    ring_pairs,
    save_report,
    table_text,
    write_plot,
)
from dcinfra.verify.report import SCHEMA_PATH, VerifyReport, failed_run, large_message_busbw

NOW = "2025-01-01T00:00:00Z"
FACTORS = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather": lambda n: (n - 1) / n}
FACTORS |= {"reduce_scatter": FACTORS["all_gather"], "all_to_all": FACTORS["all_gather"]}
SIZES = [1024 * 2**i for i in range(11)]  # 1 KiB .. 1 MiB


def validate(doc: dict[str, Any]) -> None:
    """``doc`` against report.schema.json (jsonschema when installed, else the required keys)."""
    schema = json.loads(SCHEMA_PATH.read_text())
    try:
        import jsonschema
    except ImportError:
        assert set(schema["required"]) <= set(doc)
        for check in doc["checks"]:
            assert set(schema["$defs"]["check"]["required"]) <= set(check)
        for rows in doc["collectives"].values():
            for row in rows:
                assert set(schema["$defs"]["row"]["required"]) <= set(row)
    else:
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(doc)
    # The keys issue 5 promises to `dcinfra verify --json` users, whatever the schema says.
    for name in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
        for row in doc["collectives"][name]:
            assert {"size_bytes", "time_us", "algbw_GBps", "busbw_GBps"} <= set(row)
    assert "iperf3_GBps" in doc["link"]
    assert {"tflops", "peak_tflops"} <= set(doc["gemm"])
    assert {"loss_first", "loss_last", "tokens_per_s", "mfu"} <= set(doc["training"])
    assert isinstance(doc["passed"], bool)


def vplan(**over: Any) -> VerifyPlan:
    base: dict[str, Any] = {
        "backend": "nccl",
        "hosts": ("gpu-001", "gpu-002"),
        "master": "gpu-001",
        "master_address": "10.128.0.10",
        "rendezvous_port": 29500,
        "max_message_bytes": SIZES[-1],
        "warmup_iters": 5,
        "iters": 20,
        "training_steps": 30,
        "timeout_s": 600,
        "expected_busbw_GBps": 100.0,
        "expected_link_GBps": 46.0,
        "gemm_peak_tflops": 989.5,
        "min_busbw_fraction": 1.0,
    }
    return VerifyPlan(**{**base, **over})


def measured(
    *,
    n: int = 16,
    busbw: Callable[[int], float] = lambda s: min(120.0, s / 8192),
    wrong: int = 0,
    loss: tuple[float, float] = (6.93, 2.5),
    tflops: float = 700.0,
    mismatches: list[dict[str, Any]] | None = None,
    error: dict[str, Any] | None = None,
    phases: tuple[str, ...] = ("preflight", "collectives", "gemm", "training"),
) -> dict[str, Any]:
    """A bench result as rank 0 writes it (``busbw(size)`` shapes every collective's curve)."""
    results = {}
    for name, factor in FACTORS.items():
        rows = []
        for s in SIZES:
            bus = busbw(s)
            alg = bus / factor(n)
            rows.append(
                {
                    "size_bytes": s,
                    "count": s // 4 // n,
                    "time_us": s / alg / 1e3,
                    "algbw_GBps": alg,
                    "busbw_GBps": bus,
                    "wrong": wrong if s == SIZES[3] else 0,
                }
            )
        results[name] = {"busbw_factor": factor(n), "rows": rows, "correct": wrong == 0}
    doc: dict[str, Any] = {
        "schema_version": "dcinfra.verify.bench/1",
        "backend": "nccl",
        "world_size": n,
        "phases": list(phases),
        "ranks": [{"rank": r, "node": f"gpu-00{r // 8 + 1}", "device": f"cuda:{r % 8}"} for r in range(n)],
        "error": error,
        "preflight": {
            "checked": True,
            "nodes": {"gpu-001": {}, "gpu-002": {}},
            "mismatches": mismatches or [],
            "passed": not mismatches,
        },
        "collectives": {"results": results},
        "gemm": {
            "dtype": "bfloat16",
            "tflops": tflops,
            "slowest": {"rank": 9, "node": "gpu-002", "tflops": tflops},
            "per_rank": [
                {"rank": r, "node": f"gpu-00{r // 8 + 1}", "tflops": tflops + (r != 9)} for r in range(n)
            ],
        },
        "training": {
            "loss_first": loss[0],
            "loss_last": loss[1],
            "tokens_per_s": 5.0e5,
            "mfu": 0.31,
            "steps": 30,
            "timed_steps": 28,
        },
    }
    for phase in ("preflight", "collectives", "gemm", "training"):
        if phase not in phases or (error and phases.index(phase) >= phases.index(error["phase"])):
            doc.pop(phase)
    return doc


PAIRS = [LinkPair("gpu-001", "gpu-002", 46.5), LinkPair("gpu-002", "gpu-001", 46.9)]


def report(m: dict[str, Any], vp: VerifyPlan | None = None, pairs: list[LinkPair] = PAIRS) -> VerifyReport:
    return build_report(vp or vplan(), m, stack="site", created_at=NOW, link=pairs)


def verdicts(r: VerifyReport) -> dict[str, str]:
    return {c.name: c.verdict for c in r.checks}


def test_a_healthy_run_passes_with_exit_code_0_and_matches_the_schema() -> None:
    r = report(measured())
    doc = r.to_json()
    validate(doc)
    assert r.passed and exit_code(r) == 0 and doc["exit_code"] == 0
    v = verdicts(r)
    assert v["busbw.all_reduce"] == v["link"] == v["gemm"] == v["training.loss"] == v["correctness"] == "pass"
    assert v["busbw.all_gather"] == v["training.mfu"] == "info"
    assert doc["link"]["iperf3_GBps"] == 46.5  # the slowest pair: the ring's bottleneck
    assert doc["gemm"] == doc["gemm"] | {"tflops": 700.0, "peak_tflops": 989.5}
    assert doc["collective_summary"]["all_reduce"]["busbw_vs_iperf3"] == pytest.approx(120 / 46.5)
    assert json.loads(json.dumps(doc)) == doc  # plain JSON types only


def test_missed_busbw_threshold_fails_with_exit_code_3_and_names_the_slowest_link() -> None:
    slow = [LinkPair("gpu-001", "gpu-002", 47.0), LinkPair("gpu-002", "gpu-001", 46.5)]
    r = report(measured(busbw=lambda s: min(60.0, s / 8192)), pairs=slow)
    validate(r.to_json())
    assert not r.passed and exit_code(r) == 3
    bus = next(c for c in r.checks if c.name == "busbw.all_reduce")
    assert (bus.verdict, bus.measured, bus.threshold, bus.node) == ("fail", 60.0, 100.0, "gpu-002")
    assert {"node": "gpu-002", "check": "busbw.all_reduce"}.items() <= r.attribution[0].items()


def test_min_busbw_fraction_scales_the_threshold() -> None:
    r = report(measured(busbw=lambda s: min(60.0, s / 8192)), vp=vplan(min_busbw_fraction=0.5))
    bus = next(c for c in r.checks if c.name == "busbw.all_reduce")
    assert (bus.verdict, bus.threshold, bus.expected) == ("pass", 50.0, 100.0)


def test_gate_is_the_best_of_the_largest_sizes_not_the_average() -> None:
    # Small sizes are latency-bound (tiny busbw): an average would fail a healthy fabric.
    big = {SIZES[-3]: 90.0, SIZES[-2]: 130.0, SIZES[-1]: 95.0}
    r = report(measured(busbw=lambda s: big.get(s, 0.01)))
    assert verdicts(r)["busbw.all_reduce"] == "pass"
    value, sizes = large_message_busbw(r.collectives["all_reduce"])
    assert value == 130.0 and sizes == SIZES[-3:]
    # A fast small message does not rescue slow large ones.
    r = report(measured(busbw=lambda s: 500.0 if s == SIZES[0] else 20.0))
    assert verdicts(r)["busbw.all_reduce"] == "fail" and exit_code(r) == 3


def test_wrong_collective_results_fail() -> None:
    r = report(measured(wrong=7))
    c = next(c for c in r.checks if c.name == "correctness")
    assert (
        c.verdict == "fail"
        and c.measured == 28.0
        and "all_reduce (7 wrong elements at sizes [8192])" in c.detail
    )
    assert exit_code(r) == 3
    assert "sizes [8192]" in table_text(r, width=400)  # details are plain text, not rich markup


def test_preflight_mismatch_fails_naming_node_and_item() -> None:
    mm = {
        "node": "gpu-002",
        "item": "gpu.count",
        "declared": 8,
        "found": 7,
        "severity": "error",
        "message": "gpu-002: gpu.count: declared 8 GPUs, found 7",
    }
    warn = mm | {"item": "link_speed.eth0", "severity": "warning", "message": "gpu-001: unreadable"}
    r = report(measured(mismatches=[mm, warn]))
    validate(r.to_json())
    pf = next(c for c in r.checks if c.name == "preflight")
    assert (pf.verdict, pf.node, pf.measured) == ("fail", "gpu-002", 1.0)
    assert "gpu-002: gpu.count" in pf.detail
    assert r.attribution[0] == {"node": "gpu-002", "check": "preflight", "reason": mm["message"]}
    assert exit_code(r) == 3


def test_loss_that_does_not_fall_fails() -> None:
    r = report(measured(loss=(6.93, 6.5)))  # fell, but by less than 10%
    assert verdicts(r)["training.loss"] == "fail" and exit_code(r) == 3


def test_gemm_gated_on_gpus_and_informational_on_cpus() -> None:
    r = report(measured(tflops=400.0))  # 0.40 of 989.5 < 0.60
    g = next(c for c in r.checks if c.name == "gemm")
    assert (g.verdict, g.node, g.threshold) == ("fail", "gpu-002", pytest.approx(989.5 * 0.6))
    r = report(measured(tflops=0.05), vp=vplan(backend="gloo", gemm_peak_tflops=0.064))
    assert verdicts(r)["gemm"] == "info"


def test_slow_link_fails_naming_the_pair() -> None:
    r = report(measured(), pairs=[LinkPair("gpu-001", "gpu-002", 46.0), LinkPair("gpu-002", "gpu-001", 12.0)])
    link = next(c for c in r.checks if c.name == "link")
    assert (link.verdict, link.measured, link.node) == ("fail", 12.0, "gpu-002")
    assert "gpu-002 -> gpu-001" in link.detail
    assert r.to_json()["link"]["slowest"] == {"src": "gpu-002", "dst": "gpu-001", "GBps": 12.0}


def test_hung_rank_is_an_error_with_exit_code_1_naming_the_node() -> None:
    err = {
        "kind": "timeout",
        "phase": "collectives",
        "step": "all_reduce 1048576 B timed",
        "budget_s": 600,
        "rank": 0,
        "node": "gpu-001",
        "message": "phase 'collectives' exceeded its 600 s budget: rank 9 (node gpu-002) hung",
        "culprits": [
            {"rank": 9, "node": "gpu-002", "reason": "hung in 'collectives', outside any collective"}
        ],
    }
    r = report(measured(error=err))
    doc = r.to_json()
    validate(doc)
    assert not r.passed and exit_code(r) == 1
    v = verdicts(r)
    assert v["preflight"] == "pass"  # it ran before the hang
    assert v["correctness"] == v["busbw.all_reduce"] == v["gemm"] == v["training.loss"] == "error"
    assert (
        next(c for c in r.checks if c.name == "gemm").detail
        == "not reached: the run stopped in phase 'collectives'"
    )
    assert doc["attribution"][0] == {
        "node": "gpu-002",
        "check": "run:collectives",
        "reason": err["culprits"][0]["reason"],
    }


def test_a_run_without_output_is_an_error_naming_the_node() -> None:
    r = report(failed_run("torchrun exited 1 on gpu-001 before writing results", node="gpu-001"))
    validate(r.to_json())
    assert exit_code(r) == 1 and not r.passed
    assert {c.verdict for c in r.checks if c.name != "link"} == {"error"}
    assert r.attribution[0]["node"] == "gpu-001"


def test_phases_the_run_did_not_request_are_skipped() -> None:
    r = report(measured(phases=("collectives",)))
    v = verdicts(r)
    assert v["preflight"] == v["gemm"] == v["training.loss"] == "skipped"
    assert v["link"] == "pass" and r.passed and exit_code(r) == 0
    validate(r.to_json())


def test_a_requested_phase_without_a_result_is_an_error_not_a_pass() -> None:
    m = measured()
    del m["gemm"]  # requested (in "phases"), but the bench wrote nothing for it and no error
    r = report(m)
    gemm = next(c for c in r.checks if c.name == "gemm")
    assert gemm.verdict == "error" and "no result" in gemm.detail
    assert not r.passed and exit_code(r) == 1
    validate(r.to_json())


def test_no_iperf3_pair_between_several_hosts_is_an_error() -> None:
    r = report(measured(), pairs=[])
    link = next(c for c in r.checks if c.name == "link")
    assert link.verdict == "error" and "no iperf3 pair measured" in link.detail
    assert not r.passed and exit_code(r) == 1


def test_an_unreadable_iperf3_pair_is_an_error_naming_it() -> None:
    r = build_report(
        vplan(),
        measured(),
        stack="site",
        created_at=NOW,
        link=PAIRS[:1],
        link_missing=[("gpu-002", "gpu-001", "unreadable iperf3 output: no end section")],
    )
    link = next(c for c in r.checks if c.name == "link")
    assert link.verdict == "error" and link.node == "gpu-002"
    assert "gpu-002 -> gpu-001" in link.detail and not r.passed and exit_code(r) == 1
    doc = r.to_json()
    validate(doc)
    assert doc["link"]["missing"] == [
        {"src": "gpu-002", "dst": "gpu-001", "reason": "unreadable iperf3 output: no end section"}
    ]


def test_one_compute_host_has_no_link_to_measure() -> None:
    r = report(measured(), vp=vplan(hosts=("gpu-001",), master="gpu-001"), pairs=[])
    link = next(c for c in r.checks if c.name == "link")
    assert link.verdict == "skipped" and "one compute host" in link.detail


def test_table_shows_expected_measured_and_verdict_per_check() -> None:
    r = report(measured(busbw=lambda s: min(60.0, s / 8192)))
    text = table_text(r)
    assert "FAILED" in text
    for c in r.checks:
        assert c.name in text
    line = next(ln for ln in text.splitlines() if "busbw.all_reduce" in ln)
    assert "100.000" in line and ">= 100.000" in line and "60.000" in line and "FAIL" in line
    assert "look at gpu-001: [busbw.all_reduce]" in text  # the source of the slowest link pair


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_is_a_valid_png_and_save_report_writes_all_files(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = report(measured())
    png = write_plot(r, tmp_path / "p" / "busbw.png")
    w, h = _png_size(png.read_bytes())
    assert w > 400 and h > 300
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (h, w)
    paths = save_report(r, tmp_path / "reports" / "t")
    assert sorted(paths) == ["json", "plot", "table"]
    validate(json.loads(paths["json"].read_text()))
    assert "busbw.all_reduce" in paths["table"].read_text()


def test_iperf3_json_and_ring_pairs() -> None:
    doc = {"end": {"sum_received": {"bits_per_second": 9.2e9}, "sum_sent": {"bits_per_second": 9.4e9}}}
    assert parse_iperf3(json.dumps(doc)) == pytest.approx(1.15)
    with pytest.raises(ValueError, match="unable to connect"):
        parse_iperf3({"error": "unable to connect to server"})
    with pytest.raises(ValueError, match="sum_received"):
        parse_iperf3({"end": {}})
    assert ring_pairs(["a"]) == []
    assert ring_pairs(["a", "b"]) == [("a", "b")]
    assert ring_pairs(["a", "b", "c"]) == [("a", "b"), ("b", "c"), ("c", "a")]


def test_declared_facts_come_from_the_plan(load: Callable[..., Any]) -> None:
    lab = declared_facts(compile_plan(load("lab")))
    assert sorted(lab) == ["node-001", "node-002", "node-003"]
    n1 = lab["node-001"]
    assert n1["gpu_count"] == 0 and n1["cpu_cores"] == 1 and "gpu_model" not in n1
    assert n1["interfaces"]["rail0"] == {"address": "172.31.251.10", "mtu": 1500}
    assert n1["interfaces"]["mgmt0"]["address"] == "172.31.250.10"
    assert n1["link_speed_mbps"] == {"rail0": 10000}  # lab-veth: 10 Gb/s, what a veth reports
    su = declared_facts(compile_plan(load("h100_su")))
    g1 = su["gpu-001"]
    assert g1["gpu_count"] == 8 and g1["gpu_model"] == "H100"
    assert g1["interfaces"]["ib0"]["mtu"] == 4092  # IPoIB datagram mode: IB MTU - 4
    assert g1["rdma"]["mlx5_0"] == {"rate_gbps": 400}
    assert "link_speed_mbps" not in g1  # InfiniBand: the port rate is checked instead


def test_bench_launches_follow_the_plan(load: Callable[..., Any]) -> None:
    plan = compile_plan(load("lab"))
    launches = bench_launches(plan)
    assert [(x.host, x.node_rank) for x in launches] == [("node-001", 0), ("node-002", 1), ("node-003", 2)]
    argv = launches[1].argv
    for arg in (
        "--nnodes=3",
        "--nproc-per-node=1",
        "--node-rank=1",
        "--master-addr=172.31.251.10",
        "--master-port=29500",
        "--rdzv-conf=timeout=300",
        "/opt/dcinfra/verify-bench/main.py",
        "--node-name=node-002",
        "--backend=gloo",
        "--timeout-s=300",
        "--max-bytes=67108864",
        "--peak-tflops=0.064",
        "--declared=/var/lib/dcinfra/verify/declared.json",
    ):
        assert arg in argv
    assert launches[1].env["GLOO_SOCKET_IFNAME"] == "rail0" and launches[1].env["OMP_NUM_THREADS"] == "1"
    assert job_timeout_s(plan.verify) == 5 * 300 + 120  # type: ignore[arg-type]
    su = bench_launches(compile_plan(load("h100_su")))
    assert "--nproc-per-node=8" in su[0].argv and "--backend=nccl" in su[0].argv
    assert su[0].env["NCCL_IB_HCA"].startswith("=mlx5_0:1")


def test_busbw_factors_and_message_layout_follow_nccl_tests() -> None:
    pytest.importorskip("torch")
    from dcinfra.verify.bench.collectives import bandwidths, busbw_factor, layout, message_sizes

    assert busbw_factor("all_reduce", 8) == 2 * 7 / 8
    for name in ("all_gather", "reduce_scatter", "all_to_all"):
        assert busbw_factor(name, 8) == 7 / 8
    assert busbw_factor("all_reduce", 1) == 0.0
    with pytest.raises(ValueError, match="unknown collective"):
        busbw_factor("broadcast", 8)
    assert message_sizes(1024, 16384) == [1024, 2048, 4096, 8192, 16384]
    assert message_sizes(1024, 5000) == [1024, 2048, 4096]
    # 3 ranks, 1 KiB = 256 floats: 85 per rank, S = 85 * 3 * 4 = 1020 (nccl-tests rounds the same way)
    ag = layout("all_gather", 1024, 3)
    assert ag is not None and (ag.in_count, ag.out_count, ag.size_bytes) == (85, 255, 1020)
    rs = layout("reduce_scatter", 1024, 3)
    assert rs is not None and (rs.in_count, rs.out_count, rs.size_bytes) == (255, 85, 1020)
    a2a = layout("all_to_all", 1024, 3)
    assert a2a is not None and (a2a.in_count, a2a.out_count, a2a.size_bytes) == (255, 255, 1020)
    ar = layout("all_reduce", 1024, 3)
    assert ar is not None and (ar.in_count, ar.size_bytes) == (256, 1024)
    assert layout("all_gather", 4, 2) is None  # one float cannot be split over two ranks
    alg, bus = bandwidths("all_reduce", 10**9, 0.5, 4)
    assert (alg, bus) == (2.0, 2.0 * 1.5)


def test_watchdog_diagnosis_names_the_culprit() -> None:
    pytest.importorskip("torch")
    from dcinfra.verify.bench.runtime import diagnose

    def beat(rank: int, n: int, *, comm: bool, phase: str = "collectives") -> dict[str, Any]:
        return {"rank": rank, "node": f"node-{rank}", "phase": phase, "step": "s", "in_comm": comm, "beat": n}

    # rank 2 is alive but outside any collective while the others wait: it is the one that hangs
    before = {0: beat(0, 1, comm=True), 1: beat(1, 1, comm=True), 2: beat(2, 1, comm=False)}
    after = {0: beat(0, 4, comm=True), 1: beat(1, 4, comm=True), 2: beat(2, 4, comm=False)}
    culprits, summary = diagnose(before, after, 3)
    assert [(c.rank, c.node) for c in culprits] == [(2, "node-2")] and "outside any collective" in summary
    # rank 1's heartbeat stopped: dead or frozen; rank 3 never reported
    after = {0: beat(0, 4, comm=True), 1: beat(1, 1, comm=True), 2: beat(2, 4, comm=True)}
    culprits, _ = diagnose(before, after, 4, nodes={3: "node-3"})
    assert [(c.rank, c.node) for c in culprits] == [(1, "node-1"), (3, "node-3")]
    assert "dead or frozen" in culprits[0].reason and "never reported" in culprits[1].reason
    # everyone waits in the same collective: the network hangs, no single culprit
    waiting_before = {r: beat(r, 1, comm=True) for r in range(3)}
    waiting_after = {r: beat(r, 4, comm=True) for r in range(3)}
    culprits, summary = diagnose(waiting_before, waiting_after, 3)
    assert culprits == [] and "communication itself hangs" in summary and "node-0, node-1, node-2" in summary
    # a rank that published an error is named with it
    culprits, _ = diagnose(
        before, after | {1: beat(1, 5, comm=True)}, 3, {2: {"node": "node-2", "message": "boom"}}
    )
    assert [(c.rank, c.reason) for c in culprits] == [(2, "raised: boom")]


def test_preflight_compare_names_node_and_item() -> None:
    pytest.importorskip("torch")
    from dcinfra.verify.bench.preflight import compare

    facts = {
        "gpu": {
            "count": 8,
            "names": ["NVIDIA H100 80GB HBM3"] * 7 + ["NVIDIA A100-SXM4-80GB"],
            "driver_loaded": True,
            "ecc_uncorrected": {"0": 0, "3": 2},
        },
        "cpu": {"logical": 224, "physical": 112},
        "memory_gib": 2015.6,
        "interfaces": {
            "ib0": {"addresses": ["10.128.0.10/19"], "up": True, "mtu": 4092, "speed_mbps": None},
            "eth1": {"addresses": [], "up": False, "mtu": 1500, "speed_mbps": 100000},
        },
        "rdma": {
            "mlx5_0": {"ports": {"1": {"state": "4: ACTIVE", "rate_gbps": 400.0}}},
            "mlx5_1": {"ports": {"1": {"state": "1: DOWN", "rate_gbps": 200.0}}},
        },
    }
    declared = {
        "gpu_count": 8,
        "gpu_model": "H100",
        "cpu_cores": 112,
        "memory_gb": 2048,
        "interfaces": {"ib0": {"address": "10.128.0.10", "mtu": 4092}, "eth1": {"address": "10.16.0.10"}},
        "link_speed_mbps": {"eth1": 400000},
        "rdma": {"mlx5_0": {"rate_gbps": 400}, "mlx5_1": {"rate_gbps": 400}, "mlx5_2": {}},
    }
    found = {m["item"]: m for m in compare("gpu-003", declared, facts)}
    assert set(found) == {
        "gpu.model",
        "gpu[3].ecc",
        "interface.eth1.state",
        "interface.eth1.address",
        "link_speed.eth1",
        "rdma.mlx5_1.state",
        "rdma.mlx5_1.rate",
        "rdma.mlx5_2",
    }
    assert all(m["node"] == "gpu-003" and m["message"].startswith("gpu-003: ") for m in found.values())
    assert found["gpu.model"]["found"] == ["NVIDIA A100-SXM4-80GB"]
    assert found["link_speed.eth1"]["found"] == 100000
    # memory within tolerance, cores and GPU count as declared: no finding for them
    assert compare("x", {"memory_gb": 2048}, {"memory_gib": 1900.0}) == []
    assert compare("x", {"memory_gb": 2048}, {"memory_gib": 1500.0})[0]["item"] == "memory"


def test_report_for_the_lab_plan_and_a_missing_result(load: Callable[..., Any], tmp_path: Path) -> None:
    from dcinfra.verify import load_measured, report_for_plan

    plan = compile_plan(load("lab"))
    missing = load_measured(tmp_path / "nope.json", master="node-001")
    r = report_for_plan(plan, missing, created_at=NOW)
    validate(r.to_json())
    assert exit_code(r) == 1 and r.attribution[0]["node"] == "node-001"
    assert r.expected["busbw_GBps"] == plan.verify.expected_busbw_GBps  # type: ignore[union-attr]
    assert r.expected["sources"]["fabric.network"].startswith("https://www.rfc-editor.org/rfc/rfc6349")
    (tmp_path / "bad.json").write_text("{not json")
    assert load_measured(tmp_path / "bad.json")["error"]["kind"] == "launch"


def test_training_data_follows_the_permutation_rule() -> None:
    torch = pytest.importorskip("torch")
    from dcinfra.verify.bench.training import CPU_CONFIG, batch, power_table

    perm = torch.randperm(CPU_CONFIG.vocab, generator=torch.Generator().manual_seed(1))
    table = power_table(perm, CPU_CONFIG.seq_len)
    x, y = batch(CPU_CONFIG, table, seed=0, rank=0, step=0)
    assert x.shape == y.shape == (CPU_CONFIG.batch, CPU_CONFIG.seq_len)
    assert torch.equal(perm[x], y)  # every target is the rule applied to its input: learnable
    x1, _ = batch(CPU_CONFIG, table, seed=0, rank=1, step=0)
    assert not torch.equal(x, x1)  # ranks draw different sequences
